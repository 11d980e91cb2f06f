//! Three server processes on one PostgreSQL database: two run evaluations, the third only serves
//! the API and the stream (with the previews the other two publish). One of the two is killed
//! mid-run; the other takes its items over.

use std::{collections::BTreeSet, sync::mpsc, time::Duration};

use evalboard_domain::RunId;
use evalboard_persistence::{ItemQuery, Resume, testing::TestDatabase};
use futures_util::StreamExt;
use serde_json::{Value, json};

use evalboard_api::testing::sse_events;

use crate::support::{Server, all_items, dataset_jsonl, wait_for};

/// One event as a subscriber received it.
struct Received {
    id: u64,
    name: String,
    data: Value,
}

/// Follows `GET /runs/events` of `base` after `position` on a thread of its own.
fn subscribe(base: &str, position: u64) -> mpsc::Receiver<Received> {
    let (tx, rx) = mpsc::channel();
    let url = format!("{base}/runs/events?lastEventId={position}");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let reply = reqwest::get(url).await.unwrap();
            assert_eq!(reply.status(), 200);
            let mut events = sse_events(reply.bytes_stream());
            while let Some(event) = events.next().await {
                let received = Received {
                    id: event.id.parse().unwrap(),
                    name: event.event,
                    data: serde_json::from_str(&event.data).unwrap(),
                };
                if tx.send(received).is_err() {
                    return;
                }
            }
        });
    });
    rx
}

fn replica(data_dir: &std::path::Path, url: &str, worker: &str, engine: bool) -> Server {
    let enabled = if engine { "true" } else { "false" };
    Server::start(
        data_dir,
        &[
            ("DATABASE_URL", url),
            ("EVALBOARD_WORKER_ID", worker),
            ("EVALBOARD_ENGINE__ENABLED", enabled),
            ("EVALBOARD_ENGINE__LEASE_SECS", "5"),
        ],
        &[],
    )
}

