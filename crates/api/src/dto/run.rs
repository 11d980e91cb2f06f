//! Runs as the API shows them: the spec's `run`, `progress`, `lifecycle` and item snapshots, and
//! the detail and page shapes built from them.

use evalboard_domain::{
    Fingerprint, ItemSnapshot, LatencySummary, Lifecycle, Progress, Run, RunHeader, RunUsage,
};
use evalboard_persistence::ActiveRun;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{RunSettingsDto, api_time};

/// Body of `POST /runs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRunRequest {
    /// A provider listed by `GET /providers`.
    #[schema(example = "Simulated", min_length = 1, max_length = 100)]
    pub provider_name: String,
    /// A dataset listed by `GET /datasets`; its newest version is used unless
    /// `datasetVersion` names another.
    #[schema(example = "evalboard-demo", min_length = 1, max_length = 100)]
    pub dataset_name: String,
    /// The dataset's version to evaluate (as a run's `dataset.version` says it): to evaluate
    /// again exactly what an earlier run did after the dataset was imported anew. Its newest
    /// when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, example = 1)]
    pub dataset_version: Option<u32>,
    /// One of the provider's models.
    #[schema(example = "sim-1", min_length = 1, max_length = 200)]
    pub model_name: String,
    /// Optional settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<RunSettingsDto>,
}

/// The spec's `run` object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDto {
    /// Run id, `run-` followed by 32 hex digits.
    #[schema(example = "run-0193a7c1e2f47d5a9c3e1b2a4f6d8e0c")]
    pub id: String,
    /// Provider, as configured.
    #[schema(example = "OpenAI")]
    pub provider_name: String,
    /// Dataset name.
    #[schema(example = "MMLU-Pro")]
    pub dataset_name: String,
    /// Model name.
    #[schema(example = "gpt-4.1")]
    pub model_name: String,
    /// `pending`, `running`, `completed`, `failed` or `canceled`.
    #[schema(example = "running")]
    pub status: String,
}

/// The spec's `progress` object: counts of the run's items.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProgressDto {
    /// Items in a terminal state (correct + incorrect + faulted).
    pub completed: u64,
    /// All items of the run.
    pub total: u64,
    /// Items judged correct.
    pub correct: u64,
    /// Items judged incorrect.
    pub incorrect: u64,
    /// Answered items that have not been judged yet.
    pub awaiting: u64,
    /// Terminal items that failed or were canceled.
    pub faulted: u64,
    /// Items not answered yet (queued or in flight).
    pub pending: u64,
}

/// The spec's `lifecycle` object, persisted so a refreshed board can be rebuilt.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleDto {
    /// How many times the run was resumed after a restart or a lost worker.
    pub resumed_count: u32,
    /// When it was last resumed.
    #[schema(format = DateTime, example = "2026-03-06T19:43:11Z", required = true)]
    pub last_resumed_at: Option<String>,
    /// When a cancel was requested.
    #[schema(format = DateTime, required = true)]
    pub cancel_requested_at: Option<String>,
}

/// An item as the board shows it (`currentItem`, `recentItems`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemSnapshotDto {
    /// 1-based position of the item in the run.
    pub sequence: u32,
    /// `pending`, `running`, `awaiting`, `correct`, `incorrect`, `failed` or `canceled`.
    pub state: String,
    /// The question put to the model.
    pub prompt_text: String,
    /// The answer options, in letter order (A, B, ...).
    pub choices: Vec<String>,
    /// Streaming preview and chunk counts while the item streams on the server asked (absent
    /// otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<super::ActivityDto>,
}

/// One snapshot of `GET /runs/active`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActiveRunDto {
    /// The run.
    pub run: RunDto,
    /// Its progress.
    pub progress: ProgressDto,
    /// Its lifecycle.
    pub lifecycle: LifecycleDto,
    /// The item most recently started among those in flight, or `null`.
    #[schema(required = true)]
    pub current_item: Option<ItemSnapshotDto>,
    /// The most recently finished items, newest first (at most 5).
    pub recent_items: Vec<ItemSnapshotDto>,
}

