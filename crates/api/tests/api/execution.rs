//! Runs executed by the engine, observed and controlled over HTTP: live activity, cancel,
//! retry, logs and item drill-down.

use evalboard_persistence::testing::TestDatabase;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{
    api_tests, app_with_engine, import, is_api_time, is_millis_time, items, json_post,
};

fn run_request(settings: Value) -> Value {
    json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1", "settings": settings})
}

async fn watch_cancel_and_retry_a_slow_run(db: TestDatabase) {
    import(&db, "Demo", &items(10));
    let app = app_with_engine(db).await;
    let created = app
        .post_json(
            "/runs",
            &run_request(json!({"concurrency": 2, "simulated": {"latencyMs": 4000}})),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();

    // The board shows the item streaming, with its activity.
    let board = app
        .wait_until("/runs/active", |b| {
            b[0]["currentItem"]["activity"]["chunkCount"].as_u64() > Some(0)
        })
        .await;
    let current = &board[0]["currentItem"];
    assert_eq!(current["state"], "running");
    // The drill-down of the streaming item: the same `promptText` as the board, and the prompt
    // sent, while the answer is still coming.
    let sequence = current["sequence"].as_u64().unwrap();
    // (The send is stored by the engine's writer a moment after the stream begins.)
    let running = app
        .wait_until(
            &format!("/runs/{id}/items?groupBy=none&state=running"),
            |page| {
                page["items"].as_array().is_some_and(|items| {
                    items
                        .iter()
                        .any(|i| i["sequence"] == sequence && i["renderedPrompt"].is_string())
                })
            },
        )
        .await;
    let item = running["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sequence"] == sequence)
        .unwrap();
    assert_eq!(item["promptText"], current["promptText"]);
    // Items claimed ahead of their turn are queued, not in flight: no start, no attempt yet.
    let queued: Vec<&Value> = running["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["timings"]["startedAt"].is_null())
        .collect();
    assert!(!queued.is_empty(), "{running}");
    for item in queued {
        assert_eq!(item["attempts"], json!([]), "{item}");
    }
    assert!(
        item["renderedPrompt"]
            .as_str()
            .unwrap()
            .contains(current["promptText"].as_str().unwrap())
    );
    assert!(item["responseText"].is_null());
    let activity = &current["activity"];
    assert_eq!(activity["attempt"], 1);
    assert!(
        activity["preview"]
            .as_str()
            .unwrap()
            .starts_with("Let's think")
    );
    assert!(activity["receivedChars"].as_u64().unwrap() > 0);
    // Chunk times carry milliseconds, as events do.
    assert!(
        is_millis_time(&activity["firstChunkAt"]) && is_millis_time(&activity["lastChunkAt"]),
        "{activity}"
    );

    // A cancel takes no field: a body that is not JSON, has a field or is too large is refused
    // (and cancels nothing), where it used to be ignored.
    let cancel = |body: String| json_post(&format!("/runs/{id}/cancel")).set_payload(body);
    for (body, status) in [
        ("this is not json {{{".to_owned(), 400),
        (r#"{"reason": "x"}"#.to_owned(), 400),
        ("[]".to_owned(), 400),
        (format!("{{\"x\": \"{}\"}}", "a".repeat(70 * 1024)), 413),
    ] {
        app.call(cancel(body.clone())).await.problem(status);
        let run = app.get(&format!("/runs/{id}")).await.ok(200);
        assert!(
            run["lifecycle"]["cancelRequestedAt"].is_null(),
            "{body:.40}: {run}"
        );
    }
    let reply = app.call(cancel("{}".to_owned())).await;
    let canceling = reply.ok(202);
    assert!(is_api_time(&canceling["lifecycle"]["cancelRequestedAt"]));
    let done = app
        .wait_until(&format!("/runs/{id}"), |r| r["run"]["status"] == "canceled")
        .await;
    assert_eq!(done["progress"]["faulted"], 10);
    assert_eq!(done["canceled"], 10);
    // Only what was sent (at most the run's concurrency, 2) ended with a canceled attempt: the
    // items claimed ahead of their turn were never sent, and have none.
    let page = app
        .get(&format!("/runs/{id}/items?groupBy=none&limit=50"))
        .await
        .ok(200);
    let mut with_attempt = 0;
    for item in page["items"].as_array().unwrap() {
        let outcomes: Vec<&str> = item["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["outcome"].as_str().unwrap())
            .collect();
        match outcomes.as_slice() {
            [] => assert_eq!(item["attemptCount"], 0, "{item}"),
            ["canceled"] => with_attempt += 1,
            other => panic!("{other:?}: {item}"),
        }
    }
    assert!(
        (1..=2).contains(&with_attempt),
        "{with_attempt} canceled attempts"
    );
    app.call(json_post(&format!("/runs/{id}/cancel")))
        .await
        .problem(409);

    let retry = |body: &'static str| json_post(&format!("/runs/{id}/retry")).set_payload(body);
    app.call(retry(r#"{"scope": "some"}"#)).await.problem(400);
    app.call(retry(r#"{"scope": "all", "x": 1}"#))
        .await
        .problem(400);
    let retried = app.call(retry("")).await.ok(202);
    assert_eq!(retried["run"]["status"], "pending");
    assert_eq!(retried["retryCount"], 1);
    assert_eq!(retried["progress"]["pending"], 10);
    assert!(retried["lifecycle"]["cancelRequestedAt"].is_null());
    app.call(retry(r#"{"scope": "all"}"#)).await.problem(409);
    // Cancel again so the slow run does not outlive the test.
    app.call(json_post(&format!("/runs/{id}/cancel")))
        .await
        .ok(202);
    app.wait_until(&format!("/runs/{id}"), |r| r["run"]["status"] == "canceled")
        .await;

    let unknown = "run-0123456789abcdef0123456789abcdef";
    app.call(json_post(&format!("/runs/{unknown}/cancel")))
        .await
        .problem(404);
    app.call(json_post(&format!("/runs/{unknown}/retry")))
        .await
        .problem(404);
    app.stop().await;
}

/// An item's error is its outcome's: a judged item whose earlier attempt failed shows none (the
/// attempt keeps it); a failed item shows why.
async fn an_items_error_belongs_to_its_attempt(db: TestDatabase) {
    import(&db, "Demo", &items(30));
    let app = app_with_engine(db).await;
    let settings = json!({"concurrency": 8, "maxAttempts": 2,
        "simulated": {"faultRate": 0.5, "seed": 5}});
    let created = app.post_json("/runs", &run_request(settings)).await.ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    app.wait_until(&format!("/runs/{id}"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    let page = app
        .get(&format!("/runs/{id}/items?groupBy=none&limit=200"))
        .await
        .ok(200);
    let items = page["items"].as_array().unwrap();
    let recovered: Vec<&Value> = items
        .iter()
        .filter(|i| i["verdict"].is_string() && i["attempts"][0]["outcome"] == "error")
        .collect();
    assert!(!recovered.is_empty(), "some item needed a second attempt");
    for item in recovered {
        assert!(item["error"].is_null(), "{item}");
        assert_eq!(item["attempts"][0]["error"]["kind"], "server_error");
    }
    let failed: Vec<&Value> = items.iter().filter(|i| i["state"] == "failed").collect();
    assert!(!failed.is_empty(), "some item failed twice");
    for item in failed {
        assert_eq!(item["error"]["kind"], "server_error", "{item}");
    }
    app.stop().await;
}

async fn drill_down_into_items_and_logs(db: TestDatabase) {
    import(&db, "Demo", &items(30));
    let app = app_with_engine(db).await;
    let settings = json!({"concurrency": 8, "maxAttempts": 1,
        "simulated": {"faultRate": 0.3, "unparsedRate": 0.2, "accuracy": 0.6, "seed": 11}});
    let created = app.post_json("/runs", &run_request(settings)).await.ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    let run = app
        .wait_until(&format!("/runs/{id}"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    let progress = &run["progress"];
    assert!(progress["faulted"].as_u64().unwrap() > 0, "{progress}");
    assert_eq!(run["canceled"], 0, "failed items are not canceled ones");

    // Groups by category cover every item, with strict accuracy.
    let page = app.get(&format!("/runs/{id}/items")).await.ok(200);
    assert_eq!(page["groupBy"], "category");
    let groups = page["groups"].as_array().unwrap();
    let keys: Vec<&str> = groups.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["history", "law", "math"]);
    let total: u64 = groups
        .iter()
        .map(|g| g["progress"]["total"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 30);
    for group in groups {
        let p = &group["progress"];
        let judged = p["correct"].as_u64().unwrap() + p["incorrect"].as_u64().unwrap();
        let expected = p["correct"].as_f64().unwrap() / judged as f64;
        assert!(
            (group["accuracy"].as_f64().unwrap() - expected).abs() < 1e-9,
            "{group}"
        );
    }

    // Every item in order of (category, sequence), across pages.
    let mut seen = Vec::new();
    let mut uri = format!("/runs/{id}/items?limit=7");
    loop {
        let page = app.get(&uri).await.ok(200);
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["category"].as_str().unwrap().to_owned(),
                item["sequence"].as_u64().unwrap(),
            ));
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => uri = format!("/runs/{id}/items?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen.len(), 30);
    assert_eq!(seen, sorted);

    // A judged item carries everything.
    let judged = app
        .get(&format!(
            "/runs/{id}/items?groupBy=none&state=correct&limit=1"
        ))
        .await
        .ok(200);
    let item = &judged["items"][0];
    assert_eq!(item["state"], "correct");
    assert_eq!(item["verdict"], "correct");
    assert_eq!(item["extractedAnswer"], item["expectedAnswer"]);
    assert_eq!(item["extractionTier"], "answer_is");
    assert_eq!(item["judge"], "choice");
    // `promptText` is the question, as on the board; the text sent is `renderedPrompt`.
    assert_eq!(item["promptText"], item["question"]);
    let rendered = item["renderedPrompt"].as_str().unwrap();
    assert!(rendered.ends_with("Answer: Let's think step by step.\n\n"));
    assert!(rendered.contains(item["question"].as_str().unwrap()));
    assert!(
        item["responseText"]
            .as_str()
            .unwrap()
            .contains("The answer is")
    );
    assert_eq!(item["choices"].as_array().unwrap().len(), 4);
    assert_eq!(item["attempts"][0]["outcome"], "answered");
    assert_eq!(item["verdicts"].as_array().unwrap().len(), 1);
    let timings = &item["timings"];
    for field in [
        "queuedAt",
        "startedAt",
        "answeredAt",
        "judgedAt",
        "finishedAt",
    ] {
        assert!(is_api_time(&timings[field]), "{field}: {timings}");
    }
    assert!(timings["latencyMs"].as_i64().unwrap() >= 0);
    // The answered attempt ended with its answer, not when the writer stored it: the two
    // latencies side by side on the run page agree.
    assert_eq!(item["attempts"][0]["finishedAt"], timings["answeredAt"]);
    assert_eq!(item["attempts"][0]["latencyMs"], timings["latencyMs"]);
    assert!(item["usage"]["promptTokens"].as_u64().unwrap() > 0);

    // Filters.
    let failed = app
        .get(&format!(
            "/runs/{id}/items?groupBy=state&state=failed,canceled"
        ))
        .await
        .ok(200);
    assert_eq!(failed["groups"].as_array().unwrap().len(), 1);
    assert_eq!(failed["groups"][0]["key"], "failed");
    assert_eq!(
        failed["groups"][0]["progress"]["total"],
        progress["faulted"]
    );
    assert_eq!(failed["items"][0]["error"]["kind"], "server_error");
    assert!(failed["items"][0]["verdict"].is_null());
    let law = app
        .get(&format!("/runs/{id}/items?category=law&groupBy=none"))
        .await
        .ok(200);
    assert_eq!(law["groups"][0]["key"], "all");
    assert!(
        law["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["category"] == "law")
    );

    let every = app
        .get(&format!("/runs/{id}/items?groupBy=none&limit=200"))
        .await
        .ok(200);
    let every = every["items"].as_array().unwrap();
    // One item found by its dataset item's id (as the comparison names it); an id no item of
    // the run has finds nothing.
    let wanted = &every[every.len() / 2];
    let found = app
        .get(&format!(
            "/runs/{id}/items?groupBy=none&datasetItemId={}",
            wanted["datasetItemId"].as_str().unwrap()
        ))
        .await
        .ok(200);
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["sequence"], wanted["sequence"]);
    let none = app
        .get(&format!("/runs/{id}/items?datasetItemId=no-such-id"))
        .await
        .ok(200);
    assert_eq!(none["items"], json!([]));
    // The unparsed count agrees with the items.
    let unparsed = every
        .iter()
        .filter(|i| i["extractionTier"] == "unparsed")
        .count();
    assert!(unparsed > 0);
    assert_eq!(run["unparsed"], unparsed);

    for bad in [
        "groupBy=model",
        "state=done",
        "limit=0",
        "limit=201",
        "category=",
        "state=failed,%20canceled",
        "sequence=01",
        "sequence=%2B1",
        "sequence=1000000000",
        "datasetItemId=",
        "x=1",
    ] {
        app.get(&format!("/runs/{id}/items?{bad}"))
            .await
            .problem(400);
    }
    // Well-formed, but not a cursor this server issued.
    app.get(&format!("/runs/{id}/items?cursor=abc"))
        .await
        .problem(422);
    // A category none of the run's items is in (a miscased one) is refused, naming the run's,
    // rather than listing nothing without a word; an unknown run stays a 404.
    let problem = app
        .get(&format!("/runs/{id}/items?category=law,Law"))
        .await
        .problem(422);
    assert_eq!(problem["errors"][0]["field"], "category");
    let detail = problem["errors"][0]["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("no item of this run is in category `Law` (its categories: ")
            && detail.contains("law"),
        "{detail}"
    );
    app.get("/runs/run-0123456789abcdef0123456789abcdef/items?category=Law")
        .await
        .problem(404);
    app.get("/runs/run-0123456789abcdef0123456789abcdef/items")
        .await
        .problem(404);

    // Logs: levels, one item, paging.
    let all = app.get(&format!("/runs/{id}/logs?limit=500")).await.ok(200);
    let entries = all["logs"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["message"].as_str().unwrap().starts_with("run created"))
    );
    let errors = app
        .get(&format!("/runs/{id}/logs?level=error&limit=500"))
        .await
        .ok(200);
    let errors = errors["logs"].as_array().unwrap();
    assert_eq!(errors.len() as u64, progress["faulted"].as_u64().unwrap());
    assert!(
        errors
            .iter()
            .all(|e| e["level"] == "error" && e["sequence"].is_u64())
    );
    let one = app
        .get(&format!("/runs/{id}/logs?sequence=1"))
        .await
        .ok(200);
    assert!(
        one["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["sequence"] == 1)
    );
    let first = app.get(&format!("/runs/{id}/logs?limit=2")).await.ok(200);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = app
        .get(&format!("/runs/{id}/logs?limit=2&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(second["logs"][0]["id"], entries[2]["id"]);
    // Newest first, page by page back to the first entry: the same entries in reverse, the
    // last page without a cursor; an oldest-first cursor continues no newest-first listing.
    let mut backwards = Vec::new();
    let mut back: Option<String> = None;
    loop {
        let page = app
            .get(&format!(
                "/runs/{id}/logs?order=newest&limit=7{}",
                back.as_ref()
                    .map(|c| format!("&cursor={c}"))
                    .unwrap_or_default()
            ))
            .await
            .ok(200);
        backwards.extend(
            page["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => back = Some(next.to_owned()),
            None => break,
        }
    }
    let forwards: Vec<Value> = entries.iter().map(|e| e["id"].clone()).rev().collect();
    assert_eq!(backwards, forwards);
    let newest_errors = app
        .get(&format!(
            "/runs/{id}/logs?order=newest&level=error&limit=500"
        ))
        .await
        .ok(200);
    assert_eq!(
        newest_errors["logs"].as_array().unwrap().len(),
        errors.len()
    );
    app.get(&format!("/runs/{id}/logs?order=newest&cursor={cursor}"))
        .await
        .problem(422);
    for bad in [
        "order=latest",
        "level=loud",
        "limit=501",
        "sequence=0",
        "sequence=x",
        "sequence=4294967296",
    ] {
        app.get(&format!("/runs/{id}/logs?{bad}"))
            .await
            .problem(400);
    }
    app.get(&format!("/runs/{id}/logs?cursor=abc"))
        .await
        .problem(422);
    // The documented maximum is a sequence like any other (no such item: nothing logged).
    app.get(&format!("/runs/{id}/logs?sequence=4294967295"))
        .await
        .ok(200);
    app.get("/runs/run-0123456789abcdef0123456789abcdef/logs")
        .await
        .problem(404);
    app.stop().await;
}

/// The events of a finished `text/event-stream` body, as (event, data) pairs.
async fn sse_events(body: &[u8]) -> Vec<(String, Value)> {
    let body = actix_web::web::Bytes::copy_from_slice(body);
    evalboard_api::testing::sse_events(futures_util::stream::iter([Ok::<
        _,
        std::convert::Infallible,
    >(body)]))
    .map(|event| (event.event, serde_json::from_str(&event.data).unwrap()))
    .collect()
    .await
}

async fn follow_an_items_answer_as_it_streams(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    // An answer waits this long for others to join its write: the stream must not say `ended`
    // before the answer is stored, or a client reading the item then finds no answer.
    let app = crate::support::app_with_engine_configured(db, |config| {
        config.commit_window = std::time::Duration::from_millis(600);
    })
    .await;
    let id = app
        .create_run(
            "Demo",
            json!({"concurrency": 1, "simulated": {"latencyMs": 1500}}),
        )
        .await;
    let board = app
        .wait_until("/runs/active", |b| {
            b[0]["currentItem"]["activity"]["chunkCount"].as_u64() > Some(0)
        })
        .await;
    let sequence = board[0]["currentItem"]["sequence"].as_u64().unwrap();

    // The stream lasts while the item streams, and ends with `item_end`.
    let reply = app
        .get(&format!("/runs/{id}/items/{sequence}/stream"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = sse_events(&reply.body).await;
    let (last, texts) = events.split_last().unwrap();
    assert_eq!(last.0, "item_end");
    assert_eq!(last.1, json!({"reason": "ended"}));
    assert!(texts.len() >= 2, "the text came in pieces: {events:?}");
    assert!(texts.iter().all(|(name, _)| name == "item_text"));
    // The whole text so far first, then what follows it.
    let replaces: Vec<bool> = texts
        .iter()
        .map(|(_, data)| data["replace"].as_bool().unwrap())
        .collect();
    assert!(
        replaces[0] && replaces[1..].iter().all(|r| !r),
        "{replaces:?}"
    );
    assert!(texts.iter().all(|(_, data)| data["attempt"] == 1));
    let streamed: String = texts
        .iter()
        .map(|(_, data)| data["text"].as_str().unwrap())
        .collect();
    assert!(streamed.starts_with("Let's think"), "{streamed}");
    let received = texts.last().unwrap().1["receivedChars"].as_u64().unwrap();
    assert_eq!(received, streamed.chars().count() as u64);

    // Once it ended, the item holds its answer; what streamed is the stored response (or its
    // beginning: the last chunks may arrive between two looks and the item's end).
    let page = app
        .get(&format!(
            "/runs/{id}/items?groupBy=none&sequence={sequence}"
        ))
        .await
        .ok(200);
    assert_ne!(page["items"][0]["state"], "running", "{page}");
    let response = page["items"][0]["responseText"].as_str().unwrap();
    assert!(response.starts_with(&streamed), "{response} / {streamed}");

    // An item not streaming here (this one, now finished) ends at once.
    let reply = app
        .get(&format!("/runs/{id}/items/{sequence}/stream"))
        .await;
    assert_eq!(
        sse_events(&reply.body).await,
        vec![(
            "item_end".to_owned(),
            json!({"reason": "not_streaming_here"})
        )]
    );
    for missing in [
        format!("/runs/{id}/items/99/stream"),
        format!("/runs/{id}/items/0/stream"),
        format!("/runs/{id}/items/first/stream"),
        "/runs/run-0123456789abcdef0123456789abcdef/items/1/stream".to_owned(),
    ] {
        app.get(&missing).await.problem(404);
    }
    app.post_json(&format!("/runs/{id}/cancel"), &json!({}))
        .await
        .ok(202);
    app.stop().await;
}

api_tests!(
    follow_an_items_answer_as_it_streams,
    watch_cancel_and_retry_a_slow_run,
    drill_down_into_items_and_logs,
    an_items_error_belongs_to_its_attempt,
);
