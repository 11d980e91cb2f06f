//! `POST /runs/{run_id}/rejudge`: judge a finished run's stored answers again, with another
//! judge, without asking the model again.

use actix_web::{HttpResponse, post, web};
use chrono::Utc;
use evalboard_domain::{JudgeSettings, ValidationErrors, truncate_to_micros};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{create::check_judge, run_id};
use crate::{
    auth::Actor,
    body::{JsonObject, parse_json},
    dto::{JudgeDto, RunDetailDto},
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// Body of `POST /runs/{run_id}/rejudge`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RejudgeRequest {
    /// The judge of the new verdicts: `{"kind": "choice"}`, or an LLM judge.
    judge: JudgeDto,
}

/// Judge a finished run's answers again, without asking the model again.
///
/// Every item with a verdict and a stored answer goes back to `awaiting`; the engine judges
/// each once with `judge` (counters and events move as for any judgment). The run then ends
/// `completed` when every item has a verdict; when failed or canceled items without an answer
/// remain, it ends as its answering ended (`failed`, or `canceled`, with that failure: a run its
/// budget stopped stays stopped for it). Earlier verdicts stay in each item's `verdicts`, with the `round` they were
/// given in; the run's `judge`, `settings.judge` and fingerprint name the new judge, and its
/// `rejudgeCount` goes up. The run log says who asked, when, and which judge replaced which.
/// Failed and canceled items that hold an answer (their judging was canceled, or their run
/// failed before their judge took them) are judged too; those without one keep their state.
/// The answering provider is not needed: Browser Harness runs can be re-judged too.
#[utoipa::path(
    tag = "runs",
    params(("run_id" = String, Path, description = "Run id")),
    request_body = RejudgeRequest,
    responses(
        (status = 202, description = "Re-judging started", body = RunDetailDto),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not finished, or has no judged answer", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The LLM judge names an unknown provider or model, or one without its key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{run_id}/rejudge")]
pub(crate) async fn rejudge_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    _: web::Query<NoParameters>,
    body: web::Json<JsonObject>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let request: RejudgeRequest = parse_json(body.into_inner().0, &["/judge"])?;
    let judge = JudgeSettings::from(request.judge);
    let mut errors = ValidationErrors::default();
    check_judge(&state.providers, &judge, "judge", &mut errors);
    if !errors.0.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let run = state
        .with_db(move |db| {
            db.start_rejudge(
                &id,
                &judge,
                actor.name.as_deref(),
                truncate_to_micros(Utc::now()),
            )
        })
        .await?;
    state.wake_engine();
    Ok(HttpResponse::Accepted().json(RunDetailDto::new(&run, state.is_simulated(&run))))
}
