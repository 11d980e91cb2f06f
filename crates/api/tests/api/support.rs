//! The test harness: an app over a fresh database, a request helper, and fixtures.

use std::collections::BTreeMap;

use actix_web::{
    body::MessageBody,
    dev::{Service, ServiceResponse},
    http::{StatusCode, header::HeaderMap},
    test,
};
use evalboard_api::{AppState, HarnessKeys};
use evalboard_domain::{AnswerKey, DatasetItem, DatasetName, ItemState, RunId, truncate_to_micros};
use evalboard_harness::PackSigner;
use evalboard_persistence::{DatasetImport, ItemTransition, testing::TestDatabase};
use evalboard_runner::{
    EngineConfig, EngineHandle, ProviderConfig, ProviderKind, ProviderRegistry,
    providers::ClientSet,
};
use serde_json::Value;

/// Declares each listed `async fn(TestDatabase)` as a test on SQLite and on PostgreSQL.
macro_rules! api_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(evalboard_persistence::testing::TestDatabase::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    if let Some(db) = evalboard_persistence::testing::TestDatabase::postgres() {
                        super::$name(db).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use api_tests;

/// The bounds helpers taking a `TestApp` need of its service.
macro_rules! app_bounds {
    () => {
        impl actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
        >
    };
}
pub(crate) use app_bounds;

fn provider_defaults() -> ProviderConfig {
    ProviderConfig {
        name: String::new(),
        kind: ProviderKind::Simulated,
        base_url: None,
        api_key_env: None,
        models: Vec::new(),
        prices: Default::default(),
        max_concurrency: None,
        requests_per_minute: None,
        tokens_per_minute: None,
        max_attempts: None,
        max_throttled_attempts: None,
        max_throttled_secs: None,
        max_response_mib: None,
        timeouts: Default::default(),
    }
}

/// The providers every API test sees.
pub(crate) fn registry() -> ProviderRegistry {
    let configs = BTreeMap::from([
        (
            "simulated".to_owned(),
            ProviderConfig {
                name: "Simulated".into(),
                kind: ProviderKind::Simulated,
                base_url: None,
                api_key_env: None,
                models: vec!["sim-1".into(), "sim-2".into()],
                // sim-2 has a price, sim-1 has none.
                prices: BTreeMap::from([(
                    "sim-2".to_owned(),
                    evalboard_domain::ModelPrice {
                        input_per_mtok: 1.0,
                        output_per_mtok: 2.0,
                    },
                )]),
                ..provider_defaults()
            },
        ),
        (
            "openai".to_owned(),
            ProviderConfig {
                name: "OpenAI".into(),
                kind: ProviderKind::OpenaiCompatible,
                base_url: Some("https://api.openai.com/v1".into()),
                api_key_env: Some("EVALBOARD_TEST_UNSET_KEY".into()),
                models: vec!["gpt-4.1".into()],
                ..provider_defaults()
            },
        ),
    ]);
    ProviderRegistry::from_config(&configs, |_| false).unwrap()
}

/// The key every test app signs Browser Harness packs with.
pub(crate) fn signing_key() -> PackSigner {
    PackSigner::from_seed(&[0x11; 32])
}

/// A key rotated out before the tests: its packs still import.
pub(crate) fn retired_key() -> PackSigner {
    PackSigner::from_seed(&[0x22; 32])
}

pub(crate) fn harness_keys() -> HarnessKeys {
    HarnessKeys::new(signing_key(), [retired_key().public_key()])
}

/// What came back.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and returns the document.
    #[track_caller]
    pub(crate) fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let problem = self.json();
        assert_eq!(problem["status"], status);
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:evalboard:problem:")
        );
        assert!(!problem["title"].as_str().unwrap().is_empty());
        assert!(!problem["detail"].as_str().unwrap().is_empty());
        problem
    }

    /// Asserts a JSON success with this status and returns the body.
    #[track_caller]
    pub(crate) fn ok(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }
}

/// An application over a database, with the engine when the test runs one.
pub(crate) struct TestApp<S> {
    pub(crate) service: S,
    pub(crate) db: TestDatabase,
    pub(crate) engine: Option<EngineHandle>,
}

pub(crate) async fn app(
    db: TestDatabase,
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let state = AppState::new((*db).clone(), registry()).with_harness(harness_keys());
    let service = test::init_service(evalboard_api::app(state)).await;
    TestApp {
        service,
        db,
        engine: None,
    }
}

/// An application with an engine working its runs (Simulated provider, quick polls).
pub(crate) async fn app_with_engine(
    db: TestDatabase,
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    app_with_engine_configured(db, |_| {}).await
}

