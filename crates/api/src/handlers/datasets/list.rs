//! `GET /datasets`: the datasets runs can use.

use actix_web::{get, web};

use crate::{
    dto::DatasetDto,
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// The newest version of every dataset, with item counts and categories.
///
/// By name, case ignored (then as bytes between names differing in case only).
#[utoipa::path(
    tag = "datasets",
    responses(
        (status = 200, description = "Datasets by name", body = Vec<DatasetDto>),
        (status = 400, description = "A query parameter (it takes none)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/datasets")]
pub(crate) async fn list_datasets(
    state: web::Data<AppState>,
    _: web::Query<NoParameters>,
) -> Result<web::Json<Vec<DatasetDto>>, ApiError> {
    let datasets = state.with_db(|db| db.list_datasets()).await?;
    Ok(web::Json(datasets.iter().map(DatasetDto::from).collect()))
}
