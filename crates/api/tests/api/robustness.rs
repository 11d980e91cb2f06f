//! Providers, health, unknown routes and methods, a battery of bad requests that must never be a
//! 5xx, and the committed OpenAPI document.

use actix_web::{http::Method, test::TestRequest};
use evalboard_persistence::testing::TestDatabase;
use serde_json::json;

use crate::support::{api_tests, app, import, items, json_post};

async fn providers_are_listed_without_secrets(db: TestDatabase) {
    let app = app(db).await;
    let providers = app.get("/providers").await.ok(200);
    assert_eq!(
        providers,
        json!([
            {"name": "OpenAI", "kind": "openai-compatible", "simulated": false, "models": ["gpt-4.1"], "credentials": "missing", "prices": {}},
            {"name": "Simulated", "kind": "simulated", "simulated": true, "models": ["sim-1", "sim-2"], "credentials": "notRequired",
             "prices": {"sim-2": {"inputPerMtok": 1.0, "outputPerMtok": 2.0}}}
        ])
    );
}

async fn health_and_readiness(db: TestDatabase) {
    let backend = db.backend().as_str();
    let app = app(db).await;
    assert_eq!(app.get("/healthz").await.ok(200), json!({"status": "ok"}));
    assert_eq!(
        app.get("/readyz").await.ok(200),
        json!({"status": "ready", "database": backend})
    );
}

