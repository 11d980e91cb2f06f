#![doc = include_str!("../README.md")]

mod board;
pub mod compare;
mod cut_off;
mod dataset;
mod error;
mod event;
mod extraction;
mod fingerprint;
mod ids;
pub mod import;
mod item;
mod judging;
mod latency;
pub mod numeric;
mod progress;
mod prompt;
mod reasoning;
mod run;
mod selection;
mod settings;
mod states;
pub mod stats;
mod time;
mod unique_keys;
mod usage;

pub use board::{BoardEffect, RECENT_ITEMS, board_needs};
pub use cut_off::CutOff;
pub use dataset::{
    AnswerKey, AnswerKind, CategoryCount, Dataset, DatasetItem, DatasetName, ItemAnswer,
    dataset_digest,
};
pub use error::{FieldError, TransitionError, ValidationErrors};
pub use event::{EventPosition, RunChange, RunEvent, RunHeader};
pub use extraction::{Extracted, Extraction, ExtractionTier, extract_answer};
pub use fingerprint::{EVALBOARD_VERSION, Fingerprint, public_base_url};
pub use ids::{DatasetId, InvalidId, RunId};
pub use item::{ItemSnapshot, ItemState};
pub use judging::{
    Verdict, extract_by_rules, judge_by_rules, judge_choice, parse_judge_reply, render_judge_prompt,
};
pub use latency::LatencyHistogram;
pub use progress::{Progress, StateCounts};
pub use prompt::{
    NUMERIC_PROMPT_TEMPLATE, PROMPT_TEMPLATE, pick_examples, prompt_template, render_prompt,
    template_kind,
};
pub use reasoning::{joined_reasoning, split_reasoning};
pub use run::{
    BROWSER_HARNESS_PROVIDER, BUDGET_EXHAUSTED, Lifecycle, Run, RunFailure, RunStatus, failure_text,
};
pub use selection::ItemSelection;
pub use settings::{
    GenerationSettings, JudgeSettings, LLM_JUDGE_PREFIX, RunSettings, SettingsDefaults,
    ShotsSource, SimulatedSettings, request_key,
};
pub use states::UnknownState;
pub use time::{Timestamp, truncate_to_micros};
pub use unique_keys::UniqueKeys;
pub use usage::{
    Budget, JudgeSpend, JudgeUsage, LatencySummary, ModelPrice, RunUsage, TokenUsage, nearest_rank,
};

/// The bounds the domain enforces, in one place for documentation and error messages.
pub mod limits {
    pub use crate::dataset::{
        MAX_CATEGORY_CHARS, MAX_CHOICE_BYTES, MAX_CHOICES, MAX_DATASET_NAME_CHARS,
        MAX_ITEM_ID_CHARS, MAX_SOURCE_CHARS, MAX_TEXT_BYTES, MIN_CHOICES,
    };
    pub use crate::import::{MAX_ITEMS, MAX_REPORTED_PROBLEMS};
    pub use crate::prompt::MAX_SHOTS;
    pub use crate::selection::{MAX_SAMPLE_SIZE, MAX_SEED, MAX_SELECTED_CATEGORIES};
    pub use crate::settings::{
        MAX_ATTEMPTS, MAX_BUDGET_TOKENS, MAX_BUDGET_USD, MAX_CONCURRENCY, MAX_GENERATION_TOKENS,
        MAX_SIMULATED_LATENCY_MS,
    };
}
