//! One claimed item, from prompt to outcome: admission at the provider, the streamed answer,
//! retries with backoff, judging, and cancellation at any await point. During a drain nothing
//! new is sent: the waits before a request end, and only requests already sent complete.

use std::{
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use chrono::Utc;
use evalboard_domain::{
    GenerationSettings, JudgeSpend, ModelPrice, RunId, RunSettings, RunUsage, Timestamp,
    TokenUsage, extract_by_rules, joined_reasoning, parse_judge_reply, render_judge_prompt,
    request_key, split_reasoning, truncate_to_micros,
};
use evalboard_persistence::{
    Answer, CachedAnswer, ClaimedItem, ItemError, Judgment, Outcome, OutcomeKind, RunGeneration,
};
use tokio_util::sync::CancellationToken;

use super::{Shared, WriterMessage, gate::ProviderGate};
use crate::providers::{Completion, CompletionRequest, ModelClient, ProviderError};

/// What every item of one run shares.
pub(crate) struct RunContext {
    pub(crate) run_id: RunId,
    pub(crate) model: String,
    /// What this run's items add to the metrics, labelled once.
    pub(crate) metrics: RunMetrics,
    pub(crate) settings: RunSettings,
    /// The provider that answers items; `None` for a re-judging whose provider cannot be used
    /// here (its answers are stored: only a judge is needed, and `failing` says why).
    pub(crate) answering: Option<Answering>,
    /// The run's retries and re-judgings when this context was made: after another, the run
    /// needs a new context (another judge, no stop), and claims of this one take nothing.
    pub(crate) generation: RunGeneration,
    pub(crate) cancel: CancellationToken,
    /// The LLM judge, when the run asks for one (else the choice judge decides at once).
    pub(crate) judge: Option<LlmJudge>,
    /// Why the run cannot proceed, once an item found out: no other item of the run is sent
    /// after it, and each item that stops for it reports it again (the writer fails the run
    /// once; a report that could not be stored is made again by the next item).
    pub(crate) failing: Mutex<Option<(String, String)>>,
    /// What the run has spent, as far as this server knows: the database's totals when last
    /// read, and the answers this server got since.
    pub(crate) spent: Mutex<RunUsage>,
    /// Set once the run stopped sending: its budget is spent. Items in flight finish; the
    /// dispatcher ends the run when none is left here.
    pub(crate) stopped: AtomicBool,
    /// The run's items this server ended failed in a row, each after its every attempt failed
    /// the way a provider down or broken fails them, with no answer between them
    /// ([`FAILED_IN_A_ROW`]); `None` since the last answer from the provider.
    pub(crate) failed_in_a_row: Mutex<Option<FailedInARow>>,
}

/// Items of a run this server ended failed in a row the way a provider down fails them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailedInARow {
    count: u32,
    /// When the first of them ended.
    since: Instant,
    /// The same, as the database's answers are timed.
    since_at: Timestamp,
}

/// How many items in a row, failed for good the way a provider that is down or broken fails
/// every request (unreachable, 5xx, timeouts, cut or garbled streams; not 429s, not an item's
/// own 4xx), with no answer between them and over at least `EngineConfig::provider_down`,
/// fail the run. Each of them was already tried `max_attempts` times; without this a provider
/// down for good took every item of the run through its attempts and backoffs (hours for
/// MMLU-Pro's 12,032 items), and the run ended "completed" with nothing evaluated. Failed, it
/// keeps its unanswered items for a retry. The time keeps a short outage (a provider's restart)
/// from failing the whole run: that fails only the items it met, as before.
pub(crate) const FAILED_IN_A_ROW: u32 = 10;

/// How a run's items are answered: the provider's client and gate, and its retry rules.
pub(crate) struct Answering {
    pub(crate) client: Arc<dyn ModelClient>,
    pub(crate) gate: Arc<ProviderGate>,
    /// The model's price, when configured: each answer's cost.
    pub(crate) price: Option<ModelPrice>,
    pub(crate) max_attempts: u32,
    /// When an item stops waiting for a provider that keeps answering 429.
    pub(crate) throttling: Throttling,
}

