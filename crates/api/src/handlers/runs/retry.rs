//! `POST /runs/{run_id}/retry`: run a finished run's faulted (or all) items again.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use evalboard_domain::{BROWSER_HARNESS_PROVIDER, ValidationErrors, truncate_to_micros};
use evalboard_persistence::{RetryScope, StoreError};
use evalboard_runner::reproducibility::configuration_changes;
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    create::{check_judge, missing_key},
    run_id,
};
use crate::{
    auth::Actor,
    body::optional_json_object,
    dto::RunDetailDto,
    error::{ApiError, Problem},
    params::NoParameters,
    state::AppState,
};

/// Body of `POST /runs/{run_id}/retry` (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RetryRequest {
    /// `faulted` (default): items that failed or were canceled; `all`: every item.
    #[serde(default)]
    scope: Option<Scope>,
    /// Retry even though the run's configuration changed since it was made (its provider's
    /// kind or base URL, the prompt template, the evalboard version): the run's fingerprint is
    /// then recorded anew. Default `false`: such a retry is a 409 that names what changed.
    #[serde(default)]
    force: bool,
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
    request_body(content = Option<RetryRequest>, description = "Optional (empty or `null`: the defaults); `{\"scope\": \"all\"}` retries every item. Sent as `Content-Type: application/json` even when empty, as every `POST` is (else 415)"),
    responses(
        (status = 202, description = "Retry dispatched", body = RunDetailDto),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not finished, nothing is in scope, its budget is spent, its provider is no longer configured or has no API key, or its configuration changed since it was made (and `force` is not set)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/runs/{run_id}/retry")]
pub(crate) async fn retry_run(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    _: web::Query<NoParameters>,
    payload: web::Payload,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    let id = run_id(&path)?;
    let request: RetryRequest = optional_json_object(&req, payload).await?;
    let scope = match request.scope.unwrap_or(Scope::Faulted) {
        Scope::Faulted => RetryScope::Faulted,
        Scope::All => RetryScope::All,
    };
    let providers = Arc::clone(&state.providers);
    let run = state
        .with_db(move |db| {
            let run = db.get_run(&id)?;
            // Nothing here could answer: reopening the items (clearing their answers) would
            // only fail the run at once (on PostgreSQL, leave it to wait for another server,
            // to which the retry can be sent). (A Browser Harness run is refused as such below.)
            match providers.get(&run.provider_name) {
                None if run.provider_name != BROWSER_HARNESS_PROVIDER => {
                    return Err(StoreError::Conflict(format!(
                        "run {id}'s provider `{}` is not configured on this server any more: \
                         nothing could answer a retry",
                        run.provider_name
                    )));
                }
                Some(provider) => {
                    if let Some(problem) = missing_key(provider) {
                        return Err(StoreError::Conflict(format!(
                            "run {id} cannot be retried: {problem}"
                        )));
                    }
                    if !provider.has_model(&run.model_name) {
                        return Err(StoreError::Conflict(format!(
                            "run {id} cannot be retried: provider `{}` has no model `{}` any \
                             more",
                            provider.name, run.model_name
                        )));
                    }
                }
                None => {}
            }
            // Nor could its answers be judged.
            let mut judge = ValidationErrors::default();
            if let Some(settings) = &run.settings.judge {
                check_judge(&providers, settings, "settings.judge", &mut judge);
            }
            if !judge.0.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "run {id} cannot be retried: its judge cannot be used on this server ({judge})"
                )));
            }
            // Its budget counts what every dispatch spent: spent, a retry would stop before
            // sending anything (and count one retry more).
            if let Some(why) = run
                .settings
                .budget
                .as_ref()
                .and_then(|budget| budget.exhausted_by(&run.usage))
            {
                return Err(StoreError::Conflict(format!(
                    "run {id} cannot be retried: {why}, and a retry would stop before sending \
                     anything; make a new run with a larger budget"
                )));
            }
            // Continuing under another configuration would mix the results of two setups.
            let changed = providers
                .get(&run.provider_name)
                .and_then(|provider| configuration_changes(&run, provider));
            if let Some((_, changes)) = &changed
                && !request.force
            {
                return Ok(Err(format!(
                    "the configuration of run {id} changed since it was made: {changes}; send \
                     {{\"force\": true}} to retry it anyway"
                )));
            }
            let reconfigured = changed
                .as_ref()
                .map(|(now, changes)| (now, changes.as_str()));
            db.retry_run(
                &id,
                scope,
                reconfigured,
                actor.name.as_deref(),
                truncate_to_micros(Utc::now()),
            )
            .map(Ok)
        })
        .await?
        .map_err(ApiError::ConfigurationChanged)?;
    state.wake_engine();
    Ok(HttpResponse::Accepted().json(RunDetailDto::new(&run, state.is_simulated(&run))))
}
