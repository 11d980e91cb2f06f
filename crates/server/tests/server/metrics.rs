//! `GET /metrics` of a real server: scraped before and after a run, its counters move by what
//! the run did.

use std::io::{Read, Write};

use serde_json::json;

use evalboard_persistence::testing::{CutProxy, TestDatabase};

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
    assert_eq!(sample(&before, "evalboard_database_up"), 1.0);
    // Each provider's concurrency limit in force, there before its first request.
    assert_eq!(
        sample(
            &before,
            "evalboard_provider_concurrency_limit{provider=\"Simulated\"}"
        ),
        256.0
    );
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
        "evalboard_provider_slots_in_use{provider=\"Simulated\"} 0",
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
    // Every slot the run took was given back (the Simulated provider never throttles: its
    // limit stayed where it was).
    for (series, value) in [
        ("evalboard_provider_slots_in_use", 0.0),
        ("evalboard_provider_concurrency_limit", 256.0),
    ] {
        let line = format!("{series}{{provider=\"Simulated\"}} {value}");
        assert!(after.lines().any(|l| l == line), "{line}: {after}");
    }
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

/// While the database is out of reach, a scrape still gets its page, at once rather than
/// after the pool's acquire timeout (30 s here, beyond Prometheus's default scrape timeout),
/// without the runs by status and saying the database is down; once it is back, both return
/// (PostgreSQL, through a proxy the test cuts).
#[test]
fn a_scrape_during_a_database_outage_says_so_in_time() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let proxy = runtime.block_on(CutProxy::start(db.url()));
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("DATABASE_URL", &proxy.url_through(db.url())),
            ("EVALBOARD_ENGINE__ENABLED", "false"),
            ("EVALBOARD_DATABASE__ACQUIRE_TIMEOUT_SECS", "30"),
        ],
        &[],
    );
    let up = scrape(&server);
    assert_eq!(sample(&up, "evalboard_database_up"), 1.0, "{up}");
    assert!(
        up.contains("evalboard_runs{status=\"completed\"} 0"),
        "{up}"
    );

    proxy.cut();
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap();
    let down = client
        .get(format!("{}/metrics", server.base))
        .send()
        .expect("the scrape is answered before the acquire timeout")
        .text()
        .unwrap();
    assert!(
        down.lines().any(|l| l == "evalboard_database_up 0"),
        "{down}"
    );
    assert!(!down.contains("evalboard_runs"), "{down}");
    assert!(
        down.contains("evalboard_build_info"),
        "the rest is served: {down}"
    );

    proxy.mend();
    // The pool opens connections again on its own schedule (backing off while the database
    // was gone); each scrape until then waits its second.
    let back = (0..30)
        .map(|_| scrape(&server))
        .find(|page| sample(page, "evalboard_database_up") == 1.0)
        .expect("the database is seen back");
    assert!(
        back.contains("evalboard_runs{status=\"completed\"} 0"),
        "{back}"
    );
    server.terminate();
}
