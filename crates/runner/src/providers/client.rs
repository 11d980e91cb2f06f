//! The one interface every provider client implements, and what goes in and out of it.

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use evalboard_domain::{CutOff, TokenUsage};
use evalboard_domain::{GenerationSettings, ItemAnswer, SimulatedSettings, Timestamp};
use futures_util::future::BoxFuture;

use super::{
    anthropic::AnthropicClient, openai::OpenAiClient, redact::Redactor, registry::Provider,
    registry::ProviderKind, registry::ProviderRegistry, simulated::SimulatedClient,
};

/// One prompt to one model.
#[derive(Debug, Clone, Copy)]
pub struct CompletionRequest<'a> {
    /// The model, as the provider names it.
    pub model: &'a str,
    /// The whole prompt, sent as one user message.
    pub prompt: &'a str,
    /// Sampling parameters.
    pub generation: &'a GenerationSettings,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
    /// A stable name of the item (its dataset item id): the simulated provider derives its
    /// behaviour from it, so equal settings give equal runs.
    pub item_key: &'a str,
    /// The item's answer and its number of options: only the simulated provider looks at
    /// them, to be right with the configured accuracy.
    pub expected: (&'a ItemAnswer, usize),
    /// Simulated behaviour chosen by the run, if any.
    pub simulated: Option<&'a SimulatedSettings>,
    /// When the request asks a judge for a verdict: the response it grades. Only the simulated
    /// provider reads it (it grades by the extraction rules, so that an LLM judge can be tried
    /// offline); a real judge reads the prompt.
    pub judging: Option<&'a str>,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The response text.
    pub text: String,
    /// Reasoning the provider sent apart from the text (OpenAI-compatible `reasoning_content`
    /// or `reasoning` deltas, Anthropic thinking blocks); empty when none.
    pub reasoning: String,
    /// When the first chunk arrived.
    pub first_token_at: Option<Timestamp>,
    /// Token usage, when the provider reported it.
    pub usage: TokenUsage,
    /// Why the provider stopped the answer before the model finished it, if it did.
    pub cut_off: Option<CutOff>,
}

/// The cut-off an OpenAI-compatible `finish_reason` or an Anthropic `stop_reason` says, `None`
/// for an answer the model ended (`stop`, `end_turn`, a tool call, anything else).
pub(super) fn cut_off_of(reason: &str) -> Option<CutOff> {
    match reason {
        "length" | "max_tokens" | "model_context_window_exceeded" => Some(CutOff::MaxTokens),
        "content_filter" | "refusal" => Some(CutOff::ContentFilter),
        _ => None,
    }
}

/// Why a request failed. Each kind says whether trying again can help and whether the whole
/// run can go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 429: too many requests.
    #[error("rate limited: {message}")]
    RateLimited {
        /// What the provider said.
        message: String,
        /// How long it asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// 5xx, or an error event in the stream.
    #[error("server error{}: {message}", status_of(*status))]
    Server {
        /// The HTTP status (or 0 for an in-stream error).
        status: u16,
        /// What the provider said.
        message: String,
    },
    /// No response, or no data for too long.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The stream ended before the answer was complete.
    #[error("stream cut: {0}")]
    StreamCut(String),
    /// The response was not what the API promises.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The connection failed.
    #[error("network error: {0}")]
    Network(String),
    /// 401/403: the credentials are refused. Nothing can proceed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// 404: the model or endpoint does not exist. Nothing can proceed.
    #[error("not found: {0}")]
    NotFound(String),
    /// Another 4xx: this request is refused as it is; trying again will not help.
    #[error("rejected ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the provider said.
        message: String,
    },
    /// The provider is not usable as configured (e.g. its key variable is unset).
    #[error("not configured: {0}")]
    NotConfigured(String),
    /// The response passed the provider's `max_response_mib`: a model that does not stop.
    /// Asking again would most likely bring the same.
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A server error's status as its message says it: an error event inside a stream came with
/// the stream's 200, and "server error 0" read as a status.
fn status_of(status: u16) -> String {
    match status {
        0 => " in the stream".to_owned(),
        status => format!(" {status}"),
    }
}

