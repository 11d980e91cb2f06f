//! One `tracing` line per request: method, path, status and duration. Query strings and bodies
//! are not logged.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

pub(crate) async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    let status = response.status().as_u16();
    // Whole microseconds in milliseconds: prints as `4.783`, not `4.7831790000000005`.
    let millis = started.elapsed().as_micros() as f64 / 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, millis, "request");
    } else {
        tracing::info!(%method, %path, status, millis, "request");
    }
    Ok(response)
}
