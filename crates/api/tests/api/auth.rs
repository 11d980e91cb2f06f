//! Who may call the API: tokens and their roles, the dashboard's session cookie, run logs that
//! name the token behind each change, and the browser's other doors (requests a page on another
//! site can send, rebound host names, CORS).

use actix_web::{
    HttpMessage,
    test::{self, TestRequest},
};
use std::time::Duration;

use evalboard_api::{Access, AccessToken, AppState, EventHub, EventStreamConfig, Role};
use evalboard_domain::RunId;
use evalboard_persistence::testing::TestDatabase;
use serde_json::{Value, json};

use crate::support::{
    TestApp, api_tests, app, app_bounds, harness_keys, import, items, json_post, registry,
};

/// Secrets of one token per role.
struct Tokens {
    viewer: String,
    operator: String,
    admin: String,
}

/// An app whose requests need one of three tokens (one per role).
async fn guarded(
    db: TestDatabase,
    access: impl FnOnce(Vec<AccessToken>) -> Access,
) -> (TestApp<app_bounds!()>, Tokens) {
    let (viewer, viewer_token) = AccessToken::generate("alice", Role::Viewer);
    let (operator, operator_token) = AccessToken::generate("ci", Role::Operator);
    let (admin, admin_token) = AccessToken::generate("root", Role::Admin);
    let state = AppState::new((*db).clone(), registry())
        .with_harness(harness_keys())
        .with_access(access(vec![viewer_token, operator_token, admin_token]));
    let service = test::init_service(evalboard_api::app(state)).await;
    let app = TestApp {
        service,
        db,
        engine: None,
    };
    (
        app,
        Tokens {
            viewer,
            operator,
            admin,
        },
    )
}

fn bearer(request: TestRequest, token: &str) -> TestRequest {
    request.insert_header(("authorization", format!("Bearer {token}")))
}

fn create_body() -> Value {
    json!({"providerName": "Simulated", "datasetName": "Quiz", "modelName": "sim-1"})
}

const JSONL: &str = r#"{"question_id": 1, "question": "2 + 2 = ?", "options": ["3", "4"], "answer": "B", "answer_index": 1, "cot_content": "", "category": "math", "src": "t"}
"#;

fn upload() -> TestRequest {
    TestRequest::post()
        .uri("/datasets?name=Uploaded")
        .insert_header(("content-type", "application/jsonl"))
        .set_payload(JSONL)
}

