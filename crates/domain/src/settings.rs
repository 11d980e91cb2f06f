//! Run settings: what a client may choose when it creates a run, with their bounds.

use serde::{Deserialize, Serialize};

use crate::{
    error::ValidationErrors,
    prompt::MAX_SHOTS,
    selection::{ItemSelection, MAX_SEED},
    usage::Budget,
};

/// Largest per-run concurrency a client may ask for.
pub const MAX_CONCURRENCY: u32 = 256;
/// Largest `maxTokens` a client may ask for.
pub const MAX_GENERATION_TOKENS: u32 = 65_536;
/// Most attempts per item a client may ask for.
pub const MAX_ATTEMPTS: u32 = 10;
/// Largest cost cap a run may set, in US dollars.
pub const MAX_BUDGET_USD: f64 = 1_000_000.0;
/// Largest token cap a run may set: a trillion tokens, past any run's use, and well inside the
/// 64-bit signed integers the API's schema and PostgreSQL count in.
pub const MAX_BUDGET_TOKENS: u64 = 1_000_000_000_000;
/// Longest simulated answer time per item, in milliseconds.
pub const MAX_SIMULATED_LATENCY_MS: u32 = 600_000;

/// Optional choices made when a run is created. Missing values mean "the server's default".
///
/// This is also the stored form (JSON in the run row), so fields are only ever added, and
/// unknown fields in stored data are ignored rather than rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSettings {
    /// How many items of this run may be in flight at once (1..=256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Which items of the dataset the run evaluates (all of them by default).
    #[serde(default, skip_serializing_if = "ItemSelection::is_all")]
    pub selection: ItemSelection,
    /// Generation parameters passed to the model.
    #[serde(default, skip_serializing_if = "GenerationSettings::is_default")]
    pub generation: GenerationSettings,
    /// Worked examples from the same category in each prompt, 0..=5 (zero-shot by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots: Option<u32>,
    /// The dataset the worked examples come from (by default the run's own, each item's
    /// examples being the first other items of its category). Its version is fixed when the run
    /// is created, so retries and resumes ask the same prompts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shots_from: Option<ShotsSource>,
    /// Attempts per item before it ends `failed`, 1..=10 (the provider's default otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// How the Simulated provider behaves for this run (simulated providers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated: Option<SimulatedSettings>,
    /// Who judges the answers (the multiple-choice judge by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSettings>,
    /// Caps on tokens and cost (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// Serve a request answered before (the same provider, model, prompt and generation
    /// settings) from the database instead of the provider (off by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
}

