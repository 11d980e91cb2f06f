//! A provider that echoes the key it was sent — in a 401's message, or a 400 that quotes the
//! request's headers — must not put the key anywhere: not in responses, not in the database,
//! not in the server's log.

use serde_json::json;

use crate::support::{SECRET, Server, all_items, start_echoing_provider, wait_for};

/// The echoing provider's key: nothing about it looks like a credential, so only knowing the
/// configured keys can keep it out.
const PLAIN_KEY: &str = "plainvalue7c41e9d2";

#[test]
fn a_provider_echoing_the_key_leaks_it_nowhere() {
    let base = start_echoing_provider();
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("EVALBOARD_PROVIDERS__ECHO__NAME", "Echo"),
        ("EVALBOARD_PROVIDERS__ECHO__KIND", "openai-compatible"),
        ("EVALBOARD_PROVIDERS__ECHO__BASE_URL", base.as_str()),
        (
            "EVALBOARD_PROVIDERS__ECHO__API_KEY_ENV",
            "EVALBOARD_TEST_ECHO_KEY",
        ),
        ("EVALBOARD_TEST_ECHO_KEY", PLAIN_KEY),
        (
            "EVALBOARD_PROVIDERS__ECHO__MODELS",
            r#"["auth", "headers"]"#,
        ),
        ("EVALBOARD_PROVIDERS__ECHO__MAX_ATTEMPTS", "1"),
    ];
    let server = Server::start(data.path(), &env, &[]);
    let mut seen = String::new();
    for (model, status) in [("auth", "failed"), ("headers", "completed")] {
        let (code, created) = server.post(
            "/runs",
            &json!({"providerName": "Echo", "datasetName": "evalboard-demo", "modelName": model,
                    "settings": {"selection": {"sampleSize": 3}}}),
        );
        assert_eq!(code, 201, "{created}");
        let id = created["run"]["id"].as_str().unwrap().to_owned();
        let detail = wait_for(&server, &id, status, |d| d["run"]["status"] == status);
        let items = all_items(&server, &id);
        let (_, logs) = server.get(&format!("/runs/{id}/logs?limit=500"));
        for item in &items {
            let message = item["error"]["message"].as_str().unwrap();
            assert!(message.contains("[redacted]"), "{message}");
        }
        seen.push_str(&format!("{detail}{}{logs}", json!(items)));
    }
    assert!(
        seen.contains("Incorrect API key provided: [redacted]"),
        "{seen}"
    );
    for key in [PLAIN_KEY, SECRET] {
        assert!(!seen.contains(key), "a response carries a key: {seen}");
    }
    // The failed run's items count as failed, though no worker failed them one by one.
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.base))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.lines().any(|line| line
            == "evalboard_items_finished_total{provider=\"Echo\",model=\"auth\",outcome=\"failed\"} 3"),
        "{metrics}"
    );
    let output = server.terminate();
    assert!(output.contains("unauthorized"), "the failure is logged");
    // Its three items were refused at once; the run's failure is reported once.
    assert_eq!(
        output.matches("run cannot proceed").count(),
        1,
        "one failure, one warning: {output}"
    );
    assert!(
        !output.contains(SECRET),
        "the log carries the key: {output}"
    );
    // Not a byte of it in the database files (the database, its WAL, anything beside them).
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            for key in [PLAIN_KEY, SECRET] {
                assert!(
                    !bytes
                        .windows(key.len())
                        .any(|window| window == key.as_bytes()),
                    "{} holds a key",
                    path.display()
                );
            }
        }
    }
}
