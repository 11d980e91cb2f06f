//! Run-level control: cancel, retry, fail, and the lease housekeeping of workers.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    BROWSER_HARNESS_PROVIDER, BUDGET_EXHAUSTED, Fingerprint, ItemState, Run, RunId, RunStatus,
    Timestamp, failure_text,
};

use super::{
    RunRow,
    attempts::{self, AttemptOutcome},
    bookkeeping::{change_status, finish_if_done, save_counts, save_counts_recounting_answers},
    claims::RunGeneration,
    item_keys,
    latency::{forget_latencies, with_latency},
    load_row,
};
use crate::{
    connection::DbConnection,
    database::Database,
    error::StoreError,
    events,
    logs::{self, LogLevel, PendingLog},
    schema::{run_items, runs},
};

/// A run [`Database::fail_run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFailed {
    /// The run, failed.
    pub run: Run,
    /// Its items that ended `failed` with it (those not finished yet).
    pub items_failed: u64,
}

/// Which items a retry re-dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryScope {
    /// Items that ended `failed` or `canceled`.
    Faulted,
    /// Every item, judged ones included.
    All,
}

/// The items `worker` holds a claim on. Only items in flight carry one, always with a lease
/// (claims set both, releases clear both); naming their states and the lease lets the partial
/// `(state, lease_expires_at)` index find them instead of reading every item (a macro, so
/// that the plan test explains the very condition).
/// When the claims a restarted worker's previous run left are declared to have run out: the
/// Unix epoch, before any claim's time ([`Database::expire_leases`]).
pub(super) fn declared_dead() -> NaiveDateTime {
    chrono::DateTime::UNIX_EPOCH.naive_utc()
}

macro_rules! claimed_by {
    ($worker:expr) => {
        run_items::state
            .eq_any([ItemState::Running.as_str(), ItemState::Awaiting.as_str()])
            .and(run_items::lease_expires_at.is_not_null())
            .and(run_items::lease_owner.eq($worker))
    };
}
pub(super) use claimed_by;