async fn tokens_and_their_roles_guard_every_route(db: TestDatabase) {
    import(&db, "Quiz", &items(3));
    let (app, tokens) = guarded(db, Access::with_tokens).await;

    // Nobody: 401 with a problem that says what to do, on reads and changes alike.
    let refused = app.get("/runs").await;
    let problem = refused.problem(401);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("evalboard token create")
    );
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"evalboard\"")
    );
    app.post_json("/runs", &create_body()).await.problem(401);
    app.get("/runs/events").await.problem(401);
    // A token this server does not know, none, or another scheme; each said as it is.
    let unknown = app
        .call(bearer(TestRequest::get().uri("/runs"), "evb_not-a-token"))
        .await
        .problem(401);
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("is not one this server accepts"),
        "{unknown}"
    );
    let empty = app
        .call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("authorization", "Bearer")),
        )
        .await
        .problem(401);
    assert!(
        empty["detail"].as_str().unwrap().contains("holds no token"),
        "{empty}"
    );
    // Asking who is signed in with a wrong token says the token is wrong, not "not signed in".
    let who = app
        .call(bearer(
            TestRequest::get().uri("/auth/session"),
            "evb_not-a-token",
        ))
        .await
        .problem(401);
    assert!(
        who["detail"]
            .as_str()
            .unwrap()
            .contains("is not one this server accepts"),
        "{who}"
    );
    // Any whitespace after the scheme, as HTTP allows.
    let tabbed = TestRequest::get()
        .uri("/runs")
        .insert_header(("authorization", format!("Bearer\t{}", tokens.viewer)));
    app.call(tabbed).await.ok(200);
    app.call(
        TestRequest::get()
            .uri("/runs")
            .insert_header(("authorization", format!("Basic {}", tokens.admin))),
    )
    .await
    .problem(401);
    // Two: whichever one counted, a proxy reading the other would act for another token.
    for (first, second) in [
        (&tokens.viewer, &tokens.admin),
        (&tokens.admin, &tokens.viewer),
    ] {
        let twice = app
            .call(
                upload()
                    .append_header(("authorization", format!("Bearer {first}")))
                    .append_header(("authorization", format!("Bearer {second}"))),
            )
            .await
            .problem(400);
        assert!(
            twice["detail"]
                .as_str()
                .unwrap()
                .contains("2 Authorization headers"),
            "{twice}"
        );
    }

    // What anyone may fetch: health, the document, the dashboard (its sign-in screen) — with
    // a proxy's Basic credentials too.
    for public in ["/healthz", "/readyz", "/openapi.json", "/ui/"] {
        assert_eq!(app.get(public).await.status, 200, "{public}");
        let through_proxy = TestRequest::get()
            .uri(public)
            .insert_header(("authorization", "Basic dXNlcjpwYXNz"));
        assert_eq!(app.call(through_proxy).await.status, 200, "{public}");
        // A probe or a proxy with a stale token is not locked out of what is public.
        let stale = bearer(TestRequest::get().uri(public), "evb_not-a-token");
        assert_eq!(app.call(stale).await.status, 200, "{public}");
    }

    // A viewer reads and changes nothing.
    let listed = app
        .call(bearer(TestRequest::get().uri("/runs"), &tokens.viewer))
        .await;
    assert_eq!(listed.ok(200)["runs"], json!([]));
    let forbidden = app
        .call(bearer(
            TestRequest::post().uri("/runs").set_json(create_body()),
            &tokens.viewer,
        ))
        .await
        .problem(403);
    assert!(
        forbidden["detail"]
            .as_str()
            .unwrap()
            .contains("`alice` is a viewer"),
        "{forbidden}"
    );
    // The refusal is the token's request, for the request log and the rate limits.
    let refused = test::call_service(
        &app.service,
        bearer(
            TestRequest::post().uri("/runs").set_json(create_body()),
            &tokens.viewer,
        )
        .to_request(),
    )
    .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused
            .request()
            .extensions()
            .get::<evalboard_api::Actor>()
            .and_then(|actor| actor.name.clone())
            .as_deref(),
        Some("alice")
    );

    // What no route serves is a 404 or 405 for a viewer too, not a role it would need.
    let deleted = app
        .call(bearer(TestRequest::delete().uri("/runs/x"), &tokens.viewer))
        .await;
    assert_eq!(deleted.header("allow"), Some("GET, HEAD"));
    deleted.problem(405);
    app.call(bearer(
        TestRequest::post().uri("/nonexistent").set_json(json!({})),
        &tokens.viewer,
    ))
    .await
    .problem(404);
    // A token sent without its scheme is told so.
    let bare = app
        .call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("authorization", tokens.viewer.as_str())),
        )
        .await
        .problem(401);
    assert!(
        bare["detail"]
            .as_str()
            .unwrap()
            .contains("without its scheme"),
        "{bare}"
    );

    // An operator runs evaluations, but uploads no dataset.
    let created = app
        .call(bearer(
            TestRequest::post().uri("/runs").set_json(create_body()),
            &tokens.operator,
        ))
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    // A bearer token is what no page can attach by itself: it exempts a text body.
    app.call(bearer(
        TestRequest::post()
            .uri(&format!("/runs/{id}/cancel"))
            .insert_header(("content-type", "text/plain")),
        &tokens.operator,
    ))
    .await
    .ok(202);
    let refused = app
        .call(bearer(upload(), &tokens.operator))
        .await
        .problem(403);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("`ci` is an operator; this request needs the admin role"),
        "{refused}"
    );
    // The path as the router reads it: percent-encoding changes nothing.
    for path in ["/dataset%73?name=Uploaded", "/%64atasets?name=Uploaded"] {
        let encoded = TestRequest::post()
            .uri(path)
            .insert_header(("content-type", "application/jsonl"))
            .set_payload(JSONL);
        app.call(bearer(encoded, &tokens.operator))
            .await
            .problem(403);
    }
    assert_eq!(
        app.db.list_datasets().unwrap().len(),
        1,
        "nothing was uploaded"
    );

    // An administrator does both.
    app.call(bearer(upload(), &tokens.admin)).await.ok(201);
    assert_eq!(app.db.list_datasets().unwrap().len(), 2);

    // An idempotency key is each token's own: another token's request with the same key is
    // another request, and the first token's repeat still gets its run.
    let keyed = |token: &str| {
        bearer(
            TestRequest::post()
                .uri("/runs")
                .insert_header(("idempotency-key", "nightly-1"))
                .set_json(create_body()),
            token,
        )
    };
    let by_operator = app.call(keyed(&tokens.operator)).await.ok(201);
    let by_admin = app.call(keyed(&tokens.admin)).await;
    assert_eq!(by_admin.header("idempotent-replayed"), None);
    assert_ne!(by_admin.ok(201)["run"]["id"], by_operator["run"]["id"]);
    let again = app.call(keyed(&tokens.operator)).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.ok(201)["run"]["id"], by_operator["run"]["id"]);
}

