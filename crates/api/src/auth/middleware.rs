//! The checks every request passes before a handler sees it: the `Host` it names (an open server
//! on a loopback address), who sent it (a bearer token or a session cookie) and whether that
//! role may make it; and, for a `POST`, that it is not something a page on another site could
//! send without the browser asking first.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    Error, FromRequest, HttpMessage, HttpRequest, ResponseError,
    body::{BodySize, BoxBody, EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, header, header::HeaderMap},
    middleware::Next,
    web::{self, Bytes},
};
use chrono::{DateTime, Utc};

use super::{Actor, Role};
use crate::{body::media_type, error::ApiError, fallback::Fallback, state::AppState};

/// The role a request needs; `None` for what anyone may fetch: health checks, the OpenAPI
/// document, the dashboard's page and assets (its sign-in screen must load), CORS preflights,
/// and the session endpoints (which check their own input).
pub(crate) fn required_role(method: &Method, path: &str) -> Option<Role> {
    let public = matches!(path, "/healthz" | "/readyz" | "/openapi.json" | "/" | "/ui")
        || path.starts_with("/ui/")
        // Published formats, like the OpenAPI document: nothing in them is private.
        || path.starts_with("/browser-harness/schemas/")
        || path == "/auth/session";
    if public || method == Method::OPTIONS {
        return None;
    }
    if method == Method::GET || method == Method::HEAD {
        return Some(Role::Viewer);
    }
    // A dataset upload adds what every run may draw from: configuration-like state.
    if path == "/datasets" {
        return Some(Role::Admin);
    }
    Some(Role::Operator)
}

/// The path as the router matches it: percent-decoded (`/dataset%73` is `/datasets`), so that
/// what is checked here is what a handler will serve.
pub(crate) fn routed_path(req: &ServiceRequest) -> &str {
    req.match_info().as_str()
}

/// Checks the request's `Host`, identifies who sent it and refuses what that role may not do;
/// the handler finds the [`Actor`] in the request's extensions.
pub(crate) async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .expect("the application has its state");
    match identify(&req, &state).await {
        Ok(actor) => {
            let session_ends = actor.as_ref().and_then(|a| a.session_expires_at);
            if let Some(actor) = actor {
                req.extensions_mut().insert(actor);
            }
            let response = next.call(req).await?;
            Ok(match session_ends {
                // A stream opened with a session ends with it: the session's checks were made
                // when the request came, and a stream could otherwise go on for days.
                Some(at) if is_event_stream(response.headers()) => response
                    .map_body(|_, body| BoxBody::new(UntilSessionEnds::new(body, at)))
                    .map_into_right_body(),
                _ => response.map_into_left_body(),
            })
        }
        Err(refusal) => {
            let refusal = crate::limits::admit_refused(&req, &state)
                .err()
                .unwrap_or(refusal);
            Ok(req
                .into_response(refusal.error_response())
                .map_into_right_body())
        }
    }
}