impl RunContext {
    /// An outcome of attempt `attempt` of item `sequence` of this run, begun at `started_at`.
    fn outcome(
        &self,
        sequence: u32,
        attempt: u32,
        started_at: Timestamp,
        kind: OutcomeKind,
    ) -> Outcome {
        Outcome {
            run_id: self.run_id.clone(),
            sequence,
            attempt,
            started_at,
            kind,
        }
    }

    fn failing(&self) -> MutexGuard<'_, Option<(String, String)>> {
        self.failing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn failed_in_a_row(&self) -> MutexGuard<'_, Option<FailedInARow>> {
        self.failed_in_a_row
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spent(&self) -> MutexGuard<'_, RunUsage> {
        self.spent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes in the run's totals as the database has them (other servers' answers included).
    pub(crate) fn observe_spent(&self, stored: &RunUsage) {
        let mut spent = self.spent();
        *spent = spent.max(stored);
    }

    /// Whether the run sends no more items (its budget is spent).
    pub(crate) fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Stops sending items; `true` the first time.
    pub(crate) fn stop(&self) -> bool {
        !self.stopped.swap(true, Ordering::AcqRel)
    }

    /// Why no more items may be sent, when the run's budget is spent.
    fn budget_spent(&self) -> Option<String> {
        let budget = self.settings.budget.as_ref()?;
        budget.exhausted_by(&self.spent())
    }
}

/// A model asked to judge answers.
pub(crate) struct LlmJudge {
    /// `llm:<provider>/<model>`, stored with each verdict.
    pub(crate) label: String,
    pub(crate) model: String,
    pub(crate) client: Arc<dyn ModelClient>,
    pub(crate) gate: Arc<ProviderGate>,
    /// The judge model's price, when configured: what its requests cost.
    pub(crate) price: Option<ModelPrice>,
    /// Replies without a verdict and errors worth retrying it may give (429s aside).
    pub(crate) max_attempts: u32,
    /// When a judgment stops waiting for a judge that keeps answering 429.
    pub(crate) throttling: Throttling,
    /// Set once the judge refused the temperature it is asked at (OpenAI's reasoning models
    /// accept only their own): its later requests for the run send none.
    pub(crate) without_temperature: AtomicBool,
}

impl LlmJudge {
    /// What a judge request asks for: temperature 0, for verdicts that do not vary from one
    /// request to the next, unless the judge refused it.
    fn generation(&self) -> GenerationSettings {
        GenerationSettings {
            temperature: (!self.without_temperature.load(Ordering::Relaxed)).then_some(0.0),
            ..Default::default()
        }
    }
}

/// Whether the provider refused the request because of its temperature: a 400 whose message
/// names it ("Unsupported value: 'temperature' does not support 0 with this model").
fn refuses_temperature(error: &ProviderError) -> bool {
    matches!(error, ProviderError::Rejected { status: 400, message }
        if message.to_ascii_lowercase().contains("temperature"))
}

fn backoff(shared: &Shared) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(shared.config.retry_base_delay)
        .with_max_delay(Duration::from_secs(30))
        .with_jitter()
        .without_max_times()
        .build()
}

/// How long an item waits through 429 answers, per dispatch. They do not use up `maxAttempts`
/// (the provider is busy, not failing), but a provider that never lets through must not hold an
/// item forever: it gives up at the `max_attempts`-th 429, or when waiting again would take it
/// past `max_wait` since its first one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttling {
    pub(crate) max_attempts: u32,
    pub(crate) max_wait: Duration,
}

impl Throttling {
    /// The throttling limits a provider is configured with.
    pub(crate) fn of(limits: &crate::providers::ProviderLimitsConfig) -> Self {
        Self {
            max_attempts: limits.max_throttled_attempts,
            max_wait: limits.max_throttled,
        }
    }
}

/// The 429s one dispatch of an item has met.
#[derive(Default)]
struct Throttled {
    count: u32,
    since: Option<tokio::time::Instant>,
}

