//! `GET /metrics`: what the server did, in Prometheus's text format (see docs/operations.md).

use actix_web::{HttpResponse, get, web};

use crate::{
    error::{ApiError, Problem},
    state::AppState,
};

/// The server's metrics in Prometheus's text exposition format: HTTP requests, runs by status,
/// items finished, provider latencies, retries and 429s, claims taken over, database pool
/// waits, event stream subscribers, build information. Needs the viewer role, like every read.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 503, description = "This server keeps no metrics, or the database is unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/metrics")]
pub(crate) async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let render = state
        .metrics
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this server keeps no metrics".into()))?;
    // Runs by status is a count of what the database holds, read at each scrape (every replica
    // reports the same figures).
    let counts = state.with_db(|db| db.count_runs_by_status()).await?;
    for (status, n) in counts {
        ::metrics::gauge!("evalboard_runs", "status" => status.as_str()).set(n as f64);
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(render()))
}
