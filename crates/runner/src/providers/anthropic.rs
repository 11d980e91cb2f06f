//! Anthropic's Messages API with streaming (`POST {base}/messages`, `stream: true`).

use std::time::Duration;

use chrono::Utc;
use evalboard_domain::TokenUsage;
use evalboard_domain::truncate_to_micros;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    client::{ApiKey, Completion, CompletionRequest, ModelClient, ProviderError, cut_off_of},
    registry::ProviderLimitsConfig,
    streaming::{events, http_client, is_event_stream, next_event, send, whole_body},
};

/// The Messages API requires `max_tokens`; this is used when the run sets none.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 4096;
const API_VERSION: &str = "2023-06-01";

pub(super) struct AnthropicClient {
    http: reqwest::Client,
    endpoint: String,
    key: Option<ApiKey>,
    key_env: Option<String>,
    first_byte: Duration,
    idle: Duration,
    /// Most bytes a response may bring (`max_response_mib`).
    max_response: usize,
}

impl AnthropicClient {
    pub(super) fn new(
        base_url: String,
        key: Option<ApiKey>,
        key_env: Option<String>,
        limits: &ProviderLimitsConfig,
    ) -> Self {
        Self {
            http: http_client(limits),
            endpoint: super::client::endpoint(&base_url, "messages"),
            key,
            key_env,
            first_byte: limits.first_byte_timeout,
            idle: limits.idle_timeout,
            max_response: limits.max_response_bytes,
        }
    }
}

impl ModelClient for AnthropicClient {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
        on_chunk: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let Some(key) = &self.key else {
                return Err(ProviderError::NotConfigured(match &self.key_env {
                    Some(var) => format!("the API key variable {var} is not set"),
                    None => "an Anthropic provider needs api_key_env".into(),
                }));
            };
            let generation = request.generation;
            let mut body = json!({
                "model": request.model,
                "max_tokens": generation.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
                "messages": [{"role": "user", "content": request.prompt}],
                "stream": true,
            });
            if let Some(t) = generation.temperature {
                body["temperature"] = json!(t);
            }
            // Newer models refuse both at once; the temperature wins.
            if let (Some(p), None) = (generation.top_p, generation.temperature) {
                body["top_p"] = json!(p);
            }
            let http = self
                .http
                .post(&self.endpoint)
                .header("x-api-key", &key.0)
                .header("anthropic-version", API_VERSION)
                .json(&body);
            let response = send(http, self.first_byte).await?;
            if !is_event_stream(&response) {
                // A server (a proxy, a compatible one) that ignored `stream: true`.
                return whole_message(response, self.max_response, on_chunk).await;
            }
            let mut stream = Box::pin(events(response, self.max_response));
            let mut text = String::new();
            let mut reasoning = String::new();
            let mut first_token_at = None;
            let mut usage = TokenUsage::default();
            let mut finished = false;
            let mut cut_off = None;
            // A `stop_reason` came: the model stopped, even with nothing said.
            let mut stopped = false;
            while let Some(event) = next_event(&mut stream, self.idle).await? {
                let kind = event.event.as_deref().unwrap_or("message");
                let payload = event.data.as_deref().unwrap_or_default();
                if kind == "ping" || payload.trim().is_empty() {
                    continue;
                }
                let data: Value = serde_json::from_str(payload)
                    .map_err(|e| ProviderError::Malformed(format!("an event is not JSON: {e}")))?;
                match data.get("type").and_then(Value::as_str).unwrap_or(kind) {
                    "message_start" => {
                        usage.prompt_tokens = count(&data, "/message/usage/input_tokens");
                    }
                    "content_block_delta" => {
                        // `text_delta` pieces are the answer; `thinking_delta` pieces (extended
                        // thinking) are reasoning, kept apart.
                        let (piece, into) = match data.pointer("/delta/thinking") {
                            Some(thinking) => (thinking.as_str(), &mut reasoning),
                            None => (
                                data.pointer("/delta/text").and_then(Value::as_str),
                                &mut text,
                            ),
                        };
                        if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                            first_token_at.get_or_insert_with(|| truncate_to_micros(Utc::now()));
                            into.push_str(piece);
                            on_chunk(piece);
                        }
                    }
                    "message_delta" => {
                        if let Some(tokens) = count(&data, "/usage/output_tokens") {
                            usage.completion_tokens = Some(tokens);
                        }
                        if let Some(reason) =
                            data.pointer("/delta/stop_reason").and_then(Value::as_str)
                        {
                            stopped = true;
                            cut_off = cut_off_of(reason);
                        }
                    }
                    "message_stop" => {
                        finished = true;
                        break;
                    }
                    "error" => {
                        let message = data
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("error event in the stream");
                        let kind = data.pointer("/error/type").and_then(Value::as_str);
                        return Err(if kind == Some("rate_limit_error") {
                            ProviderError::RateLimited {
                                message: message.to_owned(),
                                retry_after: None,
                            }
                        } else {
                            ProviderError::Server {
                                status: 0,
                                message: message.to_owned(),
                            }
                        });
                    }
                    _ => {}
                }
            }
            if !finished {
                return Err(ProviderError::StreamCut(format!(
                    "the stream ended after {} character(s) without message_stop",
                    text.chars().count()
                )));
            }
            // A message that stopped with no text, no thinking and no stop reason carried no
            // answer (a proxy's empty reply): a fault to try again, not the model's answer.
            if !stopped && text.is_empty() && reasoning.is_empty() {
                return Err(ProviderError::Malformed(
                    "the stream ended (message_stop) without an answer: no text and no stop_reason"
                        .into(),
                ));
            }
            Ok(Completion {
                text,
                reasoning,
                first_token_at,
                usage,
                cut_off,
            })
        })
    }
}

/// A non-streamed Messages API reply: its `text` blocks are the answer, its `thinking` blocks
/// the reasoning.
async fn whole_message(
    response: reqwest::Response,
    most: usize,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let body: Value = serde_json::from_slice(&whole_body(response, most).await?)
        .map_err(|e| ProviderError::Malformed(format!("the response is not a message: {e}")))?;
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Malformed("the response has no content".into()))?;
    let joined = |kind: &str| -> String {
        blocks
            .iter()
            .filter(|block| block.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|block| block.get(kind).and_then(Value::as_str))
            .collect()
    };
    let text = joined("text");
    on_chunk(&text);
    Ok(Completion {
        text,
        reasoning: joined("thinking"),
        first_token_at: Some(truncate_to_micros(Utc::now())),
        usage: TokenUsage {
            prompt_tokens: count(&body, "/usage/input_tokens"),
            completion_tokens: count(&body, "/usage/output_tokens"),
            ..TokenUsage::default()
        },
        cut_off: body
            .get("stop_reason")
            .and_then(Value::as_str)
            .and_then(cut_off_of),
    })
}

fn count(data: &Value, pointer: &str) -> Option<u32> {
    data.pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}