impl Throttled {
    /// Counts a 429; says whether to try again after `delay`, or why not.
    fn another(&mut self, limits: Throttling, delay: Duration) -> Result<(), String> {
        self.count += 1;
        let since = *self.since.get_or_insert_with(tokio::time::Instant::now);
        if self.count >= limits.max_attempts {
            return Err(format!("gave up after {} throttled attempts", self.count));
        }
        let waited = since.elapsed();
        if waited + delay > limits.max_wait {
            return Err(format!(
                "gave up after {} s of throttling ({} throttled attempts)",
                waited.as_secs(),
                self.count
            ));
        }
        Ok(())
    }
}

/// Works one item until it has an outcome, the run is canceled, or the engine stops. Returns
/// whether it settled the item (reported its verdict or its failure): an item left unsettled
/// by a stopping engine is given back.
pub(crate) async fn work(shared: Arc<Shared>, run: Arc<RunContext>, item: ClaimedItem) -> bool {
    let sequence = item.sequence;
    if let Some(answer) = &item.answer {
        // Answered before; its judge went away, or a re-judging queued it: only the verdict is
        // left.
        let judged = judge(&shared, &run, &item, answer).await;
        let settled = judged.is_some();
        if let Some(judgment) = judged {
            let counted = run.metrics.finished(judgment.verdict.state().as_str());
            shared.send(WriterMessage::Finishing {
                outcome: Outcome {
                    run_id: run.run_id.clone(),
                    sequence,
                    attempt: item.attempt,
                    started_at: truncate_to_micros(Utc::now()),
                    kind: OutcomeKind::Judged(judgment),
                },
                counted,
            });
        }
        return settled;
    }
    let Some(answering) = &run.answering else {
        // Only answers were to be judged, but this item has none: it cannot be worked here.
        report_failing(&shared, &run);
        return false;
    };
    let mut settled = false;
    // The dataset item's id, not the run's: the same seed gives the same answers in every run.
    let item_key = item.item.id.clone();
    let mut attempt = item.attempt;
    // This claim's budget: attempts that failed other than by rate limiting, and 429s.
    let mut failures = 0u32;
    let mut throttled = Throttled::default();
    let mut delays = backoff(&shared);
    let estimated_tokens =
        (item.prompt.len() / 4) as u32 + run.settings.generation.max_tokens.unwrap_or(1024);
    // Every answer is stored with its request's key, so that a later run can be served it.
    let request_key = request_key(
        // The metrics' provider label is the run's provider name.
        &run.metrics.provider,
        &run.model,
        &item.prompt,
        &run.settings.generation,
        run.settings.simulated.as_ref(),
    );
    if run.settings.cache == Some(true)
        && let Some(hit) = cached(&shared, &request_key).await
    {
        let started_at = truncate_to_micros(Utc::now());
        shared.send(WriterMessage::Outcome(run.outcome(
            sequence,
            attempt,
            started_at,
            OutcomeKind::Started,
        )));
        let answer = Answered {
            completion: Completion {
                text: hit.response_text,
                reasoning: hit.reasoning_text.unwrap_or_default(),
                first_token_at: None,
                usage: Default::default(),
                cut_off: hit.cut_off,
            },
            started_at,
            // Not sent, not paid: nothing, where the model has a price (so that a run answered
            // wholly from the cache costs $0, not "no price").
            cost_usd: answering.price.map(|_| 0.0),
            request_key: request_key.clone(),
            cached: true,
        };
        return record_answer(&shared, &run, &item, attempt, answer).await;
    }
    loop {
        let admitted = answering.gate.admit(estimated_tokens);
        let Some(slot) = before_sending(&shared, &run, admitted).await else {
            break;
        };
        if report_failing(&shared, &run) || run.stopped() {
            break;
        }
        if let Some(reason) = run.budget_spent() {
            // Nothing more is sent; the item stays claimed until the run ends `canceled`.
            if run.stop() {
                shared.send(WriterMessage::StopForBudget {
                    run_id: run.run_id.clone(),
                    reason,
                });
            }
            break;
        }
        shared.activity.start(&run.run_id, sequence, attempt);
        let started_at = truncate_to_micros(Utc::now());
        let outcome = |kind| run.outcome(sequence, attempt, started_at, kind);
        shared.send(WriterMessage::Outcome(outcome(OutcomeKind::Started)));
        let request = CompletionRequest {
            model: &run.model,
            prompt: &item.prompt,
            generation: &run.settings.generation,
            attempt,
            item_key: &item_key,
            expected: (&item.item.answer, item.item.choices.len()),
            simulated: run.settings.simulated.as_ref(),
            judging: None,
        };
        let activity = &shared.activity;
        let run_id = &run.run_id;
        let mut on_chunk = |text: &str| activity.chunk(run_id, sequence, text);
        let completion = answering.client.complete(request, &mut on_chunk);
        let Some(result) = cancellable(&run.cancel, completion).await else {
            break;
        };
        drop(slot);
        match result {
            Ok(completion) => {
                answering.gate.succeeded();
                *run.failed_in_a_row() = None;
                let cost_usd = answering
                    .price
                    .and_then(|price| price.cost(&completion.usage));
                let answer = Answered {
                    completion,
                    started_at,
                    cost_usd,
                    request_key: request_key.clone(),
                    cached: false,
                };
                settled = record_answer(&shared, &run, &item, attempt, answer).await;
                break;
            }
            Err(error) if error.is_fatal_for_run() => {
                fail_run(&shared, &run, error.kind().to_owned(), error.to_string());
                break;
            }
            Err(error) => {
                let mut item_error = ItemError {
                    kind: error.kind().to_owned(),
                    message: error.to_string(),
                };
                if matches!(error, ProviderError::RateLimited { .. }) {
                    run.metrics.rate_limited.increment(1);
                }
                let next = next_try(
                    &error,
                    &mut delays,
                    &mut throttled,
                    &mut failures,
                    (
                        &answering.gate,
                        answering.throttling,
                        answering.max_attempts,
                    ),
                );
                let delay = match next {
                    Ok(delay) => delay,
                    Err(why) => {
                        if let Some(why) = why {
                            item_error.message = format!("{}; {why}", item_error.message);
                        }
                        settled = true;
                        let message = item_error.message.clone();
                        shared.send(WriterMessage::Finishing {
                            outcome: outcome(OutcomeKind::Failed {
                                error: item_error,
                                prompt: item.prompt.clone(),
                            }),
                            counted: run.metrics.finished("failed"),
                        });
                        if error.says_the_provider_is_down()
                            && let Some(why) =
                                provider_down(&shared, &run, answering.max_attempts, &message).await
                        {
                            fail_run(&shared, &run, error.kind().to_owned(), why);
                        }
                        break;
                    }
                };
                metrics::counter!(
                    "evalboard_provider_retries_total",
                    "provider" => run.metrics.provider.clone(),
                    "kind" => item_error.kind.clone()
                )
                .increment(1);
                shared.send(WriterMessage::Outcome(outcome(OutcomeKind::Retrying {
                    error: item_error,
                    delay_ms: delay.as_millis() as u64,
                })));
                attempt += 1;
                shared.activity.finish(&run.run_id, sequence);
                if before_sending(&shared, &run, tokio::time::sleep(delay))
                    .await
                    .is_none()
                {
                    break;
                }
            }
        }
    }
    shared.activity.finish(&run.run_id, sequence);
    settled
}

