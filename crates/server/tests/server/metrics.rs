//! `GET /metrics` of a real server: scraped before and after a run, its counters move by what
//! the run did.

use std::io::{Read, Write};

use serde_json::json;

use crate::support::{Server, wait_for};

/// The value of the sample `name{labels}` (labels as rendered, in order), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn scrape(server: &Server) -> String {
    let response = reqwest::blocking::get(format!("{}/metrics", server.base)).unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().unwrap()
}

#[test]
fn metrics_count_what_a_run_did() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    let before = scrape(&server);
    assert_eq!(
        sample(
            &before,
            &format!(
                "evalboard_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert_eq!(sample(&before, "evalboard_runs{status=\"completed\"}"), 0.0);
    // Present from the start, so that an alert on it has a series to watch (and `increase()`
    // sees its first event).
    for series in [
        "evalboard_log_lines_dropped_total 0",
        "evalboard_claims_taken_over_total 0",
        "evalboard_db_pool_timeouts_total 0",
        "evalboard_event_stream_dropped_total{reason=\"behind\"} 0",
        "evalboard_event_stream_dropped_total{reason=\"stalled\"} 0",
        "evalboard_event_stream_dropped_total{reason=\"database\"} 0",
        "evalboard_event_stream_subscribers 0",
    ] {
        assert!(before.lines().any(|l| l == series), "{series}: {before}");
    }

    // A subscriber follows the run, so the pump delivers its events.
    let address = server.base.trim_start_matches("http://");
    let mut subscriber = std::net::TcpStream::connect(address).unwrap();
    write!(
        subscriber,
        "GET /runs/events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    subscriber.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // 36 demo items, some of them faulted by the Simulated provider's fault rate (retried or
    // failed), every one finished.
    let (status, created) = server.post(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "evalboard-demo", "modelName": "sim-1",
                "settings": {"concurrency": 8, "maxAttempts": 2,
                             "simulated": {"latencyMs": 20, "seed": 7, "faultRate": 0.2}}}),
    );
    assert_eq!(status, 201, "{created}");
    let run = created["run"]["id"].as_str().unwrap().to_owned();
    let done = wait_for(&server, &run, "completed", |d| {
        d["run"]["status"] == "completed"
    });
    let after = scrape(&server);

    let finished = |outcome: &str| {
        sample(
            &after,
            &format!(
                "evalboard_items_finished_total{{provider=\"Simulated\",model=\"sim-1\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    let progress = &done["progress"];
    assert_eq!(finished("correct"), progress["correct"].as_f64().unwrap());
    assert_eq!(
        finished("incorrect"),
        progress["incorrect"].as_f64().unwrap()
    );
    assert_eq!(finished("failed"), progress["faulted"].as_f64().unwrap());
    assert_eq!(
        finished("correct") + finished("incorrect") + finished("failed"),
        36.0
    );
    assert_eq!(sample(&after, "evalboard_runs{status=\"completed\"}"), 1.0);
    // Every answer's latency, and every retry, by provider.
    let answered = progress["correct"].as_f64().unwrap() + progress["incorrect"].as_f64().unwrap();
    assert!(
        sample(
            &after,
            "evalboard_provider_request_seconds_count{provider=\"Simulated\"}"
        ) >= answered
    );
    let retries: f64 = after
        .lines()
        .filter(|l| l.starts_with("evalboard_provider_retries_total{provider=\"Simulated\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        retries > 0.0,
        "a 20 % fault rate over 36 items retried none:\n{after}"
    );
    // The requests this test made, by route and status.
    assert_eq!(
        sample(
            &after,
            "evalboard_http_requests_total{method=\"POST\",route=\"/runs\",status=\"201\"}"
        ),
        1.0
    );
    assert!(
        sample(
            &after,
            "evalboard_http_requests_total{method=\"GET\",route=\"/runs/{run_id}\",status=\"200\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &after,
            "evalboard_http_request_duration_seconds_count{method=\"POST\",route=\"/runs\",status=\"201\"}"
        ),
        1.0
    );
    assert!(after.contains("evalboard_db_pool_wait_seconds_bucket"));
    // The run's events reached the subscriber: two a run, at least one an item, each timed
    // from its change to its broadcast.
    assert_eq!(sample(&after, "evalboard_event_stream_subscribers"), 1.0);
    assert!(sample(&after, "evalboard_event_delivery_lag_seconds_count") >= 38.0);
    assert!(after.contains("evalboard_event_delivery_lag_seconds_bucket"));
    drop(subscriber);
    server.terminate();
}
