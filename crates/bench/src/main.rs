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
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::subscribe::View;

/// The tools `cargo xtask bench` measures the engine with (docs/performance.md).
#[derive(Debug, Parser)]
#[command(arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve an OpenAI-compatible stub provider.
    ///
    /// Answers every chat completion with the same streamed answer (B), at once or after a set
    /// latency. Prints `listening on http://ADDR` when ready.
    Stub {
        /// Address to listen on (port 0: any free port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        bind: String,
        /// How long each answer waits before it streams, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        latency_ms: u64,
    },
    /// Measure how many streamed answers per second a provider serves.
    ///
    /// Sends streamed chat completions, N at a time, and prints the rate.
    Load {
        /// The provider's base URL (`…/v1`).
        #[arg(long)]
        url: String,
        /// Requests in flight at once.
        #[arg(long, value_name = "N", default_value_t = 64)]
        concurrency: usize,
        /// Requests in all.
        #[arg(long, value_name = "M", default_value_t = 10_000)]
        requests: u64,
    },
    /// Measure how late live events reach many SSE subscribers.
    ///
    /// Opens N `GET /runs/events` streams on a server, prints `subscribed N`, follows each until
    /// it has seen a run complete, then prints one `result` line of latencies.
    Subscribe {
        /// The evalboard server.
        #[arg(long)]
        url: String,
        /// Streams to open.
        #[arg(long, value_name = "N", default_value_t = 1_000)]
        subscribers: usize,
        /// Which event stream each subscriber follows.
        #[arg(long, value_enum, default_value_t = View::Exact)]
        view: View,
        /// Give up waiting for the run to complete after this many seconds.
        #[arg(long, value_name = "S", default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Measure how long an endpoint takes to answer at a fixed request rate.
    ///
    /// GETs the URL at a fixed rate (an open loop: a slow answer does not slow the requests
    /// that follow), then prints one `result` line of latency percentiles.
    Rate {
        /// The URL to request.
        #[arg(long)]
        url: String,
        /// Requests per second.
        #[arg(long, value_name = "PER_SECOND", default_value_t = 100)]
        rate: u32,
        /// How long to keep requesting, in seconds.
        #[arg(long, value_name = "S", default_value_t = 10)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Stub { bind, latency_ms } => {
            stub(&bind, std::time::Duration::from_millis(latency_ms))
        }
        Command::Load {
            url,
            concurrency,
            requests,
        } => load(&url, concurrency, requests),
        Command::Subscribe {
            url,
            subscribers,
            view,
            timeout_secs,
        } => subscribe::run(
            &url,
            subscribers,
            view,
            std::time::Duration::from_secs(timeout_secs),
        ),
        Command::Rate { url, rate, seconds } => rate::run(&url, rate, seconds),
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
    // From here: building the client (its TLS roots loaded) is no request's cost.
    let cpu_before = own_cpu_seconds();
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
    // The client's own CPU per request: what making a request and reading its streamed body
    // costs on this machine at this pace, a floor under any client's (the engine's included).
    let cpu = match (cpu_before, own_cpu_seconds()) {
        (Some(before), Some(after)) => format!("{:.0}", (after - before) * 1e6 / requests as f64),
        _ => "?".into(),
    };
    println!(
        "{requests} streamed requests at concurrency {concurrency} in {seconds:.2} s, client CPU {cpu} µs per request: {:.0} requests/s",
        requests as f64 / seconds
    );
    Ok(())
}

/// CPU time (user + system) this process has used, in seconds (Linux; 100 clock ticks a
/// second): the bench's clients share the machine with the server they measure.
fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, View};

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The invocations `cargo xtask bench` builds (xtask/src/bench.rs, bench_queries.rs).
    #[test]
    fn the_xtask_invocations_parse() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["evalboard-bench"], args].concat())
                .unwrap_or_else(|e| panic!("{args:?}: {e}"))
                .command
        };
        assert!(matches!(
            parse(&["stub", "--bind", "127.0.0.1:0", "--latency-ms", "50"]),
            Command::Stub { bind, latency_ms: 50 } if bind == "127.0.0.1:0"
        ));
        assert!(matches!(
            parse(&["stub"]),
            Command::Stub { bind, latency_ms: 0 } if bind == "127.0.0.1:0"
        ));
        assert!(matches!(
            parse(&["load", "--url", "http://127.0.0.1:1/v1", "--concurrency", "32", "--requests", "20000"]),
            Command::Load { url, concurrency: 32, requests: 20_000 } if url == "http://127.0.0.1:1/v1"
        ));
        assert!(matches!(
            parse(&[
                "subscribe",
                "--url",
                "http://127.0.0.1:1",
                "--subscribers",
                "100",
                "--view",
                "board"
            ]),
            Command::Subscribe {
                subscribers: 100,
                view: View::Board,
                timeout_secs: 600,
                ..
            }
        ));
        assert!(matches!(
            parse(&["subscribe", "--url", "http://127.0.0.1:1"]),
            Command::Subscribe {
                subscribers: 1_000,
                view: View::Exact,
                ..
            }
        ));
        assert!(matches!(
            parse(&[
                "rate",
                "--url",
                "http://127.0.0.1:1/runs",
                "--rate",
                "200",
                "--seconds",
                "10"
            ]),
            Command::Rate {
                rate: 200,
                seconds: 10,
                ..
            }
        ));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for args in [
            &["load"][..],
            &["subscribe", "--url", "u", "--view", "nearly"],
            &["stub", "--latency-ms", "soon"],
            &["rate", "--url", "u", "--burst"],
            &["nothing"],
        ] {
            let error = Cli::try_parse_from([&["evalboard-bench"], args].concat()).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }
}
