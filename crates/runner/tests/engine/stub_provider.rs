//! An OpenAI-compatible stub server that streams, rate-limits, fails, hangs, cuts streams and
//! sends garbage on request — and runs through it that still end with the right states.
//!
//! Each item's question carries its behaviour as `[[directive]]`; the stub counts requests per
//! prompt, so `429x2` means "the first two requests get 429, then answer".

use std::{collections::HashMap, sync::Mutex, time::Duration};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use bytes_stub::sse;
use evalboard_domain::{CutOff, ItemState, JudgeSettings, RunSettings, RunStatus};
use evalboard_persistence::{
    Backend, ClaimRequest, ItemDetail, ItemQuery, LogQuery, Outcome, OutcomeKind, RetryScope,
    testing::{self, TestDatabase},
};
use evalboard_runner::ProviderKind;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::support::{
    assert_counters_match_rows, create_run, engine_tests, import, items, now, provider, registry,
    start_engine, start_engine_with, wait_terminal,
};

/// A stub provider on a local port, stopped when dropped.
pub(crate) struct Stub {
    pub(crate) base_url: String,
    handle: ServerHandle,
}

impl Drop for Stub {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(handle.stop(false)));
    }
}

pub(crate) fn start_stub() -> Stub {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let counts = web::Data::new(Mutex::new(HashMap::<String, u32>::new()));
            let arrived = web::Data::new(tokio::sync::Notify::new());
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(counts.clone())
                    .app_data(arrived.clone())
                    .route("/v1/chat/completions", web::post().to(chat))
                    .route("/v1/messages", web::post().to(messages))
            })
            .workers(2)
            .disable_signals()
            .bind("127.0.0.1:0")
            .expect("bind the stub");
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle()))
                .expect("report the address");
            let _ = server.await;
        });
    });
    let (addr, handle) = rx.recv().expect("the stub starts");
    Stub {
        base_url: format!("http://{addr}/v1"),
        handle,
    }
}

mod bytes_stub {
    use actix_web::web::Bytes;

    /// One server-sent event carrying `data`.
    pub(super) fn sse(data: &str) -> Bytes {
        Bytes::from(format!("data: {data}\n\n"))
    }
}

fn delta(text: &str) -> String {
    json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
        .to_string()
}

fn finish() -> String {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).to_string()
}

/// 42 prompt and 7 generated tokens per answer, 3 of them reasoning.
fn usage() -> String {
    json!({"choices": [], "usage": {
        "prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49,
        "completion_tokens_details": {"reasoning_tokens": 3}
    }})
    .to_string()
}

fn streamed(letter: char) -> HttpResponse {
    streamed_text(&format!("({letter})."))
}

/// "Let's think. The answer is " and `ending`, streamed in three chunks.
fn streamed_text(ending: &str) -> HttpResponse {
    streamed_chunks(&[
        delta("Let's think. "),
        delta("The answer is "),
        delta(ending),
    ])
}

/// These chunks, then the finish, the usage and `[DONE]`.
fn streamed_chunks(chunks: &[String]) -> HttpResponse {
    let mut events: Vec<_> = chunks.iter().map(|chunk| sse(chunk)).collect();
    events.extend([sse(&finish()), sse(&usage()), sse("[DONE]")]);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream::iter(
            events.into_iter().map(Ok::<_, actix_web::Error>),
        ))
}

