//! Claiming items for execution. A claim is a lease: the item is `running`, owned by one
//! worker until `lease_expires_at`; a worker that stops renewing (crash, network partition) loses
//! its items to whoever claims after the lease ran out, and that counts as a resume.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::{
    pg::PgConnection,
    prelude::*,
    sql_types::{self, Array, Integer, Nullable, Text},
};
use evalboard_domain::{
    DatasetItem, ItemState, Run, RunId, RunStatus, Timestamp, pick_examples, render_prompt,
};

use super::{
    attempts::{self, AttemptOutcome},
    bookkeeping::{change_status, record_resume, save_counts},
    item_keys, load_row,
    store_prompt::StorePrompt,
};
use crate::{
    connection::{DbConnection, on_backend},
    database::Database,
    datasets::DatasetItemRow,
    error::StoreError,
    logs::{self, LogLevel, PendingLog},
    schema::{dataset_items, run_items},
};

/// Items taken over from workers whose leases ran out.
pub(crate) const CLAIMS_TAKEN_OVER: &str = "evalboard_claims_taken_over_total";

/// An item handed to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedItem {
    /// Its sequence in the run.
    pub sequence: u32,
    /// The attempt this claim starts (1 for the first).
    pub attempt: u32,
    /// The prompt to send, exactly as stored with the item.
    pub prompt: String,
    /// The dataset item (question, choices, key).
    pub item: DatasetItem,
    /// The answer already given, when the item was answered but its judge went away before a
    /// verdict, or a re-judging queued it: only judging is left to do.
    pub answer: Option<String>,
}

/// What a claim got.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The run as it is after the claim.
    pub run: Run,
    /// The claimed items, by sequence; empty when there was nothing to do.
    pub items: Vec<ClaimedItem>,
    /// How many of them were taken over from a worker that went away (its claim expired).
    pub taken_over: u32,
    /// The workers this claim found gone from the run (their claims expired): each is one
    /// resume of the run.
    pub gone_workers: Vec<GoneWorker>,
}

/// A worker a claim found gone from a run: all its claims there had expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneWorker {
    /// Its name (the replica's worker id).
    pub name: String,
    /// How many of the run's items it held, now taken over.
    pub items: usize,
}

/// Who claims, for how long, how many.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The worker (replica) that will own the leases.
    pub worker: &'a str,
    /// When the leases run out unless renewed.
    pub lease_until: Timestamp,
    /// At most this many items.
    pub max: u32,
    /// Now.
    pub at: Timestamp,
    /// The run's generation the claimer works for: when the run was retried or re-judged
    /// since, the claim takes nothing (the claimer's judge or state may be stale).
    pub generation: Option<RunGeneration>,
}

/// How many times a run was retried and re-judged: what a worker's view of the run (its judge,
/// its stop) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunGeneration {
    /// Retries.
    pub retries: u32,
    /// Re-judgings.
    pub rejudges: u32,
}

impl RunGeneration {
    /// The generation `run` is in.
    pub fn of(run: &Run) -> Self {
        Self {
            retries: run.retry_count,
            rejudges: run.rejudge_count,
        }
    }
}

impl Database {
    /// Claims up to `request.max` items of a run: first items whose lease ran out (their worker
    /// is gone: the run counts one resume per gone worker, once, however many claims take its
    /// items), then answers waiting for a verdict (their judge went away, or a re-judging
    /// queued them), then `pending` items in sequence order. Starts a
    /// pending run. Stores each item's prompt (rendered once, on its first claim) and opens an
    /// attempt per item. Claims nothing for a terminal run or one being canceled.
    pub fn claim_items(
        &self,
        run_id: &RunId,
        request: ClaimRequest<'_>,
    ) -> Result<Claim, StoreError> {
        let claim = self.write(|conn| claim_in(conn, run_id, request))?;
        if claim.taken_over > 0 {
            metrics::counter!(CLAIMS_TAKEN_OVER).increment(u64::from(claim.taken_over));
        }
        // Said once stored: the operator's sign that a server stopped without giving its items
        // back (killed, its machine gone, cut off from the database for a lease).
        for GoneWorker { name, items } in &claim.gone_workers {
            tracing::warn!(
                run = %run_id,
                gone = %name,
                items,
                "the claims of worker `{name}` expired (it stopped, or lost the database for \
                 longer than its claims last, without giving them back): \
                 its {items} item(s) of this run are taken over"
            );
        }
        Ok(claim)
    }
}