/// A compressed body is not read as if it were plain: 415, and nothing is written.
async fn encoded_bodies_are_refused(db: TestDatabase) {
    let app = app(db).await;
    let gzip_of_run = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xab, 0xae, 0x05, 0x00, 0x43,
        0xbf, 0xa6, 0xa3, 0x02, 0x00, 0x00, 0x00,
    ];
    for (uri, content_type) in [
        ("/runs", "application/json"),
        ("/datasets?name=zipped&format=jsonl", "application/jsonl"),
        ("/browser-harness/imports", "application/json"),
    ] {
        for encoding in ["gzip", "br", "identity, gzip"] {
            let reply = app
                .call(
                    TestRequest::post()
                        .uri(uri)
                        .insert_header(("content-type", content_type))
                        .insert_header(("content-encoding", encoding))
                        .set_payload(gzip_of_run.to_vec()),
                )
                .await;
            let problem = reply.problem(415);
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("Content-Encoding"),
                "{uri} {encoding}: {problem}"
            );
        }
    }
    // `identity` is no encoding at all.
    let reply = app
        .call(
            TestRequest::post()
                .uri("/runs")
                .insert_header(("content-type", "application/json"))
                .insert_header(("content-encoding", "identity"))
                .set_payload("{}"),
        )
        .await;
    reply.problem(400);
    assert!(
        app.get("/runs").await.ok(200)["runs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        app.get("/datasets")
            .await
            .ok(200)
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// A query string whose percent-encoding is not UTF-8 is refused, not read with U+FFFD in
/// place of its bytes (an archive filtered on a name nobody asked for, answering 200).
async fn undecodable_query_strings_are_refused(db: TestDatabase) {
    let app = app(db).await;
    for uri in [
        "/runs?modelName=%FF%FE",
        "/runs?datasetName=caf%C3",
        "/runs/events?runId=%80",
        "/datasets?%FF",
    ] {
        let problem = app.get(uri).await.problem(400);
        assert!(
            problem["detail"].as_str().unwrap().contains("not UTF-8"),
            "{uri}: {problem}"
        );
    }
    // Encoded UTF-8 is as good as ever.
    app.get("/runs?modelName=caf%C3%A9").await.ok(200);
}

/// Every answer, success or problem, names its request by an id of its own.
async fn every_response_carries_a_request_id(db: TestDatabase) {
    let app = app(db).await;
    let mut ids = std::collections::HashSet::new();
    for path in ["/healthz", "/runs", "/runs/not-a-run", "/no-such-route"] {
        let reply = app.get(path).await;
        // And is read as what it says it is (a refusal echoing input too).
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        let id = reply
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{path}: no id"));
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
        assert!(ids.insert(id.to_owned()), "{path}: {id} was given before");
    }
}

async fn unknown_routes_are_404_and_wrong_methods_405(db: TestDatabase) {
    let app = app(db).await;
    app.get("/nope").await.problem(404);
    app.get("/runs/run-0123/logs/extra").await.problem(404);
    let reply = app.call(TestRequest::delete().uri("/runs")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD, POST"));
    let reply = app.call(TestRequest::put().uri("/runs/active")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    let reply = app.call(TestRequest::post().uri("/providers")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, HEAD"));
    // HEAD is routed wherever GET is; where GET is not, the 405 names the method sent.
    let reply = app
        .call(
            TestRequest::default()
                .method(Method::HEAD)
                .uri("/providers"),
        )
        .await;
    assert_eq!(reply.status, 200);
    let reply = app
        .call(
            TestRequest::default()
                .method(Method::HEAD)
                .uri("/runs/run-0123/cancel"),
        )
        .await;
    let problem = reply.problem(405);
    assert_eq!(reply.header("allow"), Some("POST"));
    assert!(
        problem["detail"].as_str().unwrap().starts_with("HEAD "),
        "{problem}"
    );
    let openapi = app.get("/openapi.json").await.ok(200);
    assert_eq!(openapi["info"]["title"], "evalboard");
}

async fn no_bad_request_is_a_server_error(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let app = app(db).await;
    let huge = "9".repeat(400);
    let uris = [
        "/runs?limit=-5",
        "/runs?cursor=%FF%FE",
        "/runs?createdFrom=%00",
        "/runs?status=%E2%9C%93",
        "/runs?providerName=%FF",
        "/runs?providerName=%00",
        "/runs?datasetName=a%00b&modelName=%07",
        "/runs?createdFrom=0000-01-01T00:00:00Z",
        "/runs?cursor=djF8LTQ2MTE2ODYwMTg0MjczODc5MDR8cnVuLTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm",
        &format!("/runs?limit={huge}"),
        "/runs/active?limit=%00",
        "/runs/active?limit=1&limit=2",
        "/runs/%00",
        "/runs/run-..%2F..%2Fetc",
        "/datasets?x=1",
        "/%E2%9C%93",
    ];
    for uri in uris {
        let reply = app.get(uri).await;
        assert!(
            reply.status.is_client_error() || reply.status.is_success(),
            "{uri}: {}",
            reply.status
        );
    }
    let bodies: [&[u8]; 10] = [
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"a\\u0000b\", \"modelName\": \"sim-1\"}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": {\"selection\": {\"categories\": [\"\\u0000\"]}}}",
        b"\xff\xfe",
        b"{\"providerName\": \"\\ud800\"}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": null}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": {\"selection\": {\"sampleSize\": 99999999999}}}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": {\"selection\": {\"seed\": -1, \"sampleSize\": 1}}}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": {\"generation\": {\"temperature\": 1e999}}}",
        b"{\"providerName\": \"\", \"datasetName\": \"\", \"modelName\": \"\"}",
        b"{\"providerName\": \"Simulated\", \"datasetName\": \"Demo\", \"modelName\": \"sim-1\", \"settings\": {\"selection\": {\"categories\": []}}}",
    ];
    for body in bodies {
        let reply = app
            .call(
                TestRequest::post()
                    .uri("/runs")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(body.to_vec()),
            )
            .await;
        assert!(
            reply.status.is_client_error() || reply.status.as_u16() == 201,
            "{}: {}",
            String::from_utf8_lossy(body),
            reply.status
        );
    }
    // Pack requests with hostile names: a clear 4xx, never a database error.
    let packs: [&[u8]; 4] = [
        b"{\"datasetName\": \"a\\u0000b\", \"target\": \"t\"}",
        b"{\"datasetName\": \"a\\u0000b\", \"target\": \"\\u0000\"}",
        b"{\"datasetName\": \"Demo\", \"target\": \"t\", \"selection\": {\"categories\": [\"\\u0000\"]}}",
        b"{\"datasetName\": \"\\ud800\", \"target\": \"t\"}",
    ];
    for body in packs {
        let reply = app
            .call(
                TestRequest::post()
                    .uri("/browser-harness/packs")
                    .insert_header(("content-type", "application/json"))
                    .set_payload(body.to_vec()),
            )
            .await;
        assert!(
            reply.status.is_client_error(),
            "{}: {}",
            String::from_utf8_lossy(body),
            reply.status
        );
    }
    // An unreadable Content-Type is not taken for a missing one.
    let reply = app
        .call(
            TestRequest::post()
                .uri("/browser-harness/imports")
                .insert_header((
                    "content-type",
                    actix_web::http::header::HeaderValue::from_bytes(b"application/\xffjson")
                        .unwrap(),
                ))
                .set_payload("{}"),
        )
        .await;
    assert_eq!(reply.status.as_u16(), 415);
    for body in [
        b"\x00\x01\x02".to_vec(),
        vec![b'{'; 10_000],
        "a,b\n\"unterminated".into(),
    ] {
        for content_type in ["text/csv", "application/jsonl"] {
            let reply = app
                .call(
                    TestRequest::post()
                        .uri("/datasets?name=Fuzz")
                        .insert_header(("content-type", content_type))
                        .set_payload(body.clone()),
                )
                .await;
            assert!(
                reply.status.is_client_error(),
                "{content_type}: {}",
                reply.status
            );
        }
    }
}

async fn no_bad_request_to_run_endpoints_is_a_server_error(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let app = app(db).await;
    let created = app
        .post_json(
            "/runs",
            &json!({"providerName": "Simulated", "datasetName": "Demo", "modelName": "sim-1"}),
        )
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    for query in [
        "items?state=%00",
        "items?category=%00",
        "items?category=a,,b",
        "items?cursor=%00",
        "items?limit=1e3",
        "items?groupBy=",
        "items?state=running&state=failed",
        "logs?level=%00",
        "logs?sequence=-1",
        "logs?sequence=99999999999",
        "logs?cursor=bDF8eA",
    ] {
        let reply = app.get(&format!("/runs/{id}/{query}")).await;
        assert!(reply.status.is_client_error(), "{query}: {}", reply.status);
        reply.problem(reply.status.as_u16());
    }
    // A value a query parameter does not take is said in the API's words.
    let reply = app.get("/runs/events?view=wall").await;
    let problem = reply.problem(400);
    assert_eq!(
        problem["detail"],
        "view: must be exact or board, not `wall`"
    );
    assert_eq!(problem["errors"][0]["field"], "view", "{problem}");
    // Undecodable text is refused, not read as replacement characters.
    for query in ["items?category=%FF", "logs?level=%FF"] {
        app.get(&format!("/runs/{id}/{query}")).await.problem(400);
    }
    let retry = |body: Vec<u8>| json_post(&format!("/runs/{id}/retry")).set_payload(body);
    for body in [
        b"\xff".to_vec(),
        b"{\"scope\": 1}".to_vec(),
        b"[]".to_vec(),
        b"5".to_vec(),
    ] {
        let reply = app.call(retry(body.clone())).await;
        assert_eq!(
            reply.status.as_u16(),
            400,
            "{}",
            String::from_utf8_lossy(&body)
        );
        reply.problem(400);
    }
    // `null` is the defaults, as an empty body is: read, then refused only because the run
    // has not finished.
    let reply = app.call(retry(b"null".to_vec())).await;
    reply.problem(409);
    app.call(retry(vec![b' '; 70 * 1024])).await.problem(413);
    app.call(retry(Vec::new())).await.problem(409);
    // Nothing is in flight without an engine: the cancel ends the run at once.
    let canceled = app
        .call(json_post(&format!("/runs/{id}/cancel")))
        .await
        .ok(202);
    assert_eq!(canceled["run"]["status"], "canceled");
    assert_eq!(canceled["progress"]["faulted"], 3);
    assert_eq!(canceled["canceled"], 3, "told apart from failures");
    app.call(json_post(&format!("/runs/{id}/cancel")))
        .await
        .problem(409);
    for path in [
        "/runs/%00/cancel",
        "/runs/run-x/retry",
        "/runs/..%2F/items",
        "/runs/%FF/logs",
    ] {
        let reply = app.call(TestRequest::post().uri(path)).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        let reply = app.get(path).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
    }
}

#[test]
fn the_committed_openapi_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == evalboard_api::openapi_json(),
        "{} is stale: run `cargo xtask openapi` and commit the result",
        path.display()
    );
}

api_tests!(
    encoded_bodies_are_refused,
    no_bad_request_to_run_endpoints_is_a_server_error,
    providers_are_listed_without_secrets,
    health_and_readiness,
    every_response_carries_a_request_id,
    undecodable_query_strings_are_refused,
    unknown_routes_are_404_and_wrong_methods_405,
    no_bad_request_is_a_server_error,
);