/// The exact dataset version a run evaluates.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRefDto {
    /// Dataset name.
    pub name: String,
    /// Version under that name.
    pub version: u32,
    /// Content digest of that version (`sha256:...`).
    pub digest: String,
}

/// `GET /runs/{run_id}`: the run with everything known about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDetailDto {
    /// The run.
    pub run: RunDto,
    /// Its progress.
    pub progress: ProgressDto,
    /// Of `progress.faulted`, the items canceled (the rest failed): a canceled run's items that
    /// were never answered, told apart from failures. (Beside `progress`, whose shape is the
    /// contract's.)
    pub canceled: u64,
    /// Its lifecycle.
    pub lifecycle: LifecycleDto,
    /// The dataset version its items come from.
    pub dataset: DatasetRefDto,
    /// The settings in force: what the request chose, and the server's choice for what it left
    /// out (concurrency, maxAttempts, shots, judge, the simulated behaviour, an Anthropic model's
    /// maxTokens). Sampling parameters without a server default stay absent.
    pub settings: RunSettingsDto,
    /// When it was created.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When it started running, or `null`.
    #[schema(format = DateTime, required = true)]
    pub started_at: Option<String>,
    /// When it last finished, or `null`.
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// When anything about it last changed.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// `true` when the provider is the offline Simulated one: the answers are not a real
    /// model's.
    pub simulated: bool,
    /// How many times the run was retried.
    pub retry_count: u32,
    /// Why the run failed as a whole; for a `canceled` run, why it was stopped when a request
    /// did not stop it (`budget_exhausted`: its budget was spent); else `null`.
    #[schema(required = true)]
    pub failure: Option<super::ErrorDto>,
    /// What it spent over every answered attempt (retried ones included).
    pub usage: RunUsageDto,
    /// How fast its items were answered: as of when it last finished, or as of now in
    /// `GET /runs/{run_id}` while it is active.
    pub latency: LatencyDto,
    /// What determines its results, with their digest; `null` for runs made before
    /// fingerprints were recorded.
    #[schema(required = true)]
    pub fingerprint: Option<FingerprintDto>,
    /// The judge of its current verdicts: `choice`, or `llm:<provider>/<model>`.
    pub judge: String,
    /// How many re-judgings of its answers were started (`POST /runs/{run_id}/rejudge`), undone
    /// ones included.
    pub rejudge_count: u32,
    /// The re-judging whose verdicts are in force (each verdict's `round`): 0 for the run's
    /// first judging, n for the n-th re-judging (the one going on, while one does). Below
    /// `rejudgeCount` when the latest re-judging was undone (canceled or failed before it
    /// finished: the run went back to the verdicts it had).
    pub judging_round: u32,
    /// Judged answers no letter could be extracted from (counted incorrect). In every view of
    /// a run (until 2026-12-06 only in `GET /runs/{run_id}`).
    pub unparsed: u64,
    /// Kept answers the provider stopped before the model finished them (each item's
    /// `cutOff` says why: `max_tokens`, the run's `maxTokens` reached, or `content_filter`);
    /// they are judged as they are, so a run with many of them measures its token limit too.
    pub answers_cut_off: u64,
    /// Verdicts the run's LLM judge did not give — it failed, or answered without a verdict,
    /// every time it was asked — so that the extraction rules gave them instead (each such
    /// item's `judge` is the rules', its `judgeRationale` says why; the run's log warns of
    /// each). 0 for a run judged by the rules. Its accuracy is partly the rules' when > 0.
    pub judge_fallbacks: u64,
}

/// Tokens and cost a run spent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunUsageDto {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens, where the provider reports them.
    pub reasoning_tokens: u64,
    /// Prompt plus generated tokens (`settings.budget.maxTokens` caps these and the judge's
    /// together).
    pub total_tokens: u64,
    /// US dollars at the prices in the provider configuration; `null` when the model has no
    /// price.
    #[schema(required = true)]
    pub cost_usd: Option<f64>,
    /// Answers served from the response cache (`settings.cache`): not sent, not paid, their
    /// tokens not counted above.
    pub cached_answers: u64,
    /// Answers whose provider did not report both token counts (one that sends usage only
    /// sometimes; every Browser Harness capture): their tokens are counted above only as far as
    /// reported, and their cost not at all, so the figures are then a part of what the run
    /// used. (0 for answers stored before 2026-12-06, which were not counted.)
    pub answers_without_usage: u64,
    /// What the LLM judge's requests spent, apart from the answers' figures above (which
    /// compare models whatever judged them); `null` when no judge spent anything reported
    /// (the rule judges never do). A budget caps the answers and the judge together.
    #[schema(required = true)]
    pub judge: Option<JudgeUsageDto>,
}