/// A run's items a claim may take, in sequence order (macros, so that the plan test explains
/// the very queries on a PostgreSQL connection).
macro_rules! claim_candidates {
    ($run_id:expr, $filter:expr, $limit:expr) => {
        run_items::table
            .filter(run_items::run_id.eq($run_id.as_str()))
            .filter($filter)
            .order(run_items::sequence.asc())
            .limit($limit)
            .select((run_items::sequence, run_items::attempt_count))
    };
}

/// Items in flight whose claim expired.
macro_rules! expired_leases {
    ($now:expr) => {
        run_items::state
            .eq(ItemState::Running.as_str())
            .and(run_items::lease_expires_at.lt($now))
    };
}

/// Answers waiting for a verdict that nobody is judging.
macro_rules! unjudged {
    ($now:expr) => {
        run_items::state.eq(ItemState::Awaiting.as_str()).and(
            run_items::lease_expires_at
                .lt($now)
                .or(run_items::lease_expires_at.is_null()),
        )
    };
}

/// The workers holding claims on a run's items in flight whose lease matches `$lease`.
macro_rules! claim_owners {
    ($run_id:expr, $lease:expr) => {
        run_items::table
            .filter(run_items::run_id.eq($run_id.as_str()))
            .filter(
                run_items::state
                    .eq_any([ItemState::Running.as_str(), ItemState::Awaiting.as_str()]),
            )
            .filter(run_items::lease_owner.is_not_null())
            .filter($lease)
            .select(run_items::lease_owner.assume_not_null())
            .distinct()
    };
}

/// Items never sent.
macro_rules! pending {
    () => {
        run_items::state.eq(ItemState::Pending.as_str())
    };
}

