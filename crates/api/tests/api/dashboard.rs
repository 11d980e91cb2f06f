//! The dashboard as the server serves it: `/` leads to `/ui/`, every application path gets the
//! page, hashed assets are cached for ever, and API paths keep answering JSON.

use evalboard_persistence::testing::TestDatabase;

use crate::support::{api_tests, app};

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

api_tests!(the_dashboard_is_served_under_ui);
