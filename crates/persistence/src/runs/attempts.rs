//! Item attempts: one row per try at an item, written when the try ends, with what came of it,
//! so that earlier attempts stay readable after retries. Rows are inserted in batches; the
//! attempt still in flight lives on the item row (`attempt_count`, `started_at`) until it ends.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{ItemState, RunId, Timestamp};

use super::item_keys;
use crate::{
    connection::{DbConnection, insert_rows},
    error::StoreError,
    schema::{item_attempts, run_items},
};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// The model answered.
    Answered,
    /// The response cache answered (an earlier run's answer to the same request).
    Cached,
    /// The provider call failed.
    Error,
    /// The run was canceled while the attempt was in flight.
    Canceled,
    /// Its worker went away (crash, lost lease); another attempt followed.
    Lost,
    /// Its worker stopped (a drain on shutdown) and gave the item back: the attempt was either
    /// never sent or cut short, and the next claim makes another.
    Released,
}

impl AttemptOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Cached => "cached",
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Lost => "lost",
            Self::Released => "released",
        }
    }
}

/// A finished attempt, ready to be stored.
#[derive(Insertable)]
#[diesel(table_name = item_attempts, treat_none_as_default_value = false)]
pub(crate) struct EndedAttempt {
    pub(crate) run_id: String,
    pub(crate) sequence: i32,
    pub(crate) attempt: i32,
    pub(crate) outcome: Option<&'static str>,
    pub(crate) error_kind: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) worker: Option<String>,
    pub(crate) started_at: NaiveDateTime,
    pub(crate) finished_at: Option<NaiveDateTime>,
    pub(crate) first_token_at: Option<NaiveDateTime>,
    pub(crate) prompt_tokens: Option<i32>,
    pub(crate) completion_tokens: Option<i32>,
    pub(crate) reasoning_tokens: Option<i32>,
    pub(crate) cost_usd: Option<f64>,
    /// What a Browser Harness noted of the page (JSON object of strings); `None` otherwise.
    pub(crate) page: Option<String>,
}

/// Stores finished attempts (on PostgreSQL many rows per statement).
pub(crate) fn insert(conn: &mut DbConnection, attempts: &[EndedAttempt]) -> Result<(), StoreError> {
    insert_rows!(conn, item_attempts::table, attempts, 500);
    Ok(())
}

/// Ends the attempts in flight on `sequences` (items about to be canceled, failed with their
/// run, taken over from a lost worker, or given back by a stopping one), reading what the item
/// rows know of them. Call it before the item rows change. An attempt that was never sent (its
/// item claimed ahead of its turn, or waiting to be tried again: no `started_at`) was no
/// attempt: it leaves no row, and the item's count of attempts goes back by one, so that the
/// next attempt made has its number. Returns the items whose attempt was never sent.
///
/// Not so for a `Lost` attempt: an expired claim says nothing of what its worker did — it may
/// have sent the request and not been able to store the send (a database outage, a partition),
/// and may still report on it. That attempt ends `lost` whether it was seen sent or not, and the
/// next claim's is the next number, so that the old worker's outcomes cannot pass for the new
/// claim's.
pub(crate) fn end_in_flight(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequences: &[i32],
    outcome: AttemptOutcome,
    error: Option<(&str, &str)>,
    at: Timestamp,
) -> Result<Vec<i32>, StoreError> {
    let mut never_sent = Vec::new();
    for chunk in sequences.chunks(1_000) {
        let in_flight: Vec<(i32, i32, Option<NaiveDateTime>, Option<String>)> = run_items::table
            .filter(item_keys::items_of_run(run_id, chunk))
            .filter(run_items::attempt_count.gt(0))
            .filter(run_items::state.eq(ItemState::Running.as_str()))
            .select((
                run_items::sequence,
                run_items::attempt_count,
                run_items::started_at,
                run_items::lease_owner,
            ))
            .load(conn)?;
        let (sent, queued): (Vec<_>, Vec<_>) =
            in_flight.into_iter().partition(|(_, _, started_at, _)| {
                started_at.is_some() || outcome == AttemptOutcome::Lost
            });
        let queued: Vec<i32> = queued.into_iter().map(|(sequence, ..)| sequence).collect();
        if !queued.is_empty() {
            diesel::update(run_items::table.filter(item_keys::items_of_run(run_id, &queued)))
                .set(run_items::attempt_count.eq(run_items::attempt_count - 1))
                .execute(conn)?;
            never_sent.extend(queued);
        }
        let ended: Vec<EndedAttempt> = sent
            .into_iter()
            .map(|(sequence, attempt, started_at, worker)| EndedAttempt {
                run_id: run_id.to_string(),
                sequence,
                attempt,
                outcome: Some(outcome.as_str()),
                error_kind: error.map(|(kind, _)| kind.to_owned()),
                error_message: error.map(|(_, message)| message.to_owned()),
                worker,
                // (Unknown only for a lost attempt that was not seen sent.)
                started_at: started_at.unwrap_or(at.naive_utc()),
                finished_at: Some(at.naive_utc()),
                first_token_at: None,
                prompt_tokens: None,
                completion_tokens: None,
                reasoning_tokens: None,
                cost_usd: None,
                page: None,
            })
            .collect();
        insert(conn, &ended)?;
    }
    Ok(never_sent)
}
