//! `GET /runs/active` against the contract's example, field by field.

use evalboard_domain::{ItemState, RunId, RunStatus};
use serde_json::{Value, json};

use crate::support::{api_tests, app, import, is_api_time, items, now};
use evalboard_persistence::testing::TestDatabase;

/// The response example of `GET /runs/active` in `spec/runs-browser-harness-api.txt`.
const SPEC_EXAMPLE: &str = r#"[
  {
    "run": {
      "id": "run-123",
      "providerName": "OpenAI",
      "datasetName": "MMLU-Pro",
      "modelName": "gpt-4.1",
      "status": "running"
    },
    "progress": {
      "completed": 14,
      "total": 100,
      "correct": 11,
      "incorrect": 3,
      "awaiting": 1,
      "faulted": 0,
      "pending": 85
    },
    "lifecycle": {
      "resumedCount": 1,
      "lastResumedAt": "2026-03-06T19:43:11Z",
      "cancelRequestedAt": null
    },
    "currentItem": {
      "sequence": 15,
      "state": "running",
      "promptText": "Which option best describes...",
      "choices": ["A", "B", "C", "D"]
    },
    "recentItems": []
  }
]"#;

/// The shape of a JSON value: object keys (in order) with their shapes, scalar kinds, and the
/// shape of array elements (`[]` shows as an empty array).
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// Reproduces the spec's situation exactly: 100 items, 11 correct and 3 incorrect, one answer
/// awaiting the judge, item 15 running, resumed once, no cancel.
async fn matches_the_spec_example_field_by_field(db: TestDatabase) {
    import(&db, "MMLU-Pro", &items(100));
    let app = app(db).await;
    let id = app.create_run("MMLU-Pro", json!({})).await;
    let run_id = RunId::parse(&id).unwrap();
    app.db
        .set_run_status(&run_id, RunStatus::Running, now())
        .unwrap();
    app.move_items(&id, 1..=16, ItemState::Running);
    app.move_items(&id, (1..=14).chain([16]), ItemState::Awaiting);
    app.move_items(&id, 1..=11, ItemState::Correct);
    app.move_items(&id, 12..=14, ItemState::Incorrect);
    app.db.record_resume(&run_id, now()).unwrap();

    let reply = app.get("/runs/active").await;
    let body = reply.ok(200);
    let spec: Value = serde_json::from_str(SPEC_EXAMPLE).unwrap();

    // Same keys, in the same order, with the same kinds of values. `recentItems` holds the 14
    // finished items here; each has the shape of `currentItem`.
    let mut ours = shape(&body);
    ours[0]["recentItems"] = json!([]);
    assert_eq!(ours, shape(&spec), "shape differs from the spec: {body:#}");
    let snapshot = &body[0];
    assert_eq!(
        shape(&snapshot["recentItems"][0]),
        shape(&spec[0]["currentItem"])
    );

    assert_eq!(snapshot["run"]["id"], id.as_str());
    assert_eq!(snapshot["run"]["providerName"], "Simulated");
    assert_eq!(snapshot["run"]["datasetName"], "MMLU-Pro");
    assert_eq!(snapshot["run"]["modelName"], "sim-1");
    assert_eq!(snapshot["run"]["status"], "running");
    assert_eq!(
        snapshot["progress"], spec[0]["progress"],
        "the spec's numbers, computed"
    );
    assert_eq!(snapshot["lifecycle"]["resumedCount"], 1);
    assert!(
        is_api_time(&snapshot["lifecycle"]["lastResumedAt"]),
        "{}",
        snapshot["lifecycle"]
    );
    assert!(snapshot["lifecycle"]["cancelRequestedAt"].is_null());
    assert_eq!(snapshot["currentItem"]["sequence"], 15);
    assert_eq!(snapshot["currentItem"]["state"], "running");
    assert_eq!(
        snapshot["currentItem"]["promptText"],
        "Which option best describes item 14?"
    );
    assert_eq!(
        snapshot["currentItem"]["choices"],
        json!(["A", "B", "C", "D"])
    );
    let recent = snapshot["recentItems"].as_array().unwrap();
    assert_eq!(recent.len(), 5, "the last five finished items");
    assert!(
        recent
            .iter()
            .all(|i| ["correct", "incorrect"].contains(&i["state"].as_str().unwrap()))
    );
}

async fn a_new_run_has_nulls_where_the_spec_shows_them(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let app = app(db).await;
    app.create_run("Demo", json!({})).await;
    let body = app.get("/runs/active").await.ok(200);
    let snapshot = &body[0];
    assert_eq!(snapshot["run"]["status"], "pending");
    assert_eq!(
        snapshot["lifecycle"],
        json!({"resumedCount": 0, "lastResumedAt": null, "cancelRequestedAt": null})
    );
    assert!(snapshot["currentItem"].is_null());
    assert_eq!(snapshot["recentItems"], json!([]));
    assert_eq!(
        snapshot["progress"],
        json!({"completed": 0, "total": 3, "correct": 0, "incorrect": 0, "awaiting": 0, "faulted": 0, "pending": 3})
    );
}

async fn active_runs_first_then_recently_finished_within_the_limit(db: TestDatabase) {
    import(&db, "Demo", &items(2));
    let app = app(db).await;
    let mut finished = Vec::new();
    for _ in 0..3 {
        let id = app.create_run("Demo", json!({})).await;
        let run = RunId::parse(&id).unwrap();
        app.db
            .set_run_status(&run, RunStatus::Running, now())
            .unwrap();
        app.db
            .set_run_status(&run, RunStatus::Completed, now())
            .unwrap();
        finished.push(id);
    }
    let mut active = Vec::new();
    for _ in 0..11 {
        active.push(app.create_run("Demo", json!({})).await);
    }

    let ids = |body: Value| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| s["run"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let default = ids(app.get("/runs/active").await.ok(200));
    assert_eq!(default.len(), 12, "default limit");
    let newest_active: Vec<String> = active.iter().rev().cloned().collect();
    assert_eq!(default[..11], newest_active[..]);
    assert_eq!(default[11], finished[2], "then the most recently finished");

    let all = ids(app.get("/runs/active?limit=24").await.ok(200));
    assert_eq!(all.len(), 14);
    assert_eq!(
        all[11..],
        [
            finished[2].clone(),
            finished[1].clone(),
            finished[0].clone()
        ]
    );
    assert_eq!(
        ids(app.get("/runs/active?limit=1").await.ok(200)),
        [newest_active[0].clone()]
    );
}

async fn limit_out_of_range_is_a_400(db: TestDatabase) {
    let app = app(db).await;
    for bad in [
        "0",
        "25",
        "abc",
        "-1",
        "1.5",
        "",
        "99999999999999999999",
        "12%20",
    ] {
        let problem = app
            .get(&format!("/runs/active?limit={bad}"))
            .await
            .problem(400);
        assert_eq!(problem["errors"][0]["field"], "limit", "limit={bad}");
    }
    app.get("/runs/active?limit=12&other=1").await.problem(400);
    assert_eq!(app.get("/runs/active").await.ok(200), json!([]));
}

api_tests!(
    matches_the_spec_example_field_by_field,
    a_new_run_has_nulls_where_the_spec_shows_them,
    active_runs_first_then_recently_finished_within_the_limit,
    limit_out_of_range_is_a_400,
);