#[test]
fn replicas_share_the_work_and_every_subscriber_sees_every_event() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // Started one after another: each imports the demo dataset if it is missing.
    let alpha = replica(dirs[0].path(), db.url(), "replica-alpha", true);
    let beta = replica(dirs[1].path(), db.url(), "replica-beta", true);
    let viewer = replica(dirs[2].path(), db.url(), "replica-viewer", false);

    let items = 3_000;
    let response = reqwest::blocking::Client::new()
        .post(format!(
            "{}/datasets?name=Replicated&format=jsonl",
            viewer.base
        ))
        .header("content-type", "application/jsonl")
        .body(dataset_jsonl(items))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);

    // The viewer's subscriber starts from the position its board includes.
    let board = reqwest::blocking::get(format!("{}/runs/active", viewer.base)).unwrap();
    let position: u64 = board.headers()["last-event-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let events = subscribe(&viewer.base, position);

    let (status, created) = viewer.post(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "Replicated", "modelName": "sim-1",
                "settings": {"concurrency": 32, "simulated": {"latencyMs": 20, "seed": 11, "faultRate": 0.05}}}),
    );
    assert_eq!(status, 201, "{created}");
    let run = created["run"]["id"].as_str().unwrap().to_owned();

    // Kill one working replica mid-run.
    wait_for(&viewer, &run, "a third done", |d| {
        d["progress"]["completed"].as_u64() >= Some(1_000)
    });
    let mut beta = beta;
    beta.child.kill().unwrap(); // SIGKILL
    beta.child.wait().unwrap();
    drop(beta);

    let detail = wait_for(&viewer, &run, "completed", |d| {
        d["run"]["status"] == "completed"
    });
    assert_eq!(detail["progress"]["completed"], items);
    assert!(
        detail["lifecycle"]["resumedCount"] == 1,
        "the killed replica's items were taken over: {detail}"
    );

    // Every item judged exactly once; the counters are the items'.
    let listed = all_items(&viewer, &run);
    assert_eq!(listed.len(), items);
    for item in &listed {
        match item["state"].as_str().unwrap() {
            "correct" | "incorrect" => {
                assert_eq!(item["verdicts"].as_array().unwrap().len(), 1, "{item}")
            }
            "failed" => assert!(item["verdicts"].as_array().unwrap().is_empty()),
            other => panic!("item ended {other}: {item}"),
        }
    }
    let counted = |state: &str| listed.iter().filter(|i| i["state"] == state).count() as u64;
    assert_eq!(detail["progress"]["correct"], counted("correct"));
    assert_eq!(detail["progress"]["incorrect"], counted("incorrect"));
    assert_eq!(detail["progress"]["faulted"], counted("failed"));

    // Both working replicas did part of the work; the viewer did none.
    let run_id = RunId::parse(&run).unwrap();
    let mut workers = BTreeSet::new();
    let mut query = ItemQuery::first(500);
    loop {
        let page = db.run_items(&run_id, &query).unwrap();
        for item in &page.items {
            workers.extend(item.attempts.iter().filter_map(|a| a.worker.clone()));
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(
        workers,
        BTreeSet::from(["replica-alpha".to_owned(), "replica-beta".to_owned()])
    );

    // The viewer's subscriber received every stored event once, in the stream's order (the
    // writing transactions', then ids: the replicas commit events concurrently), ending with the
    // run's completion and its final counters.
    let Resume::At(from) = db.resume_from(position).unwrap() else {
        panic!("the board's position is a stored event's");
    };
    // Read once the completion may be delivered: the stream (and this read) stops short of
    // events while a transaction that began before them is still open (another replica's
    // lease renewal, say), so a read right after the run completed may end before it.
    let completion_readable = |events: &[evalboard_domain::RunEvent]| {
        events.iter().any(|e| {
            matches!(&e.change, evalboard_domain::RunChange::Status { run, .. }
                if run.status == evalboard_domain::RunStatus::Completed)
        })
    };
    let mut readable = db.events_after(from, None, 1_000_000).unwrap();
    for _ in 0..100 {
        if completion_readable(&readable) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        readable = db.events_after(from, None, 1_000_000).unwrap();
    }
    assert!(completion_readable(&readable), "the completion is readable");
    let stored: Vec<u64> = readable.iter().map(|e| e.id()).collect();
    let mut received = Vec::new();
    let mut last_progress = Value::Null;
    let mut completed = false;
    let mut previews = 0;
    let mut ended = BTreeSet::new();
    while received.len() < stored.len() {
        let event = events
            .recv_timeout(Duration::from_secs(30))
            .expect("the viewer's stream goes on");
        let sequence = event.data["item"]["sequence"].as_u64();
        if event.name == "run_item" && event.data["item"].get("activity").is_some() {
            // The viewer runs no engine: its previews are those the working replicas publish.
            assert_eq!(event.data["item"]["state"], "running");
            // Never one of an item the stream has said ended: a fold would take it for the
            // streaming item again (for good, once the run ends).
            let sequence = sequence.unwrap();
            assert!(
                !ended.contains(&sequence),
                "a preview of item {sequence} after its end: {}",
                event.data
            );
            assert_eq!(
                event.id,
                received.last().copied().unwrap_or(position),
                "a preview carries the position reached"
            );
            previews += 1;
            continue;
        }
        assert_ne!(event.name, "reset");
        if event.name == "run_item" {
            let sequence = sequence.unwrap();
            match event.data["item"]["state"].as_str().unwrap() {
                "pending" | "running" => ended.remove(&sequence),
                _ => ended.insert(sequence),
            };
        }
        if event.name == "run_progress" {
            last_progress = event.data["progress"].clone();
        }
        if event.name == "run_status" && event.data["status"] == "completed" {
            completed = true;
        }
        received.push(event.id);
    }
    assert_eq!(received, stored, "every event once, in order");
    assert!(completed);
    assert!(
        previews > 0,
        "the viewer's subscriber saw what the working replicas streamed"
    );
    assert_eq!(last_progress, detail["progress"]);

    alpha.terminate();
    viewer.terminate();
}

/// A second server under a worker name another live server holds on the database refuses to
/// start, saying why (it would take the first one's items in flight as its own); once the
/// first is gone, the name is free at once.
#[test]
fn a_second_server_under_a_held_worker_name_refuses_to_start() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = replica(dirs[0].path(), db.url(), "replica-twin", true);
    let second = std::process::Command::new(crate::support::BINARY)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dirs[1].path())
        .env("DATABASE_URL", db.url())
        .env("EVALBOARD_WORKER_ID", "replica-twin")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains(
            "another server on this database is running under the worker name `replica-twin`"
        ),
        "{said}"
    );
    // Without an engine, a server needs no worker name.
    drop(replica(dirs[2].path(), db.url(), "replica-twin", false));
    first.terminate();
    drop(replica(dirs[1].path(), db.url(), "replica-twin", true));
}
