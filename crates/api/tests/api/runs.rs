//! `POST /runs`, `GET /runs/{run_id}` and `GET /runs`.

use actix_web::test::TestRequest;
use evalboard_domain::{ItemState, RunId, RunStatus};
use evalboard_persistence::{RunFilter, testing::TestDatabase};
use serde_json::{Value, json};

use crate::support::{api_tests, app, import, is_api_time, items, json_post, now};

fn request(provider: &str, dataset: &str, model: &str) -> Value {
    json!({"providerName": provider, "datasetName": dataset, "modelName": model})
}

async fn a_created_run_reads_back_through_every_endpoint(db: TestDatabase) {
    import(&db, "Demo", &items(30));
    let app = app(db).await;
    let body = json!({
        "providerName": "Simulated",
        "datasetName": "Demo",
        "modelName": "sim-2",
        "settings": {
            "concurrency": 8,
            "selection": {"categories": ["law", "math"], "sampleSize": 7, "seed": 42},
            "generation": {"temperature": 0.0, "maxTokens": 512}
        }
    });
    let reply = app.post_json("/runs", &body).await;
    let created = reply.ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    assert!(RunId::parse(&id).is_ok(), "{id}");
    assert_eq!(
        reply.header("location"),
        Some(format!("/runs/{id}").as_str())
    );
    assert_eq!(
        created["run"],
        json!({"id": id, "providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-2", "status": "pending"})
    );
    assert_eq!(created["progress"]["total"], 7);
    assert_eq!(created["progress"]["pending"], 7);
    // The settings in force: what the request chose, and the defaults of what it left out.
    assert_eq!(
        created["settings"],
        json!({
            "concurrency": 8,
            "selection": {"categories": ["law", "math"], "sampleSize": 7, "seed": 42},
            "generation": {"temperature": 0.0, "maxTokens": 512},
            "shots": 0,
            "maxAttempts": 4,
            "simulated": {"accuracy": 0.7, "latencyMs": 0, "faultRate": 0.0, "unparsedRate": 0.0, "seed": 0},
            "judge": {"kind": "choice"}
        })
    );
    assert_eq!(created["dataset"]["version"], 1);
    assert!(
        created["dataset"]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(is_api_time(&created["createdAt"]));
    assert!(is_api_time(&created["updatedAt"]));
    assert!(created["startedAt"].is_null() && created["finishedAt"].is_null());

    let detail = app.get(&format!("/runs/{id}")).await.ok(200);
    assert_eq!(detail, created, "GET returns what POST returned");

    assert_eq!(created["unparsed"], 0);
    assert_eq!(created["simulated"], true);
    assert_eq!(created["retryCount"], 0);
    assert!(created["failure"].is_null());

    // The archive lists the same shape, its unparsed count included (a kept count).
    let page = app.get("/runs").await.ok(200);
    assert_eq!(page["runs"], json!([created]));
    assert!(page["nextCursor"].is_null());

    let board = app.get("/runs/active").await.ok(200);
    assert_eq!(board[0]["run"], created["run"]);

    // A run that chooses nothing shows every default it runs with.
    let bare = app
        .post_json("/runs", &request("Simulated", "Demo", "sim-1"))
        .await
        .ok(201);
    let settings = &bare["settings"];
    assert_eq!(
        (
            &settings["concurrency"],
            &settings["maxAttempts"],
            &settings["shots"]
        ),
        (&json!(8), &json!(4), &json!(0))
    );
    assert_eq!(settings["judge"], json!({"kind": "choice"}));
    assert!(settings.get("selection").is_none(), "all items: {settings}");
    let id = bare["run"]["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/runs/{id}")).await.ok(200)["settings"],
        *settings
    );
}