/// An answer to record: from the provider, or from the response cache.
struct Answered {
    completion: Completion,
    started_at: Timestamp,
    cost_usd: Option<f64>,
    request_key: String,
    cached: bool,
}

/// The answer stored for the same request by any run, when the database has one (a lookup
/// that fails is a miss: the provider is asked).
async fn cached(shared: &Shared, key: &str) -> Option<CachedAnswer> {
    let key = key.to_owned();
    match shared.db.blocking(move |db| db.cached_answer(&key)).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "cannot read the response cache; asking the provider");
            None
        }
    }
}

/// Records an answer: spent usage, the rule judge's verdict at once (in the same write), or an
/// LLM judge's after the answer is stored. Returns whether the item was settled.
async fn record_answer(
    shared: &Shared,
    run: &RunContext,
    item: &ClaimedItem,
    attempt: u32,
    answered: Answered,
) -> bool {
    let Answered {
        completion,
        started_at,
        cost_usd,
        request_key,
        cached,
    } = answered;
    let sequence = item.sequence;
    let answered_at = truncate_to_micros(Utc::now());
    // An answer from the cache was not a provider request: no request time, no tokens.
    if cached {
        run.spent().add_cached(cost_usd);
    } else {
        run.metrics
            .answered(started_at, completion.first_token_at, answered_at);
        run.spent().add(&completion.usage, cost_usd);
    }
    // Reasoning (sent apart, or as `<think>` text) is kept beside the answer and never judged:
    // a letter mentioned while thinking is not the answer.
    let (thought, answer_text) = split_reasoning(&completion.text);
    let reasoning_text = joined_reasoning(&completion.reasoning, thought);
    let answer_text = answer_text.to_owned();
    // The rule judge decides at once, in the same write as the answer; an LLM judge decides
    // after the answer is stored, the item `awaiting` meanwhile.
    let judgment = run
        .judge
        .is_none()
        .then(|| rule_judgment(&answer_text, item, None));
    let deferred = judgment.is_none().then(|| answer_text.clone());
    let answer = Answer {
        prompt: item.prompt.clone(),
        response_text: answer_text,
        reasoning_text,
        cut_off: completion.cut_off,
        request_key: Some(request_key),
        cached,
        first_token_at: completion.first_token_at,
        answered_at,
        usage: completion.usage,
        cost_usd,
    };
    let counted = judgment
        .as_ref()
        .map(|judgment| run.metrics.finished(judgment.verdict.state().as_str()));
    let mut settled = counted.is_some();
    let outcome = |kind| run.outcome(sequence, attempt, started_at, kind);
    let answered = outcome(OutcomeKind::Answered { answer, judgment });
    shared.send(match counted {
        Some(counted) => WriterMessage::Finishing {
            outcome: answered,
            counted,
        },
        None => WriterMessage::Outcome(answered),
    });
    if let Some(text) = deferred {
        shared.activity.finish(&run.run_id, sequence);
        if let Some(judgment) = judge(shared, run, item, &text).await {
            settled = true;
            shared.send(WriterMessage::Finishing {
                counted: run.metrics.finished(judgment.verdict.state().as_str()),
                outcome: outcome(OutcomeKind::Judged(judgment)),
            });
        }
    }
    settled
}

