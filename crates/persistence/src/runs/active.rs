//! The active board's read model: active runs first, then the most recently finished, each
//! with the item in flight and the last few finished items.

use diesel::prelude::*;
use evalboard_domain::{ItemSnapshot, ItemState, Run, RunId, RunStatus};

use super::{RunRow, board_items::board_items};
use crate::{
    database::Database,
    error::StoreError,
    schema::{dataset_items, run_items, runs},
};

/// One run as the active board shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveRun {
    /// The run, with progress and lifecycle.
    pub run: Run,
    /// The item most recently started among those still running, if any.
    pub current_item: Option<ItemSnapshot>,
    /// The most recently finished items, newest first.
    pub recent_items: Vec<ItemSnapshot>,
}

const ACTIVE: [&str; 2] = ["pending", "running"];

impl Database {
    /// Up to `limit` snapshots: runs `pending` or `running` (newest first), then terminal runs
    /// by when they finished (most recent first).
    pub fn active_runs(&self, limit: u32) -> Result<Vec<ActiveRun>, StoreError> {
        self.active_runs_with(limit, |_| None)
    }

    /// [`Database::active_runs`], with each run's current item the one `streaming` names (the
    /// item this server is streaming, when it knows one) rather than the one claimed last. The
    /// snapshots' items are read by statements prepared once per connection (see
    /// `board_items`).
    pub fn active_runs_with(
        &self,
        limit: u32,
        streaming: impl Fn(&RunId) -> Option<u32>,
    ) -> Result<Vec<ActiveRun>, StoreError> {
        debug_assert!(
            ACTIVE
                .iter()
                .all(|s| s.parse::<RunStatus>().is_ok_and(RunStatus::is_active))
        );
        self.read(|conn| {
            let limit = i64::from(limit);
            let mut rows: Vec<RunRow> = runs::table
                .filter(runs::status.eq_any(ACTIVE))
                .order((runs::created_at.desc(), runs::id.desc()))
                .limit(limit)
                .select(RunRow::as_select())
                .load(conn)?;
            let room = limit - rows.len() as i64;
            if room > 0 {
                rows.extend(
                    runs::table
                        .filter(runs::status.ne_all(ACTIVE))
                        .order((
                            runs::finished_at.desc(),
                            runs::created_at.desc(),
                            runs::id.desc(),
                        ))
                        .limit(room)
                        .select(RunRow::as_select())
                        .load(conn)?,
                );
            }
            let runs: Vec<Run> = rows
                .into_iter()
                .map(RunRow::into_domain)
                .collect::<Result<_, _>>()?;
            let mut items = board_items(conn, &runs, &streaming)?;
            Ok(runs
                .into_iter()
                .map(|run| {
                    let (current, recent) = items.remove(run.id.as_str()).unwrap_or_default();
                    ActiveRun {
                        run,
                        current_item: current,
                        recent_items: recent,
                    }
                })
                .collect())
        })
    }
}

impl Database {
    /// The state an item of a run is in now (a primary-key lookup); `None`: no such item.
    pub fn item_state(
        &self,
        run_id: &RunId,
        sequence: u32,
    ) -> Result<Option<ItemState>, StoreError> {
        self.read(|conn| {
            let state: Option<String> = run_items::table
                .find((run_id.as_str(), sequence as i32))
                .select(run_items::state)
                .get_result(conn)
                .optional()?;
            state
                .map(|s| s.parse().map_err(StoreError::corrupt))
                .transpose()
        })
    }

    /// One item of a run as the board shows it.
    pub fn item_snapshot(
        &self,
        run_id: &RunId,
        sequence: u32,
    ) -> Result<Option<ItemSnapshot>, StoreError> {
        self.read(|conn| {
            let row: Option<(i32, String, String, String)> = run_items::table
                .inner_join(
                    dataset_items::table.on(dataset_items::dataset_id
                        .eq(run_items::dataset_id)
                        .and(dataset_items::position.eq(run_items::dataset_position))),
                )
                .filter(run_items::run_id.eq(run_id.as_str()))
                .filter(run_items::sequence.eq(sequence as i32))
                .select((
                    run_items::sequence,
                    run_items::state,
                    dataset_items::question,
                    dataset_items::choices,
                ))
                .first(conn)
                .optional()?;
            row.map(snapshot).transpose()
        })
    }
}

pub(super) fn snapshot(
    (sequence, state, question, choices): (i32, String, String, String),
) -> Result<ItemSnapshot, StoreError> {
    Ok(ItemSnapshot {
        sequence: sequence as u32,
        state: state.parse().map_err(StoreError::corrupt)?,
        prompt_text: question,
        choices: serde_json::from_str(&choices).map_err(StoreError::corrupt)?,
    })
}
