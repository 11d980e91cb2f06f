//! The real binary, as a user starts it: configuration layers, first start on an empty data
//! directory, restart, graceful SIGTERM, the dataset import command, and no secret in any
//! response or log line.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
};

use evalboard_persistence::testing::TestDatabase;
use serde_json::json;

mod auth;
mod cli;
mod docs;
mod drain;
mod limits;
mod linking;
mod logs;
mod metrics;
mod replicas;
mod secrets;
mod support;

use support::{BINARY, SECRET, Server, all_items, dataset_jsonl, wait_for};

fn exercise(server: &Server) -> String {
    assert_eq!(server.get("/healthz"), (200, json!({"status": "ok"})));
    let (status, ready) = server.get("/readyz");
    assert_eq!(status, 200, "{ready}");

    let (_, datasets) = server.get("/datasets");
    assert_eq!(datasets[0]["name"], "evalboard-demo");
    assert_eq!(datasets[0]["itemCount"], 36);
    assert_eq!(datasets[0]["categories"].as_array().unwrap().len(), 6);

    let (_, providers) = server.get("/providers");
    let text = providers.to_string();
    assert!(!text.contains(SECRET), "a key leaked: {text}");
    let openai = providers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "OpenAI")
        .unwrap();
    assert_eq!(openai["credentials"], "present");

    let (status, created) = server.post(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "evalboard-demo", "modelName": "sim-1",
                "settings": {"selection": {"sampleSize": 10, "seed": 1}}}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["progress"]["total"], 10);
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    let (_, board) = server.get("/runs/active");
    assert_eq!(board[0]["run"]["id"], id.as_str());
    // The engine runs it to the end.
    let done = wait_for(server, &id, "completed", |d| {
        d["run"]["status"] == "completed"
    });
    assert_eq!(done["dataset"], created["dataset"]);
    assert_eq!(done["progress"]["completed"], 10);
    assert!(done["startedAt"].is_string() && done["finishedAt"].is_string());
    id
}

#[test]
fn first_start_restart_and_sigterm_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    let id = exercise(&server);
    let output = server.terminate();
    assert!(!output.contains(SECRET), "a key reached the logs");
    // Request durations in milliseconds with at most three decimals (whole microseconds).
    let durations: Vec<&str> = output
        .split("millis=")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(!durations.is_empty(), "requests are logged: {output}");
    for millis in durations {
        let decimals = millis.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(
            millis.parse::<f64>().is_ok() && decimals <= 3,
            "millis={millis}"
        );
    }
    assert!(
        data.path().join("evalboard.db").is_file(),
        "the default database lives in the data dir"
    );

    // A restart keeps the run and does not import the demo dataset again.
    let server = Server::start(data.path(), &[], &[]);
    let (_, datasets) = server.get("/datasets");
    assert_eq!(datasets[0]["version"], 1);
    assert_eq!(server.get(&format!("/runs/{id}")).0, 200);
    // A closed terminal's SIGHUP drains as SIGTERM does (it killed the server outright) —
    // unless this test runs under `nohup`, whose ignore the server inherits and keeps.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hup_ignored = status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_none_or(|mask| mask & 1 == 1);
    if hup_ignored {
        eprintln!("SIGHUP is ignored here (nohup?): stopping with SIGTERM instead");
        server.terminate();
    } else {
        let output = server.stop_with("HUP");
        assert!(output.contains("SIGHUP received: stopping"), "{output}");
    }
}

#[test]
fn serves_from_postgresql_when_the_url_says_so() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("DATABASE_URL", db.url())], &[]);
    let (_, ready) = server.get("/readyz");
    assert_eq!(ready["database"], "postgres");
    exercise(&server);
    let output = server.terminate();
    assert!(!output.contains(SECRET));
    assert!(
        !data.path().join("evalboard.db").exists(),
        "no SQLite file when PostgreSQL is used"
    );
}

