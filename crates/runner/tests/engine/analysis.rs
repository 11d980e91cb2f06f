//! What analysis asks of the engine: spending recorded and capped by budgets, answers judged
//! again after a crash without being judged twice, and runs not resumed under a changed
//! configuration.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use evalboard_domain::{
    BUDGET_EXHAUSTED, Budget, ItemState, JudgeSettings, ModelPrice, RunSettings, RunStatus,
    extract_answer,
};
use evalboard_persistence::{
    ClaimRequest, Judgment, LogQuery, NewRun, Outcome, OutcomeKind, ProviderIdentity,
    RunGeneration, testing::TestDatabase,
};
use evalboard_runner::{ProviderKind, reproducibility::CONFIGURATION_CHANGED};

use crate::{
    stub_provider::{JUDGE_REPLY_TOKENS, all_items, llm_judged, start_stub},
    support::{
        assert_counters_match_rows, create_run, engine_tests, import, items, now, provider,
        registry, start_engine, start_engine_with, wait_for, wait_terminal,
    },
};

/// What the stub charges: $1000 and $2000 per million prompt and generated tokens, so each
/// answer (42 + 7 tokens) costs $0.056.
const ANSWER_COST: f64 = (42.0 * 1000.0 + 7.0 * 2000.0) / 1_000_000.0;

fn priced_stub(base_url: &str) -> evalboard_runner::ProviderConfig {
    let mut stub = provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(base_url.to_owned()),
        None,
    );
    stub.prices = BTreeMap::from([(
        "m".to_owned(),
        ModelPrice {
            input_per_mtok: 1000.0,
            output_per_mtok: 2000.0,
        },
    )]);
    stub
}

fn capped(budget: Budget) -> RunSettings {
    RunSettings {
        concurrency: Some(1),
        budget: Some(budget),
        ..Default::default()
    }
}

/// What one judge reply of the stub costs at the priced stub's prices ($0.12).
const JUDGE_REPLY_COST: f64 =
    (JUDGE_REPLY_TOKENS.0 as f64 * 1000.0 + JUDGE_REPLY_TOKENS.1 as f64 * 2000.0) / 1_000_000.0;

/// An LLM judge's requests are counted apart from the answers, with each verdict and in the
/// run's totals (a reply without a verdict too: it was paid for), and a budget caps the answers
/// and the judge together.
async fn an_llm_judges_spending_is_counted_and_capped(db: TestDatabase) {
    let stub = start_stub();
    import(
        &db,
        "D",
        &items(3, |i| {
            format!("Question {i}? [[{}]]", ["ok", "wrong", "judgeless"][i])
        }),
    );
    import(&db, "E", &items(10, |i| format!("Question {i}?")));
    let judged = create_run(&db, "Stub", "m", "D", llm_judged("Stub"));
    // 49 tokens an answer and 110 its verdict: the 2nd item takes the run to 318, past the cap
    // (the answers alone would reach it only at the 5th).
    let capped_run = create_run(
        &db,
        "Stub",
        "m",
        "E",
        RunSettings {
            judge: llm_judged("Stub").judge,
            ..capped(Budget {
                max_tokens: Some(200),
                max_cost_usd: None,
            })
        },
    );
    let mut judge = priced_stub(&stub.base_url);
    // The judgeless item's judge is asked twice.
    judge.max_attempts = Some(2);
    let engine = start_engine(&db, registry(vec![judge]));
    let judged = wait_terminal(&db, &judged, Duration::from_secs(20)).await;
    let capped_run = wait_terminal(&db, &capped_run, Duration::from_secs(20)).await;
    engine.shutdown().await;

    assert_eq!(judged.status, RunStatus::Completed);
    // The answers' figures are the model's alone.
    assert_eq!(
        (judged.usage.prompt_tokens, judged.usage.completion_tokens),
        (3 * 42, 3 * 7)
    );
    assert!((judged.usage.cost_usd.unwrap() - 3.0 * ANSWER_COST).abs() < 1e-9);
    let replies = 4; // one each, two for the judgeless item
    let judge_usage = judged.usage.judge;
    assert_eq!(
        (judge_usage.prompt_tokens, judge_usage.completion_tokens),
        (
            replies * JUDGE_REPLY_TOKENS.0,
            replies * JUDGE_REPLY_TOKENS.1
        )
    );
    let judge_cost = judge_usage.cost_usd.expect("the judge model has a price");
    assert!(
        (judge_cost - replies as f64 * JUDGE_REPLY_COST).abs() < 1e-9,
        "{judge_cost}"
    );
    let items = all_items(&db, &judged.id);
    let spent: Vec<(Option<u32>, Option<u32>)> = items
        .iter()
        .map(|item| {
            let spent = item.judgments[0].spent.expect("judged by the LLM judge");
            (spent.usage.prompt_tokens, spent.usage.completion_tokens)
        })
        .collect();
    assert_eq!(
        spent,
        [
            (Some(100), Some(10)),
            (Some(100), Some(10)),
            (Some(200), Some(20))
        ]
    );
    let cost = items[2].judgments[0].spent.unwrap().cost_usd.unwrap();
    assert!((cost - 2.0 * JUDGE_REPLY_COST).abs() < 1e-9, "{cost}");

    assert_eq!(capped_run.status, RunStatus::Canceled);
    assert_counters_match_rows(&db, &capped_run);
    assert_eq!(capped_run.counts.correct, 2);
    assert_eq!(sent_items(&db, &capped_run.id).len(), 2);
    let failure = capped_run.failure.expect("the reason is recorded");
    assert_eq!(
        failure.message,
        "the budget of 200 tokens is spent (318 used, the LLM judge's included)"
    );
    assert_eq!(
        capped_run.usage.tokens_spent(),
        2 * 49 + 2 * (JUDGE_REPLY_TOKENS.0 + JUDGE_REPLY_TOKENS.1)
    );
}

