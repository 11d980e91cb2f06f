//! OpenAI-compatible chat completions with streaming: OpenAI itself, vLLM, Ollama, llama.cpp's
//! server and anything else that speaks `POST {base}/chat/completions` with `stream: true`.

use std::time::Duration;

use chrono::Utc;
use evalboard_domain::truncate_to_micros;
use evalboard_persistence::Usage;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    client::{ApiKey, Completion, CompletionRequest, ModelClient, ProviderError},
    registry::ProviderLimitsConfig,
    streaming::{events, http_client, next_event, send},
};

pub(super) struct OpenAiClient {
    http: reqwest::Client,
    endpoint: String,
    key: Option<ApiKey>,
    key_env: Option<String>,
    first_byte: Duration,
    idle: Duration,
}

impl OpenAiClient {
    pub(super) fn new(
        base_url: String,
        key: Option<ApiKey>,
        key_env: Option<String>,
        limits: &ProviderLimitsConfig,
    ) -> Self {
        Self {
            http: http_client(limits),
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            key,
            key_env,
            first_byte: limits.first_byte_timeout,
            idle: limits.idle_timeout,
        }
    }
}

impl ModelClient for OpenAiClient {
    fn complete<'a>(
        &'a self,
        request: CompletionRequest<'a>,
        on_chunk: &'a mut (dyn FnMut(&str) + Send),
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            if let (Some(var), None) = (&self.key_env, &self.key) {
                return Err(ProviderError::NotConfigured(format!(
                    "the API key variable {var} is not set"
                )));
            }
            let mut body = json!({
                "model": request.model,
                "messages": [{"role": "user", "content": request.prompt}],
                "stream": true,
                "stream_options": {"include_usage": true},
            });
            let generation = request.generation;
            if let Some(t) = generation.temperature {
                body["temperature"] = json!(t);
            }
            if let Some(p) = generation.top_p {
                body["top_p"] = json!(p);
            }
            if let Some(m) = generation.max_tokens {
                body["max_tokens"] = json!(m);
            }
            let mut http = self.http.post(&self.endpoint).json(&body);
            if let Some(key) = &self.key {
                http = http.bearer_auth(&key.0);
            }
            let response = send(http, self.first_byte).await?;
            let mut stream = Box::pin(events(response));
            let mut text = String::new();
            let mut first_token_at = None;
            let mut usage = Usage::default();
            let mut finished = false;
            while let Some(event) = next_event(&mut stream, self.idle).await? {
                let data = event.data.trim();
                if data == "[DONE]" {
                    finished = true;
                    break;
                }
                if data.is_empty() {
                    continue;
                }
                let chunk: Value = serde_json::from_str(data)
                    .map_err(|e| ProviderError::Malformed(format!("a chunk is not JSON: {e}")))?;
                if let Some(error) = chunk.get("error") {
                    let message = error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("error event in the stream");
                    return Err(ProviderError::Server {
                        status: 0,
                        message: message.to_owned(),
                    });
                }
                if let Some(reported) = chunk.get("usage").filter(|u| !u.is_null()) {
                    usage = Usage {
                        prompt_tokens: count(reported, "prompt_tokens"),
                        completion_tokens: count(reported, "completion_tokens"),
                    };
                }
                let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
                    return Err(ProviderError::Malformed("a chunk has no `choices`".into()));
                };
                if let Some(choice) = choices.first() {
                    if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str)
                        && !piece.is_empty()
                    {
                        first_token_at.get_or_insert_with(|| truncate_to_micros(Utc::now()));
                        text.push_str(piece);
                        on_chunk(piece);
                    }
                    if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
                        // Some servers end here without `[DONE]`; usage may still follow.
                        finished = true;
                    }
                }
            }
            if !finished {
                return Err(ProviderError::StreamCut(format!(
                    "the stream ended after {} characters without finishing",
                    text.len()
                )));
            }
            Ok(Completion {
                text,
                first_token_at,
                usage,
            })
        })
    }
}

fn count(usage: &Value, field: &str) -> Option<u32> {
    usage
        .get(field)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}