/// Counts an item of `run` that failed for good (after `max_attempts`, the last with `last`)
/// the way a provider down fails them. The run's failure, when [`FAILED_IN_A_ROW`] of them in a
/// row span at least `EngineConfig::provider_down` and no server stored an answer that arrived
/// meanwhile: a replica whose own way to the provider is broken (its DNS, its proxy) leaves the
/// run to the others, whose answers keep it going, instead of failing it for all of them.
async fn provider_down(
    shared: &Shared,
    run: &RunContext,
    max_attempts: u32,
    last: &str,
) -> Option<String> {
    let streak = {
        let mut streak = run.failed_in_a_row();
        let streak = streak.get_or_insert_with(|| FailedInARow {
            count: 0,
            since: Instant::now(),
            since_at: Utc::now(),
        });
        streak.count += 1;
        *streak
    };
    if streak.count < FAILED_IN_A_ROW || streak.since.elapsed() < shared.config.provider_down {
        return None;
    }
    let run_id = run.run_id.clone();
    let Ok(latest) = shared
        .db
        .blocking(move |db| db.last_answer_at(&run_id))
        .await
    else {
        // Not known: not failed on a guess; the next item looks again.
        return None;
    };
    // (By when answers arrived, not when they were stored: this server's last answer before
    // the streak may be stored after it began, within the writer's commit window.)
    if latest.is_some_and(|at| at > streak.since_at) {
        // Answered elsewhere meanwhile: the provider answers, not here. Counted afresh.
        *run.failed_in_a_row() = None;
        return None;
    }
    Some(format!(
        "{} items in a row failed over {} s, each after {max_attempts} attempt(s), and no \
         answer of the run arrived meanwhile: the provider looks down or broken (the last: \
         {last}); a retry of the run sends its unanswered items again",
        streak.count,
        streak.since.elapsed().as_secs()
    ))
}