/// A judge reply without a verdict was paid for: when the server stops before the judge's next
/// try, what the reply used is stored with the run all the same (the answer waits for another
/// server's judge).
async fn a_judge_reply_paid_for_is_kept_when_the_server_stops(db: TestDatabase) {
    let stub = start_stub();
    import(
        &db,
        "D",
        &items(1, |i| format!("Question {i}? [[judge-then-500]]")),
    );
    let run_id = create_run(&db, "Stub", "m", "D", llm_judged("Stub"));
    let mut judge = priced_stub(&stub.base_url);
    judge.max_attempts = Some(3);
    // The judge's reply without a verdict, then its 500, then a long wait before its next try.
    let engine = start_engine_with(&db, registry(vec![judge]), |config| {
        config.retry_base_delay = Duration::from_secs(60);
    });
    // The answer is stored, its judge asked (at once, in the task that stored it).
    wait_for(&db, &run_id, Duration::from_secs(20), |run| {
        run.counts.awaiting == 1
    })
    .await;
    engine.shutdown().await;
    let run = db.get_run(&run_id).unwrap();
    assert_eq!(run.counts.awaiting, 1, "not judged: the server stopped");
    assert_eq!(
        (
            run.usage.judge.prompt_tokens,
            run.usage.judge.completion_tokens
        ),
        JUDGE_REPLY_TOKENS
    );
    let cost = run.usage.judge.cost_usd.expect("priced");
    assert!((cost - JUDGE_REPLY_COST).abs() < 1e-9, "{cost}");
}

