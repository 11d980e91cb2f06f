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

/// Readiness: the database answers a query.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = HealthDto),
        (status = 503, description = "Database unreachable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
pub(crate) async fn readyz(state: web::Data<AppState>) -> Result<web::Json<HealthDto>, ApiError> {
    state.with_db(|db| db.ping()).await?;
    Ok(web::Json(HealthDto {
        status: "ready",
        database: Some(state.db.backend().as_str()),
    }))
}