#[test]
fn configuration_layers_file_then_environment_then_flags() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("evalboard.toml");
    std::fs::write(
        &config,
        r#"
bind = "127.0.0.1:1"
load_demo_dataset = false

[providers.local]
name = "Local vLLM"
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"
models = ["llama-3.1-8b"]
"#,
    )
    .unwrap();
    // The file's bind address loses to the --bind flag the harness passes.
    let server = Server::start(
        data.path(),
        &[
            ("EVALBOARD_PROVIDERS__OPENAI__MODELS", "[o3, gpt-4.1]"),
            // Text, though it looks like a number (a replica's index, say).
            ("EVALBOARD_WORKER_ID", "007"),
        ],
        &["--config", config.to_str().unwrap()],
    );
    let (_, providers) = server.get("/providers");
    let names: Vec<&str> = providers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Local vLLM", "OpenAI", "Simulated"]);
    assert_eq!(
        providers[1]["models"],
        json!(["o3", "gpt-4.1"]),
        "the environment overrides the file"
    );
    assert_eq!(
        server.get("/datasets").1,
        json!([]),
        "the file turned the demo dataset off"
    );
    let output = server.terminate();
    assert!(output.contains("worker=007"), "{output}");
}

/// A provider the file points elsewhere (its `kind` or `base_url`) replaces the built-in one of
/// its id whole: the built-in `openai` must not keep its `api_key_env` (the OpenAI key would be
/// sent there) nor its prices.
#[test]
fn a_provider_of_the_file_replaces_the_built_in_one_of_its_id() {
    let data = tempfile::tempdir().unwrap();
    let config = write_config(
        data.path(),
        r#"
[providers.openai]
name = "Local vLLM"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"
models = ["llama"]
"#,
    );
    // The harness sets OPENAI_API_KEY.
    let server = Server::start(data.path(), &[], &["--config", &config]);
    let (_, providers) = server.get("/providers");
    assert_eq!(
        providers[0],
        json!({"name": "Local vLLM", "kind": "openai-compatible", "simulated": false,
               "models": ["llama"], "credentials": "notRequired", "prices": {}})
    );
    server.terminate();

    // A table that points nowhere else changes the built-in provider field by field.
    let config = write_config(data.path(), "[providers.openai]\nmodels = [\"gpt-4.1\"]\n");
    let server = Server::start(data.path(), &[], &["--config", &config]);
    let (_, providers) = server.get("/providers");
    assert_eq!(providers[0]["name"], "OpenAI");
    assert_eq!(providers[0]["models"], json!(["gpt-4.1"]));
    assert_eq!(providers[0]["credentials"], "present");
    assert_eq!(
        providers[0]["prices"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["gpt-4.1"]
    );
    server.terminate();
}

fn run(args: &[&str], data_dir: &Path) -> Output {
    Command::new(BINARY)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// Kills the server with SIGKILL in the middle of a run of 300 items, starts it again on the
/// same data, and checks the run completes with every item judged exactly once.
fn survives_sigkill_mid_run(extra_env: &[(&str, &str)]) {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), extra_env, &[]);
    let response = reqwest::blocking::Client::new()
        .post(format!(
            "{}/datasets?name=Three-hundred&format=jsonl",
            server.base
        ))
        .header("content-type", "application/jsonl")
        .body(dataset_jsonl(300))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let (status, created) = server.post(
        "/runs",
        &json!({"providerName": "Simulated", "datasetName": "Three-hundred", "modelName": "sim-1",
                "settings": {"concurrency": 16, "simulated": {"latencyMs": 150, "seed": 4, "faultRate": 0.05}}}),
    );
    assert_eq!(status, 201, "{created}");
    let run = created["run"]["id"].as_str().unwrap().to_owned();
    wait_for(&server, &run, "half done", |d| {
        d["progress"]["completed"].as_u64() >= Some(120)
    });
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().unwrap();
    drop(server);

    let server = Server::start(data.path(), extra_env, &[]);
    let detail = wait_for(&server, &run, "completed", |d| {
        d["run"]["status"] == "completed"
    });
    assert_eq!(detail["progress"]["total"], 300);
    assert_eq!(detail["progress"]["completed"], 300);
    assert!(detail["lifecycle"]["resumedCount"] == 1, "{detail}");
    assert!(detail["lifecycle"]["lastResumedAt"].is_string());

    let items = all_items(&server, &run);
    assert_eq!(items.len(), 300);
    let mut lost = 0;
    for item in &items {
        match item["state"].as_str().unwrap() {
            "correct" | "incorrect" => {
                assert_eq!(
                    item["verdicts"].as_array().unwrap().len(),
                    1,
                    "judged once: {item}"
                )
            }
            "failed" => assert!(item["verdicts"].as_array().unwrap().is_empty()),
            other => panic!("item ended {other}: {item}"),
        }
        lost += item["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["outcome"] == "lost")
            .count();
    }
    assert!(lost > 0, "the items in flight at the kill were taken over");
    let counted = |state: &str| items.iter().filter(|i| i["state"] == state).count() as u64;
    assert_eq!(detail["progress"]["correct"], counted("correct"));
    assert_eq!(detail["progress"]["incorrect"], counted("incorrect"));
    assert_eq!(detail["progress"]["faulted"], counted("failed"));
    server.terminate();
}

#[test]
fn a_run_survives_sigkill_on_sqlite() {
    survives_sigkill_mid_run(&[]);
}

#[test]
fn a_run_survives_sigkill_on_postgresql() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    survives_sigkill_mid_run(&[("DATABASE_URL", db.url())]);
}