async fn identify(req: &ServiceRequest, state: &AppState) -> Result<Option<Actor>, ApiError> {
    let access = state.access();
    if let Some(host) = super::request_host(req.request())
        && !access.answers_to(host)
    {
        return Err(ApiError::MisdirectedRequest(format!(
            "this server does not answer to the name `{}`; open it as http://localhost or \
             http://127.0.0.1 (or set http.public_host)",
            super::host_name(host)
        )));
    }
    if access.is_open() {
        return Ok(Some(Actor::anyone()));
    }
    // (Roles are checked on the percent-decoded path the router matches: deciding them on the
    // raw path let `/dataset%73` past the admin check. A method and path no route serves is
    // left to the router's 404 or 405, below.)
    let needed = required_role(req.method(), routed_path(req));
    // Which of two would count is the reader's choice: a proxy that authorizes by the last one
    // and this server by the first would act for two different tokens.
    let authorizations = req.headers().get_all(header::AUTHORIZATION).count();
    if authorizations > 1 {
        return Err(ApiError::BadRequest {
            detail: format!(
                "the request carries {authorizations} Authorization headers: send one (a proxy \
                 that adds its own must replace the client's)"
            ),
            errors: Vec::new(),
        });
    }
    // Only a Bearer header is this server's: another scheme (a proxy's Basic credentials in
    // front of it, say) is not meant for it, and leaves the session cookie or a public path
    // to decide.
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(super::bearer_token);
    let by_bearer = match bearer.map(|presented| (presented, access.find(presented))) {
        Some((_, Some(token))) => Some(Actor::of(token, None)),
        // `Bearer` and nothing (an unset variable in a script's header): no credential, so a
        // session cookie may still identify the request; if none does, the refusal says so.
        Some(("", None)) => {
            req.extensions_mut().insert(Unidentified(
                "the Authorization header names the Bearer scheme but holds no token",
            ));
            None
        }
        Some((_, None)) => {
            let refused = "the token in the Authorization header is not one this server \
                           accepts (mistyped, or no longer in its configuration)";
            // A public path is answered whatever the header holds: a health probe or a proxy
            // sending a stale token must not be locked out of health checks or the sign-in
            // screen. Whatever asks who sent it is told why nobody was identified.
            if needed.is_some() {
                return Err(ApiError::Unauthorized(refused.into()));
            }
            req.extensions_mut().insert(Unidentified(refused));
            None
        }
        None => None,
    };
    let actor = match by_bearer {
        Some(actor) => Some(actor),
        None => match session_actor(req, state).await? {
            Session::Valid(actor) => Some(actor),
            Session::Ended => {
                req.extensions_mut().insert(Unidentified(SESSION_ENDED));
                None
            }
            Session::Absent => None,
        },
    };
    match (needed, &actor) {
        (None, _) => Ok(actor),
        (Some(_), None) => Err(ApiError::Unauthorized(
            match req.extensions().get::<Unidentified>() {
                Some(Unidentified(why)) => (*why).into(),
                None if bare_token(req.headers()) => "the Authorization header holds a token \
                     without its scheme: send `Authorization: Bearer <token>`"
                    .into(),
                None => "this server needs a token: send `Authorization: Bearer <token>`, or \
                         sign in on the dashboard (an administrator creates tokens with \
                         `evalboard token create`)"
                    .into(),
            },
        )),
        // What no route serves is the router's 404 or 405 whoever asks: a 403 saying it "needs
        // the operator role" would tell a viewer an operator could (`DELETE /runs/{id}`).
        (Some(_), Some(_)) if !routed(req) => Ok(actor),
        (Some(needed), Some(who)) if who.role < needed => {
            // Logged and limited as this token's request, as an allowed one would be.
            req.extensions_mut().insert(who.clone());
            Err(ApiError::Forbidden(format!(
                "token `{}` is {} {}; this request needs the {needed} role",
                who.name.as_deref().unwrap_or_default(),
                who.role.article(),
                who.role
            )))
        }
        _ => Ok(actor),
    }
}

/// Whether a route takes the request's method on its path (the router's table, before routing).
fn routed(req: &ServiceRequest) -> bool {
    req.app_data::<web::Data<Fallback>>()
        .is_some_and(|routes| routes.routes(req.method(), routed_path(req)))
}

/// Whether the `Authorization` header holds one of this server's tokens without the `Bearer `
/// before it.
fn bare_token(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim().starts_with(super::TOKEN_PREFIX))
}

/// Why a request carrying credentials was not identified, for whatever asks who sent it.
#[derive(Debug, Clone, Copy)]
struct Unidentified(&'static str);

/// What a session cookie that does not hold any more is answered.
const SESSION_ENDED: &str = "your dashboard session has ended (it expired, or its token left \
                             the configuration): sign in again";

/// What the request's session cookies say.
enum Session {
    /// None was sent.
    Absent,
    /// One this server issued and that still holds.
    Valid(Actor),
    /// Some were sent, none holds: expired, its token gone, or another installation's.
    Ended,
}

/// Who the request's session cookie stands for, if it carries one this server issued and that
/// still holds. Every cookie of that name is tried: a page of a sibling domain may have set
/// another one, which the browser can send first.
async fn session_actor(req: &ServiceRequest, state: &AppState) -> Result<Session, ApiError> {
    // A Cookie header that cannot be read carries no session, as one without the cookie. The
    // installation's key (which names its cookie) is read only when a session cookie came.
    let candidates: Vec<(String, String)> = match req.cookies() {
        Ok(cookies) => cookies
            .iter()
            .filter(|cookie| cookie.name().starts_with(super::COOKIE))
            .map(|cookie| (cookie.name().to_owned(), cookie.value().to_owned()))
            .collect(),
        Err(_) => Vec::new(),
    };
    if candidates.is_empty() {
        return Ok(Session::Absent);
    }
    let sessions = state.sessions().await?;
    // Another installation's cookie (another server on this host) is not a session here.
    let values: Vec<&String> = candidates
        .iter()
        .filter(|(name, _)| name == sessions.cookie_name())
        .map(|(_, value)| value)
        .collect();
    if values.is_empty() {
        return Ok(Session::Absent);
    }
    let now = Utc::now();
    Ok(values
        .iter()
        .find_map(|value| {
            sessions
                .verify(value, state.access(), now)
                .map(|(token, expires_at)| Actor::of(token, Some(expires_at)))
        })
        .map_or(Session::Ended, Session::Valid))
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    /// Who sent the request, as [`authorize`] found; a 401 when nobody was identified (only
    /// public routes get that far).
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Actor>().cloned().ok_or_else(|| {
            ApiError::Unauthorized(match req.extensions().get::<Unidentified>() {
                Some(Unidentified(why)) => (*why).into(),
                None => "not signed in: send a token or sign in on the dashboard".into(),
            })
        }))
    }
}