async fn chat(
    body: web::Json<Value>,
    counts: web::Data<Mutex<HashMap<String, u32>>>,
    arrived: web::Data<tokio::sync::Notify>,
) -> HttpResponse {
    let prompt = body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(body["stream"], true, "the engine streams");
    if prompt.starts_with("You are grading") {
        // `judge-429`: the judge answers 429 to its first five requests for an item (more than
        // its attempts: a 429 must not spend one).
        if prompt.contains("[[judge-429]]") {
            let mut counts = counts.lock().unwrap();
            let n = counts.entry(prompt.clone()).or_default();
            *n += 1;
            if *n <= 5 {
                return HttpResponse::TooManyRequests()
                    .insert_header(("Retry-After", "0"))
                    .json(json!({"error": {"message": "Rate limit reached for requests"}}));
            }
        }
        // `judge-then-500`: the judge's first reply for an item has no verdict (paid for all the
        // same), every later request fails with a 500.
        if prompt.contains("[[judge-then-500]]") {
            let mut counts = counts.lock().unwrap();
            let n = counts.entry(prompt.clone()).or_default();
            *n += 1;
            if *n > 1 {
                return HttpResponse::InternalServerError()
                    .json(json!({"error": {"message": "the judge is down"}}));
            }
        }
        // `judge-no-temperature`: the judge refuses any temperature, as OpenAI's reasoning
        // models refuse all but their own.
        if prompt.contains("[[judge-no-temperature]]") && body.get("temperature").is_some() {
            return HttpResponse::BadRequest().json(json!({"error": {
                "message": "Unsupported value: 'temperature' does not support 0 with this model. \
                            Only the default (1) value is supported.",
                "type": "invalid_request_error",
                "param": "temperature",
                "code": "unsupported_value",
            }}));
        }
        return judge_reply(&prompt);
    }
    let directive = prompt
        .split("[[")
        .nth(1)
        .and_then(|rest| rest.split("]]").next())
        .unwrap_or("ok")
        .to_owned();
    let request_number = {
        let mut counts = counts.lock().unwrap();
        let n = counts.entry(prompt).or_default();
        *n += 1;
        *n
    };
    arrived.notify_waiters();
    // Reasoning as open models write it: `<think>` text before the answer (mentioning another
    // letter, which must not be read), or DeepSeek's `reasoning_content` deltas.
    if directive == "think" {
        return streamed_chunks(&[
            // Read as the answer, "answer is (C)" would come first and be wrong.
            delta("<think>\nThe answer is (C), I think"),
            delta(" at first, but 2+2 is 4.\n</think>\n\n"),
            delta("The answer is (B)."),
        ]);
    }
    if directive == "reasons" {
        let reasoning = |text: &str| {
            json!({"choices": [{"index": 0, "delta": {"content": null, "reasoning_content": text}, "finish_reason": null}]})
                .to_string()
        };
        return streamed_chunks(&[
            reasoning("Option (C) looks right"),
            reasoning(" at first, but 2+2 is 4."),
            delta("The answer is (B)."),
        ]);
    }
    // `num:N`: a numeric answer, "The answer is N".
    if let Some(number) = directive.strip_prefix("num:") {
        return streamed_text(&format!("{number}."));
    }
    // `afterN`: answer once N different prompts have arrived (so that they are all in flight).
    if let Some(n) = directive
        .strip_prefix("after")
        .and_then(|n| n.parse::<usize>().ok())
    {
        loop {
            let waiting = arrived.notified();
            if counts.lock().unwrap().len() >= n {
                break;
            }
            waiting.await;
        }
        return streamed('B');
    }
    // `name` or `namexN`: misbehave on the first N requests (always without a count).
    let (name, times) = match directive.split_once('x') {
        Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(u32::MAX)),
        None => (directive.clone(), u32::MAX),
    };
    if request_number > times || name == "ok" {
        return streamed('B');
    }
    match name.as_str() {
        "wrong" => streamed('D'),
        // Answers normally; only its judge is unhelpful, or refuses the key.
        "judgeless" | "judge-auth" | "judge-429" | "judge-think" | "judge-no-temperature"
        | "judge-then-500" => {
            streamed('B')
        }
        "429" => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", "0"))
            .json(json!({"error": {"message": "Rate limit reached for requests"}})),
        "500" => HttpResponse::InternalServerError().body("upstream exploded"),
        "auth" => HttpResponse::Unauthorized()
            .json(json!({"error": {"message": "Incorrect API key provided"}})),
        "hang" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            streamed('B')
        }
        "slow" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            streamed('B')
        }
        // Slower than the engine tests' timeouts allow: for tests that raise them.
        "sluggish" => {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            streamed('B')
        }
        "cut" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream::iter(
                [sse(&delta("Let's think. ")), sse(&delta("The ans"))]
                    .map(Ok::<_, actix_web::Error>),
            )),
        "idle" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(
                stream::iter([Ok::<_, actix_web::Error>(sse(&delta("Let's")))]).chain(
                    stream::once(async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        Ok(sse("[DONE]"))
                    }),
                ),
            ),
        // Stopped at the token limit mid-sentence (`finish_reason: "length"`).
        "length" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .streaming(stream::iter(
                [
                    sse(&delta("Let's think. Option E is")),
                    sse(&json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
                        .to_string()),
                    sse("[DONE]"),
                ]
                .map(Ok::<_, actix_web::Error>),
            )),
        "garbage" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .body("data: {this is not json\n\ndata: [DONE]\n\n"),
        // A proxy's empty reply: `[DONE]` with no choice before it, or only the usage.
        "empty" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .body("data: [DONE]\n\n"),
        "usageonly" => HttpResponse::Ok()
            .content_type("text/event-stream")
            .body([sse(&usage()), sse("[DONE]")].concat()),
        // A model that does not stop: 64 KiB chunks for as long as it is read.
        "endless" => {
            let chunk = sse(&delta(&"ab ".repeat(64 * 1024 / 3)));
            HttpResponse::Ok()
                .content_type("text/event-stream")
                .streaming(stream::repeat_with(move || {
                    Ok::<_, actix_web::Error>(chunk.clone())
                }))
        }
        // A server that ignores `stream: true`, with an answer longer than the tests' 1 MiB.
        "huge" => HttpResponse::Ok().json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ab ".repeat(400_000)}}]
        })),
        // Text PostgreSQL cannot store (U+0000), in an answer and in an error.
        "nul" => streamed_chunks(&[delta("Let's think.\u{0} "), delta("The answer is (B).")]),
        "nulerr" => HttpResponse::ServiceUnavailable()
            .json(json!({"error": {"message": "busy\u{0}now"}})),
        // A server that ignores `stream: true`.
        "plain" => HttpResponse::Ok().json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "So: The answer is (B)."}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 6}
        })),
        // Finishes, then keeps the connection open without `[DONE]`.
        "linger" => HttpResponse::Ok().content_type("text/event-stream").streaming(
            stream::iter([
                Ok::<_, actix_web::Error>(sse(&delta("The answer is (B)."))),
                Ok(sse(&finish())),
            ])
            .chain(stream::once(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(sse("[DONE]"))
            })),
        ),
        other => panic!("unknown directive {other}"),
    }
}

/// Anthropic's Messages API, streamed: `overloaded` items get an in-stream error first.
async fn messages(
    req: actix_web::HttpRequest,
    body: web::Json<Value>,
    counts: web::Data<Mutex<HashMap<String, u32>>>,
) -> HttpResponse {
    assert!(req.headers().contains_key("x-api-key"));
    let agent = req.headers().get("user-agent").unwrap().to_str().unwrap();
    assert!(agent.starts_with("evalboard/"), "{agent}");
    assert_eq!(
        req.headers().get("anthropic-version").unwrap(),
        "2023-06-01"
    );
    assert_eq!(body["stream"], true);
    assert!(body["max_tokens"].as_u64().is_some(), "required by the API");
    let prompt = body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let request_number = {
        let mut counts = counts.lock().unwrap();
        let n = counts.entry(prompt.clone()).or_default();
        *n += 1;
        *n
    };
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 25}}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    // A server that ignored `stream: true`: the whole message as JSON.
    if prompt.contains("[[plain]]") {
        return HttpResponse::Ok().json(json!({
            "type": "message",
            "content": [
                {"type": "thinking", "thinking": "2+2 is 4."},
                {"type": "text", "text": "So: The answer is (B)."}
            ],
            "usage": {"input_tokens": 30, "output_tokens": 9}
        }));
    }
    if prompt.contains("[[overloaded]]") && request_number == 1 {
        events.push(event(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ));
    } else if prompt.contains("[[empty]]") && request_number == 1 {
        // A message that stops having carried nothing: no block, no stop reason.
        events.push(event("message_stop", json!({"type": "message_stop"})));
    } else {
        // Extended thinking: a thinking block (its deltas `thinking_delta`) before the text.
        if prompt.contains("[[thinking]]") {
            events.push(event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            ));
            for thinking in ["Option (C) is tempting. ", "But (B) is right."] {
                events.push(event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": thinking}}),
                ));
            }
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}),
            ));
        }
        for text in ["Thinking. ", "The answer is (B)."] {
            events.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ));
        }
        let stop_reason = if prompt.contains("[[truncated]]") {
            "max_tokens"
        } else {
            "end_turn"
        };
        events.push(event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": 15}}),
        ));
        events.push(event("message_stop", json!({"type": "message_stop"})));
    }
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .body(events.concat())
}

/// What each judge reply uses: 100 prompt and 10 generated tokens.
pub(crate) const JUDGE_REPLY_TOKENS: (u64, u64) = (100, 10);