/// On SQLite no other server can take up the runs of a server without engine: it says so.
#[test]
fn a_sqlite_server_without_engine_warns_that_runs_will_wait() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("EVALBOARD_ENGINE__ENABLED", "false")], &[]);
    let output = server.terminate();
    let said = output
        .lines()
        .find(|line| line.contains("the engine is disabled"))
        .unwrap_or_else(|| panic!("no word of the engine: {output}"));
    assert!(said.contains("WARN"), "{said}");
    assert!(
        said.contains("stay pending until a server with the engine"),
        "{said}"
    );
}

/// A port in use is found before anything else is done: no database made or migrated, no
/// signing key written, no engine started (and stopped).
#[test]
fn an_address_in_use_stops_the_start_before_anything_is_made() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let output = run(&["--bind", &bind], data.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {bind}")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("database ready"), "{stdout}");
    let left: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["evalboard.lock"], "only the data directory's lock");
}

#[test]
fn bad_configuration_fails_at_start_with_a_reason() {
    let data = tempfile::tempdir().unwrap();
    let output = run(
        &["--database-url", "mysql://localhost/x", "migrate"],
        data.path(),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported scheme `mysql://`"));
    // A server whose address does not resolve is told so (it was refused as an address
    // without tokens); a command that binds nothing (a migration job) does not look it up.
    let output = run(&["--bind", "nosuchhost.invalid:8080"], data.path());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("bind `nosuchhost.invalid:8080`: its host does not resolve"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let migrated = run(
        &["--bind", "nosuchhost.invalid:8080", "migrate"],
        data.path(),
    );
    assert!(migrated.status.success(), "{migrated:?}");
    // Said before anything is made: a server's start left a new signing key behind.
    let served = tempfile::tempdir().unwrap();
    let output = run(&["--database-url", "mysql://localhost/x"], served.path());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported scheme `mysql://`"));
    assert_eq!(
        std::fs::read_dir(served.path()).unwrap().count(),
        0,
        "nothing made"
    );

    let output = run(&["--config", "/nonexistent/evalboard.toml"], data.path());
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not exist"));

    // Out-of-range numbers are refused, each with its range, never quietly replaced.
    let output = Command::new(BINARY)
        .args(["--data-dir", data.path().to_str().unwrap(), "migrate"])
        .env("EVALBOARD_ENGINE__LEASE_SECS", "2")
        .env("EVALBOARD_EVENTS__PREVIEW_MS", "10")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("engine.lease_secs must be between 5 and 3600, got 2")
            && stderr.contains("events.preview_ms must be between 50 and 60000, got 10"),
        "{stderr}"
    );

    // A misspelt name is refused, not ignored (a mistyped auth setting would leave a server
    // open), and so are values that cannot work; none of it with a backtrace.
    let misspelt = write_config(data.path(), "bnd = \"0.0.0.0:1\"\n");
    // A token pasted as a line of its own: the parser quotes the line.
    let pasted = data.path().join("pasted.toml");
    std::fs::write(&pasted, "[auth]\nmode = \"tokens\"\nevb_hunter2hunter2\n").unwrap();
    let pasted = pasted.to_str().unwrap();
    let misspelt_in_section = data.path().join("sectioned.toml");
    std::fs::write(&misspelt_in_section, "[engine]\nconcurrancy = 3\n").unwrap();
    let misspelt_in_section = misspelt_in_section.to_str().unwrap();
    let refused = [
        (
            vec![],
            vec!["--config", &misspelt],
            "`bnd` is not a setting (in ",
        ),
        // By its full name, without figment's `default.` profile, with what its section takes.
        (
            vec![],
            vec!["--config", misspelt_in_section],
            "`engine.concurrancy` is not a setting (in ",
        ),
        (
            vec![],
            vec!["--config", misspelt_in_section],
            "[engine] takes enabled, global_concurrency,",
        ),
        // Tokens are never repeated in an error, whatever quotes them.
        (vec![], vec!["--config", pasted], "invalid configuration"),
        (
            vec![("EVALBOARD_AUTH__TOKENS", "evb_hunter2hunter2")],
            vec![],
            "invalid type: found string \"[redacted]\"",
        ),
        // A filter word that is not a level turned every log line off.
        (
            vec![("EVALBOARD_LOG", "warning")],
            vec![],
            "EVALBOARD_LOG: `warning` is not a level",
        ),
        // A URL would never match a `Host`: every request would get 421.
        (
            vec![("EVALBOARD_HTTP__PUBLIC_HOST", "https://evals.example.com/")],
            vec![],
            "http.public_host `https://evals.example.com/` is not a host name",
        ),
        // A base path is where the proxy publishes the server, not a URL.
        (
            vec![(
                "EVALBOARD_HTTP__BASE_PATH",
                "https://tools.example.com/evalboard",
            )],
            vec![],
            "http.base_path: `https://tools.example.com/evalboard` is not a base path: it must \
             start with `/`",
        ),
        (
            vec![("EVALBOARD_ENGINE__LEASE_SECS", "soon")],
            vec![],
            "`engine.lease_secs` (from the environment variable EVALBOARD_ENGINE__LEASE_SECS): \
             invalid type: found string \"soon\"",
        ),
        // A list's element is named within the variable that sets the list.
        (
            vec![("EVALBOARD_PROVIDERS__OPENAI__MODELS", "[1.5]")],
            vec![],
            "(from the environment variable EVALBOARD_PROVIDERS__OPENAI__MODELS, element 0)",
        ),
        (
            vec![("EVALBOARD_ENGINE__CONCURRANCY", "3")],
            vec![],
            "`engine.concurrancy` is not a setting (from the environment variable \
             EVALBOARD_ENGINE__CONCURRANCY); [engine] takes",
        ),
        (
            vec![("EVALBOARD_AUTH_MODE", "tokens")],
            vec![],
            "EVALBOARD_AUTH_MODE is not a setting: a setting of [auth] takes two underscores, \
             EVALBOARD_AUTH__MODE",
        ),
        (
            vec![],
            vec!["--bind", "127.0.0.1"],
            "bind `127.0.0.1` is not HOST:PORT",
        ),
        // A URL, or a name that does not resolve, was refused as an address without tokens.
        (
            vec![],
            vec!["--bind", "http://127.0.0.1:8080/"],
            "bind `http://127.0.0.1:8080/` is a URL, not HOST:PORT: give `127.0.0.1:8080`",
        ),
        // A misspelt section was read as nothing.
        (
            vec![("EVALBOARD_AUHT__MODE", "none")],
            vec![],
            "EVALBOARD_AUHT__MODE is not a setting: `auht` is not a section of the configuration \
             (sections: database, engine, events, harness, auth, http, providers)",
        ),
        (
            vec![(
                "EVALBOARD_HTTP__CORS_ALLOWED_ORIGINS",
                "[\"https://dash example.com\"]",
            )],
            vec![],
            "http.cors_allowed_origins: `https://dash example.com` is not an origin",
        ),
        (
            vec![],
            vec![
                "--database-url",
                "host=db user=evalboard password=hunter2 dbname=x",
            ],
            "write it as a URL",
        ),
    ];
    for (env, args, reason) in refused {
        let mut command = Command::new(BINARY);
        command
            .args(["--data-dir", data.path().to_str().unwrap()])
            .args(&args)
            .arg("migrate")
            .env_remove("DATABASE_URL")
            .env("RUST_BACKTRACE", "1");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(!stderr.contains("stack backtrace"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
    // Variables of the client and of tools are not settings, and are no problem.
    let output = Command::new(BINARY)
        .args(["--data-dir", data.path().to_str().unwrap(), "migrate"])
        .env_remove("DATABASE_URL")
        .env("EVALBOARD_TOKEN", "evb_x")
        .env("EVALBOARD_SERVER", "http://127.0.0.1:1")
        .env("EVALBOARD_SOMETHING_ELSE", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A server's configuration is checked before it touches the database: refused, it has not
    // migrated (or created) one that other replicas might share.
    let fresh = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            fresh.path().to_str().unwrap(),
        ])
        .env_remove("DATABASE_URL")
        .env("EVALBOARD_AUTH__MODE", "tokens")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("needs at least one [[auth.tokens]]"),
        "{stderr}"
    );
    assert!(!fresh.path().join("evalboard.db").exists(), "{stderr}");

    // A database that cannot be written (here opened read-only; in life, a file of another
    // owner) stops the start, instead of a server that says it is ready and answers 500.
    let read_only = format!(
        "file:{}?mode=ro",
        data.path().join("evalboard.db").display()
    );
    let output = run(&["--database-url", &read_only, "migrate"], data.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not take writes"), "{stderr}");
}

#[test]
fn keygen_writes_a_key_once_and_a_missing_key_file_says_how_to_make_one() {
    use evalboard_harness::PackSigner;

    let data = tempfile::tempdir().unwrap();
    let path = data.path().join("keys/signing.pem");
    let config = write_config(
        data.path(),
        &format!("[harness]\nsigning_key_file = \"{}\"\n", path.display()),
    );
    // The configured file does not exist: the server does not start, and says what to run.
    let output = run(&["--config", &config], data.path());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("evalboard keygen --out {}", path.display())),
        "{stderr}"
    );

    // Without --out, keygen writes the file the configuration names.
    let output = run(&["--config", &config, "keygen"], data.path());
    assert!(output.status.success(), "{output:?}");
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(PackSigner::read(&path).unwrap().id().as_str(), id);
    // Its public key is said, and that the current one goes into retired_public_keys first.
    let said = String::from_utf8_lossy(&output.stderr);
    let public = PackSigner::read(&path).unwrap().public_key_base64();
    assert!(
        said.contains(&format!("its public key is {public}"))
            && said.contains("first copy the current key's publicKey"),
        "{said}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Never overwritten.
    let again = run(&["keygen", "--out", path.to_str().unwrap()], data.path());
    assert!(!again.status.success());
    assert_eq!(PackSigner::read(&path).unwrap().id().as_str(), id);

    // Now the server starts with it.
    let server = Server::start(data.path(), &[], &["--config", &config]);
    assert_eq!(
        server.get("/browser-harness/keys").1["keys"][0]["keyId"],
        id
    );
    server.terminate();
}

/// A standard output whose reader is gone before anything is written (`| true`).
fn closed_stdout() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// The commands besides `runs` whose output nobody reads: a key written or a dataset imported
/// is done (status 0, quietly), a token nobody saw is not (status 1: nothing else keeps it), and
/// a standard output that cannot be written is this machine's failure (status 1, said).
#[test]
fn commands_whose_output_is_not_read_say_what_they_did() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let with_stdout = |args: &[&str], stdout: Stdio| {
        Command::new(BINARY)
            .args(args)
            .env_remove("DATABASE_URL")
            .stdout(stdout)
            .output()
            .unwrap()
    };
    let key = data.path().join("signing.pem");
    let key = key.to_str().unwrap();
    let written = with_stdout(&["keygen", "--out", key], closed_stdout().into());
    assert!(written.status.success(), "{written:?}");
    // What to do with the key is said all the same, with its id.
    let signer = evalboard_harness::PackSigner::read(Path::new(key)).unwrap();
    let said = String::from_utf8_lossy(&written.stderr);
    assert!(
        said.contains(&format!("its key id is {}", signer.id())),
        "{said}"
    );
    let full = || std::fs::File::create("/dev/full").unwrap().into();
    let other = data.path().join("other.pem");
    let written = with_stdout(&["keygen", "--out", other.to_str().unwrap()], full());
    assert_eq!(written.status.code(), Some(1), "{written:?}");
    assert!(String::from_utf8_lossy(&written.stderr).contains("writing to standard output"));

    for stdout in [closed_stdout().into(), full()] {
        let token = with_stdout(
            &["token", "create", "--name", "ci", "--role", "viewer"],
            stdout,
        );
        let said = String::from_utf8_lossy(&token.stderr);
        assert_eq!(token.status.code(), Some(1), "{said}");
        assert!(said.contains("the token was not shown"), "{said}");
        // No entry for a token nobody holds.
        assert!(!said.contains("[[auth.tokens]]"), "{said}");
    }

    assert!(run(&["migrate"], data.path()).status.success());
    let good = data.path().join("good.csv");
    std::fs::write(&good, "question,A,B,answer\nQ1,x,y,A\n").unwrap();
    let import = [
        "dataset",
        "import",
        good.to_str().unwrap(),
        "--name",
        "Good",
    ];
    let imported = with_stdout(
        &[&import[..], &["--data-dir", dir]].concat(),
        closed_stdout().into(),
    );
    assert!(imported.status.success(), "{imported:?}");
    let again = run(&import, data.path());
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("unchanged: dataset `Good` version 1"),
        "{again:?}"
    );
    // A file refused stays refused, whoever reads its problems.
    let bad = data.path().join("bad.csv");
    std::fs::write(&bad, "question,A,B,answer\nQ1,x,y,Z\n").unwrap();
    let refused = with_stdout(
        &[
            "dataset",
            "import",
            bad.to_str().unwrap(),
            "--name",
            "Bad",
            "--data-dir",
            dir,
        ],
        closed_stdout().into(),
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was not imported"));
}

/// The import command bounds what it reads as `POST /datasets` does: a file, or a gzip file once
/// decompressed, over 64 MiB is refused (a gzip bomb stops at the limit, not at its size).
#[test]
fn the_import_command_refuses_files_over_the_upload_limit() {
    use std::io::Write;

    let data = tempfile::tempdir().unwrap();
    let line = "{\"question_id\": 1, \"question\": \"2 + 2 = ?\", \"options\": [\"3\", \"4\"], \"answer\": \"B\", \"answer_index\": 1, \"cot_content\": \"\", \"category\": \"math\", \"src\": \"t\"}\n";
    let repeats = 64 * 1024 * 1024 / line.len() + 2;
    let bomb = data.path().join("bomb.jsonl.gz");
    let mut gzip = flate2::write::GzEncoder::new(
        std::fs::File::create(&bomb).unwrap(),
        flate2::Compression::best(),
    );
    let block = line.repeat(1024);
    for _ in 0..repeats / 1024 + 1 {
        gzip.write_all(block.as_bytes()).unwrap();
    }
    gzip.finish().unwrap();
    assert!(
        std::fs::metadata(&bomb).unwrap().len() < 4 * 1024 * 1024,
        "small on disk"
    );
    assert!(run(&["migrate"], data.path()).status.success());
    let output = run(
        &[
            "dataset",
            "import",
            bomb.to_str().unwrap(),
            "--name",
            "Bomb",
        ],
        data.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("larger than 64 MiB once decompressed"),
        "{stderr}"
    );

    let plain = data.path().join("plain.jsonl");
    std::fs::write(&plain, line.repeat(repeats)).unwrap();
    let output = run(
        &[
            "dataset",
            "import",
            plain.to_str().unwrap(),
            "--name",
            "Plain",
        ],
        data.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("larger than 64 MiB"), "{stderr}");
    let listed = run(
        &["dataset", "import", "/nonexistent.jsonl", "--name", "X"],
        data.path(),
    );
    assert!(!listed.status.success());
}

#[test]
fn the_import_command_reports_bad_lines_and_imports_good_files() {
    let data = tempfile::tempdir().unwrap();
    // Into a server's database only: not one it would make, empty, where no server looks.
    let good = data.path().join("good.csv");
    std::fs::write(&good, "question,A,B,answer\nQ1,x,y,A\nQ2,x,y,B\n").unwrap();
    let import_good = |data_dir: &Path| {
        run(
            &[
                "dataset",
                "import",
                good.to_str().unwrap(),
                "--name",
                "Good",
            ],
            data_dir,
        )
    };
    let nowhere = data.path().join("mistyped");
    let output = import_good(&nowhere);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "there is no database at {}",
            nowhere.join("evalboard.db").display()
        )),
        "{stderr}"
    );
    // The request it suggests carries a token (a team's server answers 401 without one).
    assert!(
        stderr.contains("Authorization: Bearer $EVALBOARD_TOKEN"),
        "{stderr}"
    );
    assert!(!nowhere.exists(), "nothing was made");
    assert!(run(&["migrate"], data.path()).status.success());

    let bad = data.path().join("bad.csv");
    std::fs::write(&bad, "question,A,B,answer\nQ1,x,y,A\nQ2,x,y,Z\n").unwrap();
    let output = run(
        &["dataset", "import", bad.to_str().unwrap(), "--name", "Bad"],
        data.path(),
    );
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("line 3: answer `Z` is not a letter A to J"),
        "{stdout}"
    );

    let output = import_good(data.path());
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported dataset `Good` version 1"));
    // Other items under the same name: a new version, which new runs take, said so with the
    // size of the one it follows.
    std::fs::write(&good, "question,A,B,answer\nQ9,x,y,B\n").unwrap();
    let output = import_good(data.path());
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("imported dataset `Good` version 2")
            && said.contains("new runs of `Good` take it in place of version 1 ("),
        "{said}"
    );

    // The whole MMLU-Pro test split, gzip-compressed, when this machine has it.
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/mmlu-pro-test.jsonl.gz");
    if !full.is_file() {
        eprintln!(
            "skipping the full MMLU-Pro import: {} is not on this machine",
            full.display()
        );
        return;
    }
    let output = run(
        &[
            "dataset",
            "import",
            full.to_str().unwrap(),
            "--name",
            "MMLU-Pro",
        ],
        data.path(),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("12032 items in 14 categories"), "{stdout}");
    // Upstream question 3983 says answer C but answer_index 1: imported, with a warning.
    assert!(stdout.contains("warning: line"), "{stdout}");
}