impl ProviderError {
    /// A short machine-readable name, stored with the item.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::Timeout(_) => "timeout",
            Self::StreamCut(_) => "stream_cut",
            Self::Malformed(_) => "malformed",
            Self::Network(_) => "network",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Rejected { .. } => "rejected",
            Self::NotConfigured(_) => "not_configured",
            Self::TooLarge(_) => "too_large",
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout(_)
                | Self::StreamCut(_)
                | Self::Malformed(_)
                | Self::Network(_)
        )
    }

    /// Whether an item that failed for good with this error failed as every item fails on a
    /// provider that is down or broken (unreachable, 5xx, timeouts, cut or garbled streams):
    /// retryable, but not throttling, after which the provider answers again.
    pub fn says_the_provider_is_down(&self) -> bool {
        self.is_retryable() && !matches!(self, Self::RateLimited { .. })
    }

    /// Whether the run cannot proceed at all (every item would fail the same way).
    pub fn is_fatal_for_run(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized(_) | Self::NotFound(_) | Self::NotConfigured(_)
        )
    }

    /// The same error with every secret `redactor` knows of taken out of its text.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        self.map_messages(|text| redactor.redact(&text))
    }

    /// The same error with `r` applied to its text.
    fn map_messages(self, r: impl Fn(String) -> String) -> Self {
        match self {
            Self::RateLimited {
                message,
                retry_after,
            } => Self::RateLimited {
                message: r(message),
                retry_after,
            },
            Self::Server { status, message } => Self::Server {
                status,
                message: r(message),
            },
            Self::Timeout(m) => Self::Timeout(r(m)),
            Self::StreamCut(m) => Self::StreamCut(r(m)),
            Self::Malformed(m) => Self::Malformed(r(m)),
            Self::Network(m) => Self::Network(r(m)),
            Self::Unauthorized(m) => Self::Unauthorized(r(m)),
            Self::NotFound(m) => Self::NotFound(r(m)),
            Self::Rejected { status, message } => Self::Rejected {
                status,
                message: r(message),
            },
            Self::NotConfigured(m) => Self::NotConfigured(r(m)),
            Self::TooLarge(m) => Self::TooLarge(r(m)),
        }
    }

    /// The wait the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Sends prompts to one provider's models.
pub trait ModelClient: Send + Sync {
    /// Sends one prompt and streams the answer, calling `on_chunk` with each piece of text as
    /// it arrives. Dropping the future aborts the request.
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
        on_chunk: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;
}

/// An API key: never printed, never logged.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// A client whose errors never carry a secret: each passes through the redactor before anything
/// else sees it. Its text, answers and errors alike, is also made storable: U+0000, which
/// PostgreSQL's `text` cannot hold (every write of the batch holding it failed, and the run's
/// items were claimed and sent again for ever), is kept as U+FFFD.
struct Redacting {
    inner: Arc<dyn ModelClient>,
    redactor: Arc<Redactor>,
}

impl ModelClient for Redacting {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
        on_chunk: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let mut storable_chunk = |chunk: &str| match nul_replaced(chunk) {
                Some(mended) => on_chunk(&mended),
                None => on_chunk(chunk),
            };
            let storable = |text: String| nul_replaced(&text).unwrap_or(text);
            match self.inner.complete(request, &mut storable_chunk).await {
                Ok(completion) => Ok(Completion {
                    text: storable(completion.text),
                    reasoning: storable(completion.reasoning),
                    ..completion
                }),
                Err(error) => Err(error.redacted(&self.redactor).map_messages(storable)),
            }
        })
    }
}

/// `text` with U+0000 replaced by U+FFFD, when it has any (nearly never: `None`, no copy).
fn nul_replaced(text: &str) -> Option<String> {
    text.contains('\0').then(|| text.replace('\0', "\u{FFFD}"))
}

/// Builds the client for a configured provider with its key (`None` when it takes none or the
/// key is not set).
pub fn client_for(provider: &Provider, key: Option<String>) -> Arc<dyn ModelClient> {
    let key = key.filter(|k| !k.is_empty()).map(ApiKey);
    let base_url = provider.base_url.clone().unwrap_or_default();
    match provider.kind {
        ProviderKind::Simulated => Arc::new(SimulatedClient),
        ProviderKind::OpenaiCompatible => Arc::new(OpenAiClient::new(
            base_url,
            key,
            provider.api_key_env.clone(),
            &provider.limits,
        )),
        ProviderKind::Anthropic => Arc::new(AnthropicClient::new(
            base_url,
            key,
            provider.api_key_env.clone(),
            &provider.limits,
        )),
    }
}