fn claim_in(
    conn: &mut DbConnection,
    run_id: &RunId,
    request: ClaimRequest<'_>,
) -> Result<Claim, StoreError> {
    let row = load_row(conn, run_id, true)?;
    let status = row.status()?;
    let stale = request
        .generation
        .is_some_and(|g| (g.retries as i32, g.rejudges as i32) != row.generation());
    if stale || status.is_terminal() || row.cancel_requested_at.is_some() || request.max == 0 {
        return Ok(Claim {
            run: row.into_domain()?,
            items: Vec::new(),
            taken_over: 0,
            gone_workers: Vec::new(),
        });
    }
    let now = request.at.naive_utc();
    let limit = i64::from(request.max);

    // `FOR UPDATE SKIP LOCKED` on PostgreSQL: rows another transaction is writing are not
    // waited for, they are simply not this claim's.
    macro_rules! candidates {
        ($filter:expr, $limit:expr) => {
            claim_candidates!(run_id, $filter, $limit)
        };
    }
    let expired = expired_leases!(now);
    let lost: Vec<SequenceAttempt> = match &mut *conn {
        DbConnection::Postgres(pg) => candidates!(expired, limit)
            .for_update()
            .skip_locked()
            .load(pg)?,
        other => candidates!(expired, limit).load(other)?,
    };
    // Answers that only need a verdict: their judge went away (claim expired), or a
    // re-judging queued them (never claimed since).
    let unjudged_filter = unjudged!(now);
    let room = limit - lost.len() as i64;
    // The counters say whether any answer waits for a verdict (most runs never have one): no
    // need to look for them otherwise.
    let awaiting = row.counts()?.awaiting;
    let unjudged: Vec<(i32, i32, Option<NaiveDateTime>)> = if room <= 0 || awaiting == 0 {
        Vec::new()
    } else {
        let query = run_items::table
            .filter(run_items::run_id.eq(run_id.as_str()))
            .filter(unjudged_filter)
            .order(run_items::sequence.asc())
            .limit(room)
            .select((
                run_items::sequence,
                run_items::attempt_count,
                run_items::lease_expires_at,
            ));
        match &mut *conn {
            DbConnection::Postgres(pg) => query.for_update().skip_locked().load(pg)?,
            other => query.load(other)?,
        }
    };
    // Workers can only be gone from this run where a claim expired, which the scans above
    // would have met (one they skipped, locked by another claim, is seen by a later claim).
    let expired_found = !lost.is_empty() || unjudged.iter().any(|(_, _, lease)| lease.is_some());
    if !lost.is_empty() {
        // Before their gone worker's claims are released below: the attempts name it.
        let sequences: Vec<i32> = lost.iter().map(|(s, _)| *s).collect();
        attempts::end_in_flight(
            conn,
            run_id,
            &sequences,
            AttemptOutcome::Lost,
            None,
            request.at,
        )?;
    }
    let gone = if expired_found {
        release_gone_workers(conn, run_id, now)?
    } else {
        Vec::new()
    };
    let room = room - unjudged.len() as i64;
    let pending_filter = pending!();
    let pending: Vec<(i32, i32)> = if room <= 0 {
        Vec::new()
    } else {
        match &mut *conn {
            DbConnection::Postgres(pg) => candidates!(pending_filter, room)
                .for_update()
                .skip_locked()
                .load(pg)?,
            other => candidates!(pending_filter, room).load(other)?,
        }
    };
    if lost.is_empty() && unjudged.is_empty() && pending.is_empty() {
        return Ok(Claim {
            run: row.into_domain()?,
            items: Vec::new(),
            taken_over: 0,
            gone_workers: Vec::new(),
        });
    }
    if status == RunStatus::Pending {
        change_status(conn, &row, RunStatus::Running, request.at, None)?;
    }

    let mut log = Vec::with_capacity(lost.len() + pending.len());
    if !lost.is_empty() {
        for &(sequence, attempt) in &lost {
            log.push(PendingLog {
                sequence: Some(sequence as u32),
                level: LogLevel::Warn,
                message: format!("attempt {attempt} lost its worker (claim expired); trying again"),
            });
        }
    }
    for &(sequence, attempt, claimed_before) in &unjudged {
        if claimed_before.is_none() {
            continue;
        }
        log.push(PendingLog {
            sequence: Some(sequence as u32),
            level: LogLevel::Warn,
            message: format!(
                "the answer of attempt {attempt} lost its judge (claim expired); judging again"
            ),
        });
    }
    // One resume per worker found gone (see docs/engine.md), however many claims take its
    // items over.
    for (owner, released) in &gone {
        record_resume(
            conn,
            run_id,
            request.at,
            &format!(
                "the claims of worker `{owner}` expired: the {released} item(s) it held here \
                 (sent, claimed ahead of sending, or awaiting a verdict) are taken over"
            ),
        )?;
    }
    if !unjudged.is_empty() {
        let sequences: Vec<i32> = unjudged.iter().map(|(s, ..)| *s).collect();
        diesel::update(run_items::table.filter(item_keys::items_of_run(run_id, &sequences)))
            .set((
                run_items::lease_owner.eq(Some(request.worker)),
                run_items::lease_expires_at.eq(Some(request.lease_until.naive_utc())),
                run_items::updated_at.eq(now),
            ))
            .execute(conn)?;
    }

    let claimed: Vec<i32> = lost.iter().chain(&pending).map(|(s, _)| *s).collect();
    let pending_sequences: Vec<i32> = pending.iter().map(|(s, _)| *s).collect();
    // The prompts are rendered before the claim's update, so that the same statement stores
    // them: an item keeps its prompt from its first claim on (what the drill-down shows while
    // it is worked on), and sending it writes nothing more to its row.
    let counts = row.counts()?;
    let run = row.into_domain()?;
    let (handed_out, unstored) = hand_out(conn, &run, &claimed, &unjudged)?;
    let lease_until = request.lease_until.naive_utc();
    let start = ClaimStart {
        run_id,
        worker: request.worker,
        lease_until,
        now,
    };
    match &mut *conn {
        DbConnection::Postgres(pg) => {
            let prompts: HashMap<i32, &str> = handed_out
                .iter()
                .filter(|item| unstored.contains(&item.sequence))
                .map(|item| (item.sequence as i32, item.prompt.as_str()))
                .collect();
            start.apply_with_prompts(pg, &claimed, &prompts)?;
        }
        other => {
            start.apply(other, &claimed)?;
            for item in handed_out.iter().filter(|i| unstored.contains(&i.sequence)) {
                on_backend!(other, |c| StorePrompt {
                    run_id: run_id.as_str(),
                    sequence: item.sequence as i32,
                    prompt: &item.prompt,
                }
                .execute(c))?;
            }
        }
    }
    if !pending_sequences.is_empty() {
        let counts = counts
            .moved(
                ItemState::Pending,
                ItemState::Running,
                pending_sequences.len() as u64,
            )
            .ok_or_else(|| StoreError::corrupt(format!("run {run_id}: pending counter too low")))?;
        save_counts(conn, run_id, &counts, request.at)?;
    }

    logs::append_many(conn, run_id, &log, request.at)?;
    Ok(Claim {
        taken_over: lost.len() as u32,
        run: load_row(conn, run_id, false)?.into_domain()?,
        items: handed_out,
        gone_workers: gone
            .into_iter()
            .map(|(name, items)| GoneWorker { name, items })
            .collect(),
    })
}

