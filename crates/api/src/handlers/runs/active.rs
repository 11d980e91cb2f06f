//! `GET /runs/active`: the snapshots that hydrate the active runs board.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    dto::{ActiveRunDto, ItemSnapshotDto},
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
    let (position, board) = state
        .with_db(move |db| Ok((db.event_horizon()?.last_id, db.active_runs(limit)?)))
        .await?;
    let mut snapshots: Vec<ActiveRunDto> = Vec::with_capacity(board.len());
    for active in board {
        let run_id = active.run.id.clone();
        let mut snapshot = ActiveRunDto::from(active);
        // The item streaming here that was sent last is the run's current item: the database
        // only knows what was claimed last, which may still be waiting to be sent.
        if let Some((sequence, activity)) = state
            .engine
            .as_ref()
            .and_then(|e| e.activity().latest(&run_id))
        {
            let item = state
                .with_db(move |db| db.item_snapshot(&run_id, sequence))
                .await?;
            if let Some(item) = item {
                let mut current = ItemSnapshotDto::from(item);
                current.activity = Some(activity.into());
                snapshot.current_item = Some(current);
            }
        }
        snapshots.push(snapshot);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Last-Event-ID", position.to_string()))
        .json(snapshots))
}
