//! Items of a run on the wire: streaming activity, full drill-down detail, groups and pages.

use std::collections::BTreeMap;

use evalboard_domain::TokenUsage;
use evalboard_persistence::{AttemptRecord, ItemDetail, ItemGroup, JudgmentRecord};
use evalboard_runner::Activity;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{api_time, api_time_millis};

/// What an item in flight is streaming right now (`currentItem.activity`). Kept in memory by the
/// server working on the item; absent when the item is not streaming there.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityDto {
    /// The attempt streaming.
    pub attempt: u32,
    /// The last characters received (at most 160).
    pub preview: String,
    /// Chunks received so far.
    pub chunk_count: u64,
    /// Characters received so far.
    pub received_chars: u64,
    /// When the first chunk arrived (with milliseconds).
    #[schema(format = DateTime, required = true)]
    pub first_chunk_at: Option<String>,
    /// When the latest chunk arrived (with milliseconds).
    #[schema(format = DateTime, required = true)]
    pub last_chunk_at: Option<String>,
}

impl From<Activity> for ActivityDto {
    fn from(a: Activity) -> Self {
        Self {
            attempt: a.attempt,
            preview: a.preview,
            chunk_count: a.chunk_count,
            received_chars: a.received_chars,
            first_chunk_at: a.first_chunk_at.map(api_time_millis),
            last_chunk_at: a.last_chunk_at.map(api_time_millis),
        }
    }
}

/// One attempt at an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptDto {
    /// 1-based attempt number.
    pub attempt: u32,
    /// `answered`, `error`, `canceled`, `lost` (its worker went away), `released` (its worker
    /// stopped and gave the item back), or `null` in flight.
    #[schema(required = true)]
    pub outcome: Option<String>,
    /// The error, for a failed attempt.
    #[schema(required = true)]
    pub error: Option<ErrorDto>,
    /// When it was sent.
    #[schema(format = DateTime)]
    pub started_at: String,
    /// When its first chunk arrived.
    #[schema(format = DateTime, required = true)]
    pub first_token_at: Option<String>,
    /// When it ended.
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// Milliseconds from sending to the end.
    #[schema(required = true)]
    pub latency_ms: Option<i64>,
    /// Tokens and cost of its answer, when it was answered.
    pub usage: UsageDto,
    /// What the Browser Harness noted of the page the answer was captured on (`url`, `title`,
    /// ... as the capture's `page` gave them); `null` for an attempt sent by the server, or a
    /// capture without one.
    #[schema(required = true)]
    pub page: Option<BTreeMap<String, String>>,
}

/// An error kind and message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDto {
    /// `rate_limited`, `server_error`, `timeout`, `stream_cut`, `malformed`, `network`,
    /// `unauthorized`, `not_found`, `rejected`, `not_configured`, ...
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// One verdict given on an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictDto {
    /// The attempt judged.
    pub attempt: u32,
    /// `correct` or `incorrect`.
    pub verdict: String,
    /// The answer extracted (a letter, or a number), if any.
    #[schema(required = true)]
    pub extracted_answer: Option<String>,
    /// `answer_is`, `answer_label` (both kinds of item), `last_letter` (multiple choice),
    /// `final_mark`, `boxed`, `last_number` (numeric) or `unparsed`.
    pub extraction_tier: String,
    /// `choice`, or `llm:<provider>/<model>`.
    pub judge: String,
    /// The judge's reasons, if given.
    #[schema(required = true)]
    pub rationale: Option<String>,
    /// When.
    #[schema(format = DateTime)]
    pub judged_at: String,
    /// The judging it belongs to: 0 for the run's first, n for its n-th re-judging (`POST
    /// /runs/{run_id}/rejudge`); answers of a later retry are judged in the round in force (the
    /// run's `judgingRound`).
    pub round: u32,
    /// Given by a re-judging that was canceled or failed before it finished: the run went back
    /// to the verdicts it had, so this one is not in force.
    pub undone: bool,
    /// What the LLM judge's requests for it used and cost (replies without a verdict
    /// included, so a verdict the rules gave after the judge gave none has it too); `null` when
    /// nothing was reported, as for the rule judges' verdicts.
    #[schema(required = true)]
    pub usage: Option<UsageDto>,
}

