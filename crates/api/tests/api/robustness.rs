//! Providers, health, unknown routes and methods, a battery of bad requests that must never be a
//! 5xx, and the committed OpenAPI document.

use actix_web::test::TestRequest;
use evalboard_persistence::testing::TestDatabase;
use serde_json::json;

use crate::support::{api_tests, app, import, items};

async fn providers_are_listed_without_secrets(db: TestDatabase) {
    let app = app(db).await;
    let providers = app.get("/providers").await.ok(200);
    assert_eq!(
        providers,
        json!([
            {"name": "OpenAI", "kind": "openai-compatible", "simulated": false, "models": ["gpt-4.1"], "credentials": "missing"},
            {"name": "Simulated", "kind": "simulated", "simulated": true, "models": ["sim-1", "sim-2"], "credentials": "notRequired"}
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

async fn unknown_routes_are_404_and_wrong_methods_405(db: TestDatabase) {
    let app = app(db).await;
    app.get("/nope").await.problem(404);
    app.get("/runs/run-0123/logs/extra").await.problem(404);
    let reply = app.call(TestRequest::delete().uri("/runs")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET, POST"));
    let reply = app.call(TestRequest::put().uri("/runs/active")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET"));
    let reply = app.call(TestRequest::post().uri("/providers")).await;
    reply.problem(405);
    assert_eq!(reply.header("allow"), Some("GET"));
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
    providers_are_listed_without_secrets,
    health_and_readiness,
    unknown_routes_are_404_and_wrong_methods_405,
    no_bad_request_is_a_server_error,
);