/// One item at a time: the answer that reaches a cap is the last one sent; the rest are
/// canceled, and the run ends `canceled` saying which cap. Tokens and cost add up per answer.
async fn a_spent_budget_stops_sending_and_ends_the_run(db: TestDatabase) {
    let stub = start_stub();
    import(&db, "D", &items(10, |i| format!("Question {i}?")));
    // 49 tokens an answer: 3 answers leave the cap of 150 unreached, the 4th reaches it.
    let by_tokens = create_run(
        &db,
        "Stub",
        "m",
        "D",
        capped(Budget {
            max_tokens: Some(150),
            max_cost_usd: None,
        }),
    );
    // $0.056 an answer: the 2nd reaches $0.1.
    let by_cost = create_run(
        &db,
        "Stub",
        "m",
        "D",
        capped(Budget {
            max_cost_usd: Some(0.1),
            max_tokens: None,
        }),
    );
    let engine = start_engine(&db, registry(vec![priced_stub(&stub.base_url)]));
    let tokens_run = wait_terminal(&db, &by_tokens, Duration::from_secs(20)).await;
    let cost_run = wait_terminal(&db, &by_cost, Duration::from_secs(20)).await;
    engine.shutdown().await;

    for (run, answered, cap) in [
        (
            &tokens_run,
            4u64,
            "the budget of 150 tokens is spent (196 used)",
        ),
        (&cost_run, 2, "the budget of $0.1 is spent"),
    ] {
        assert_eq!(run.status, RunStatus::Canceled);
        assert_counters_match_rows(&db, run);
        assert_eq!(run.counts.correct, answered, "{cap}");
        assert_eq!(run.counts.canceled, 10 - answered);
        let failure = run.failure.as_ref().expect("the reason is recorded");
        assert_eq!(failure.kind, BUDGET_EXHAUSTED);
        assert!(failure.message.starts_with(cap), "{}", failure.message);
        assert_eq!(run.usage.prompt_tokens, 42 * answered);
        assert_eq!(run.usage.completion_tokens, 7 * answered);
        assert_eq!(run.usage.reasoning_tokens, 3 * answered);
        let cost = run.usage.cost_usd.unwrap();
        assert!(
            (cost - ANSWER_COST * answered as f64).abs() < 1e-9,
            "{cost}"
        );
        let items = all_items(&db, &run.id);
        assert_eq!(
            sent_items(&db, &run.id).len() as u64,
            answered,
            "nothing is sent after the cap"
        );
        for item in items.iter().filter(|i| i.state == ItemState::Correct) {
            assert_eq!(item.usage.reasoning_tokens, Some(3));
            assert!((item.cost_usd.unwrap() - ANSWER_COST).abs() < 1e-12);
            assert_eq!(item.attempts[0].cost_usd, item.cost_usd);
        }
        let logs = db.query_logs(&run.id, &LogQuery::default(), 1000).unwrap();
        assert!(
            logs.iter()
                .any(|l| l.message.starts_with(&format!("stopping: {cap}"))),
            "the log says why"
        );
        assert!(
            logs.iter()
                .any(|l| l.message.contains("-> canceled: stopped: ")),
            "and the status change does"
        );
        assert!(
            run.latency.total_p50_us.is_some(),
            "figures kept at the end"
        );
    }
}

/// Items in flight when the cap is reached are not aborted: they finish, are judged and paid
/// for; only the items not yet sent are canceled.
async fn items_in_flight_finish_when_the_budget_is_spent(db: TestDatabase) {
    let stub = start_stub();
    // The first answer spends the whole budget, and comes only once all four requests have
    // arrived (an event: the four are in flight however slowly the engine sent them); the
    // three others answer 400 ms later, long after it is counted.
    let directives = ["after4", "slow", "slow", "slow", "ok", "ok", "ok", "ok"];
    import(
        &db,
        "D",
        &items(8, |i| format!("Question {i}? [[{}]]", directives[i])),
    );
    let run_id = create_run(
        &db,
        "Stub",
        "m",
        "D",
        RunSettings {
            concurrency: Some(4),
            budget: Some(Budget {
                max_tokens: Some(49),
                max_cost_usd: None,
            }),
            ..Default::default()
        },
    );
    let engine = start_engine(&db, registry(vec![priced_stub(&stub.base_url)]));
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Canceled);
    assert_counters_match_rows(&db, &run);
    assert_eq!(run.counts.correct, 4, "the three slow answers finished");
    assert_eq!(run.counts.canceled, 4);
    assert_eq!(run.usage.total_tokens(), 4 * 49);
    let items = all_items(&db, &run_id);
    assert!(items[..4].iter().all(|i| i.state == ItemState::Correct));
    let sent = sent_items(&db, &run_id);
    assert!(
        items[4..].iter().all(|i| !sent.contains(&i.sequence)),
        "never sent: {sent:?}"
    );
}

