//! Test harness: datasets, runs, an engine with fast timings, and waiting for a run to end.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::Utc;
use evalboard_domain::{
    AnswerKey, DatasetItem, DatasetName, ItemState, Run, RunId, RunSettings, StateCounts,
    truncate_to_micros,
};
use evalboard_persistence::{DatasetImport, NewRun, testing::TestDatabase};
use evalboard_runner::{
    EngineConfig, EngineHandle, ProviderConfig, ProviderKind, ProviderRegistry,
    providers::{ClientSet, TimeoutConfig},
};

/// Declares each `async fn(TestDatabase)` as a test on SQLite and on PostgreSQL.
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(evalboard_persistence::testing::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = evalboard_persistence::testing::TestDatabase::postgres() {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use engine_tests;

pub(crate) fn now() -> evalboard_domain::Timestamp {
    truncate_to_micros(Utc::now())
}

/// `n` items in two categories; item `i` has the question text `question(i)` and answer B.
pub(crate) fn items(n: usize, question: impl Fn(usize) -> String) -> Vec<DatasetItem> {
    (0..n)
        .map(|i| DatasetItem {
            id: format!("q{i}"),
            category: if i % 2 == 0 { "math" } else { "law" }.to_owned(),
            question: question(i),
            choices: vec!["w".into(), "x".into(), "y".into(), "z".into()],
            answer: AnswerKey::from_letter("B").unwrap().into(),
            explanation: None,
            source: None,
        })
        .collect()
}

pub(crate) fn import(db: &TestDatabase, name: &str, items: &[DatasetItem]) {
    db.import_dataset(DatasetImport {
        name: &DatasetName::parse(name).unwrap(),
        items,
        at: now(),
    })
    .unwrap();
}

pub(crate) fn create_run(
    db: &TestDatabase,
    provider: &str,
    model: &str,
    dataset: &str,
    settings: RunSettings,
) -> RunId {
    db.create_run(NewRun {
        provider_name: provider,
        provider: None,
        model_name: model,
        dataset_name: dataset,
        dataset_version: None,
        settings: &settings,
        idempotency: None,
        requested_by: None,
        at: now(),
    })
    .unwrap()
    .run
    .id
}

pub(crate) fn provider(
    name: &str,
    kind: ProviderKind,
    base_url: Option<String>,
    key_env: Option<&str>,
) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        kind,
        base_url,
        api_key_env: key_env.map(Into::into),
        models: vec!["m".into()],
        prices: Default::default(),
        max_concurrency: Some(32),
        requests_per_minute: None,
        tokens_per_minute: None,
        max_attempts: Some(3),
        max_throttled_attempts: None,
        max_throttled_secs: None,
        // Small, so that a response past it is quick to send.
        max_response_mib: Some(1),
        timeouts: TimeoutConfig {
            connect_secs: 2,
            first_byte_secs: 1,
            idle_secs: 1,
            total_secs: 5,
        },
    }
}

pub(crate) fn registry(providers: Vec<ProviderConfig>) -> Arc<ProviderRegistry> {
    let configs: BTreeMap<String, ProviderConfig> = providers
        .into_iter()
        .map(|p| (p.name.to_lowercase(), p))
        .collect();
    Arc::new(
        ProviderRegistry::from_config(&configs, |var| std::env::var_os(var).is_some()).unwrap(),
    )
}

/// An engine tuned for tests: quick polls and retries.
pub(crate) fn start_engine(db: &TestDatabase, registry: Arc<ProviderRegistry>) -> EngineHandle {
    start_engine_with(db, registry, |_| {})
}

/// [`start_engine`] with the test's own changes to the configuration.
pub(crate) fn start_engine_with(
    db: &TestDatabase,
    registry: Arc<ProviderRegistry>,
    tune: impl FnOnce(&mut EngineConfig),
) -> EngineHandle {
    // The engine's warnings and errors in the test output (shown when a test fails).
    let _ = tracing_subscriber::fmt()
        .with_env_filter("evalboard_runner=warn")
        .with_test_writer()
        .try_init();
    let clients = ClientSet::from_registry(&registry);
    let mut config = EngineConfig::new("test-worker");
    config.poll_every = Duration::from_millis(20);
    config.retry_base_delay = Duration::from_millis(5);
    tune(&mut config);
    EngineHandle::start((**db).clone(), registry, clients, config)
}

/// Waits (checking every 20 ms, at most `limit`) until the run satisfies `done`.
pub(crate) async fn wait_for(
    db: &TestDatabase,
    run: &RunId,
    limit: Duration,
    done: impl Fn(&Run) -> bool,
) -> Run {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let current = db.get_run(run).unwrap();
        if done(&current) {
            return current;
        }
        if tokio::time::Instant::now() >= deadline {
            let page = db
                .run_items(
                    run,
                    &evalboard_persistence::ItemQuery {
                        states: vec![ItemState::Running],
                        ..evalboard_persistence::ItemQuery::first(100)
                    },
                )
                .unwrap();
            for item in &page.items {
                eprintln!(
                    "STUCK {} attempts={} {:?}",
                    item.sequence, item.attempt_count, item.attempts
                );
                for log in db
                    .query_logs(
                        run,
                        &evalboard_persistence::LogQuery {
                            sequence: Some(item.sequence),
                            ..Default::default()
                        },
                        100,
                    )
                    .unwrap()
                {
                    eprintln!("   LOG {}", log.message);
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run not done within {limit:?}: {:?} {:?}",
            current.status,
            current.counts
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn wait_terminal(db: &TestDatabase, run: &RunId, limit: Duration) -> Run {
    wait_for(db, run, limit, |r| r.status.is_terminal()).await
}

/// The run's counters equal a recount of its item rows.
pub(crate) fn assert_counters_match_rows(db: &TestDatabase, run: &Run) {
    let states = db.item_states(&run.id).unwrap();
    let recount = StateCounts::from_states(states.iter().map(|(_, s)| *s));
    assert_eq!(run.counts, recount, "counters and item rows disagree");
    let unparsed = db.unparsed_count(&run.id).unwrap();
    assert_eq!(
        run.unparsed, unparsed,
        "the unparsed count and item rows disagree"
    );
    let cut_off = db.cut_off_count(&run.id).unwrap();
    assert_eq!(
        run.cut_off, cut_off,
        "the cut-off count and item rows disagree"
    );
    let judge_fallbacks = db.judge_fallback_count(&run.id).unwrap();
    assert_eq!(
        run.judge_fallbacks, judge_fallbacks,
        "the judge fallback count and item rows disagree"
    );
}

pub(crate) fn count(db: &TestDatabase, run: &RunId, state: ItemState) -> usize {
    db.item_states(run)
        .unwrap()
        .iter()
        .filter(|(_, s)| *s == state)
        .count()
}
