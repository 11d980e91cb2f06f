//! One `tracing` line per request: method, path, status, duration and the name of the token
//! that sent it (query strings, bodies, tokens and cookies are not logged); and the request's
//! count and duration in the metrics, by route and status.

use std::time::Instant;

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use crate::auth::Actor;

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
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
    let token = extensions
        .get::<Actor>()
        .and_then(|actor| actor.name.as_deref())
        .unwrap_or_default();
    // Whole microseconds in milliseconds: prints as `4.783`, not `4.7831790000000005`.
    let millis = elapsed.as_micros() as f64 / 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, millis, token, "request");
    } else {
        tracing::info!(%method, %path, status, millis, token, "request");
    }
    drop(extensions);
    Ok(response)
}