/// When things happened to an item (latest attempt).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimingsDto {
    /// Created, or reopened by a retry; for a Browser Harness capture, when its pack was
    /// issued.
    #[schema(format = DateTime, required = true)]
    pub queued_at: Option<String>,
    /// Latest attempt sent.
    #[schema(format = DateTime, required = true)]
    pub started_at: Option<String>,
    /// First streamed chunk.
    #[schema(format = DateTime, required = true)]
    pub first_token_at: Option<String>,
    /// Answer complete.
    #[schema(format = DateTime, required = true)]
    pub answered_at: Option<String>,
    /// Verdict given.
    #[schema(format = DateTime, required = true)]
    pub judged_at: Option<String>,
    /// Terminal state reached.
    #[schema(format = DateTime, required = true)]
    pub finished_at: Option<String>,
    /// Milliseconds from sending the latest attempt to its complete answer.
    #[schema(required = true)]
    pub latency_ms: Option<i64>,
    /// Milliseconds from sending to the first chunk.
    #[schema(required = true)]
    pub time_to_first_token_ms: Option<i64>,
}

/// Tokens of an answer, as the provider reported them (`null`: not reported), and its cost.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDto {
    /// Prompt tokens.
    #[schema(required = true)]
    pub prompt_tokens: Option<u32>,
    /// Generated tokens, reasoning included.
    #[schema(required = true)]
    pub completion_tokens: Option<u32>,
    /// Of those, tokens spent reasoning, where the provider says.
    #[schema(required = true)]
    pub reasoning_tokens: Option<u32>,
    /// US dollars at the model's price in the provider configuration; `null` without a price
    /// or reported usage.
    #[schema(required = true)]
    pub cost_usd: Option<f64>,
}

impl UsageDto {
    fn new(usage: TokenUsage, cost_usd: Option<f64>) -> Self {
        Self {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cost_usd,
        }
    }
}

/// Everything recorded about one item of a run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemDetailDto {
    /// 1-based position in the run.
    pub sequence: u32,
    /// The dataset item's id (MMLU-Pro `question_id`).
    pub dataset_item_id: String,
    /// Its category.
    pub category: String,
    /// `pending`, `running`, `awaiting`, `correct`, `incorrect`, `failed` or `canceled`.
    pub state: String,
    /// The question.
    pub question: String,
    /// The question, as `currentItem.promptText` of `GET /runs/active` shows it (the contract's
    /// meaning of `promptText`); the text sent to the model is `renderedPrompt`.
    pub prompt_text: String,
    /// The whole prompt sent to the model — instruction, worked examples, question, options —
    /// from the moment the item is first claimed; `null` before.
    #[schema(required = true)]
    pub rendered_prompt: Option<String>,
    /// The options, in letter order.
    pub choices: Vec<String>,
    /// The key's letter, or, for a numeric item (no `choices`), the number.
    pub expected_answer: String,
    /// The model's latest answer, without its reasoning.
    #[schema(required = true)]
    pub response_text: Option<String>,
    /// What the model reasoned apart from that answer (thinking blocks, reasoning deltas,
    /// `<think>` text), if anything: never read by the extraction rules.
    #[schema(required = true)]
    pub reasoning_text: Option<String>,
    /// Why the provider stopped that answer before the model finished it: `max_tokens` (the
    /// token limit) or `content_filter`; `null` for an answer the model ended. A cut-off answer
    /// is judged as any other; what it gives as its answer may be a word of its reasoning.
    #[schema(required = true, value_type = Option<String>, example = "max_tokens")]
    pub cut_off: Option<&'static str>,
    /// The answer extracted from it (a letter, or a number), once judged.
    #[schema(required = true)]
    pub extracted_answer: Option<String>,
    /// Which extraction rule matched: `answer_is`, `answer_label` (both kinds of item),
    /// `last_letter` (multiple choice), `final_mark`, `boxed`, `last_number` (numeric) or
    /// `unparsed`.
    #[schema(required = true)]
    pub extraction_tier: Option<String>,
    /// `correct` or `incorrect` once judged.
    #[schema(required = true)]
    pub verdict: Option<String>,
    /// Which judge decided.
    #[schema(required = true)]
    pub judge: Option<String>,
    /// The judge's reasons, if given.
    #[schema(required = true)]
    pub judge_rationale: Option<String>,
    /// Every verdict given, oldest first (a retry of a judged item adds one).
    pub verdicts: Vec<VerdictDto>,
    /// Why the item ended `failed` (or the last error before it was `canceled`); `null` for
    /// every other state, even when an earlier attempt failed — each attempt keeps its own.
    #[schema(required = true)]
    pub error: Option<ErrorDto>,
    /// Attempts made.
    pub attempt_count: u32,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptDto>,
    /// Timings of the latest attempt.
    pub timings: TimingsDto,
    /// Token usage of the latest answer.
    pub usage: UsageDto,
}