/// Where a provider's requests for `operation` (`chat/completions`, `messages`) go: `base`
/// with `operation` appended to its path, its query kept — an Azure-style
/// `…/openai/v1?api-version=2025-04-01-preview` sends to
/// `…/openai/v1/chat/completions?api-version=2025-04-01-preview`, not after the query.
pub(super) fn endpoint(base: &str, operation: &str) -> String {
    // The registry refuses a base that is not an http(s) URL with a host; a client made
    // without it (tests) still gets the plain join.
    let Ok(mut url) = reqwest::Url::parse(base) else {
        return format!("{}/{operation}", base.trim_end_matches('/'));
    };
    let path = format!("{}/{operation}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url.into()
}

/// The API key environment variable `var` holds: its value without surrounding whitespace
/// (a secret made from a file usually ends in a newline, which no HTTP header may hold: every
/// request would fail before it is sent), or `None` when it is unset, empty or not Unicode.
pub fn api_key_from_env(var: &str) -> Option<String> {
    usable_key(&std::env::var(var).ok()?)
}

fn usable_key(value: &str) -> Option<String> {
    let key = value.trim();
    (!key.is_empty()).then(|| key.to_owned())
}

/// A client per configured provider, by name. Errors of every client are redacted of every
/// configured key (any provider's), and of anything shaped like a credential.
#[derive(Clone, Default)]
pub struct ClientSet {
    clients: HashMap<String, Arc<dyn ModelClient>>,
    redactor: Arc<Redactor>,
}

impl ClientSet {
    /// Clients for every provider of the registry, their keys read from the environment
    /// ([`api_key_from_env`]).
    pub fn from_registry(registry: &ProviderRegistry) -> Self {
        Self::with_keys(registry, api_key_from_env)
    }

    /// Clients for every provider of the registry, with the keys `key_of` gives for their key
    /// variables.
    pub fn with_keys(registry: &ProviderRegistry, key_of: impl Fn(&str) -> Option<String>) -> Self {
        let keyed: Vec<(&Provider, Option<String>)> = registry
            .providers()
            .iter()
            .map(|p| (p, p.api_key_env.as_deref().and_then(&key_of)))
            .collect();
        let redactor = Arc::new(Redactor::new(
            keyed.iter().filter_map(|(_, key)| key.clone()).chain(
                keyed
                    .iter()
                    .filter_map(|(provider, _)| provider.base_url.as_deref())
                    .flat_map(super::redact::url_credentials),
            ),
        ));
        let mut set = Self {
            clients: HashMap::new(),
            redactor,
        };
        for (provider, key) in keyed {
            set.insert(&provider.name, client_for(provider, key));
        }
        set
    }

    /// Replaces (or adds) the client of one provider; tests use it to put a fake in place.
    pub fn insert(&mut self, provider: &str, client: Arc<dyn ModelClient>) {
        let redacting = Redacting {
            inner: client,
            redactor: Arc::clone(&self.redactor),
        };
        self.clients
            .insert(provider.to_owned(), Arc::new(redacting));
    }

    /// The client of a provider.
    pub fn get(&self, provider: &str) -> Option<Arc<dyn ModelClient>> {
        self.clients.get(provider).cloned()
    }
}

#[cfg(test)]
mod tests {
    use evalboard_domain::CutOff;

    use super::{cut_off_of, endpoint, usable_key};

    #[test]
    fn an_endpoint_goes_after_the_base_path_and_before_its_query() {
        for (base, expected) in [
            (
                "https://api.openai.com/v1",
                "https://api.openai.com/v1/chat/completions",
            ),
            (
                "http://127.0.0.1:8000/v1/",
                "http://127.0.0.1:8000/v1/chat/completions",
            ),
            (
                "http://localhost:8000",
                "http://localhost:8000/chat/completions",
            ),
            (
                "https://x.openai.azure.com/openai/v1?api-version=2025-04-01-preview",
                "https://x.openai.azure.com/openai/v1/chat/completions?api-version=2025-04-01-preview",
            ),
            (
                "https://x.example/v1/?a=1&b=2#part",
                "https://x.example/v1/chat/completions?a=1&b=2",
            ),
        ] {
            assert_eq!(endpoint(base, "chat/completions"), expected, "{base}");
        }
    }

    #[test]
    fn stop_reasons_of_both_apis() {
        for (reason, cut_off) in [
            ("length", Some(CutOff::MaxTokens)),
            ("max_tokens", Some(CutOff::MaxTokens)),
            ("content_filter", Some(CutOff::ContentFilter)),
            ("refusal", Some(CutOff::ContentFilter)),
            ("stop", None),
            ("end_turn", None),
            ("tool_calls", None),
            ("stop_sequence", None),
        ] {
            assert_eq!(cut_off_of(reason), cut_off, "{reason}");
        }
    }

    #[test]
    fn a_key_is_used_without_the_whitespace_around_it() {
        assert_eq!(usable_key("sk-abc\n").as_deref(), Some("sk-abc"));
        assert_eq!(usable_key("  sk-abc \r\n").as_deref(), Some("sk-abc"));
        assert_eq!(usable_key("sk-abc").as_deref(), Some("sk-abc"));
        assert_eq!(usable_key(""), None);
        assert_eq!(usable_key(" \n"), None);
    }
}