/// The items a claim hands out, by sequence, with their prompts (the stored one, else rendered
/// now), and the sequences whose prompt is not stored yet. `claimed` start a new attempt (the
/// next one: they are read before the claim's update); `unjudged` only need a verdict.
fn hand_out(
    conn: &mut DbConnection,
    run: &Run,
    claimed: &[i32],
    unjudged: &[(i32, i32, Option<NaiveDateTime>)],
) -> Result<(Vec<ClaimedItem>, HashSet<u32>), StoreError> {
    let mut to_load = claimed.to_vec();
    to_load.extend(unjudged.iter().map(|(s, ..)| *s));
    let items = load_claimed(conn, &run.id, &to_load)?;
    let shots = run.settings.shots.unwrap_or(0);
    let mut examples: HashMap<String, Vec<DatasetItem>> = HashMap::new();
    let mut examples_from: Option<ExamplesFrom> = None;
    let mut handed_out = Vec::with_capacity(items.len());
    let mut unstored = HashSet::new();
    for ClaimedRow {
        sequence,
        attempt,
        prompt: stored_prompt,
        response,
        item,
    } in items
    {
        if unjudged.iter().any(|(s, ..)| *s == sequence) {
            handed_out.push(ClaimedItem {
                sequence: sequence as u32,
                attempt: attempt as u32,
                prompt: stored_prompt.unwrap_or_default(),
                item,
                answer: Some(response.unwrap_or_default()),
            });
            continue;
        }
        // Rendered once, on the item's first claim; a retry or a resume has it stored (and
        // would render exactly the same: examples are chosen deterministically).
        let prompt = match stored_prompt {
            Some(prompt) => prompt,
            None => {
                let from = match &examples_from {
                    Some(from) => from,
                    None => examples_from.insert(examples_dataset(conn, run, shots)?),
                };
                let candidates = match examples.get(&item.category) {
                    Some(candidates) => candidates,
                    None => {
                        let loaded =
                            first_of_category(conn, &from.dataset_id, &item.category, shots)?;
                        examples.entry(item.category.clone()).or_insert(loaded)
                    }
                };
                let picked = if from.own {
                    pick_examples(&item, candidates, shots)
                } else {
                    // Another dataset's items are never the item itself, whatever their ids.
                    candidates.iter().take(shots as usize).collect()
                };
                unstored.insert(sequence as u32);
                render_prompt(&item, &picked)
            }
        };
        handed_out.push(ClaimedItem {
            sequence: sequence as u32,
            // The attempt the claim's update starts.
            attempt: attempt as u32 + 1,
            prompt,
            item,
            answer: None,
        });
    }
    Ok((handed_out, unstored))
}

