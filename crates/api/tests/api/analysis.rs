//! Analysis over HTTP: what a run spent and how fast it was answered, its fingerprint (and the
//! refusal to continue under another configuration), budgets, and re-judging.

use evalboard_domain::{RunSettings, nearest_rank};
use evalboard_persistence::{NewRun, ProviderIdentity, testing::TestDatabase};
use serde_json::{Value, json};

use crate::support::{
    TestApp, api_tests, app, app_bounds, app_with_engine, import, items, json_post, now,
};

/// Creates a Simulated run and waits until it ends; its detail.
async fn ended_run(app: &TestApp<app_bounds!()>, model: &str, settings: Value) -> Value {
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": model, "settings": settings}),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    app.wait_until(&format!("/runs/{id}"), |r| {
        ["completed", "canceled", "failed"].contains(&r["run"]["status"].as_str().unwrap())
    })
    .await
}

async fn all_items(app: &TestApp<app_bounds!()>, run: &str) -> Vec<Value> {
    let page = app
        .get(&format!("/runs/{run}/items?groupBy=none&limit=200"))
        .await
        .ok(200);
    page["items"].as_array().unwrap().clone()
}

fn id(run: &Value) -> &str {
    run["run"]["id"].as_str().unwrap()
}

async fn log_messages(app: &TestApp<app_bounds!()>, run: &str) -> Vec<String> {
    let logs = app
        .get(&format!("/runs/{run}/logs?limit=500"))
        .await
        .ok(200);
    logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect()
}

