//! The Simulated provider through the whole engine: faults retried, answers judged, cancel,
//! retry, and a run this server cannot work on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use evalboard_domain::{
    ExtractionTier, GenerationSettings, ItemState, JudgeSettings, RunSettings, RunStatus,
    SimulatedSettings, judge_by_rules,
};
use evalboard_persistence::{Backend, ItemQuery, LogLevel, RetryScope, testing::TestDatabase};
use evalboard_runner::{
    ProviderKind, ProviderRegistry,
    providers::{CompletionRequest, client_for},
};

use crate::support::{
    assert_counters_match_rows, count, create_run, engine_tests, import, items, now, provider,
    registry, start_engine, start_engine_with, wait_for, wait_terminal,
};

fn all_items(
    db: &TestDatabase,
    run: &evalboard_domain::RunId,
) -> Vec<evalboard_persistence::ItemDetail> {
    db.run_items(run, &ItemQuery::first(10_000)).unwrap().items
}

fn simulated(settings: SimulatedSettings, max_attempts: u32, concurrency: u32) -> RunSettings {
    RunSettings {
        concurrency: Some(concurrency),
        max_attempts: Some(max_attempts),
        simulated: Some(settings),
        ..Default::default()
    }
}

async fn a_run_with_faults_completes_with_every_item_judged_once(db: TestDatabase) {
    import(&db, "D", &items(80, |i| format!("Question {i}?")));
    let settings = simulated(
        SimulatedSettings {
            accuracy: Some(0.7),
            fault_rate: Some(0.3),
            unparsed_rate: Some(0.1),
            seed: Some(7),
            latency_ms: None,
        },
        3,
        16,
    );
    let run_id = create_run(&db, "Simulated", "m", "D", settings);
    let engine = start_engine(&db, simulated_registry());
    let run = wait_terminal(&db, &run_id, Duration::from_secs(30)).await;
    engine.shutdown().await;

    assert_eq!(
        run.status,
        RunStatus::Completed,
        "faulted items do not fail the run"
    );
    assert_counters_match_rows(&db, &run);
    let p = run.counts.progress();
    assert_eq!(p.total, 80);
    assert_eq!(p.completed, 80);
    assert!(
        p.faulted > 0,
        "with a 30% fault rate and 3 attempts some items fail: {p:?}"
    );

    // Exactly what the simulated model does for each item, asked directly.
    let registry = simulated_registry();
    let client = client_for(registry.get("Simulated").unwrap(), None);
    let dataset = items(80, |i| format!("Question {i}?"));
    let generation = GenerationSettings::default();
    let simulated_settings = run.settings.simulated.clone().unwrap();

    let items = all_items(&db, &run_id);
    for item in &items {
        let source = &dataset[item.sequence as usize - 1];
        let mut expected = (ItemState::Failed, 3);
        for attempt in 1..=3 {
            let request = CompletionRequest {
                model: "m",
                prompt: "",
                generation: &generation,
                attempt,
                item_key: &source.id,
                expected: (&source.answer, source.choices.len()),
                simulated: Some(&simulated_settings),
                judging: None,
            };
            if let Ok(answer) = client.complete(request, &mut |_| {}).await {
                let verdict = judge_by_rules(&source.answer, &answer.text).1;
                expected = (verdict.state(), attempt);
                break;
            }
        }
        assert_eq!(
            (item.state, item.attempt_count),
            expected,
            "item {}",
            item.sequence
        );
        match item.state {
            ItemState::Correct | ItemState::Incorrect => {
                assert_eq!(
                    item.judgments.len(),
                    1,
                    "item {} judged once",
                    item.sequence
                );
                let judgment = &item.judgments[0];
                assert_eq!(judgment.verdict, item.state);
                assert_eq!(judgment.attempt, item.attempt_count);
                let right = judgment.extracted_answer == Some(item.expected_answer.text());
                assert_eq!(
                    right,
                    item.state == ItemState::Correct,
                    "item {}",
                    item.sequence
                );
                assert!(
                    item.prompt_text
                        .as_deref()
                        .unwrap()
                        .contains(&item.question)
                );
                assert!(item.response_text.is_some() && item.answered_at.is_some());
                assert_eq!(
                    item.attempts.last().unwrap().outcome.as_deref(),
                    Some("answered")
                );
            }
            ItemState::Failed => {
                assert_eq!(item.error.as_ref().unwrap().0, "server_error");
                assert_eq!(item.attempt_count, 3, "failed after every attempt");
                assert!(item.judgments.is_empty());
            }
            other => panic!("item {} ended {other}", item.sequence),
        }
        // Every attempt is kept, earlier ones as errors.
        assert_eq!(item.attempts.len() as u32, item.attempt_count);
        for earlier in &item.attempts[..item.attempts.len() - 1] {
            assert_eq!(earlier.outcome.as_deref(), Some("error"));
        }
    }
    let unparsed = items
        .iter()
        .filter(|i| i.extraction_tier == Some(ExtractionTier::Unparsed))
        .count() as u64;
    assert!(unparsed > 0);
    assert_eq!(db.unparsed_count(&run_id).unwrap(), unparsed);
    let logs = db.run_logs(&run_id, None, 10_000).unwrap();
    assert!(
        logs.iter()
            .any(|l| l.message.contains("attempt 1 failed (server_error)"))
    );
    assert!(
        logs.iter()
            .any(|l| l.message.contains("status running -> completed"))
    );
}

