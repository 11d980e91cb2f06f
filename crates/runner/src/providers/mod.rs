//! Providers: the registry from configuration, and the clients that send prompts to models —
//! all behind one trait, [`ModelClient`].

mod anthropic;
mod client;
mod openai;
mod redact;
mod registry;
mod simulated;
mod streaming;

pub use client::{
    ClientSet, Completion, CompletionRequest, ModelClient, ProviderError, api_key_from_env,
    client_for,
};
pub use redact::{REDACTED, Redactor};
pub use registry::{
    Credentials, DEFAULT_MAX_RESPONSE_MIB, Provider, ProviderConfig, ProviderConfigError,
    ProviderKind, ProviderLimitsConfig, ProviderRegistry, TimeoutConfig,
};