/// Tokens and cost add up over the items, latency percentiles match the items' timings, and
/// the fingerprint names what the run ran with; the archive shows the same.
async fn a_run_shows_its_spending_latency_and_fingerprint(db: TestDatabase) {
    import(&db, "Demo", &items(30));
    let app = app_with_engine(db).await;
    let settings =
        json!({"generation": {"temperature": 0.0}, "simulated": {"latencyMs": 3, "seed": 3}});
    // sim-2 has a price ($1 and $2 per million tokens), sim-1 none.
    let priced = ended_run(&app, "sim-2", settings.clone()).await;
    let unpriced = ended_run(&app, "sim-1", settings).await;
    let items = all_items(&app, id(&priced)).await;
    let sum = |field: &str| -> u64 {
        items
            .iter()
            .map(|i| i["usage"][field].as_u64().unwrap())
            .sum()
    };
    let usage = &priced["usage"];
    assert_eq!(usage["promptTokens"], sum("promptTokens"));
    assert_eq!(usage["completionTokens"], sum("completionTokens"));
    assert_eq!(
        usage["totalTokens"],
        sum("promptTokens") + sum("completionTokens")
    );
    let cost = usage["costUsd"].as_f64().unwrap();
    let expected = (sum("promptTokens") as f64 + 2.0 * sum("completionTokens") as f64) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    let item_costs: f64 = items
        .iter()
        .map(|i| i["usage"]["costUsd"].as_f64().unwrap())
        .sum();
    assert!((cost - item_costs).abs() < 1e-12);
    assert_eq!(
        unpriced["usage"]["costUsd"],
        Value::Null,
        "no price, no cost"
    );
    assert!(unpriced["usage"]["promptTokens"].as_u64().unwrap() > 0);

    // Percentiles by nearest rank: the items' whole milliseconds, ranked, give the same figure.
    let mut totals: Vec<i64> = items
        .iter()
        .map(|i| i["timings"]["latencyMs"].as_i64().unwrap())
        .collect();
    totals.sort_unstable();
    for (percent, field) in [(50, "totalP50Ms"), (95, "totalP95Ms")] {
        let figure = priced["latency"][field].as_f64().unwrap();
        assert_eq!(
            figure.floor() as i64,
            nearest_rank(&totals, percent).unwrap(),
            "{field}"
        );
        assert!(figure >= 3.0, "the simulated latency: {figure}");
    }
    assert!(
        priced["latency"]["timeToFirstTokenP50Ms"]
            .as_f64()
            .is_some()
    );

    let fingerprint = &priced["fingerprint"];
    let digest = fingerprint["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71);
    let inputs = &fingerprint["inputs"];
    assert_eq!(inputs["model"], "sim-2");
    assert_eq!(inputs["providerKind"], "simulated");
    assert_eq!(inputs["providerBaseUrl"], Value::Null);
    assert_eq!(inputs["promptTemplate"], "mmlu-pro-cot-v2");
    assert_eq!(inputs["generation"]["temperature"], 0.0);
    assert_eq!(inputs["simulated"]["seed"], 3);
    assert_eq!(inputs["judge"]["kind"], "choice");
    assert_eq!(inputs["datasetDigest"], priced["dataset"]["digest"]);
    assert!(!inputs["evalboardVersion"].as_str().unwrap().is_empty());
    assert_ne!(unpriced["fingerprint"]["digest"], fingerprint["digest"]);
    assert_eq!(
        (&priced["judge"], &priced["rejudgeCount"]),
        (&json!("choice"), &json!(0))
    );

    let list = app.get("/runs").await.ok(200);
    let listed = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"]["id"] == priced["run"]["id"])
        .unwrap();
    assert_eq!(listed["usage"], priced["usage"]);
    assert_eq!(listed["latency"], priced["latency"]);
    assert_eq!(listed["fingerprint"], priced["fingerprint"]);
    app.stop().await;
}

/// A budget too small for the run ends it `canceled`, saying so; bad budgets are refused.
async fn a_budget_ends_a_run_with_its_reason(db: TestDatabase) {
    import(&db, "Demo", &items(30));
    let app = app_with_engine(db).await;
    for (budget, field) in [
        (json!({"maxCostUsd": 0}), "settings.budget.maxCostUsd"),
        (json!({"maxTokens": 0}), "settings.budget.maxTokens"),
        // Past the API's 64-bit signed integers (and PostgreSQL's).
        (
            json!({"maxTokens": 9_223_372_036_854_775_808_u64}),
            "settings.budget.maxTokens",
        ),
    ] {
        let refused = app
            .post_json(
                "/runs",
                &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-2", "settings": {"budget": budget}}),
            )
            .await
            .problem(422);
        assert_eq!(refused["errors"][0]["field"], field);
    }
    app.post_json(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-2", "settings": {"budget": []}}),
    )
    .await
    .problem(400);
    // A cost budget on a model without a price would never stop the run: refused, unless its
    // LLM judge has one.
    let unpriced = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                    "settings": {"budget": {"maxCostUsd": 0.01}}}),
        )
        .await
        .problem(422);
    assert_eq!(unpriced["errors"][0]["field"], "settings.budget.maxCostUsd");
    assert!(
        unpriced["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("`sim-1` has no price on provider `Simulated`"),
        "{unpriced}"
    );
    let judged_by_priced = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                    "settings": {"budget": {"maxCostUsd": 0.01},
                                 "judge": {"kind": "llm", "providerName": "Simulated", "modelName": "sim-2"}}}),
        )
        .await
        .ok(201);
    app.call(json_post(&format!(
        "/runs/{}/cancel",
        judged_by_priced["run"]["id"].as_str().unwrap()
    )))
    .await
    .ok(202);

    let run = ended_run(
        &app,
        "sim-2",
        json!({"concurrency": 1, "budget": {"maxTokens": 500}}),
    )
    .await;
    assert_eq!(run["run"]["status"], "canceled");
    assert_eq!(run["failure"]["kind"], "budget_exhausted");
    assert!(
        run["failure"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the budget of 500 tokens is spent"),
        "{run}"
    );
    assert_eq!(run["settings"]["budget"], json!({"maxTokens": 500}));
    let spent = run["usage"]["totalTokens"].as_u64().unwrap();
    assert!(spent >= 500, "{spent}");
    let answered = run["progress"]["correct"].as_u64().unwrap()
        + run["progress"]["incorrect"].as_u64().unwrap();
    assert!(answered > 0 && answered < 30, "{answered}");
    assert_eq!(run["progress"]["faulted"], 30 - answered);
    let logs = log_messages(&app, id(&run)).await;
    assert!(
        logs.iter()
            .any(|m| m.starts_with("stopping: the budget of 500 tokens")),
        "{logs:?}"
    );
    // A retry could send nothing: refused, saying why, and nothing changes.
    let refused = app
        .call(json_post(&format!("/runs/{}/retry", id(&run))))
        .await
        .problem(409);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("the budget of 500 tokens is spent"),
        "{refused}"
    );
    let after = app.get(&format!("/runs/{}", id(&run))).await.ok(200);
    assert_eq!(
        (&after["run"]["status"], &after["retryCount"]),
        (&json!("canceled"), &json!(0))
    );
    app.stop().await;
}