impl Database {
    /// Asks for a run to stop: sets `cancelRequestedAt` at once, cancels its unstarted items,
    /// and ends the run `canceled` right away when nothing is in flight. Workers abort their
    /// in-flight items and call [`Database::cancel_in_flight`]. A terminal run is a conflict.
    /// `requested_by` (a token's name) is recorded in the run log.
    pub fn request_cancel(
        &self,
        run_id: &RunId,
        requested_by: Option<&str>,
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            let status = row.status()?;
            if status.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} is already {status}; only a pending or running run can be canceled"
                )));
            }
            stop_in(conn, &row, None, requested_by, at)?;
            // The run as `GET` shows it: a run still stopping has the latency of its answers
            // so far (the answer to a cancel said none).
            let run = load_row(conn, run_id, false)?.into_domain()?;
            with_latency(conn, run)
        })
    }

    /// Stops a run whose budget is spent, as a cancel that says why (its failure is
    /// [`BUDGET_EXHAUSTED`] with `reason`): unstarted items are canceled at once, items in
    /// flight finish, and the run ends `canceled` when none is left. `None` when the run had
    /// ended or was being stopped already.
    pub fn stop_for_budget(
        &self,
        run_id: &RunId,
        reason: &str,
        at: Timestamp,
    ) -> Result<Option<Run>, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            if row.status()?.is_terminal() || row.cancel_requested_at.is_some() {
                return Ok(None);
            }
            stop_in(conn, &row, Some(reason), None, at)?;
            load_row(conn, run_id, false)?.into_domain().map(Some)
        })
    }

    /// Cancels the in-flight (`running` or `awaiting`) items of a run being canceled that
    /// `worker` holds, or whose claim expired; ends the run when nothing is left. Returns the
    /// run as it is afterwards.
    pub fn cancel_in_flight(
        &self,
        run_id: &RunId,
        worker: &str,
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            if row.cancel_requested_at.is_some() && !row.status()?.is_terminal() {
                cancel_items(
                    conn,
                    &row,
                    &[
                        (ItemState::Running, Whose::HeldBy(worker)),
                        (ItemState::Awaiting, Whose::HeldBy(worker)),
                    ],
                    at,
                )?;
                finish_if_done(conn, run_id, at)?;
            }
            load_row(conn, run_id, false)?.into_domain()
        })
    }

    /// Re-dispatches a terminal run's faulted items (or all of them) as a new attempt of the
    /// same run: the items go back to `pending`, earlier attempts and verdicts stay readable.
    /// A run that is not terminal, or has nothing in scope, is a conflict. `reconfigured` is
    /// the fingerprint to record instead of the run's, with what changed, when the caller goes
    /// on despite a changed configuration. `requested_by` (a token's name) is recorded in the
    /// run log.
    pub fn retry_run(
        &self,
        run_id: &RunId,
        scope: RetryScope,
        reconfigured: Option<(&Fingerprint, &str)>,
        requested_by: Option<&str>,
        at: Timestamp,
    ) -> Result<Run, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            let status = row.status()?;
            if !status.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} is {status}; only a finished run can be retried"
                )));
            }
            // Its answers came from a browser: no provider here can produce new ones.
            if row.provider_name == BROWSER_HARNESS_PROVIDER {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} was imported from Browser Harness captures; to try its items \
                     again, play a new pack and import its captures"
                )));
            }
            let states: &[ItemState] = match scope {
                RetryScope::Faulted => &[ItemState::Failed, ItemState::Canceled],
                RetryScope::All => &[
                    ItemState::Correct,
                    ItemState::Incorrect,
                    ItemState::Failed,
                    ItemState::Canceled,
                ],
            };
            let mut counts = row.counts()?;
            let mut reopened = 0u64;
            let now = at.naive_utc();
            for &state in states {
                let moved = diesel::update(
                    run_items::table
                        .filter(run_items::run_id.eq(run_id.as_str()))
                        .filter(run_items::state.eq(state.as_str())),
                )
                .set((
                    run_items::state.eq(ItemState::Pending.as_str()),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::lease_expires_at.eq(None::<NaiveDateTime>),
                    run_items::finished_at.eq(None::<NaiveDateTime>),
                    run_items::extracted_answer.eq(None::<String>),
                    run_items::extraction_tier.eq(None::<String>),
                    run_items::judge.eq(None::<String>),
                    run_items::judge_rationale.eq(None::<String>),
                    run_items::judged_at.eq(None::<NaiveDateTime>),
                    // The last attempt's answer and error stay in its attempt row and verdicts.
                    run_items::response_text.eq(None::<String>),
                    run_items::reasoning_text.eq(None::<String>),
                    run_items::cut_off.eq(None::<String>),
                    run_items::error_kind.eq(None::<String>),
                    run_items::error_message.eq(None::<String>),
                    run_items::first_token_at.eq(None::<NaiveDateTime>),
                    run_items::answered_at.eq(None::<NaiveDateTime>),
                    run_items::started_at.eq(None::<NaiveDateTime>),
                    run_items::prompt_tokens.eq(None::<i32>),
                    run_items::completion_tokens.eq(None::<i32>),
                    run_items::reasoning_tokens.eq(None::<i32>),
                    run_items::cost_usd.eq(None::<f64>),
                    run_items::queued_at.eq(Some(now)),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)? as u64;
                counts = counts
                    .moved(state, ItemState::Pending, moved)
                    .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: {state} counter")))?;
                reopened += moved;
            }
            if reopened == 0 {
                return Err(StoreError::Conflict(format!(
                    "run {run_id} has no {} item to retry",
                    match scope {
                        RetryScope::Faulted => "failed or canceled",
                        RetryScope::All => "finished",
                    }
                )));
            }
            // The reopened items' answers are cleared: the kept latencies no longer hold.
            forget_latencies(conn, run_id)?;
            // It answers again: how it ends is its own, whatever it is re-judged by later.
            super::rejudge::forget_answering_end(conn, run_id)?;
            super::rejudge::forget_judging_before(conn, run_id.as_str())?;
            diesel::update(runs::table.find(run_id.as_str()))
                .set((
                    runs::retry_count.eq(runs::retry_count + 1),
                    runs::rejudging.eq(false),
                    // The figures kept when it finished are no longer its own: the archive
                    // shows none until it finishes again.
                    runs::latency.eq(None::<String>),
                    runs::cancel_requested_at.eq(None::<NaiveDateTime>),
                    runs::error_kind.eq(None::<String>),
                    runs::error_message.eq(None::<String>),
                ))
                .execute(conn)?;
            if let Some((fingerprint, changes)) = reconfigured {
                let json = serde_json::to_string(fingerprint).map_err(StoreError::corrupt)?;
                diesel::update(runs::table.find(run_id.as_str()))
                    .set(runs::fingerprint.eq(Some(json)))
                    .execute(conn)?;
                logs::append(
                    conn,
                    run_id,
                    None,
                    LogLevel::Warn,
                    &format!("retried despite a changed configuration: {changes}"),
                    at,
                )?;
            }
            save_counts_recounting_answers(conn, run_id, &counts, at)?;
            let why = format!(
                "retry of {reopened} {} item(s){}",
                if scope == RetryScope::All {
                    "finished"
                } else {
                    "faulted"
                },
                logs::requested_by(requested_by)
            );
            // As it is now: the status change writes the row's kept latency back.
            let row = load_row(conn, run_id, false)?;
            change_status(conn, &row, RunStatus::Pending, at, Some(&why))?;
            load_row(conn, run_id, false)?.into_domain()
        })
    }

    /// Ends a run that cannot proceed at all (e.g. its provider rejects the credentials): every
    /// item not yet terminal ends `failed` with the reason, and so does the run. Returns `None`
    /// when the run had ended already (nothing changed: many items may report one failure), or
    /// is no longer in `generation` (retried or re-judged since the failure was seen).
    pub fn fail_run(
        &self,
        run_id: &RunId,
        generation: RunGeneration,
        kind: &str,
        message: &str,
        at: Timestamp,
    ) -> Result<Option<RunFailed>, StoreError> {
        self.write(|conn| {
            let row = load_row(conn, run_id, true)?;
            let status = row.status()?;
            // Retried or re-judged since the failure was seen: that run is not this one.
            let stale = (generation.retries as i32, generation.rejudges as i32) != row.generation();
            if status.is_terminal() || stale {
                return Ok(None);
            }
            // A re-judging that cannot go on (its LLM judge refused) leaves the run as it was
            // before it, its answers put back as they were: no item ends failed.
            if row.rejudging {
                let why = format!("failed ({})", failure_text(kind, message));
                if super::rejudge::undo_rejudge(conn, &row, &why, at)? {
                    return Ok(Some(RunFailed {
                        run: load_row(conn, run_id, false)?.into_domain()?,
                        items_failed: 0,
                    }));
                }
            }
            let mut counts = row.counts()?;
            let mut items_failed = 0;
            let now = at.naive_utc();
            for state in [ItemState::Pending, ItemState::Running, ItemState::Awaiting] {
                if state == ItemState::Running {
                    let open: Vec<(i32, Option<NaiveDateTime>)> = run_items::table
                        .filter(run_items::run_id.eq(run_id.as_str()))
                        .filter(run_items::state.eq(state.as_str()))
                        .select((run_items::sequence, run_items::lease_expires_at))
                        .load(conn)?;
                    // An attempt of a worker gone (a crashed server's, its claims declared dead
                    // by its restart) was lost, not refused for this run's reason: it may well
                    // have been answered, and paid for.
                    let (lost, refused): (Vec<_>, Vec<_>) = open
                        .into_iter()
                        .partition(|(_, lease)| *lease == Some(declared_dead()));
                    let sequences = |items: Vec<(i32, Option<NaiveDateTime>)>| -> Vec<i32> {
                        items.into_iter().map(|(sequence, _)| sequence).collect()
                    };
                    attempts::end_in_flight(
                        conn,
                        run_id,
                        &sequences(lost),
                        AttemptOutcome::Lost,
                        None,
                        at,
                    )?;
                    attempts::end_in_flight(
                        conn,
                        run_id,
                        &sequences(refused),
                        AttemptOutcome::Error,
                        Some((kind, message)),
                        at,
                    )?;
                }
                let moved = diesel::update(
                    run_items::table
                        .filter(run_items::run_id.eq(run_id.as_str()))
                        .filter(run_items::state.eq(state.as_str())),
                )
                .set((
                    run_items::state.eq(ItemState::Failed.as_str()),
                    run_items::error_kind.eq(Some(kind)),
                    run_items::error_message.eq(Some(message)),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::finished_at.eq(Some(now)),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)? as u64;
                items_failed += moved;
                counts = counts
                    .moved(state, ItemState::Failed, moved)
                    .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: {state} counter")))?;
            }
            diesel::update(runs::table.find(run_id.as_str()))
                .set((
                    runs::error_kind.eq(Some(kind)),
                    runs::error_message.eq(Some(message)),
                ))
                .execute(conn)?;
            events::latest_finished(conn, run_id, at)?;
            save_counts(conn, run_id, &counts, at)?;
            if status == RunStatus::Pending {
                change_status(conn, &row, RunStatus::Running, at, None)?;
            }
            let row = load_row(conn, run_id, false)?;
            let why = failure_text(kind, message);
            change_status(conn, &row, RunStatus::Failed, at, Some(&why))?;
            Ok(Some(RunFailed {
                run: load_row(conn, run_id, false)?.into_domain()?,
                items_failed,
            }))
        })
    }

    /// Extends until `until` the claims `worker` holds on the given items (by run, the
    /// sequences it is working on). Only items named are renewed: a claim its worker forgot
    /// about runs out and the item is taken over. Returns how many were renewed.
    pub fn renew_leases(
        &self,
        worker: &str,
        items: &[(RunId, Vec<u32>)],
        until: Timestamp,
    ) -> Result<usize, StoreError> {
        self.write(|conn| {
            let mut renewed = 0;
            for (run_id, sequences) in items {
                let sequences: Vec<i32> = sequences.iter().map(|&s| s as i32).collect();
                for chunk in sequences.chunks(1_000) {
                    renewed += diesel::update(
                        run_items::table
                            .filter(item_keys::items_of_run(run_id, chunk))
                            .filter(run_items::lease_owner.eq(worker)),
                    )
                    .set(run_items::lease_expires_at.eq(Some(until.naive_utc())))
                    .execute(conn)?;
                }
            }
            Ok(renewed)
        })
    }

    /// Declares every claim `worker` holds expired: a worker restarting under the same name
    /// knows its previous incarnation is gone, and need not wait for the leases to run out.
    /// The claims are backdated to the Unix epoch, which tells them apart from a live
    /// worker's claims that merely lapsed (an outage): those are still its own to give back.
    pub fn expire_leases(&self, worker: &str, _at: Timestamp) -> Result<usize, StoreError> {
        self.write(|conn| {
            Ok(diesel::update(run_items::table.filter(claimed_by!(worker)))
                .set(run_items::lease_expires_at.eq(Some(declared_dead())))
                .execute(conn)?)
        })
    }

    /// Appends a line to a run's log in a transaction of its own: what a server has to say
    /// about a run it does not work on (see the engine's runs left to others).
    pub fn note_run(
        &self,
        run_id: &RunId,
        level: LogLevel,
        message: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write(|conn| logs::append(conn, run_id, None, level, message, at))
    }

    /// Runs that are `pending` or `running` and not being canceled: the work to schedule.
    pub fn runs_to_schedule(&self) -> Result<Vec<Run>, StoreError> {
        self.runs_in_flight(false)
    }

    /// Runs that are `pending` or `running` with a cancel requested: the work to stop.
    pub fn runs_being_canceled(&self) -> Result<Vec<Run>, StoreError> {
        self.runs_in_flight(true)
    }

    fn runs_in_flight(&self, canceling: bool) -> Result<Vec<Run>, StoreError> {
        self.read(|conn| {
            let query = runs::table
                .filter(
                    runs::status.eq_any([RunStatus::Pending.as_str(), RunStatus::Running.as_str()]),
                )
                .order((runs::created_at.asc(), runs::id.asc()))
                .select(RunRow::as_select())
                .into_boxed();
            let query = if canceling {
                query.filter(runs::cancel_requested_at.is_not_null())
            } else {
                query.filter(runs::cancel_requested_at.is_null())
            };
            query
                .load(conn)?
                .into_iter()
                .map(RunRow::into_domain)
                .collect()
        })
    }
}