async fn unknown_provider_model_dataset_or_bad_settings_are_422_and_write_nothing(
    db: TestDatabase,
) {
    import(&db, "Demo", &items(5));
    let numeric = evalboard_domain::DatasetItem {
        id: "n1".into(),
        category: "math".into(),
        question: "2 + 2?".into(),
        choices: Vec::new(),
        answer: evalboard_domain::ItemAnswer::Number(
            evalboard_domain::numeric::Number::parse("4").unwrap(),
        ),
        explanation: None,
        source: None,
    };
    import(&db, "Numbers", &[numeric]);
    // One `math` item and one `law` item: too few worked examples for most shots.
    import(&db, "Val", &items(2));
    let app = app(db).await;
    let shots_from = |settings: Value| {
        json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
               "settings": settings})
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        // Worked examples from another dataset: only with shots, from one that exists (in
        // that version), of the same kind of items.
        (
            shots_from(json!({"shotsFrom": {"datasetName": "Demo"}})),
            vec!["settings.shotsFrom"],
        ),
        (
            shots_from(json!({"shots": 1, "shotsFrom": {"datasetName": "Missing"}})),
            vec!["settings.shotsFrom.datasetName"],
        ),
        (
            shots_from(json!({"shots": 1, "shotsFrom": {"datasetName": "Demo", "version": 9}})),
            vec!["settings.shotsFrom.version"],
        ),
        (
            shots_from(json!({"shots": 1, "shotsFrom": {"datasetName": "Numbers"}})),
            vec!["settings.shotsFrom.datasetName"],
        ),
        // Fewer worked examples than asked for, in some category of the run: from its own
        // dataset (one `history` item, never its own example), or from another.
        (shots_from(json!({"shots": 1})), vec!["settings.shots"]),
        (
            shots_from(json!({"shots": 2, "shotsFrom": {"datasetName": "Val"}})),
            vec!["settings.shots"],
        ),
        (request("Nope", "Demo", "sim-1"), vec!["providerName"]),
        // The archive lists runs of it, but its runs come from captures.
        (
            request("Browser Harness", "Demo", "sim-1"),
            vec!["providerName"],
        ),
        (request("Simulated", "Demo", "gpt-4.1"), vec!["modelName"]),
        (
            request("Simulated", "Missing", "sim-1"),
            vec!["datasetName"],
        ),
        (request("simulated", "Demo", "sim-1"), vec!["providerName"]),
        // Configured, but its key variable is not set: nothing could be sent.
        (request("OpenAI", "Demo", "gpt-4.1"), vec!["providerName"]),
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"judge": {"kind": "llm", "providerName": "OpenAI", "modelName": "gpt-4.1"}}}),
            vec!["settings.judge.providerName"],
        ),
        // Every bad field at once, those only the stored data can judge included.
        (
            json!({"providerName": "Nope", "datasetName": "no-such", "modelName": "x"}),
            vec!["providerName", "datasetName"],
        ),
        (
            json!({"providerName": "OpenAI", "datasetName": "Demo", "modelName": "x",
                   "settings": {"concurrency": 0, "selection": {"categories": ["poetry"]}}}),
            vec![
                "providerName",
                "modelName",
                "settings.concurrency",
                "settings.selection.categories",
            ],
        ),
        (
            json!({"providerName": "Nope", "datasetName": "no-such", "modelName": "x",
                   "settings": {"selection": {"sampleSize": 0}}}),
            vec![
                "providerName",
                "datasetName",
                "settings.selection.sampleSize",
            ],
        ),
        (
            json!({"providerName": "Nope", "datasetName": "Demo", "modelName": "x",
                   "settings": {"concurrency": 0, "generation": {"temperature": 9}}}),
            vec![
                "providerName",
                "settings.concurrency",
                "settings.generation.temperature",
            ],
        ),
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"selection": {"categories": ["poetry"]}}}),
            vec!["settings.selection.categories"],
        ),
        // Too few worked examples, said with the request's other problems.
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"concurrency": 0, "shots": 2, "shotsFrom": {"datasetName": "Val"}}}),
            vec!["settings.concurrency", "settings.shots"],
        ),
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"selection": {"seed": 4}}}),
            vec!["settings.selection.seed"],
        ),
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"selection": {"sampleSize": 2, "seed": 9007199254740992_u64}}}),
            vec!["settings.selection.seed"],
        ),
        (
            json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1",
                   "settings": {"selection": {"sampleSize": 0}, "generation": {"topP": 0, "maxTokens": 0}}}),
            vec![
                "settings.selection.sampleSize",
                "settings.generation.topP",
                "settings.generation.maxTokens",
            ],
        ),
    ];
    for (body, fields) in cases {
        let problem = app.post_json("/runs", &body).await.problem(422);
        let named: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(named, fields, "{body}");
        for field in fields {
            assert!(problem["detail"].as_str().unwrap().contains(field));
        }
        if body["providerName"] == "Browser Harness" {
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("made from captures") && detail.contains("/browser-harness/packs"),
                "a harness run is said how it is made: {detail}"
            );
        }
        if body["providerName"] == "OpenAI" {
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.contains("`OpenAI` has no API key")
                    && detail.contains("EVALBOARD_TEST_UNSET_KEY"),
                "the provider and its variable are named: {detail}"
            );
        }
    }
    // A name that is not there is said with the names that are: a case or a typo shows.
    let unknown = app
        .post_json(
            "/runs",
            &json!({"providerName": "simulated", "datasetName": "demo", "modelName": "sim-1"}),
        )
        .await
        .problem(422);
    let detail = unknown["detail"].as_str().unwrap();
    assert!(
        detail.contains("no provider is named `simulated` (the providers: OpenAI, Simulated)")
            && detail.contains("no dataset is named `demo` (the datasets: Demo, Numbers, Val)"),
        "{detail}"
    );
    // The categories short of examples are named, with what they have.
    let short = app
        .post_json(
            "/runs",
            &shots_from(json!({"shots": 2, "shotsFrom": {"datasetName": "Val"}})),
        )
        .await
        .problem(422);
    let detail = short["detail"].as_str().unwrap();
    assert!(
        detail.contains("need 2 items of each of the run's categories in `Val`")
            && detail.contains("`history` (none), `law` (1), `math` (1)"),
        "{detail}"
    );
    assert_nothing_written(&app.db);
    // Enough in every category of the run's selection: created.
    app.post_json(
        "/runs",
        &shots_from(json!({"shots": 1, "shotsFrom": {"datasetName": "Val"},
                           "selection": {"categories": ["math", "law"]}})),
    )
    .await
    .ok(201);
}

