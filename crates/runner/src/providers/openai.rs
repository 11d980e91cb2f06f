//! OpenAI-compatible chat completions with streaming: OpenAI itself, vLLM, Ollama, llama.cpp's
//! server and anything else that speaks `POST {base}/chat/completions` with `stream: true`.

use std::{borrow::Cow, fmt, marker::PhantomData, time::Duration};

use chrono::Utc;
use evalboard_domain::truncate_to_micros;
use evalboard_domain::{CutOff, TokenUsage};
use futures_util::future::BoxFuture;
use serde::{
    Deserialize, Deserializer,
    de::{IgnoredAny, SeqAccess, Visitor},
};
use serde_json::{Value, json};

use super::{
    client::{ApiKey, Completion, CompletionRequest, ModelClient, ProviderError, cut_off_of},
    registry::ProviderLimitsConfig,
    streaming::{events, http_client, is_event_stream, next_event, send, whole_body},
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
    /// Most bytes a response may bring (`max_response_mib`).
    max_response: usize,
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
            endpoint: super::client::endpoint(&base_url, "chat/completions"),
            key,
            key_env,
            first_byte: limits.first_byte_timeout,
            idle: limits.idle_timeout,
            max_response: limits.max_response_bytes,
        }
    }
}

/// What a streamed answer accumulates.
#[derive(Default)]
struct Streamed {
    text: String,
    reasoning: String,
    first_token_at: Option<evalboard_domain::Timestamp>,
    usage: TokenUsage,
    /// `[DONE]` or a choice's `finish_reason` came.
    finished: bool,
    /// A choice's `finish_reason` came: the model stopped, even with nothing said.
    stopped: bool,
    cut_off: Option<CutOff>,
}

impl Streamed {
    /// The answer of a stream that ended: a fault unless it finished, and unless it carried an
    /// answer. A `[DONE]` after no choice at all (or only the usage) is a server or proxy that
    /// answered nothing, not a model that said nothing: stored as an answer, it was judged
    /// wrong, kept in the response cache, and left out of a retry of the run's faults.
    fn into_completion(self) -> Result<Completion, ProviderError> {
        if !self.finished {
            return Err(ProviderError::StreamCut(format!(
                "the stream ended after {} character(s) without finishing",
                self.text.chars().count()
            )));
        }
        if !self.stopped && self.text.is_empty() && self.reasoning.is_empty() {
            return Err(ProviderError::Malformed(
                "the stream ended ([DONE]) without an answer: no text and no finish_reason".into(),
            ));
        }
        Ok(Completion {
            text: self.text,
            reasoning: self.reasoning,
            first_token_at: self.first_token_at,
            usage: self.usage,
            cut_off: self.cut_off,
        })
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
            if !is_event_stream(&response) {
                // A server that ignored `stream: true` and answered in one piece.
                return whole_answer(response, self.max_response, on_chunk).await;
            }
            let mut stream = Box::pin(events(response, self.max_response));
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
                let data = event.data.as_deref().unwrap_or_default().trim();
                if data == "[DONE]" {
                    answer.finished = true;
                    break;
                }
                if !data.is_empty() {
                    read_chunk(data, &mut answer, on_chunk)?;
                }
            }
            answer.into_completion()
        })
    }
}

/// One streamed chunk, as far as it is read. Typed and borrowing, allocating nothing for an
/// ordinary chunk (a chunk arrives per word or token, so building a `Value` of each was a large
/// share of the cost of an answer); the rare parts whose shape varies between servers stay
/// `Value`s.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Option<FirstChoice<'a>>,
    #[serde(default)]
    usage: Option<Value>,
    /// OpenAI's error event: `{"error": {"message": ...}}`.
    #[serde(default)]
    error: Option<Value>,
    /// `chat.completion.chunk`, or vLLM's error event: `{"object": "error", "message": ...}`.
    /// (A string in every server's chunks; a chunk with another kind of `object` is refused.)
    #[serde(borrow, default)]
    object: Option<Text<'a>>,
    #[serde(default)]
    message: Option<Value>,
}