/// A finished run is judged again: its verdicts gain a round, the run shows the judge and the
/// count, the log says who asked what; what cannot be re-judged is refused, changing nothing.
async fn a_finished_run_is_judged_again_keeping_its_history(db: TestDatabase) {
    import(&db, "Demo", &items(12));
    let app = app_with_engine(db).await;
    let run = ended_run(&app, "sim-1", json!({"simulated": {"unparsedRate": 0.3}})).await;
    let run_id = id(&run).to_owned();
    let judged = run["progress"]["correct"].as_u64().unwrap()
        + run["progress"]["incorrect"].as_u64().unwrap();
    assert_eq!(judged, 12);

    // Items by sequence (what the dashboard opens from a link).
    let two = app
        .get(&format!("/runs/{run_id}/items?sequence=5,2&groupBy=none"))
        .await
        .ok(200);
    let sequences: Vec<u64> = two["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [2, 5]);
    for bad in ["0", "x", "1,,2"] {
        let problem = app
            .get(&format!("/runs/{run_id}/items?sequence={bad}"))
            .await
            .problem(400);
        assert_eq!(problem["errors"][0]["field"], "sequence", "{bad}");
    }

    let uri = format!("/runs/{run_id}/rejudge");
    app.post_json(&uri, &json!({})).await.problem(400);
    app.post_json(&uri, &json!({"judge": {"kind": "nope"}}))
        .await
        .problem(400);
    let unknown = app
        .post_json(
            &uri,
            &json!({"judge": {"kind": "llm", "providerName": "Nope", "modelName": "m"}}),
        )
        .await
        .problem(422);
    assert_eq!(unknown["errors"][0]["field"], "judge.providerName");
    let keyless = app
        .post_json(
            &uri,
            &json!({"judge": {"kind": "llm", "providerName": "OpenAI", "modelName": "gpt-4.1"}}),
        )
        .await
        .problem(422);
    assert!(
        keyless["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("EVALBOARD_TEST_UNSET_KEY")
    );
    app.post_json(
        "/runs/run-00000000000000000000000000000000/rejudge",
        &json!({"judge": {"kind": "choice"}}),
    )
    .await
    .problem(404);
    let unchanged = app.get(&format!("/runs/{run_id}")).await.ok(200);
    assert_eq!(unchanged["rejudgeCount"], 0);
    assert_eq!(unchanged["run"]["status"], "completed");

    let started = app
        .post_json(&uri, &json!({"judge": {"kind": "choice"}}))
        .await
        .ok(202);
    assert_eq!(started["run"]["status"], "pending");
    assert_eq!(started["rejudgeCount"], 1);
    assert_eq!(started["judge"], "choice");
    assert!(run["unparsed"].as_u64() > Some(0));
    assert_eq!(started["unparsed"], 0, "every verdict is open again");
    let done = app
        .wait_until(&format!("/runs/{run_id}"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert_eq!(done["progress"], run["progress"], "the same judge agrees");
    assert_eq!(done["unparsed"], run["unparsed"]);
    assert_eq!(done["usage"], run["usage"], "the model was not asked again");
    for item in all_items(&app, &run_id).await {
        let rounds: Vec<u64> = item["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["round"].as_u64().unwrap())
            .collect();
        assert_eq!(rounds, [0, 1], "{item}");
        assert_eq!(item["verdicts"][1]["verdict"], item["verdict"]);
        assert_eq!(item["attemptCount"], 1);
    }
    let logs = log_messages(&app, &run_id).await;
    assert!(
        logs.iter().any(|m| m
            == "re-judging 1 requested: 12 answer(s) to be judged by choice (until now: choice)"),
        "{logs:?}"
    );

    // Still running: refused. Canceled before any answer: nothing to judge.
    let slow = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                    "settings": {"concurrency": 1, "simulated": {"latencyMs": 600000}}}),
        )
        .await
        .ok(201);
    let slow_id = id(&slow).to_owned();
    let busy = app
        .post_json(
            &format!("/runs/{slow_id}/rejudge"),
            &json!({"judge": {"kind": "choice"}}),
        )
        .await
        .problem(409);
    assert!(
        busy["detail"]
            .as_str()
            .unwrap()
            .contains("only a finished run")
    );
    app.post_json(&format!("/runs/{slow_id}/cancel"), &json!({}))
        .await
        .ok(202);
    app.wait_until(&format!("/runs/{slow_id}"), |r| {
        r["run"]["status"] == "canceled"
    })
    .await;
    let nothing = app
        .post_json(
            &format!("/runs/{slow_id}/rejudge"),
            &json!({"judge": {"kind": "choice"}}),
        )
        .await
        .problem(409);
    assert!(
        nothing["detail"]
            .as_str()
            .unwrap()
            .contains("no judged answer")
    );
    app.stop().await;
}

/// A run recorded with its provider at another address is not resumed by the engine, and a
/// retry names the change; with `force` it goes on, recording the configuration anew.
/// A run of the `Demo` dataset stored as it is, whatever the server's configuration says.
fn demo_run<'a>(
    provider_name: &'a str,
    provider: Option<ProviderIdentity<'a>>,
    model_name: &'a str,
    settings: &'a RunSettings,
) -> NewRun<'a> {
    NewRun {
        provider_name,
        provider,
        model_name,
        dataset_name: "Demo",
        dataset_version: None,
        settings,
        idempotency: None,
        requested_by: None,
        at: now(),
    }
}

