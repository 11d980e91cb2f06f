//! `evalboard-bench subscribe`: many SSE subscribers on one server, measuring how late events
//! arrive.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;

use crate::histogram::Histogram;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use sse_stream::SseByteStream;

/// Which event stream of `GET /runs/events` a subscriber follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum View {
    /// Every stored event, each once, in id order (for tools).
    Exact,
    /// What a board needs, in batches (for dashboards; docs/events.md).
    Board,
}

impl View {
    /// The `view` query parameter's value.
    fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Board => "board",
        }
    }
}

/// The `at` of an event payload, without parsing the whole payload.
fn event_time(data: &str) -> Option<DateTime<Utc>> {
    let start = data.rfind("\"at\":\"")? + 6;
    let end = start + data[start..].find('"')?;
    DateTime::parse_from_rfc3339(&data[start..end])
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Opens `subscribers` streams of `view` on `url`, prints `subscribed N` when all are open, and follows
/// them until each has seen a run complete (or `timeout` passes). Prints the latency of stored
/// events — receipt time minus the event's `at`, which is taken just before its transaction, so
/// an upper bound of commit-to-receipt — as one `result` line.
#[tokio::main]
pub(crate) async fn run(
    url: &str,
    subscribers: usize,
    view: View,
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let view = view.as_str();
    let endpoint = format!("{}/runs/events?view={view}", url.trim_end_matches('/'));
    let histogram = Arc::new(Histogram::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let mut streams = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let response = client
            .get(&endpoint)
            .send()
            .await
            .context("subscribing")?
            .error_for_status()?;
        streams.push(response);
    }
    println!("subscribed {subscribers}");
    let mut tasks = Vec::with_capacity(subscribers);
    for response in streams {
        let (histogram, finished) = (Arc::clone(&histogram), Arc::clone(&finished));
        tasks.push(tokio::spawn(async move {
            let mut events = SseByteStream::new(response.bytes_stream());
            while let Some(Ok(event)) = events.next().await {
                let received = Utc::now();
                let (Some(name), Some(data)) = (event.event.as_deref(), event.data.as_deref())
                else {
                    continue; // a comment (heartbeat)
                };
                let preview = name == "run_item" && data.contains("\"activity\":");
                if preview {
                    continue;
                }
                if let Some(at) = event_time(data) {
                    histogram.record((received - at).num_microseconds().unwrap_or(i64::MAX));
                }
                if name == "run_status" && data.contains("\"status\":\"completed\"") {
                    finished.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }));
    }
    let all = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(timeout, all).await;
    println!(
        "result subscribers={subscribers} view={view} completed={} events={} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} client_cpu_s={}",
        finished.load(Ordering::Relaxed),
        histogram.count(),
        histogram.quantile_ms(0.50),
        histogram.quantile_ms(0.99),
        histogram.quantile_ms(1.0),
        crate::own_cpu_seconds().map_or("?".into(), |s| format!("{s:.1}")),
    );
    Ok(())
}
