//! SIGTERM drains the engine: requests already sent finish within `engine.drain_secs`, every
//! claim left is given back, the process exits 0, and another worker takes the items at once —
//! with leases of five minutes, so that waiting for one to run out would time the test out —
//! without counting a resume.

use std::time::{Duration, Instant};

use evalboard_domain::{ItemState, Run, RunId};
use evalboard_persistence::{Database, ItemQuery, LogQuery, PoolOptions, testing::TestDatabase};
use serde_json::json;

use crate::support::Server;

/// A server under its own worker name, with five-minute leases and the given drain window, on
/// `database_url` (or the SQLite database of its data directory).
fn start(data: &std::path::Path, worker: &str, drain_secs: &str, database_url: &str) -> Server {
    let mut env = vec![
        ("EVALBOARD_WORKER_ID", worker),
        ("EVALBOARD_ENGINE__LEASE_SECS", "300"),
        ("EVALBOARD_ENGINE__DRAIN_SECS", drain_secs),
    ];
    if database_url.starts_with("postgres") {
        env.push(("DATABASE_URL", database_url));
    }
    Server::start(data, &env, &[])
}

/// Starts a run of slow Simulated items (four at a time) on the demo dataset.
fn start_run(server: &Server, latency_ms: u32) -> RunId {
    let (status, created) = server.post(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "evalboard-demo", "modelName": "sim-1",
                "settings": {"concurrency": 4, "simulated": {"latencyMs": latency_ms}}}),
    );
    assert_eq!(status, 201, "{created}");
    RunId::parse(created["run"]["id"].as_str().unwrap()).unwrap()
}

/// Reads the database the servers use (while they run, too).
fn open(url: &str) -> Database {
    Database::connect(url, &PoolOptions::default()).unwrap()
}

