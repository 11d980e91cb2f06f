//! Recording what came of claimed items, many at once: answers (with their verdict when the
//! judge is immediate), verdicts, retries and failures. One transaction per batch, so that
//! persistence keeps up with many items in flight.
//!
//! Every outcome is guarded by what its worker believes: the item is still in the state it left
//! it, still leased to it, still at its attempt. An outcome that no longer holds (the item was
//! canceled meanwhile, or its lease expired and another worker took it) is dropped, not applied.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use evalboard_domain::{
    CutOff, Extracted, ExtractionTier, ItemState, JudgeSpend, LLM_JUDGE_PREFIX, Run, RunId,
    RunUsage, Timestamp, TokenUsage, Verdict,
};

use super::{
    attempts::{self, AttemptOutcome, EndedAttempt},
    bookkeeping::{AnswerCounts, finish_if_done, save_progress},
    bulk, item_keys,
    latency::{LatencySample, add_latencies, sample},
    load_row,
    store_answer::StoreAnswer,
};
use crate::{
    connection::{DbConnection, insert_rows, on_backend},
    database::Database,
    error::StoreError,
    events,
    logs::{self, LogLevel, PendingLog},
    schema::{item_judgments, run_items},
};

/// Why a provider call failed: a short kind (`rate_limited`, `server_error`, `timeout`,
/// `stream_cut`, `malformed`, ...) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Machine-readable kind.
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// A model's answer to an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The prompt that was sent (stored with the answer: what was asked, next to what came back).
    pub prompt: String,
    /// The response text: the answer, without reasoning.
    pub response_text: String,
    /// The reasoning the model gave apart from its answer (thinking blocks, reasoning deltas,
    /// `<think>` text), when it gave any.
    pub reasoning_text: Option<String>,
    /// Why the provider stopped the answer before the model finished it, if it did.
    pub cut_off: Option<CutOff>,
    /// The request's response-cache key ([`evalboard_domain::request_key`]), stored so that
    /// a later run with the cache on can be served this answer.
    pub request_key: Option<String>,
    /// Served from the response cache rather than the provider (its attempt says `cached`).
    pub cached: bool,
    /// When the first streamed chunk arrived.
    pub first_token_at: Option<Timestamp>,
    /// When the answer was complete.
    pub answered_at: Timestamp,
    /// Token usage, as the provider reported it.
    pub usage: TokenUsage,
    /// What the answer cost at the model's configured price (`None`: no price, or the
    /// provider reported no usage).
    pub cost_usd: Option<f64>,
}

/// A judge's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgment {
    /// Right or wrong.
    pub verdict: Verdict,
    /// What extraction found (the LLM judge reports the letter it saw, if any).
    pub extraction: Extracted,
    /// Which judge: `choice`, or `llm:<provider>/<model>`.
    pub judge: String,
    /// The judge's reasons, when it gives them.
    pub rationale: Option<String>,
    /// When it decided.
    pub at: Timestamp,
    /// What an LLM judge's requests for it used and cost; `None` for the rule judges.
    pub spent: Option<JudgeSpend>,
}

impl Judgment {
    /// Whether the extraction rules gave this verdict for an LLM judge that gave none (it
    /// failed, or never answered with a verdict): the rules give no reasons of their own, so
    /// a verdict of theirs with reasons carries why the LLM judge gave none.
    pub fn is_fallback(&self) -> bool {
        self.rationale.is_some() && !self.judge.starts_with(LLM_JUDGE_PREFIX)
    }
}

/// What came of one claimed item.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKind {
    /// The model answered; with a judgment when the judge decided at once (the item passes
    /// through `awaiting` to its verdict in one write), else the item waits in `awaiting`.
    Answered {
        /// The answer.
        answer: Answer,
        /// The verdict, if already known.
        judgment: Option<Judgment>,
    },
    /// The judge decided on an `awaiting` item.
    Judged(Judgment),
    /// The attempt failed and another follows (attempt + 1).
    Retrying {
        /// Why it failed.
        error: ItemError,
        /// How long the worker waits before trying again.
        delay_ms: u64,
    },
    /// The attempt is being sent to the model: the send is logged and announced (the item
    /// holds its prompt since its claim; the answer stores when it was sent).
    Started,
    /// The attempt failed and no other follows: the item ends `failed`.
    Failed {
        /// Why.
        error: ItemError,
        /// The prompt that was sent.
        prompt: String,
    },
}