/// Sets a run's cancel request (with the budget's `reason`, if that is why), cancels its
/// unstarted items, and ends it when nothing is in flight.
fn stop_in(
    conn: &mut DbConnection,
    row: &RunRow,
    budget_spent: Option<&str>,
    requested_by: Option<&str>,
    at: Timestamp,
) -> Result<(), StoreError> {
    let run_id = RunId::parse(&row.id).map_err(StoreError::corrupt)?;
    if row.cancel_requested_at.is_none() {
        let now = at.naive_utc();
        diesel::update(runs::table.find(run_id.as_str()))
            .set((
                runs::cancel_requested_at.eq(Some(now)),
                runs::error_kind.eq(budget_spent.map(|_| BUDGET_EXHAUSTED)),
                runs::error_message.eq(budget_spent),
                runs::updated_at.eq(now),
            ))
            .execute(conn)?;
        let message = match budget_spent {
            Some(reason) => {
                format!("stopping: {reason}; no new item is sent, items in flight finish")
            }
            None => format!("cancel requested{}", logs::requested_by(requested_by)),
        };
        logs::append(conn, &run_id, None, LogLevel::Info, &message, at)?;
        events::status(conn, &run_id, Some(row.status()?), at)?;
    } else if budget_spent.is_none() && row.error_kind.as_deref() == Some(BUDGET_EXHAUSTED) {
        // A cancel asked of a run stopping for its budget: the budget let the items in flight
        // finish; the person asking wants them stopped too. The run ends as a cancel.
        let now = at.naive_utc();
        diesel::update(runs::table.find(run_id.as_str()))
            .set((
                runs::error_kind.eq(None::<String>),
                runs::error_message.eq(None::<String>),
                runs::updated_at.eq(now),
            ))
            .execute(conn)?;
        let message = format!(
            "cancel requested{} while stopping for the budget: items in flight are stopped too",
            logs::requested_by(requested_by)
        );
        logs::append(conn, &run_id, None, LogLevel::Info, &message, at)?;
        events::status(conn, &run_id, Some(row.status()?), at)?;
    }
    cancel_items(
        conn,
        row,
        &[
            (ItemState::Pending, Whose::All),
            // Answers a re-judging queued and no judge took yet are not in flight anywhere.
            (ItemState::Awaiting, Whose::Unclaimed),
        ],
        at,
    )?;
    finish_if_done(conn, &run_id, at)?;
    Ok(())
}

