//! `GET /runs/compare`: runs executed by the engine, compared over HTTP, and every figure
//! recomputed here from the items endpoint.

use std::collections::HashMap;

use evalboard_domain::stats::{PairedCounts, mcnemar_exact, wilson};
use evalboard_persistence::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{TestApp, api_tests, app, app_bounds, app_with_engine, import, items, now};

/// Creates a Simulated run and waits until it completes; its id.
async fn finished_run(app: &TestApp<app_bounds!()>, dataset: &str, settings: Value) -> String {
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": dataset, "modelName": "sim-1", "settings": settings}),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    app.wait_until(&format!("/runs/{id}"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    id
}

/// Whether each dataset item was judged correct in a run, by dataset item id.
async fn verdicts(app: &TestApp<app_bounds!()>, run: &str) -> HashMap<String, bool> {
    let page = app
        .get(&format!("/runs/{run}/items?groupBy=none&limit=200"))
        .await
        .ok(200);
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["datasetItemId"].as_str().unwrap().to_owned(),
                i["state"] == "correct",
            )
        })
        .collect()
}

fn close(got: &Value, want: f64) {
    assert!(
        (got.as_f64().unwrap() - want).abs() < 1e-12,
        "{got} vs {want}"
    );
}

async fn runs_compare_item_by_item_against_a_baseline(db: TestDatabase) {
    import(&db, "Demo", &items(60));
    import(&db, "Other", &items(5));
    let app = app_with_engine(db).await;
    let baseline = finished_run(
        &app,
        "Demo",
        json!({"simulated": {"accuracy": 0.5, "seed": 1}}),
    )
    .await;
    let better = finished_run(
        &app,
        "Demo",
        json!({"simulated": {"accuracy": 0.8, "seed": 2}}),
    )
    .await;
    // A third run on 40 of the items: the comparison keeps the items all three have.
    let partial = finished_run(
        &app,
        "Demo",
        json!({"selection": {"sampleSize": 40, "seed": 3}, "simulated": {"accuracy": 0.6, "seed": 3}}),
    )
    .await;

    let comparison = app
        .get(&format!(
            "/runs/compare?runIds={baseline},{better},{partial}&limit=7"
        ))
        .await
        .ok(200);
    assert_eq!(comparison["baselineRunId"], baseline.as_str());
    assert_eq!(comparison["compared"], 40);
    let left_out: Vec<u64> = comparison["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["leftOut"].as_u64().unwrap())
        .collect();
    assert_eq!(left_out, [20, 20, 0]);
    // Said first, naming who leaves what out: every figure below is over those 40 only.
    assert_eq!(
        comparison["warnings"][0],
        format!(
            "only the 40 item(s) every run has are compared: {baseline} leaves 20 of its 60, \
             {better} leaves 20 of its 60"
        )
    );

    // Every figure, recomputed from the items endpoint.
    let all = [
        verdicts(&app, &baseline).await,
        verdicts(&app, &better).await,
        verdicts(&app, &partial).await,
    ];
    let common: Vec<&String> = all[2].keys().collect();
    for (index, figures) in comparison["overall"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let correct = common.iter().filter(|id| all[index][**id]).count() as u64;
        assert_eq!(figures["items"], 40);
        assert_eq!(figures["correct"], correct);
        close(&figures["accuracy"], correct as f64 / 40.0);
        let interval = wilson(correct, 40).unwrap();
        close(&figures["accuracyInterval"]["low"], interval.low);
        close(&figures["accuracyInterval"]["high"], interval.high);
    }
    for (other, paired) in [1, 2]
        .into_iter()
        .zip(comparison["overall"]["comparisons"].as_array().unwrap())
    {
        let mut counts = PairedCounts::default();
        for id in &common {
            match (all[0][*id], all[other][*id]) {
                (true, true) => counts.both += 1,
                (true, false) => counts.baseline_only += 1,
                (false, true) => counts.other_only += 1,
                (false, false) => counts.neither += 1,
            }
        }
        let expected = counts.difference().unwrap();
        assert_eq!(paired["baselineOnly"], counts.baseline_only);
        assert_eq!(paired["otherOnly"], counts.other_only);
        close(&paired["accuracyDifference"], expected.difference);
        close(&paired["differenceInterval"]["low"], expected.interval.low);
        close(
            &paired["differenceInterval"]["high"],
            expected.interval.high,
        );
        close(
            &paired["mcnemarPValue"],
            mcnemar_exact(counts.baseline_only, counts.other_only),
        );
        close(
            &paired["agreement"],
            (counts.both + counts.neither) as f64 / 40.0,
        );
    }
    // Categories add up to the whole.
    let by_category: u64 = comparison["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["runs"][0]["items"].as_u64().unwrap())
        .sum();
    assert_eq!(by_category, 40);

    // The flipped items, page by page: each once, exactly those whose verdicts differ.
    let flipped_ids: Vec<&String> = {
        let mut ids: Vec<&String> = common
            .iter()
            .copied()
            .filter(|id| all[1][*id] != all[0][*id] || all[2][*id] != all[0][*id])
            .collect();
        ids.sort();
        ids
    };
    assert!(flipped_ids.len() > 7, "more than a page");
    assert_eq!(comparison["flipped"]["total"], flipped_ids.len());
    let mut seen: Vec<String> = Vec::new();
    let mut page = comparison["flipped"].clone();
    loop {
        for item in page["items"].as_array().unwrap() {
            let outcomes = item["outcomes"].as_array().unwrap();
            assert_eq!(outcomes.len(), 3);
            assert_eq!(outcomes[0]["runId"], baseline.as_str());
            let id = item["datasetItemId"].as_str().unwrap();
            for (run, outcome) in outcomes.iter().enumerate() {
                assert_eq!(outcome["correct"], all[run][id], "{item}");
                assert!(outcome["extractedAnswer"].is_string() || outcome["state"] != "correct");
            }
            seen.push(id.to_owned());
        }
        let Some(cursor) = page["nextCursor"].as_str() else {
            break;
        };
        page = app
            .get(&format!(
                "/runs/compare?runIds={baseline},{better},{partial}&limit=7&cursor={cursor}"
            ))
            .await
            .ok(200)["flipped"]
            .clone();
    }
    seen.sort();
    assert_eq!(seen.iter().collect::<Vec<_>>(), flipped_ids);

    // Filtered: the flipped items the baseline got wrong (another run right), then those of
    // one category it got right — paged under their filters, the figures unchanged.
    let category_of = |id: &str| {
        comparison["flipped"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["datasetItemId"] == id)
            .map(|item| item["category"].as_str().unwrap().to_owned())
    };
    let some_category = flipped_ids.iter().find_map(|id| category_of(id)).unwrap();
    for (filter, keeps) in [
        (
            "baseline=wrong".to_owned(),
            Box::new(|id: &str, _: &Value| !all[0][id]) as Box<dyn Fn(&str, &Value) -> bool>,
        ),
        (
            format!("baseline=right&category={some_category}"),
            Box::new(|id: &str, item: &Value| {
                all[0][id] && item["category"] == some_category.as_str()
            }),
        ),
    ] {
        let mut listed: Vec<String> = Vec::new();
        let mut uri =
            format!("/runs/compare?runIds={baseline},{better},{partial}&limit=3&{filter}");
        let mut matching = None;
        loop {
            let answer = app.get(&uri).await.ok(200);
            assert_eq!(answer["overall"], comparison["overall"], "{filter}");
            assert_eq!(answer["flipped"]["total"], flipped_ids.len());
            matching = matching.or(answer["flipped"]["matching"].as_u64());
            for item in answer["flipped"]["items"].as_array().unwrap() {
                let id = item["datasetItemId"].as_str().unwrap();
                assert!(keeps(id, item), "{filter}: {item}");
                listed.push(id.to_owned());
            }
            let Some(cursor) = answer["flipped"]["nextCursor"].as_str() else {
                break;
            };
            uri = format!(
                "/runs/compare?runIds={baseline},{better},{partial}&limit=3&{filter}&cursor={cursor}"
            );
        }
        assert_eq!(matching, Some(listed.len() as u64), "{filter}");
        assert!(!listed.is_empty(), "{filter}");
    }
    // A category none of the compared items is in is said (a warning: the comparison stays),
    // not an empty page that reads as "nothing flipped there".
    let answer = app
        .get(&format!(
            "/runs/compare?runIds={baseline},{better}&category=Nowhere"
        ))
        .await
        .ok(200);
    assert_eq!(answer["flipped"]["matching"], 0);
    let said: Vec<&str> = answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|w| w.starts_with("no compared item is in category `Nowhere`"))
        .collect();
    assert_eq!(said.len(), 1, "{answer}");
    assert!(
        said[0].contains("; theirs are: ") && said[0].contains(&some_category),
        "{}",
        said[0]
    );
    let wrong = flipped_ids.iter().filter(|id| !all[0][id.as_str()]).count();
    let right = app
        .get(&format!(
            "/runs/compare?runIds={baseline},{better},{partial}&baseline=right"
        ))
        .await
        .ok(200)["flipped"]["matching"]
        .as_u64()
        .unwrap();
    assert_eq!(
        right as usize + wrong,
        flipped_ids.len(),
        "right and wrong part the flipped items"
    );

    // Refusals.
    let other = finished_run(&app, "Other", json!({})).await;
    let problem = app
        .get(&format!("/runs/compare?runIds={baseline},{other}"))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "runIds");
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{other} (sim-1) is of `Other`")),
        "each run named by its model and its dataset: {detail}"
    );
    let unknown = "run-0123456789abcdef0123456789abcdef";
    app.get(&format!("/runs/compare?runIds={baseline},{unknown}"))
        .await
        .problem(404);
    let nine = [baseline.as_str(); 9].join(",");
    // What breaks the parameter's documented pattern or range is a 400; what is well-formed
    // but refused by the data (a run twice, a cursor never issued) a 422 (docs/api.md).
    for query in [
        format!("runIds={baseline}"),
        format!("runIds={baseline},nope"),
        format!("runIds={baseline},%20{better}"),
        format!("runIds={nine}"),
        format!("runIds={baseline},{better}&limit=0"),
        format!("runIds={baseline},{better}&baseline=better"),
        "limit=5".to_owned(),
    ] {
        app.get(&format!("/runs/compare?{query}"))
            .await
            .problem(400);
    }
    for query in [
        format!("runIds={baseline},{baseline}"),
        format!("runIds={baseline},{better}&cursor=abc"),
    ] {
        app.get(&format!("/runs/compare?{query}"))
            .await
            .problem(422);
    }
    app.stop().await;
}

