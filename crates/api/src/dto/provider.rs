//! Providers on the wire: names, kinds and models, never a secret.

use std::collections::BTreeMap;

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
    /// Prices of the models that have one, by model: what runs' costs are computed from.
    pub prices: BTreeMap<String, PriceDto>,
}

/// A model's price, in US dollars per million tokens.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PriceDto {
    /// Per million prompt tokens.
    pub input_per_mtok: f64,
    /// Per million generated tokens.
    pub output_per_mtok: f64,
}

impl From<&Provider> for ProviderDto {
    fn from(p: &Provider) -> Self {
        Self {
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            simulated: p.kind == ProviderKind::Simulated,
            models: p.models.clone(),
            credentials: p.credentials.as_str().to_owned(),
            prices: p
                .prices
                .iter()
                .map(|(model, price)| {
                    (
                        model.clone(),
                        PriceDto {
                            input_per_mtok: price.input_per_mtok,
                            output_per_mtok: price.output_per_mtok,
                        },
                    )
                })
                .collect(),
        }
    }
}
