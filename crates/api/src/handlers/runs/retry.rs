//! `POST /runs/{run_id}/retry`: run a finished run's faulted (or all) items again.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use evalboard_domain::truncate_to_micros;
use evalboard_persistence::RetryScope;
use serde::Deserialize;
use utoipa::ToSchema;

use super::run_id;
use crate::{
    MAX_JSON_BYTES,
    body::read_body,
    dto::RunDetailDto,
    error::{ApiError, Problem},
    state::AppState,
};

/// Body of `POST /runs/{run_id}/retry` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RetryRequest {
    /// `faulted` (default): items that failed or were canceled; `all`: every item.
    #[serde(default)]
    scope: Option<Scope>,
}

/// Which items a retry re-dispatches.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Scope {
    /// Items that ended failed or canceled.
    Faulted,
    /// Every item.
    All,
}

/// Retry a completed, failed or canceled run as a new attempt of the same run: the items in
/// scope go back to `pending` and the run to `pending`; earlier attempts and verdicts stay
/// readable in the item drill-down.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    request_body(content = Option<RetryRequest>, description = "Optional; `{\"scope\": \"all\"}` retries every item"),
    responses(
        (status = 202, description = "Retry dispatched", body = RunDetailDto),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not finished, or nothing is in scope", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{run_id}/retry")]
pub(crate) async fn retry_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let body = read_body(
        &req,
        payload,
        MAX_JSON_BYTES,
        "the JSON body is larger than 64 KiB",
    )
    .await?;
    // An empty body means the defaults; otherwise it must be the JSON object above.
    let request: RetryRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RetryRequest::default()
    } else {
        // An object, not any JSON serde would read into the struct (such as `[]`).
        let invalid = |e: serde_json::Error| ApiError::BadRequest {
            detail: format!("the JSON body is invalid: {e}"),
            errors: Vec::new(),
        };
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&body).map_err(invalid)?;
        serde_json::from_value(serde_json::Value::Object(object)).map_err(invalid)?
    };
    let scope = match request.scope.unwrap_or(Scope::Faulted) {
        Scope::Faulted => RetryScope::Faulted,
        Scope::All => RetryScope::All,
    };
    let (run, unparsed) = state
        .with_db(move |db| {
            let run = db.retry_run(&id, scope, truncate_to_micros(Utc::now()))?;
            Ok((run, db.unparsed_count(&id)?))
        })
        .await?;
    state.wake_engine();
    Ok(HttpResponse::Accepted().json(RunDetailDto::new(
        &run,
        state.is_simulated(&run),
        Some(unparsed),
    )))
}
