//! Re-judging: a finished run's stored answers judged again by another judge, without asking
//! the model again. The answers go back to `awaiting` (queued for a judge, claimed like any
//! other work, so a crash mid-way resumes where it was and no answer is judged twice in one
//! re-judging); every verdict ever given stays in the item's history with the judging it
//! belongs to.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    Fingerprint, ItemState, JudgeSettings, Run, RunFailure, RunId, RunSettings, RunStatus,
    Timestamp,
};

use super::{
    bookkeeping::{change_status, save_counts_recounting_answers},
    load_row,
};
use crate::{
    connection::{DbConnection, on_backend},
    database::Database,
    error::StoreError,
    logs::{self, LogLevel},
    schema::{run_answering_ends, run_items, runs},
};

impl Database {
    /// Starts judging a finished run's judged answers again with `judge`: they go back to
    /// `awaiting` (verdict cleared, answer kept), the run's judge becomes `judge` (in its
    /// settings and fingerprint), its re-judge count goes up, and it is `pending` again for the
    /// engine; so do canceled and failed items that hold an answer (their judging was
    /// canceled, or their run failed before their judge took them). Failed and canceled items
    /// without an answer stay as they are. A run that is not
    /// finished, or has no answer to judge, is a conflict.
    /// `requested_by` (a token's name) is recorded in the run log.
    pub fn start_rejudge(
        &self,
        run_id: &RunId,
        judge: &JudgeSettings,
        requested_by: Option<&str>,
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let run = load_row(conn, run_id, true)?.into_domain()?;
            let status = run.status;
            if !status.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} is {status}; only a finished run can be re-judged"
                )));
            }
            let mut counts = run.counts;
            let mut queued = 0u64;
            let now = at.naive_utc();
            // A canceled item holding an answer had its judging canceled (a cancel during a
            // re-judging, or before its judge took it), and a failed one holding an answer had
            // its run fail before its judge took it (the judge, or the answering provider,
            // could not go on): each is judged now rather than lost. (A claim clears an
            // item's answer, so only an answer waiting for its verdict is ever left on them.)
            for state in [
                ItemState::Correct,
                ItemState::Incorrect,
                ItemState::Canceled,
                ItemState::Failed,
            ] {
                let moved = diesel::update(
                    run_items::table
                        .filter(run_items::run_id.eq(run_id.as_str()))
                        .filter(run_items::state.eq(state.as_str()))
                        .filter(run_items::response_text.is_not_null()),
                )
                .set((
                    run_items::state.eq(ItemState::Awaiting.as_str()),
                    // No claim at all: queued for a judge (an expired one would read as a
                    // judge that went away).
                    run_items::lease_owner.eq(None::<String>),
                    run_items::lease_expires_at.eq(None::<NaiveDateTime>),
                    run_items::finished_at.eq(None::<NaiveDateTime>),
                    run_items::extracted_answer.eq(None::<String>),
                    run_items::extraction_tier.eq(None::<String>),
                    run_items::judge.eq(None::<String>),
                    run_items::judge_rationale.eq(None::<String>),
                    run_items::judged_at.eq(None::<NaiveDateTime>),
                    // Why it failed, or was canceled, is no longer where it stands.
                    run_items::error_kind.eq(None::<String>),
                    run_items::error_message.eq(None::<String>),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)? as u64;
                counts = counts
                    .moved(state, ItemState::Awaiting, moved)
                    .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: {state} counter")))?;
                queued += moved;
            }
            if queued == 0 {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} has no judged answer to judge again"
                )));
            }
            let previous = run.settings.judge.clone().unwrap_or(JudgeSettings::Choice);
            let round = run.rejudge_count + 1;
            let settings = RunSettings {
                judge: Some(judge.clone()),
                ..run.settings.clone()
            };
            let fingerprint = run.fingerprint.clone().map(|f| Fingerprint {
                judge: judge.clone(),
                ..f
            });
            keep_answering_end(conn, &run)?;
            update_run(conn, run_id, &settings, fingerprint.as_ref(), round)?;
            save_counts_recounting_answers(conn, run_id, &counts, at)?;
            logs::append(
                conn,
                run_id,
                None,
                LogLevel::Info,
                &format!(
                    "re-judging {round} requested{}: {queued} answer(s) to be judged by {} \
                     (until now: {})",
                    logs::requested_by(requested_by),
                    judge.label(),
                    previous.label()
                ),
                at,
            )?;
            let row = load_row(conn, run_id, false)?;
            change_status(
                conn,
                &row,
                RunStatus::Pending,
                at,
                Some(&format!("re-judging {round}")),
            )?;
            load_row(conn, run_id, false)?.into_domain()
        })
    }
}

