//! Run settings on the wire. Unknown fields are rejected so that a typo is an error, not a
//! silently ignored setting.

use evalboard_domain::{
    Budget, GenerationSettings, ItemSelection, JudgeSettings, RunSettings, ShotsSource,
    SimulatedSettings,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Optional choices for a new run; anything left out takes the server's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunSettingsDto {
    /// Items of this run in flight at once, 1..=256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 256)]
    pub concurrency: Option<u32>,
    /// Which dataset items to evaluate (all by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<ItemSelectionDto>,
    /// Generation parameters sent with every item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<GenerationDto>,
    /// Worked examples from the same category in each prompt, 0..=5 (default 0: zero-shot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 5)]
    pub shots: Option<u32>,
    /// The dataset the worked examples come from (default: the run's own). Needs `shots` of 1
    /// or more; the dataset must hold the same kind of items. Its newest version is used
    /// unless `version` names one, and the run's settings record which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots_from: Option<ShotsFromDto>,
    /// Attempts per item before it ends `failed`, 1..=10 (default: the provider's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10)]
    pub max_attempts: Option<u32>,
    /// Behaviour of the Simulated provider; only for simulated providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<SimulatedDto>,
    /// Who judges the answers (default `{"kind": "choice"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeDto>,
    /// Caps on what the run may spend (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetDto>,
    /// Serve a request some run answered before — the same provider, model, prompt and
    /// generation settings — from the database instead of the provider: not sent, not paid,
    /// its attempt marked `cached` and counted in `usage.cachedAnswers` (default `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

/// Where a run's worked examples come from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShotsFromDto {
    /// The dataset's name.
    #[schema(min_length = 1, max_length = 100, example = "MMLU-Pro-validation")]
    pub dataset_name: String,
    /// Its version (default: the newest when the run is created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub version: Option<u32>,
}

/// Caps on a run's spending, its LLM judge's requests included (`usage` plus `usage.judge`).
/// When one is reached no new item is sent, items in flight finish and are judged (their usage
/// may take the run past the cap), and the run ends `canceled` with the failure
/// `budget_exhausted` saying which cap. Only usage the providers report counts; cost needs the
/// model's (and the judge model's) price in the provider configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetDto {
    /// Most US dollars, greater than 0 and at most 1000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 1000000)]
    pub max_cost_usd: Option<f64>,
    /// Most tokens, prompt plus generated, from 1 to 1000000000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub max_tokens: Option<u64>,
}

/// How the Simulated provider answers this run's items. Everything follows from `seed`, the
/// item and the attempt, so a run can be replayed; `latencyMs` makes a run slow enough to watch
/// or cancel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulatedDto {
    /// Probability of choosing the right letter (default 0.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub accuracy: Option<f64>,
    /// Time to produce each answer, in milliseconds (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 600000)]
    pub latency_ms: Option<u32>,
    /// Probability that an attempt fails with a transient error, retried like a real one
    /// (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub fault_rate: Option<f64>,
    /// Probability that an answer names no letter (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub unparsed_rate: Option<f64>,
    /// Seed of every random choice (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 9007199254740991_u64)]
    pub seed: Option<u64>,
}

/// Who decides whether an answer is right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum JudgeDto {
    /// Extract the chosen letter (MMLU-Pro rules) and compare it with the key.
    // A struct variant: serde lets a unit variant of an internally tagged enum ignore unknown
    // fields (`{"kind": "choice", "typo": 1}`), which the API refuses everywhere else.
    Choice {},
    /// Ask a configured model whether the response picks the right option; its rationale is
    /// kept with the verdict.
    #[serde(rename_all = "camelCase")]
    Llm {
        /// A provider listed by `GET /providers`.
        provider_name: String,
        /// One of its models.
        model_name: String,
    },
}

/// Which items of the dataset a run takes: filtered by category, then the first `sampleSize`,
/// or with a `seed` a reproducible random sample of that size, always in dataset order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ItemSelectionDto {
    /// Only items of these categories (1..=64 names the dataset has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 64)]
    pub categories: Option<Vec<String>>,
    /// At most this many items, 1..=1000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub sample_size: Option<u32>,
    /// Take a seeded random sample instead of the first items (needs `sampleSize`); at most
    /// 2^53 - 1 so that JavaScript clients read it back exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(maximum = 9007199254740991_u64)]
    pub seed: Option<u64>,
}