/// A judge: correct when the graded response picks (B); no verdict line for `judgeless` items.
/// Every reply reports its usage ([`JUDGE_REPLY_TOKENS`]).
fn judge_reply(prompt: &str) -> HttpResponse {
    let response = prompt.split("<<<").nth(1).unwrap_or_default();
    if prompt.contains("[[judge-auth]]") {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"message": "Incorrect API key provided"}}));
    }
    let text = if prompt.contains("[[judge-think]]") {
        "<think>\nIs it (C)? No.\nVERDICT: incorrect, I first thought\n</think>\n\
         The response picks (B), the key.\nVERDICT: correct"
            .to_owned()
    } else if prompt.contains("[[judgeless]]") || prompt.contains("[[judge-then-500]]") {
        "I cannot decide.".to_owned()
    } else if response.contains("(B)") {
        "The response picks (B), the key.\nVERDICT: correct".to_owned()
    } else {
        "The response does not pick the key.\nVERDICT: incorrect".to_owned()
    };
    let (prompt_tokens, completion_tokens) = JUDGE_REPLY_TOKENS;
    let usage = json!({"choices": [], "usage": {
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens
    }});
    let events = vec![
        sse(&delta(&text)),
        sse(&finish()),
        sse(&usage.to_string()),
        sse("[DONE]"),
    ];
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(stream::iter(
            events.into_iter().map(Ok::<_, actix_web::Error>),
        ))
}

pub(crate) fn all_items(db: &TestDatabase, run: &evalboard_domain::RunId) -> Vec<ItemDetail> {
    db.run_items(run, &ItemQuery::first(1000)).unwrap().items
}

const DIRECTIVES: [&str; 19] = [
    "ok",
    "429x2",
    "500x1",
    "cutx1",
    "idlex1",
    "wrong",
    "hang",
    "garbage",
    "ok",
    "429x4",
    "plain",
    "linger",
    "endless",
    "huge",
    "nul",
    "nulerrx1",
    "length",
    "emptyx1",
    "usageonlyx1",
];

async fn misbehaving_provider_runs_end_with_the_right_states(db: TestDatabase) {
    let stub = start_stub();
    import(
        &db,
        "D",
        &items(DIRECTIVES.len(), |i| {
            format!("Question {i}? [[{}]]", DIRECTIVES[i])
        }),
    );
    let run_id = create_run(
        &db,
        "Stub",
        "m",
        "D",
        RunSettings {
            concurrency: Some(14),
            max_attempts: Some(3),
            ..Default::default()
        },
    );
    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(30)).await;
    engine.shutdown().await;

    assert_eq!(run.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &run);
    let items = all_items(&db, &run_id);
    // Answers that came without usage (`linger`, `length`) are counted apart: the run's tokens
    // leave them out.
    let without: Vec<u32> = items
        .iter()
        .filter(|i| i.response_text.is_some() && i.usage.prompt_tokens.is_none())
        .map(|i| i.sequence)
        .collect();
    assert_eq!(without.len(), 2, "{without:?}");
    assert_eq!(run.usage.answers_without_usage, 2);
    // The one answer stopped at the token limit (`length`) is counted with the run.
    assert_eq!(run.cut_off, 1);
    let summary: Vec<(&str, ItemState, u32, Option<&str>)> = items
        .iter()
        .map(|item| {
            let first_error = item.attempts.first().and_then(|a| a.error_kind.as_deref());
            (
                DIRECTIVES[item.sequence as usize - 1],
                item.state,
                item.attempt_count,
                first_error,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("ok", ItemState::Correct, 1, None),
            ("429x2", ItemState::Correct, 3, Some("rate_limited")),
            ("500x1", ItemState::Correct, 2, Some("server_error")),
            ("cutx1", ItemState::Correct, 2, Some("stream_cut")),
            ("idlex1", ItemState::Correct, 2, Some("timeout")),
            ("wrong", ItemState::Incorrect, 1, None),
            ("hang", ItemState::Failed, 3, Some("timeout")),
            ("garbage", ItemState::Failed, 3, Some("malformed")),
            ("ok", ItemState::Correct, 1, None),
            // 429s do not use up maxAttempts (3 here).
            ("429x4", ItemState::Correct, 5, Some("rate_limited")),
            ("plain", ItemState::Correct, 1, None),
            ("linger", ItemState::Correct, 1, None),
            // Past the most a response may bring: not asked again, not kept.
            ("endless", ItemState::Failed, 1, Some("too_large")),
            ("huge", ItemState::Failed, 1, Some("too_large")),
            // U+0000, which PostgreSQL cannot store, is kept as U+FFFD (the run no longer
            // failed to store it and resent its items for ever).
            ("nul", ItemState::Correct, 1, None),
            ("nulerrx1", ItemState::Correct, 2, Some("server_error")),
            // Judged as any answer (its last letter, E), and marked as cut off.
            ("length", ItemState::Incorrect, 1, None),
            // No answer at all is the server's fault, asked again (it was judged a wrong answer).
            ("emptyx1", ItemState::Correct, 2, Some("malformed")),
            ("usageonlyx1", ItemState::Correct, 2, Some("malformed")),
        ]
    );
    assert_eq!(
        (items[16].response_text.as_deref(), items[16].cut_off),
        (Some("Let's think. Option E is"), Some(CutOff::MaxTokens))
    );
    assert_eq!(items[0].cut_off, None);
    assert_eq!(
        items[14].response_text.as_deref(),
        Some("Let's think.\u{FFFD} The answer is (B).")
    );
    assert_eq!(
        items[15].attempts[0].error_message.as_deref(),
        Some("server error 503: busy\u{FFFD}now")
    );
    for item in &items[12..14] {
        assert_eq!(item.response_text, None);
        let error = item.error.as_ref().unwrap();
        assert!(error.1.contains("the response passed 1 MiB"), "{error:?}");
    }
    // Timings are those of the attempt that answered, not of the claim.
    for item in items.iter().filter(|i| i.state == ItemState::Correct) {
        assert_eq!(
            item.started_at,
            Some(item.attempts.last().unwrap().started_at),
            "{}",
            item.sequence
        );
    }
    assert_eq!(
        items[10].response_text.as_deref(),
        Some("So: The answer is (B).")
    );
    let ok = &items[0];
    assert_eq!(
        ok.response_text.as_deref(),
        Some("Let's think. The answer is (B).")
    );
    assert_eq!(
        (ok.usage.prompt_tokens, ok.usage.completion_tokens),
        (Some(42), Some(7)),
        "usage is recorded"
    );
    assert!(ok.first_token_at.is_some() && ok.first_token_at <= ok.answered_at);
    let hang = &items[6];
    assert_eq!(hang.error.as_ref().unwrap().0, "timeout");
    let logs = db.run_logs(&run_id, None, 1000).unwrap();
    assert!(logs.iter().any(|l| l.sequence == Some(2) && l.message.contains("attempt 1 failed (rate_limited)")));
    assert!(
        logs.iter().any(
            |l| l.sequence == Some(7) && l.message.contains("failed after attempt 3 (timeout)")
        )
    );
    // Retrying every item sets their answers aside: the counts of answers start again.
    let reopened = db
        .retry_run(&run_id, RetryScope::All, None, None, now())
        .unwrap();
    assert_eq!((reopened.cut_off, reopened.unparsed), (0, 0));
    assert_counters_match_rows(&db, &reopened);
}

