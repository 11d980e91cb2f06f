//! The run event outbox: each state change appends its event in the same transaction, so the
//! live stream can never announce a state the database does not have.
//!
//! Events are gathered while a write transaction runs and inserted as its last statement
//! ([`flush`]). Writers do not wait for each other to insert events: a reader must never skip
//! an event that commits after it read a later one, so the stream is ordered by the writing
//! transaction (PostgreSQL's transaction id, kept in `tx`; 0 on SQLite, whose one writer at a
//! time commits in id order) and then by id, and readers deliver only events of transactions
//! older than the oldest one still running ([`EventHorizon`]).

mod listen;
mod read;

use std::cell::RefCell;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{ItemState, RunId, RunStatus, StateCounts, Timestamp};
use serde_json::json;

use crate::{
    connection::{DbConnection, insert_rows},
    error::StoreError,
    runs::load_row,
    schema::{run_events, run_items},
};

pub use listen::EventListener;
pub use read::{EventHorizon, Resume};

/// The PostgreSQL channel a commit with events notifies.
pub(crate) const CHANNEL: &str = "evalboard_events";

/// The PostgreSQL channel replicas publish their streaming previews on.
pub(crate) const PREVIEW_CHANNEL: &str = "evalboard_previews";

/// How many finished items a board shows per run (`recentItems`).
pub(crate) const RECENT_ITEMS: i64 = 5;

#[derive(Insertable)]
#[diesel(table_name = run_events)]
#[diesel(treat_none_as_default_value = false)]
struct NewEventRow {
    run_id: String,
    kind: &'static str,
    sequence: Option<i32>,
    payload: String,
    created_at: NaiveDateTime,
}

thread_local! {
    /// The events of the write transaction running on this thread. A thread-local rather than
    /// a parameter: every repository function writes through `&mut DbConnection`, and a write
    /// transaction runs start to finish on one thread.
    static PENDING: RefCell<Option<Vec<NewEventRow>>> = const { RefCell::new(None) };
}

/// Runs `f` (the body of a write transaction) gathering the events it appends, then inserts
/// them as the transaction's last statement. Returns whether any event was written.
pub(crate) fn gathering<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<(T, bool), StoreError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PENDING.with(|pending| pending.borrow_mut().take());
        }
    }
    let _reset = Reset;
    PENDING.with(|pending| *pending.borrow_mut() = Some(Vec::new()));
    let value = f(conn)?;
    let events = PENDING
        .with(|pending| pending.borrow_mut().take())
        .unwrap_or_default();
    let written = !events.is_empty();
    flush(conn, events)?;
    Ok((value, written))
}

fn push(event: NewEventRow) -> Result<(), StoreError> {
    PENDING.with(|pending| match pending.borrow_mut().as_mut() {
        Some(events) => {
            events.push(event);
            Ok(())
        }
        None => Err(StoreError::Query(diesel::result::Error::QueryBuilderError(
            "an event was appended outside a write transaction".into(),
        ))),
    })
}

/// Inserts a transaction's events in order and notifies the other replicas (delivered at
/// commit).
fn flush(conn: &mut DbConnection, events: Vec<NewEventRow>) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    insert_rows!(conn, run_events::table, &events, 1_000);
    if let DbConnection::Postgres(pg) = conn {
        diesel::select(pg_notify(CHANNEL, "")).execute(pg)?;
    }
    Ok(())
}

diesel::define_sql_function! {
    /// PostgreSQL: notifies a channel's listeners when the transaction commits.
    fn pg_notify(channel: diesel::sql_types::Text, payload: diesel::sql_types::Text);
}

/// Appends a `run_status` event describing the run as it now is in this transaction, after a
/// change from `previous` (`None` for a new run; the same status when only the lifecycle moved).
pub(crate) fn status(
    conn: &mut DbConnection,
    run_id: &RunId,
    previous: Option<RunStatus>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let run = load_row(conn, run_id, false)?.into_domain()?;
    let lifecycle = &run.lifecycle;
    push(NewEventRow {
        run_id: run_id.to_string(),
        kind: "run_status",
        sequence: None,
        payload: json!({
            "status": run.status.as_str(),
            "previousStatus": previous.map(RunStatus::as_str),
            "resumedCount": lifecycle.resumed_count,
            "lastResumedAt": lifecycle.last_resumed_at,
            "cancelRequestedAt": lifecycle.cancel_requested_at,
        })
        .to_string(),
        created_at: at.naive_utc(),
    })
}

/// Appends a `run_progress` event with a run's counters.
pub(crate) fn progress(
    run_id: &RunId,
    counts: &StateCounts,
    at: Timestamp,
) -> Result<(), StoreError> {
    let by_state: serde_json::Map<String, serde_json::Value> = ItemState::ALL
        .into_iter()
        .map(|state| (state.as_str().to_owned(), counts.get(state).into()))
        .collect();
    push(NewEventRow {
        run_id: run_id.to_string(),
        kind: "run_progress",
        sequence: None,
        payload: json!({ "counts": by_state }).to_string(),
        created_at: at.naive_utc(),
    })
}

/// Appends a `run_item` event for each item of a run that `changed` state in this transaction,
/// and for each item `started` (sent to the model) that is still running, in sequence order,
/// with the state each has now. One item gets one event per transaction, and items that changed
/// together reach the board in the order it lists them.
pub(crate) fn items(
    conn: &mut DbConnection,
    run_id: &RunId,
    changed: &[i32],
    started: &[i32],
    at: Timestamp,
) -> Result<(), StoreError> {
    let mut changed = changed.to_vec();
    changed.sort_unstable();
    let mut sequences: Vec<i32> = changed.iter().chain(started).copied().collect();
    sequences.sort_unstable();
    sequences.dedup();
    for chunk in sequences.chunks(1_000) {
        let states: Vec<(i32, String)> = run_items::table
            .filter(crate::runs::item_keys::items_of_run(run_id, chunk))
            .order(run_items::sequence.asc())
            .select((run_items::sequence, run_items::state))
            .load(conn)?;
        for (sequence, state) in states {
            // A start is news only while the item is in flight; once it has moved on, its
            // change is announced instead (or was, by an earlier transaction).
            let announce =
                changed.binary_search(&sequence).is_ok() || state == ItemState::Running.as_str();
            if announce {
                push_item(run_id, sequence, &state, at)?;
            }
        }
    }
    Ok(())
}

/// Appends `run_item` events for the items of a run that finished at `at` in this transaction,
/// as many as a board shows: a bulk change (cancel, failure) announces what the board will
/// list, not every item it touched.
pub(crate) fn latest_finished(
    conn: &mut DbConnection,
    run_id: &RunId,
    at: Timestamp,
) -> Result<(), StoreError> {
    let mut latest: Vec<(i32, String)> = run_items::table
        .filter(run_items::run_id.eq(run_id.as_str()))
        .filter(run_items::finished_at.eq(at.naive_utc()))
        .order(run_items::sequence.desc())
        .limit(RECENT_ITEMS)
        .select((run_items::sequence, run_items::state))
        .load(conn)?;
    latest.reverse();
    for (sequence, state) in latest {
        push_item(run_id, sequence, &state, at)?;
    }
    Ok(())
}

fn push_item(run_id: &RunId, sequence: i32, state: &str, at: Timestamp) -> Result<(), StoreError> {
    push(NewEventRow {
        run_id: run_id.to_string(),
        kind: "run_item",
        sequence: Some(sequence),
        payload: json!({ "state": state }).to_string(),
        created_at: at.naive_utc(),
    })
}