/// What a claim's update sets on the items it starts: a new attempt with a clean slate, leased
/// to the claimer.
struct ClaimStart<'a> {
    run_id: &'a RunId,
    worker: &'a str,
    lease_until: NaiveDateTime,
    now: NaiveDateTime,
}

/// The claim's update on PostgreSQL, with the prompts of items claimed for the first time, in
/// one statement: each row is written once (the prompt set once stays). It sets what
/// [`ClaimStart::apply`] sets, and the two must agree.
const START_WITH_PROMPTS: &str = "\
UPDATE run_items AS r SET
    state = 'running',
    attempt_count = r.attempt_count + 1,
    lease_owner = $3,
    lease_expires_at = $4,
    started_at = NULL,
    finished_at = NULL,
    first_token_at = NULL,
    answered_at = NULL,
    response_text = NULL,
    error_kind = NULL,
    error_message = NULL,
    updated_at = $5,
    prompt_text = COALESCE(r.prompt_text, v.prompt)
FROM UNNEST($1::int4[], $2::text[]) AS v(sequence, prompt)
WHERE r.run_id = $6
  AND r.sequence BETWEEN $7 AND $8
  AND r.sequence = v.sequence";

impl ClaimStart<'_> {
    /// Starts the attempts of `sequences`; the prompts stay as stored. (On PostgreSQL the same
    /// update, prompts included, is [`START_WITH_PROMPTS`].)
    fn apply(&self, conn: &mut DbConnection, sequences: &[i32]) -> Result<(), StoreError> {
        diesel::update(run_items::table.filter(item_keys::items_of_run(self.run_id, sequences)))
            .set((
                run_items::state.eq(ItemState::Running.as_str()),
                run_items::attempt_count.eq(run_items::attempt_count + 1),
                run_items::lease_owner.eq(Some(self.worker)),
                run_items::lease_expires_at.eq(Some(self.lease_until)),
                // Set when the attempt is sent: an item claimed ahead of its turn is queued on
                // its worker, not in flight (`Database::apply_outcomes`).
                run_items::started_at.eq(None::<NaiveDateTime>),
                run_items::finished_at.eq(None::<NaiveDateTime>),
                run_items::first_token_at.eq(None::<NaiveDateTime>),
                run_items::answered_at.eq(None::<NaiveDateTime>),
                run_items::response_text.eq(None::<String>),
                run_items::error_kind.eq(None::<String>),
                run_items::error_message.eq(None::<String>),
                run_items::updated_at.eq(self.now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Starts the attempts of `sequences` and stores `prompts` for those that have none yet.
    fn apply_with_prompts(
        &self,
        pg: &mut PgConnection,
        sequences: &[i32],
        prompts: &HashMap<i32, &str>,
    ) -> Result<(), StoreError> {
        self.with_prompts(sequences, prompts).execute(pg)?;
        Ok(())
    }

    fn with_prompts<'q>(
        &'q self,
        sequences: &'q [i32],
        prompts: &'q HashMap<i32, &'q str>,
    ) -> impl diesel::query_builder::QueryFragment<diesel::pg::Pg>
    + diesel::query_builder::QueryId
    + diesel::RunQueryDsl<PgConnection>
    + 'q {
        let texts: Vec<Option<&str>> = sequences.iter().map(|s| prompts.get(s).copied()).collect();
        // The bounds make the primary key the plan whatever the statistics (see `item_keys`).
        let (low, high) = item_keys::bounds(sequences);
        diesel::sql_query(START_WITH_PROMPTS)
            .bind::<Array<Integer>, _>(sequences.to_vec())
            .bind::<Array<Nullable<Text>>, _>(texts)
            .bind::<Text, _>(self.worker)
            .bind::<sql_types::Timestamp, _>(self.lease_until)
            .bind::<sql_types::Timestamp, _>(self.now)
            .bind::<Text, _>(self.run_id.as_str())
            .bind::<Integer, _>(low)
            .bind::<Integer, _>(high)
    }
}

/// Finds the workers that are gone from this run — an expired claim here, and not one live —
/// and releases their claims (owner cleared, leases left expired): the items are taken over by
/// this claim and the next ones, and the worker can neither renew nor answer them any more.
/// Returns each gone worker with how many items it held; each is one resume. A worker with
/// expired claims and live ones is alive (an item it lost track of expired): its expired items
/// are taken over without a resume.
fn release_gone_workers(
    conn: &mut DbConnection,
    run_id: &RunId,
    now: NaiveDateTime,
) -> Result<Vec<(String, usize)>, StoreError> {
    let in_flight = [ItemState::Running.as_str(), ItemState::Awaiting.as_str()];
    let expired: Vec<String> =
        claim_owners!(run_id, run_items::lease_expires_at.lt(now)).load(conn)?;
    if expired.is_empty() {
        return Ok(Vec::new());
    }
    let live: Vec<String> =
        claim_owners!(run_id, run_items::lease_expires_at.ge(now)).load(conn)?;
    let mut gone = Vec::new();
    for owner in expired.into_iter().filter(|o| !live.contains(o)) {
        // Only claims still expired: one its worker renewed meanwhile stays its own.
        let released = diesel::update(
            run_items::table
                .filter(run_items::run_id.eq(run_id.as_str()))
                .filter(run_items::state.eq_any(in_flight))
                .filter(run_items::lease_owner.eq(&owner))
                .filter(run_items::lease_expires_at.lt(now)),
        )
        .set(run_items::lease_owner.eq(None::<String>))
        .execute(conn)?;
        if released > 0 {
            gone.push((owner, released));
        }
    }
    Ok(gone)
}

/// An item's sequence and attempt count.
type SequenceAttempt = (i32, i32);

/// A claimed item as stored: its attempt, its prompt if already rendered, its dataset item.
struct ClaimedRow {
    sequence: i32,
    attempt: i32,
    prompt: Option<String>,
    response: Option<String>,
    item: DatasetItem,
}

/// sequence, attempt, prompt, response, dataset item.
type ClaimedTuple = (i32, i32, Option<String>, Option<String>, DatasetItemRow);

/// The claimed items with their dataset items, by sequence.
fn load_claimed(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequences: &[i32],
) -> Result<Vec<ClaimedRow>, StoreError> {
    let rows: Vec<ClaimedTuple> = run_items::table
        .inner_join(
            dataset_items::table.on(dataset_items::dataset_id
                .eq(run_items::dataset_id)
                .and(dataset_items::position.eq(run_items::dataset_position))),
        )
        .filter(item_keys::items_of_run(run_id, sequences))
        .order(run_items::sequence.asc())
        .select((
            run_items::sequence,
            run_items::attempt_count,
            run_items::prompt_text,
            run_items::response_text,
            DatasetItemRow::as_select(),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(sequence, attempt, prompt, response, item)| {
            Ok(ClaimedRow {
                sequence,
                attempt,
                prompt,
                response,
                item: item.into_domain()?,
            })
        })
        .collect()
}

/// The dataset version a run's worked examples come from.
struct ExamplesFrom {
    dataset_id: String,
    /// The run's own dataset (an item must not be its own example).
    own: bool,
}

/// The dataset version the run's settings name for its worked examples (its version fixed
/// when the run was created), else the run's own.
fn examples_dataset(
    conn: &mut DbConnection,
    run: &Run,
    shots: u32,
) -> Result<ExamplesFrom, StoreError> {
    let own = ExamplesFrom {
        dataset_id: run.dataset_id.to_string(),
        own: true,
    };
    let Some(source) = run.settings.shots_from.as_ref().filter(|_| shots > 0) else {
        return Ok(own);
    };
    match crate::datasets::version_row(conn, &source.dataset_name, source.version)? {
        Some(row) => Ok(ExamplesFrom {
            // Naming the run's own dataset (that version) is the default, said out loud.
            own: row.id == run.dataset_id.as_str(),
            dataset_id: row.id,
        }),
        // Dataset versions are never deleted: a run that names one it cannot find is corrupt.
        None => Err(StoreError::corrupt(format!(
            "run {}: the dataset of its worked examples, `{}` version {:?}, is gone",
            run.id, source.dataset_name, source.version
        ))),
    }
}

/// Candidates for worked examples: the first `shots + 1` items of a category of a dataset
/// version (one more, in case the item itself is among them).
fn first_of_category(
    conn: &mut DbConnection,
    dataset_id: &str,
    category: &str,
    shots: u32,
) -> Result<Vec<DatasetItem>, StoreError> {
    if shots == 0 {
        return Ok(Vec::new());
    }
    dataset_items::table
        .filter(dataset_items::dataset_id.eq(dataset_id))
        .filter(dataset_items::category.eq(category))
        .order(dataset_items::position.asc())
        .limit(i64::from(shots) + 1)
        .select(DatasetItemRow::as_select())
        .load(conn)?
        .into_iter()
        .map(DatasetItemRow::into_domain)
        .collect()
}

#[cfg(test)]
mod plan_tests {
    use super::*;
    use crate::plans::{explain, two_large_runs};

    /// On never-analyzed tables of two 10,000-item runs, the other with 5,000 items in flight,
    /// a claim's scans (expired claims and their owners, unjudged answers, pending items) go
    /// through the `(run_id, state, sequence)` index and read no other run's rows (the scans of
    /// claims read this run's items in flight, as many as its concurrency, to find the expired
    /// ones), and its update finds each claimed item by its primary key.
    #[test]
    fn a_claims_scans_and_update_read_only_the_runs_items_without_statistics() {
        let Some((_db, runs, mut conn)) = two_large_runs() else {
            return;
        };
        let now = chrono::Utc::now();
        // The other run is busy: 3,000 items in flight, 2,000 waiting for a judge.
        diesel::sql_query(format!(
            "UPDATE run_items SET state = CASE WHEN sequence <= 3000 THEN 'running' ELSE 'awaiting' END, \
             lease_expires_at = now() + interval '1 hour' \
             WHERE run_id = '{}' AND sequence <= 5000",
            runs[0]
        ))
        .execute(&mut conn)
        .unwrap();
        // This run has 32 items in flight: the expired-claim scan reads those (bounded by the
        // run's concurrency), never the other run's.
        diesel::sql_query(format!(
            "UPDATE run_items SET state = 'running', lease_expires_at = now() + interval '1 hour' \
             WHERE run_id = '{}' AND sequence <= 32",
            runs[1]
        ))
        .execute(&mut conn)
        .unwrap();
        let run = &runs[1];
        let at = now.naive_utc();
        let plans = [
            (
                "expired",
                explain(
                    &mut conn,
                    claim_candidates!(run, expired_leases!(at), 64_i64)
                        .for_update()
                        .skip_locked(),
                ),
            ),
            (
                "unjudged",
                explain(
                    &mut conn,
                    claim_candidates!(run, unjudged!(at), 64_i64)
                        .for_update()
                        .skip_locked(),
                ),
            ),
            (
                "owners of expired claims",
                explain(
                    &mut conn,
                    claim_owners!(run, run_items::lease_expires_at.lt(at)),
                ),
            ),
            (
                "owners of live claims",
                explain(
                    &mut conn,
                    claim_owners!(run, run_items::lease_expires_at.ge(at)),
                ),
            ),
            (
                "pending",
                explain(
                    &mut conn,
                    claim_candidates!(run, pending!(), 64_i64)
                        .for_update()
                        .skip_locked(),
                ),
            ),
        ];
        // The claim's update with the prompts: each claimed row found by its primary key.
        let start = ClaimStart {
            run_id: run,
            worker: "w",
            lease_until: at,
            now: at,
        };
        let sequences: Vec<i32> = (100..164).collect();
        let prompts: HashMap<i32, &str> = sequences.iter().map(|&s| (s, "a prompt")).collect();
        let update = explain(&mut conn, start.with_prompts(&sequences, &prompts));
        assert_eq!(update.rows_removed, 0, "{:#}", update.plan);
        let scans = update.scans_of("run_items");
        assert_eq!(scans, [Some("run_items_pkey")], "{:#}", update.plan);
        for (what, plan) in plans {
            plan.assert_reads(what, "run_items", "run_items_by_state", 32);
        }
    }
}