/// The run's log, oldest first.
fn run_log(db: &TestDatabase, run: &evalboard_domain::RunId) -> Vec<(i64, String)> {
    db.query_logs(run, &LogQuery::default(), 10_000)
        .unwrap()
        .into_iter()
        .map(|entry| (entry.id, entry.message))
        .collect()
}

/// 21 items, all in flight at once, on the stub: the run, once it
/// failed (its counters checked).
async fn failed_run_on_stub(
    db: &TestDatabase,
    question: impl Fn(usize) -> String,
) -> evalboard_domain::Run {
    let stub = start_stub();
    import(db, "D", &items(21, question));
    let settings = RunSettings {
        concurrency: Some(21),
        ..RunSettings::default()
    };
    let run_id = create_run(db, "Stub", "m", "D", settings);
    let engine = start_engine(
        db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(db, &run_id, Duration::from_secs(10)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.counts.failed, 21);
    assert_counters_match_rows(db, &run);
    run
}

async fn refused_credentials_fail_the_run(db: TestDatabase) {
    // Every item in flight at once: the first refusal fails the run, the others say nothing.
    let run = failed_run_on_stub(&db, |i| format!("Question {i}? [[auth]]")).await;
    let run_id = run.id.clone();
    let failure = run.failure.clone().unwrap();
    assert_eq!(failure.kind, "unauthorized");
    assert!(
        failure.message.contains("Incorrect API key"),
        "{}",
        failure.message
    );
    let log = run_log(&db, &run_id);
    let failures: Vec<i64> = log
        .iter()
        .filter(|(_, message)| message.contains("-> failed"))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(failures.len(), 1, "the run fails once: {log:?}");
    let sent: Vec<i64> = log
        .iter()
        .filter(|(_, message)| message.ends_with(" sent"))
        .map(|(id, _)| *id)
        .collect();
    assert!(!sent.is_empty(), "{log:?}");
    assert!(
        sent.iter().all(|id| *id < failures[0]),
        "nothing is sent after the run failed: {log:?}"
    );
}

/// A provider that fails every request (down, or broken) fails the run once ten items in a row
/// failed for good with no answer between them, over at least `provider_down` (zero here),
/// instead of taking every item through its attempts; an answer starts the count again, and an
/// item's own error (an answer too large) neither counts nor starts it again.
async fn a_provider_failing_item_after_item_fails_the_run(db: TestDatabase) {
    let stub = start_stub();
    let mut directives = vec!["500"; 9];
    directives.push("ok");
    directives.extend(["500"; 9]);
    directives.push("huge");
    directives.push("cut");
    directives.extend(["ok"; 3]);
    // A run of one item per directive, one at a time in sequence order, `attempts` each: the
    // count is the items'.
    let run_of = |dataset: &str, directives: &[&str], attempts: u32| {
        import(
            &db,
            dataset,
            &items(directives.len(), |i| {
                format!("Question {i}? [[{}]]", directives[i])
            }),
        );
        let settings = RunSettings {
            concurrency: Some(1),
            max_attempts: Some(attempts),
            ..RunSettings::default()
        };
        create_run(&db, "Stub", "m", dataset, settings)
    };
    let run_id = run_of("D", &directives, 1);
    let stub_registry = || {
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )])
    };
    let engine = start_engine_with(&db, stub_registry(), |config| {
        config.provider_down = Duration::ZERO;
    });
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Failed);
    let failure = run.failure.clone().unwrap();
    assert_eq!(failure.kind, "stream_cut");
    assert!(
        failure
            .message
            .starts_with("10 items in a row failed over ")
            && failure.message.contains(
                " s, each after 1 attempt(s), and no answer of the run arrived meanwhile: \
                 the provider looks down or broken (the last: "
            ),
        "{}",
        failure.message
    );
    assert_counters_match_rows(&db, &run);
    let stored = all_items(&db, &run_id);
    let sent: Vec<u32> = stored
        .iter()
        .filter(|i| !i.attempts.is_empty())
        .map(|i| i.sequence)
        .collect();
    assert_eq!(sent, (1..=21).collect::<Vec<u32>>(), "nothing sent after");
    assert_eq!(stored[9].state, ItemState::Correct);
    assert_eq!(
        stored[19].attempts[0].error_kind.as_deref(),
        Some("too_large")
    );
    // The items never sent wait for a retry of the run, which sends them again.
    assert!(stored[21..].iter().all(|i| i.state == ItemState::Failed));
    let retried = db
        .retry_run(&run_id, RetryScope::Faulted, None, None, now())
        .unwrap();
    assert_eq!(retried.counts.pending, 23);

    // Failing in a row for less than `provider_down` (an outage as short as a restart) fails
    // only the items it met: the run goes on, and completes.
    let mut directives = vec!["500"; 12];
    directives.push("ok");
    let run_id = run_of("E", &directives, 1);
    let engine = start_engine(&db, stub_registry());
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!((run.counts.failed, run.counts.correct), (12, 1));

    // Another server storing an answer of the run meanwhile (its way to the provider works,
    // this one's does not): this server fails its items, not the run, and counts afresh.
    let run_id = run_of("F", &["500"; 15], 2);
    let at = now();
    let claim = db
        .claim_items(
            &run_id,
            ClaimRequest {
                worker: "other-replica",
                lease_until: at + chrono::Duration::seconds(30),
                max: 1,
                at,
                generation: None,
            },
        )
        .unwrap();
    // Each item fails after two attempts ~100 ms apart: ten of them take about a second, past
    // `provider_down`.
    let engine = start_engine_with(&db, stub_registry(), |config| {
        config.provider_down = Duration::from_millis(500);
        config.retry_base_delay = Duration::from_millis(100);
    });
    crate::support::wait_for(&db, &run_id, Duration::from_secs(20), |run| {
        run.counts.failed >= 2
    })
    .await;
    let answered = Outcome {
        run_id: run_id.clone(),
        sequence: 1,
        attempt: claim.items[0].attempt,
        started_at: at,
        kind: OutcomeKind::Answered {
            answer: testing::answer(&claim.items[0].prompt, "The answer is (B).", now()),
            judgment: Some(evalboard_persistence::Judgment {
                verdict: evalboard_domain::Verdict::Correct,
                extraction: evalboard_domain::Extracted {
                    answer: Some("B".into()),
                    tier: evalboard_domain::ExtractionTier::AnswerIs,
                },
                judge: "choice".into(),
                rationale: None,
                at: now(),
                spent: None,
            }),
        },
    };
    assert_eq!(
        db.apply_outcomes("other-replica", &[answered], now())
            .unwrap()
            .applied,
        [true]
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed, "{:?}", run.failure);
    assert_eq!((run.counts.failed, run.counts.correct), (14, 1));
}