/// Tokens and cost of an LLM judge's requests over a run (replies without a verdict included).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JudgeUsageDto {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Generated tokens, reasoning included.
    pub completion_tokens: u64,
    /// Reasoning tokens, where the provider reports them.
    pub reasoning_tokens: u64,
    /// Prompt plus generated tokens.
    pub total_tokens: u64,
    /// US dollars at the judge model's price in the provider configuration; `null` without
    /// one.
    #[schema(required = true)]
    pub cost_usd: Option<f64>,
}

/// Latency percentiles (nearest rank) over the latest answer of each answered item, in
/// milliseconds; `null` without answers (or without streamed chunks, for the first token).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyDto {
    /// Median time from sending to the first streamed token.
    #[schema(required = true)]
    pub time_to_first_token_p50_ms: Option<f64>,
    /// 95th percentile of the time to the first token.
    #[schema(required = true)]
    pub time_to_first_token_p95_ms: Option<f64>,
    /// Median time from sending to the complete answer.
    #[schema(required = true)]
    pub total_p50_ms: Option<f64>,
    /// 95th percentile of the time to the complete answer.
    #[schema(required = true)]
    pub total_p95_ms: Option<f64>,
}

/// A run's reproducibility fingerprint.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FingerprintDto {
    /// `sha256:` and the SHA-256 of `inputs` as JSON: equal digests, equal setups.
    pub digest: String,
    /// What determines the results: `datasetDigest`, `selection`, `promptTemplate`, `shots`,
    /// `shotsFrom` (when not the run's dataset), `model`, `providerKind`, `providerBaseUrl`
    /// (without credentials), `generation`, `simulated`, `judge`, `evalboardVersion`, `cache`
    /// (when on).
    #[schema(value_type = Object)]
    pub inputs: serde_json::Value,
}

impl From<&RunUsage> for RunUsageDto {
    fn from(usage: &RunUsage) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            total_tokens: usage.total_tokens(),
            cost_usd: usage.cost_usd.map(summed_dollars),
            cached_answers: usage.cached_answers,
            answers_without_usage: usage.answers_without_usage,
            judge: (!usage.judge.is_nothing()).then(|| JudgeUsageDto {
                prompt_tokens: usage.judge.prompt_tokens,
                completion_tokens: usage.judge.completion_tokens,
                reasoning_tokens: usage.judge.reasoning_tokens,
                total_tokens: usage.judge.total_tokens(),
                cost_usd: usage.judge.cost_usd.map(summed_dollars),
            }),
        }
    }
}

/// A sum of items' costs to the 10⁻¹² dollar: adding them as floats leaves noise in the last
/// digits (`0.0006990000000000001` for $0.000699), which a reader takes for a real figure.
fn summed_dollars(dollars: f64) -> f64 {
    (dollars * 1e12).round() / 1e12
}

impl From<&LatencySummary> for LatencyDto {
    fn from(latency: &LatencySummary) -> Self {
        let ms = |us: Option<i64>| us.map(|us| us as f64 / 1000.0);
        Self {
            time_to_first_token_p50_ms: ms(latency.ttft_p50_us),
            time_to_first_token_p95_ms: ms(latency.ttft_p95_us),
            total_p50_ms: ms(latency.total_p50_us),
            total_p95_ms: ms(latency.total_p95_us),
        }
    }
}

impl From<&Fingerprint> for FingerprintDto {
    fn from(fingerprint: &Fingerprint) -> Self {
        Self {
            digest: fingerprint.digest(),
            inputs: serde_json::to_value(fingerprint).unwrap_or_default(),
        }
    }
}