/// During a rotation two tokens share their holder's name: the same holder, the same keys.
async fn a_rotated_token_keeps_its_holders_idempotency_keys(db: TestDatabase) {
    import(&db, "Quiz", &items(3));
    let (old, old_token) = AccessToken::generate("ci", Role::Operator);
    let (new, new_token) = AccessToken::generate("ci", Role::Operator);
    let state = AppState::new((*db).clone(), registry())
        .with_harness(harness_keys())
        .with_access(Access::with_tokens(vec![old_token, new_token]));
    let app = TestApp {
        service: test::init_service(evalboard_api::app(state)).await,
        db,
        engine: None,
    };
    let keyed = |token: &str| {
        bearer(
            TestRequest::post()
                .uri("/runs")
                .insert_header(("idempotency-key", "nightly-1"))
                .set_json(create_body()),
            token,
        )
    };
    let first = app.call(keyed(&old)).await.ok(201);
    let again = app.call(keyed(&new)).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.ok(201)["run"]["id"], first["run"]["id"]);
}

async fn the_dashboard_signs_in_with_a_session_cookie(db: TestDatabase) {
    let (app, tokens) = guarded(db, Access::with_tokens).await;
    app.get("/auth/session").await.problem(401);
    let wrong = app
        .post_json("/auth/session", &json!({"token": "evb_wrong"}))
        .await;
    wrong.problem(401);
    assert!(wrong.header("set-cookie").is_none());
    app.post_json(
        "/auth/session",
        &json!({"token": tokens.viewer, "extra": 1}),
    )
    .await
    .problem(400);
    // A token pasted with the `Bearer ` it was copied with (from a header, a curl command).
    app.post_json(
        "/auth/session",
        &json!({"token": format!(" Bearer {}\n", tokens.viewer)}),
    )
    .await
    .ok(200);

    let signed_in = app
        .post_json("/auth/session", &json!({"token": tokens.viewer}))
        .await;
    let cookie = signed_in.header("set-cookie").unwrap().to_owned();
    // Named for the installation: `evalboard_session_` and 12 hex digits.
    let name = cookie.split('=').next().unwrap().to_owned();
    let id = name.strip_prefix("evalboard_session_").unwrap();
    assert!(
        id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(
        !cookie.contains(&tokens.viewer),
        "the cookie does not hold the token"
    );
    let session = signed_in.ok(200);
    assert_eq!(
        (
            session["open"].as_bool(),
            &session["name"],
            &session["role"]
        ),
        (Some(false), &json!("alice"), &json!("viewer"))
    );
    assert!(session["expiresAt"].is_string());

    let value = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |request: TestRequest| request.insert_header(("cookie", value.clone()));
    let me = app
        .call(with_cookie(TestRequest::get().uri("/auth/session")))
        .await
        .ok(200);
    assert_eq!(me["name"], "alice");
    app.call(with_cookie(TestRequest::get().uri("/runs")))
        .await
        .ok(200);
    // An empty `Bearer` (a script's unset variable) is no credential: the session still counts.
    app.call(with_cookie(
        TestRequest::get()
            .uri("/runs")
            .insert_header(("authorization", "Bearer ")),
    ))
    .await
    .ok(200);
    // Behind a proxy that asks for its own (Basic) credentials, the browser sends them with
    // every request: they are not for this server, and the session still counts.
    let behind_proxy = |request: TestRequest| {
        with_cookie(request).insert_header(("authorization", "Basic dXNlcjpwYXNz"))
    };
    app.call(behind_proxy(TestRequest::get().uri("/runs")))
        .await
        .ok(200);
    // A Bearer token that is not this server's is refused, cookie or not.
    app.call(
        with_cookie(TestRequest::get().uri("/runs"))
            .insert_header(("authorization", "Bearer evb_not-a-token")),
    )
    .await
    .problem(401);
    // The session has the token's role: a viewer's session changes nothing.
    app.call(with_cookie(
        TestRequest::post().uri("/runs").set_json(create_body()),
    ))
    .await
    .problem(403);
    // The event stream takes the cookie (this app serves no stream: 503, not 401).
    assert_eq!(
        app.call(with_cookie(TestRequest::get().uri("/runs/events")))
            .await
            .status,
        503
    );
    // An altered cookie is nobody's; the refusal says the session ended, not that a token is
    // needed.
    let altered = format!("{value}x");
    let ended = app
        .call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("cookie", altered)),
        )
        .await
        .problem(401);
    assert!(
        ended["detail"]
            .as_str()
            .unwrap()
            .contains("your dashboard session has ended"),
        "{ended}"
    );
    // Another cookie of the same name sent first (set by a sibling domain's page, say) does
    // not hide the session, nor does a pair the cookie grammar does not allow (one without a
    // name, a script wrote).
    for header in [
        format!("{name}=planted; {value}"),
        // Another installation's (another server on this host) is no business of this one.
        format!("evalboard_session_0123456789ab=other; {value}"),
        format!("=orphan; {value}; theme=dark"),
    ] {
        app.call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("cookie", header)),
        )
        .await
        .ok(200);
    }

    // Only another installation's cookie: not a session here, and not said to have ended.
    let foreign = app
        .call(TestRequest::get().uri("/runs").insert_header((
            "cookie",
            format!(
                "evalboard_session_0123456789ab={}",
                &value[name.len() + 1..]
            ),
        )))
        .await
        .problem(401);
    assert!(
        foreign["detail"]
            .as_str()
            .unwrap()
            .contains("this server needs a token"),
        "{foreign}"
    );

    let signed_out = app.call(TestRequest::delete().uri("/auth/session")).await;
    assert_eq!(signed_out.status, 204);
    let cleared = signed_out.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with(&format!("{name}=;")) && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