/// The run cannot proceed: no other item of it is sent after this one, and the writer fails it.
fn fail_run(shared: &Shared, run: &RunContext, kind: String, message: String) {
    *run.failing() = Some((kind, message));
    report_failing(shared, run);
}

/// When the run is failing, reports it again (the writer fails the run once) and says so: the
/// item must not be sent.
fn report_failing(shared: &Shared, run: &RunContext) -> bool {
    let failing = run.failing().clone();
    let Some((kind, message)) = failing else {
        return false;
    };
    // Nothing more is sent; the run's items end `failed` with the reason.
    shared.send(WriterMessage::FailRun {
        run_id: run.run_id.clone(),
        generation: run.generation,
        kind,
        message,
    });
    true
}

/// Judges with the extraction rules of the item's kind.
fn rule_judgment(response: &str, item: &ClaimedItem, rationale: Option<String>) -> Judgment {
    let at = truncate_to_micros(Utc::now());
    Judgment {
        rationale,
        ..crate::judge::rule_judgment(response, &item.item, at)
    }
}

/// Counts what one reply of the LLM judge used: into the judgment's spending, and at once into
/// the run's (so that its budget stops new items as soon as the judge used it up).
fn count_judge_reply(
    run: &RunContext,
    judge: &LlmJudge,
    spent: &mut Option<JudgeSpend>,
    usage: &TokenUsage,
) {
    let cost_usd = judge.price.and_then(|price| price.cost(usage));
    run.spent().judge.add(usage, cost_usd);
    spent.get_or_insert_default().add(usage, cost_usd);
}

/// Asks the run's LLM judge for a verdict on `response`, with retries; when it gives none, falls
/// back to the choice judge and says so in the rationale. `None` when the run is canceled,
/// when a drain began before the judge was asked (another worker judges the stored answer), or
/// when the judge cannot be used at all (its key refused, its model unknown: the run fails).
async fn judge(
    shared: &Shared,
    run: &RunContext,
    item: &ClaimedItem,
    response: &str,
) -> Option<Judgment> {
    let mut spent = None;
    let judged = judge_spending(shared, run, item, response, &mut spent).await;
    // Replies paid for by a judgment that never came (the run canceled or failing, the server
    // stopping, before the judge's next try) are the run's spending all the same.
    if judged.is_none()
        && let Some(spend) = spent
    {
        shared.send(WriterMessage::JudgeSpent {
            run_id: run.run_id.clone(),
            spend,
        });
    }
    judged
}