/// The first of a chunk's `choices`, the others skipped unread: a stream is asked for one
/// choice (`n` is never set), and a list would be allocated per chunk.
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct First<'a>(PhantomData<Choice<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for First<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut choices: A) -> Result<Self::Value, A::Error> {
                let first = choices.next_element()?;
                while choices.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_seq(First(PhantomData))
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    /// Any value but `null` ends the choice; a string says why.
    #[serde(default)]
    finish_reason: Option<FinishReason<'a>>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Text<'a>>,
    /// Reasoning sent apart from the answer: `reasoning_content` (DeepSeek, vLLM, SGLang) or
    /// `reasoning` (OpenRouter, Ollama); a server that sends both repeats itself, and the first
    /// is read.
    #[serde(borrow, default)]
    reasoning_content: Option<Text<'a>>,
    #[serde(borrow, default)]
    reasoning: Option<Text<'a>>,
}

/// A choice's `finish_reason`: a string as every server sends it, anything else read past.
#[derive(Deserialize)]
#[serde(untagged)]
enum FinishReason<'a> {
    Named(#[serde(borrow)] Text<'a>),
    Other(IgnoredAny),
}

/// A string of a chunk, borrowed from it unless it holds escapes. (serde borrows a `Cow<str>`
/// only where it is a field's own type: an `Option<Cow<str>>` is always an owned copy.)
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// Folds one `data:` payload into the answer.
fn read_chunk(
    data: &str,
    answer: &mut Streamed,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<(), ProviderError> {
    let chunk: Chunk<'_> = serde_json::from_str(data).map_err(|e| {
        ProviderError::Malformed(format!("a chunk is not a chat completion chunk: {e}"))
    })?;
    let error = match (&chunk.error, &chunk.object) {
        (Some(error), _) => Some(error.get("message")),
        (None, Some(Text(object))) if object == "error" => Some(chunk.message.as_ref()),
        _ => None,
    };
    if let Some(message) = error {
        let message = message
            .and_then(Value::as_str)
            .unwrap_or("error event in the stream");
        return Err(ProviderError::Server {
            status: 0,
            message: message.to_owned(),
        });
    }
    if let Some(reported) = chunk.usage.as_ref().filter(|u| !u.is_null()) {
        answer.usage = usage_of(reported);
    }
    let Some(choices) = chunk.choices else {
        // The usage after the finish: OpenAI sends it with `"choices": []`, some servers
        // without `choices` (or with `null`). A chunk with neither is no chunk.
        if chunk.usage.is_some() {
            return Ok(());
        }
        return Err(ProviderError::Malformed("a chunk has no `choices`".into()));
    };
    if let FirstChoice(Some(choice)) = choices {
        let (content, reasoning) = choice.delta.map_or((None, None), |d| {
            (d.content, d.reasoning_content.or(d.reasoning))
        });
        // Reasoning is a token too (for the time to first token), and the live preview shows it.
        for (piece, into) in [
            (reasoning, &mut answer.reasoning),
            (content, &mut answer.text),
        ] {
            if let Some(Text(piece)) = piece.filter(|p| !p.0.is_empty()) {
                answer
                    .first_token_at
                    .get_or_insert_with(|| truncate_to_micros(Utc::now()));
                into.push_str(&piece);
                on_chunk(&piece);
            }
        }
        if let Some(reason) = choice.finish_reason {
            // Some servers end here without `[DONE]`; usage may still follow.
            answer.finished = true;
            answer.stopped = true;
            if let FinishReason::Named(Text(reason)) = reason {
                answer.cut_off = cut_off_of(&reason);
            }
        }
    }
    Ok(())
}

