//! Re-judging: a finished run's stored answers judged again by another judge, without asking
//! the model again. The answers go back to `awaiting` (queued for a judge, claimed like any
//! other work, so a crash mid-way resumes where it was and no answer is judged twice in one
//! re-judging); every verdict ever given stays in the item's history with the judging it
//! belongs to. What a re-judging replaces is kept while it goes on: one canceled or failed
//! before it finished puts the run back as it was before it.

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
    schema::{
        item_judgments, rejudge_previous_items, rejudge_previous_runs, run_answering_ends,
        run_items, runs,
    },
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
            let row = load_row(conn, run_id, true)?;
            let status = row.status()?;
            if !status.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} is {status}; only a finished run can be re-judged"
                )));
            }
            keep_judging_before(conn, &row)?;
            let run = row.into_domain()?;
            let mut counts = run.counts;
            let mut queued = 0u64;
            let now = at.naive_utc();
            // A canceled item holding an answer had its judging canceled (its run canceled
            // before its judge took it), and a failed one holding an answer had its run fail
            // before its judge took it (the judge, or the answering provider, could not go
            // on): each is judged now rather than lost. (A claim clears an item's answer, so
            // only an answer waiting for its verdict is ever left on them.)
            for state in REJUDGED_STATES {
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
            runs::judging_round.eq(round as i32),
            runs::rejudging.eq(true),
            runs::cancel_requested_at.eq(None::<NaiveDateTime>),
            runs::error_kind.eq(None::<String>),
            runs::error_message.eq(None::<String>),
        ))
        .execute(conn)?;
    Ok(())
}

/// The item states a re-judging takes answers from (those holding one).
const REJUDGED_STATES: [ItemState; 4] = [
    ItemState::Correct,
    ItemState::Incorrect,
    ItemState::Canceled,
    ItemState::Failed,
];

/// Keeps what a re-judging of `row`'s run is about to replace — its items' verdicts (and,
/// for canceled and failed items, why), its judge, fingerprint and ending — so that
/// [`undo_rejudge`] can put it back. Whatever an earlier re-judging left (one that ended
/// without reaching `finish_if_done`, or a crash before this migration's time) is replaced.
fn keep_judging_before(conn: &mut DbConnection, row: &super::RunRow) -> Result<(), StoreError> {
    forget_judging_before(conn, &row.id)?;
    diesel::insert_into(rejudge_previous_runs::table)
        .values((
            rejudge_previous_runs::run_id.eq(&row.id),
            rejudge_previous_runs::settings.eq(&row.settings),
            rejudge_previous_runs::fingerprint.eq(&row.fingerprint),
            rejudge_previous_runs::status.eq(&row.status),
            rejudge_previous_runs::error_kind.eq(&row.error_kind),
            rejudge_previous_runs::error_message.eq(&row.error_message),
            rejudge_previous_runs::cancel_requested_at.eq(row.cancel_requested_at),
            rejudge_previous_runs::finished_at.eq(row.finished_at),
            rejudge_previous_runs::rejudging.eq(row.rejudging),
            rejudge_previous_runs::judging_round.eq(row.judging_round),
        ))
        .execute(conn)?;
    let states: Vec<&str> = REJUDGED_STATES.iter().map(|s| s.as_str()).collect();
    let taken = run_items::table
        .filter(run_items::run_id.eq(&row.id))
        .filter(run_items::state.eq_any(states))
        .filter(run_items::response_text.is_not_null())
        .select((
            run_items::run_id,
            run_items::sequence,
            run_items::state,
            run_items::finished_at,
            run_items::extracted_answer,
            run_items::extraction_tier,
            run_items::judge,
            run_items::judge_rationale,
            run_items::judged_at,
            run_items::error_kind,
            run_items::error_message,
        ));
    on_backend!(conn, |c| diesel::insert_into(rejudge_previous_items::table)
        .values(taken)
        .into_columns((
            rejudge_previous_items::run_id,
            rejudge_previous_items::sequence,
            rejudge_previous_items::state,
            rejudge_previous_items::finished_at,
            rejudge_previous_items::extracted_answer,
            rejudge_previous_items::extraction_tier,
            rejudge_previous_items::judge,
            rejudge_previous_items::judge_rationale,
            rejudge_previous_items::judged_at,
            rejudge_previous_items::error_kind,
            rejudge_previous_items::error_message,
        ))
        .execute(c))?;
    Ok(())
}