async fn cancel_stops_in_flight_items_within_a_second(db: TestDatabase) {
    import(&db, "D", &items(40, |i| format!("Question {i}?")));
    let settings = simulated(
        SimulatedSettings {
            latency_ms: Some(20_000),
            ..Default::default()
        },
        3,
        4,
    );
    let run_id = create_run(&db, "Simulated", "m", "D", settings);
    let engine = start_engine(&db, simulated_registry());
    wait_for(&db, &run_id, Duration::from_secs(10), |r| {
        r.counts.running >= 4
    })
    .await;

    let asked = Instant::now();
    let requested = db.request_cancel(&run_id, None, now()).unwrap();
    assert!(
        requested.lifecycle.cancel_requested_at.is_some(),
        "set at once"
    );
    assert_eq!(
        requested.status,
        RunStatus::Running,
        "in-flight items still have to stop"
    );
    engine.signal().wake();
    let run = wait_terminal(&db, &run_id, Duration::from_secs(5)).await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "took {:?}",
        asked.elapsed()
    );
    engine.shutdown().await;

    assert_eq!(run.status, RunStatus::Canceled);
    assert_eq!(run.counts.canceled, 40);
    assert_counters_match_rows(&db, &run);
    let items = all_items(&db, &run_id);
    let aborted: Vec<_> = items.iter().filter(|i| !i.attempts.is_empty()).collect();
    // The four sent and those claimed ahead to follow them: every one ends canceled.
    assert!(aborted.len() >= 4, "{}", aborted.len());
    for item in aborted {
        assert_eq!(item.attempts[0].outcome.as_deref(), Some("canceled"));
    }
    assert!(
        db.request_cancel(&run_id, None, now()).is_err(),
        "a terminal run cannot be canceled"
    );
}

async fn retry_redispatches_faulted_items_and_keeps_earlier_attempts(db: TestDatabase) {
    import(&db, "D", &items(40, |i| format!("Question {i}?")));
    // One attempt each: a fault fails the item at once. Faults are drawn per attempt, so the
    // retry (attempt 2) of most faulted items succeeds.
    let settings = simulated(
        SimulatedSettings {
            fault_rate: Some(0.5),
            seed: Some(3),
            ..Default::default()
        },
        1,
        8,
    );
    let run_id = create_run(&db, "Simulated", "m", "D", settings);
    let engine = start_engine(&db, simulated_registry());
    let first = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    let failed_before = first.counts.failed;
    assert!(failed_before > 5, "{:?}", first.counts);

    let retried = db
        .retry_run(&run_id, RetryScope::Faulted, None, None, now())
        .unwrap();
    assert_eq!(retried.status, RunStatus::Pending);
    assert_eq!(retried.counts.pending, failed_before);
    assert_eq!(retried.retry_count, 1);
    engine.signal().wake();
    let second = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;

    assert_eq!(second.status, RunStatus::Completed);
    assert!(second.counts.failed < failed_before, "{:?}", second.counts);
    assert_counters_match_rows(&db, &second);
    let items = all_items(&db, &run_id);
    let retried_items: Vec<_> = items.iter().filter(|i| i.attempt_count == 2).collect();
    assert_eq!(retried_items.len() as u64, failed_before);
    for item in retried_items {
        assert_eq!(
            item.attempts[0].outcome.as_deref(),
            Some("error"),
            "the first attempt stays readable"
        );
    }
    assert!(
        db.retry_run(&run_id, RetryScope::Faulted, None, None, now())
            .is_ok()
            || second.counts.failed == 0
    );
}

