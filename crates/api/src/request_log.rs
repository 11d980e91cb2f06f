//! One `tracing` line per request: method, path, status, duration and the name of the token
//! that sent it. Query strings, bodies, tokens and cookies are not logged.

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
