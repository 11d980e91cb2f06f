//! What every run-changing transaction shares: status changes with their log entry and event,
//! counters with their `run_progress` event, resumes, and finishing a run whose items are done.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    ExtractionTier, ItemState, LLM_JUDGE_PREFIX, Run, RunId, RunStatus, RunUsage, StateCounts,
    Timestamp,
};

use super::{RunRow, latency::latency_of, load_row, rejudge};
use crate::{
    connection::DbConnection,
    error::StoreError,
    events,
    logs::{self, LogLevel},
    schema::{run_items, runs},
};

/// Moves the run in `row` to `to` if the rules allow it, maintaining `started_at` and
/// `finished_at`, with a log entry (`why` appended) and a `run_status` event.
pub(crate) fn change_status(
    conn: &mut DbConnection,
    row: &RunRow,
    to: RunStatus,
    at: Timestamp,
    why: Option<&str>,
) -> Result<(), StoreError> {
    let run_id = RunId::parse(&row.id).map_err(StoreError::corrupt)?;
    let from = row.status()?;
    from.transition_to(to)?;
    let now = at.naive_utc();
    let started_at = row.started_at.or((to == RunStatus::Running).then_some(now));
    let finished_at = to.is_terminal().then_some(now);
    // A finished run keeps its latency figures, so that lists show them without reading items.
    let latency = if to.is_terminal() {
        let summary = latency_of(conn, &run_id)?;
        Some(serde_json::to_string(&summary).map_err(StoreError::corrupt)?)
    } else {
        row.latency.clone()
    };
    diesel::update(runs::table.find(&row.id))
        .set((
            runs::status.eq(to.as_str()),
            runs::started_at.eq(started_at),
            runs::finished_at.eq(finished_at),
            runs::latency.eq(latency),
            runs::updated_at.eq(now),
        ))
        .execute(conn)?;
    let message = match why {
        Some(why) => format!("status {from} -> {to}: {why}"),
        None => format!("status {from} -> {to}"),
    };
    let level = if to == RunStatus::Failed {
        LogLevel::Error
    } else {
        LogLevel::Info
    };
    logs::append(conn, &run_id, None, level, &message, at)?;
    events::status(conn, &run_id, Some(from), at)
}

/// Counts one more resume of a running run, with a log entry and a `run_status` event.
pub(crate) fn record_resume(
    conn: &mut DbConnection,
    run_id: &RunId,
    at: Timestamp,
    why: &str,
) -> Result<(), StoreError> {
    let now = at.naive_utc();
    diesel::update(runs::table.find(run_id.as_str()))
        .set((
            runs::resumed_count.eq(runs::resumed_count + 1),
            runs::last_resumed_at.eq(Some(now)),
            runs::updated_at.eq(now),
        ))
        .execute(conn)?;
    let run = load_row(conn, run_id, false)?.into_domain()?;
    let resumed = run.lifecycle.resumed_count;
    logs::append(
        conn,
        run_id,
        None,
        LogLevel::Info,
        &format!("resumed ({resumed}): {why}"),
        at,
    )?;
    events::status(conn, run_id, Some(run.status), at)
}

/// Stores a run's item counters and announces them with a `run_progress` event.
pub(crate) fn save_counts(
    conn: &mut DbConnection,
    run_id: &RunId,
    counts: &StateCounts,
    at: Timestamp,
) -> Result<(), StoreError> {
    save_progress(conn, run_id, counts, None, None, at)
}

/// What a run keeps counted of its kept answers besides their states.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerCounts {
    /// Judged answers with nothing extractable (`runs.unparsed_count`).
    pub(crate) unparsed: i64,
    /// Answers the provider cut off (`runs.cut_off_count`).
    pub(crate) cut_off: i64,
    /// Verdicts the rules gave because the LLM judge gave none (`runs.judge_fallback_count`).
    pub(crate) judge_fallbacks: i64,
}

/// Stores a run's item counters, and its spending totals and answer counts when they changed,
/// in one statement, and announces the counters with a `run_progress` event.
pub(crate) fn save_progress(
    conn: &mut DbConnection,
    run_id: &RunId,
    counts: &StateCounts,
    usage: Option<&RunUsage>,
    answers: Option<AnswerCounts>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let now: NaiveDateTime = at.naive_utc();
    let n = |state| counts.get(state) as i64;
    let usage = usage
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::corrupt)?
        .map(|json| runs::usage.eq(Some(json)));
    diesel::update(runs::table.find(run_id.as_str()))
        .set((
            runs::pending_count.eq(n(ItemState::Pending)),
            runs::running_count.eq(n(ItemState::Running)),
            runs::awaiting_count.eq(n(ItemState::Awaiting)),
            runs::correct_count.eq(n(ItemState::Correct)),
            runs::incorrect_count.eq(n(ItemState::Incorrect)),
            runs::failed_count.eq(n(ItemState::Failed)),
            runs::canceled_count.eq(n(ItemState::Canceled)),
            runs::updated_at.eq(now),
            usage,
            answers.map(|a| {
                (
                    runs::unparsed_count.eq(a.unparsed),
                    runs::cut_off_count.eq(a.cut_off),
                    runs::judge_fallback_count.eq(a.judge_fallbacks),
                )
            }),
        ))
        .execute(conn)?;
    events::progress(run_id, counts, at)
}