/// One outcome of one item, as its worker saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The run.
    pub run_id: RunId,
    /// The item.
    pub sequence: u32,
    /// The attempt the outcome belongs to.
    pub attempt: u32,
    /// When that attempt was sent.
    pub started_at: Timestamp,
    /// What happened.
    pub kind: OutcomeKind,
}

/// What a batch did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppliedOutcomes {
    /// For each outcome, in order: whether it was applied (false: it no longer held).
    pub applied: Vec<bool>,
    /// Runs the batch finished (every item terminal), as they are now.
    pub finished: Vec<Run>,
}

impl Database {
    /// Applies a batch of outcomes reported by `worker`, in one transaction, and finishes runs
    /// whose items are now all terminal.
    pub fn apply_outcomes(
        &self,
        worker: &str,
        outcomes: &[Outcome],
        at: Timestamp,
    ) -> Result<AppliedOutcomes, StoreError> {
        self.write(|conn| {
            let mut by_run: BTreeMap<&RunId, Vec<usize>> = BTreeMap::new();
            for (index, outcome) in outcomes.iter().enumerate() {
                by_run.entry(&outcome.run_id).or_default().push(index);
            }
            // Item rows are locked in sequence order (the order of one item's outcomes kept), as
            // claims and lease renewals lock them, so concurrent writers cannot deadlock.
            for indices in by_run.values_mut() {
                indices.sort_by_key(|&i| outcomes[i].sequence);
            }
            let mut result = AppliedOutcomes {
                applied: vec![false; outcomes.len()],
                finished: Vec::new(),
            };
            // Runs are locked in id order, so concurrent batches cannot deadlock.
            for (run_id, indices) in by_run {
                let row = load_row(conn, run_id, true)?;
                let mut counts = row.counts()?;
                // Whether any item may hold an answer from before this batch.
                let answered_before = counts.past_running() > 0;
                let mut written = Written {
                    round: row.judging_round(),
                    ..Written::default()
                };
                // What the board hears of: items whose state moved, and items sent.
                let mut changed: Vec<i32> = Vec::new();
                let mut started: Vec<i32> = Vec::new();
                // A send that is its item's first outcome in this batch can go first: nothing
                // before it in the batch changes the row it is guarded by. (On PostgreSQL, the
                // answer that follows it may then go in bulk.)
                let mut seen = HashSet::new();
                let (sends, mut indices): (Vec<usize>, Vec<usize>) =
                    indices.into_iter().partition(|&i| {
                        seen.insert(outcomes[i].sequence)
                            && matches!(outcomes[i].kind, OutcomeKind::Started)
                    });
                for (index, held) in sends_that_hold(conn, run_id, worker, outcomes, &sends)? {
                    if held {
                        record_send(&outcomes[index], &mut written);
                        started.push(outcomes[index].sequence as i32);
                        result.applied[index] = true;
                    }
                }
                // On PostgreSQL, judged answers (the bulk of a batch) go in one statement.
                if let DbConnection::Postgres(pg) = &mut *conn {
                    // Only items with no other outcome in this batch: outcomes of one item
                    // apply in order (a retry raises the attempt its answer is guarded by).
                    let mut per_item: BTreeMap<u32, usize> = BTreeMap::new();
                    for &i in &indices {
                        *per_item.entry(outcomes[i].sequence).or_default() += 1;
                    }
                    let judged: Vec<usize> = indices
                        .iter()
                        .copied()
                        .filter(|&i| {
                            per_item.get(&outcomes[i].sequence) == Some(&1)
                                && matches!(
                                    outcomes[i].kind,
                                    OutcomeKind::Answered {
                                        judgment: Some(_),
                                        ..
                                    }
                                )
                        })
                        .collect();
                    if judged.len() > 1 {
                        let batch: Vec<&Outcome> = judged.iter().map(|&i| &outcomes[i]).collect();
                        let applied =
                            bulk::apply_judged_answers(pg, run_id, worker, &batch, at.naive_utc())?;
                        for &index in &judged {
                            let outcome = &outcomes[index];
                            if !applied.contains(&(outcome.sequence as i32)) {
                                continue;
                            }
                            let (from, to) = record_judged_answer(outcome, worker, &mut written);
                            changed.push(outcome.sequence as i32);
                            counts = counts.moved(from, to, 1).ok_or_else(|| {
                                StoreError::corrupt(format!(
                                    "run {run_id}: the {from} counter is too low"
                                ))
                            })?;
                            result.applied[index] = true;
                        }
                        indices.retain(|i| !judged.contains(i));
                    }
                }
                for index in indices {
                    let outcome = &outcomes[index];
                    if let OutcomeKind::Started = outcome.kind {
                        if sends_that_hold(conn, run_id, worker, outcomes, &[index])?[0].1 {
                            record_send(outcome, &mut written);
                            started.push(outcome.sequence as i32);
                            result.applied[index] = true;
                        }
                        continue;
                    }
                    if let Some((from, to)) = apply_one(conn, worker, outcome, &mut written, at)? {
                        if from != to {
                            changed.push(outcome.sequence as i32);
                        }
                        counts = counts.moved(from, to, 1).ok_or_else(|| {
                            StoreError::corrupt(format!(
                                "run {run_id}: the {from} counter is too low"
                            ))
                        })?;
                        result.applied[index] = true;
                    }
                }
                // The sends that are their item's last outcome applied here (a send followed by
                // its failure leaves the next attempt queued, not sent).
                let last_of_item: HashMap<u32, usize> = outcomes
                    .iter()
                    .enumerate()
                    .filter(|&(i, o)| o.run_id == *run_id && result.applied[i])
                    .map(|(i, o)| (o.sequence, i))
                    .collect();
                let sent: Vec<i32> = outcomes
                    .iter()
                    .enumerate()
                    .filter(|&(i, o)| {
                        result.applied[i]
                            && matches!(o.kind, OutcomeKind::Started)
                            && last_of_item.get(&o.sequence) == Some(&i)
                    })
                    .map(|(_, o)| o.sequence as i32)
                    .collect();
                mark_sent(conn, run_id, &sent, at)?;
                events::items(conn, run_id, &changed, &started, at)?;
                // The run's totals move only when answers were stored or an LLM judge spent
                // something (and are read only then).
                let usage = match &written.spent {
                    Some(spent) => {
                        let mut total = row.usage()?;
                        total.absorb(spent);
                        Some(total)
                    }
                    None => None,
                };
                let answers =
                    (written.unparsed > 0 || written.cut_off > 0 || written.judge_fallbacks > 0)
                        .then(|| AnswerCounts {
                            unparsed: row.unparsed_count + written.unparsed,
                            cut_off: row.cut_off_count + written.cut_off,
                            judge_fallbacks: row.judge_fallback_count + written.judge_fallbacks,
                        });
                save_progress(conn, run_id, &counts, usage.as_ref(), answers, at)?;
                // The attempts first: a histogram rebuilt from the items tells cached answers
                // by their attempts, this batch's included.
                attempts::insert(conn, &written.attempts)?;
                if !written.latencies.is_empty() {
                    add_latencies(conn, run_id, &written.latencies, answered_before)?;
                }
                insert_judgments(conn, &written.judgments)?;
                logs::append_many(conn, run_id, &written.log, at)?;
                if let Some(run) = finish_if_done(conn, run_id, at)? {
                    result.finished.push(run);
                }
            }
            Ok(result)
        })
    }
}

