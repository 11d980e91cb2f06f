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
    let status = response.status().as_u16();
    // By route pattern (`/runs/{run_id}`), not path: one series per route, however many runs.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    metrics::counter!(
        "evalboard_http_requests_total",
        "method" => method.to_string(),
        "route" => route.clone(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!(
        "evalboard_http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    let token = response
        .request()
        .extensions()
        .get::<Actor>()
        .and_then(|actor| actor.name.clone())
        .unwrap_or_default();
    // Whole microseconds in milliseconds: prints as `4.783`, not `4.7831790000000005`.
    let millis = started.elapsed().as_micros() as f64 / 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, millis, token, "request");
    } else {
        tracing::info!(%method, %path, status, millis, token, "request");
    }
    Ok(response)
}
