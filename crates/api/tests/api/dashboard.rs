//! The dashboard as the server serves it: `/` leads to `/ui/`, every application path gets the
//! page, hashed assets are cached for ever, and API paths keep answering JSON.

use actix_web::test::{self, TestRequest};
use evalboard_api::{Access, AccessToken, AppState, BasePath, Role};
use evalboard_persistence::testing::TestDatabase;
use serde_json::json;

use crate::support::{TestApp, api_tests, app, harness_keys, import, items, registry};

async fn the_dashboard_is_served_under_ui(db: TestDatabase) {
    let app = app(db).await;
    let root = app.get("/").await;
    assert_eq!(root.status, 302);
    assert_eq!(root.header("location"), Some("/ui/"));
    assert_eq!(app.get("/ui").await.header("location"), Some("/ui/"));

    let mut script = String::new();
    for path in [
        "/ui/",
        "/ui/runs",
        "/ui/runs/run-0193a7c1e2f47d5a9c3e1b2a4f6d8e0c",
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(page.header("cache-control"), Some("no-cache"));
        // Nothing but its own code runs in it, and no other site frames it.
        let policy = page.header("content-security-policy").unwrap();
        assert!(
            policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{policy}"
        );
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(page.header("x-frame-options"), Some("DENY"));
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("<div id=\"root\">"), "{path}");
        script = html
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
    }
    assert!(script.starts_with("/ui/assets/"), "{script}");
    let asset = app.get(&script).await;
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));

    app.get("/ui/assets/index-missing.js").await.problem(404);
    // API paths are not the dashboard's.
    let runs = app.get("/runs").await;
    assert_eq!(runs.status, 200);
    assert_eq!(runs.header("content-type"), Some("application/json"));
    app.get("/nothing-here").await.problem(404);
}

/// Behind a proxy that publishes the server at `/tools/evalboard/`: what the server hands out
/// to be followed is below that path, and requests are taken with it or without it (a proxy
/// that strips it).
async fn the_dashboard_and_api_are_served_below_a_base_path(db: TestDatabase) {
    import(&db, "Quiz", &items(3));
    let (admin, admin_token) = AccessToken::generate("root", Role::Admin);
    let (operator, operator_token) = AccessToken::generate("ci", Role::Operator);
    let state = AppState::new((*db).clone(), registry())
        .with_harness(harness_keys())
        .with_access(Access::with_tokens(vec![admin_token, operator_token]))
        .with_base_path(BasePath::new("/tools/evalboard/").unwrap());
    let app = TestApp {
        service: test::init_service(evalboard_api::app(state)).await,
        db,
        engine: None,
    };
    let bearer =
        |request: TestRequest| request.insert_header(("authorization", format!("Bearer {admin}")));

    for path in [
        "/",
        "/ui",
        "/tools/evalboard",
        "/tools/evalboard/",
        "/tools/evalboard/ui",
    ] {
        let found = app.get(path).await;
        assert_eq!(found.status, 302, "{path}");
        assert_eq!(
            found.header("location"),
            Some("/tools/evalboard/ui/"),
            "{path}"
        );
    }
    // The built page asked for by its file name is the page for the base path too.
    let file = app.get("/tools/evalboard/ui/index.html").await;
    assert!(
        String::from_utf8(file.body)
            .unwrap()
            .contains(r#"content="/tools/evalboard""#)
    );
    let page = app.get("/tools/evalboard/ui/runs/run-1?item=2").await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains(r#"<meta name="evalboard-base" content="/tools/evalboard" />"#),
        "{html}"
    );
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(
        script.starts_with("/tools/evalboard/ui/assets/"),
        "{script}"
    );
    let asset = app.get(&script).await;
    assert_eq!(asset.status, 200, "{script}");
    assert_eq!(
        asset.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    // A proxy that strips the path: the same asset without it.
    let stripped = script.strip_prefix("/tools/evalboard").unwrap();
    assert_eq!(app.get(stripped).await.status, 200);

    // The API, with the path and without it; the query string is kept.
    for prefix in ["/tools/evalboard", ""] {
        let created = app
            .call(bearer(TestRequest::post().uri(&format!("{prefix}/runs")).set_json(
                json!({"providerName": "Simulated", "datasetName": "Quiz", "modelName": "sim-1"}),
            )))
            .await;
        let id = created.ok(201)["run"]["id"].as_str().unwrap().to_owned();
        assert_eq!(
            created.header("location").map(str::to_owned),
            Some(format!("/tools/evalboard/runs/{id}"))
        );
        let listed = app
            .call(bearer(
                TestRequest::get().uri(&format!("{prefix}/runs?limit=1")),
            ))
            .await
            .ok(200);
        assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
        assert_eq!(listed["runs"][0]["run"]["id"], id.as_str());
    }
    // Roles are those of the path below the base: a run needs a token there as well, and a
    // dataset upload the admin role, however its path is written.
    app.call(
        TestRequest::post()
            .uri("/tools/evalboard/runs")
            .set_json(json!({})),
    )
    .await
    .problem(401);
    for upload in [
        "/tools/evalboard/datasets?name=Sneaked",
        "/tools/evalboard/dataset%73?name=Sneaked",
    ] {
        app.call(
            TestRequest::post()
                .uri(upload)
                .insert_header(("authorization", format!("Bearer {operator}")))
                .insert_header(("content-type", "application/jsonl"))
                .set_payload("{}\n"),
        )
        .await
        .problem(403);
    }
    // Not below it: a path of its own, which is nothing.
    app.call(bearer(TestRequest::get().uri("/tools/evalboardx/runs")))
        .await
        .problem(404);
    app.call(bearer(TestRequest::get().uri("/tools/runs")))
        .await
        .problem(404);

    // The session cookie is the base path's, not the whole host's.
    let signed_in = app
        .post_json("/tools/evalboard/auth/session", &json!({"token": admin}))
        .await;
    assert_eq!(signed_in.status, 200);
    let cookies: Vec<&str> = signed_in
        .headers
        .get_all("set-cookie")
        .map(|value| value.to_str().unwrap())
        .collect();
    let path_of = |cookie: &str| {
        cookie
            .split("; ")
            .find_map(|attribute| attribute.strip_prefix("Path="))
            .map(str::to_owned)
    };
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let session = cookies
        .iter()
        .find(|c| path_of(c).as_deref() == Some("/tools/evalboard"))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(!session.contains("Max-Age=0"), "{session}");
    // One the server set at the host's root before it had its base path is removed: the browser
    // would send it beside the new one.
    let stale = cookies
        .iter()
        .find(|c| path_of(c).as_deref() == Some("/"))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    assert!(stale.contains("Max-Age=0"), "{stale}");
    let signed_out = app
        .call(TestRequest::delete().uri("/tools/evalboard/auth/session"))
        .await;
    assert_eq!(signed_out.status, 204);
    let removed: Vec<Option<String>> = signed_out
        .headers
        .get_all("set-cookie")
        .map(|value| path_of(value.to_str().unwrap()))
        .collect();
    assert_eq!(
        removed,
        [Some("/tools/evalboard".to_owned()), Some("/".to_owned())]
    );
}

api_tests!(
    the_dashboard_is_served_under_ui,
    the_dashboard_and_api_are_served_below_a_base_path
);