/// A run's answer counts as its items are now: judged items with no extractable answer, kept
/// answers the provider cut off, and verdicts the rules gave for an LLM judge that gave none.
/// The conditions of the kept counts, in one place: the recount after a change to many items
/// and the test-facing recounts (`items.rs`) use it.
pub(crate) fn recount_answers(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<AnswerCounts, StoreError> {
    let of_run = || run_items::table.filter(run_items::run_id.eq(run_id.as_str()));
    let judged =
        || run_items::state.eq_any([ItemState::Correct.as_str(), ItemState::Incorrect.as_str()]);
    let unparsed: i64 = of_run()
        .filter(run_items::extraction_tier.eq(ExtractionTier::Unparsed.as_str()))
        .filter(judged())
        .count()
        .get_result(conn)?;
    let cut_off: i64 = of_run()
        .filter(run_items::cut_off.is_not_null())
        .count()
        .get_result(conn)?;
    // The rules give no reasons: a verdict of theirs with reasons is an LLM judge's fallback
    // (`Judgment::is_fallback`), the reasons saying why it gave none.
    let judge_fallbacks: i64 = of_run()
        .filter(judged())
        .filter(run_items::judge_rationale.is_not_null())
        .filter(run_items::judge.not_like(format!("{LLM_JUDGE_PREFIX}%")))
        .count()
        .get_result(conn)?;
    Ok(AnswerCounts {
        unparsed,
        cut_off,
        judge_fallbacks,
    })
}

/// Stores a run's item counters, as [`save_counts`], with its answer counts counted again from
/// the items, after a change to many items at once (a retry or re-judging reopens them; an
/// import judges them all).
pub(crate) fn save_counts_recounting_answers(
    conn: &mut DbConnection,
    run_id: &RunId,
    counts: &StateCounts,
    at: Timestamp,
) -> Result<(), StoreError> {
    let answers = recount_answers(conn, run_id)?;
    save_progress(conn, run_id, counts, None, Some(answers), at)
}

/// Ends a running run whose items are all terminal: `canceled` when a cancel was requested,
/// else `completed`. Returns the run when it ended.
pub(crate) fn finish_if_done(
    conn: &mut DbConnection,
    run_id: &RunId,
    at: Timestamp,
) -> Result<Option<Run>, StoreError> {
    let row = load_row(conn, run_id, false)?;
    let counts = row.counts()?;
    let open = counts.pending + counts.running + counts.awaiting;
    let status = row.status()?;
    if open > 0 || status.is_terminal() {
        return Ok(None);
    }
    // A re-judging canceled (or stopped by a budget) puts the run back as it was before it.
    if row.rejudging && row.cancel_requested_at.is_some() {
        let why = match row.budget_spent() {
            Some(reason) => format!("stopped ({reason})"),
            None => "canceled".to_owned(),
        };
        if rejudge::undo_rejudge(conn, &row, &why, at)? {
            return Ok(Some(load_row(conn, run_id, false)?.into_domain()?));
        }
    } else if row.rejudging {
        // It finished: its verdicts hold.
        rejudge::forget_judging_before(conn, &row.id)?;
    }
    let stopped_for_budget;
    let as_answered;
    let (to, why) = match (&row.cancel_requested_at, row.budget_spent()) {
        (Some(_), Some(reason)) => {
            stopped_for_budget = format!("stopped: {reason}");
            (RunStatus::Canceled, stopped_for_budget.as_str())
        }
        (Some(_), None) => (RunStatus::Canceled, "canceled on request"),
        // A re-judging that left items without an answer ends the run as its answering did.
        (None, _) if row.rejudging && counts.failed + counts.canceled > 0 => {
            match rejudge::answering_end(conn, run_id)? {
                Some(ended) => {
                    as_answered = format!(
                        "the re-judging is done; its answering had ended {}{}",
                        ended.status,
                        ended
                            .failure
                            .as_ref()
                            .map(|failure| format!(": {}", failure.message))
                            .unwrap_or_default()
                    );
                    let (kind, message) = ended.failure.map(|f| (f.kind, f.message)).unzip();
                    diesel::update(runs::table.find(run_id.as_str()))
                        .set((
                            runs::error_kind.eq(kind),
                            runs::error_message.eq(message),
                            runs::cancel_requested_at.eq(ended.cancel_requested_at),
                        ))
                        .execute(conn)?;
                    (ended.status, as_answered.as_str())
                }
                None => (RunStatus::Completed, "every item is done"),
            }
        }
        (None, _) => (RunStatus::Completed, "every item is done"),
    };
    if status == RunStatus::Pending && to == RunStatus::Completed {
        // A run whose items were all settled before it ever started (e.g. a retry that found
        // nothing to do) passes through `running`.
        change_status(conn, &row, RunStatus::Running, at, None)?;
    }
    let row = load_row(conn, run_id, false)?;
    change_status(conn, &row, to, at, Some(why))?;
    Ok(Some(load_row(conn, run_id, false)?.into_domain()?))
}
