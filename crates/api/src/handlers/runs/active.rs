//! `GET /runs/active`: the snapshots that hydrate the active runs board.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    dto::ActiveRunDto,
    error::{ApiError, Problem},
    params::bounded_int,
    state::AppState,
};

/// Query of `GET /runs/active`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActiveRunsQuery {
    /// Maximum number of snapshots, 1 to 24 (default 12).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 24)]
    limit: Option<String>,
}

/// Snapshots of the runs that are `pending` or `running` (newest first), then of the most
/// recently finished runs, up to `limit` in all.
#[utoipa::path(
    tag = "runs",
    params(ActiveRunsQuery),
    responses(
        (status = 200, description = "Active snapshots, active runs first", body = Vec<ActiveRunDto>,
            headers(("Last-Event-ID" = u64, description = "The id of the last event the snapshots include: resume `GET /runs/events` from it"))),
        (status = 400, description = "`limit` is not an integer from 1 to 24, or an unknown parameter", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Database unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/runs/active")]
pub(crate) async fn list_active_runs(
    state: web::Data<AppState>,
    query: web::Query<ActiveRunsQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = bounded_int("limit", query.limit.as_deref(), 1, 24, 12)?;
    // The position is read first: the snapshots include at least every event up to it, so a
    // stream resumed from it misses nothing (and replays the odd event already included).
    // The item streaming here that was sent last is a run's current item: the database only
    // knows what was claimed last, which may still be waiting to be sent. Each run's activity
    // is read once, and its item fetched in the same statement as every other snapshot's.
    let activity = state.engine.as_ref().map(|e| e.activity().clone());
    let streaming = Arc::new(Mutex::new(HashMap::new()));
    let (position, board) = state
        .with_db({
            let streaming = Arc::clone(&streaming);
            move |db| {
                let position = db.event_horizon()?.last.id;
                let board = db.active_runs_with(limit, |run_id| {
                    let (sequence, now) = activity.as_ref()?.latest(run_id)?;
                    lock(&streaming).insert(run_id.clone(), (sequence, now));
                    Some(sequence)
                })?;
                Ok((position, board))
            }
        })
        .await?;
    let mut streaming = std::mem::take(&mut *lock(&streaming));
    let snapshots: Vec<ActiveRunDto> = board
        .into_iter()
        .map(|active| {
            let run_id = active.run.id.clone();
            let mut snapshot = ActiveRunDto::from(active);
            if let (Some((sequence, activity)), Some(current)) =
                (streaming.remove(&run_id), snapshot.current_item.as_mut())
                && current.sequence == sequence
            {
                current.activity = Some(activity.into());
            }
            snapshot
        })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header(("Last-Event-ID", position.to_string()))
        .json(snapshots))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
