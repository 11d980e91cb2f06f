//! The provider registry: which providers and models runs may use, from the configuration.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// How evalboard talks to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Offline and deterministic: answers items itself, for demos, tests and load generation.
    Simulated,
    /// An OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, llama.cpp).
    OpenaiCompatible,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    /// The kind's name in configuration and API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::OpenaiCompatible => "openai-compatible",
            Self::Anthropic => "anthropic",
        }
    }
}

/// One provider as configured (a `[providers.<id>]` table).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name clients use in `providerName` (e.g. `OpenAI`).
    pub name: String,
    /// How to talk to it.
    pub kind: ProviderKind,
    /// Endpoint base URL (required for API kinds, absent for `simulated`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Name of the environment variable holding the API key, if the provider needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Model names clients may use in `modelName`.
    pub models: Vec<String>,
}

/// Whether a provider's API key is available, without ever holding the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The provider takes no key.
    NotRequired,
    /// The key's environment variable is set.
    Present,
    /// The key's environment variable is not set: runs on this provider will fail to start.
    Missing,
}

impl Credentials {
    /// The status's name in API responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotRequired => "notRequired",
            Self::Present => "present",
            Self::Missing => "missing",
        }
    }
}

/// A validated provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Name clients use.
    pub name: String,
    /// How to talk to it.
    pub kind: ProviderKind,
    /// Endpoint base URL, for API kinds.
    pub base_url: Option<String>,
    /// Environment variable that holds the key, if any.
    pub api_key_env: Option<String>,
    /// Its models, in configuration order.
    pub models: Vec<String>,
    /// Whether its key is available.
    pub credentials: Credentials,
}

impl Provider {
    /// Whether the provider offers `model`.
    pub fn has_model(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }
}

/// Problems found in the provider configuration, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid provider configuration: {}", .0.join("; "))]
pub struct ProviderConfigError(pub Vec<String>);

/// The providers runs may use, looked up by name.
#[derive(Debug, Clone, Default)]
pub struct ProviderRegistry {
    providers: Vec<Provider>,
}

impl ProviderRegistry {
    /// Validates the configured providers (keyed by their configuration id). `env_is_set`
    /// answers whether an environment variable is set; it is asked about key variables only.
    pub fn from_config(
        configs: &BTreeMap<String, ProviderConfig>,
        env_is_set: impl Fn(&str) -> bool,
    ) -> Result<Self, ProviderConfigError> {
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        let mut providers = Vec::with_capacity(configs.len());
        for (id, config) in configs {
            let at = format!("providers.{id}");
            if config.name.trim().is_empty() || config.name.chars().count() > 100 {
                problems.push(format!("{at}.name must be 1 to 100 characters"));
            }
            if !names.insert(config.name.as_str()) {
                problems.push(format!("{at}.name `{}` is used twice", config.name));
            }
            if config.models.is_empty() {
                problems.push(format!("{at}.models must name at least one model"));
            }
            let mut models = BTreeSet::new();
            for model in &config.models {
                if model.trim().is_empty() {
                    problems.push(format!("{at}.models contains an empty name"));
                } else if !models.insert(model.as_str()) {
                    problems.push(format!("{at}.models lists `{model}` twice"));
                }
            }
            match (config.kind, &config.base_url) {
                (ProviderKind::Simulated, Some(_)) => problems.push(format!(
                    "{at}.base_url makes no sense for a simulated provider"
                )),
                (ProviderKind::OpenaiCompatible | ProviderKind::Anthropic, None) => {
                    problems.push(format!(
                        "{at}.base_url is required for kind {}",
                        config.kind.as_str()
                    ))
                }
                (_, Some(url)) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    problems.push(format!("{at}.base_url must be an http:// or https:// URL"))
                }
                _ => {}
            }
            let credentials = match &config.api_key_env {
                None => Credentials::NotRequired,
                Some(var) if var.is_empty() => {
                    problems.push(format!("{at}.api_key_env must not be empty"));
                    Credentials::Missing
                }
                Some(var) if env_is_set(var) => Credentials::Present,
                Some(_) => Credentials::Missing,
            };
            providers.push(Provider {
                name: config.name.clone(),
                kind: config.kind,
                base_url: config.base_url.clone(),
                api_key_env: config.api_key_env.clone(),
                models: config.models.clone(),
                credentials,
            });
        }
        if !problems.is_empty() {
            return Err(ProviderConfigError(problems));
        }
        providers.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self { providers })
    }

    /// Every provider, by name.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    /// The provider with exactly this name.
    pub fn get(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(
        name: &str,
        kind: ProviderKind,
        base_url: Option<&str>,
        key: Option<&str>,
    ) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            kind,
            base_url: base_url.map(Into::into),
            api_key_env: key.map(Into::into),
            models: vec!["m1".into(), "m2".into()],
        }
    }

    #[test]
    fn valid_providers_are_listed_by_name_with_credential_status() {
        let configs = BTreeMap::from([
            (
                "sim".to_owned(),
                config("Simulated", ProviderKind::Simulated, None, None),
            ),
            (
                "openai".to_owned(),
                config(
                    "OpenAI",
                    ProviderKind::OpenaiCompatible,
                    Some("https://api.openai.com/v1"),
                    Some("OPENAI_API_KEY"),
                ),
            ),
            (
                "local".to_owned(),
                config(
                    "Local",
                    ProviderKind::OpenaiCompatible,
                    Some("http://127.0.0.1:8000/v1"),
                    Some("LOCAL_KEY"),
                ),
            ),
        ]);
        let registry = ProviderRegistry::from_config(&configs, |var| var == "LOCAL_KEY").unwrap();
        let listed: Vec<(&str, Credentials)> = registry
            .providers()
            .iter()
            .map(|p| (p.name.as_str(), p.credentials))
            .collect();
        assert_eq!(
            listed,
            [
                ("Local", Credentials::Present),
                ("OpenAI", Credentials::Missing),
                ("Simulated", Credentials::NotRequired)
            ]
        );
        assert!(registry.get("OpenAI").unwrap().has_model("m2"));
        assert!(registry.get("openai").is_none(), "names are exact");
    }

    #[test]
    fn every_problem_is_reported() {
        let mut duplicate = config("Simulated", ProviderKind::Simulated, Some("http://x"), None);
        duplicate.models = vec!["a".into(), "a".into()];
        let configs = BTreeMap::from([
            (
                "a".to_owned(),
                config("Simulated", ProviderKind::Simulated, None, None),
            ),
            ("b".to_owned(), duplicate),
            (
                "c".to_owned(),
                config("Bad", ProviderKind::Anthropic, None, Some("")),
            ),
        ]);
        let err = ProviderRegistry::from_config(&configs, |_| false).unwrap_err();
        assert_eq!(err.0.len(), 5, "{err}");
    }
}