/// Which items of a state [`cancel_items`] takes.
#[derive(Clone, Copy)]
pub(super) enum Whose<'a> {
    /// Every one.
    All,
    /// Those this worker holds, and those whose claim expired or was released.
    HeldBy(&'a str),
    /// Those never claimed since they were queued (answers queued by a re-judging).
    Unclaimed,
    /// Those of these sequences this worker holds (a worker giving them back).
    Among(&'a str, &'a [i32]),
}

/// Cancels a run's items of each state in `selection` (those its [`Whose`] says), closing
/// their attempts and logging each; announces the change once (the latest items and the
/// counters), or nothing when no item was there to cancel.
pub(super) fn cancel_items(
    conn: &mut DbConnection,
    row: &RunRow,
    selection: &[(ItemState, Whose<'_>)],
    at: Timestamp,
) -> Result<(), StoreError> {
    let run_id = RunId::parse(&row.id).map_err(StoreError::corrupt)?;
    let now = at.naive_utc();
    let mut counts = load_row(conn, &run_id, false)?.counts()?;
    let mut log = Vec::new();
    let mut canceled = 0;
    for &(state, whose) in selection {
        let mut query = run_items::table
            .filter(run_items::run_id.eq(run_id.as_str()))
            .filter(run_items::state.eq(state.as_str()))
            .select(run_items::sequence)
            .into_boxed();
        match whose {
            Whose::All => {}
            Whose::HeldBy(worker) => {
                query = query.filter(
                    run_items::lease_owner
                        .eq(worker)
                        .or(run_items::lease_expires_at.lt(now))
                        .or(run_items::lease_owner.is_null()),
                );
            }
            Whose::Unclaimed => {
                query = query
                    .filter(run_items::lease_owner.is_null())
                    .filter(run_items::lease_expires_at.is_null());
            }
            Whose::Among(worker, sequences) => {
                query = query
                    .filter(run_items::lease_owner.eq(worker))
                    .filter(run_items::sequence.eq_any(sequences));
            }
        }
        let sequences: Vec<i32> = query.load(conn)?;
        if sequences.is_empty() {
            continue;
        }
        if state == ItemState::Running {
            // The attempts in flight end here (an awaiting item's attempt already ended answered).
            attempts::end_in_flight(
                conn,
                &run_id,
                &sequences,
                AttemptOutcome::Canceled,
                None,
                at,
            )?;
        }
        for chunk in sequences.chunks(1_000) {
            diesel::update(run_items::table.filter(item_keys::items_of_run(&run_id, chunk)))
                .set((
                    run_items::state.eq(ItemState::Canceled.as_str()),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::finished_at.eq(Some(now)),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        if state != ItemState::Pending {
            log.extend(sequences.iter().map(|&s| PendingLog {
                sequence: Some(s as u32),
                level: LogLevel::Info,
                message: format!("canceled while {state}"),
            }));
        }
        counts = counts
            .moved(state, ItemState::Canceled, sequences.len() as u64)
            .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: {state} counter")))?;
        canceled += sequences.len();
    }
    if canceled == 0 {
        return Ok(());
    }
    if !log.is_empty() {
        logs::append_many(conn, &run_id, &log, at)?;
    }
    events::latest_finished(conn, &run_id, at)?;
    save_counts(conn, &run_id, &counts, at)
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

    /// A restarting worker expires its claims through the `(state, lease_expires_at)` index: on
    /// never-analyzed tables of two 10,000-item runs with 532 items in flight, it reads those,
    /// not the 20,000 items.
    #[test]
    fn expiring_a_workers_claims_reads_only_items_in_flight_without_statistics() {
        let Some((_db, _, mut conn)) = two_large_runs() else {
            return;
        };
        let now = chrono::Utc::now();
        diesel::sql_query(
            "UPDATE run_items SET state = 'running', lease_expires_at = now() + interval '1 hour', \
             lease_owner = CASE WHEN sequence <= 200 THEN 'other' ELSE 'restarting' END \
             WHERE sequence <= 266",
        )
        .execute(&mut conn)
        .unwrap();
        let plan = explain(
            &mut conn,
            diesel::update(run_items::table.filter(claimed_by!("restarting")))
                .set(run_items::lease_expires_at.eq(Some(now.naive_utc()))),
        );
        plan.assert_reads(
            "the restart's update",
            "run_items",
            "run_items_by_lease",
            532,
        );
        assert_eq!(plan.scans_of("run_items").len(), 1, "{:#}", plan.plan);
    }
}