/// The items of a run whose request went out, as its log says ("attempt N sent").
fn sent_items(db: &TestDatabase, run_id: &evalboard_domain::RunId) -> BTreeSet<u32> {
    db.query_logs(run_id, &LogQuery::default(), 1000)
        .unwrap()
        .into_iter()
        .filter(|entry| entry.message.starts_with("attempt ") && entry.message.ends_with(" sent"))
        .filter_map(|entry| entry.sequence)
        .collect()
}

/// A re-judging whose worker crashed half-way: the verdicts it stored stand, the answers it
/// held are taken over, and every answer gets exactly one verdict in the re-judging, without
/// asking the model again. A second re-judging needs no answering provider at all.
async fn a_rejudging_survives_a_crash_and_judges_each_answer_once(db: TestDatabase) {
    let stub = start_stub();
    let directives = ["ok", "wrong", "ok", "wrong", "ok", "ok"];
    import(
        &db,
        "D",
        &items(6, |i| format!("Question {i}? [[{}]]", directives[i])),
    );
    let run_id = create_run(&db, "Stub", "m", "D", RunSettings::default());
    let stub_registry = registry(vec![provider(
        "Stub",
        ProviderKind::OpenaiCompatible,
        Some(stub.base_url.clone()),
        None,
    )]);
    let engine = start_engine(&db, stub_registry.clone());
    let answered = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!((answered.counts.correct, answered.counts.incorrect), (4, 2));

    let llm = llm_judged("Stub").judge.unwrap();
    let run = db.start_rejudge(&run_id, &llm, None, now()).unwrap();
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!((run.counts.awaiting, run.rejudge_count), (6, 1));
    assert!(run.rejudging);
    assert_eq!(run.settings.judge.as_ref(), Some(&llm));
    assert_eq!(run.fingerprint, None, "made without one, still without one");
    let again = db.start_rejudge(&run_id, &llm, None, now()).unwrap_err();
    assert!(again.to_string().contains("only a finished run"), "{again}");
    // A worker that still works for the run as it was before takes nothing.
    let stale = db
        .claim_items(
            &run_id,
            ClaimRequest {
                worker: "stale",
                lease_until: now() + chrono::Duration::seconds(30),
                max: 6,
                at: now(),
                generation: Some(RunGeneration {
                    retries: 0,
                    rejudges: 0,
                }),
            },
        )
        .unwrap();
    assert!(stale.items.is_empty());
    assert_eq!(stale.run.status, RunStatus::Pending);

    // A worker claims three answers, stores two verdicts, and dies holding the third.
    let at = now();
    let claim = db
        .claim_items(
            &run_id,
            ClaimRequest {
                worker: "crashed",
                lease_until: at,
                max: 3,
                at,
                generation: None,
            },
        )
        .unwrap();
    assert_eq!(claim.items.len(), 3);
    assert!(claim.items.iter().all(|i| i.answer.is_some()));
    let verdicts: Vec<Outcome> = claim.items[..2]
        .iter()
        .map(|item| Outcome {
            run_id: run_id.clone(),
            sequence: item.sequence,
            attempt: item.attempt,
            started_at: at,
            kind: OutcomeKind::Judged(Judgment {
                verdict: evalboard_domain::Verdict::Correct,
                extraction: extract_answer(item.answer.as_deref().unwrap()).into(),
                judge: llm.label(),
                rationale: Some("judged before the crash".into()),
                at,
                spent: None,
            }),
        })
        .collect();
    let applied = db.apply_outcomes("crashed", &verdicts, at).unwrap();
    assert_eq!(applied.applied, [true, true]);

    let engine = start_engine(&db, stub_registry);
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_counters_match_rows(&db, &run);
    assert_eq!(run.lifecycle.resumed_count, 1, "the crashed worker's claim");
    assert_eq!(run.settings.judge_label(), "llm:Stub/m");
    let items = all_items(&db, &run_id);
    for item in &items {
        assert_eq!(item.attempt_count, 1, "the model was not asked again");
        let rounds: Vec<u32> = item.judgments.iter().map(|j| j.round).collect();
        assert_eq!(
            rounds,
            [0, 1],
            "item {}: one verdict per judging",
            item.sequence
        );
        assert_eq!(item.judgments[0].judge, "choice");
        assert_eq!(item.judgments[1].judge, "llm:Stub/m");
        let before_crash =
            item.judgments[1].rationale.as_deref() == Some("judged before the crash");
        let crashed = claim.items[..2].iter().any(|c| c.sequence == item.sequence);
        assert_eq!(before_crash, crashed, "item {}", item.sequence);
    }
    // The crashed worker called items 1 and 2 right (2 answered wrong); the stub's judge
    // agrees with the key on the others (4 of them, 1 wrong).
    assert_eq!((run.counts.correct, run.counts.incorrect), (5, 1));

    // Judged again by extraction, with no answering provider configured.
    db.start_rejudge(&run_id, &JudgeSettings::Choice, None, now())
        .unwrap();
    let engine = start_engine(&db, registry(vec![]));
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!((run.counts.correct, run.counts.incorrect), (4, 2));
    assert_eq!(run.rejudge_count, 2);
    for item in all_items(&db, &run_id) {
        let rounds: Vec<u32> = item.judgments.iter().map(|j| j.round).collect();
        assert_eq!(rounds, [0, 1, 2]);
        assert_eq!(item.judge.as_deref(), Some("choice"));
    }

    // A re-judging canceled before any judge took an answer ends at once, with no engine:
    // the run is back as it was, judged by extraction.
    db.start_rejudge(
        &run_id,
        &JudgeSettings::Llm {
            provider_name: "Stub".into(),
            model_name: "m".into(),
        },
        None,
        now(),
    )
    .unwrap();
    let canceled = db.request_cancel(&run_id, None, now()).unwrap();
    assert_eq!(canceled.status, RunStatus::Completed);
    assert_eq!((canceled.counts.correct, canceled.counts.incorrect), (4, 2));
    assert_eq!((canceled.rejudge_count, canceled.judging_round), (3, 2));
    assert_eq!(canceled.settings.judge, Some(JudgeSettings::Choice));
    assert_counters_match_rows(&db, &canceled);
}

