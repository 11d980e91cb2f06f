//! `GET /runs/{run_id}`: one run's detail summary.

use actix_web::{get, web};

use crate::{
    dto::RunDetailDto,
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// The run with its progress, lifecycle, dataset version, settings and timestamps.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id, e.g. `run-0193a7c1e2f47d5a9c3e1b2a4f6d8e0c`")),
    responses(
        (status = 200, description = "The run", body = RunDetailDto),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/{run_id}")]
pub(crate) async fn get_run(
    state: web::Data<AppState>,
    run_id: web::Path<String>,
    _: web::Query<NoParameters>,
) -> Result<web::Json<RunDetailDto>, ApiError> {
    let id = super::run_id(&run_id)?;
    let run = state
        .with_db(move |db| db.get_run_with_latency(&id))
        .await?;
    Ok(web::Json(RunDetailDto::new(&run, state.is_simulated(&run))))
}