/// [`judge`], counting in `spent` what the judge's replies used as they come.
async fn judge_spending(
    shared: &Shared,
    run: &RunContext,
    item: &ClaimedItem,
    response: &str,
    spent: &mut Option<JudgeSpend>,
) -> Option<Judgment> {
    let Some(judge) = &run.judge else {
        return Some(rule_judgment(response, item, None));
    };
    let prompt = render_judge_prompt(&item.item, response);
    let key = format!("{}#judge", item.item.id);
    let mut delays = backoff(shared);
    let mut failure = String::from("no reply");
    // As for answers: a 429 spends no attempt, and the judge's provider is paused for every
    // request until its Retry-After has passed; only the throttling limits end the wait.
    let mut throttled = Throttled::default();
    let mut failures = 0;
    let mut attempt = 0;
    // Every reply is paid for, a reply without a verdict too.
    while failures < judge.max_attempts {
        attempt += 1;
        let admitted = judge.gate.admit((prompt.len() / 4) as u32 + 512);
        let slot = before_sending(shared, run, admitted).await?;
        // The run is failing (its judge refused, say): no more requests for it.
        if report_failing(shared, run) {
            return None;
        }
        let generation = judge.generation();
        let request = CompletionRequest {
            model: &judge.model,
            prompt: &prompt,
            generation: &generation,
            attempt,
            item_key: &key,
            expected: (&item.item.answer, item.item.choices.len()),
            simulated: None,
            judging: Some(response),
        };
        let reply = cancellable(&run.cancel, judge.client.complete(request, &mut |_| {})).await?;
        drop(slot);
        if reply.is_ok() {
            judge.gate.succeeded();
        }
        match reply {
            // A reasoning judge's thinking (`<think>` text) is neither its verdict nor the
            // rationale shown with it.
            Ok(reply) => {
                count_judge_reply(run, judge, spent, &reply.usage);
                match parse_judge_reply(split_reasoning(&reply.text).1) {
                    Some((verdict, rationale)) => {
                        return Some(Judgment {
                            verdict,
                            extraction: extract_by_rules(&item.item, response),
                            judge: judge.label.clone(),
                            rationale: Some(rationale),
                            at: truncate_to_micros(Utc::now()),
                            spent: spent.take(),
                        });
                    }
                    None => {
                        failure = no_verdict(split_reasoning(&reply.text).1);
                        failures += 1;
                    }
                }
            }
            Err(error) if generation.temperature.is_some() && refuses_temperature(&error) => {
                // Asked again at once, without a temperature, and so are the run's other
                // judgments: the refusal is the model's, not this answer's, and spends no attempt.
                judge.without_temperature.store(true, Ordering::Relaxed);
            }
            Err(error) if error.is_fatal_for_run() => {
                // The judge cannot be used at all (its key refused, its model gone): judging
                // every answer by extraction instead would pass the rule's verdicts off as the
                // judge's. The run fails as when its own provider does; the answers are kept,
                // waiting for a verdict, and a re-judging takes them.
                fail_run(
                    shared,
                    run,
                    error.kind().to_owned(),
                    format!("the LLM judge {}: {error}", judge.label),
                );
                return None;
            }
            Err(error) => {
                failure = error.to_string();
                let next = next_try(
                    &error,
                    &mut delays,
                    &mut throttled,
                    &mut failures,
                    (&judge.gate, judge.throttling, judge.max_attempts),
                );
                match next {
                    Ok(delay) => before_sending(shared, run, tokio::time::sleep(delay)).await?,
                    Err(why) => {
                        if let Some(why) = why {
                            failure = format!("{failure}; {why}");
                        }
                        break;
                    }
                }
            }
        }
    }
    Some(Judgment {
        spent: spent.take(),
        ..rule_judgment(
            response,
            item,
            Some(format!(
                "the LLM judge {} gave no verdict ({failure}); judged by extraction",
                judge.label
            )),
        )
    })
}

/// Why a judge's reply gave no verdict, with the reply's last line (where the verdict line
/// belongs), so that the rationale shows what the judge said instead.
fn no_verdict(reply: &str) -> String {
    /// The most of the last line quoted, in characters.
    const QUOTED: usize = 200;
    match reply
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
    {
        None => "its reply was empty".to_owned(),
        Some(line) if line.chars().count() > QUOTED => format!(
            "its reply has no VERDICT line; it ended: \"{}…\"",
            line.chars().take(QUOTED).collect::<String>()
        ),
        Some(line) => format!("its reply has no VERDICT line; it ended: \"{line}\""),
    }
}

/// After a request that failed with `error` (not fatal to the run): the wait before the next
/// try — the usual jittered backoff, never less than the provider asked for, so that a
/// `Retry-After: 0` does not make it hammer the provider — or `Err` when no try is left (with
/// why, when the throttling limits ended it). A 429 spends no attempt and pauses every request
/// to the provider (`gate`) until its Retry-After has passed; another error spends one of
/// `max_attempts`.
fn next_try(
    error: &ProviderError,
    delays: &mut ExponentialBackoff,
    throttled: &mut Throttled,
    failures: &mut u32,
    (gate, throttling, max_attempts): (&ProviderGate, Throttling, u32),
) -> Result<Duration, Option<String>> {
    let delay = delays
        .next()
        .unwrap_or(Duration::from_secs(30))
        .max(error.retry_after().unwrap_or_default());
    if matches!(error, ProviderError::RateLimited { .. }) {
        gate.rate_limited(error.retry_after());
        return throttled
            .another(throttling, delay)
            .map(|()| delay)
            .map_err(Some);
    }
    *failures += 1;
    if error.is_retryable() && *failures < max_attempts {
        Ok(delay)
    } else {
        Err(None)
    }
}