fn assert_nothing_written(db: &TestDatabase) {
    assert!(
        db.list_runs(&RunFilter::default(), None, 10)
            .unwrap()
            .runs
            .is_empty()
    );
    assert!(
        db.events_after(Default::default(), None, 10)
            .unwrap()
            .is_empty()
    );
}

async fn malformed_bodies_are_4xx_with_a_message_and_write_nothing(db: TestDatabase) {
    import(&db, "Demo", &items(5));
    let app = app(db).await;
    let json_post = |body: &str| {
        TestRequest::post()
            .uri("/runs")
            .insert_header(("content-type", "application/json"))
            .set_payload(body.to_owned())
    };
    let cases: Vec<(TestRequest, u16, &str)> = vec![
        (json_post("{\"providerName\": "), 400, "invalid"),
        (json_post("not json"), 400, "invalid"),
        (json_post(""), 400, "invalid"),
        (json_post("[]"), 400, "invalid"),
        (
            json_post(r#"["Simulated", "Demo", "sim-1"]"#),
            400,
            "must be an object, not a list",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": {"selection": [null, null]}}"#,
            ),
            400,
            "settings.selection: must be a JSON object",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": [8]}"#,
            ),
            400,
            "settings: must be a JSON object",
        ),
        (
            json_post(r#"{"providerName": 7, "datasetName": "Demo", "modelName": "sim-1"}"#),
            400,
            "providerName: must be a string, not 7",
        ),
        (
            json_post(r#"{"datasetName": "Demo", "modelName": "sim-1"}"#),
            400,
            "providerName: is required",
        ),
        // A key named twice is refused, not read as its last value (a run of the second
        // provider was created).
        (
            json_post(
                r#"{"providerName": "Nope", "datasetName": "Demo", "modelName": "sim-1", "providerName": "Simulated"}"#,
            ),
            400,
            "the JSON body is invalid: duplicate field `providerName`",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": {"concurrency": 1, "concurrency": 2}}"#,
            ),
            400,
            "duplicate field `concurrency`",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": {"generation": {"maxTokens": "many"}}}"#,
            ),
            400,
            r#"settings.generation.maxTokens: must be a whole number, 0 or more, not "many""#,
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "colour": 1}"#,
            ),
            400,
            "`colour` is not a field here (it takes ",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": {"concurrency": -1}}"#,
            ),
            400,
            "settings.concurrency: must be a whole number, 0 or more, not -1",
        ),
        (
            json_post(
                r#"{"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": {"concurency": 2}}"#,
            ),
            400,
            "`concurency` is not a field here (it takes ",
        ),
        (
            TestRequest::post()
                .uri("/runs")
                .set_payload(r#"{"providerName": "Simulated"}"#),
            415,
            "application/json",
        ),
        (
            TestRequest::post()
                .uri("/runs")
                .insert_header(("content-type", "text/plain"))
                .set_payload("{}"),
            415,
            "application/json",
        ),
        (
            json_post(&format!(
                r#"{{"providerName": "Simulated", "datasetName": "Demo", "modelName": "{}"}}"#,
                "x".repeat(70 * 1024)
            )),
            413,
            "larger than",
        ),
    ];
    for (request, status, message) in cases {
        let problem = app.call(request).await.problem(status);
        assert!(
            problem["detail"].as_str().unwrap().contains(message),
            "expected `{message}` in {problem}"
        );
        // Where the message names a field, so does `errors`.
        if let Some((field, _)) = message.split_once(": ").filter(|(f, _)| !f.contains(' ')) {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
    }
    assert_nothing_written(&app.db);
}

