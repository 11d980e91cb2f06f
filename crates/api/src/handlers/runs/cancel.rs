//! `POST /runs/{run_id}/cancel`: stop a pending or running run.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use evalboard_domain::truncate_to_micros;
use serde::Deserialize;
use utoipa::ToSchema;

use super::run_id;
use crate::{
    auth::Actor,
    body::optional_json_object,
    dto::RunDetailDto,
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// Body of `POST /runs/{run_id}/cancel` (optional): it has no field. A body is still read, so
/// that one that is not JSON, or too large, is refused rather than ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelRequest {}

/// Cancel a run. `lifecycle.cancelRequestedAt` is set at once and unstarted items end
/// `canceled`; items in flight are aborted within about a second, then the run ends `canceled`
/// (at once when nothing was in flight). The response shows the run right after the request.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    request_body(content = Option<CancelRequest>, description = "Optional: empty, `null` or `{}` — but sent as `Content-Type: application/json` even when empty, as every `POST` is (else 415: a page on another site can send a POST that says no type)"),
    responses(
        (status = 202, description = "Cancel requested", body = RunDetailDto),
        (status = 400, description = "The body is not JSON, or not an object, or has a field", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is already completed, failed or canceled", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{run_id}/cancel")]
pub(crate) async fn cancel_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    _: web::Query<NoParameters>,
    payload: web::Payload,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let CancelRequest {} = optional_json_object(&req, payload).await?;
    let run = state
        .with_db(move |db| {
            db.request_cancel(&id, actor.name.as_deref(), truncate_to_micros(Utc::now()))
        })
        .await?;
    state.wake_engine();
    Ok(HttpResponse::Accepted().json(RunDetailDto::new(&run, state.is_simulated(&run))))
}
