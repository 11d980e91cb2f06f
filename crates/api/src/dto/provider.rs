//! Providers on the wire: names, kinds and models, never a secret.

use evalboard_runner::{Provider, ProviderKind};
use serde::Serialize;
use utoipa::ToSchema;

/// A configured provider.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderDto {
    /// Name runs refer to it by.
    #[schema(example = "Simulated")]
    pub name: String,
    /// `simulated`, `openai-compatible` or `anthropic`.
    pub kind: String,
    /// `true` for the offline Simulated provider: its answers are not a real model's.
    pub simulated: bool,
    /// Model names runs may use.
    pub models: Vec<String>,
    /// `notRequired`, `present` or `missing`: whether the API key is available (never the key).
    pub credentials: String,
}

impl From<&Provider> for ProviderDto {
    fn from(p: &Provider) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            simulated: p.kind == ProviderKind::Simulated,
            models: p.models.clone(),
            credentials: p.credentials.as_str().to_owned(),
        }
    }
}
