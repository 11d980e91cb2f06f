//! Giving claims back: a worker that stops on purpose (a drain on shutdown) hands the items it
//! still holds to whoever claims next, at once and without a resume — it is not gone, it said
//! goodbye.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{ItemState, RunId, Timestamp};

use super::{
    attempts::{self, AttemptOutcome},
    bookkeeping::{finish_if_done, save_counts},
    control::{Whose, cancel_items, claimed_by, declared_dead},
    item_keys, load_row,
};
use crate::{
    connection::DbConnection,
    database::Database,
    error::StoreError,
    events,
    logs::{self, LogLevel, PendingLog},
    schema::run_items,
};

impl Database {
    /// Gives back the claims `worker` holds on some items of a run (`sequences`), in one
    /// transaction: see [`Database::release_claims`]. Items it no longer holds (finished, or
    /// taken over by another worker) are left alone. Returns how many items it gave back.
    pub fn release_items(
        &self,
        worker: &str,
        run_id: &RunId,
        sequences: &[u32],
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let sequences: Vec<i32> = sequences.iter().map(|&s| s as i32).collect();
        self.write(|conn| release_in(conn, worker, run_id, Some(&sequences), at))
    }

    /// Gives back every claim `worker` holds, one transaction per run, for a worker that stops
    /// (call it once its outcomes are stored). An item in flight goes back to `pending` (its
    /// attempt ends `released`; the run's counters move from running to pending), an answer
    /// waiting for its judge stays `awaiting` with no claim at all; both are claimable at once
    /// by any worker, and no resume is counted: nobody's claim expired. The run's log says how
    /// many items the worker gave back, each item's log which attempt. In a run being canceled
    /// (or stopped by its budget), where nothing more is claimed, the items are canceled
    /// instead, as the worker would have canceled them. Returns how many items it gave back.
    pub fn release_claims(&self, worker: &str, at: Timestamp) -> Result<usize, StoreError> {
        let runs: Vec<String> = self.read(|conn| {
            Ok(run_items::table
                .filter(claimed_by!(worker))
                .filter(run_items::lease_expires_at.ne(declared_dead()))
                .select(run_items::run_id)
                .distinct()
                .load(conn)?)
        })?;
        let mut released = 0;
        for run in runs {
            let run_id = RunId::parse(&run).map_err(StoreError::corrupt)?;
            released += self.write(|conn| release_in(conn, worker, &run_id, None, at))?;
        }
        Ok(released)
    }
}

/// Gives back what `worker` holds of the run (of `only`, when given).
fn release_in(
    conn: &mut DbConnection,
    worker: &str,
    run_id: &RunId,
    only: Option<&[i32]>,
    at: Timestamp,
) -> Result<usize, StoreError> {
    // The run row first, as claims and outcomes lock it.
    let row = load_row(conn, run_id, true)?;
    if row.status()?.is_terminal() || only.is_some_and(<[i32]>::is_empty) {
        return Ok(0);
    }
    let mut query = run_items::table
        .filter(run_items::run_id.eq(run_id.as_str()))
        .filter(claimed_by!(worker))
        // A claim a previous run of this server left (it crashed; its claims declared dead at
        // this one's start) is not given back: whoever takes the item over records the attempt
        // lost and counts the resume. This run's own claims are, even lapsed in an outage.
        .filter(run_items::lease_expires_at.ne(declared_dead()))
        .order(run_items::sequence.asc())
        .select((
            run_items::sequence,
            run_items::state,
            run_items::attempt_count,
        ))
        .into_boxed();
    if let Some(sequences) = only {
        query = query.filter(item_keys::items_of_run(run_id, sequences));
    }
    let held: Vec<(i32, String, i32)> = query.load(conn)?;
    if held.is_empty() {
        return Ok(0);
    }
    if row.cancel_requested_at.is_some() {
        // Nothing more is claimed in this run: these items end canceled (only these: after a
        // budget stop, the worker's other items in flight may still finish).
        let sequences: Vec<i32> = held.iter().map(|(sequence, ..)| *sequence).collect();
        cancel_items(
            conn,
            &row,
            &[
                (ItemState::Running, Whose::Among(worker, &sequences)),
                (ItemState::Awaiting, Whose::Among(worker, &sequences)),
            ],
            at,
        )?;
        finish_if_done(conn, run_id, at)?;
        return Ok(held.len());
    }
    let now = at.naive_utc();
    let running: Vec<i32> = held
        .iter()
        .filter(|(_, state, _)| state == ItemState::Running.as_str())
        .map(|(sequence, ..)| *sequence)
        .collect();
    let awaiting: Vec<i32> = held
        .iter()
        .filter(|(_, state, _)| state == ItemState::Awaiting.as_str())
        .map(|(sequence, ..)| *sequence)
        .collect();
    let mut log = Vec::with_capacity(held.len() + 1);
    let mut never_sent = Vec::new();
    if !running.is_empty() {
        // Before the rows change: the attempts read their worker and start from them.
        never_sent =
            attempts::end_in_flight(conn, run_id, &running, AttemptOutcome::Released, None, at)?;
        for chunk in running.chunks(1_000) {
            diesel::update(run_items::table.filter(item_keys::items_of_run(run_id, chunk)))
                .set((
                    run_items::state.eq(ItemState::Pending.as_str()),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::lease_expires_at.eq(None::<NaiveDateTime>),
                    // No attempt of it is under way any more; the next claim starts one.
                    run_items::started_at.eq(None::<NaiveDateTime>),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        let counts = row
            .counts()?
            .moved(ItemState::Running, ItemState::Pending, running.len() as u64)
            .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: running counter too low")))?;
        save_counts(conn, run_id, &counts, at)?;
        // The board stops showing them in flight.
        events::items(conn, run_id, &running, &[], at)?;
    }
    for chunk in awaiting.chunks(1_000) {
        // Unclaimed, as an answer a re-judging queued: the next claim judges it, and counts no
        // resume (only an expired claim can mean a gone worker).
        diesel::update(run_items::table.filter(item_keys::items_of_run(run_id, chunk)))
            .set((
                run_items::lease_owner.eq(None::<String>),
                run_items::lease_expires_at.eq(None::<NaiveDateTime>),
                run_items::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    log.push(PendingLog {
        sequence: None,
        level: LogLevel::Info,
        message: format!(
            "worker `{worker}` stopped: {} item(s) released for another worker",
            held.len()
        ),
    });
    for (sequence, state, attempt) in &held {
        let message = if never_sent.contains(sequence) {
            format!("given back unsent (worker `{worker}` stopped); the next claim sends it")
        } else if state == ItemState::Running.as_str() {
            format!(
                "attempt {attempt} released (worker `{worker}` stopped); the next claim tries again"
            )
        } else {
            format!(
                "the answer of attempt {attempt} released unjudged (worker `{worker}` stopped); \
                 the next claim judges it"
            )
        };
        // The run's line above says it at `info`; an item's own line is its detail, at
        // `debug`: a stop at concurrency 48 wrote 49 lines at `info` per run, and a few
        // restarts buried everything else in the log's default view.
        log.push(PendingLog {
            sequence: Some(*sequence as u32),
            level: LogLevel::Debug,
            message,
        });
    }
    logs::append_many(conn, run_id, &log, at)?;
    Ok(held.len())
}
