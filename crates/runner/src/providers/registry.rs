//! The provider registry: which providers and models runs may use, and how to reach them, from
//! the configuration.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use evalboard_domain::ModelPrice;
use serde::Deserialize;

/// Highest price per million tokens the configuration accepts, in US dollars.
const MAX_PRICE_PER_MTOK: f64 = 100_000.0;

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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// Prices of some of those models, in US dollars per million tokens (a
    /// `[providers.<id>.prices."<model>"]` table each): what runs' costs are computed from.
    /// Prices of models not in `models` are ignored.
    #[serde(default)]
    pub prices: BTreeMap<String, ModelPrice>,
    /// Most requests in flight to this provider at once, across all runs (default 16; 256 for
    /// a simulated provider). Lowered adaptively while the provider answers 429.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Requests per minute the provider allows, if it has such a limit.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute the provider allows (prompt estimate plus `maxTokens`), if limited.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Attempts per item before it ends `failed` (default 4); a run's `maxAttempts` overrides.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// 429 answers after which an item gives up, per dispatch (default 20). They do not use up
    /// `max_attempts`: being throttled says nothing about the item.
    #[serde(default)]
    pub max_throttled_attempts: Option<u32>,
    /// Seconds after its first 429 (in a dispatch) past which an item gives up rather than wait
    /// for the provider again (default 300).
    #[serde(default)]
    pub max_throttled_secs: Option<u64>,
    /// Most a response may bring, in MiB (default 64): past it the attempt fails `too_large`
    /// (a model that does not stop would otherwise fill memory and the database).
    #[serde(default)]
    pub max_response_mib: Option<u32>,
    /// Time limits of one request.
    #[serde(default)]
    pub timeouts: TimeoutConfig,
}

/// Time limits of one provider request, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// Establishing the connection.
    pub connect_secs: u64,
    /// From sending the request to the response headers.
    pub first_byte_secs: u64,
    /// Longest silence between two streamed chunks.
    pub idle_secs: u64,
    /// The whole request, stream included.
    pub total_secs: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect_secs: 10,
            first_byte_secs: 60,
            idle_secs: 60,
            total_secs: 600,
        }
    }
}

/// A provider's limits and timeouts, resolved from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderLimitsConfig {
    /// Most requests in flight at once.
    pub max_concurrency: u32,
    /// Requests per minute, if limited.
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute, if limited.
    pub tokens_per_minute: Option<u32>,
    /// Attempts per item by default.
    pub max_attempts: u32,
    /// 429 answers after which an item gives up.
    pub max_throttled_attempts: u32,
    /// How long after its first 429 an item gives up.
    pub max_throttled: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Time to response headers.
    pub first_byte_timeout: Duration,
    /// Longest silence inside a stream.
    pub idle_timeout: Duration,
    /// Whole-request timeout.
    pub total_timeout: Duration,
    /// Most bytes one response may bring.
    pub max_response_bytes: usize,
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
#[derive(Debug, Clone, PartialEq)]
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
    /// Prices of its models that have one.
    pub prices: BTreeMap<String, ModelPrice>,
    /// Whether its key is available.
    pub credentials: Credentials,
    /// Limits and timeouts.
    pub limits: ProviderLimitsConfig,
}

impl Provider {
    /// Whether the provider offers `model`.
    pub fn has_model(&self, model: &str) -> bool {
        self.models.iter().any(|m| m == model)
    }

