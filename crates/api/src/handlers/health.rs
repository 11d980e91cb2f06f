//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).

use actix_web::{get, web};

use crate::{
    dto::HealthDto,
    error::{ApiError, Problem},
    state::AppState,
};

/// Liveness: the process is up and serving requests.
#[utoipa::path(tag = "health", responses((status = 200, description = "Alive", body = HealthDto)))]
#[get("/healthz")]
pub(crate) async fn healthz() -> web::Json<HealthDto> {
    web::Json(HealthDto {
        status: "ok",
        database: None,
    })
}

/// How long readiness waits for a database connection: load balancers and orchestrators probe
/// with timeouts of a second or a few (Kubernetes: 1 s by default).
const READINESS_WAIT: std::time::Duration = std::time::Duration::from_millis(900);

/// Readiness: the database answers a query (a connection within 0.9 s).
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthDto),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<web::Json<HealthDto>, ApiError> {
    state.with_db(|db| db.ping_within(READINESS_WAIT)).await?;
    Ok(web::Json(HealthDto {
        status: "ready",
        database: Some(state.db.backend().as_str()),
    }))
}