/// Keeps how `run`'s answering ended (its status and failure, now) when its last dispatch
/// answered: after a re-judging, its ending is the re-judging's, and the answering's was kept
/// by the first re-judging since (or, for a run re-judged before it was kept, is not known:
/// such a run ends `completed`, as it did then).
fn keep_answering_end(conn: &mut DbConnection, run: &Run) -> Result<(), StoreError> {
    if run.rejudging {
        return Ok(());
    }
    let (kind, message) = match &run.failure {
        Some(failure) => (Some(failure.kind.as_str()), Some(failure.message.as_str())),
        None => (None, None),
    };
    let row = (
        run_answering_ends::run_id.eq(run.id.as_str()),
        run_answering_ends::status.eq(run.status.as_str()),
        run_answering_ends::error_kind.eq(kind),
        run_answering_ends::error_message.eq(message),
        run_answering_ends::cancel_requested_at
            .eq(run.lifecycle.cancel_requested_at.map(|at| at.naive_utc())),
    );
    on_backend!(conn, |c| diesel::insert_into(run_answering_ends::table)
        .values(row)
        .on_conflict(run_answering_ends::run_id)
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Forgets how a run's answering ended (a retry answers again).
pub(super) fn forget_answering_end(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<(), StoreError> {
    diesel::delete(run_answering_ends::table.find(run_id.as_str())).execute(conn)?;
    Ok(())
}

/// How a re-judged run's answering ended, when it did not complete: a re-judging changes
/// verdicts, not which items were answered, so one that leaves items without an answer
/// (failed, canceled) ends the run as its answering did — its status, its failure (a run
/// stopped by its budget stays `canceled` for it) and when its cancel was asked. One that
/// leaves every item judged ends it `completed`.
pub(super) struct AnsweringEnd {
    /// `failed` or `canceled`.
    pub(super) status: RunStatus,
    /// Why it failed, or stopped.
    pub(super) failure: Option<RunFailure>,
    /// When a cancel (or a budget stop) was asked of it.
    pub(super) cancel_requested_at: Option<NaiveDateTime>,
}

/// The kept [`AnsweringEnd`] of a re-judged run, when its answering did not complete.
pub(super) fn answering_end(
    conn: &mut DbConnection,
    run_id: &RunId,
) -> Result<Option<AnsweringEnd>, StoreError> {
    type Kept = (
        String,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let kept: Option<Kept> = run_answering_ends::table
        .find(run_id.as_str())
        .select((
            run_answering_ends::status,
            run_answering_ends::error_kind,
            run_answering_ends::error_message,
            run_answering_ends::cancel_requested_at,
        ))
        .first(conn)
        .optional()?;
    let Some((status, kind, message, cancel_requested_at)) = kept else {
        return Ok(None);
    };
    let status: RunStatus = status.parse().map_err(StoreError::corrupt)?;
    let failure = kind
        .zip(message)
        .map(|(kind, message)| RunFailure { kind, message });
    Ok(
        matches!(status, RunStatus::Failed | RunStatus::Canceled).then_some(AnsweringEnd {
            status,
            failure,
            cancel_requested_at,
        }),
    )
}

/// Records the run's new judge and round; a re-judging clears what the run ended with.
fn update_run(
    conn: &mut DbConnection,
    run_id: &RunId,
    settings: &RunSettings,
    fingerprint: Option<&Fingerprint>,
    round: u32,
) -> Result<(), StoreError> {
    let settings = serde_json::to_string(settings).map_err(StoreError::corrupt)?;
    let fingerprint = fingerprint
        .map(serde_json::to_string)
        .transpose()
        .map_err(StoreError::corrupt)?;
    diesel::update(runs::table.find(run_id.as_str()))
        .set((
            runs::settings.eq(settings),
            runs::fingerprint.eq(fingerprint),
            runs::rejudge_count.eq(round as i32),
            runs::rejudging.eq(true),
            runs::cancel_requested_at.eq(None::<NaiveDateTime>),
            runs::error_kind.eq(None::<String>),
            runs::error_message.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}