/// The SQLite file holds the key session cookies are signed with: whoever reads it can sign in
/// as anyone. It is made its owner's alone, and an existing one others may read is warned of.
#[cfg(unix)]
#[test]
fn the_database_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    let mode = |name: &str| {
        std::fs::metadata(data.path().join(name))
            .map(|m| m.permissions().mode() & 0o777)
            .ok()
    };
    assert_eq!(mode("evalboard.db"), Some(0o600));
    // SQLite gives its WAL the database file's mode.
    assert_eq!(mode("evalboard.db-wal"), Some(0o600));
    let output = server.terminate();
    assert!(!output.contains("may be read by other users"), "{output}");

    // One made before (0644 here) is left as it is, and warned of at start.
    std::fs::set_permissions(
        data.path().join("evalboard.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let output = Server::start(data.path(), &[], &[]).terminate();
    assert!(
        output.contains("may be read by other users") && output.contains("chmod 600"),
        "{output}"
    );
}

#[test]
fn the_harness_key_is_made_once_in_the_data_directory_or_read_from_the_configuration() {
    use evalboard_harness::{KeyStatus, PackSigner, TrustedKey};

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);
    let path = data.path().join("harness-signing-key.pem");
    let made = PackSigner::read(&path).expect("a key in the data directory");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "readable by its owner only");
    }
    let (status, keys) = server.get("/browser-harness/keys");
    assert_eq!(status, 200, "{keys}");
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["keyId"], made.id().as_str());
    assert_eq!(keys["keys"][0]["status"], "active");
    let output = server.terminate();
    let pem = std::fs::read_to_string(&path).unwrap();
    let secret_line = pem.lines().nth(1).unwrap();
    assert!(
        !output.contains(secret_line),
        "the private key reached the logs"
    );
    assert!(output.contains(made.id().as_str()), "the key id is logged");

    // A restart keeps the key: packs issued before it still import.
    let server = Server::start(data.path(), &[], &[]);
    assert_eq!(
        server.get("/browser-harness/keys").1["keys"][0]["keyId"],
        made.id().as_str()
    );
    let (status, pack) = server.post(
        "/browser-harness/packs",
        &serde_json::json!({"datasetName": "evalboard-demo", "target": "chatgpt-web"}),
    );
    assert_eq!(status, 201, "{pack}");
    server.terminate();

    // A rotation: a configured key signs, the old one is retired.
    let other = tempfile::tempdir().unwrap();
    let rotated = other.path().join("new-key.pem");
    let new = PackSigner::create(&rotated).unwrap();
    let retired = TrustedKey::new(made.public_key(), KeyStatus::Retired).public_key_base64();
    let server = Server::start(
        data.path(),
        &[
            (
                "EVALBOARD_HARNESS__SIGNING_KEY_FILE",
                rotated.to_str().unwrap(),
            ),
            (
                "EVALBOARD_HARNESS__RETIRED_PUBLIC_KEYS",
                &format!("[\"{retired}\"]"),
            ),
        ],
        &[],
    );
    let (_, keys) = server.get("/browser-harness/keys");
    assert_eq!(keys["keys"][0]["keyId"], new.id().as_str());
    assert_eq!(keys["keys"][0]["status"], "active");
    assert_eq!(keys["keys"][1]["keyId"], made.id().as_str());
    assert_eq!(keys["keys"][1]["status"], "retired");
    let untrusted = "signed with a key this server does not trust";
    let output = server.terminate();
    assert!(!output.contains(untrusted), "{output}");

    // The old key forgotten (or another replica's own key): the pack it signed, still valid,
    // would not import here, and the start says so.
    let server = Server::start(
        data.path(),
        &[(
            "EVALBOARD_HARNESS__SIGNING_KEY_FILE",
            rotated.to_str().unwrap(),
        )],
        &[],
    );
    let output = server.terminate();
    let said = output
        .lines()
        .find(|line| line.contains(untrusted))
        .unwrap_or_else(|| panic!("no warning: {output}"));
    assert!(
        said.contains("1 pack(s)") && said.contains(made.id().as_str()),
        "{said}"
    );
    // Revoked on purpose instead: no warning of its packs.
    let server = Server::start(
        data.path(),
        &[
            (
                "EVALBOARD_HARNESS__SIGNING_KEY_FILE",
                rotated.to_str().unwrap(),
            ),
            (
                "EVALBOARD_HARNESS__REVOKED_PUBLIC_KEYS",
                &format!("[\"{retired}\"]"),
            ),
        ],
        &[],
    );
    let output = server.terminate();
    assert!(!output.contains(untrusted), "{output}");
    // Both retired and revoked: which was meant is not guessed.
    let output = run(
        &[
            "--config",
            &write_config(
                other.path(),
                &format!(
                    "[harness]\nsigning_key_file = \"{}\"\nretired_public_keys = [\"{retired}\"]\n\
                     revoked_public_keys = [\"{retired}\"]\n",
                    rotated.display()
                ),
            ),
        ],
        data.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("harness.revoked_public_keys holds key")
            && stderr.contains("also in harness.retired_public_keys"),
        "{stderr}"
    );

    // A key file that is not a key stops the server with a reason that shows nothing of it.
    std::fs::write(other.path().join("bad.pem"), "not a key at all").unwrap();
    let output = run(
        &[
            "--config",
            &write_config(
                other.path(),
                &format!(
                    "[harness]\nsigning_key_file = \"{}\"\n",
                    other.path().join("bad.pem").display()
                ),
            ),
        ],
        data.path(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a PKCS#8 PEM ed25519 private key"),
        "{stderr}"
    );
    assert!(!stderr.contains("not a key at all"));
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("evalboard.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}
