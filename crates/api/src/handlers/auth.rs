//! `GET`, `POST` and `DELETE /auth/session`: who is signed in, signing the dashboard in with a
//! token (a cookie, since a browser's `EventSource` cannot send a header), and signing out.

use actix_web::{
    HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    delete, get, post, web,
};
use chrono::Utc;

use crate::{
    auth::{Actor, Sessions},
    body::{JsonObject, parse_json},
    dto::{SessionDto, SignInRequest},
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// Who the request's token or dashboard session belongs to, and what it may do. On a server
/// without authentication: `open`, with every role.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "Signed in (or no sign-in needed)", body = SessionDto),
        (status = 401, description = "No token or session this server accepts", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/auth/session")]
pub(crate) async fn get_session(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
    actor: Actor,
) -> web::Json<SessionDto> {
    web::Json(SessionDto::of(&actor, state.access().is_open()))
}

/// Signs the dashboard in: trades a token for a session cookie (`HttpOnly`, `SameSite=Strict`,
/// as long as `auth.session_hours`) that every later request of the page, event streams
/// included, carries. On a server without authentication nothing is needed and no cookie is
/// set.
#[utoipa::path(
    tag = "auth",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionDto),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not a token this server accepts", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/auth/session")]
pub(crate) async fn create_session(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
    body: web::Json<JsonObject>,
) -> Result<HttpResponse, ApiError> {
    let request: SignInRequest = parse_json(body.into_inner().0, &[])?;
    let access = state.access();
    if access.is_open() {
        return Ok(HttpResponse::Ok().json(SessionDto::of(&Actor::anyone(), true)));
    }
    let token = access
        .find(crate::auth::pasted_token(&request.token))
        .ok_or_else(|| ApiError::Unauthorized("that is not a token this server accepts".into()))?;
    let ttl = access.session_ttl();
    let expires_at = Utc::now() + ttl;
    let sessions = state.sessions().await?;
    let value = sessions.issue(token, expires_at);
    let mut cookie = session_cookie(sessions, value, &state);
    cookie.set_max_age(CookieDuration::seconds(ttl.as_secs() as i64));
    let actor = Actor::of(token, Some(expires_at));
    tracing::info!(token = %token.name, "dashboard session started");
    let mut response = HttpResponse::Ok();
    response.cookie(cookie);
    if let Some(stale) = root_cookie_removal(sessions, &state) {
        response.cookie(stale);
    }
    Ok(response.json(SessionDto::of(&actor, false)))
}

/// Signs the dashboard out: the session cookie is cleared.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 204, description = "Signed out"),
        (status = 503, description = "Database unavailable (it names the session cookie)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[delete("/auth/session")]
pub(crate) async fn delete_session(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
) -> Result<HttpResponse, ApiError> {
    let sessions = state.sessions().await?;
    let mut cookie = session_cookie(sessions, String::new(), &state);
    cookie.make_removal();
    let mut response = HttpResponse::NoContent();
    response.cookie(cookie);
    if let Some(stale) = root_cookie_removal(sessions, &state) {
        response.cookie(stale);
    }
    Ok(response.finish())
}

/// Below a base path, the removal of a session cookie of the host's root path: one the same
/// installation set before it had its base path, which the browser would keep sending beside
/// the new one (signed out, a page would still be signed in by it; signed in as another, it
/// might be taken instead).
fn root_cookie_removal(sessions: &Sessions, state: &AppState) -> Option<Cookie<'static>> {
    if state.base_path().as_str().is_empty() {
        return None;
    }
    let mut cookie = session_cookie(sessions, String::new(), state);
    cookie.set_path("/");
    cookie.make_removal();
    Some(cookie)
}

/// The session cookie holding `value`: named for this installation, for every path below the
/// server's base path, out of the page's scripts' reach, never sent by another site's request,
/// and `Secure` when configured.
fn session_cookie(sessions: &Sessions, value: String, state: &AppState) -> Cookie<'static> {
    let path = match state.base_path().as_str() {
        "" => "/".to_owned(),
        base => base.to_owned(),
    };
    Cookie::build(sessions.cookie_name().to_owned(), value)
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.access().secure_cookies())
        .finish()
}
