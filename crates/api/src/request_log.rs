//! Every request runs in a `request` span with its id (tracing-actix-web's `TracingLogger`,
//! which makes the id), method and path, so whatever is logged while it is served names it; the
//! id goes back in `X-Request-Id` for a user to quote. Then one `tracing` line per request:
//! status, duration and the name of the token that sent it (query strings, bodies, tokens and
//! cookies are not logged); and the request's count and duration in the metrics, by route and
//! status.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::auth::Actor;

/// The response header carrying the request's id.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The span each request is served in. Not tracing-actix-web's default, which records the
/// query string, the client's address and its user agent: none of them belongs in our logs.
pub(crate) struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> tracing::Span {
        let id = request.extensions().get::<RequestId>().copied();
        // At error level, so that a filter keeping only warnings and errors keeps the span too:
        // an error line without its request's id, method and path is of little use.
        tracing::error_span!(
            "request",
            id = id.map(tracing::field::display),
            method = %request.method(),
            path = %request.path(),
        )
    }

    // `log_request` writes the request's line, inside the span, once the status is known.
    fn on_request_end<B: MessageBody>(
        _span: tracing::Span,
        _outcome: &Result<ServiceResponse<B>, Error>,
    ) {
    }
}

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    if let Some(id) = id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // By route pattern (`/runs/{run_id}`), not path: one series per route, however many runs;
    // and a method among the few a client can meet here, whatever one it sends.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let method_label = match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let status_label = status.to_string();
    let health_check = matches!(route.as_str(), "/healthz" | "/readyz");
    metrics::counter!(
        "evalboard_http_requests_total",
        "method" => method_label,
        "route" => route.clone(),
        "status" => status_label.clone()
    )
    .increment(1);
    metrics::histogram!(
        "evalboard_http_request_duration_seconds",
        "method" => method_label,
        "route" => route,
        "status" => status_label
    )
    .record(elapsed.as_secs_f64());
    let extensions = response.request().extensions();
    // The token's name when one was used (an open server's requests have none: no field).
    let token = extensions
        .get::<Actor>()
        .and_then(|actor| actor.name.as_deref());
    // Whole microseconds in milliseconds: prints as `4.783`, not `4.7831790000000005`.
    let millis = elapsed.as_micros() as f64 / 1000.0;
    match status {
        // Unavailable (the database out of reach, the server stopping): a condition that
        // passes, already said once as a warning where it was met — not an error per request.
        503 => tracing::warn!(status, millis, token, "served"),
        500.. => tracing::error!(status, millis, token, "served"),
        // A load balancer's health checks, every few seconds, would fill the log.
        200 if health_check => {
            tracing::debug!(status, millis, token, "served")
        }
        _ => tracing::info!(status, millis, token, "served"),
    }
    drop(extensions);
    Ok(response)
}