impl Database {
    /// Adds what an LLM judge's replies used to `run_id`'s totals, for a judgment that never
    /// came (the run canceled, the server stopping before the judge's next try): they were
    /// paid for. Stored with nothing else; a run that is gone is not an error.
    pub fn add_judge_spend(&self, run_id: &RunId, spend: &JudgeSpend) -> Result<(), StoreError> {
        self.write(|conn| {
            let row = match load_row(conn, run_id, true) {
                Ok(row) => row,
                Err(StoreError::NotFound { .. }) => return Ok(()),
                Err(error) => return Err(error),
            };
            let mut usage = row.usage()?;
            usage.judge.add(&spend.usage, spend.cost_usd);
            let json = serde_json::to_string(&usage).map_err(StoreError::corrupt)?;
            diesel::update(crate::schema::runs::table.find(run_id.as_str()))
                .set(crate::schema::runs::usage.eq(Some(json)))
                .execute(conn)?;
            Ok(())
        })
    }
}

/// Records what an applied answer adds besides its item row: the ended attempt and, when judged,
/// the verdict. Returns the state move.
fn record_judged_answer(
    outcome: &Outcome,
    worker: &str,
    written: &mut Written,
) -> (ItemState, ItemState) {
    let OutcomeKind::Answered { answer, judgment } = &outcome.kind else {
        unreachable!("only answers are recorded here");
    };
    let sequence = outcome.sequence as i32;
    let attempt = outcome.attempt as i32;
    written.attempts.push(EndedAttempt {
        run_id: outcome.run_id.to_string(),
        sequence,
        attempt,
        outcome: Some(if answer.cached {
            AttemptOutcome::Cached.as_str()
        } else {
            AttemptOutcome::Answered.as_str()
        }),
        error_kind: None,
        error_message: None,
        worker: Some(worker.to_owned()),
        started_at: outcome.started_at.naive_utc(),
        // The attempt ended with its answer; the item's own `finished_at` says when it was
        // stored (up to the writer's commit window later).
        finished_at: Some(answer.answered_at.naive_utc()),
        first_token_at: answer.first_token_at.map(|t| t.naive_utc()),
        prompt_tokens: answer.usage.prompt_tokens.map(|t| t as i32),
        completion_tokens: answer.usage.completion_tokens.map(|t| t as i32),
        reasoning_tokens: answer.usage.reasoning_tokens.map(|t| t as i32),
        cost_usd: answer.cost_usd,
        page: None,
    });
    if answer.cut_off.is_some() {
        written.cut_off += 1;
    }
    let spent = written.spent.get_or_insert_default();
    if answer.cached {
        spent.add_cached(answer.cost_usd);
    } else {
        spent.add(&answer.usage, answer.cost_usd);
    }
    // An answer from the cache was not sent: it has no latency (see `latency::answered_samples`).
    if !answer.cached {
        written.latencies.push(sample(
            outcome.started_at.naive_utc(),
            answer.first_token_at.map(|t| t.naive_utc()),
            answer.answered_at.naive_utc(),
        ));
    }
    match judgment {
        Some(judgment) => {
            written.count_judgment(outcome.sequence, judgment);
            written.judgments.push(judgment_row(
                &outcome.run_id,
                sequence,
                attempt,
                judgment,
                written.round,
            ));
            (ItemState::Running, judgment.verdict.state())
        }
        None => (ItemState::Running, ItemState::Awaiting),
    }
}