async fn run_logs_name_the_token_behind_each_change(db: TestDatabase) {
    import(&db, "Quiz", &items(3));
    let (app, tokens) = guarded(db, Access::with_tokens).await;
    let created = app
        .call(bearer(
            TestRequest::post().uri("/runs").set_json(create_body()),
            &tokens.operator,
        ))
        .await
        .ok(201);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    app.call(bearer(
        json_post(&format!("/runs/{id}/cancel")),
        &tokens.admin,
    ))
    .await
    .ok(202);
    app.call(bearer(
        TestRequest::post()
            .uri(&format!("/runs/{id}/retry"))
            .set_json(json!({"scope": "all"})),
        &tokens.operator,
    ))
    .await
    .ok(202);
    let log = app
        .db
        .run_logs(&RunId::parse(&id).unwrap(), None, 100)
        .unwrap();
    let messages: Vec<&str> = log.iter().map(|e| e.message.as_str()).collect();
    for expected in [
        "run created by token `ci`:",
        "cancel requested by token `root`",
        "retry of 3 finished item(s) by token `ci`",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{expected} in {messages:#?}"
        );
    }
}

async fn posts_a_page_on_another_site_could_send_are_refused(db: TestDatabase) {
    import(&db, "Quiz", &items(3));
    let app = app(db).await;
    let id = app.create_run("Quiz", json!({})).await;
    let cancel = || TestRequest::post().uri(&format!("/runs/{id}/cancel"));
    // A form, text or nothing at all: what a page on any site can send without a preflight;
    // and whatever else is not JSON (`application/csp-report` a browser sends by itself).
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/csp-report"),
        Some("text/csv"),
        Some("application/octet-stream"),
        Some("text/json"),
    ] {
        let mut request = cancel();
        if let Some(content_type) = content_type {
            request = request.insert_header(("content-type", content_type));
        }
        let problem = app.call(request).await.problem(415);
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let text_upload = TestRequest::post()
        .uri("/datasets?name=Sneaky&format=jsonl")
        .insert_header(("content-type", "text/plain"))
        .set_payload(JSONL);
    // An upload is told the types an upload takes.
    let problem = app.call(text_upload).await.problem(415);
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("an upload must name its type (`Content-Type: text/csv`")
            && detail.contains("`application/octet-stream` with `format=`"),
        "{detail}"
    );
    assert_eq!(
        app.db.list_datasets().unwrap().len(),
        1,
        "nothing was imported"
    );
    let run = app.get(&format!("/runs/{id}")).await.ok(200);
    assert_eq!(run["run"]["status"], "pending", "nothing was canceled");

    // JSON (an empty body where the request has none) passes.
    let canceled = app
        .call(cancel().insert_header(("content-type", "application/json")))
        .await
        .ok(202);
    assert_eq!(canceled["run"]["status"], "canceled");
    // Percent-encoding the path changes nothing.
    let encoded = TestRequest::post()
        .uri("/dataset%73?name=Sneaky&format=jsonl")
        .insert_header(("content-type", "text/plain"))
        .set_payload(JSONL);
    app.call(encoded).await.problem(415);
    // An Authorization header a browser may attach by itself (a proxy's Basic, say) is no sign
    // of a client that asked: on a server that checks no token, nothing exempts a text body.
    let retry = |authorization: &str| {
        TestRequest::post()
            .uri(&format!("/runs/{id}/retry"))
            .insert_header(("content-type", "text/plain"))
            .insert_header(("authorization", authorization.to_owned()))
            .set_payload(r#"{"scope":"all"}"#)
    };
    app.call(retry("Bearer anything")).await.problem(415);
    app.call(retry("Basic dXNlcjpwYXNz")).await.problem(415);
    assert_eq!(
        app.db.list_datasets().unwrap().len(),
        1,
        "nothing was imported"
    );
    // Where no route takes the POST, the answer stays the 404 or 405 it was.
    app.call(TestRequest::post().uri("/providers"))
        .await
        .problem(405);
    app.call(TestRequest::post().uri("/nowhere"))
        .await
        .problem(404);
}