/// Content types a page on any site may `POST` here without the browser asking this server
/// first (a CORS "simple request"), and a missing one.
fn sendable_by_any_page(media_type: Option<&str>) -> bool {
    matches!(
        media_type,
        None | Some("text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data")
    )
}

/// Whether a `POST` to `path` (a routed one) may carry a body of `media_type` without a bearer
/// token: JSON everywhere but the dataset upload, which takes its file's types (or any with
/// `format=`) — never one a page on another site could send.
fn accepted_without_bearer(path: &str, media_type: Option<&str>) -> bool {
    if path == "/datasets" {
        !sendable_by_any_page(media_type)
    } else {
        // An allow-list, not the simple types alone: a type a browser sends by itself with a
        // credentialed request (`application/csp-report`, say) is not JSON either. JSON's
        // structured suffix (`application/vnd.x+json`) is, as the harness import reads it.
        media_type.is_some_and(|media| {
            media == "application/json"
                || media.starts_with("application/") && media.ends_with("+json")
        })
    }
}

/// Refuses a `POST` that a page on another site could send without a preflight, or of a type
/// its endpoint does not read: one without a bearer token (on a server that checks them)
/// whose body is not JSON (a dataset upload: untyped, text or a form). Every endpoint reads
/// JSON or a typed upload, so nothing a client of the API sends is lost; a bodyless `POST`
/// (cancel) says `Content-Type: application/json`.
pub(crate) async fn refuse_simple_posts(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // Only where a route takes the POST (the router's table, before routing): elsewhere the
    // answer is the 404 or 405 it would be.
    let refused = req.method() == Method::POST
        && !req
            .extensions()
            .get::<Actor>()
            .is_some_and(Actor::by_bearer)
        && !accepted_without_bearer(routed_path(&req), media_type(req.request()).as_deref())
        && routed(&req);
    if refused {
        // A dataset upload is told the types an upload takes, not JSON's.
        let wanted = if routed_path(&req) == "/datasets" {
            "an upload must name its type (`Content-Type: text/csv`, `application/jsonl`, \
             `application/vnd.apache.parquet`, or `application/octet-stream` with `format=`; \
             curl: `--data-binary @FILE -H 'Content-Type: text/csv'`, not `-F`)"
        } else {
            "this POST takes JSON (`Content-Type: application/json`, with an empty body where \
             the request has none)"
        };
        let refusal = ApiError::UnsupportedMediaType(format!(
            "{wanted}: other bodies are refused, since a page on any site can send some of them \
             with your session"
        ));
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Whether an answer is an event stream (`text/event-stream`).
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

/// A streamed body that ends when the session it was opened with does (a browser reconnecting
/// then meets the sign-in its session now needs).
struct UntilSessionEnds {
    body: BoxBody,
    ends: Pin<Box<tokio::time::Sleep>>,
}

impl UntilSessionEnds {
    fn new(body: impl MessageBody + 'static, at: DateTime<Utc>) -> Self {
        let left = (at - Utc::now()).to_std().unwrap_or_default();
        Self {
            body: BoxBody::new(body),
            ends: Box::pin(tokio::time::sleep(left)),
        }
    }
}

impl MessageBody for UntilSessionEnds {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.ends.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_for_viewers_changes_for_operators_uploads_for_admins() {
        let role = |m: Method, p: &str| required_role(&m, p);
        assert_eq!(role(Method::GET, "/runs"), Some(Role::Viewer));
        assert_eq!(role(Method::GET, "/runs/events"), Some(Role::Viewer));
        assert_eq!(role(Method::HEAD, "/runs/x/export"), Some(Role::Viewer));
        assert_eq!(role(Method::POST, "/runs"), Some(Role::Operator));
        assert_eq!(role(Method::POST, "/runs/x/cancel"), Some(Role::Operator));
        assert_eq!(
            role(Method::POST, "/browser-harness/imports"),
            Some(Role::Operator)
        );
        assert_eq!(role(Method::POST, "/datasets"), Some(Role::Admin));
        assert_eq!(role(Method::DELETE, "/runs/x"), Some(Role::Operator));
        for public in [
            "/healthz",
            "/readyz",
            "/openapi.json",
            "/",
            "/ui",
            "/ui/runs/x",
            "/browser-harness/schemas/capture-bundle.v1.json",
        ] {
            assert_eq!(role(Method::GET, public), None, "{public}");
        }
        assert_eq!(role(Method::POST, "/auth/session"), None);
        assert_eq!(role(Method::OPTIONS, "/runs"), None);
    }
}
