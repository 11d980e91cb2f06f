//! How fast a run's items were answered: time to first token and to the whole answer, over its
//! answered items, as percentiles. Exact, from the items, when a run finishes (and kept with it,
//! for lists); while it is active, from histograms kept with its answers (within 1 %), so that
//! reading a run never reads all of its items.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{LatencyHistogram, LatencySummary, Run, RunId};

use super::{attempts::AttemptOutcome, load_row};
use crate::{
    connection::DbConnection,
    database::Database,
    error::StoreError,
    schema::{item_attempts, run_items, run_latency_histograms},
};

impl Database {
    /// The run, with its latency figures as of now while it is active (a finished run keeps
    /// those of when it finished).
    pub fn get_run_with_latency(&self, run_id: &RunId) -> Result<Run, StoreError> {
        self.read(|conn| {
            let run = load_row(conn, run_id, false)?.into_domain()?;
            with_latency(conn, run)
        })
    }
}

/// `run` with its latency figures as of now when it is active (a finished run's are kept with
/// it).
pub(super) fn with_latency(conn: &mut DbConnection, mut run: Run) -> Result<Run, StoreError> {
    if run.status.is_active() {
        run.latency = match kept_histogram(conn, &run.id)? {
            Some(histogram) => histogram.summary(),
            // Nothing answered yet.
            None if run.counts.past_running() == 0 => LatencySummary::default(),
            // Answered before histograms were kept (until its next answer), or only
            // failures so far.
            None => latency_of(conn, &run.id)?,
        };
    }
    Ok(run)
}

/// One answered item's time to first token and to the whole answer, in microseconds.
pub(crate) type LatencySample = (Option<i64>, Option<i64>);

/// The sample of an item sent at `started` and answered at `answered`.
pub(crate) fn sample(
    started: NaiveDateTime,
    first_token: Option<NaiveDateTime>,
    answered: NaiveDateTime,
) -> LatencySample {
    let since = |t: NaiveDateTime| (t - started).num_microseconds();
    (first_token.and_then(since), since(answered))
}

/// The exact latency figures over the latest answer of each answered item of a run.
pub(crate) fn latency_of(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<LatencySummary, StoreError> {
    let samples = answered_samples(conn, run_id)?;
    Ok(LatencySummary::from_samples(
        samples.iter().filter_map(|s| s.0).collect(),
        samples.iter().filter_map(|s| s.1).collect(),
    ))
}

/// An answered item's sequence, attempt, and when it was sent, began and ended answering.
type AnsweredRow = (
    i32,
    i32,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
);

/// The samples of every answered item of a run, as its items hold them now: answers the
/// provider gave, not those served from the response cache (never sent, they took no time, and
/// counted as answers in 0 ms they put a partly cached run's total p50 below its time to first
/// token).
fn answered_samples(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<Vec<LatencySample>, StoreError> {
    let rows: Vec<AnsweredRow> = run_items::table
        .filter(run_items::run_id.eq(run_id.as_str()))
        .filter(run_items::answered_at.is_not_null())
        .select((
            run_items::sequence,
            run_items::attempt_count,
            run_items::started_at,
            run_items::first_token_at,
            run_items::answered_at,
        ))
        .load(conn)?;
    let cached: HashSet<(i32, i32)> = item_attempts::table
        .filter(item_attempts::run_id.eq(run_id.as_str()))
        .filter(item_attempts::outcome.eq(AttemptOutcome::Cached.as_str()))
        .select((item_attempts::sequence, item_attempts::attempt))
        .load::<(i32, i32)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .filter(|(sequence, attempt, ..)| !cached.contains(&(*sequence, *attempt)))
        .filter_map(|(_, _, started, first_token, answered)| {
            Some(sample(started?, first_token, answered?))
        })
        .collect())
}

fn kept_histogram(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<Option<LatencyHistogram>, StoreError> {
    let stored: Option<String> = run_latency_histograms::table
        .find(run_id.as_str())
        .select(run_latency_histograms::histogram)
        .get_result(conn)
        .optional()?;
    stored
        .map(|json| serde_json::from_str(&json).map_err(StoreError::corrupt))
        .transpose()
}

/// Adds the samples of answers this transaction stored to the run's kept histogram. Without
/// one (the run's first answers, or a retry dropped it), makes it: from these samples alone when
/// no other item of the run can hold an answer (`others_answered` false: the run's counters
/// before this transaction had no item past `running`), else from the items as they are now,
/// this transaction's answers included. The caller holds the run's row lock, so writers of one
/// run add in turn.
pub(crate) fn add_latencies(
    conn: &mut DbConnection,
    run_id: &RunId,
    samples: &[LatencySample],
    others_answered: bool,
) -> Result<(), StoreError> {
    let kept = kept_histogram(conn, run_id)?;
    let exists = kept.is_some();
    let mut histogram = kept.unwrap_or_default();
    if !exists && others_answered {
        // The items hold this transaction's answers too.
        for (ttft, total) in answered_samples(conn, run_id)? {
            histogram.record(ttft, total);
        }
    } else {
        for &(ttft, total) in samples {
            histogram.record(ttft, total);
        }
    }
    let json = serde_json::to_string(&histogram).map_err(StoreError::corrupt)?;
    if exists {
        diesel::update(run_latency_histograms::table.find(run_id.as_str()))
            .set(run_latency_histograms::histogram.eq(json))
            .execute(conn)?;
    } else {
        diesel::insert_into(run_latency_histograms::table)
            .values((
                run_latency_histograms::run_id.eq(run_id.as_str()),
                run_latency_histograms::histogram.eq(json),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Drops a run's kept histogram after a change to its answers other than new ones (a retry
/// clears the answers it reopens): its next answers build it again from the items.
pub(crate) fn forget_latencies(conn: &mut DbConnection, run_id: &RunId) -> Result<(), StoreError> {
    diesel::delete(run_latency_histograms::table.find(run_id.as_str())).execute(conn)?;
    Ok(())
}