/// Sampling parameters passed to the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenerationDto {
    /// Temperature, 0..=2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 2)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0, maximum = 1)]
    pub top_p: Option<f64>,
    /// Most tokens generated per item, 1..=65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 65536)]
    pub max_tokens: Option<u32>,
}

impl From<ItemSelectionDto> for ItemSelection {
    fn from(dto: ItemSelectionDto) -> Self {
        Self {
            categories: dto.categories,
            sample_size: dto.sample_size,
            seed: dto.seed,
        }
    }
}

impl From<JudgeDto> for JudgeSettings {
    fn from(judge: JudgeDto) -> Self {
        match judge {
            JudgeDto::Choice {} => Self::Choice,
            JudgeDto::Llm {
                provider_name,
                model_name,
            } => Self::Llm {
                provider_name,
                model_name,
            },
        }
    }
}

impl From<RunSettingsDto> for RunSettings {
    fn from(dto: RunSettingsDto) -> Self {
        let selection = dto.selection.unwrap_or_default();
        let generation = dto.generation.unwrap_or_default();
        Self {
            concurrency: dto.concurrency,
            selection: selection.into(),
            generation: GenerationSettings {
                temperature: generation.temperature,
                top_p: generation.top_p,
                max_tokens: generation.max_tokens,
            },
            shots: dto.shots,
            shots_from: dto.shots_from.map(|s| ShotsSource {
                dataset_name: s.dataset_name,
                version: s.version,
            }),
            max_attempts: dto.max_attempts,
            simulated: dto.simulated.map(|s| SimulatedSettings {
                accuracy: s.accuracy,
                latency_ms: s.latency_ms,
                fault_rate: s.fault_rate,
                unparsed_rate: s.unparsed_rate,
                seed: s.seed,
            }),
            judge: dto.judge.map(Into::into),
            budget: dto.budget.map(|b| Budget {
                max_cost_usd: b.max_cost_usd,
                max_tokens: b.max_tokens,
            }),
            cache: dto.cache,
        }
    }
}

impl From<&RunSettings> for RunSettingsDto {
    fn from(settings: &RunSettings) -> Self {
        let selection = &settings.selection;
        let generation = &settings.generation;
        Self {
            concurrency: settings.concurrency,
            selection: (!selection.is_all()).then(|| ItemSelectionDto {
                categories: selection.categories.clone(),
                sample_size: selection.sample_size,
                seed: selection.seed,
            }),
            generation: (*generation != GenerationSettings::default()).then_some(GenerationDto {
                temperature: generation.temperature,
                top_p: generation.top_p,
                max_tokens: generation.max_tokens,
            }),
            shots: settings.shots,
            shots_from: settings.shots_from.as_ref().map(|s| ShotsFromDto {
                dataset_name: s.dataset_name.clone(),
                version: s.version,
            }),
            max_attempts: settings.max_attempts,
            simulated: settings.simulated.as_ref().map(|s| SimulatedDto {
                accuracy: s.accuracy,
                latency_ms: s.latency_ms,
                fault_rate: s.fault_rate,
                unparsed_rate: s.unparsed_rate,
                seed: s.seed,
            }),
            judge: settings.judge.as_ref().map(|judge| match judge {
                JudgeSettings::Choice => JudgeDto::Choice {},
                JudgeSettings::Llm {
                    provider_name,
                    model_name,
                } => JudgeDto::Llm {
                    provider_name: provider_name.clone(),
                    model_name: model_name.clone(),
                },
            }),
            budget: settings.budget.as_ref().map(|b| BudgetDto {
                max_cost_usd: b.max_cost_usd,
                max_tokens: b.max_tokens,
            }),
            cache: settings.cache,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::JudgeDto;

    #[test]
    fn a_judge_refuses_unknown_fields_in_every_kind() {
        let read = |v| serde_json::from_value::<JudgeDto>(v);
        assert_eq!(
            read(json!({"kind": "choice"})).unwrap(),
            JudgeDto::Choice {}
        );
        assert!(read(json!({"kind": "choice", "typo": 1})).is_err());
        let llm = json!({"kind": "llm", "providerName": "p", "modelName": "m", "typo": 1});
        assert!(read(llm).is_err());
        assert_eq!(
            serde_json::to_value(JudgeDto::Choice {}).unwrap(),
            json!({"kind": "choice"})
        );
    }
}