/// `maxAttempts` is a budget per dispatch: a retried item gets all of it again.
async fn a_retry_gets_a_fresh_attempt_budget(db: TestDatabase) {
    import(&db, "D", &items(5, |i| format!("Question {i}?")));
    let settings = simulated(
        SimulatedSettings {
            fault_rate: Some(1.0),
            ..Default::default()
        },
        2,
        5,
    );
    let run_id = create_run(&db, "Simulated", "m", "D", settings);
    let engine = start_engine(&db, simulated_registry());
    let first = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    assert_eq!(first.counts.failed, 5);
    db.retry_run(&run_id, RetryScope::Faulted, None, None, now())
        .unwrap();
    engine.signal().wake();
    let second = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(second.counts.failed, 5);
    for item in all_items(&db, &run_id) {
        assert_eq!(
            item.attempt_count, 4,
            "two attempts per dispatch: item {}",
            item.sequence
        );
        let outcomes: Vec<_> = item.attempts.iter().map(|a| a.outcome.as_deref()).collect();
        assert_eq!(outcomes, [Some("error"); 4]);
    }
    let logs = db.run_logs(&run_id, None, 1000).unwrap();
    assert_eq!(
        logs.iter().filter(|l| l.message.ends_with("sent")).count(),
        20
    );
}

async fn a_run_of_a_provider_not_configured_here_fails_alone_or_waits_for_a_replica(
    db: TestDatabase,
) {
    import(&db, "D", &items(10, |i| format!("Question {i}?")));
    let run_id = create_run(&db, "Elsewhere", "m", "D", RunSettings::default());
    // This server has another provider only (a replica set up for other runs, say).
    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Simulated",
            ProviderKind::Simulated,
            None,
            None,
        )]),
    );
    if db.backend() == Backend::Sqlite {
        // No replica can come: the run fails with the reason.
        let run = wait_terminal(&db, &run_id, Duration::from_secs(10)).await;
        engine.shutdown().await;
        assert_eq!(run.status, RunStatus::Failed);
        let failure = run.failure.clone().unwrap();
        assert_eq!(failure.kind, "provider_not_configured");
        assert_eq!(count(&db, &run_id, ItemState::Failed), 10);
        assert_counters_match_rows(&db, &run);
        return;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let note = loop {
        let logs = db.run_logs(&run_id, None, 100).unwrap();
        if let Some(entry) = logs
            .into_iter()
            .find(|l| l.message.contains("leaves this run"))
        {
            break entry;
        }
        assert!(tokio::time::Instant::now() < deadline, "never said");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    engine.shutdown().await;
    assert_eq!(note.level, LogLevel::Warn);
    assert!(
        note.message
            .contains("provider `Elsewhere` is not configured on this server"),
        "{}",
        note.message
    );
    let run = db.get_run(&run_id).unwrap();
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.failure, None);
    assert_eq!(count(&db, &run_id, ItemState::Pending), 10);
}

/// Outcomes that arrive within the commit window are stored in one transaction (their rows
/// share its time); without a window, answers 40 ms apart are stored apart.
async fn outcomes_within_the_commit_window_are_stored_together(db: TestDatabase) {
    import(&db, "D", &items(12, |i| format!("Question {i}?")));
    let settings = || {
        simulated(
            SimulatedSettings {
                latency_ms: Some(40),
                ..Default::default()
            },
            1,
            1,
        )
    };
    let mut distinct_finish_times = Vec::new();
    for window in [Duration::from_secs(2), Duration::ZERO] {
        let run_id = create_run(&db, "Simulated", "m", "D", settings());
        let engine = start_engine_with(&db, simulated_registry(), |config| {
            config.commit_window = window;
        });
        let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
        engine.shutdown().await;
        assert_eq!(run.status, RunStatus::Completed);
        assert_counters_match_rows(&db, &run);
        let finished: std::collections::BTreeSet<_> = all_items(&db, &run_id)
            .iter()
            .map(|item| item.finished_at.expect("every item finished"))
            .collect();
        distinct_finish_times.push(finished.len());
    }
    // 12 answers 40 ms apart: within one 2-second window, or (the first's window opening as
    // the run's first item is sent) at most two; one by one without a window.
    assert!(distinct_finish_times[0] <= 2, "{distinct_finish_times:?}");
    assert!(distinct_finish_times[1] >= 6, "{distinct_finish_times:?}");
}

