//! A database out of reach for longer than a lease (PostgreSQL, through a proxy the test cuts):
//! the engine sends nothing while it cannot renew its claims, and afterwards keeps its items —
//! renewed, not taken over from itself — so that no answer is paid for twice.

use std::time::Duration;

use chrono::Utc;
use evalboard_domain::{RunSettings, RunStatus, SimulatedSettings};
use evalboard_persistence::{
    Database, PoolOptions,
    testing::{CutProxy, TestDatabase},
};
use evalboard_runner::{EngineHandle, ProviderKind, providers::ClientSet};

use crate::{
    stub_provider::all_items,
    support::{
        assert_counters_match_rows, create_run, import, items, provider, registry, wait_for,
        wait_terminal,
    },
};

/// How long a claim lasts here; the outage lasts twice as long.
const LEASE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_a_lease_sends_nothing_and_loses_nothing() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let proxy = CutProxy::start(db.url()).await;
    let engine_db = Database::connect(
        &proxy.url_through(db.url()),
        &PoolOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_millis(200),
        },
    )
    .unwrap();
    import(&db, "Demo", &items(16, |i| format!("Question {i}?")));
    let run = create_run(
        &db,
        "Simulated",
        "m",
        "Demo",
        RunSettings {
            concurrency: Some(4),
            simulated: Some(SimulatedSettings {
                // As long as a lease: the items sent as the first four are answered are still
                // in flight when the database goes, and the next ones wait to be sent.
                latency_ms: Some(1_000),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let registry = registry(vec![provider(
        "Simulated",
        ProviderKind::Simulated,
        None,
        None,
    )]);
    let _ = tracing_subscriber::fmt()
        .with_env_filter("evalboard_runner=info")
        .with_test_writer()
        .try_init();
    let clients = ClientSet::from_registry(&registry);
    let mut config = evalboard_runner::EngineConfig::new("outage-worker");
    config.poll_every = Duration::from_millis(20);
    config.lease = LEASE;
    config.renew_every = LEASE / 4;
    let engine = EngineHandle::start(engine_db, registry, clients, config);
    wait_for(&db, &run, Duration::from_secs(30), |r| {
        r.counts.correct + r.counts.incorrect >= 4
    })
    .await;

    proxy.cut();
    let cut_at = Utc::now();
    tokio::time::sleep(LEASE * 2).await;
    let mended_at = Utc::now();
    proxy.mend();
    let ended = wait_terminal(&db, &run, Duration::from_secs(60)).await;
    engine.shutdown().await;

    assert_eq!(ended.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &ended);
    assert_eq!(
        ended.lifecycle.resumed_count, 0,
        "its own claims renewed, not taken over"
    );
    let mut sent_while_cut = Vec::new();
    for item in &all_items(&db, &run) {
        assert_eq!(item.attempts.len(), 1, "answered once: {item:?}");
        let attempt = &item.attempts[0];
        assert_eq!(attempt.outcome.as_deref(), Some("answered"), "{item:?}");
        // Sends stop at the first renewal that fails: a request sent after it (a quarter
        // lease, plus the pool's wait) could outlive its claim.
        let after_cut = cut_at + LEASE / 2;
        if attempt.started_at > after_cut && attempt.started_at < mended_at {
            sent_while_cut.push(format!("{} at {}", item.sequence, attempt.started_at));
        }
    }
    assert_eq!(sent_while_cut, Vec::<String>::new(), "sent while cut off");
}