/// Waits (10 s at most) until the run satisfies `done`.
fn wait_until(db: &Database, run: &RunId, what: &str, done: impl Fn(&Run) -> bool) -> Run {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let current = db.get_run(run).unwrap();
        if done(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "never {what}: {:?}",
            current.counts
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The items whose request was sent ("attempt N sent" in their log).
fn sent(db: &Database, run: &RunId) -> Vec<u32> {
    let mut sent: Vec<u32> = db
        .query_logs(run, &LogQuery::default(), 10_000)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.message.ends_with(" sent"))
        .filter_map(|entry| entry.sequence)
        .collect();
    sent.sort_unstable();
    sent.dedup();
    sent
}

/// Each item's attempts' outcomes, by sequence.
fn attempts(db: &Database, run: &RunId) -> Vec<Vec<Option<String>>> {
    db.run_items(run, &ItemQuery::first(100))
        .unwrap()
        .items
        .into_iter()
        .map(|item| item.attempts.into_iter().map(|a| a.outcome).collect())
        .collect()
}

/// SIGTERM with `drain_secs = 0`: the items in flight and those claimed ahead are given back at
/// once; the server exits 0; another worker on the same database claims them at once.
fn sigterm_gives_items_in_flight_back(database_url: Option<&str>) {
    let data = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", data.path().join("evalboard.db").display());
    let url = database_url.unwrap_or(&sqlite);
    let server = start(data.path(), "replica-a", "0", url);
    let db = open(url);
    // Answers that take a minute: nothing finishes by itself.
    let run = start_run(&server, 60_000);
    wait_until(&db, &run, "four sent and eight claimed ahead", |r| {
        r.counts.running == 12 && sent(&db, &r.id).len() == 4
    });

    let output = server.terminate();
    assert!(
        output.contains("draining: waiting up to 0 s for 4 item(s) in flight"),
        "{output}"
    );
    assert!(output.contains("released 12 item(s)"), "{output}");
    let stopped = db.get_run(&run).unwrap();
    assert_eq!(
        (stopped.counts.pending, stopped.counts.running),
        (36, 0),
        "every item is claimable"
    );
    assert_eq!(stopped.lifecycle.resumed_count, 0);
    let outcomes = attempts(&db, &run);
    for sequence in sent(&db, &run) {
        assert_eq!(
            outcomes[sequence as usize - 1],
            [Some("released".to_owned())],
            "item {sequence}"
        );
    }
    let logs = db.query_logs(&run, &LogQuery::default(), 10_000).unwrap();
    let released: usize = logs
        .iter()
        .filter_map(|l| {
            l.message
                .strip_prefix("worker `replica-a` stopped: ")?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .sum();
    assert_eq!(released, 12, "the run's log says what was released");

    // Another worker on the same database: it claims the released items at once (their leases
    // would have run for five minutes), and counts no resume.
    let other = tempfile::tempdir().unwrap();
    let (second_data, second_url) = match database_url {
        Some(url) => (other.path(), url),
        // SQLite: the same data directory (and database), once the first server let go of it.
        None => (data.path(), url),
    };
    let server = start(second_data, "replica-b", "0", second_url);
    let resumed = wait_until(&db, &run, "claimed again", |r| r.counts.running == 12);
    assert_eq!(resumed.lifecycle.resumed_count, 0);
    let states = db.item_states(&run).unwrap();
    assert!(
        states[..12].iter().all(|(_, s)| *s == ItemState::Running),
        "the released items are the first claimed: {states:?}"
    );
    let output = server.terminate();
    assert!(output.contains("released 12 item(s)"), "{output}");
    let run = db.get_run(&run).unwrap();
    assert_eq!(run.lifecycle.resumed_count, 0);
    assert_eq!(run.counts.pending, 36);
}

#[test]
fn sigterm_gives_items_in_flight_back_on_sqlite() {
    sigterm_gives_items_in_flight_back(None);
}

#[test]
fn sigterm_gives_items_in_flight_back_on_postgresql() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    sigterm_gives_items_in_flight_back(Some(db.url()));
}

/// SIGTERM with a window: the items sent finish and are judged, those claimed ahead are given
/// back, and the server exits as soon as nothing is left in flight.
#[test]
fn sigterm_lets_items_in_flight_finish_within_the_window() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("evalboard.db").display());
    let server = start(data.path(), "replica-a", "60", &url);
    let db = open(&url);
    let run = start_run(&server, 2_000);
    wait_until(&db, &run, "four sent and eight claimed ahead", |r| {
        r.counts.running == 12 && sent(&db, &r.id).len() == 4
    });
    let sent_before = sent(&db, &run);

    let stopping = Instant::now();
    let output = server.terminate();
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "waited for the items, not the window: {:?}",
        stopping.elapsed()
    );
    assert!(
        output.contains("draining: waiting up to 60 s for 4 item(s) in flight"),
        "{output}"
    );
    assert!(output.contains("released 8 item(s)"), "{output}");
    let stopped = db.get_run(&run).unwrap();
    assert_eq!(
        (
            stopped.counts.correct + stopped.counts.incorrect,
            stopped.counts.running,
            stopped.counts.pending
        ),
        (4, 0, 32)
    );
    assert_eq!(
        sent(&db, &run),
        sent_before,
        "nothing was sent after SIGTERM"
    );
    let states = db.item_states(&run).unwrap();
    for sequence in sent_before {
        assert!(
            states[sequence as usize - 1].1.is_terminal(),
            "item {sequence} finished: {states:?}"
        );
    }
    assert_eq!(stopped.lifecycle.resumed_count, 0);
}

/// Open event streams (a dashboard's board, a tool's exact stream, an item's text) end when
/// the server stops, instead of holding its graceful stop for the HTTP server's whole timeout
/// (10 s) and the claims' release with it.
#[test]
fn sigterm_ends_open_event_streams() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", data.path().join("evalboard.db").display());
    let server = start(data.path(), "replica-a", "0", &url);
    let db = open(&url);
    let run = start_run(&server, 5_000);
    wait_until(&db, &run, "four sent", |r| sent(&db, &r.id).len() == 4);
    let streaming = sent(&db, &run)[0];
    let readers: Vec<_> = [
        "/runs/events".to_owned(),
        "/runs/events?view=board".to_owned(),
        format!("/runs/{run}/items/{streaming}/stream"),
    ]
    .into_iter()
    .map(|path| {
        let mut response = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap()
            .get(format!("{}{path}", server.base))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        std::thread::spawn(move || {
            let mut body = Vec::new();
            // Ends with the stream (an error if the connection is cut instead).
            let ended = std::io::Read::read_to_end(&mut response, &mut body).is_ok();
            (path, ended)
        })
    })
    .collect();

    let stopping = Instant::now();
    let output = server.terminate();
    let took = stopping.elapsed();
    for reader in readers {
        let (path, ended) = reader.join().unwrap();
        assert!(ended, "{path} ended as a stream");
    }
    assert!(
        took < Duration::from_secs(5),
        "the stop waited for the streams ({took:?}); output:\n{output}"
    );
    assert!(output.contains("released"), "{output}");
}