async fn a_changed_configuration_needs_a_forced_retry(db: TestDatabase) {
    import(&db, "Demo", &items(6));
    let settings = RunSettings::default();
    let elsewhere = ProviderIdentity {
        kind: "simulated",
        base_url: Some("http://elsewhere.example"),
    };
    let run_id = db
        .create_run(demo_run("Simulated", Some(elsewhere), "sim-1", &settings))
        .unwrap()
        .run
        .id
        .to_string();
    let app = app_with_engine(db).await;
    let failed = app
        .wait_until(&format!("/runs/{run_id}"), |r| {
            r["run"]["status"] == "failed"
        })
        .await;
    assert_eq!(failed["failure"]["kind"], "configuration_changed");
    assert_eq!(
        failed["fingerprint"]["inputs"]["providerBaseUrl"],
        "http://elsewhere.example"
    );

    let uri = format!("/runs/{run_id}/retry");
    let refused = app.post_json(&uri, &json!({})).await.problem(409);
    let detail = refused["detail"].as_str().unwrap();
    assert!(
        detail.contains("providerBaseUrl (was \"http://elsewhere.example\", now null)"),
        "{detail}"
    );
    // The dashboard puts its Retry anyway in place of this ending: worded as it expects.
    assert!(
        detail.ends_with("; send {\"force\": true} to retry it anyway"),
        "{detail}"
    );
    // A type of its own: a client can offer to force it (the dashboard's "Retry anyway").
    assert_eq!(
        refused["type"],
        "urn:evalboard:problem:configuration-changed"
    );
    let still = app.get(&format!("/runs/{run_id}")).await.ok(200);
    assert_eq!(
        still["run"]["status"], "failed",
        "a refusal changes nothing"
    );
    assert_eq!(still["retryCount"], 0);

    app.post_json(&uri, &json!({"force": true})).await.ok(202);
    let done = app
        .wait_until(&format!("/runs/{run_id}"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert_eq!(
        done["fingerprint"]["inputs"]["providerBaseUrl"],
        Value::Null
    );
    assert_ne!(
        done["fingerprint"]["digest"],
        failed["fingerprint"]["digest"]
    );
    let logs = log_messages(&app, &run_id).await;
    assert!(
        logs.iter()
            .any(|m| m.starts_with("retried despite a changed configuration: providerBaseUrl")),
        "{logs:?}"
    );
    app.stop().await;
}

/// A retry that nothing could answer or judge (the run's provider, model or judge gone from
/// the configuration, or a provider without its key) is refused and changes nothing: reopening would clear the items' answers
/// and fail the run at once.
async fn a_retry_nothing_could_answer_is_refused(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let settings = RunSettings::default();
    let judged_by_the_retired = RunSettings {
        judge: Some(evalboard_domain::JudgeSettings::Llm {
            provider_name: "Retired".into(),
            model_name: "judge-1".into(),
        }),
        ..RunSettings::default()
    };
    let canceled_run = |provider: &str, model: &str, settings: &RunSettings| {
        let id = db
            .create_run(demo_run(provider, None, model, settings))
            .unwrap()
            .run
            .id;
        db.request_cancel(&id, None, now()).unwrap();
        id.to_string()
    };
    let gone = canceled_run("Retired", "gpt-4o", &settings);
    let keyless = canceled_run("OpenAI", "gpt-4o", &settings);
    let model_gone = canceled_run("Simulated", "sim-retired", &settings);
    let judge_gone = canceled_run("Simulated", "sim-1", &judged_by_the_retired);
    let app = app(db).await;
    for (id, says) in [
        (&gone, "is not configured on this server any more"),
        (&keyless, "has no API key"),
        (&model_gone, "has no model `sim-retired` any more"),
        (&judge_gone, "its judge cannot be used on this server"),
    ] {
        let refused = app
            .post_json(&format!("/runs/{id}/retry"), &json!({"scope": "all"}))
            .await
            .problem(409);
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{detail}");
        let still = app.get(&format!("/runs/{id}")).await.ok(200);
        assert_eq!(still["run"]["status"], "canceled");
        assert_eq!(still["retryCount"], 0);
    }
}

/// The comparison shows each run's spending, latency and fingerprint, and warns when runs
/// differ in more than the model.
async fn a_comparison_warns_when_runs_differ_in_more_than_the_model(db: TestDatabase) {
    import(&db, "Demo", &items(9));
    let app = app_with_engine(db).await;
    let baseline = ended_run(&app, "sim-1", json!({})).await;
    let other_model = ended_run(&app, "sim-2", json!({})).await;
    let warmer = ended_run(&app, "sim-1", json!({"generation": {"temperature": 0.7}})).await;
    let warmest = ended_run(&app, "sim-2", json!({"generation": {"temperature": 1.0}})).await;
    let seeded = ended_run(&app, "sim-1", json!({"simulated": {"seed": 3}})).await;
    let ids = [id(&baseline), id(&other_model)].join(",");
    let same_setup = app
        .get(&format!("/runs/compare?runIds={ids}"))
        .await
        .ok(200);
    assert_eq!(same_setup["warnings"], json!([]));
    assert_eq!(
        same_setup["runs"][1]["differsFromBaseline"],
        json!(["model"])
    );
    assert_eq!(same_setup["runs"][0]["differsFromBaseline"], json!([]));
    for (compared, run) in same_setup["runs"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&baseline, &other_model])
    {
        assert_eq!(compared["usage"], run["usage"]);
        assert_eq!(compared["latency"], run["latency"]);
        assert_eq!(compared["fingerprint"], run["fingerprint"]);
        assert_eq!(compared["judge"], "choice");
    }
    let ids = [id(&baseline), id(&other_model), id(&warmer)].join(",");
    let mixed = app
        .get(&format!("/runs/compare?runIds={ids}"))
        .await
        .ok(200);
    assert_eq!(
        mixed["warnings"],
        json!([format!(
            "{} differs from the baseline in more than the model: the generation settings \
             (temperature, token limit, ...) (`generation`)",
            id(&warmer)
        )])
    );
    // Runs that differ alike share one warning, in their order; others have their own.
    let ids = [&baseline, &warmer, &seeded, &warmest].map(id).join(",");
    let sweep = app
        .get(&format!("/runs/compare?runIds={ids}"))
        .await
        .ok(200);
    assert_eq!(
        sweep["warnings"],
        json!([
            format!(
                "{} and {} differ from the baseline in more than the model: the generation \
                 settings (temperature, token limit, ...) (`generation`)",
                id(&warmer),
                id(&warmest)
            ),
            format!(
                "{} differs from the baseline in more than the model: the Simulated provider's \
                 settings (`simulated`)",
                id(&seeded)
            )
        ])
    );
    app.stop().await;
}

/// An LLM judge's own spending shows apart from the answers': in the run's `usage.judge`
/// (the sum of its verdicts' `usage`, priced at the judge model's price), in the archive's CSV,
/// and growing with a re-judging by an LLM judge — not with one by the rules, whose verdicts
/// cost nothing.
async fn an_llm_judges_spending_shows_in_the_run_its_verdicts_and_the_archive(db: TestDatabase) {
    import(&db, "Demo", &items(10));
    let app = app_with_engine(db).await;
    // The answers' model (sim-1) has no price; the judge's (sim-2) has $1 and $2 per million.
    let llm = json!({"kind": "llm", "providerName": "Simulated", "modelName": "sim-2"});
    let run = ended_run(
        &app,
        "sim-1",
        json!({"judge": llm, "simulated": {"latencyMs": 1, "seed": 5}}),
    )
    .await;
    assert_eq!(run["run"]["status"], "completed");
    assert_eq!(
        run["usage"]["costUsd"],
        Value::Null,
        "the model has no price"
    );
    let judge = &run["usage"]["judge"];
    let verdict_sum = |items: &[Value], round: usize, field: &str| -> u64 {
        items
            .iter()
            .map(|i| i["verdicts"][round]["usage"][field].as_u64().unwrap())
            .sum()
    };
    let items = all_items(&app, id(&run)).await;
    let (prompt, completion) = (
        verdict_sum(&items, 0, "promptTokens"),
        verdict_sum(&items, 0, "completionTokens"),
    );
    assert!(prompt > 0 && completion > 0);
    assert_eq!(
        (
            &judge["promptTokens"],
            &judge["completionTokens"],
            &judge["totalTokens"]
        ),
        (
            &json!(prompt),
            &json!(completion),
            &json!(prompt + completion)
        )
    );
    let cost = judge["costUsd"].as_f64().unwrap();
    let expected = (prompt as f64 + 2.0 * completion as f64) / 1e6;
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");

    let csv = app.get("/runs?format=csv").await;
    let mut reader = csv::Reader::from_reader(&csv.body[..]);
    let columns: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let column = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(row.get(0), Some(id(&run)));
    assert_eq!(
        row.get(column("judgeTokens")),
        Some((prompt + completion).to_string().as_str())
    );
    let in_csv: f64 = row.get(column("judgeCostUsd")).unwrap().parse().unwrap();
    assert!((in_csv - cost).abs() < 1e-12);
    // Added last, in this order, so that readers of the earlier columns by position still read.
    assert_eq!(
        columns[columns.len() - 6..],
        [
            "canceled",
            "unparsed",
            "cachedAnswers",
            "answersWithoutUsage",
            "answersCutOff",
            "judgeFallbacks"
        ]
    );
    // The counts that qualify the run's figures, as its detail gives them.
    for (column_name, value) in [
        ("unparsed", &run["unparsed"]),
        ("cachedAnswers", &run["usage"]["cachedAnswers"]),
        ("answersWithoutUsage", &run["usage"]["answersWithoutUsage"]),
        ("answersCutOff", &run["answersCutOff"]),
        ("judgeFallbacks", &run["judgeFallbacks"]),
    ] {
        assert_eq!(
            row.get(column(column_name)),
            Some(value.to_string().as_str()),
            "{column_name}"
        );
    }

    // Judged again by the same judge (which answers alike): its spending doubles.
    let uri = format!("/runs/{}/rejudge", id(&run));
    app.post_json(&uri, &json!({"judge": llm})).await.ok(202);
    let again = app
        .wait_until(&format!("/runs/{}", id(&run)), |r| {
            r["run"]["status"] == "completed" && r["rejudgeCount"] == 1
        })
        .await;
    assert_eq!(again["usage"]["judge"]["promptTokens"], json!(2 * prompt));
    // By the rules: nothing more is spent, and the verdicts in force cost nothing.
    app.post_json(&uri, &json!({"judge": {"kind": "choice"}}))
        .await
        .ok(202);
    let by_rules = app
        .wait_until(&format!("/runs/{}", id(&run)), |r| {
            r["run"]["status"] == "completed" && r["rejudgeCount"] == 2
        })
        .await;
    assert_eq!(by_rules["usage"]["judge"], again["usage"]["judge"]);
    let items = all_items(&app, id(&run)).await;
    assert!(items.iter().all(|i| i["verdicts"][2]["usage"].is_null()));
    assert_eq!(verdict_sum(&items, 1, "promptTokens"), prompt);
}

api_tests!(
    an_llm_judges_spending_shows_in_the_run_its_verdicts_and_the_archive,
    a_retry_nothing_could_answer_is_refused,
    a_run_shows_its_spending_latency_and_fingerprint,
    a_budget_ends_a_run_with_its_reason,
    a_finished_run_is_judged_again_keeping_its_history,
    a_changed_configuration_needs_a_forced_retry,
    a_comparison_warns_when_runs_differ_in_more_than_the_model,
);
