//! Item attempts: one row per try at an item, opened when it is sent and closed with what came
//! of it, so that earlier attempts stay readable after retries.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{RunId, Timestamp};

use crate::{
    connection::{DbConnection, on_backend},
    error::StoreError,
    schema::item_attempts,
};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// The model answered.
    Answered,
    /// The provider call failed.
    Error,
    /// The run was canceled while the attempt was in flight.
    Canceled,
    /// Its worker went away (crash, lost lease); another attempt followed.
    Lost,
}

impl AttemptOutcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Lost => "lost",
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = item_attempts)]
struct NewAttemptRow<'a> {
    run_id: &'a str,
    sequence: i32,
    attempt: i32,
    started_at: NaiveDateTime,
    worker: &'a str,
}

/// Opens attempt `attempt` of each `(sequence, attempt)`.
pub(crate) fn open(
    conn: &mut DbConnection,
    run_id: &RunId,
    attempts: &[(i32, i32)],
    worker: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    for chunk in attempts.chunks(500) {
        let rows: Vec<NewAttemptRow<'_>> = chunk
            .iter()
            .map(|&(sequence, attempt)| NewAttemptRow {
                run_id: run_id.as_str(),
                sequence,
                attempt,
                started_at: at.naive_utc(),
                worker,
            })
            .collect();
        on_backend!(conn, |c| diesel::insert_into(item_attempts::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

/// What an attempt ended with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttemptEnd<'a> {
    pub(crate) outcome: AttemptOutcome,
    pub(crate) error_kind: Option<&'a str>,
    pub(crate) error_message: Option<&'a str>,
    pub(crate) first_token_at: Option<Timestamp>,
    pub(crate) prompt_tokens: Option<u32>,
    pub(crate) completion_tokens: Option<u32>,
}

impl AttemptEnd<'_> {
    pub(crate) fn plain(outcome: AttemptOutcome) -> Self {
        Self {
            outcome,
            error_kind: None,
            error_message: None,
            first_token_at: None,
            prompt_tokens: None,
            completion_tokens: None,
        }
    }
}

/// Closes the still-open attempt `attempt` of one item.
pub(crate) fn close(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequence: i32,
    attempt: i32,
    end: AttemptEnd<'_>,
    at: Timestamp,
) -> Result<(), StoreError> {
    diesel::update(
        item_attempts::table
            .filter(item_attempts::run_id.eq(run_id.as_str()))
            .filter(item_attempts::sequence.eq(sequence))
            .filter(item_attempts::attempt.eq(attempt))
            .filter(item_attempts::finished_at.is_null()),
    )
    .set((
        item_attempts::outcome.eq(end.outcome.as_str()),
        item_attempts::error_kind.eq(end.error_kind),
        item_attempts::error_message.eq(end.error_message),
        item_attempts::first_token_at.eq(end.first_token_at.map(|t| t.naive_utc())),
        item_attempts::prompt_tokens.eq(end.prompt_tokens.map(|t| t as i32)),
        item_attempts::completion_tokens.eq(end.completion_tokens.map(|t| t as i32)),
        item_attempts::finished_at.eq(Some(at.naive_utc())),
    ))
    .execute(conn)?;
    Ok(())
}

/// Closes the open attempts of several items the same way (cancels, lost workers).
pub(crate) fn close_many(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequences: &[i32],
    outcome: AttemptOutcome,
    at: Timestamp,
) -> Result<(), StoreError> {
    for chunk in sequences.chunks(1_000) {
        diesel::update(
            item_attempts::table
                .filter(item_attempts::run_id.eq(run_id.as_str()))
                .filter(item_attempts::sequence.eq_any(chunk))
                .filter(item_attempts::finished_at.is_null()),
        )
        .set((
            item_attempts::outcome.eq(outcome.as_str()),
            item_attempts::finished_at.eq(Some(at.naive_utc())),
        ))
        .execute(conn)?;
    }
    Ok(())
}
