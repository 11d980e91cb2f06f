//! `evalboard-bench`: an OpenAI-compatible stub provider (answering at once, or after a set
//! latency as real providers do), a load client that
//! measures how many streamed answers per second it can serve, a crowd of SSE subscribers
//! that measures how late live events arrive, and requests at a fixed rate that measure how long
//! an endpoint takes to answer.

#![allow(clippy::print_stdout)] // A command-line tool reports on stdout.

mod histogram;
mod rate;
mod subscribe;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match args.first().map(String::as_str) {
        Some("stub") => stub(
            &flag("--bind").unwrap_or_else(|| "127.0.0.1:0".into()),
            std::time::Duration::from_millis(flag("--latency-ms").map_or(Ok(0), |n| n.parse())?),
        ),
        Some("load") => load(
            &flag("--url").context("--url is required")?,
            flag("--concurrency").map_or(Ok(64), |n| n.parse())?,
            flag("--requests").map_or(Ok(10_000), |n| n.parse())?,
        ),
        Some("subscribe") => subscribe::run(
            &flag("--url").context("--url is required")?,
            flag("--subscribers").map_or(Ok(1_000), |n| n.parse())?,
            &flag("--view").unwrap_or_else(|| "exact".into()),
            std::time::Duration::from_secs(flag("--timeout-secs").map_or(Ok(600), |n| n.parse())?),
        ),
        Some("rate") => rate::run(
            &flag("--url").context("--url is required")?,
            flag("--rate").map_or(Ok(100), |n| n.parse())?,
            flag("--seconds").map_or(Ok(10), |n| n.parse())?,
        ),
        _ => bail!(
            "usage: evalboard-bench stub [--bind ADDR] [--latency-ms MS] | load --url URL [--concurrency N] [--requests M] \
             | subscribe --url URL [--subscribers N] [--view exact|board] [--timeout-secs S] \
             | rate --url URL [--rate PER_SECOND] [--seconds S]"
        ),
    }
}

/// The answer every request gets, as OpenAI streams it: a short chain of thought in word-sized
/// chunks (as models stream), ending with the answer B.
fn answer_events() -> String {
    let chunk = |content: &str| {
        json!({"id": "bench", "object": "chat.completion.chunk", "model": "stub",
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    };
    let text = "Let's think step by step. The question asks which option is the right one, so \
        each option has to be weighed against what the question states. Option A does not \
        follow from it, C and D contradict it, and B is the only one consistent with every \
        part of the question. The answer is (B).";
    let mut body = String::new();
    for word in text.split_inclusive(' ') {
        body.push_str(&format!("data: {}\n\n", chunk(word)));
    }
    let finish = json!({"id": "bench", "object": "chat.completion.chunk", "model": "stub",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let usage = json!({"id": "bench", "object": "chat.completion.chunk", "model": "stub", "choices": [],
        "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}});
    body.push_str(&format!(
        "data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n"
    ));
    body
}

async fn chat(
    body: web::Json<Value>,
    answer: web::Data<String>,
    latency: web::Data<std::time::Duration>,
) -> HttpResponse {
    // Read the request as a real server would; refuse what is not a chat completion.
    if body.get("messages").and_then(Value::as_array).is_none() {
        return HttpResponse::BadRequest().finish();
    }
    // A real provider takes its time; the connection stays open meanwhile.
    if !latency.is_zero() {
        actix_web::rt::time::sleep(**latency).await;
    }
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .body(answer.get_ref().clone())
}

#[actix_web::main]
async fn stub(bind: &str, latency: std::time::Duration) -> anyhow::Result<()> {
    let answer = web::Data::new(answer_events());
    let latency = web::Data::new(latency);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(answer.clone())
            .app_data(latency.clone())
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .route("/v1/chat/completions", web::post().to(chat))
    })
    .backlog(1024)
    .bind(bind)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await?;
    Ok(())
}

#[tokio::main]
async fn load(url: &str, concurrency: usize, requests: u64) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let endpoint = format!("{}/chat/completions", url.trim_end_matches('/'));
    let remaining = Arc::new(AtomicU64::new(requests));
    let body = json!({"model": "stub", "stream": true,
        "messages": [{"role": "user", "content": "The following are multiple choice questions... Answer: Let's think step by step."}]});
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, endpoint, remaining, body) = (
            client.clone(),
            endpoint.clone(),
            Arc::clone(&remaining),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                let response = client.post(&endpoint).json(&body).send().await?;
                let mut stream = response.error_for_status()?.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    chunk?;
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{requests} streamed requests at concurrency {concurrency} in {seconds:.2} s: {:.0} requests/s",
        requests as f64 / seconds
    );
    Ok(())
}
