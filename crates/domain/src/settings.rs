//! Run settings: what a client may choose when it creates a run, with their bounds.

use serde::{Deserialize, Serialize};

use crate::{error::ValidationErrors, selection::ItemSelection};

/// Largest per-run concurrency a client may ask for.
pub const MAX_CONCURRENCY: u32 = 256;
/// Largest `maxTokens` a client may ask for.
pub const MAX_GENERATION_TOKENS: u32 = 65_536;

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

impl RunSettings {
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
        errors.into_result()
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
    fn stored_settings_with_unknown_fields_still_load() {
        let stored = r#"{"concurrency":4,"someFutureField":true}"#;
        let settings: RunSettings = serde_json::from_str(stored).unwrap();
        assert_eq!(settings.concurrency, Some(4));
    }
}