/// A page of `GET /runs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunPageDto {
    /// Runs, in the order `sort` names (the newest first by default).
    pub runs: Vec<RunDetailDto>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// How many runs the filters select in all — on the first page; `null` on the pages a
    /// cursor continues (counted once, then paged on).
    #[schema(required = true)]
    pub total: Option<u64>,
}

impl From<&Run> for RunDto {
    fn from(run: &Run) -> Self {
        Self {
            id: run.id.to_string(),
            provider_name: run.provider_name.clone(),
            dataset_name: run.dataset_name.clone(),
            model_name: run.model_name.clone(),
            status: run.status.as_str().to_owned(),
        }
    }
}

impl From<RunHeader> for RunDto {
    fn from(run: RunHeader) -> Self {
        Self {
            id: run.id.to_string(),
            provider_name: run.provider_name,
            dataset_name: run.dataset_name,
            model_name: run.model_name,
            status: run.status.as_str().to_owned(),
        }
    }
}

impl From<Progress> for ProgressDto {
    fn from(p: Progress) -> Self {
        Self {
            completed: p.completed,
            total: p.total,
            correct: p.correct,
            incorrect: p.incorrect,
            awaiting: p.awaiting,
            faulted: p.faulted,
            pending: p.pending,
        }
    }
}

impl From<&Lifecycle> for LifecycleDto {
    fn from(l: &Lifecycle) -> Self {
        Self {
            resumed_count: l.resumed_count,
            last_resumed_at: l.last_resumed_at.map(api_time),
            cancel_requested_at: l.cancel_requested_at.map(api_time),
        }
    }
}

impl From<ItemSnapshot> for ItemSnapshotDto {
    fn from(item: ItemSnapshot) -> Self {
        Self {
            sequence: item.sequence,
            state: item.state.as_str().to_owned(),
            prompt_text: item.prompt_text,
            choices: item.choices,
            activity: None,
        }
    }
}

impl From<ActiveRun> for ActiveRunDto {
    fn from(active: ActiveRun) -> Self {
        Self {
            run: RunDto::from(&active.run),
            progress: active.run.counts.progress().into(),
            lifecycle: LifecycleDto::from(&active.run.lifecycle),
            current_item: active.current_item.map(Into::into),
            recent_items: active.recent_items.into_iter().map(Into::into).collect(),
        }
    }
}

impl RunDetailDto {
    /// The detail of `run`, alone or in a list; `simulated` says whether its provider is
    /// simulated.
    pub fn new(run: &Run, simulated: bool) -> Self {
        Self {
            run: RunDto::from(run),
            progress: run.counts.progress().into(),
            canceled: run.counts.canceled,
            lifecycle: LifecycleDto::from(&run.lifecycle),
            dataset: DatasetRefDto {
                name: run.dataset_name.clone(),
                version: run.dataset_version,
                digest: run.dataset_digest.clone(),
            },
            settings: RunSettingsDto::from(&run.settings),
            created_at: api_time(run.created_at),
            started_at: run.started_at.map(api_time),
            finished_at: run.finished_at.map(api_time),
            updated_at: api_time(run.updated_at),
            simulated,
            retry_count: run.retry_count,
            failure: run.failure.as_ref().map(|f| super::ErrorDto {
                kind: f.kind.clone(),
                message: f.message.clone(),
            }),
            unparsed: run.unparsed,
            answers_cut_off: run.cut_off,
            judge_fallbacks: run.judge_fallbacks,
            usage: RunUsageDto::from(&run.usage),
            latency: LatencyDto::from(&run.latency),
            fingerprint: run.fingerprint.as_ref().map(FingerprintDto::from),
            judge: run.settings.judge_label(),
            rejudge_count: run.rejudge_count,
            judging_round: run.judging_round,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn summed_costs_lose_the_noise_of_float_addition() {
        let noisy = 0.0001 + 0.0002;
        assert_eq!(noisy.to_string(), "0.00030000000000000003");
        assert_eq!(super::summed_dollars(noisy).to_string(), "0.0003");
        assert_eq!(super::summed_dollars(12.5), 12.5);
    }
}