/// A run made with a provider at one address is not resumed when the provider is now
/// configured at another: it fails before anything is sent, naming the change.
async fn a_run_is_not_resumed_under_a_changed_configuration(db: TestDatabase) {
    let stub = start_stub();
    import(&db, "D", &items(3, |i| format!("Question {i}?")));
    let settings = RunSettings::default();
    let run_id = db
        .create_run(NewRun {
            provider_name: "Stub",
            provider: Some(ProviderIdentity {
                kind: "openai-compatible",
                base_url: Some("https://key:secret@old.example/v1?token=x"),
            }),
            model_name: "m",
            dataset_name: "D",
            dataset_version: None,
            settings: &settings,
            idempotency: None,
            requested_by: None,
            at: now(),
        })
        .unwrap()
        .run
        .id;
    let recorded = db.get_run(&run_id).unwrap().fingerprint.unwrap();
    assert_eq!(
        recorded.provider_base_url.as_deref(),
        Some("https://old.example/v1"),
        "no credentials in the fingerprint"
    );
    let engine = start_engine(
        &db,
        registry(vec![provider(
            "Stub",
            ProviderKind::OpenaiCompatible,
            Some(stub.base_url.clone()),
            None,
        )]),
    );
    let run = wait_terminal(&db, &run_id, Duration::from_secs(20)).await;
    engine.shutdown().await;
    assert_eq!(run.status, RunStatus::Failed);
    let failure = run.failure.unwrap();
    assert_eq!(failure.kind, CONFIGURATION_CHANGED);
    assert!(
        failure.message.contains(&format!(
            "providerBaseUrl (was \"https://old.example/v1\", now \"{}\")",
            stub.base_url
        )),
        "{}",
        failure.message
    );
    assert!(
        all_items(&db, &run_id)
            .iter()
            .all(|i| i.prompt_text.is_none()),
        "nothing was sent"
    );
}

engine_tests!(
    a_spent_budget_stops_sending_and_ends_the_run,
    an_llm_judges_spending_is_counted_and_capped,
    a_judge_reply_paid_for_is_kept_when_the_server_stops,
    items_in_flight_finish_when_the_budget_is_spent,
    a_rejudging_survives_a_crash_and_judges_each_answer_once,
    a_run_is_not_resumed_under_a_changed_configuration,
);