/// `datasetVersion` picks the version a run evaluates (its newest without it); one the dataset
/// does not have, or 0, is a 422 naming the field, said with the body's other problems; a key
/// used without a version and then with one is another request.
async fn a_run_evaluates_the_dataset_version_it_names(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    import(&db, "Demo", &items(5));
    let app = app(db).await;
    let with_version = |version: Value| {
        let mut body = request("Simulated", "Demo", "sim-1");
        body["datasetVersion"] = version;
        body
    };
    let first = app
        .post_json("/runs", &with_version(json!(1)))
        .await
        .ok(201);
    assert_eq!(first["dataset"]["version"], 1);
    assert_eq!(first["progress"]["total"], 3);
    let newest = app
        .post_json("/runs", &request("Simulated", "Demo", "sim-1"))
        .await
        .ok(201);
    assert_eq!(newest["dataset"]["version"], 2);
    assert_eq!(newest["progress"]["total"], 5);
    let problem = app
        .post_json("/runs", &with_version(json!(7)))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "datasetVersion", "{problem}");
    assert!(
        problem["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("has no version 7 (its versions are 1 to 2)"),
        "{problem}"
    );
    // Said beside the body's other problems, in the fields' order.
    let mut both = with_version(json!(7));
    both["settings"] = json!({"concurrency": 0});
    let problem = app.post_json("/runs", &both).await.problem(422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["datasetVersion", "settings.concurrency"],
        "{problem}"
    );
    let problem = app
        .post_json("/runs", &with_version(json!(0)))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "datasetVersion", "{problem}");
    for wrong in [json!(-1), json!("1"), json!(1.5)] {
        let problem = app
            .post_json("/runs", &with_version(wrong.clone()))
            .await
            .problem(400);
        assert_eq!(
            problem["errors"][0]["field"], "datasetVersion",
            "{wrong}: {problem}"
        );
    }
    let keyed = |body: &Value| {
        TestRequest::post()
            .uri("/runs")
            .insert_header(("Idempotency-Key", "versioned"))
            .set_json(body)
    };
    app.call(keyed(&request("Simulated", "Demo", "sim-1")))
        .await
        .ok(201);
    app.call(keyed(&with_version(json!(1)))).await.problem(409);
    assert_eq!(
        app.get("/runs").await.ok(200)["total"],
        3,
        "the refused requests made no run"
    );
}

