//! The active board's read model: active runs first, then the most recently finished, each
//! with the item in flight and the last few finished items.

use diesel::prelude::*;
use evalboard_domain::{ItemSnapshot, ItemState, Run, RunId, RunStatus};

use super::RunRow;
use crate::{
    connection::DbConnection,
    database::Database,
    error::StoreError,
    events::RECENT_ITEMS,
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
            rows.into_iter()
                .map(|row| {
                    let run = row.into_domain()?;
                    let current_item = current_item(conn, &run)?;
                    let recent_items = recent_items(conn, &run)?;
                    Ok(ActiveRun {
                        run,
                        current_item,
                        recent_items,
                    })
                })
                .collect()
        })
    }
}

impl Database {
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

fn snapshot(
    (sequence, state, question, choices): (i32, String, String, String),
) -> Result<ItemSnapshot, StoreError> {
    Ok(ItemSnapshot {
        sequence: sequence as u32,
        state: state.parse().map_err(StoreError::corrupt)?,
        prompt_text: question,
        choices: serde_json::from_str(&choices).map_err(StoreError::corrupt)?,
    })
}

/// Which end of a run's item history a snapshot query reads.
enum Snapshots {
    /// Running items, most recently started first.
    Running,
    /// Terminal items, most recently finished first.
    Finished,
}

fn current_item(conn: &mut DbConnection, run: &Run) -> Result<Option<ItemSnapshot>, StoreError> {
    Ok(snapshots(conn, run, Snapshots::Running, 1)?.pop())
}

fn recent_items(conn: &mut DbConnection, run: &Run) -> Result<Vec<ItemSnapshot>, StoreError> {
    snapshots(conn, run, Snapshots::Finished, RECENT_ITEMS)
}

fn snapshots(
    conn: &mut DbConnection,
    run: &Run,
    which: Snapshots,
    limit: i64,
) -> Result<Vec<ItemSnapshot>, StoreError> {
    let query = run_items::table
        .inner_join(
            dataset_items::table.on(dataset_items::dataset_id
                .eq(run_items::dataset_id)
                .and(dataset_items::position.eq(run_items::dataset_position))),
        )
        .filter(run_items::run_id.eq(run.id.as_str()))
        .select((
            run_items::sequence,
            run_items::state,
            dataset_items::question,
            dataset_items::choices,
        ))
        .limit(limit)
        .into_boxed();
    let query = match which {
        Snapshots::Running => query
            .filter(run_items::state.eq(ItemState::Running.as_str()))
            .order((run_items::started_at.desc(), run_items::sequence.desc())),
        // `finished_at` is set exactly when an item is terminal, and indexed per run.
        Snapshots::Finished => query
            .filter(run_items::finished_at.is_not_null())
            .order((run_items::finished_at.desc(), run_items::sequence.desc())),
    };
    query
        .load::<(i32, String, String, String)>(conn)?
        .into_iter()
        .map(snapshot)
        .collect()
}
