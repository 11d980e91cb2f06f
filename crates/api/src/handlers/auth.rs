//! `GET`, `POST` and `DELETE /auth/session`: who is signed in, signing the dashboard in with a
//! token (a cookie, since a browser's `EventSource` cannot send a header), and signing out.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    delete, get, post, web,
};
use chrono::Utc;

use crate::{
    auth::{Actor, cookie_name, request_host},
    body::parse_json,
    dto::{SessionDto, SignInRequest},
    error::{ApiError, Problem},
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
pub(crate) async fn get_session(state: web::Data<AppState>, actor: Actor) -> web::Json<SessionDto> {
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
    req: HttpRequest,
    body: web::Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<HttpResponse, ApiError> {
    let request: SignInRequest = parse_json(body.into_inner(), &[])?;
    let access = state.access();
    if access.is_open() {
        return Ok(HttpResponse::Ok().json(SessionDto::of(&Actor::anyone(), true)));
    }
    let token = access
        .find(crate::auth::pasted_token(&request.token))
        .ok_or_else(|| ApiError::Unauthorized("that is not a token this server accepts".into()))?;
    let ttl = access.session_ttl();
    let expires_at = Utc::now() + ttl;
    let value = state.sessions().await?.issue(token, expires_at);
    let mut cookie = session_cookie(value, &state, &req);
    cookie.set_max_age(CookieDuration::seconds(ttl.as_secs() as i64));
    let actor = Actor::of(token, Some(expires_at));
    tracing::info!(token = %token.name, "dashboard session started");
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(SessionDto::of(&actor, false)))
}

/// Signs the dashboard out: the session cookie is cleared.
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "Signed out")),
)]
#[delete("/auth/session")]
pub(crate) async fn delete_session(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut cookie = session_cookie(String::new(), &state, &req);
    cookie.make_removal();
    HttpResponse::NoContent().cookie(cookie).finish()
}

/// The session cookie holding `value`: named for the address the page is at, for every path,
/// out of the page's scripts' reach, never sent by another site's request, and `Secure` when
/// configured.
fn session_cookie(value: String, state: &AppState, req: &HttpRequest) -> Cookie<'static> {
    Cookie::build(cookie_name(request_host(req)), value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.access().secure_cookies())
        .finish()
}
