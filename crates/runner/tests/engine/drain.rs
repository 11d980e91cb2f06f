//! Draining an engine: requests already sent finish within the window, everything else is given
//! back, and another worker takes it at once — with leases of five minutes, so that waiting for
//! one to run out would time the test out — without counting a resume.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use evalboard_domain::{ItemState, RunId, RunSettings, RunStatus, SimulatedSettings};
use evalboard_persistence::{LogLevel, LogQuery, testing::TestDatabase};
use evalboard_runner::{EngineHandle, ProviderKind, ProviderRegistry};

use crate::{
    stub_provider::{all_items, llm_judged, start_stub},
    support::{
        assert_counters_match_rows, create_run, engine_tests, import, items, provider, registry,
        start_engine_with, wait_for, wait_terminal,
    },
};

/// Leases no test waits out.
const LEASE: Duration = Duration::from_secs(300);

fn slow_run(latency_ms: u32) -> RunSettings {
    RunSettings {
        concurrency: Some(4),
        max_attempts: Some(3),
        simulated: Some(SimulatedSettings {
            latency_ms: Some(latency_ms),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn simulated_registry() -> std::sync::Arc<ProviderRegistry> {
    registry(vec![provider(
        "Simulated",
        ProviderKind::Simulated,
        None,
        None,
    )])
}

/// An engine under its own worker name, with long leases and the given drain window.
fn engine(
    db: &TestDatabase,
    registry: std::sync::Arc<ProviderRegistry>,
    worker: &str,
    drain: Duration,
) -> EngineHandle {
    start_engine_with(db, registry, |config| {
        config.worker = worker.to_owned();
        config.lease = LEASE;
        config.renew_every = LEASE / 3;
        config.drain = drain;
    })
}

/// The items whose request was sent (logged "attempt N sent").
fn sent(db: &TestDatabase, run: &RunId) -> BTreeSet<u32> {
    db.query_logs(run, &LogQuery::default(), 10_000)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.message.ends_with(" sent"))
        .filter_map(|entry| entry.sequence)
        .collect()
}

/// Waits until `n` items were sent.
async fn until_sent(db: &TestDatabase, run: &RunId, n: usize) -> BTreeSet<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sent = sent(db, run);
        if sent.len() >= n {
            return sent;
        }
        assert!(Instant::now() < deadline, "only {sent:?} sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The items in `state`.
fn in_state(db: &TestDatabase, run: &RunId, state: ItemState) -> BTreeSet<u32> {
    db.item_states(run)
        .unwrap()
        .into_iter()
        .filter(|(_, s)| *s == state)
        .map(|(sequence, _)| sequence)
        .collect()
}

/// Each item's attempts, by outcome.
fn outcomes(db: &TestDatabase, run: &RunId, sequence: u32) -> Vec<Option<String>> {
    all_items(db, run)[sequence as usize - 1]
        .attempts
        .iter()
        .map(|a| a.outcome.clone())
        .collect()
}

/// A drain with a long window: the four items sent finish and are judged (the drain ends when
/// they do, not when the window closes); the eight claimed ahead (twice the run's concurrency)
/// are given back; another worker claims those at once.
async fn a_drain_lets_sent_items_finish_and_gives_the_rest_back(db: TestDatabase) {
    import(&db, "D", &items(40, |i| format!("Question {i}?")));
    let run_id = create_run(&db, "Simulated", "m", "D", slow_run(2_000));
    let first = engine(
        &db,
        simulated_registry(),
        "first-worker",
        Duration::from_secs(60),
    );
    let sent = until_sent(&db, &run_id, 4).await;
    // The claim made ahead has come back: four sent, eight waiting behind them.
    let claimed = wait_for(&db, &run_id, Duration::from_secs(5), |r| {
        r.counts.running == 12
    })
    .await;
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(claimed.counts.pending, 28);

    let draining = Instant::now();
    let drained = first.drain().await;
    assert!(
        !drained.answers_lost && !drained.claims_kept,
        "the database was there"
    );
    let released = drained.released;
    assert!(
        draining.elapsed() < Duration::from_secs(15),
        "the drain waits for the items in flight, not for its window: {:?}",
        draining.elapsed()
    );
    assert_eq!(released, 8, "the eight claimed ahead");
    let run = db.get_run(&run_id).unwrap();
    assert_counters_match_rows(&db, &run);
    assert_eq!(
        (run.counts.running, run.counts.awaiting, run.counts.pending),
        (0, 0, 36)
    );
    let judged: BTreeSet<u32> = in_state(&db, &run_id, ItemState::Correct)
        .union(&in_state(&db, &run_id, ItemState::Incorrect))
        .copied()
        .collect();
    assert_eq!(judged, sent, "the items sent finished, judged");
    // The eight were never sent: given back with no attempt of theirs (the next claim's is
    // their first), as the log says.
    let logs = db
        .query_logs(&run_id, &LogQuery::default(), 10_000)
        .unwrap();
    let given_back: Vec<u32> = logs
        .iter()
        .filter(|l| {
            l.message
                .starts_with("given back unsent (worker `first-worker` stopped)")
        })
        .filter_map(|l| l.sequence)
        .collect();
    assert_eq!(given_back.len(), 8, "{given_back:?}");
    // Each item's line is its detail (`debug`); the run's one line says it at `info`.
    let levels = |mark: &str| -> Vec<LogLevel> {
        logs.iter()
            .filter(|l| l.message.contains(mark))
            .map(|l| l.level)
            .collect()
    };
    assert_eq!(
        levels("(worker `first-worker` stopped)"),
        vec![LogLevel::Debug; 8],
        "one line per item given back"
    );
    assert_eq!(
        levels("worker `first-worker` stopped:"),
        vec![LogLevel::Info],
        "the run's one line"
    );
    assert!(given_back.iter().all(|s| !sent.contains(s)));
    assert!(
        given_back
            .iter()
            .all(|s| outcomes(&db, &run_id, *s).is_empty()),
        "no attempt for what was never sent"
    );
    assert_eq!(run.lifecycle.resumed_count, 0);

    // Another worker claims them at once (first, in sequence order): no lease to wait for.
    let second = engine(&db, simulated_registry(), "second-worker", Duration::ZERO);
    let taking = Instant::now();
    let deadline = taking + Duration::from_secs(10);
    while !given_back
        .iter()
        .all(|s| in_state(&db, &run_id, ItemState::Running).contains(s))
    {
        assert!(
            Instant::now() < deadline,
            "the items given back were not claimed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let released = second.drain().await.released;
    assert_eq!(released, 12, "the second worker's own claims");
    let run = db.get_run(&run_id).unwrap();
    assert_counters_match_rows(&db, &run);
    assert_eq!(run.lifecycle.resumed_count, 0, "no resume");
    assert_eq!(run.counts.pending, 36);
    // The second worker sent some of them (its first four), which it gave back in flight.
    let mut sent_again = 0;
    for sequence in &given_back {
        match outcomes(&db, &run_id, *sequence).as_slice() {
            [] => {}
            [Some(released)] if released == "released" => sent_again += 1,
            other => panic!("item {sequence}: {other:?}"),
        }
    }
    assert!(sent_again <= 4, "{sent_again}");
    let logs = db
        .query_logs(&run_id, &LogQuery::default(), 10_000)
        .unwrap();
    assert!(
        logs.iter().any(|l| l.sequence.is_none()
            && l.message == "worker `first-worker` stopped: 8 item(s) released for another worker"),
        "{:#?}",
        logs.iter().map(|l| &l.message).collect::<Vec<_>>()
    );
    assert!(!logs.iter().any(|l| l.message.contains("resumed")));
}

/// A drain with no window gives back the items in flight too, at once; another worker sends them
/// again right away, as their next attempt.
async fn a_drain_without_a_window_gives_items_in_flight_back(db: TestDatabase) {
    import(&db, "D", &items(40, |i| format!("Question {i}?")));
    // Answers that take longer than the test.
    let run_id = create_run(&db, "Simulated", "m", "D", slow_run(60_000));
    let first = engine(&db, simulated_registry(), "first-worker", Duration::ZERO);
    let sent = until_sent(&db, &run_id, 4).await;
    wait_for(&db, &run_id, Duration::from_secs(5), |r| {
        r.counts.running == 12
    })
    .await;

    let draining = Instant::now();
    let released = first.drain().await.released;
    assert!(
        draining.elapsed() < Duration::from_secs(3),
        "{:?}",
        draining.elapsed()
    );
    assert_eq!(released, 12);
    let run = db.get_run(&run_id).unwrap();
    assert_counters_match_rows(&db, &run);
    assert_eq!((run.counts.running, run.counts.pending), (0, 40));
    for sequence in &sent {
        assert_eq!(
            outcomes(&db, &run_id, *sequence),
            [Some("released".to_owned())],
            "item {sequence}: its attempt was released, not lost"
        );
    }

    let second = engine(&db, simulated_registry(), "second-worker", Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again: BTreeSet<u32> = self::sent(&db, &run_id)
            .into_iter()
            .filter(|s| {
                db.query_logs(
                    &run_id,
                    &LogQuery {
                        sequence: Some(*s),
                        ..Default::default()
                    },
                    100,
                )
                .unwrap()
                .iter()
                .any(|l| l.message == "attempt 2 sent")
            })
            .collect();
        if again == sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sent again: {again:?} of {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(second.drain().await.released, 12);
    let run = db.get_run(&run_id).unwrap();
    assert_counters_match_rows(&db, &run);
    assert_eq!(run.lifecycle.resumed_count, 0);
    assert_eq!(run.status, RunStatus::Running);
}

/// With an LLM judge, answers that arrive during a drain are stored, and their judge is not
/// asked: they are given back `awaiting`, and another worker only judges them (the model is not
/// asked again), with no resume.
async fn answers_arriving_during_a_drain_are_judged_by_the_next_worker(db: TestDatabase) {
    let stub = start_stub();
    import(
        &db,
        "D",
        &items(4, |i| format!("Question {i}? [[sluggish]]")),
    );
    let run_id = create_run(&db, "Stub", "m", "D", llm_judged("Stub"));
    let mut config = provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    );
    config.timeouts.first_byte_secs = 10;
    config.timeouts.total_secs = 10;
    let stub_registry = registry(vec![config]);
    let first = engine(
        &db,
        stub_registry.clone(),
        "first-worker",
        Duration::from_secs(60),
    );
    until_sent(&db, &run_id, 4).await;
    let released = first.drain().await.released;
    assert_eq!(released, 4);
    let run = db.get_run(&run_id).unwrap();
    assert_counters_match_rows(&db, &run);
    assert_eq!((run.counts.awaiting, run.counts.running), (4, 0));
    for sequence in 1..=4 {
        assert_eq!(
            outcomes(&db, &run_id, sequence),
            [Some("answered".to_owned())]
        );
    }

    let second = engine(&db, stub_registry, "second-worker", Duration::ZERO);
    let run = wait_terminal(&db, &run_id, Duration::from_secs(10)).await;
    second.drain().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(run.lifecycle.resumed_count, 0);
    assert_counters_match_rows(&db, &run);
    for item in all_items(&db, &run_id) {
        assert_eq!(item.state, ItemState::Correct);
        assert_eq!(item.attempt_count, 1, "the model was not asked again");
        assert_eq!(item.judgments.len(), 1);
        assert_eq!(item.judgments[0].judge, "llm:Stub/m");
    }
}

engine_tests!(
    a_drain_lets_sent_items_finish_and_gives_the_rest_back,
    a_drain_without_a_window_gives_items_in_flight_back,
    answers_arriving_during_a_drain_are_judged_by_the_next_worker,
);