async fn a_server_without_the_key_fails_the_run_alone_and_leaves_it_to_a_replica_with_it(
    db: TestDatabase,
) {
    // Made before the key went missing on this server, or on a replica that has it (the API
    // refuses such a run at the door of a server without it).
    let stub = start_stub();
    import(&db, "D", &items(5, |i| format!("Question {i}?")));
    let run_id = create_run(&db, "Stub", "m", "D", RunSettings::default());
    let stub_with = |key_env| {
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            key_env,
        )])
    };
    let keyless = start_engine_with(
        &db,
        stub_with(Some("EVALBOARD_TEST_KEY_NEVER_SET")),
        |config| config.worker = "keyless".into(),
    );
    if db.backend() == Backend::Sqlite {
        // The only server there can be: the run fails at once, saying what to mend, and
        // nothing is sent or claimed.
        let run = wait_terminal(&db, &run_id, Duration::from_secs(10)).await;
        keyless.shutdown().await;
        assert_eq!(run.status, RunStatus::Failed);
        let failure = run.failure.clone().unwrap();
        assert_eq!(failure.kind, "not_configured");
        assert!(
            failure.message.contains("EVALBOARD_TEST_KEY_NEVER_SET"),
            "{}",
            failure.message
        );
        assert!(
            all_items(&db, &run_id)
                .iter()
                .all(|item| item.attempt_count == 0),
            "no item was claimed"
        );
        assert_counters_match_rows(&db, &run);
        return;
    }
    // On PostgreSQL a replica set up for the run may come: it is left to it.
    let said = |log: &[(i64, String)]| {
        log.iter()
            .filter(|(_, message)| message.contains("server `keyless` leaves this run"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while said(&run_log(&db, &run_id)) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never said");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Said once, however often the engine looks at its runs (every 20 ms here).
    for _ in 0..5 {
        keyless.signal().wake();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let log = run_log(&db, &run_id);
    assert_eq!(said(&log), 1, "{log:?}");
    assert!(
        log.iter()
            .any(|(_, message)| message.contains("EVALBOARD_TEST_KEY_NEVER_SET")),
        "{log:?}"
    );
    assert_eq!(db.get_run(&run_id).unwrap().status, RunStatus::Pending);
    assert!(
        all_items(&db, &run_id)
            .iter()
            .all(|item| item.attempt_count == 0 && item.state == ItemState::Pending),
        "no item was claimed"
    );
    // A server with the key works on it, the one without still running beside it.
    let keyed = start_engine_with(&db, stub_with(None), |config| {
        config.worker = "keyed".into();
    });
    let run = wait_terminal(&db, &run_id, Duration::from_secs(10)).await;
    keyed.shutdown().await;
    keyless.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.failure, None);
    assert_eq!(run.counts.failed, 0);
    assert_counters_match_rows(&db, &run);
}

/// A provider that answers every request with `429` and `Retry-After: 0` gets the usual backoff
/// between attempts, and each item gives up at the configured count of 429s or time.
async fn a_provider_that_always_throttles_cannot_hold_a_run(db: TestDatabase) {
    let stub = start_stub();
    import(&db, "D", &items(4, |i| format!("Question {i}? [[429]]")));
    let by_count = create_run(&db, "Stub", "m", "D", RunSettings::default());
    let by_time = create_run(&db, "Slow", "m", "D", RunSettings::default());
    let mut counted = provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    );
    counted.max_throttled_attempts = Some(5);
    let mut timed = provider(
        "Slow",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    );
    timed.max_throttled_attempts = Some(1000);
    timed.max_throttled_secs = Some(1);
    let engine = start_engine(&db, registry(vec![counted, timed]));
    let counted_run = wait_terminal(&db, &by_count, Duration::from_secs(30)).await;
    let timed_run = wait_terminal(&db, &by_time, Duration::from_secs(30)).await;
    engine.shutdown().await;

    for (run, why) in [
        (&counted_run, "gave up after 5 throttled attempts"),
        (&timed_run, "s of throttling"),
    ] {
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.counts.failed, 4);
        assert_counters_match_rows(&db, run);
        for item in all_items(&db, &run.id) {
            let (kind, message) = item.error.clone().unwrap();
            assert_eq!(kind, "rate_limited");
            assert!(message.contains(why), "{message}");
        }
        // Never straight back: every wait is the backoff's at least.
        for (_, message) in run_log(&db, &run.id) {
            if let Some(wait) = message
                .strip_suffix(" ms")
                .and_then(|m| m.rsplit(" in ").next())
            {
                assert!(wait.parse::<u64>().unwrap() >= 5, "{message}");
            }
        }
    }
    for item in all_items(&db, &by_count) {
        assert_eq!(item.attempt_count, 5, "the fifth 429 is the last");
    }
    for item in all_items(&db, &by_time) {
        assert!(
            (2..100).contains(&item.attempt_count),
            "a second of backoff from 5 ms: {}",
            item.attempt_count
        );
    }
}

pub(crate) fn llm_judged(provider: &str) -> RunSettings {
    RunSettings {
        concurrency: Some(4),
        judge: Some(JudgeSettings::Llm {
            provider_name: provider.into(),
            model_name: "m".into(),
        }),
        ..Default::default()
    }
}

/// Runs one item per directive (`Question i? [[directive]]`) on the stub, judged by an LLM judge
/// on the stub too (its provider as `configure` leaves it), to its end.
async fn llm_judged_on_stub(
    db: &TestDatabase,
    directives: &[&str],
    configure: impl FnOnce(&mut evalboard_runner::ProviderConfig),
) -> evalboard_domain::Run {
    let stub = start_stub();
    import(
        db,
        "D",
        &items(directives.len(), |i| {
            format!("Question {i}? [[{}]]", directives[i])
        }),
    );
    let run_id = create_run(db, "Stub", "m", "D", llm_judged("Stub"));
    let mut judge = provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    );
    configure(&mut judge);
    let engine = start_engine(db, registry(vec![judge]));
    let run = wait_terminal(db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    run
}