/// A non-streamed chat completion: `choices[0].message.content`.
async fn whole_answer(
    response: reqwest::Response,
    most: usize,
    on_chunk: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, ProviderError> {
    let body: Value = serde_json::from_slice(&whole_body(response, most).await?).map_err(|e| {
        ProviderError::Malformed(format!("the response is not a chat completion: {e}"))
    })?;
    let completion = completion_of(&body)?;
    on_chunk(&completion.text);
    Ok(completion)
}

/// The answer of a non-streamed chat completion's body. A `null` (or absent) `content` is an
/// empty answer, as the same reply streamed would be: a reasoning model that ran out of tokens
/// before answering sends one, and its answer is then unreadable, not a fault to send again.
fn completion_of(body: &Value) -> Result<Completion, ProviderError> {
    // An error sent with a 200 (some proxies): the provider's own words, not only "no message".
    if let Some(said) = body.pointer("/error/message").and_then(Value::as_str) {
        return Err(ProviderError::Malformed(format!(
            "the response is an error, sent with status 200: {said}"
        )));
    }
    let message = body
        .pointer("/choices/0/message")
        .filter(|m| m.is_object())
        .ok_or_else(|| ProviderError::Malformed("the response has no message".into()))?;
    let text = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            return Err(ProviderError::Malformed(
                "the message's content is not text".into(),
            ));
        }
    };
    let usage = body.get("usage").map_or(TokenUsage::default(), usage_of);
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|field| message.get(field).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    let cut_off = body
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str)
        .and_then(cut_off_of);
    Ok(Completion {
        text,
        reasoning,
        first_token_at: Some(truncate_to_micros(Utc::now())),
        usage,
        cut_off,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(chunks: &[&str]) -> (Streamed, Vec<String>, Result<(), ProviderError>) {
        let mut answer = Streamed::default();
        let mut pieces = Vec::new();
        let mut result = Ok(());
        for chunk in chunks {
            result = read_chunk(chunk, &mut answer, &mut |p| pieces.push(p.to_owned()));
            if result.is_err() {
                break;
            }
        }
        (answer, pieces, result)
    }

    /// The answer of `chunks` followed by `[DONE]`.
    fn done_after(chunks: &[&str]) -> Result<Completion, ProviderError> {
        let (mut answer, _, result) = fold(chunks);
        result?;
        answer.finished = true;
        answer.into_completion()
    }

    #[test]
    fn a_stream_that_carried_no_answer_is_a_fault_not_an_empty_answer() {
        for chunks in [
            &[][..],
            &[r#"{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":0}}"#][..],
            &[
                r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            ][..],
        ] {
            match done_after(chunks) {
                Err(ProviderError::Malformed(message)) => {
                    assert!(message.contains("without an answer"), "{message}")
                }
                other => panic!("{chunks:?}: {other:?}"),
            }
            // A fault another attempt may clear, as a cut stream is.
            assert!(done_after(chunks).unwrap_err().is_retryable());
        }
        // A model that stopped having said nothing did answer (its answer is unreadable).
        let said_nothing = done_after(&[
            r#"{"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}"#,
        ])
        .unwrap();
        assert_eq!(said_nothing.text, "");
        // Reasoning only, then `[DONE]`: what the model said is kept.
        let reasoned = done_after(&[
            r#"{"choices":[{"index":0,"delta":{"reasoning_content":"2+2 is 4"},"finish_reason":null}]}"#,
        ])
        .unwrap();
        assert_eq!(reasoned.reasoning, "2+2 is 4");
        // Without `[DONE]` or a finish: cut, counted in characters.
        let (cut, _, _) = fold(&[r#"{"choices":[{"index":0,"delta":{"content":"é"}}]}"#]);
        assert_eq!(
            cut.into_completion().unwrap_err().to_string(),
            "stream cut: the stream ended after 1 character(s) without finishing"
        );
    }

    #[test]
    fn an_error_event_in_the_stream_is_not_said_as_a_status() {
        let (_, _, result) =
            fold(&[r#"{"error":{"message":"upstream model crashed","code":500}}"#]);
        assert_eq!(
            result.unwrap_err().to_string(),
            "server error in the stream: upstream model crashed"
        );
    }

    #[test]
    fn chunks_fold_into_text_usage_and_the_finish() {
        let (answer, pieces, result) = fold(&[
            r#"{"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"The \"answer\"\n"},"finish_reason":null,"logprobs":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"is (B)."}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":40,"completion_tokens":9,"completion_tokens_details":{"reasoning_tokens":3}}}"#,
        ]);
        result.unwrap();
        assert_eq!(pieces, ["The \"answer\"\n", "is (B)."]);
        assert_eq!(answer.text, "The \"answer\"\nis (B).");
        assert!(answer.finished && answer.first_token_at.is_some());
        assert_eq!(
            answer.usage,
            TokenUsage {
                prompt_tokens: Some(40),
                completion_tokens: Some(9),
                reasoning_tokens: Some(3),
            }
        );
    }

    /// A DeepSeek-R1 stream as its API and vLLM's reasoning parser send it: reasoning first in
    /// `reasoning_content`, then the answer in `content` (OpenRouter names the field
    /// `reasoning`).
    #[test]
    fn reasoning_deltas_are_kept_apart_from_the_answer() {
        let (answer, pieces, result) = fold(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Option (C) says 5; "},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"reasoning":"2+2 is 4, option (B)."},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"The answer is (B).","reasoning_content":null},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":20,"completion_tokens_details":{"reasoning_tokens":12}}}"#,
        ]);
        result.unwrap();
        assert_eq!(answer.reasoning, "Option (C) says 5; 2+2 is 4, option (B).");
        assert_eq!(answer.text, "The answer is (B).");
        assert_eq!(
            pieces.len(),
            3,
            "the preview shows the reasoning as it comes"
        );
        assert_eq!(answer.usage.reasoning_tokens, Some(12));
    }

    #[test]
    fn error_events_of_openai_and_vllm_end_the_answer_with_their_message() {
        for (chunk, expected) in [
            (
                r#"{"error":{"message":"The server had an error","type":"server_error"}}"#,
                "The server had an error",
            ),
            (
                r#"{"object":"error","message":"Out of memory","type":"InternalServerError","code":500}"#,
                "Out of memory",
            ),
            (r#"{"error":"something"}"#, "error event in the stream"),
        ] {
            let (_, _, result) = fold(&[chunk]);
            match result {
                Err(ProviderError::Server { message, .. }) => assert_eq!(message, expected),
                other => panic!("{chunk}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_chunk_s_text_is_borrowed_unless_it_holds_escapes() {
        let chunk =
            r#"{"object":"chat.completion.chunk","choices":[{"delta":{"content":"(B) is"}}]}"#;
        let read: Chunk<'_> = serde_json::from_str(chunk).unwrap();
        assert!(matches!(read.object, Some(Text(Cow::Borrowed(_)))));
        let Some(FirstChoice(Some(choice))) = read.choices else {
            panic!("a choice")
        };
        let content = choice.delta.and_then(|d| d.content).unwrap();
        assert!(matches!(content, Text(Cow::Borrowed("(B) is"))));

        let escaped = r#"{"choices":[{"delta":{"content":"line\nnext"}}]}"#;
        let read: Chunk<'_> = serde_json::from_str(escaped).unwrap();
        let Some(FirstChoice(Some(choice))) = read.choices else {
            panic!("a choice")
        };
        let content = choice.delta.and_then(|d| d.content).unwrap();
        assert!(matches!(content, Text(Cow::Owned(text)) if text == "line\nnext"));
    }

    #[test]
    fn only_the_first_choice_is_read() {
        let (answer, pieces, result) = fold(&[
            r#"{"choices":[{"index":0,"delta":{"content":"(B)"}},{"index":1,"delta":{"content":"(C)"},"finish_reason":"stop"}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" and"},"finish_reason":null},{"index":1,"delta":{}}]}"#,
        ]);
        result.unwrap();
        assert_eq!(answer.text, "(B) and");
        assert_eq!(pieces, ["(B)", " and"]);
        assert!(
            !answer.finished,
            "the second choice's finish is not the first's"
        );
    }

    /// A finish for the token limit or the content filter marks the answer; any other finish
    /// (or an odd value a server sends) does not.
    #[test]
    fn a_finish_says_whether_the_answer_was_cut_off() {
        for (finish, cut_off) in [
            (r#""length""#, Some(CutOff::MaxTokens)),
            (r#""content_filter""#, Some(CutOff::ContentFilter)),
            (r#""stop""#, None),
            (r#"{"type":"stop"}"#, None),
            ("1", None),
        ] {
            let (answer, _, result) = fold(&[
                r#"{"choices":[{"delta":{"content":"Option E is"}}]}"#,
                &format!(r#"{{"choices":[{{"delta":{{}},"finish_reason":{finish}}}]}}"#),
            ]);
            result.unwrap();
            assert!(answer.finished, "{finish}");
            assert_eq!(answer.cut_off, cut_off, "{finish}");
        }
    }

    /// Servers that leave `choices` out of the usage after the finish (where OpenAI sends an
    /// empty list): the answer stands, with its usage.
    #[test]
    fn a_usage_chunk_without_choices_ends_the_answer() {
        for usage in [
            r#"{"usage":{"prompt_tokens":40,"completion_tokens":9}}"#,
            r#"{"choices":null,"usage":{"prompt_tokens":40,"completion_tokens":9}}"#,
        ] {
            let (answer, _, result) = fold(&[
                r#"{"choices":[{"delta":{"content":"The answer is (G)."}}]}"#,
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                usage,
            ]);
            result.unwrap();
            assert!(answer.finished);
            assert_eq!(answer.text, "The answer is (G).");
            assert_eq!(answer.usage.completion_tokens, Some(9), "{usage}");
        }
    }

    #[test]
    fn a_whole_answer_without_content_is_an_empty_answer() {
        let ran_out = json!({
            "choices": [{"message": {"role": "assistant", "content": null,
                "reasoning_content": "Option (C) says"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 64},
        });
        let completion = completion_of(&ran_out).unwrap();
        assert_eq!(completion.text, "");
        assert_eq!(completion.cut_off, Some(CutOff::MaxTokens));
        assert_eq!(completion.reasoning, "Option (C) says");
        assert_eq!(completion.usage.completion_tokens, Some(64));
        let answered = json!({"choices": [{"message": {"content": "The answer is (B).",
            "reasoning": "2 + 2"}}]});
        let completion = completion_of(&answered).unwrap();
        assert_eq!(completion.cut_off, None);
        assert_eq!(
            (completion.text.as_str(), completion.reasoning.as_str()),
            ("The answer is (B).", "2 + 2")
        );
        for malformed in [
            json!({"choices": []}),
            json!({"choices": [{"message": "B"}]}),
            json!({"choices": [{"message": {"content": ["B"]}}]}),
            json!({"error": {"message": "no"}}),
        ] {
            assert!(
                matches!(completion_of(&malformed), Err(ProviderError::Malformed(_))),
                "{malformed}"
            );
        }
        let overloaded = json!({"error": {"message": "model overloaded, try later"}});
        assert_eq!(
            completion_of(&overloaded).unwrap_err().to_string(),
            "malformed response: the response is an error, sent with status 200: model \
             overloaded, try later"
        );
    }

    #[test]
    fn malformed_chunks_are_refused() {
        for chunk in [
            "{this is not json",
            r#"{"object":"chat.completion.chunk"}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":{"delta":{"content":"B"}}}"#,
            r#"{"object":7,"choices":[]}"#,
        ] {
            let (_, _, result) = fold(&[chunk]);
            assert!(
                matches!(result, Err(ProviderError::Malformed(_))),
                "{chunk}: {result:?}"
            );
        }
    }
}