/// Which of the sends `outcomes[indices]` (all `Started`, of one run) still hold: the item is
/// running, leased to `worker`, at the attempt sent (an item of a run that failed or was
/// canceled meanwhile says nothing). Returns each index with whether it held. A send writes
/// nothing to its item: the prompt was stored with the claim, and the answer stores when it was
/// sent.
fn sends_that_hold(
    conn: &mut DbConnection,
    run_id: &RunId,
    worker: &str,
    outcomes: &[Outcome],
    indices: &[usize],
) -> Result<Vec<(usize, bool)>, StoreError> {
    let sequences: Vec<i32> = indices
        .iter()
        .map(|&i| outcomes[i].sequence as i32)
        .collect();
    let mut held: HashMap<i32, i32> = HashMap::with_capacity(sequences.len());
    for chunk in sequences.chunks(1_000) {
        let rows: Vec<(i32, i32)> = run_items::table
            .filter(item_keys::items_of_run(run_id, chunk))
            .filter(run_items::state.eq(ItemState::Running.as_str()))
            .filter(run_items::lease_owner.eq(worker))
            .select((run_items::sequence, run_items::attempt_count))
            .load(conn)?;
        held.extend(rows);
    }
    Ok(indices
        .iter()
        .map(|&i| {
            let outcome = &outcomes[i];
            let attempt = held.get(&(outcome.sequence as i32));
            (i, attempt == Some(&(outcome.attempt as i32)))
        })
        .collect())
}