async fn an_open_server_on_loopback_answers_to_its_own_names_only(db: TestDatabase) {
    let (app, _) = guarded(db, |_| {
        Access::open().with_allowed_hosts(vec!["evalboard.example".into()])
    })
    .await;
    let with_host = |host: &str| {
        TestRequest::get()
            .uri("/runs")
            .insert_header(("host", host.to_owned()))
    };
    for host in [
        "127.0.0.1:8080",
        "localhost:8080",
        "[::1]:8080",
        "evalboard.example",
    ] {
        app.call(with_host(host)).await.ok(200);
    }
    // A page whose own name now resolves to 127.0.0.1 (DNS rebinding) sends its name.
    let refused = app
        .call(with_host("attacker.example:8080"))
        .await
        .problem(421);
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("attacker.example")
    );
    let sneaky = with_host("attacker.example").insert_header(("x-forwarded-host", "localhost"));
    app.call(sneaky).await.problem(421);
}

async fn cors_lets_the_configured_origins_read(db: TestDatabase) {
    let (app, _) = guarded(db, |_| {
        Access::open().with_cors_origins(vec!["https://dash.example".into()])
    })
    .await;
    let preflight = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/runs")
        .insert_header(("origin", "https://dash.example"))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header((
            "access-control-request-headers",
            "content-type, authorization",
        ));
    let answered = app.call(preflight).await;
    assert_eq!(answered.status, 200);
    assert_eq!(
        answered.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    // HEAD is answered wherever GET is, across origins too.
    let head = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/healthz")
        .insert_header(("origin", "https://dash.example"))
        .insert_header(("access-control-request-method", "HEAD"))
        .insert_header(("access-control-request-headers", "authorization"));
    assert_eq!(app.call(head).await.status, 200);
    let allowed = app
        .call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("origin", "https://dash.example")),
        )
        .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://dash.example")
    );
    // A page on that origin may read the request's id (and the other headers it needs).
    let exposed = allowed
        .header("access-control-expose-headers")
        .unwrap_or_default();
    for needed in [
        "x-request-id",
        "location",
        // `GET /runs/active`'s position, to open the stream from without a gap.
        "last-event-id",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(needed), "{needed}: {exposed}");
    }
    let other = app
        .call(
            TestRequest::get()
                .uri("/runs")
                .insert_header(("origin", "https://other.example")),
        )
        .await;
    assert_eq!(
        other.status, 200,
        "served, but the browser will not let the page read it"
    );
    assert_eq!(other.header("access-control-allow-origin"), None);

    // Without configured origins no preflight is answered.
    let (closed, _) = guarded(TestDatabase::sqlite(), |_| Access::open()).await;
    let preflight = TestRequest::default()
        .method(actix_web::http::Method::OPTIONS)
        .uri("/runs")
        .insert_header(("origin", "https://dash.example"))
        .insert_header(("access-control-request-method", "POST"));
    let refused = closed.call(preflight).await;
    assert!(refused.status.is_client_error());
    assert_eq!(refused.header("access-control-allow-origin"), None);
}