/// Runs `future`, a wait before a request is sent, once this engine's claims are known to be
/// kept ([`Shared::claims_kept`]), unless the run is canceled or a drain begins first (then
/// `None`: nothing new is sent during a drain).
async fn before_sending<T>(
    shared: &Shared,
    run: &RunContext,
    future: impl Future<Output = T>,
) -> Option<T> {
    // Claims first: a request sent while they may run out can be answered for nothing. And
    // again once admitted, which may have waited long (for a slot, a `Retry-After`, the rate):
    // the database may have gone meanwhile.
    let ready = async {
        shared.claims_kept().await;
        let admitted = future.await;
        shared.claims_kept().await;
        admitted
    };
    tokio::select! {
        biased;
        () = run.cancel.cancelled() => None,
        () = shared.draining.cancelled() => None,
        value = ready => Some(value),
    }
}

/// Runs `future` unless `cancel` fires first (then `None`, and the future is dropped, which
/// aborts an HTTP request in flight).
async fn cancellable<T>(cancel: &CancellationToken, future: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        biased;
        () = cancel.cancelled() => None,
        value = future => Some(value),
    }
}

/// What one run's items add to the metrics: handles labelled once, when its context is made
/// (the recorder must be installed before the engine starts).
pub(crate) struct RunMetrics {
    /// The provider's name, for the few series labelled per event (retries, by kind).
    provider: String,
    correct: metrics::Counter,
    incorrect: metrics::Counter,
    failed: metrics::Counter,
    rate_limited: metrics::Counter,
    request_seconds: metrics::Histogram,
    first_token_seconds: metrics::Histogram,
}

/// Items this server finished with `outcome` (`correct`, `incorrect`, `failed`), by provider
/// and model: counted by the workers, and by the writer for a run failed as a whole.
pub(crate) fn items_finished(
    provider: &str,
    model: &str,
    outcome: &'static str,
) -> metrics::Counter {
    metrics::counter!(
        "evalboard_items_finished_total",
        "provider" => provider.to_owned(),
        "model" => model.to_owned(),
        "outcome" => outcome
    )
}

impl RunMetrics {
    pub(crate) fn new(provider: &str, model: &str) -> Self {
        let finished = |outcome| items_finished(provider, model, outcome);
        Self {
            provider: provider.to_owned(),
            correct: finished("correct"),
            incorrect: finished("incorrect"),
            failed: finished("failed"),
            rate_limited: metrics::counter!(
                "evalboard_provider_rate_limited_total",
                "provider" => provider.to_owned()
            ),
            request_seconds: metrics::histogram!(
                "evalboard_provider_request_seconds",
                "provider" => provider.to_owned()
            ),
            first_token_seconds: metrics::histogram!(
                "evalboard_provider_time_to_first_token_seconds",
                "provider" => provider.to_owned()
            ),
        }
    }

    /// The counter of items this engine finished with `outcome` (`correct`, `incorrect` or
    /// `failed`), which the writer increments once the outcome is stored
    /// ([`WriterMessage::Finishing`]).
    fn finished(&self, outcome: &str) -> metrics::Counter {
        match outcome {
            "correct" => &self.correct,
            "incorrect" => &self.incorrect,
            _ => &self.failed,
        }
        .clone()
    }

    /// Records how long the provider took to its first token and to the whole answer.
    fn answered(&self, started_at: Timestamp, first_token_at: Option<Timestamp>, at: Timestamp) {
        let seconds = |to: Timestamp| (to - started_at).to_std().unwrap_or_default().as_secs_f64();
        self.request_seconds.record(seconds(at));
        if let Some(first) = first_token_at {
            self.first_token_seconds.record(seconds(first));
        }
    }
}