/// Marks the sends of `sequences` that held as sent at `at` (the batch's time, within the
/// commit window of the send's own): until then the attempt a claim started is queued on its
/// worker, not in flight, and a cancel or a failure of the run ends it without an attempt of
/// its own. An item whose answer this batch stored already has its exact start (and a state
/// past `running`), which this leaves as it is.
fn mark_sent(
    conn: &mut DbConnection,
    run_id: &RunId,
    sequences: &[i32],
    at: Timestamp,
) -> Result<(), StoreError> {
    for chunk in sequences.chunks(1_000) {
        diesel::update(
            run_items::table
                .filter(item_keys::items_of_run(run_id, chunk))
                .filter(run_items::state.eq(ItemState::Running.as_str()))
                .filter(run_items::started_at.is_null()),
        )
        .set(run_items::started_at.eq(Some(at.naive_utc())))
        .execute(conn)?;
    }
    Ok(())
}

/// The log entry of a send that held: `debug`, one per attempt of every item, so that a
/// log read from `info` up tells a run's story (lifecycle, retries, failures) without them.
fn record_send(outcome: &Outcome, written: &mut Written) {
    written.log.push(PendingLog {
        sequence: Some(outcome.sequence),
        level: LogLevel::Debug,
        message: format!("attempt {} sent", outcome.attempt),
    });
}

/// What a batch writes besides the item rows, gathered to be inserted many rows at a time.
#[derive(Default)]
struct Written {
    attempts: Vec<EndedAttempt>,
    judgments: Vec<NewJudgmentRow>,
    log: Vec<PendingLog>,
    /// The run's judging in force, which its verdicts belong to (its re-judge count).
    round: i32,
    /// What the batch's answers and LLM judgments spent, when it stored any.
    spent: Option<RunUsage>,
    /// How many verdicts it stored on answers with nothing extractable.
    unparsed: i64,
    /// How many of the answers it stored the provider cut off.
    cut_off: i64,
    /// How many of its verdicts the rules gave for an LLM judge that gave none.
    judge_fallbacks: i64,
    /// The latencies of the answers it stored.
    latencies: Vec<LatencySample>,
}

impl Written {
    /// Counts what the judgment stored on item `sequence` adds to the run's totals: an answer
    /// with nothing extractable, a verdict the LLM judge did not give (logged as a warning,
    /// as a failed attempt of the provider is: the run's figures are not all its judge's),
    /// and what its LLM judge spent.
    fn count_judgment(&mut self, sequence: u32, judgment: &Judgment) {
        if judgment.extraction.tier == ExtractionTier::Unparsed {
            self.unparsed += 1;
        }
        if judgment.is_fallback() {
            self.judge_fallbacks += 1;
            self.log.push(PendingLog {
                sequence: Some(sequence),
                level: LogLevel::Warn,
                message: judgment.rationale.clone().unwrap_or_default(),
            });
        }
        self.count_judge_spend(judgment);
    }

    /// Adds what `judgment`'s LLM judge spent to the run's totals.
    fn count_judge_spend(&mut self, judgment: &Judgment) {
        if let Some(spent) = &judgment.spent {
            self.spent
                .get_or_insert_default()
                .judge
                .add(&spent.usage, spent.cost_usd);
        }
    }
}

