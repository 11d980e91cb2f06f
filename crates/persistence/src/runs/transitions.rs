//! Moving items and runs between states: checked against the domain's rules, counted on the
//! run row, logged and announced in the same transaction.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    ItemState, Run, RunId, RunStatus, Timestamp, TransitionError, ValidationErrors,
};

use super::{
    bookkeeping::{self, change_status, save_counts},
    item_keys, load_row,
};
use crate::{
    connection::DbConnection, database::Database, error::StoreError, events, schema::run_items,
};

/// Sequences per `IN (...)` list, well under both backends' bind-parameter limits.
const SEQUENCE_CHUNK: usize = 1_000;

/// Move one item of a run to a new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemTransition {
    /// The item's 1-based sequence in its run.
    pub sequence: u32,
    /// The state it moves to.
    pub to: ItemState,
}

impl Database {
    /// Applies a batch of item transitions to one run, atomically: if any item is unknown, named
    /// twice, or asked for an illegal move, nothing changes. The run's counters move with the
    /// items. Returns the run as it is afterwards.
    pub fn transition_items(
        &self,
        run_id: &RunId,
        transitions: &[ItemTransition],
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            if transitions.is_empty() {
                return row.into_domain();
            }
            let mut counts = row.counts()?;
            let current = current_states(conn, run_id, transitions)?;

            // Group the moves by (from, to) so each group is one UPDATE.
            let mut groups: BTreeMap<(ItemState, ItemState), Vec<i32>> = BTreeMap::new();
            for t in transitions {
                let from = current[&t.sequence];
                from.transition_to(t.to)?;
                groups
                    .entry((from, t.to))
                    .or_default()
                    .push(t.sequence as i32);
            }
            for ((from, to), sequences) in groups {
                counts = counts
                    .moved(from, to, sequences.len() as u64)
                    .ok_or_else(|| counters_disagree(run_id, from))?;
                move_items(conn, run_id, from, to, &sequences, at.naive_utc())?;
            }
            let moved: Vec<i32> = transitions.iter().map(|t| t.sequence as i32).collect();
            events::items(conn, run_id, &moved, &[], at)?;
            save_counts(conn, run_id, &counts, at)?;
            load_row(conn, run_id, false)?.into_domain()
        })
    }

    /// Moves a run to a new status, if the rules allow it, maintaining `started_at` and
    /// `finished_at`, with a log entry and a `run_status` event.
    pub fn set_run_status(
        &self,
        run_id: &RunId,
        to: RunStatus,
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            change_status(conn, &row, to, at, None)?;
            load_row(conn, run_id, false)?.into_domain()
        })
    }
}

impl Database {
    /// Records that a `running` run was picked up again after a restart or a lost worker:
    /// `lifecycle.resumedCount` + 1 and `lastResumedAt`, with a log entry and an event.
    pub fn record_resume(&self, run_id: &RunId, at: Timestamp) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            let status = row.status()?;
            if status != RunStatus::Running {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} is {status}; only a running run can be resumed"
                )));
            }
            bookkeeping::record_resume(conn, run_id, at, "picked up again")?;
            load_row(conn, run_id, false)?.into_domain()
        })
    }
}

/// The current state of every item named in `transitions`; errors when one is missing or named
/// twice.
fn current_states(
    conn: &mut DbConnection,
    run_id: &RunId,
    transitions: &[ItemTransition],
) -> Result<BTreeMap<u32, ItemState>, StoreError> {
    let mut seen = HashSet::with_capacity(transitions.len());
    let mut errors = ValidationErrors::default();
    for t in transitions {
        if !seen.insert(t.sequence) {
            errors.push("sequence", format!("item {} is named twice", t.sequence));
        }
    }
    errors.into_result().map_err(StoreError::Invalid)?;

    let sequences: Vec<i32> = transitions.iter().map(|t| t.sequence as i32).collect();
    let mut states = BTreeMap::new();
    for chunk in sequences.chunks(SEQUENCE_CHUNK) {
        let rows: Vec<(i32, String)> = run_items::table
            .filter(item_keys::items_of_run(run_id, chunk))
            .select((run_items::sequence, run_items::state))
            .load(conn)?;
        for (sequence, state) in rows {
            states.insert(sequence as u32, state.parse().map_err(StoreError::corrupt)?);
        }
    }
    if let Some(missing) = transitions
        .iter()
        .find(|t| !states.contains_key(&t.sequence))
    {
        return Err(StoreError::NotFound {
            entity: "item",
            id: format!("{run_id}/{}", missing.sequence),
        });
    }
    Ok(states)
}

fn move_items(
    conn: &mut DbConnection,
    run_id: &RunId,
    from: ItemState,
    to: ItemState,
    sequences: &[i32],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    for chunk in sequences.chunks(SEQUENCE_CHUNK) {
        let items = run_items::table
            .filter(item_keys::items_of_run(run_id, chunk))
            .filter(run_items::state.eq(from.as_str()));
        let changed = match to {
            // Entering `running` starts a new attempt.
            ItemState::Running => diesel::update(items)
                .set((
                    run_items::state.eq(to.as_str()),
                    run_items::attempt_count.eq(run_items::attempt_count + 1),
                    run_items::started_at.eq(Some(now)),
                    run_items::finished_at.eq(None::<NaiveDateTime>),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?,
            _ => diesel::update(items)
                .set((
                    run_items::state.eq(to.as_str()),
                    run_items::finished_at.eq(to.is_terminal().then_some(now)),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?,
        };
        if changed != chunk.len() {
            // The rows changed under us: the transaction rolls back and nothing is half-applied.
            return Err(StoreError::Transition(TransitionError {
                entity: "item",
                from: from.as_str(),
                to: to.as_str(),
            }));
        }
    }
    Ok(())
}

fn counters_disagree(run_id: &RunId, state: ItemState) -> StoreError {
    StoreError::corrupt(format!(
        "run {run_id}: the {state} counter is lower than the items in that state"
    ))
}