/// [`app_with_engine`], with its engine's configuration changed by `configure` first.
pub(crate) async fn app_with_engine_configured(
    db: TestDatabase,
    configure: impl FnOnce(&mut EngineConfig),
) -> TestApp<
    impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
> {
    let registry = std::sync::Arc::new(registry());
    let mut config = EngineConfig::new("api-test-worker");
    config.poll_every = std::time::Duration::from_millis(20);
    config.retry_base_delay = std::time::Duration::from_millis(5);
    configure(&mut config);
    let engine = EngineHandle::start(
        (*db).clone(),
        std::sync::Arc::clone(&registry),
        ClientSet::from_registry(&registry),
        config,
    );
    let state = AppState::new((*db).clone(), registry)
        .with_engine(engine.signal())
        .with_harness(harness_keys());
    let service = test::init_service(evalboard_api::app(state)).await;
    TestApp {
        service,
        db,
        engine: Some(engine),
    }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub(crate) async fn call(&self, request: test::TestRequest) -> Reply {
        let response = test::call_service(&self.service, request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = test::read_body(response).await.to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Polls `uri` (every 20 ms, at most 15 s) until `done` holds for its JSON.
    pub(crate) async fn wait_until(&self, uri: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let body = self.get(uri).await.json();
            if done(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{uri} never got there: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Stops the engine, if any.
    pub(crate) async fn stop(self) {
        if let Some(engine) = self.engine {
            engine.shutdown().await;
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> Reply {
        self.call(test::TestRequest::get().uri(uri)).await
    }

    pub(crate) async fn post_json(&self, uri: &str, body: &Value) -> Reply {
        self.call(test::TestRequest::post().uri(uri).set_json(body))
            .await
    }

    /// Creates a run on the Simulated provider and returns its id.
    pub(crate) async fn create_run(&self, dataset: &str, settings: Value) -> String {
        let body = serde_json::json!({
            "providerName": "Simulated",
            "datasetName": dataset,
            "modelName": "sim-1",
            "settings": settings,
        });
        let created = self.post_json("/runs", &body).await.ok(201);
        created["run"]["id"].as_str().unwrap().to_owned()
    }

    /// Moves items of a run the way the engine will.
    pub(crate) fn move_items(
        &self,
        run: &str,
        sequences: impl IntoIterator<Item = u32>,
        to: ItemState,
    ) {
        let transitions: Vec<ItemTransition> = sequences
            .into_iter()
            .map(|sequence| ItemTransition { sequence, to })
            .collect();
        self.db
            .transition_items(&RunId::parse(run).unwrap(), &transitions, now())
            .unwrap();
    }
}

/// A `POST` that says it sends JSON (`Content-Type: application/json`, which tells the server no
/// page on another site sent it); without a body until one is set, as for a cancel.
pub(crate) fn json_post(uri: &str) -> test::TestRequest {
    test::TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", "application/json"))
}

pub(crate) fn now() -> evalboard_domain::Timestamp {
    truncate_to_micros(chrono::Utc::now())
}

/// `n` items across three categories, answers cycling A, B, C.
pub(crate) fn items(n: usize) -> Vec<DatasetItem> {
    let categories = ["math", "law", "history"];
    (0..n)
        .map(|i| DatasetItem {
            id: format!("q{i}"),
            category: categories[i % 3].to_owned(),
            question: format!("Which option best describes item {i}?"),
            choices: vec!["A".into(), "B".into(), "C".into(), "D".into()],
            answer: AnswerKey::from_index(i % 3).unwrap().into(),
            explanation: None,
            source: None,
        })
        .collect()
}

pub(crate) fn import(db: &TestDatabase, name: &str, items: &[DatasetItem]) {
    db.import_dataset(DatasetImport {
        name: &DatasetName::parse(name).unwrap(),
        items,
        at: now(),
    })
    .unwrap();
}

/// Whether a string is an RFC 3339 UTC timestamp with whole seconds and `Z`, as the spec shows.
pub(crate) fn is_api_time(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Whether a string is an RFC 3339 UTC timestamp with milliseconds and `Z`, as events and
/// streaming activity write them.
pub(crate) fn is_millis_time(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    s.len() == 24
        && s.as_bytes()[19] == b'.'
        && s[20..23].bytes().all(|b| b.is_ascii_digit())
        && s.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Posts `body` as a capture bundle to a bare service; the status and JSON answer.
pub(crate) async fn bundle_reply<S, B>(service: &S, body: &Value) -> (u16, Value)
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let request = test::TestRequest::post()
        .uri("/browser-harness/imports")
        .set_json(body)
        .to_request();
    let response = test::call_service(service, request).await;
    let status = response.status().as_u16();
    let body = test::read_body(response).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