/// Applies one outcome if it still holds; returns the state move it made.
fn apply_one(
    conn: &mut DbConnection,
    worker: &str,
    outcome: &Outcome,
    written: &mut Written,
    at: Timestamp,
) -> Result<Option<(ItemState, ItemState)>, StoreError> {
    let run_id = &outcome.run_id;
    let sequence = outcome.sequence as i32;
    let attempt = outcome.attempt as i32;
    let now = at.naive_utc();
    // The item as the worker left it: still leased to it, at its attempt.
    macro_rules! held {
        ($state:expr) => {
            run_items::table
                .filter(run_items::run_id.eq(run_id.as_str()))
                .filter(run_items::sequence.eq(sequence))
                .filter(run_items::state.eq($state.as_str()))
                .filter(run_items::lease_owner.eq(worker))
                .filter(run_items::attempt_count.eq(attempt))
        };
    }
    let ended = |outcome_kind: AttemptOutcome, error: Option<&ItemError>| EndedAttempt {
        run_id: run_id.to_string(),
        sequence,
        attempt,
        outcome: Some(outcome_kind.as_str()),
        error_kind: error.map(|e| e.kind.clone()),
        error_message: error.map(|e| e.message.clone()),
        worker: Some(worker.to_owned()),
        started_at: outcome.started_at.naive_utc(),
        finished_at: Some(now),
        first_token_at: None,
        prompt_tokens: None,
        completion_tokens: None,
        reasoning_tokens: None,
        cost_usd: None,
        page: None,
    };
    match &outcome.kind {
        OutcomeKind::Answered { answer, judgment } => {
            let to = judgment
                .as_ref()
                .map_or(ItemState::Awaiting, |j| j.verdict.state());
            let judged = judgment.as_ref();
            let changed = on_backend!(conn, |c| StoreAnswer {
                run_id: run_id.as_str(),
                sequence,
                attempt,
                worker,
                state: to.as_str(),
                prompt: &answer.prompt,
                started_at: outcome.started_at.naive_utc(),
                response: &answer.response_text,
                reasoning: answer.reasoning_text.as_deref(),
                cut_off: answer.cut_off.map(CutOff::as_str),
                request_key: answer.request_key.as_deref(),
                first_token_at: answer.first_token_at.map(|t| t.naive_utc()),
                answered_at: answer.answered_at.naive_utc(),
                prompt_tokens: answer.usage.prompt_tokens.map(|t| t as i32),
                completion_tokens: answer.usage.completion_tokens.map(|t| t as i32),
                reasoning_tokens: answer.usage.reasoning_tokens.map(|t| t as i32),
                cost_usd: answer.cost_usd,
                extracted_answer: judged.and_then(|j| j.extraction.answer.clone()),
                extraction_tier: judged.map(|j| j.extraction.tier.as_str()),
                judge: judged.map(|j| j.judge.as_str()),
                judge_rationale: judged.and_then(|j| j.rationale.as_deref()),
                judged_at: judged.map(|j| j.at.naive_utc()),
                finished_at: judged.map(|_| now),
                lease_owner: if judged.is_some() { None } else { Some(worker) },
                now,
            }
            .execute(c))?;
            if changed == 0 {
                return Ok(None);
            }
            Ok(Some(record_judged_answer(outcome, worker, written)))
        }
        OutcomeKind::Judged(judgment) => {
            let to = judgment.verdict.state();
            let changed = diesel::update(held!(ItemState::Awaiting))
                .set((
                    run_items::state.eq(to.as_str()),
                    run_items::extracted_answer.eq(judgment.extraction.answer.clone()),
                    run_items::extraction_tier.eq(Some(judgment.extraction.tier.as_str())),
                    run_items::judge.eq(Some(&judgment.judge)),
                    run_items::judge_rationale.eq(judgment.rationale.as_deref()),
                    run_items::judged_at.eq(Some(judgment.at.naive_utc())),
                    run_items::finished_at.eq(Some(now)),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?;
            if changed == 0 {
                // The verdict no longer applies (the item was canceled, or taken over, while
                // its judge answered), but the judge's replies were paid for.
                written.count_judge_spend(judgment);
                return Ok(None);
            }
            written.count_judgment(outcome.sequence, judgment);
            written.judgments.push(judgment_row(
                run_id,
                sequence,
                attempt,
                judgment,
                written.round,
            ));
            Ok(Some((ItemState::Awaiting, to)))
        }
        OutcomeKind::Started => Ok(None), // applied by the caller
        OutcomeKind::Retrying { error, delay_ms } => {
            let changed = diesel::update(held!(ItemState::Running))
                .set((
                    run_items::attempt_count.eq(run_items::attempt_count + 1),
                    // The next attempt's start is known when it ends.
                    run_items::started_at.eq(None::<NaiveDateTime>),
                    run_items::error_kind.eq(Some(&error.kind)),
                    run_items::error_message.eq(Some(&error.message)),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?;
            if changed == 0 {
                return Ok(None);
            }
            written
                .attempts
                .push(ended(AttemptOutcome::Error, Some(error)));
            written.log.push(PendingLog {
                sequence: Some(outcome.sequence),
                level: LogLevel::Warn,
                message: format!(
                    "attempt {attempt} failed ({}): {}; attempt {} in {} ms",
                    error.kind,
                    error.message,
                    attempt + 1,
                    delay_ms
                ),
            });
            Ok(Some((ItemState::Running, ItemState::Running)))
        }
        OutcomeKind::Failed { error, prompt } => {
            let changed = diesel::update(held!(ItemState::Running))
                .set((
                    run_items::state.eq(ItemState::Failed.as_str()),
                    run_items::prompt_text.eq(Some(prompt)),
                    run_items::started_at.eq(Some(outcome.started_at.naive_utc())),
                    run_items::error_kind.eq(Some(&error.kind)),
                    run_items::error_message.eq(Some(&error.message)),
                    run_items::finished_at.eq(Some(now)),
                    run_items::lease_owner.eq(None::<String>),
                    run_items::updated_at.eq(now),
                ))
                .execute(conn)?;
            if changed == 0 {
                return Ok(None);
            }
            written
                .attempts
                .push(ended(AttemptOutcome::Error, Some(error)));
            written.log.push(PendingLog {
                sequence: Some(outcome.sequence),
                level: LogLevel::Error,
                message: format!(
                    "failed after attempt {attempt} ({}): {}",
                    error.kind, error.message
                ),
            });
            Ok(Some((ItemState::Running, ItemState::Failed)))
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = item_judgments, treat_none_as_default_value = false)]
pub(super) struct NewJudgmentRow {
    run_id: String,
    sequence: i32,
    attempt: i32,
    verdict: &'static str,
    extracted_answer: Option<String>,
    extraction_tier: &'static str,
    judge: String,
    rationale: Option<String>,
    created_at: NaiveDateTime,
    rejudge_round: i32,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
    reasoning_tokens: Option<i32>,
    cost_usd: Option<f64>,
}

/// The history row of `judgment`, given under the run's judging `round` (0 before any
/// re-judging, n from the n-th on).
pub(super) fn judgment_row(
    run_id: &RunId,
    sequence: i32,
    attempt: i32,
    judgment: &Judgment,
    round: i32,
) -> NewJudgmentRow {
    let usage = judgment.spent.map(|spent| spent.usage).unwrap_or_default();
    let tokens = |count: Option<u32>| count.map(|t| t.min(i32::MAX as u32) as i32);
    NewJudgmentRow {
        run_id: run_id.to_string(),
        sequence,
        attempt,
        verdict: judgment.verdict.state().as_str(),
        extracted_answer: judgment.extraction.answer.clone(),
        extraction_tier: judgment.extraction.tier.as_str(),
        judge: judgment.judge.clone(),
        rationale: judgment.rationale.clone(),
        created_at: judgment.at.naive_utc(),
        rejudge_round: round,
        prompt_tokens: tokens(usage.prompt_tokens),
        completion_tokens: tokens(usage.completion_tokens),
        reasoning_tokens: tokens(usage.reasoning_tokens),
        cost_usd: judgment.spent.and_then(|spent| spent.cost_usd),
    }
}

pub(super) fn insert_judgments(
    conn: &mut DbConnection,
    rows: &[NewJudgmentRow],
) -> Result<(), StoreError> {
    insert_rows!(conn, item_judgments::table, rows, 500);
    Ok(())
}