async fn an_idempotency_key_replays_the_first_run(db: TestDatabase) {
    import(&db, "Demo", &items(5));
    let app = app(db).await;
    let with_key = |key: &str, body: &Value| {
        TestRequest::post()
            .uri("/runs")
            .insert_header(("Idempotency-Key", key.to_owned()))
            .set_json(body)
    };
    let body = request("Simulated", "Demo", "sim-1");
    let first = app.call(with_key("retry-me-1", &body)).await;
    let first_body = first.ok(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = app.call(with_key("retry-me-1", &body)).await;
    assert_eq!(second.ok(201), first_body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.header("location"), first.header("location"));

    let mut same_meaning = body.clone();
    same_meaning["settings"] = json!({"selection": {}});
    let third = app.call(with_key("retry-me-1", &same_meaning)).await;
    assert_eq!(
        third.ok(201),
        first_body,
        "empty settings mean the same request"
    );

    let other = request("Simulated", "Demo", "sim-2");
    let problem = app.call(with_key("retry-me-1", &other)).await.problem(409);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("different request")
    );
    for bad in ["", &"k".repeat(256), "has space", "naïve"] {
        let problem = app.call(with_key(bad, &body)).await.problem(400);
        assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    }
    // Two keys on one request: neither is picked.
    let twice = with_key("twice-1", &body).append_header(("Idempotency-Key", "twice-2"));
    let problem = app.call(twice).await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    let page = app.get("/runs").await.ok(200);
    assert_eq!(
        page["runs"].as_array().unwrap().len(),
        1,
        "one run for all those requests"
    );
}

async fn unknown_runs_are_404(db: TestDatabase) {
    let app = app(db).await;
    let unknown = RunId::generate();
    let problem = app.get(&format!("/runs/{unknown}")).await.problem(404);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(unknown.as_str())
    );
    for bad in [
        "run-123",
        "abc",
        "run-%20",
        &"x".repeat(500),
        "run-0123456789ABCDEF0123456789ABCDEF",
    ] {
        app.get(&format!("/runs/{bad}")).await.problem(404);
    }
}

