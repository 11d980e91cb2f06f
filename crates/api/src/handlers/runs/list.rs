//! `GET /runs`: the archive, filtered and paged.

use actix_web::{get, web};
use evalboard_domain::RunStatus;
use evalboard_persistence::RunFilter;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    dto::{RunDetailDto, RunPageDto},
    error::{ApiError, Problem},
    params::{bounded_int, shorten, text, timestamp},
    state::AppState,
};

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListRunsQuery {
    /// Comma-separated statuses, e.g. `running,pending`.
    #[param(
        pattern = "^(pending|running|completed|failed|canceled)(,(pending|running|completed|failed|canceled))*$"
    )]
    status: Option<String>,
    /// Exact provider name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    provider_name: Option<String>,
    /// Exact dataset name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    dataset_name: Option<String>,
    /// Exact model name.
    #[param(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    model_name: Option<String>,
    /// Runs created at or after this RFC 3339 time (years 1 to 9999).
    #[param(format = DateTime)]
    created_from: Option<String>,
    /// Runs created strictly before this RFC 3339 time (years 1 to 9999).
    #[param(format = DateTime)]
    created_before: Option<String>,
    /// `nextCursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Runs, newest first, filtered by status, provider, dataset, model and creation time, one page
/// at a time.
#[utoipa::path(
    tag = "runs",
    params(ListRunsQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunPageDto),
        (status = 400, description = "A parameter is malformed or out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs")]
pub(crate) async fn list_runs(
    state: web::Data<AppState>,
    query: web::Query<ListRunsQuery>,
) -> Result<web::Json<RunPageDto>, ApiError> {
    let query = query.into_inner();
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 100, 20)?;
    let cursors = state.cursors().await?;
    let cursor = query
        .cursor
        .as_deref()
        .map(|text| cursors.decode_run(text))
        .transpose()?;
    let filter = RunFilter {
        statuses: statuses(query.status.as_deref())?,
        provider_name: text("providerName", query.provider_name)?,
        dataset_name: text("datasetName", query.dataset_name)?,
        model_name: text("modelName", query.model_name)?,
        created_from: timestamp("createdFrom", query.created_from.as_deref())?,
        created_before: timestamp("createdBefore", query.created_before.as_deref())?,
    };
    let page = state
        .with_db(move |db| db.list_runs(&filter, cursor.as_ref(), limit))
        .await?;
    Ok(web::Json(RunPageDto {
        runs: page
            .runs
            .iter()
            .map(|run| RunDetailDto::new(run, state.is_simulated(run), None))
            .collect(),
        next_cursor: page.next.as_ref().map(|c| cursors.encode_run(c)),
    }))
}

fn statuses(value: Option<&str>) -> Result<Vec<RunStatus>, ApiError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(|s| {
            s.trim().parse::<RunStatus>().map_err(|_| {
                ApiError::bad_parameter(
                    "status",
                    format!(
                        "`{}` is not a run status (pending, running, completed, failed, canceled)",
                        shorten(s)
                    ),
                )
            })
        })
        .collect()
}