/// The Simulated provider can be a run's LLM judge (so that one can be tried offline): it
/// grades each answer as the extraction rules do, and its verdicts carry its name and rationale.
async fn the_simulated_provider_judges_by_the_rules(db: TestDatabase) {
    import(&db, "D", &items(30, |i| format!("Question {i}?")));
    let mut settings = simulated(
        SimulatedSettings {
            accuracy: Some(0.5),
            unparsed_rate: Some(0.2),
            seed: Some(3),
            ..Default::default()
        },
        1,
        8,
    );
    settings.judge = Some(JudgeSettings::Llm {
        provider_name: "Simulated".into(),
        model_name: "m".into(),
    });
    let run_id = create_run(&db, "Simulated", "m", "D", settings);
    let engine = start_engine(&db, simulated_registry());
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &run);
    let dataset = items(30, |i| format!("Question {i}?"));
    let mut verdicts = std::collections::BTreeSet::new();
    for item in &all_items(&db, &run_id) {
        let judgment = &item.judgments[0];
        assert_eq!(judgment.judge, "llm:Simulated/m");
        let source = &dataset[item.sequence as usize - 1];
        let by_rules = judge_by_rules(&source.answer, item.response_text.as_deref().unwrap()).1;
        assert_eq!(item.state, by_rules.state(), "{:?}", item.judge_rationale);
        assert!(
            item.judge_rationale
                .as_deref()
                .is_some_and(|r| r.starts_with("The response's final answer is")),
            "{:?}",
            item.judge_rationale
        );
        verdicts.insert(item.state);
    }
    assert_eq!(verdicts.len(), 2, "both verdicts given: {verdicts:?}");
}

/// The Simulated provider's answers follow the run's behaviour: a cached answer of a run that
/// chose another one is not served (it would give a run asked to be always wrong the answers
/// of one that was always right).
async fn a_simulated_answer_is_cached_only_for_the_same_behaviour(db: TestDatabase) {
    import(&db, "D", &items(6, |i| format!("Question {i}?")));
    let cached = |accuracy| {
        let mut settings = simulated(
            SimulatedSettings {
                accuracy: Some(accuracy),
                ..Default::default()
            },
            1,
            4,
        );
        settings.cache = Some(true);
        settings
    };
    let engine = start_engine(&db, simulated_registry());
    let mut runs = Vec::new();
    for accuracy in [1.0, 0.0, 0.0] {
        let run_id = create_run(&db, "Simulated", "m", "D", cached(accuracy));
        runs.push(wait_terminal(&db, &run_id, Duration::from_secs(20)).await);
    }
    engine.shutdown().await;
    let correct: Vec<u64> = runs.iter().map(|run| run.counts.correct).collect();
    assert_eq!(correct, [6, 0, 0]);
    let cached_answers: Vec<u64> = runs.iter().map(|run| run.usage.cached_answers).collect();
    assert_eq!(
        cached_answers,
        [0, 0, 6],
        "only the run of the same behaviour is served"
    );
}

engine_tests!(
    a_simulated_answer_is_cached_only_for_the_same_behaviour,
    the_simulated_provider_judges_by_the_rules,
    outcomes_within_the_commit_window_are_stored_together,
    a_run_with_faults_completes_with_every_item_judged_once,
    cancel_stops_in_flight_items_within_a_second,
    retry_redispatches_faulted_items_and_keeps_earlier_attempts,
    a_run_of_a_provider_not_configured_here_fails_alone_or_waits_for_a_replica,
    a_retry_gets_a_fresh_attempt_budget,
);

/// A registry holding only the offline Simulated provider, named "Simulated".
fn simulated_registry() -> Arc<ProviderRegistry> {
    registry(vec![provider(
        "Simulated",
        ProviderKind::Simulated,
        None,
        None,
    )])
}