async fn an_llm_judge_decides_with_its_rationale_kept(db: TestDatabase) {
    let run = llm_judged_on_stub(&db, &["ok", "wrong", "judgeless"], |_| {}).await;
    let run_id = run.id.clone();
    assert_eq!(run.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &run);
    let items = all_items(&db, &run_id);
    let verdicts: Vec<(ItemState, &str)> = items
        .iter()
        .map(|i| (i.state, i.judgments[0].judge.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (ItemState::Correct, "llm:Stub/m"),
            (ItemState::Incorrect, "llm:Stub/m"),
            (ItemState::Correct, "choice"),
        ]
    );
    assert_eq!(
        items[0].judge_rationale.as_deref(),
        Some("The response picks (B), the key.")
    );
    assert!(
        items[2].judge_rationale.as_deref().unwrap().contains(
            "gave no verdict (its reply has no VERDICT line; it ended: \"I cannot decide.\")"
        ),
        "{:?}",
        items[2].judge_rationale
    );
    assert!(items.iter().all(|i| i.judgments.len() == 1));
    // The run says that one of its verdicts is not its judge's, and its log warns of it.
    assert_eq!(run.judge_fallbacks, 1);
    let logs = db.run_logs(&run_id, None, 1000).unwrap();
    let warned: Vec<_> = logs
        .iter()
        .filter(|l| l.level == evalboard_persistence::LogLevel::Warn)
        .map(|l| (l.sequence, l.message.as_str()))
        .collect();
    assert_eq!(
        warned,
        [(Some(3), items[2].judge_rationale.as_deref().unwrap())],
        "one warning, of the third item's fallback"
    );
    // Judged again by the rules, no verdict is an LLM judge's fallback.
    db.start_rejudge(&run_id, &JudgeSettings::Choice, None, crate::support::now())
        .unwrap();
    let engine = start_engine(&db, registry(vec![]));
    let rejudged = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!((rejudged.rejudge_count, rejudged.judge_fallbacks), (1, 0));
    assert_counters_match_rows(&db, &rejudged);
}

/// A judge that refuses its key fails the run, as the answering provider would, instead of
/// every answer being judged by extraction under the LLM judge's name; the answers are kept and
/// a re-judging (with a working judge) takes them.
async fn a_judge_that_refuses_its_key_fails_the_run_and_keeps_the_answers(db: TestDatabase) {
    let run = llm_judged_on_stub(&db, &["judge-auth"; 3], |_| {}).await;
    let run_id = run.id.clone();
    assert_eq!(run.status, RunStatus::Failed);
    let failure = run.failure.clone().unwrap();
    assert_eq!(failure.kind, "unauthorized");
    assert!(
        failure.message.starts_with("the LLM judge llm:Stub/m:"),
        "{}",
        failure.message
    );
    assert_counters_match_rows(&db, &run);
    let items = all_items(&db, &run_id);
    assert!(
        items.iter().all(|i| i.judgments.is_empty()),
        "nothing judged by extraction in the judge's place"
    );
    let answered = items.iter().filter(|i| i.response_text.is_some()).count();
    assert!(answered > 0, "the answers are kept");

    let rejudging = db
        .start_rejudge(&run_id, &JudgeSettings::Choice, None, crate::support::now())
        .unwrap();
    assert_eq!(rejudging.counts.awaiting as usize, answered);
}

/// A reasoning judge's `<think>` text is read past: the rationale is what follows it.
async fn a_reasoning_judges_thinking_is_not_its_rationale(db: TestDatabase) {
    let run = llm_judged_on_stub(&db, &["judge-think"], |_| {}).await;
    let run_id = run.id.clone();
    let item = all_items(&db, &run_id).remove(0);
    assert_eq!(item.state, ItemState::Correct);
    assert_eq!(
        item.judge_rationale.as_deref(),
        Some("The response picks (B), the key.")
    );
}

/// A judge that answers 429 is waited for as the answering provider is (a 429 spends none of
/// its attempts), rather than replaced by the extraction rules after a few seconds.
async fn a_throttled_judge_is_waited_for(db: TestDatabase) {
    let run =
        llm_judged_on_stub(&db, &["judge-429"; 2], |judge| judge.max_attempts = Some(2)).await;
    let run_id = run.id.clone();
    assert_eq!(run.status, RunStatus::Completed);
    for item in all_items(&db, &run_id) {
        assert_eq!(
            item.judgments[0].judge, "llm:Stub/m",
            "{:?}",
            item.judge_rationale
        );
    }
}

/// A judge that refuses the temperature it is asked at (OpenAI's reasoning models accept only
/// their own) is asked again without one, spending no attempt, rather than every answer being
/// judged by extraction.
async fn a_judge_that_refuses_a_temperature_is_asked_without_one(db: TestDatabase) {
    let run = llm_judged_on_stub(&db, &["judge-no-temperature"; 3], |judge| {
        judge.max_attempts = Some(1)
    })
    .await;
    let run_id = run.id.clone();
    assert_eq!(run.status, RunStatus::Completed);
    for item in all_items(&db, &run_id) {
        assert_eq!(item.state, ItemState::Correct);
        assert_eq!(item.judgments[0].judge, "llm:Stub/m");
        assert_eq!(
            item.judge_rationale.as_deref(),
            Some("The response picks (B), the key.")
        );
    }
}

/// A worker died after storing an answer and before its judge decided: the answer waits in
/// `awaiting` under an expired claim. Another worker takes it over, judges it (without asking
/// the model again), and the run counts a resume.
async fn an_answer_left_unjudged_by_a_dead_worker_is_judged_once(db: TestDatabase) {
    let stub = start_stub();
    import(&db, "D", &items(1, |i| format!("Question {i}? [[ok]]")));
    let run_id = create_run(&db, "Stub", "m", "D", llm_judged("Stub"));
    let at = crate::support::now();
    let claim = db
        .claim_items(
            &run_id,
            ClaimRequest {
                worker: "dead-worker",
                lease_until: at + chrono::Duration::seconds(30),
                max: 1,
                at,
                generation: None,
            },
        )
        .unwrap();
    let answered = Outcome {
        run_id: run_id.clone(),
        sequence: 1,
        attempt: claim.items[0].attempt,
        started_at: at,
        kind: OutcomeKind::Answered {
            answer: testing::answer(
                &claim.items[0].prompt,
                "It must be B. The answer is (B).",
                at,
            ),
            judgment: None,
        },
    };
    db.apply_outcomes("dead-worker", &[answered], at).unwrap();
    assert_eq!(db.get_run(&run_id).unwrap().counts.awaiting, 1);
    db.expire_leases("dead-worker", crate::support::now())
        .unwrap();

    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.lifecycle.resumed_count, 1);
    let item = &all_items(&db, &run_id)[0];
    assert_eq!(item.state, ItemState::Correct);
    assert_eq!(item.judgments.len(), 1);
    assert_eq!(item.attempt_count, 1, "the model was not asked again");
    assert_eq!(
        item.response_text.as_deref(),
        Some("It must be B. The answer is (B).")
    );
}