/// Compared items counted wrong for want of an answer — failed, or not judged yet — are said in
/// the warnings, by run: they measure the provider or the run's progress, not the model.
async fn unanswered_and_faulted_items_are_warned_of(db: TestDatabase) {
    import(&db, "Demo", &items(10));
    let app = app_with_engine(db).await;
    let baseline = finished_run(&app, "Demo", json!({"simulated": {"seed": 1}})).await;
    let faulted = finished_run(
        &app,
        "Demo",
        json!({"maxAttempts": 1, "simulated": {"seed": 1, "faultRate": 1.0}}),
    )
    .await;
    let warnings = |comparison: &Value| comparison["warnings"].to_string();
    let compared = app
        .get(&format!("/runs/compare?runIds={baseline},{faulted}"))
        .await
        .ok(200);
    assert!(
        warnings(&compared).contains(&format!(
            "{faulted} has 10 compared item(s) that failed or were canceled"
        )),
        "{}",
        warnings(&compared)
    );
    assert!(!warnings(&compared).contains(&format!("{baseline} has")));

    let going = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                    "settings": {"concurrency": 1, "simulated": {"seed": 1, "latencyMs": 60000}}}),
        )
        .await
        .ok(201);
    let going = going["run"]["id"].as_str().unwrap().to_owned();
    let compared = app
        .get(&format!("/runs/compare?runIds={baseline},{going}"))
        .await
        .ok(200);
    assert!(
        warnings(&compared).contains(&format!("{going} has 10 compared item(s) not judged yet")),
        "{}",
        warnings(&compared)
    );
    app.post_json(&format!("/runs/{going}/cancel"), &json!({}))
        .await
        .ok(202);
}