/// A stream opened with a session cookie ends when the session does; one opened with a bearer
/// token has no such end.
async fn a_stream_opened_with_a_session_ends_with_it(db: TestDatabase) {
    let hub = EventHub::start((*db).clone(), EventStreamConfig::default(), None)
        .await
        .unwrap();
    let (viewer, viewer_token) = AccessToken::generate("alice", Role::Viewer);
    // Two seconds: a session ends on a whole second, so one of a second could end a moment
    // after sign-in, before the stream is opened (as it did on a busy machine).
    let access =
        Access::with_tokens(vec![viewer_token]).with_sessions(Duration::from_secs(2), false);
    let state = AppState::new((*db).clone(), registry())
        .with_events(hub)
        .with_access(access);
    let service = test::init_service(evalboard_api::app(state)).await;
    let signed_in = test::call_service(
        &service,
        TestRequest::post()
            .uri("/auth/session")
            .set_json(json!({"token": viewer}))
            .to_request(),
    )
    .await;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let open = |request: TestRequest| test::call_service(&service, request.to_request());

    let with_session = open(
        TestRequest::get()
            .uri("/runs/events")
            .insert_header(("cookie", cookie)),
    )
    .await;
    assert_eq!(with_session.status(), 200);
    let ended = tokio::time::timeout(Duration::from_secs(10), test::read_body(with_session)).await;
    assert!(ended.is_ok(), "the stream outlived its session");

    let with_token = open(bearer(TestRequest::get().uri("/runs/events"), &viewer)).await;
    assert_eq!(with_token.status(), 200);
    let still_open =
        tokio::time::timeout(Duration::from_secs(2), test::read_body(with_token)).await;
    assert!(still_open.is_err(), "a bearer's stream ended by itself");
}

api_tests!(
    tokens_and_their_roles_guard_every_route,
    a_rotated_token_keeps_its_holders_idempotency_keys,
    the_dashboard_signs_in_with_a_session_cookie,
    a_stream_opened_with_a_session_ends_with_it,
    run_logs_name_the_token_behind_each_change,
    posts_a_page_on_another_site_could_send_are_refused,
    an_open_server_on_loopback_answers_to_its_own_names_only,
    cors_lets_the_configured_origins_read,
);