async fn anthropic_messages_stream_and_errors_are_retried(db: TestDatabase) {
    let stub = start_stub();
    let directives = ["ok", "overloaded", "plain", "truncated", "empty"];
    import(
        &db,
        "D",
        &items(directives.len(), |i| {
            format!("Question {i}? [[{}]]", directives[i])
        }),
    );
    let run_id = create_run(&db, "Claude", "m", "D", RunSettings::default());
    // Any variable that is always set stands for the key: the stub only checks it is sent.
    let anthropic = provider(
        "Claude",
        ProviderKind::Anthropic,
        Some(stub.base_url.clone()),
        Some("PATH"),
    );
    let engine = start_engine(&db, registry(vec![anthropic]));
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    let items = all_items(&db, &run_id);
    let summary: Vec<(ItemState, u32)> = items.iter().map(|i| (i.state, i.attempt_count)).collect();
    assert_eq!(
        summary,
        [
            (ItemState::Correct, 1),
            (ItemState::Correct, 2),
            (ItemState::Correct, 1),
            (ItemState::Correct, 1),
            (ItemState::Correct, 2)
        ]
    );
    // An empty message is no answer: asked again.
    assert_eq!(
        items[4].attempts[0].error_kind.as_deref(),
        Some("malformed")
    );
    // Stopped at the token limit: judged as any answer, and marked.
    assert_eq!(
        items.iter().map(|i| i.cut_off).collect::<Vec<_>>(),
        [None, None, None, Some(CutOff::MaxTokens), None]
    );
    assert_eq!(run.cut_off, 1);
    assert_eq!(
        items[0].response_text.as_deref(),
        Some("Thinking. The answer is (B).")
    );
    // Not streamed: read whole, its thinking kept apart.
    assert_eq!(
        (
            items[2].response_text.as_deref(),
            items[2].reasoning_text.as_deref(),
            items[2].usage.completion_tokens
        ),
        (Some("So: The answer is (B)."), Some("2+2 is 4."), Some(9))
    );
    assert_eq!(
        (
            items[0].usage.prompt_tokens,
            items[0].usage.completion_tokens
        ),
        (Some(25), Some(15))
    );
    assert_eq!(
        items[1].attempts[0].error_kind.as_deref(),
        Some("server_error")
    );
}

/// A numeric dataset (GSM8K style) run end to end against an OpenAI-compatible stub: the
/// numeric prompt, the number extracted and compared however it is written, the verdicts named
/// `numeric`.
async fn numeric_items_are_asked_and_judged_as_numbers(db: TestDatabase) {
    use evalboard_domain::{DatasetItem, ItemAnswer, numeric::Number};
    let stub = start_stub();
    // (reference answer, what the stub answers)
    let cases = [("18", "18"), ("1600", "$1,600.00"), ("7", "8")];
    let dataset: Vec<DatasetItem> = cases
        .iter()
        .enumerate()
        .map(|(i, (expected, said))| DatasetItem {
            id: format!("n{i}"),
            category: "gsm8k".into(),
            question: format!("How many? [[num:{said}]]"),
            choices: Vec::new(),
            answer: ItemAnswer::Number(Number::parse(expected).unwrap()),
            explanation: None,
            source: None,
        })
        .collect();
    import(&db, "G", &dataset);
    let run_id = create_run(&db, "Stub", "m", "G", RunSettings::default());
    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(30)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &run);
    assert_eq!((run.counts.correct, run.counts.incorrect), (2, 1));
    let items = all_items(&db, &run_id);
    let seen: Vec<(String, Option<&str>, Option<&str>, ItemState)> = items
        .iter()
        .map(|i| {
            (
                i.expected_answer.text(),
                i.extracted_answer.as_deref(),
                i.judge.as_deref(),
                i.state,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("18".into(), Some("18"), Some("numeric"), ItemState::Correct),
            (
                "1600".into(),
                Some("1600"),
                Some("numeric"),
                ItemState::Correct
            ),
            ("7".into(), Some("8"), Some("numeric"), ItemState::Incorrect),
        ]
    );
    assert!(items.iter().all(|i| i.choices.is_empty()));
    let prompt = items[0].prompt_text.as_deref().unwrap();
    assert!(prompt.contains("\"The answer is N.\""), "{prompt}");
    assert!(!prompt.contains("Options:"), "{prompt}");
}

/// Worked examples from another dataset (as MMLU-Pro takes them from its validation split):
/// the first items of each item's category there, explanations shown, the version fixed at
/// creation so that a newer import of it changes nothing for the run.
async fn worked_examples_come_from_the_dataset_the_run_names(db: TestDatabase) {
    use evalboard_domain::ShotsSource;
    let stub = start_stub();
    import(&db, "Test", &items(4, |i| format!("Test question {i}?")));
    let mut validation = items(6, |i| format!("Worked example {i}?"));
    for (i, item) in validation.iter_mut().enumerate() {
        item.explanation = Some(format!("A: Reasoning {i}. The answer is (B)."));
    }
    import(&db, "Validation", &validation);
    let run_id = create_run(
        &db,
        "Stub",
        "m",
        "Test",
        RunSettings {
            shots: Some(2),
            shots_from: Some(ShotsSource {
                dataset_name: "Validation".into(),
                version: None,
            }),
            ..Default::default()
        },
    );
    // A newer version of the examples after the run was made is not what it asks with.
    for item in &mut validation {
        item.explanation = Some("changed".into());
    }
    import(&db, "Validation", &validation);
    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(30)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(
        run.settings.shots_from,
        Some(ShotsSource {
            dataset_name: "Validation".into(),
            version: Some(1)
        })
    );
    for item in all_items(&db, &run_id) {
        let prompt = item.prompt_text.unwrap();
        // Categories alternate math, law: the first two of the item's category.
        let first = if item.category == "math" { 0 } else { 1 };
        for shown in [first, first + 2] {
            assert!(
                prompt.contains(&format!("Worked example {shown}?")),
                "{prompt}"
            );
            assert!(
                prompt.contains(&format!("Answer: Reasoning {shown}.")),
                "{prompt}"
            );
        }
        assert!(!prompt.contains("changed"), "{prompt}");
        assert_eq!(prompt.matches("Test question").count(), 1, "{prompt}");
    }
}