fn millis(
    from: Option<evalboard_domain::Timestamp>,
    to: Option<evalboard_domain::Timestamp>,
) -> Option<i64> {
    Some((to? - from?).num_milliseconds())
}

impl From<AttemptRecord> for AttemptDto {
    fn from(a: AttemptRecord) -> Self {
        Self {
            attempt: a.attempt,
            outcome: a.outcome,
            error: a.error_kind.map(|kind| ErrorDto {
                kind,
                message: a.error_message.unwrap_or_default(),
            }),
            started_at: api_time(a.started_at),
            first_token_at: a.first_token_at.map(api_time),
            finished_at: a.finished_at.map(api_time),
            latency_ms: millis(Some(a.started_at), a.finished_at),
            usage: UsageDto::new(a.usage, a.cost_usd),
            page: (!a.page.is_empty()).then_some(a.page),
        }
    }
}

impl From<JudgmentRecord> for VerdictDto {
    fn from(j: JudgmentRecord) -> Self {
        Self {
            attempt: j.attempt,
            verdict: j.verdict.as_str().to_owned(),
            extracted_answer: j.extracted_answer.clone(),
            extraction_tier: j.extraction_tier.as_str().to_owned(),
            judge: j.judge,
            rationale: j.rationale,
            judged_at: api_time(j.at),
            round: j.round,
            undone: j.undone,
            usage: j
                .spent
                .map(|spent| UsageDto::new(spent.usage, spent.cost_usd)),
        }
    }
}

impl From<ItemDetail> for ItemDetailDto {
    fn from(item: ItemDetail) -> Self {
        let judged = matches!(
            item.state,
            evalboard_domain::ItemState::Correct | evalboard_domain::ItemState::Incorrect
        );
        let faulted = matches!(
            item.state,
            evalboard_domain::ItemState::Failed | evalboard_domain::ItemState::Canceled
        );
        Self {
            sequence: item.sequence,
            dataset_item_id: item.dataset_item_id,
            category: item.category,
            state: item.state.as_str().to_owned(),
            prompt_text: item.question.clone(),
            question: item.question,
            rendered_prompt: item.prompt_text,
            choices: item.choices,
            expected_answer: item.expected_answer.text(),
            response_text: item.response_text,
            reasoning_text: item.reasoning_text,
            cut_off: item.cut_off.map(evalboard_domain::CutOff::as_str),
            extracted_answer: item.extracted_answer.clone(),
            extraction_tier: item.extraction_tier.map(|t| t.as_str().to_owned()),
            verdict: judged.then(|| item.state.as_str().to_owned()),
            judge: item.judge,
            judge_rationale: item.judge_rationale,
            verdicts: item.judgments.into_iter().map(Into::into).collect(),
            error: item
                .error
                .filter(|_| faulted)
                .map(|(kind, message)| ErrorDto { kind, message }),
            attempt_count: item.attempt_count,
            attempts: item.attempts.into_iter().map(Into::into).collect(),
            timings: TimingsDto {
                queued_at: item.queued_at.map(api_time),
                started_at: item.started_at.map(api_time),
                first_token_at: item.first_token_at.map(api_time),
                answered_at: item.answered_at.map(api_time),
                judged_at: item.judged_at.map(api_time),
                finished_at: item.finished_at.map(api_time),
                latency_ms: millis(item.started_at, item.answered_at),
                time_to_first_token_ms: millis(item.started_at, item.first_token_at),
            },
            usage: UsageDto::new(item.usage, item.cost_usd),
        }
    }
}

/// A group of items with its counts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemGroupDto {
    /// The category, the state, or `all`.
    pub key: String,
    /// Counts of the group's items, as in the run's `progress`.
    pub progress: super::ProgressDto,
    /// Strict accuracy: correct / (correct + incorrect), unparsed answers counted incorrect;
    /// `null` before anything is judged.
    #[schema(required = true)]
    pub accuracy: Option<f64>,
}

impl From<ItemGroup> for ItemGroupDto {
    fn from(group: ItemGroup) -> Self {
        let judged = group.counts.correct + group.counts.incorrect;
        Self {
            key: group.key,
            progress: group.counts.progress().into(),
            accuracy: (judged > 0).then(|| group.counts.correct as f64 / judged as f64),
        }
    }
}

/// `GET /runs/{run_id}/items`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemPageDto {
    /// `category`, `state` or `none`.
    pub group_by: String,
    /// Every group of the filtered items, by key, with counts over all pages.
    pub groups: Vec<ItemGroupDto>,
    /// This page of items, by group key then sequence.
    pub items: Vec<ItemDetailDto>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