/// The response cache's key of a request: the SHA-256 (hex) of the provider's name, the model,
/// the prompt and the generation settings — and, for the Simulated provider, the behaviour the
/// run chose, which decides its answers — so that a cached answer never crosses providers,
/// models, sampling parameters or simulated behaviours.
pub fn request_key(
    provider_name: &str,
    model_name: &str,
    prompt: &str,
    generation: &GenerationSettings,
    simulated: Option<&SimulatedSettings>,
) -> String {
    use sha2::{Digest, Sha256};
    // Without simulated behaviour the key is what it always was: answers stored before it was
    // part of the key are still found.
    let canonical = match simulated {
        None => serde_json::json!([provider_name, model_name, prompt, generation]),
        Some(simulated) => {
            serde_json::json!([provider_name, model_name, prompt, generation, simulated])
        }
    };
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Where a run's worked examples come from: a dataset other than the run's (MMLU-Pro takes
/// them from its validation split), of the same kind of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShotsSource {
    /// The dataset's name.
    pub dataset_name: String,
    /// Its version: the newest when the run is created, unless the run names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

/// The Simulated provider's behaviour. Everything it does follows from `seed`, the item and the
/// attempt number, so a run is reproducible.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulatedSettings {
    /// Probability of choosing the right letter, 0..=1 (default 0.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Time to produce a whole answer, in milliseconds (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u32>,
    /// Probability that an attempt fails with a transient provider error, 0..=1 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_rate: Option<f64>,
    /// Probability that an answer names no letter at all, 0..=1 (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unparsed_rate: Option<f64>,
    /// Seed of every random choice (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// Who decides whether an answer is right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JudgeSettings {
    /// Extract the chosen letter and compare it with the key (strict: unparsed is wrong).
    Choice,
    /// Ask a model whether the response picks the right option; its rationale is kept.
    #[serde(rename_all = "camelCase")]
    Llm {
        /// A configured provider.
        provider_name: String,
        /// One of its models.
        model_name: String,
    },
}

/// How the name of every LLM judge begins (`llm:<provider>/<model>`); the rule judges' names
/// (`choice`, `numeric`) never do.
pub const LLM_JUDGE_PREFIX: &str = "llm:";

impl JudgeSettings {
    /// The name verdicts record for this judge: `choice`, or `llm:<provider>/<model>`.
    pub fn label(&self) -> String {
        match self {
            Self::Choice => "choice".to_owned(),
            Self::Llm {
                provider_name,
                model_name,
            } => format!("{LLM_JUDGE_PREFIX}{provider_name}/{model_name}"),
        }
    }
}

/// Sampling parameters passed to the provider with every item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationSettings {
    /// Sampling temperature, 0..=2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Upper bound on generated tokens per item, 1..=65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

impl GenerationSettings {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What the server chooses for a run when its request leaves a setting out: the engine's
/// per-run concurrency, the provider's attempt budget and token limit, and whether the provider
/// is simulated (whose behaviour then has defaults of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsDefaults {
    /// Per-run concurrency.
    pub concurrency: u32,
    /// Attempts per item.
    pub max_attempts: u32,
    /// `maxTokens` the provider sends when the run sets none (`None`: the provider's own).
    pub max_tokens: Option<u32>,
    /// Whether the provider is simulated.
    pub simulated: bool,
}

impl SimulatedSettings {
    /// Probability of choosing the right letter when the run does not say.
    pub const DEFAULT_ACCURACY: f64 = 0.7;

    /// Every field set: the run's choice, else its default.
    pub fn with_defaults(&self) -> Self {
        Self {
            accuracy: Some(self.accuracy.unwrap_or(Self::DEFAULT_ACCURACY)),
            latency_ms: Some(self.latency_ms.unwrap_or(0)),
            fault_rate: Some(self.fault_rate.unwrap_or(0.0)),
            unparsed_rate: Some(self.unparsed_rate.unwrap_or(0.0)),
            seed: Some(self.seed.unwrap_or(0)),
        }
    }
}

impl RunSettings {
    /// The settings in force: what the run chose, and the server's choice for everything it
    /// left out (sampling parameters without a server default stay unset: the provider's own
    /// apply). Stored with the run, so that it shows — and keeps — what it ran with.
    pub fn with_defaults(&self, defaults: &SettingsDefaults) -> Self {
        let mut generation = self.generation.clone();
        generation.max_tokens = generation.max_tokens.or(defaults.max_tokens);
        Self {
            concurrency: Some(self.concurrency.unwrap_or(defaults.concurrency)),
            selection: self.selection.clone(),
            generation,
            shots: Some(self.shots.unwrap_or(0)),
            shots_from: self.shots_from.clone(),
            max_attempts: Some(self.max_attempts.unwrap_or(defaults.max_attempts)),
            simulated: defaults
                .simulated
                .then(|| self.simulated.clone().unwrap_or_default().with_defaults()),
            judge: Some(self.judge.clone().unwrap_or(JudgeSettings::Choice)),
            budget: self.budget.clone().filter(|b| !b.is_unlimited()),
            // Off unless asked: left out then, so that the settings (and fingerprints) of runs
            // that never heard of the cache stay what they were.
            cache: self.cache.filter(|&on| on),
        }
    }
}

impl RunSettings {
    /// The label of the run's judge (`choice` when it names none).
    pub fn judge_label(&self) -> String {
        self.judge
            .as_ref()
            .map_or_else(|| JudgeSettings::Choice.label(), JudgeSettings::label)
    }

    /// Checks every bound and reports all violations, with paths under `settings.`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(c) = self.concurrency
            && !(1..=MAX_CONCURRENCY).contains(&c)
        {
            errors.push(
                "settings.concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}, got {c}"),
            );
        }
        self.selection.validate("settings.selection", &mut errors);
        let generation = &self.generation;
        if let Some(t) = generation.temperature
            && !(0.0..=2.0).contains(&t)
        {
            errors.push(
                "settings.generation.temperature",
                format!("must be between 0 and 2, got {t}"),
            );
        }
        if let Some(p) = generation.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            errors.push(
                "settings.generation.topP",
                format!("must be greater than 0 and at most 1, got {p}"),
            );
        }
        if let Some(m) = generation.max_tokens
            && !(1..=MAX_GENERATION_TOKENS).contains(&m)
        {
            errors.push(
                "settings.generation.maxTokens",
                format!("must be between 1 and {MAX_GENERATION_TOKENS}, got {m}"),
            );
        }
        if let Some(shots) = self.shots
            && shots > MAX_SHOTS
        {
            errors.push(
                "settings.shots",
                format!("must be between 0 and {MAX_SHOTS}, got {shots}"),
            );
        }
        if let Some(source) = &self.shots_from {
            if self.shots.unwrap_or(0) == 0 {
                errors.push(
                    "settings.shotsFrom",
                    "worked examples come from it only with `shots` of 1 or more",
                );
            }
            if let Err(message) = crate::dataset::DatasetName::parse(&source.dataset_name) {
                errors.push("settings.shotsFrom.datasetName", message);
            }
            if source.version == Some(0) {
                errors.push("settings.shotsFrom.version", "versions start at 1");
            }
        }
        if let Some(attempts) = self.max_attempts
            && !(1..=MAX_ATTEMPTS).contains(&attempts)
        {
            errors.push(
                "settings.maxAttempts",
                format!("must be between 1 and {MAX_ATTEMPTS}, got {attempts}"),
            );
        }
        if let Some(simulated) = &self.simulated {
            simulated.validate(&mut errors);
        }
        if let Some(budget) = &self.budget {
            if let Some(cost) = budget.max_cost_usd
                && !(cost > 0.0 && cost <= MAX_BUDGET_USD)
            {
                errors.push(
                    "settings.budget.maxCostUsd",
                    format!("must be greater than 0 and at most {MAX_BUDGET_USD}, got {cost}"),
                );
            }
            if let Some(tokens) = budget.max_tokens
                && !(1..=MAX_BUDGET_TOKENS).contains(&tokens)
            {
                errors.push(
                    "settings.budget.maxTokens",
                    format!("must be between 1 and {MAX_BUDGET_TOKENS}, got {tokens}"),
                );
            }
        }
        errors.into_result()
    }
}

