//! `GET /datasets` and `POST /datasets`.

use std::path::PathBuf;

use actix_web::test::TestRequest;
use evalboard_persistence::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{api_tests, app};

const JSONL: &str = r#"{"question_id": 1, "question": "2 + 2 = ?", "options": ["3", "4", "5"], "answer": "B", "answer_index": 1, "cot_content": "", "category": "math", "src": "t"}
{"question_id": 2, "question": "Capital of France?", "options": ["Paris", "Rome"], "answer": "A", "answer_index": 1, "cot_content": "", "category": "geography", "src": "t"}
"#;

fn upload(query: &str, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> TestRequest {
    let mut request = TestRequest::post().uri(&format!("/datasets?{query}"));
    if let Some(content_type) = content_type {
        request = request.insert_header(("content-type", content_type.to_owned()));
    }
    request.set_payload(body.into())
}

async fn import_list_and_reimport(db: TestDatabase) {
    let app = app(db).await;
    assert_eq!(app.get("/datasets").await.ok(200), json!([]));

    let reply = app
        .call(upload("name=Quiz", Some("application/jsonl"), JSONL))
        .await;
    let imported = reply.ok(201);
    assert_eq!(imported["created"], true);
    assert_eq!(imported["dataset"]["name"], "Quiz");
    assert_eq!(imported["dataset"]["version"], 1);
    assert_eq!(imported["dataset"]["itemCount"], 2);
    assert_eq!(
        imported["dataset"]["categories"],
        json!([{"name": "geography", "itemCount": 1}, {"name": "math", "itemCount": 1}])
    );
    // Row 2's answer_index disagrees with its letter: accepted, with a warning on its line.
    assert_eq!(imported["warnings"][0]["line"], 2);
    assert_eq!(imported["warningCount"], 1);
    // A first version follows none.
    assert_eq!(imported["replaced"], Value::Null);

    let again = app
        .call(upload("name=Quiz", Some("application/x-ndjson"), JSONL))
        .await
        .ok(200);
    assert_eq!(again["created"], false);
    assert_eq!(
        again["replaced"],
        Value::Null,
        "nothing stored, nothing replaced"
    );
    assert_eq!(again["dataset"], imported["dataset"]);

    let csv = "question,A,B,C,answer,category\n2 + 2 = ?,3,4,5,B,math\nCapital of France?,Paris,Rome,,A,geography\n";
    let from_csv = app
        .call(upload(
            "name=Quiz&format=csv",
            Some("application/octet-stream"),
            csv,
        ))
        .await
        .ok(201);
    assert_eq!(
        from_csv["dataset"]["version"], 2,
        "different item ids make a new version"
    );
    // Said which version new runs no longer take, with its size.
    assert_eq!(from_csv["replaced"], json!({"version": 1, "itemCount": 2}));
    let listed = app.get("/datasets").await.ok(200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0], from_csv["dataset"]);
}

async fn malformed_files_are_422_by_line_and_store_nothing(db: TestDatabase) {
    let app = app(db).await;
    let bad = format!("{JSONL}{{\"question_id\": 3}}\nnot json\n");
    let problem = app
        .call(upload("name=Quiz", Some("application/jsonl"), bad))
        .await
        .problem(422);
    let lines: Vec<u64> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4]);
    assert_eq!(problem["totalErrors"], 2);

    let problem = app
        .call(upload(
            "name=Quiz",
            Some("text/csv"),
            "question,A,answer\nQ,x,A\n",
        ))
        .await
        .problem(422);
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("no `B` column")
    );
    app.call(upload("name=Quiz", Some("text/csv"), ""))
        .await
        .problem(422);
    assert_eq!(
        app.get("/datasets").await.ok(200),
        json!([]),
        "nothing half-imported"
    );
}

async fn bad_upload_requests_are_4xx(db: TestDatabase) {
    let app = app(db).await;
    app.call(upload("", Some("application/jsonl"), JSONL))
        .await
        .problem(400);
    app.call(upload("name=", Some("application/jsonl"), JSONL))
        .await
        .problem(400);
    app.call(upload("name=%20padded", Some("application/jsonl"), JSONL))
        .await
        .problem(400);
    let problem = app
        .call(upload(
            "name=Q&format=xml",
            Some("application/octet-stream"),
            JSONL,
        ))
        .await
        .problem(400);
    assert_eq!(problem["errors"][0]["field"], "format");
    app.call(upload("name=Q", None, JSONL)).await.problem(415);
    app.call(upload("name=Q", Some("application/xml"), JSONL))
        .await
        .problem(415);
    app.call(upload("name=Q&extra=1", Some("text/csv"), "x"))
        .await
        .problem(400);
    let too_large = upload("name=Q", Some("text/csv"), "question")
        .insert_header(("content-length", (65 * 1024 * 1024).to_string()));
    app.call(too_large).await.problem(413);
    assert_eq!(app.get("/datasets").await.ok(200), json!([]));
}

/// The real MMLU-Pro sample from `../shared/datasets`, when this checkout has it.
async fn imports_the_real_mmlu_pro_sample(db: TestDatabase) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/mmlu-pro-sample.jsonl");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipping: {} is not on this machine", path.display());
        return;
    };
    let app = app(db).await;
    let imported = app
        .call(upload("name=MMLU-Pro", Some("application/jsonl"), bytes))
        .await
        .ok(201);
    assert_eq!(imported["dataset"]["itemCount"], 504);
    let categories = imported["dataset"]["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 14);
    assert!(categories.iter().all(|c| c["itemCount"] == 36));
    assert_eq!(imported["warnings"], json!([]));
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "MMLU-Pro", "modelName": "sim-1",
                    "settings": {"selection": {"categories": ["law", "physics"]}}}),
        )
        .await
        .ok(201);
    assert_eq!(created["progress"]["total"], 72);
}

/// The real GSM8K sample from `../shared/datasets`, when this checkout has it: numeric items,
/// a run of them, their expected numbers in the item view.
async fn imports_the_real_gsm8k_sample(db: TestDatabase) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/gsm8k-test-sample.jsonl");
    let Ok(bytes) = std::fs::read(&path) else {
        eprintln!("skipping: {} is not on this machine", path.display());
        return;
    };
    let app = app(db).await;
    let imported = app
        .call(upload("name=gsm8k", Some("application/jsonl"), bytes))
        .await
        .ok(201);
    assert_eq!(imported["dataset"]["itemCount"], 300);
    assert_eq!(
        imported["dataset"]["categories"],
        json!([{"name": "gsm8k", "itemCount": 300}])
    );
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "gsm8k", "modelName": "sim-1",
                    "settings": {"selection": {"sampleSize": 5}}}),
        )
        .await
        .ok(201);
    assert_eq!(created["progress"]["total"], 5);
    let id = created["run"]["id"].as_str().unwrap();
    let page = app
        .get(&format!("/runs/{id}/items?groupBy=none&limit=1"))
        .await
        .ok(200);
    let item = &page["items"][0];
    assert_eq!(item["choices"], json!([]));
    // "A robe takes 2 bolts of blue fiber ..." #### 3
    assert_eq!(item["expectedAnswer"], "3");
}

api_tests!(
    import_list_and_reimport,
    malformed_files_are_422_by_line_and_store_nothing,
    bad_upload_requests_are_4xx,
    imports_the_real_mmlu_pro_sample,
    imports_the_real_gsm8k_sample,
);