/// Reasoning in the three shapes providers send it — `<think>` text in the content, DeepSeek's
/// `reasoning_content` deltas, Anthropic's thinking blocks — is stored apart from the answer
/// and never judged: each mentions option (C) while thinking, and each answer, (B), is right.
async fn reasoning_is_kept_apart_and_never_judged(db: TestDatabase) {
    let stub = start_stub();
    let directives = ["think", "reasons", "ok"];
    import(
        &db,
        "D",
        &items(3, |i| format!("Question {i}? [[{}]]", directives[i])),
    );
    import(
        &db,
        "A",
        &items(1, |i| format!("Question {i}? [[thinking]]")),
    );
    let openai_run = create_run(&db, "Stub", "m", "D", RunSettings::default());
    let anthropic_run = create_run(&db, "Claude", "m", "A", RunSettings::default());
    let engine = start_engine(
        &db,
        registry(vec![
            provider(
                "Stub",
                ProviderKind::OpenaiCompatible,
                Some(stub.base_url.clone()),
                None,
            ),
            provider(
                "Claude",
                ProviderKind::Anthropic,
                Some(stub.base_url.clone()),
                Some("PATH"),
            ),
        ]),
    );
    let openai = wait_terminal(&db, &openai_run, Duration::from_secs(20)).await;
    let anthropic = wait_terminal(&db, &anthropic_run, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!((openai.counts.correct, anthropic.counts.correct), (3, 1));
    let stored: Vec<(Option<String>, Option<String>, Option<String>)> = all_items(&db, &openai_run)
        .into_iter()
        .chain(all_items(&db, &anthropic_run))
        .map(|i| (i.reasoning_text, i.response_text, i.extracted_answer))
        .collect();
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        stored,
        [
            (
                some("The answer is (C), I think at first, but 2+2 is 4."),
                some("The answer is (B)."),
                some("B")
            ),
            (
                some("Option (C) looks right at first, but 2+2 is 4."),
                some("The answer is (B)."),
                some("B")
            ),
            (None, some("Let's think. The answer is (B)."), some("B")),
            (
                some("Option (C) is tempting. But (B) is right."),
                some("Thinking. The answer is (B)."),
                some("B")
            ),
        ]
    );
}

/// The response cache: a run with `cache` on is served what an earlier run was answered for
/// the same request (not sent: no tokens), its attempts marked `cached` and counted apart; a
/// request that differs only in a generation setting is sent.
async fn a_cached_run_is_answered_from_earlier_answers(db: TestDatabase) {
    let stub = start_stub();
    import(&db, "D", &items(3, |i| format!("Question {i}? [[think]]")));
    let mut priced = provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    );
    priced.prices.insert(
        "m".into(),
        evalboard_domain::ModelPrice {
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
        },
    );
    let engine = start_engine(&db, registry(vec![priced]));
    let run = |settings: RunSettings| {
        let db = &db;
        async move {
            let id = create_run(db, "Stub", "m", "D", settings);
            wait_terminal(db, &id, Duration::from_secs(20)).await
        }
    };
    let first = run(RunSettings::default()).await;
    let cached = run(RunSettings {
        cache: Some(true),
        ..Default::default()
    })
    .await;
    let hotter = run(RunSettings {
        cache: Some(true),
        generation: evalboard_domain::GenerationSettings {
            temperature: Some(0.7),
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    // The same three questions and a new one: three answers from the cache, one sent.
    import(&db, "E", &items(4, |i| format!("Question {i}? [[think]]")));
    let partly = {
        let id = create_run(
            &db,
            "Stub",
            "m",
            "E",
            RunSettings {
                cache: Some(true),
                ..Default::default()
            },
        );
        wait_terminal(&db, &id, Duration::from_secs(20)).await
    };
    engine.shutdown().await;
    assert_eq!(first.usage.prompt_tokens, 3 * 42);
    assert!(first.usage.cost_usd.is_some_and(|cost| cost > 0.0));
    // Answers from the cache were not sent: they have no latency. (Counted as 0 ms, a partly
    // cached run's total p50 fell below its time to first token.)
    assert_eq!(cached.latency, evalboard_domain::LatencySummary::default());
    assert_eq!(partly.usage.cached_answers, 3);
    let latency = partly.latency;
    assert!(latency.total_p50_us.is_some_and(|t| t > 0), "{latency:?}");
    assert_eq!(
        latency.total_p50_us, latency.total_p95_us,
        "one answer sent"
    );
    assert!(latency.total_p50_us >= latency.ttft_p50_us, "{latency:?}");
    // Answered from the cache: nothing paid, and said so ($0), not "no price".
    assert_eq!(cached.usage.cost_usd, Some(0.0));
    assert_eq!(
        (
            cached.counts.correct,
            cached.usage.total_tokens(),
            cached.usage.cached_answers
        ),
        (3, 0, 3)
    );
    assert_eq!(
        (hotter.usage.prompt_tokens, hotter.usage.cached_answers),
        (3 * 42, 0)
    );
    let served = all_items(&db, &cached.id);
    let asked = all_items(&db, &first.id);
    for (served, asked) in served.iter().zip(&asked) {
        assert_eq!(served.attempts[0].outcome.as_deref(), Some("cached"));
        assert_eq!(served.response_text, asked.response_text);
        assert_eq!(
            served.reasoning_text, asked.reasoning_text,
            "reasoning kept too"
        );
    }
    assert!(
        all_items(&db, &hotter.id)
            .iter()
            .all(|i| i.attempts[0].outcome.as_deref() == Some("answered"))
    );
}

engine_tests!(
    a_cached_run_is_answered_from_earlier_answers,
    reasoning_is_kept_apart_and_never_judged,
    worked_examples_come_from_the_dataset_the_run_names,
    numeric_items_are_asked_and_judged_as_numbers,
    misbehaving_provider_runs_end_with_the_right_states,
    refused_credentials_fail_the_run,
    a_provider_failing_item_after_item_fails_the_run,
    a_server_without_the_key_fails_the_run_alone_and_leaves_it_to_a_replica_with_it,
    a_provider_that_always_throttles_cannot_hold_a_run,
    an_llm_judge_decides_with_its_rationale_kept,
    a_judge_that_refuses_its_key_fails_the_run_and_keeps_the_answers,
    a_throttled_judge_is_waited_for,
    a_judge_that_refuses_a_temperature_is_asked_without_one,
    a_reasoning_judges_thinking_is_not_its_rationale,
    an_answer_left_unjudged_by_a_dead_worker_is_judged_once,
    anthropic_messages_stream_and_errors_are_retried,
);