async fn the_archive_filters_and_pages(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    import(&db, "Other", &items(3));
    let app = app(db).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let dataset = if i < 3 { "Demo" } else { "Other" };
        let model = if i % 2 == 0 { "sim-1" } else { "sim-2" };
        let created = app
            .post_json("/runs", &request("Simulated", dataset, model))
            .await
            .ok(201);
        ids.push(created["run"]["id"].as_str().unwrap().to_owned());
    }
    let running = RunId::parse(&ids[1]).unwrap();
    app.db
        .set_run_status(&running, RunStatus::Running, now())
        .unwrap();

    let mut seen = Vec::new();
    let mut uri = "/runs?limit=2".to_owned();
    loop {
        let page = app.get(&uri).await.ok(200);
        let runs = page["runs"].as_array().unwrap();
        assert!(runs.len() <= 2);
        // Counted on the first page, not on the pages a cursor continues.
        let total = if seen.is_empty() {
            json!(5)
        } else {
            Value::Null
        };
        assert_eq!(page["total"], total, "{uri}");
        seen.extend(
            runs.iter()
                .map(|r| r["run"]["id"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => uri = format!("/runs?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);

    // A cursor the server did not issue — one of the right shape, or an issued one altered —
    // is refused.
    let forged = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("r1|1|{}", ids[0]),
    );
    let issued = app.get("/runs?limit=1").await.ok(200)["nextCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut altered = issued.clone().into_bytes();
    altered[2] = if altered[2] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    for cursor in [forged, altered] {
        let problem = app
            .get(&format!("/runs?cursor={cursor}"))
            .await
            .problem(422);
        assert_eq!(problem["errors"][0]["field"], "cursor", "{cursor}");
    }
    app.get(&format!("/runs?cursor={issued}")).await.ok(200);

    let count = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move {
            app.get(&format!("/runs?{query}")).await.ok(200)["runs"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(count("datasetName=Other").await, 2);
    // The filters' total, whatever the page's size (and on a single page as well).
    for (query, total) in [("limit=1&modelName=sim-1", 3), ("datasetName=Other", 2)] {
        let page = app.get(&format!("/runs?{query}")).await.ok(200);
        assert_eq!(page["total"], total, "{query}");
    }
    assert_eq!(count("modelName=sim-2").await, 2);
    // Part of a name, whatever the case: the model's, the dataset's or the provider's.
    assert_eq!(count("search=SIM-2").await, 2);
    assert_eq!(count("search=oth").await, 2);
    assert_eq!(count("search=simulated").await, 5);
    assert_eq!(count("search=sim&datasetName=Other").await, 2);
    assert_eq!(count("search=%25").await, 0);
    assert_eq!(count("status=running").await, 1);
    assert_eq!(count("status=running,pending").await, 5);
    assert_eq!(count("providerName=OpenAI").await, 0);
    assert_eq!(
        count("providerName=Simulated&datasetName=Demo&modelName=sim-1").await,
        2
    );
    assert_eq!(count("createdFrom=2000-01-01T00:00:00Z").await, 5);
    assert_eq!(count("createdBefore=2000-01-01T00:00:00%2B01:00").await, 0);
    assert_eq!(
        count("createdFrom=2000-01-01T00:00:00+01:00").await,
        5,
        "an unencoded + is read as one"
    );
    // A bare date is its start in UTC; RFC 3339's space for the `T` is read too.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    assert_eq!(count("createdFrom=2000-01-01").await, 5);
    assert_eq!(count(&format!("createdBefore={tomorrow}")).await, 5);
    assert_eq!(count("createdBefore=2000-01-01").await, 0);
    assert_eq!(count("createdFrom=2000-01-01%2000:00:00Z").await, 5);
    assert_eq!(count("createdFrom=2000-01-01%2000:00:00+01:00").await, 5);
    // RFC 3339's years outside those a run is created in bound as the nearest of them.
    assert_eq!(count("createdFrom=0000-01-01T00:00:00Z").await, 5);
    assert_eq!(count("createdBefore=0000-12-31").await, 0);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("status=done", "status"),
        ("status=running,", "status"),
        ("createdFrom=yesterday", "createdFrom"),
        ("createdFrom=2026-02-30", "createdFrom"),
        ("createdBefore=2026-2-3", "createdBefore"),
        ("createdBefore=2026-13-01T00:00:00Z", "createdBefore"),
        ("datasetName=", "datasetName"),
        ("search=", "search"),
        ("search=a%0Ab", "search"),
    ] {
        let problem = app.get(&format!("/runs?{query}")).await.problem(400);
        assert_eq!(problem["errors"][0]["field"], field, "{query}");
    }
    let problem = app.get("/runs?cursor=abc").await.problem(422);
    assert_eq!(problem["errors"][0]["field"], "cursor");
    // Empty is out of the parameter's range (minLength 1), as on every listing with a cursor.
    for path in ["/runs", "/runs/run-00000000000000000000000000000000/items"] {
        let problem = app.get(&format!("{path}?cursor=")).await.problem(400);
        assert_eq!(problem["errors"][0]["field"], "cursor", "{path}");
    }
    let problem = app.get("/runs?sort=asc").await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "sort");

    // Sorted: the oldest first, and by accuracy over the judged items either way (runs with
    // nothing judged last, newest first), page after page, and in the CSV alike.
    for (index, correct, incorrect) in [(0, 2, 1), (3, 3, 0), (4, 0, 1)] {
        let run = RunId::parse(&ids[index]).unwrap();
        app.db
            .set_run_status(&run, RunStatus::Running, now())
            .unwrap();
        for (to, sequences) in [
            (ItemState::Running, 1..=correct + incorrect),
            (ItemState::Awaiting, 1..=correct + incorrect),
            (ItemState::Correct, 1..=correct),
            (ItemState::Incorrect, correct + 1..=correct + incorrect),
        ] {
            app.move_items(&ids[index], sequences, to);
        }
    }
    for (sort, expected) in [
        ("createdAt", [0, 1, 2, 3, 4]),
        ("-createdAt", [4, 3, 2, 1, 0]),
        ("-accuracy", [3, 0, 4, 2, 1]),
        ("accuracy", [4, 0, 3, 2, 1]),
    ] {
        let expected: Vec<&str> = expected.iter().map(|&i| ids[i].as_str()).collect();
        let mut seen = Vec::new();
        let mut uri = format!("/runs?limit=2&sort={sort}");
        loop {
            let page = app.get(&uri).await.ok(200);
            seen.extend(
                page["runs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["run"]["id"].as_str().unwrap().to_owned()),
            );
            match page["nextCursor"].as_str() {
                Some(cursor) => uri = format!("/runs?limit=2&sort={sort}&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{sort}");
        let csv = app.get(&format!("/runs?format=csv&sort={sort}")).await;
        let rows: Vec<String> = csv::Reader::from_reader(&csv.body[..])
            .records()
            .map(|row| row.unwrap()[0].to_owned())
            .collect();
        assert_eq!(rows, expected, "{sort} (CSV)");
    }
}

/// A page cursor continues the listing that gave it, and no other: sent with another run,
/// another grouping or other filters it would start at a position of another listing and
/// silently skip or repeat items, so it is refused (docs/api.md).
async fn a_cursor_pages_only_the_listing_that_gave_it(db: TestDatabase) {
    import(&db, "Demo", &items(9));
    let app = app(db).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = app
            .post_json("/runs", &request("Simulated", "Demo", "sim-1"))
            .await
            .ok(201);
        ids.push(created["run"]["id"].as_str().unwrap().to_owned());
    }
    let next = |page: Value| page["nextCursor"].as_str().unwrap().to_owned();
    let refused = |uri: String| {
        let app = &app;
        async move {
            let problem = app.get(&uri).await.problem(422);
            assert_eq!(problem["errors"][0]["field"], "cursor", "{uri}");
        }
    };

    // Items: the cursor of a page of run 0's items, grouped by category.
    let (a, b) = (&ids[0], &ids[1]);
    let cursor = next(app.get(&format!("/runs/{a}/items?limit=2")).await.ok(200));
    let second = app
        .get(&format!("/runs/{a}/items?limit=2&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    refused(format!("/runs/{b}/items?limit=2&cursor={cursor}")).await;
    refused(format!("/runs/{a}/items?groupBy=none&cursor={cursor}")).await;
    refused(format!("/runs/{a}/items?groupBy=state&cursor={cursor}")).await;
    refused(format!("/runs/{a}/items?category=law&cursor={cursor}")).await;
    // The page size is not part of the listing.
    app.get(&format!("/runs/{a}/items?limit=5&cursor={cursor}"))
        .await
        .ok(200);

    // Logs: entries are numbered across runs, so a cursor stays with its run.
    let cursor = next(app.get(&format!("/runs/{a}/logs?limit=1")).await.ok(200));
    app.get(&format!("/runs/{a}/logs?cursor={cursor}"))
        .await
        .ok(200);
    app.get(&format!("/runs/{a}/logs?level=warn&cursor={cursor}"))
        .await
        .ok(200);
    refused(format!("/runs/{b}/logs?cursor={cursor}")).await;

    // The archive: a cursor is a position among the runs its filters select.
    let cursor = next(app.get("/runs?limit=1&modelName=sim-1").await.ok(200));
    let rest = app
        .get(&format!("/runs?limit=5&modelName=sim-1&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(rest["runs"].as_array().unwrap().len(), 2);
    refused(format!("/runs?cursor={cursor}")).await;
    refused(format!(
        "/runs?status=running&modelName=sim-1&cursor={cursor}"
    ))
    .await;
    // ... and in the order they were listed in.
    refused(format!(
        "/runs?modelName=sim-1&sort=createdAt&cursor={cursor}"
    ))
    .await;
    refused(format!(
        "/runs?modelName=sim-1&sort=-accuracy&cursor={cursor}"
    ))
    .await;
    let by_accuracy = next(
        app.get("/runs?limit=1&modelName=sim-1&sort=accuracy")
            .await
            .ok(200),
    );
    refused(format!(
        "/runs?modelName=sim-1&sort=-accuracy&cursor={by_accuracy}"
    ))
    .await;
    refused(format!("/runs?modelName=sim-1&cursor={by_accuracy}")).await;
}

/// A query parameter the endpoint does not take, or one it needs and did not get, is named in
/// the problem's `errors`, in words rather than the parser's.
async fn query_problems_name_the_parameter(db: TestDatabase) {
    let app = app(db).await;
    let problem = app.get("/runs?foo=bar").await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "foo");
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("is not a parameter of this endpoint (it takes ")
            && detail.contains("status"),
        "{detail}"
    );
    assert!(
        !problem["detail"].as_str().unwrap().contains("deserialize"),
        "{problem}"
    );
    let problem = app.get("/runs/compare").await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "runIds");
    assert_eq!(problem["errors"][0]["detail"], "is required");
    let problem = app.get("/runs?limit=1&limit=2").await.problem(400);
    assert_eq!(problem["errors"][0]["field"], "limit");
    // Lists that take no parameter say so, rather than answer as if a filter applied.
    for path in ["/datasets?name=quiz", "/providers?kind=openai"] {
        let problem = app.get(path).await.problem(400);
        assert_eq!(
            problem["errors"][0]["detail"], "is not a parameter of this endpoint",
            "{path}: {problem}"
        );
    }
    app.get("/datasets").await.ok(200);
}

/// Every endpoint the OpenAPI document lists refuses a query parameter it does not take with a
/// 400 naming it, before it reads a body or writes anything — but the health checks and the
/// published documents, which monitors and caches call with parameters of their own
/// (docs/api.md).
async fn every_endpoint_refuses_a_parameter_it_does_not_take(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let app = app(db).await;
    let run = app.create_run("Demo", json!({})).await;
    let lenient = [
        "/healthz",
        "/readyz",
        "/browser-harness/schemas/capture-bundle.v1.json",
        "/browser-harness/schemas/pack-payload.v1.json",
    ];
    let document = evalboard_api::openapi_json();
    let document: Value = serde_json::from_str(&document).unwrap();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        let uri = path.replace("{run_id}", &run).replace("{sequence}", "1") + "?foo=1";
        for method in operations.as_object().unwrap().keys() {
            let request = match method.as_str() {
                "get" => TestRequest::get().uri(&uri),
                // A body that would be taken (a run's settings): the parameter decides alone.
                "post" => json_post(&uri).set_payload(
                    json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1"})
                        .to_string(),
                ),
                "delete" => TestRequest::delete().uri(&uri),
                other => panic!("{other} {path}: a method this test does not send"),
            };
            let reply = app.call(request).await;
            if lenient.contains(&path.as_str()) {
                assert_eq!(reply.status.as_u16(), 200, "{method} {uri}");
                continue;
            }
            let problem = reply.problem(400);
            assert_eq!(
                problem["errors"][0]["field"], "foo",
                "{method} {uri}: {problem}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} operations checked");
    // Nothing was created by the `POST /runs` refused.
    let runs = app.get("/runs").await.ok(200);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
}

api_tests!(
    every_endpoint_refuses_a_parameter_it_does_not_take,
    query_problems_name_the_parameter,
    a_cursor_pages_only_the_listing_that_gave_it,
    a_created_run_reads_back_through_every_endpoint,
    unknown_provider_model_dataset_or_bad_settings_are_422_and_write_nothing,
    malformed_bodies_are_4xx_with_a_message_and_write_nothing,
    an_idempotency_key_replays_the_first_run,
    a_run_evaluates_the_dataset_version_it_names,
    unknown_runs_are_404,
    the_archive_filters_and_pages,
);