impl SimulatedSettings {
    fn validate(&self, errors: &mut ValidationErrors) {
        for (name, value) in [
            ("accuracy", self.accuracy),
            ("faultRate", self.fault_rate),
            ("unparsedRate", self.unparsed_rate),
        ] {
            if let Some(p) = value
                && !(0.0..=1.0).contains(&p)
            {
                errors.push(
                    format!("settings.simulated.{name}"),
                    format!("must be a probability between 0 and 1, got {p}"),
                );
            }
        }
        if let Some(ms) = self.latency_ms
            && ms > MAX_SIMULATED_LATENCY_MS
        {
            errors.push(
                "settings.simulated.latencyMs",
                format!("must be at most {MAX_SIMULATED_LATENCY_MS}, got {ms}"),
            );
        }
        if let Some(seed) = self.seed
            && seed > MAX_SEED
        {
            errors.push(
                "settings.simulated.seed",
                format!("must be at most {MAX_SEED}, got {seed}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_serialize_to_an_empty_object() {
        let settings = RunSettings::default();
        assert!(settings.validate().is_ok());
        assert_eq!(serde_json::to_string(&settings).unwrap(), "{}");
    }

    #[test]
    fn every_violation_is_reported() {
        let settings = RunSettings {
            concurrency: Some(0),
            generation: GenerationSettings {
                temperature: Some(3.0),
                top_p: Some(0.0),
                max_tokens: Some(0),
            },
            ..Default::default()
        };
        let fields: Vec<_> = settings
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "settings.concurrency",
                "settings.generation.temperature",
                "settings.generation.topP",
                "settings.generation.maxTokens"
            ]
        );
    }

    #[test]
    fn engine_settings_are_bounded() {
        let settings = RunSettings {
            shots: Some(6),
            max_attempts: Some(0),
            simulated: Some(SimulatedSettings {
                accuracy: Some(1.5),
                latency_ms: Some(600_001),
                fault_rate: Some(-0.1),
                unparsed_rate: Some(0.5),
                seed: Some(u64::MAX),
            }),
            ..Default::default()
        };
        let fields: Vec<_> = settings
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "settings.shots",
                "settings.maxAttempts",
                "settings.simulated.accuracy",
                "settings.simulated.faultRate",
                "settings.simulated.latencyMs",
                "settings.simulated.seed"
            ]
        );
    }

    #[test]
    fn defaults_fill_what_the_run_left_out_and_keep_what_it_chose() {
        let defaults = SettingsDefaults {
            concurrency: 8,
            max_attempts: 4,
            max_tokens: Some(4096),
            simulated: true,
        };
        let chosen = RunSettings {
            concurrency: Some(2),
            simulated: Some(SimulatedSettings {
                fault_rate: Some(0.5),
                ..Default::default()
            }),
            ..Default::default()
        };
        let in_force = chosen.with_defaults(&defaults);
        assert_eq!(in_force.concurrency, Some(2));
        assert_eq!(in_force.max_attempts, Some(4));
        assert_eq!(in_force.shots, Some(0));
        assert_eq!(in_force.judge, Some(JudgeSettings::Choice));
        assert_eq!(in_force.generation.max_tokens, Some(4096));
        assert_eq!(in_force.generation.temperature, None);
        let simulated = in_force.simulated.clone().unwrap();
        assert_eq!(
            (simulated.accuracy, simulated.fault_rate, simulated.seed),
            (Some(0.7), Some(0.5), Some(0))
        );
        assert!(in_force.validate().is_ok());
        assert_eq!(in_force.with_defaults(&defaults), in_force, "idempotent");
        let api = RunSettings::default().with_defaults(&SettingsDefaults {
            simulated: false,
            max_tokens: None,
            ..defaults
        });
        assert_eq!((api.simulated, api.generation.max_tokens), (None, None));
    }

    #[test]
    fn judges_are_tagged_by_kind() {
        let llm: JudgeSettings = serde_json::from_str(
            r#"{"kind": "llm", "providerName": "OpenAI", "modelName": "gpt-4.1"}"#,
        )
        .unwrap();
        assert_eq!(
            llm,
            JudgeSettings::Llm {
                provider_name: "OpenAI".into(),
                model_name: "gpt-4.1".into()
            }
        );
        let choice: JudgeSettings = serde_json::from_str(r#"{"kind": "choice"}"#).unwrap();
        assert_eq!(choice, JudgeSettings::Choice);
    }

    #[test]
    fn stored_settings_with_unknown_fields_still_load() {
        let stored = r#"{"concurrency":4,"someFutureField":true}"#;
        let settings: RunSettings = serde_json::from_str(stored).unwrap();
        assert_eq!(settings.concurrency, Some(4));
    }
}