    /// What `model` costs, when the configuration says.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        self.prices.get(model).copied()
    }

    /// The environment variable that should hold this provider's key, when it is not set:
    /// nothing can be sent to the provider.
    pub fn missing_key(&self) -> Option<&str> {
        match self.credentials {
            Credentials::Missing => self.api_key_env.as_deref(),
            Credentials::NotRequired | Credentials::Present => None,
        }
    }

    /// What a run on this provider gets for the settings it leaves out, given the engine's
    /// per-run concurrency.
    pub fn settings_defaults(&self, run_concurrency: u32) -> evalboard_domain::SettingsDefaults {
        evalboard_domain::SettingsDefaults {
            concurrency: run_concurrency,
            max_attempts: self.limits.max_attempts,
            max_tokens: (self.kind == ProviderKind::Anthropic)
                .then_some(super::anthropic::DEFAULT_MAX_TOKENS),
            simulated: self.kind == ProviderKind::Simulated,
        }
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
            // Runs imported from browser captures carry this name; a provider must not.
            if config.name == evalboard_domain::BROWSER_HARNESS_PROVIDER {
                problems.push(format!("{at}.name `{}` is reserved", config.name));
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
            // A price of a model not listed is not an error: replacing the model list (say from
            // the environment) must not make the built-in prices of the others fatal.
            for (model, price) in &config.prices {
                for (field, value) in [
                    ("input_per_mtok", price.input_per_mtok),
                    ("output_per_mtok", price.output_per_mtok),
                ] {
                    if !(value.is_finite() && (0.0..=MAX_PRICE_PER_MTOK).contains(&value)) {
                        problems.push(format!(
                            "{at}.prices.\"{model}\".{field} must be between 0 and \
                             {MAX_PRICE_PER_MTOK}, got {value}"
                        ));
                    }
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
                (_, Some(url)) if !is_endpoint(url) => problems.push(format!(
                    "{at}.base_url must be an http:// or https:// URL with a host, such as \
                     https://api.openai.com/v1"
                )),
                // Both would be the request's `Authorization` header (Basic and Bearer): it
                // went out twice, leaving the receiver to pick one, and the proxy's password
                // went on to what is behind it. (Anthropic's key has a header of its own.)
                (ProviderKind::OpenaiCompatible, Some(url))
                    if !super::redact::url_credentials(url).is_empty()
                        && config.api_key_env.is_some() =>
                {
                    problems.push(format!(
                        "{at}: base_url carries a user:password (sent as HTTP Basic \
                         authentication) and api_key_env names a key (sent as a Bearer token): \
                         both are the Authorization header; keep one (a built-in provider keeps \
                         its api_key_env: configure the server as a provider of its own id)"
                    ))
                }
                _ => {}
            }
            let credentials = match &config.api_key_env {
                None => Credentials::NotRequired,
                Some(var) if var.is_empty() => {
                    problems.push(format!("{at}.api_key_env must not be empty"));
                    Credentials::Missing
                }
                // A key pasted here instead of a variable's name would be shown wherever the
                // missing variable is named (the providers list, a run's failure, the log), so
                // it is refused, and not quoted.
                Some(var) if !is_environment_variable_name(var) => {
                    problems.push(format!(
                        "{at}.api_key_env must be the name of the environment variable that \
                         holds the key (letters, digits and `_`, such as OPENAI_API_KEY), \
                         not the key itself"
                    ));
                    Credentials::Missing
                }
                Some(var) if env_is_set(var) => Credentials::Present,
                Some(_) => Credentials::Missing,
            };
            let limits = resolve_limits(config, &at, &mut problems);
            providers.push(Provider {
                name: config.name.clone(),
                kind: config.kind,
                base_url: config.base_url.clone(),
                api_key_env: config.api_key_env.clone(),
                models: config.models.clone(),
                // Only the listed models' prices: the others are ignored, not shown.
                prices: config
                    .prices
                    .iter()
                    .filter(|(model, _)| models.contains(model.as_str()))
                    .map(|(model, price)| (model.clone(), *price))
                    .collect(),
                credentials,
                limits,
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

/// Whether `name` is a portable environment variable name (POSIX: letters, digits and `_`,
/// not starting with a digit), at most 255 bytes.
fn is_environment_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 255
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Applies defaults and checks bounds of a provider's limits.
fn resolve_limits(
    config: &ProviderConfig,
    at: &str,
    problems: &mut Vec<String>,
) -> ProviderLimitsConfig {
    let default_concurrency = if config.kind == ProviderKind::Simulated {
        256
    } else {
        16
    };
    let max_concurrency = config.max_concurrency.unwrap_or(default_concurrency);
    if !(1..=1024).contains(&max_concurrency) {
        problems.push(format!("{at}.max_concurrency must be between 1 and 1024"));
    }
    let max_attempts = config.max_attempts.unwrap_or(4);
    if !(1..=10).contains(&max_attempts) {
        problems.push(format!("{at}.max_attempts must be between 1 and 10"));
    }
    let max_throttled_attempts = config.max_throttled_attempts.unwrap_or(20);
    if !(1..=1000).contains(&max_throttled_attempts) {
        problems.push(format!(
            "{at}.max_throttled_attempts must be between 1 and 1000"
        ));
    }
    let max_throttled_secs = config.max_throttled_secs.unwrap_or(300);
    if !(1..=86_400).contains(&max_throttled_secs) {
        problems.push(format!(
            "{at}.max_throttled_secs must be between 1 and 86400"
        ));
    }
    for (name, value) in [
        ("requests_per_minute", config.requests_per_minute),
        ("tokens_per_minute", config.tokens_per_minute),
    ] {
        if value == Some(0) {
            problems.push(format!(
                "{at}.{name} must be at least 1 (leave it out for no limit)"
            ));
        }
    }
    let max_response_mib = config.max_response_mib.unwrap_or(DEFAULT_MAX_RESPONSE_MIB);
    if !(1..=1024).contains(&max_response_mib) {
        problems.push(format!("{at}.max_response_mib must be between 1 and 1024"));
    }
    let t = config.timeouts;
    if [t.connect_secs, t.first_byte_secs, t.idle_secs, t.total_secs].contains(&0) {
        problems.push(format!("{at}.timeouts must all be at least 1 second"));
    }
    ProviderLimitsConfig {
        max_concurrency: max_concurrency.clamp(1, 1024),
        requests_per_minute: config.requests_per_minute.filter(|n| *n > 0),
        tokens_per_minute: config.tokens_per_minute.filter(|n| *n > 0),
        max_attempts: max_attempts.clamp(1, 10),
        max_throttled_attempts: max_throttled_attempts.clamp(1, 1000),
        max_throttled: Duration::from_secs(max_throttled_secs.clamp(1, 86_400)),
        connect_timeout: Duration::from_secs(t.connect_secs.max(1)),
        first_byte_timeout: Duration::from_secs(t.first_byte_secs.max(1)),
        idle_timeout: Duration::from_secs(t.idle_secs.max(1)),
        total_timeout: Duration::from_secs(t.total_secs.max(1)),
        max_response_bytes: max_response_mib.clamp(1, 1024) as usize * 1024 * 1024,
    }
}

/// Most a response may bring by default, in MiB. Streamed, a token costs 200–300 bytes of
/// markup, so this is 200,000 or more streamed tokens (reasoning included): past any answer a
/// model is asked for.
pub const DEFAULT_MAX_RESPONSE_MIB: u32 = 64;

/// Whether `url` is an endpoint a client can send to: `http` or `https`, with a host.
fn is_endpoint(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https")
            && parsed.host_str().is_some_and(|host| !host.is_empty())
    })
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
            prices: Default::default(),
            max_concurrency: None,
            requests_per_minute: None,
            tokens_per_minute: None,
            max_attempts: None,
            max_throttled_attempts: None,
            max_throttled_secs: None,
            timeouts: TimeoutConfig::default(),
            max_response_mib: None,
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
        let mut throttling = config("Throttled", ProviderKind::Simulated, None, None);
        throttling.max_throttled_attempts = Some(0);
        throttling.max_throttled_secs = Some(86_401);
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
            ("d".to_owned(), throttling),
        ]);
        let err = ProviderRegistry::from_config(&configs, |_| false).unwrap_err();
        assert_eq!(err.0.len(), 7, "{err}");
        assert!(
            err.to_string()
                .contains("max_throttled_secs must be between 1 and 86400")
        );
    }

    #[test]
    fn a_base_url_is_an_http_url_with_a_host() {
        for (url, valid) in [
            ("https://api.openai.com/v1", true),
            ("http://127.0.0.1:8000/v1/", true),
            ("http://", false),
            ("http://:8000/v1", false),
            ("ftp://example.com", false),
            ("api.openai.com/v1", false),
        ] {
            assert_eq!(is_endpoint(url), valid, "{url}");
        }
    }

    #[test]
    fn a_key_written_where_its_variable_name_goes_is_refused_and_not_quoted() {
        let with_key_env = |key_env: &str| {
            let configs = BTreeMap::from([(
                "openai".to_owned(),
                config(
                    "OpenAI",
                    ProviderKind::OpenaiCompatible,
                    Some("https://api.openai.com/v1"),
                    Some(key_env),
                ),
            )]);
            ProviderRegistry::from_config(&configs, |_| true)
        };
        for pasted in ["sk-proj-abc123XYZ", "1PASSWORD", "MY KEY", "sk_ant=x"] {
            let text = with_key_env(pasted).unwrap_err().to_string();
            assert!(
                text.contains("providers.openai.api_key_env must be the name of the environment"),
                "{text}"
            );
            assert!(!text.contains(pasted), "the value is not quoted: {text}");
        }
        for name in ["OPENAI_API_KEY", "_KEY", "key2"] {
            assert!(with_key_env(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn basic_credentials_and_a_bearer_key_are_not_both_sent() {
        let provider = |kind: ProviderKind, url: &str, key: Option<&str>| {
            let configs = BTreeMap::from([("p".to_owned(), config("P", kind, Some(url), key))]);
            ProviderRegistry::from_config(&configs, |_| true)
        };
        let proxied = "http://bob:secret-pass@127.0.0.1:8000/v1";
        let text = provider(ProviderKind::OpenaiCompatible, proxied, Some("KEY"))
            .unwrap_err()
            .to_string();
        assert!(text.contains("both are the Authorization header"), "{text}");
        assert!(!text.contains("secret-pass"), "not quoted: {text}");
        let token_alone = "http://tok123@127.0.0.1:8000/v1";
        assert!(provider(ProviderKind::OpenaiCompatible, token_alone, Some("KEY")).is_err());
        // Either alone is fine, and Anthropic's key goes in `x-api-key`.
        assert!(provider(ProviderKind::OpenaiCompatible, proxied, None).is_ok());
        let plain = "http://127.0.0.1:8000/v1";
        assert!(provider(ProviderKind::OpenaiCompatible, plain, Some("KEY")).is_ok());
        assert!(provider(ProviderKind::Anthropic, proxied, Some("KEY")).is_ok());
    }

    #[test]
    fn prices_are_read_and_checked() {
        let priced: ProviderConfig = serde_json::from_value(serde_json::json!({
            "name": "P", "kind": "simulated", "models": ["a", "b"],
            "prices": {"a": {"input_per_mtok": 2.5, "output_per_mtok": 10.0},
                       "gone": {"input_per_mtok": 1.0, "output_per_mtok": 1.0}}
        }))
        .unwrap();
        let registry =
            ProviderRegistry::from_config(&BTreeMap::from([("p".to_owned(), priced)]), |_| false)
                .unwrap();
        let provider = registry.get("P").unwrap();
        assert_eq!(
            provider.prices.keys().collect::<Vec<_>>(),
            ["a"],
            "the price of a model not listed is ignored"
        );
        assert_eq!(
            provider.price("a"),
            Some(ModelPrice {
                input_per_mtok: 2.5,
                output_per_mtok: 10.0
            })
        );
        assert_eq!(provider.price("b"), None);

        let mut wrong = config("W", ProviderKind::Simulated, None, None);
        wrong.prices = BTreeMap::from([
            (
                "m1".to_owned(),
                ModelPrice {
                    input_per_mtok: -1.0,
                    output_per_mtok: f64::NAN,
                },
            ),
            (
                "unknown".to_owned(),
                ModelPrice {
                    input_per_mtok: 1.0,
                    output_per_mtok: 1.0,
                },
            ),
        ]);
        let err =
            ProviderRegistry::from_config(&BTreeMap::from([("w".to_owned(), wrong)]), |_| false)
                .unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(
            err.to_string()
                .contains("providers.w.prices.\"m1\".input_per_mtok must be between 0")
        );
    }

    #[test]
    fn the_browser_harness_name_is_reserved() {
        let configs = BTreeMap::from([(
            "x".to_owned(),
            config("Browser Harness", ProviderKind::Simulated, None, None),
        )]);
        let err = ProviderRegistry::from_config(&configs, |_| false).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
    }
}
