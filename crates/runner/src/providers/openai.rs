//! OpenAI-compatible chat completions with streaming: OpenAI itself, vLLM, Ollama, llama.cpp's
//! server and anything else that speaks `POST {base}/chat/completions` with `stream: true`.

use std::time::Duration;

use chrono::Utc;
use evalboard_domain::TokenUsage;
use evalboard_domain::truncate_to_micros;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{
    client::{ApiKey, Completion, CompletionRequest, ModelClient, ProviderError},
    registry::ProviderLimitsConfig,
    streaming::{events, http_client, next_event, send},
};

/// After the last choice finished, how long to wait for the usage chunk and `[DONE]` before
/// taking the answer as complete (some servers leave the connection open).
const AFTER_FINISH: Duration = Duration::from_secs(2);

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

/// What a streamed answer accumulates.
#[derive(Default)]
struct Streamed {
    text: String,
    first_token_at: Option<evalboard_domain::Timestamp>,
    usage: TokenUsage,
    finished: bool,
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
            let streamed = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_none_or(|t| t.starts_with("text/event-stream"));
            if !streamed {
                // A server that ignored `stream: true` and answered in one piece.
                return whole_answer(response, on_chunk).await;
            }
            let mut stream = Box::pin(events(response));
            let mut answer = Streamed::default();
            loop {
                let idle = if answer.finished {
                    AFTER_FINISH
                } else {
                    self.idle
                };
                let event = match next_event(&mut stream, idle).await {
                    Ok(Some(event)) => event,
                    Ok(None) => break,
                    Err(ProviderError::Timeout(_)) if answer.finished => break,
                    Err(error) => return Err(error),
                };
                let data = event.data.trim();
                if data == "[DONE]" {
                    answer.finished = true;
                    break;
                }
                if !data.is_empty() {
                    read_chunk(data, &mut answer, on_chunk)?;
                }
            }
            if !answer.finished {
                return Err(ProviderError::StreamCut(format!(
                    "the stream ended after {} characters without finishing",
                    answer.text.len()
                )));
            }
            Ok(Completion {
                text: answer.text,
                first_token_at: answer.first_token_at,
                usage: answer.usage,
            })
        })
    }
}

/// Folds one `data:` payload into the answer.
fn read_chunk(
    data: &str,
    answer: &mut Streamed,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ProviderError> {
    let chunk: Value = serde_json::from_str(data)
        .map_err(|e| ProviderError::Malformed(format!("a chunk is not JSON: {e}")))?;
    // OpenAI sends `{"error": {...}}`; vLLM sends `{"object": "error", "message": ...}`.
    let error = chunk.get("error").or_else(|| {
        (chunk.get("object").and_then(Value::as_str) == Some("error")).then_some(&chunk)
    });
    if let Some(error) = error {
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
        answer.usage = usage_of(reported);
    }
    let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
        return Err(ProviderError::Malformed("a chunk has no `choices`".into()));
    };
    if let Some(choice) = choices.first() {
        if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str)
            && !piece.is_empty()
        {
            answer
                .first_token_at
                .get_or_insert_with(|| truncate_to_micros(Utc::now()));
            answer.text.push_str(piece);
            on_chunk(piece);
        }
        if choice.get("finish_reason").is_some_and(|r| !r.is_null()) {
            // Some servers end here without `[DONE]`; usage may still follow.
            answer.finished = true;
        }
    }
    Ok(())
}

/// A non-streamed chat completion: `choices[0].message.content`.
async fn whole_answer(
    response: reqwest::Response,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let body: Value = response.json().await.map_err(|e| {
        ProviderError::Malformed(format!("the response is not a chat completion: {e}"))
    })?;
    let text = body
        .pointer("/choices/0/message/content")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::Malformed("the response has no message content".into()))?
        .to_owned();
    on_chunk(&text);
    let usage = body.get("usage").map_or(TokenUsage::default(), usage_of);
    Ok(Completion {
        text,
        first_token_at: Some(truncate_to_micros(Utc::now())),
        usage,
    })
}

/// A `usage` object: prompt and completion tokens, and the reasoning tokens among the latter
/// where the server says (`completion_tokens_details.reasoning_tokens`).
fn usage_of(usage: &Value) -> TokenUsage {
    TokenUsage {
        prompt_tokens: count(usage, "/prompt_tokens"),
        completion_tokens: count(usage, "/completion_tokens"),
        reasoning_tokens: count(usage, "/completion_tokens_details/reasoning_tokens"),
    }
}

fn count(usage: &Value, pointer: &str) -> Option<u32> {
    usage
        .pointer(pointer)
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
}