/// Forgets what a re-judging of `run_id` replaced: it finished, and its verdicts hold.
pub(super) fn forget_judging_before(
    conn: &mut DbConnection,
    run_id: &str,
) -> Result<(), StoreError> {
    diesel::delete(rejudge_previous_items::table.filter(rejudge_previous_items::run_id.eq(run_id)))
        .execute(conn)?;
    diesel::delete(rejudge_previous_runs::table.find(run_id)).execute(conn)?;
    Ok(())
}

/// How many kept items move from one state (where they are now) to another (where they are
/// put back).
#[derive(diesel::QueryableByName)]
struct KeptMove {
    #[diesel(sql_type = diesel::sql_types::Text)]
    now_state: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    kept_state: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// The moves of [`KeptMove`], for the run `{run}`.
const KEPT_MOVES: &str = "SELECT r.state AS now_state, p.state AS kept_state, COUNT(*) AS n \
     FROM run_items r JOIN rejudge_previous_items p \
     ON p.run_id = r.run_id AND p.sequence = r.sequence \
     WHERE p.run_id = {run} GROUP BY r.state, p.state";

/// Puts the kept items of the run `{run}` back as they were, at `{at}`, claims cleared.
const PUT_BACK: &str = "UPDATE run_items SET state = p.state, finished_at = p.finished_at, \
     extracted_answer = p.extracted_answer, extraction_tier = p.extraction_tier, \
     judge = p.judge, judge_rationale = p.judge_rationale, judged_at = p.judged_at, \
     error_kind = p.error_kind, error_message = p.error_message, lease_owner = NULL, \
     lease_expires_at = NULL, updated_at = {at} \
     FROM rejudge_previous_items AS p \
     WHERE run_items.run_id = p.run_id AND run_items.sequence = p.sequence \
     AND p.run_id = {run}";

/// Puts a run whose re-judging was canceled or failed (or stopped by a budget, should one stop
/// it; `why` says which) back as it was before that re-judging: every item it took holds its
/// earlier verdict (or ending) again, claims cleared (a judge's late verdict is then dropped),
/// the run its earlier judge, fingerprint, ending and judging round (`rejudge_count`, which
/// counts re-judgings started, stays); the re-judging's own verdicts stay in the items'
/// history, marked undone; what its LLM judge spent stays in the run's totals (it was paid). Returns whether
/// there was a re-judging to undo (a run re-judged before what it replaced was kept ends as a
/// canceled run does).
pub(super) fn undo_rejudge(
    conn: &mut DbConnection,
    row: &super::RunRow,
    why: &str,
    at: Timestamp,
) -> Result<bool, StoreError> {
    type KeptRun = (
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
        (bool, i32),
    );
    let kept: Option<KeptRun> = rejudge_previous_runs::table
        .find(&row.id)
        .select((
            rejudge_previous_runs::settings,
            rejudge_previous_runs::fingerprint,
            rejudge_previous_runs::status,
            rejudge_previous_runs::error_kind,
            rejudge_previous_runs::error_message,
            rejudge_previous_runs::cancel_requested_at,
            rejudge_previous_runs::finished_at,
            (
                rejudge_previous_runs::rejudging,
                rejudge_previous_runs::judging_round,
            ),
        ))
        .first(conn)
        .optional()?;
    let Some((
        settings,
        fingerprint,
        status,
        error_kind,
        error_message,
        cancel_requested_at,
        finished_at,
        (rejudging, judging_round),
    )) = kept
    else {
        return Ok(false);
    };
    let run_id = RunId::parse(&row.id).map_err(StoreError::corrupt)?;
    let previous: RunStatus = status.parse().map_err(StoreError::corrupt)?;
    // Two statements whatever the run's size (a statement per item took seconds on a large
    // run, holding the run's row): the counters move by the kept items' moves, then the items
    // are put back.
    let placeholders = |sql: &str, postgres: bool| {
        let (run, at) = if postgres { ("$1", "$2") } else { ("?1", "?2") };
        sql.replace("{run}", run).replace("{at}", at)
    };
    let postgres = matches!(conn, DbConnection::Postgres(_));
    let moves: Vec<KeptMove> = on_backend!(conn, |c| diesel::sql_query(placeholders(
        KEPT_MOVES, postgres
    ))
    .bind::<diesel::sql_types::Text, _>(&row.id)
    .load(c))?;
    let mut counts = row.counts()?;
    for kept in moves {
        let from: ItemState = kept.now_state.parse().map_err(StoreError::corrupt)?;
        let to: ItemState = kept.kept_state.parse().map_err(StoreError::corrupt)?;
        let n = u64::try_from(kept.n).map_err(StoreError::corrupt)?;
        counts = counts
            .moved(from, to, n)
            .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: {from} counter")))?;
    }
    on_backend!(conn, |c| diesel::sql_query(placeholders(
        PUT_BACK, postgres
    ))
    .bind::<diesel::sql_types::Text, _>(&row.id)
    .bind::<diesel::sql_types::Timestamp, _>(at.naive_utc())
    .execute(c))?;
    // This re-judging's verdicts (its round is its own: `rejudge_count` only goes up).
    let round = row.judging_round;
    diesel::update(
        item_judgments::table
            .filter(item_judgments::run_id.eq(&row.id))
            .filter(item_judgments::rejudge_round.eq(round)),
    )
    .set(item_judgments::round_undone.eq(true))
    .execute(conn)?;
    let before: JudgeSettings = serde_json::from_str::<RunSettings>(&settings)
        .map_err(StoreError::corrupt)?
        .judge
        .unwrap_or(JudgeSettings::Choice);
    diesel::update(runs::table.find(&row.id))
        .set((
            runs::settings.eq(settings),
            runs::fingerprint.eq(fingerprint),
            runs::judging_round.eq(judging_round),
            runs::rejudging.eq(rejudging),
            runs::error_kind.eq(error_kind),
            runs::error_message.eq(error_message),
            runs::cancel_requested_at.eq(cancel_requested_at),
        ))
        .execute(conn)?;
    forget_judging_before(conn, &row.id)?;
    // Its items are back as they were, finished when they were: no item is announced as
    // finishing now (the status and the progress are).
    save_counts_recounting_answers(conn, &run_id, &counts, at)?;
    let row = load_row(conn, &run_id, false)?;
    if row.status()? == RunStatus::Pending {
        // Canceled before the engine took it up: it passes through `running`, as a run ends.
        change_status(conn, &row, RunStatus::Running, at, None)?;
    }
    // A warning: what was asked for did not happen (a follower of the re-judging hears of it).
    logs::append(
        conn,
        &run_id,
        None,
        LogLevel::Warn,
        &format!(
            "re-judging {round} {why} before it finished: the run is back to the verdicts of {} \
             (those re-judging {round} gave stay in the items' history, marked undone)",
            before.label()
        ),
        at,
    )?;
    let row = load_row(conn, &run_id, false)?;
    change_status(
        conn,
        &row,
        previous,
        at,
        Some(&format!("re-judging {round} undone")),
    )?;
    // It ended when it ended before (the status change stamped now).
    diesel::update(runs::table.find(&row.id))
        .set(runs::finished_at.eq(finished_at))
        .execute(conn)?;
    Ok(true)
}