/// Runs of two versions of a dataset are paired on the items both have: an id the second
/// version keeps for another question is not the same item, and is left out, said so.
async fn an_id_kept_for_another_question_is_not_compared(db: TestDatabase) {
    let first = items(10);
    import(&db, "Versions", &first);
    let app = app_with_engine(db).await;
    let before = finished_run(&app, "Versions", json!({"simulated": {"seed": 1}})).await;
    // Version 2: item q3 asks another question under the same id, q9 is gone.
    let mut second = first[..9].to_vec();
    second[3].question = "A different question, kept under the old id?".into();
    import(&app.db, "Versions", &second);
    let after = finished_run(&app, "Versions", json!({"simulated": {"seed": 1}})).await;

    let comparison = app
        .get(&format!("/runs/compare?runIds={before},{after}"))
        .await
        .ok(200);
    assert_eq!(comparison["compared"], 8);
    let left_out: Vec<u64> = comparison["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["leftOut"].as_u64().unwrap())
        .collect();
    assert_eq!(left_out, [2, 1]);
    let warnings = comparison["warnings"].to_string();
    assert!(
        warnings
            .contains("1 item(s) have the same id in these dataset versions but another question"),
        "{warnings}"
    );
    // Two runs of the same version pair every item.
    let again = finished_run(&app, "Versions", json!({"simulated": {"seed": 2}})).await;
    let same = app
        .get(&format!("/runs/compare?runIds={after},{again}"))
        .await
        .ok(200);
    assert_eq!(same["compared"], 9);
}

/// Answers and judges every item of `run` through the store, as the engine does: item 1 by the
/// LLM judge, the others by the rules for it when `fallbacks` (the judge gave no verdict).
fn judge_through_the_store(db: &TestDatabase, run: &str, items: u32, fallbacks: bool) {
    use chrono::Duration;
    use evalboard_domain::{RunId, Verdict, extract_answer};
    use evalboard_persistence::{ClaimRequest, Judgment, Outcome, OutcomeKind, testing};
    let run = RunId::parse(run).unwrap();
    let at = now();
    let claim = ClaimRequest {
        worker: "w",
        lease_until: at + Duration::seconds(300),
        max: items,
        at,
        generation: None,
    };
    assert_eq!(
        db.claim_items(&run, claim).unwrap().items.len(),
        items as usize
    );
    let outcomes: Vec<Outcome> = (1..=items)
        .map(|sequence| {
            let by_llm = sequence == 1 || !fallbacks;
            Outcome {
                run_id: run.clone(),
                sequence,
                attempt: 1,
                started_at: at,
                kind: OutcomeKind::Answered {
                    answer: testing::answer("p", "The answer is (A).", at),
                    judgment: Some(Judgment {
                        verdict: Verdict::Correct,
                        extraction: extract_answer("The answer is (A).").into(),
                        judge: if by_llm {
                            "llm:Simulated/sim-1"
                        } else {
                            "choice"
                        }
                        .into(),
                        rationale: Some(if by_llm {
                            "It picks (A).".into()
                        } else {
                            "the LLM judge llm:Simulated/sim-1 gave no verdict (server_error); \
                             judged by extraction"
                                .into()
                        }),
                        at,
                        spent: None,
                    }),
                },
            }
        })
        .collect();
    let applied = db.apply_outcomes("w", &outcomes, at).unwrap();
    assert!(applied.applied.iter().all(|&held| held));
    assert_eq!(applied.finished.len(), 1, "every item judged: the run ends");
}

/// A run some of whose verdicts its LLM judge did not give says so in the comparison (its
/// fingerprint names the judge, as the baseline's does), in its detail and in the archive's
/// CSV alike.
async fn verdicts_an_llm_judge_did_not_give_are_warned_of(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let app = app(db).await;
    let create = || async {
        let created = app
            .post_json(
                "/runs",
                &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                        "settings": {"judge": {"kind": "llm", "providerName": "Simulated", "modelName": "sim-1"}}}),
            )
            .await
            .ok(201);
        created["run"]["id"].as_str().unwrap().to_owned()
    };
    let (judged, fell_back) = (create().await, create().await);
    judge_through_the_store(&app.db, &judged, 3, false);
    judge_through_the_store(&app.db, &fell_back, 3, true);

    let detail = app.get(&format!("/runs/{fell_back}")).await.ok(200);
    assert_eq!(detail["judgeFallbacks"], 2, "{detail}");
    let csv = app.get("/runs?format=csv").await;
    let mut reader = csv::Reader::from_reader(&csv.body[..]);
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|c| c == "judgeFallbacks")
        .unwrap();
    let in_csv: HashMap<String, String> = reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            (row[0].to_owned(), row[column].to_owned())
        })
        .collect();
    assert_eq!(in_csv[&fell_back], "2");
    assert_eq!(in_csv[&judged], "0");

    let comparison = app
        .get(&format!("/runs/compare?runIds={judged},{fell_back}"))
        .await
        .ok(200);
    let counts: Vec<&Value> = comparison["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["judgeFallbacks"])
        .collect();
    assert_eq!(counts, [&json!(0), &json!(2)]);
    assert_eq!(
        comparison["warnings"],
        json!([format!(
            "{fell_back} has 2 verdict(s) its LLM judge did not give (it failed or answered \
             without a verdict): the extraction rules gave them, so its figures are partly theirs"
        )]),
        "the only difference between the two runs"
    );
    app.stop().await;
}

api_tests!(
    runs_compare_item_by_item_against_a_baseline,
    unanswered_and_faulted_items_are_warned_of,
    an_id_kept_for_another_question_is_not_compared,
    verdicts_an_llm_judge_did_not_give_are_warned_of
);
