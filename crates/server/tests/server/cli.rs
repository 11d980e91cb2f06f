//! `evalboard runs …` against a real server: create and follow a run to its end, list, show,
//! cancel, retry and export it, with a token where the server asks for one; a follow that
//! outlives a restart of the server; options the client refuses.

use std::{
    io::Read,
    process::{Command, Output, Stdio},
};

use serde_json::{Value, json};

use crate::support::{BINARY, Server, start_echoing_provider, wait_for};

fn evalboard(server: &Server, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(BINARY);
    command
        .args(["runs", "--server", &server.base])
        .args(args)
        .env_remove("EVALBOARD_TOKEN");
    if let Some(token) = token {
        command.env("EVALBOARD_TOKEN", token);
    }
    command.output().expect("run the client")
}

/// `create` of a Simulated run on the demo dataset with `settings`, and `more` flags.
fn create<'a>(settings: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "create",
        "--provider",
        "Simulated",
        "--dataset",
        "evalboard-demo",
        "--model",
        "sim-1",
        "--settings",
        settings,
    ];
    args.extend_from_slice(more);
    args
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

#[test]
fn the_command_line_client_drives_runs_end_to_end() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[], &[]);

    // Created and followed to the end: the run as JSON, exit status 0.
    let followed = evalboard(
        &server,
        &create(
            r#"{"concurrency": 4, "simulated": {"latencyMs": 20, "seed": 3}}"#,
            &["--follow", "--json"],
        ),
        None,
    );
    let run = json_of(&followed);
    assert_eq!(run["run"]["status"], "completed");
    assert_eq!(run["progress"]["completed"], 36);
    let id = run["run"]["id"].as_str().unwrap().to_owned();
    let said = String::from_utf8_lossy(&followed.stderr);
    assert!(!said.contains("warning"), "{said}");
    // No terminal here (a CI job's log): the counts as lines, at tenths of the run, the last
    // at its end.
    let counts: Vec<&str> = said.lines().filter(|l| l.contains("/36 ✓")).collect();
    assert!(
        counts.len() <= 11 && counts.last().is_some_and(|l| l.starts_with("36/36 ✓")),
        "{said}"
    );

    // Listed and shown, for scripts and for people.
    let listed = json_of(&evalboard(&server, &["list", "--json"], None));
    assert_eq!(listed["runs"][0]["run"]["id"], id.as_str());
    let shown = evalboard(&server, &["show", &id], None);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.starts_with(&id) && text.contains("completed"),
        "{text}"
    );
    assert!(text.contains("36/36"), "{text}");
    // What `show` promises: the dataset's version, usage and latency too.
    let tokens = run["usage"]["promptTokens"].as_u64().unwrap();
    assert!(tokens > 0);
    for said in [
        "dataset evalboard-demo v1 (sha256:".to_owned(),
        format!("tokens {tokens} in"),
        "latency p50 ".to_owned(),
        "unparsed 0".to_owned(),
    ] {
        assert!(text.contains(&said), "no `{said}` in {text}");
    }

    // A run judged by an LLM judge shows what the judge spent, apart from the answers.
    assert!(!text.contains("judge's own"), "{text}");
    let judged = json_of(&evalboard(
        &server,
        &create(
            r#"{"concurrency": 8, "judge": {"kind": "llm", "providerName": "Simulated", "modelName": "sim-1"}}"#,
            &["--follow", "--json"],
        ),
        None,
    ));
    assert_eq!(judged["run"]["status"], "completed", "{judged}");
    let judge_tokens = judged["usage"]["judge"]["promptTokens"].as_u64().unwrap();
    assert!(judge_tokens > 0, "{judged}");
    let judged_id = judged["run"]["id"].as_str().unwrap();
    let shown = evalboard(&server, &["show", judged_id], None);
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains(&format!("judge's own tokens {judge_tokens} in")),
        "{text}"
    );

    // Judged again from the CLI: by the rules, followed to its end; then by an LLM judge.
    let by_rules = evalboard(&server, &["rejudge", judged_id, "--follow", "--json"], None);
    assert_eq!(by_rules.status.code(), Some(0), "{by_rules:?}");
    let by_rules = json_of(&by_rules);
    assert_eq!(
        (
            &by_rules["run"]["status"],
            &by_rules["judge"],
            &by_rules["rejudgeCount"]
        ),
        (&json!("completed"), &json!("choice"), &json!(1)),
        "{by_rules}"
    );
    let again = evalboard(
        &server,
        &[
            "rejudge",
            judged_id,
            "--judge-provider",
            "Simulated",
            "--judge-model",
            "sim-1",
            "--follow",
        ],
        None,
    );
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    let rejudged = String::from_utf8(again.stdout).unwrap();
    assert!(
        rejudged.contains(" · judge llm:Simulated/sim-1 (re-judged 2×) · "),
        "{rejudged}"
    );
    // A provider without a model is the command's own usage error, sent nowhere.
    let half = evalboard(
        &server,
        &["rejudge", judged_id, "--judge-provider", "Simulated"],
        None,
    );
    assert_eq!(half.status.code(), Some(2), "{half:?}");
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("--judge-model"),
        "{half:?}"
    );

    // Answers cut off at the token limit are counted, where the run says it (and only then).
    assert!(!text.contains("cut off"), "{text}");
    let limited = json_of(&evalboard(
        &server,
        &create(
            r#"{"concurrency": 8, "generation": {"maxTokens": 10}}"#,
            &["--follow", "--json"],
        ),
        None,
    ));
    assert_eq!(limited["answersCutOff"], 36, "{limited}");
    let shown = evalboard(
        &server,
        &["show", limited["run"]["id"].as_str().unwrap()],
        None,
    );
    let text = String::from_utf8(shown.stdout).unwrap();
    assert!(
        text.contains("· cut off 36 (see each item's cutOff)"),
        "{text}"
    );

    // A refusal is the server's sentence and exit status 2; nothing else is printed.
    let refused = evalboard(&server, &["cancel", &id], None);
    assert_eq!(refused.status.code(), Some(2));
    let said = String::from_utf8(refused.stderr).unwrap();
    assert!(said.starts_with("error: HTTP 409: "), "{said}");
    assert!(!said.contains("backtrace"), "{said}");

    // Retried (every item), then followed again.
    let retried = json_of(&evalboard(
        &server,
        &["retry", &id, "--all", "--json"],
        None,
    ));
    assert_eq!(retried["run"]["id"], id.as_str());
    let again = json_of(&evalboard(&server, &["follow", &id, "--json"], None));
    assert_eq!(again["run"]["status"], "completed");
    assert_eq!(again["retryCount"], 1);

    // Exported as the archive gives it: one line per item.
    let exported = evalboard(&server, &["export", &id, "--format", "jsonl"], None);
    assert!(exported.status.success());
    assert_eq!(
        String::from_utf8(exported.stdout).unwrap().lines().count(),
        36
    );
    let csv = evalboard(&server, &["export", &id, "--format", "csv"], None);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.starts_with("runId,sequence,datasetItemId,category,state,"),
        "{csv}"
    );
    // Rows start with their run and sequence (quoted prompts span lines, so lines are not rows).
    assert!((1..=36).all(|n| csv.contains(&format!("\n{id},{n},"))));
    // Filtered as the server filters: the demo dataset's six math items.
    let math = evalboard(
        &server,
        &["export", &id, "--format", "jsonl", "--category", "math"],
        None,
    );
    let math = String::from_utf8(math.stdout).unwrap();
    assert_eq!(math.lines().count(), 6, "{math}");
    assert!(
        math.lines()
            .all(|line| line.contains("\"category\":\"math\""))
    );
    // A reader that stops early (`| head -c 10`) ends the export quietly and successfully.
    let mut export = Command::new(BINARY)
        .args(["runs", "--server", &server.base, "export", &id])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0; 10];
    export
        .stdout
        .take()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    let stopped = export.wait_with_output().unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(stopped.stderr.is_empty(), "{stopped:?}");
    // So does any command whose reader is gone before it writes (`runs list | true`).
    let mut listing = Command::new(BINARY)
        .args(["runs", "--server", &server.base, "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(listing.stdout.take());
    let listed = listing.wait_with_output().unwrap();
    assert!(listed.status.success(), "{listed:?}");
    assert!(listed.stderr.is_empty(), "{listed:?}");
    // A standard output that cannot be written (a full disk) is this machine's failure: status
    // 1, said as such, not 2 ("the server refused or could not be reached").
    for command in [&["list"][..], &["show", &id], &["export", &id]] {
        let full = Command::new(BINARY)
            .args(["runs", "--server", &server.base])
            .args(command)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&full.stderr);
        assert_eq!(full.status.code(), Some(1), "{command:?}: {said}");
        assert!(
            said.contains("writing to standard output"),
            "{command:?}: {said}"
        );
    }

    // A run that does not complete ends the follow with status 1.
    let canceled = evalboard(
        &server,
        &create(
            r#"{"concurrency": 1, "simulated": {"latencyMs": 60000}}"#,
            &["--json"],
        ),
        None,
    );
    let slow = json_of(&canceled)["run"]["id"].as_str().unwrap().to_owned();
    // What the run's log says of the run itself at warn level is said by the follow (a server
    // leaving the run to others, say: the event stream carries nothing while it waits); an
    // item's warnings are not.
    let db = evalboard_persistence::Database::connect(
        &format!("sqlite://{}", data.path().join("evalboard.db").display()),
        &evalboard_persistence::PoolOptions::default(),
    )
    .unwrap();
    let run_id = evalboard_domain::RunId::parse(&slow).unwrap();
    let noted = |message: &str| {
        db.note_run(
            &run_id,
            evalboard_persistence::LogLevel::Warn,
            message,
            chrono::Utc::now(),
        )
        .unwrap()
    };
    noted("server `b` leaves this run to servers set up for it: KEY is not set");
    let follower = Command::new(BINARY)
        .args(["runs", "--server", &server.base, "follow", &slow])
        .env_remove("EVALBOARD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Said at the end too, once each.
    noted("the run's budget is spent");
    json_of(&evalboard(&server, &["cancel", &slow, "--json"], None));
    let ended = follower.wait_with_output().unwrap();
    assert_eq!(ended.status.code(), Some(1));
    let warned = String::from_utf8(ended.stderr).unwrap();
    assert_eq!(
        warned.matches("warn: server `b` leaves this run").count(),
        1,
        "{warned}"
    );
    assert_eq!(
        warned.matches("warn: the run's budget is spent").count(),
        1,
        "{warned}"
    );
    let said = String::from_utf8(ended.stdout).unwrap();
    assert!(said.contains("canceled"), "{said}");
    assert!(
        said.contains("faulted 36 (36 canceled)"),
        "canceled items told apart: {said}"
    );
    // A retry followed says what its retry meets, not the warnings that came before it (it
    // began by repeating them, as if the retry had failed at once).
    let retrying = Command::new(BINARY)
        .args(["runs", "--server", &server.base, "retry", &slow, "--follow"])
        .env_remove("EVALBOARD_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&server, &slow, "the retry running", |d| {
        d["run"]["status"] == "running"
    });
    noted("the retry's own warning");
    json_of(&evalboard(&server, &["cancel", &slow, "--json"], None));
    let ended = retrying.wait_with_output().unwrap();
    assert_eq!(ended.status.code(), Some(1));
    let warned = String::from_utf8(ended.stderr).unwrap();
    assert_eq!(
        warned.matches("warn: the retry's own warning").count(),
        1,
        "{warned}"
    );
    assert!(!warned.contains("budget is spent"), "{warned}");
    assert!(!warned.contains("leaves this run"), "{warned}");

    // Paging the list: the hint on standard error is the next page's command, filter, page size
    // and server included (a cursor continues only its own listing).
    let first = evalboard(
        &server,
        &[
            "list",
            "--limit",
            "1",
            "--status",
            "completed,canceled",
            "--model",
            "sim-1",
        ],
        None,
    );
    let hint = String::from_utf8(first.stderr.clone()).unwrap();
    let next = hint
        .trim()
        .strip_prefix("more: ")
        .unwrap_or_else(|| panic!("no hint in {hint:?}"));
    let next = next
        .strip_prefix(
            "evalboard runs list --limit 1 --status completed,canceled --model sim-1 --cursor ",
        )
        .unwrap_or_else(|| panic!("{next}"));
    let (cursor, server_given) = next.split_once(' ').unwrap();
    assert_eq!(server_given, format!("--server {}", server.base));
    let second = evalboard(
        &server,
        &[
            "list",
            "--limit",
            "1",
            "--status",
            "completed,canceled",
            "--model",
            "sim-1",
            "--cursor",
            cursor,
        ],
        None,
    );
    assert!(second.status.success(), "{second:?}");
    // The other filters reach the server too: no run is of a model of another name.
    let none = evalboard(
        &server,
        &["list", "--model", "sim-2", "--dataset", "evalboard-demo"],
        None,
    );
    assert!(none.status.success(), "{none:?}");
    assert_eq!(String::from_utf8_lossy(&none.stdout), "");
    // ... which is said, on standard error (a script's output stays empty).
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("no run matches --model sim-2 --dataset evalboard-demo"),
        "{none:?}"
    );
    let lines = |output: &Output| String::from_utf8(output.stdout.clone()).unwrap();
    // By creation time: a date is its start in UTC; every run here was made today (or, past
    // midnight, yesterday).
    let today = chrono::Utc::now().date_naive();
    let yesterday = (today - chrono::Days::new(1)).to_string();
    let tomorrow = (today + chrono::Days::new(1)).to_string();
    let (yesterday, tomorrow) = (yesterday.as_str(), tomorrow.as_str());
    let recent = evalboard(
        &server,
        &[
            "list",
            "--limit",
            "100",
            "--created-from",
            yesterday,
            "--created-before",
            tomorrow,
        ],
        None,
    );
    let every = evalboard(&server, &["list", "--limit", "100"], None);
    assert!(recent.status.success(), "{recent:?}");
    assert!(lines(&every).lines().count() > 1);
    assert_eq!(lines(&recent), lines(&every));
    let later = evalboard(&server, &["list", "--created-from", tomorrow], None);
    assert!(later.status.success(), "{later:?}");
    assert_eq!(lines(&later), "");
    // Part of a name, whatever its case.
    let found = evalboard(
        &server,
        &["list", "--limit", "100", "--search", "SIMUL"],
        None,
    );
    assert_eq!(lines(&found), lines(&every));
    let none = evalboard(&server, &["list", "--search", "no-such-model"], None);
    assert!(none.status.success(), "{none:?}");
    assert_eq!(lines(&none), "");
    // In another order: the oldest first is the newest first reversed, and a page's cursor
    // continues it.
    let oldest = evalboard(
        &server,
        &["list", "--limit", "100", "--sort", "oldest"],
        None,
    );
    assert!(oldest.status.success(), "{oldest:?}");
    let every_text = lines(&every);
    let mut newest_first: Vec<&str> = every_text.lines().collect();
    newest_first.reverse();
    assert_eq!(lines(&oldest).lines().collect::<Vec<_>>(), newest_first);
    let first_oldest = evalboard(&server, &["list", "--limit", "1", "--sort", "oldest"], None);
    let hint = String::from_utf8_lossy(&first_oldest.stderr).into_owned();
    assert!(
        hint.contains("evalboard runs list --limit 1 --sort oldest --cursor "),
        "{hint}"
    );
    // A dataset version named: the demo's only one, or one it does not have (the server's
    // refusal, naming the field).
    let pinned = evalboard(
        &server,
        &create(
            r#"{"concurrency": 1}"#,
            &["--dataset-version", "1", "--json"],
        ),
        None,
    );
    assert_eq!(json_of(&pinned)["dataset"]["version"], 1);
    let unknown = evalboard(
        &server,
        &create(r#"{"concurrency": 1}"#, &["--dataset-version", "9"]),
        None,
    );
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("datasetVersion"),
        "{unknown:?}"
    );
    // Versions are numbered from 1: 0 is refused before anything is sent.
    let zero = evalboard(
        &server,
        &create(r#"{"concurrency": 1}"#, &["--dataset-version", "0"]),
        None,
    );
    assert!(!zero.status.success());
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("--dataset-version"),
        "{zero:?}"
    );
    let every_text = lines(&evalboard(&server, &["list", "--limit", "100"], None));
    // By accuracy: each line's, the runs with none judged ("–") last.
    let accuracies = |output: &Output| -> Vec<Option<f64>> {
        lines(output)
            .lines()
            .map(|line| {
                let (_, accuracy) = line.rsplit_once("accuracy ").unwrap();
                accuracy.split(' ').next().unwrap().parse().ok()
            })
            .collect()
    };
    for (sort, descending) in [("most-accurate", true), ("least-accurate", false)] {
        let sorted = evalboard(&server, &["list", "--limit", "100", "--sort", sort], None);
        assert!(sorted.status.success(), "{sorted:?}");
        let listed = accuracies(&sorted);
        assert_eq!(listed.len(), every_text.lines().count(), "{sort}");
        let judged: Vec<f64> = listed.iter().map_while(|a| *a).collect();
        assert!(
            listed[judged.len()..].iter().all(Option::is_none),
            "{sort}: {listed:?}"
        );
        assert!(
            judged.windows(2).all(|pair| if descending {
                pair[0] >= pair[1]
            } else {
                pair[0] <= pair[1]
            }),
            "{sort}: {listed:?}"
        );
    }
    // A time the server cannot read is its error, naming the parameter.
    let unreadable = evalboard(&server, &["list", "--created-from", "last week"], None);
    assert!(!unreadable.status.success());
    assert!(
        String::from_utf8_lossy(&unreadable.stderr).contains("createdFrom"),
        "{unreadable:?}"
    );
    assert_eq!(lines(&second).lines().count(), 1);
    assert_ne!(
        lines(&first),
        lines(&second),
        "the next page is another run"
    );

    // A run that completes with faulted items exits 0 (it completed) and says so on stderr.
    let partly = evalboard(
        &server,
        &create(
            r#"{"concurrency": 8, "maxAttempts": 1, "simulated": {"faultRate": 0.5, "seed": 1}}"#,
            &["--follow", "--json"],
        ),
        None,
    );
    let partly_run = json_of(&partly);
    let faulted = partly_run["progress"]["faulted"].as_u64().unwrap();
    assert!((1..36).contains(&faulted), "{partly_run}");
    assert_eq!(partly.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&partly.stderr)
            .contains(&format!("warning: {faulted} of 36 items faulted")),
        "{partly:?}"
    );
    // Its faulted items retried and followed to the end again, in one command.
    let partly_id = partly_run["run"]["id"].as_str().unwrap();
    let retried = evalboard(&server, &["retry", partly_id, "--follow", "--json"], None);
    let retried_run = json_of(&retried);
    assert_eq!(retried_run["run"]["status"], "completed", "{retried_run}");
    assert_eq!(retried_run["retryCount"], 1, "{retried_run}");
    assert_eq!(retried_run["progress"]["completed"], 36, "{retried_run}");
    assert!(
        String::from_utf8_lossy(&retried.stderr).contains(&format!("retrying {partly_id}")),
        "{retried:?}"
    );
    // One whose every item faulted answered nothing: it completed, and exits 1 all the same
    // (nine items: from ten failed in a row, the run fails instead, below).
    let faulty = evalboard(
        &server,
        &create(
            r#"{"concurrency": 8, "maxAttempts": 1, "simulated": {"faultRate": 1.0, "seed": 1},
                "selection": {"sampleSize": 9}}"#,
            &["--follow", "--json"],
        ),
        None,
    );
    let faulty_run: Value = serde_json::from_slice(&faulty.stdout).expect("--json prints JSON");
    assert_eq!(faulty_run["run"]["status"], "completed");
    assert_eq!(faulty.status.code(), Some(1));
    let said = String::from_utf8_lossy(&faulty.stderr);
    assert!(
        said.contains("warning: 9 of 9 items faulted (9 failed, 0 canceled)"),
        "{said}"
    );
    // Their errors are in an export of those items alone.
    assert!(said.contains(" --state failed,canceled"), "{said}");
    // The command it suggests reaches this server, not the default one.
    let id = faulty_run["run"]["id"].as_str().unwrap();
    assert!(
        said.contains(&format!(
            "`evalboard runs retry {id} --server {}`",
            server.base
        )),
        "{said}"
    );
    server.terminate();
}

/// A provider failing every request fails the run after ten items in a row (over at least
/// `engine.provider_down_secs`, 0 here, on a server of its own: elsewhere a run of items that
/// fail half the time may meet ten in a row), saying why; the follow exits 1.
#[test]
fn a_followed_run_of_a_provider_down_fails_saying_why() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[("EVALBOARD_ENGINE__PROVIDER_DOWN_SECS", "0")],
        &[],
    );
    let down = evalboard(
        &server,
        &create(
            r#"{"concurrency": 8, "maxAttempts": 1, "simulated": {"faultRate": 1.0, "seed": 1}}"#,
            &["--follow"],
        ),
        None,
    );
    assert_eq!(down.status.code(), Some(1));
    let said = String::from_utf8_lossy(&down.stdout);
    assert!(
        said.contains("failure: server_error: ") && said.contains(" items in a row failed over "),
        "{said}"
    );
    server.terminate();
}

#[test]
fn the_client_reaches_a_server_below_its_base_path() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        data.path(),
        &[("EVALBOARD_HTTP__BASE_PATH", "/tools/evalboard/")],
        &[],
    );
    server.wait_for("served below /tools/evalboard (http.base_path)");
    // What a user types: the URL the proxy publishes, the path included (here, the server's own
    // port takes it as such a proxy would pass it on).
    let below = format!("{}/tools/evalboard", server.base);
    let followed = Command::new(BINARY)
        .args(["runs", "--server", &below])
        .args(create(
            r#"{"concurrency": 4, "simulated": {"latencyMs": 5}}"#,
            &["--follow", "--json"],
        ))
        .env_remove("EVALBOARD_TOKEN")
        .output()
        .unwrap();
    let run = json_of(&followed);
    assert_eq!(run["run"]["status"], "completed");
    assert_eq!(run["progress"]["completed"], 36);
    // The dashboard is where the proxy publishes it.
    let redirect = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&below)
        .send()
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"].to_str().unwrap(),
        "/tools/evalboard/ui/"
    );
}

#[test]
fn the_client_sends_the_token_from_the_environment() {
    let data = tempfile::tempdir().unwrap();
    let created = Command::new(BINARY)
        .args(["token", "create", "--name", "cli", "--role", "viewer"])
        .output()
        .unwrap();
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    let stderr = String::from_utf8(created.stderr).unwrap();
    let entry = &stderr[stderr.find("[[auth.tokens]]").unwrap()..];
    let config = data.path().join("evalboard.toml");
    std::fs::write(&config, entry).unwrap();
    let server = Server::start(data.path(), &[], &["--config", config.to_str().unwrap()]);

    let without = evalboard(&server, &["list"], None);
    assert_eq!(without.status.code(), Some(2));
    let said = String::from_utf8(without.stderr).unwrap();
    assert!(
        said.contains("HTTP 401") && said.contains("EVALBOARD_TOKEN"),
        "{said}"
    );
    let with = json_of(&evalboard(&server, &["list", "--json"], Some(&token)));
    assert_eq!(with["runs"], serde_json::json!([]));
    // Pasted from a file with its line end, the token still works; a character no header can
    // carry is said at once, not taken for an unreachable server.
    let pasted = json_of(&evalboard(
        &server,
        &["list", "--json"],
        Some(&format!("{token}\r\n")),
    ));
    assert_eq!(pasted["runs"], serde_json::json!([]));
    let broken = evalboard(&server, &["list"], Some(&format!("{token}\u{1}x")));
    assert_eq!(broken.status.code(), Some(2));
    let said = String::from_utf8(broken.stderr).unwrap();
    assert!(
        said.contains("EVALBOARD_TOKEN holds characters an HTTP header cannot carry"),
        "{said}"
    );
    // A viewer may read, not start runs.
    let create = evalboard(
        &server,
        &[
            "create",
            "--provider",
            "Simulated",
            "--dataset",
            "evalboard-demo",
            "--model",
            "sim-1",
        ],
        Some(&token),
    );
    assert_eq!(create.status.code(), Some(2));
    assert!(
        String::from_utf8(create.stderr)
            .unwrap()
            .contains("HTTP 403")
    );
    let logs = server.terminate();
    assert!(!logs.contains(&token), "the token is never logged");
}

#[test]
fn a_follow_outlives_a_restart_of_the_server() {
    let data = tempfile::tempdir().unwrap();
    // Items given back at once on SIGTERM: the restart, not the drain, is what is tested.
    let fast_stop = [("EVALBOARD_ENGINE__DRAIN_SECS", "0")];
    let mut server = Server::start(data.path(), &fast_stop, &[]);
    let bind = server.base.trim_start_matches("http://").to_owned();
    let created = json_of(&evalboard(
        &server,
        &create(
            r#"{"concurrency": 1, "simulated": {"latencyMs": 150, "seed": 2}, "selection": {"sampleSize": 12, "seed": 1}}"#,
            &["--json"],
        ),
        None,
    ));
    let id = created["run"]["id"].as_str().unwrap().to_owned();
    // `--server` after the command works as well as before it.
    let follower = Command::new(BINARY)
        .args(["runs", "follow", &id, "--json", "--server", &server.base])
        .env_remove("EVALBOARD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    server.wait_for("path=/runs/events");
    let base = server.base.clone();
    server.terminate();
    // One that starts while the server is away waits for it too.
    let late = Command::new(BINARY)
        .args(["runs", "--server", &base, "follow", &id, "--json"])
        .env_remove("EVALBOARD_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let server = Server::start_on(&bind, data.path(), &fast_stop, &[]);

    for follower in [follower, late] {
        let followed = follower.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&followed.stderr).into_owned();
        let run = json_of(&followed);
        assert_eq!(run["run"]["status"], "completed", "{said}");
        assert_eq!(run["progress"]["completed"], 12);
        assert!(said.contains("lost the server"), "{said}");
        assert!(said.contains("the server is back"), "{said}");
    }
    server.terminate();
}

#[test]
fn the_client_refuses_what_it_cannot_use() {
    let refused = |args: &[&str]| {
        let output = Command::new(BINARY)
            .args(args)
            .env_remove("EVALBOARD_SERVER")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    // A server's option, which would be ignored and the default server asked instead.
    let said = refused(&["runs", "list", "--bind", "127.0.0.1:9"]);
    assert!(said.contains("--bind is an option of the server"), "{said}");
    assert!(said.contains("--server URL"), "{said}");
    // A server without its scheme, which an HTTP client would read as a path.
    let said = refused(&["runs", "--server", "127.0.0.1:9", "list"]);
    assert!(said.contains("is not a server's URL"), "{said}");
}

/// Standard error that cannot be written (full, or a pipe whose reader went away) loses what
/// was said there, not the command's exit status (it panicked: 101).
#[cfg(target_os = "linux")]
#[test]
fn a_standard_error_that_cannot_be_written_does_not_change_the_exit_status() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    // Nobody listens there: the error goes to standard error, and the status says it.
    let output = Command::new(BINARY)
        .args(["runs", "--server", "http://127.0.0.1:9", "list"])
        .env_remove("EVALBOARD_TOKEN")
        .stderr(full)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
}

/// A server that cannot be reached is exit status 3, not the 2 of a refused request: a script
/// tells "try again later" from "this request is wrong".
#[test]
fn an_unreachable_server_is_its_own_exit_status() {
    let output = Command::new(BINARY)
        .args(["runs", "--server", "http://127.0.0.1:9", "show", "r-1"])
        .env_remove("EVALBOARD_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let said = String::from_utf8(output.stderr).unwrap();
    assert!(
        said.contains("cannot reach the server at http://127.0.0.1:9"),
        "{said}"
    );
}

#[test]
fn the_version_names_the_command_a_user_types() {
    let output = Command::new(BINARY).arg("--version").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let said = String::from_utf8(output.stdout).unwrap();
    assert_eq!(said, format!("evalboard {}\n", env!("CARGO_PKG_VERSION")));
}

/// A re-judging that does not finish puts the run back as it was: its follow says so and ends
/// with status 1 (a script gating on it must not take it for done) — here an LLM judge whose
/// provider refuses the key, which fails the re-judging at its first request.
#[test]
fn a_rejudging_that_does_not_finish_is_said_and_is_exit_status_1() {
    let base = start_echoing_provider();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("EVALBOARD_PROVIDERS__ECHO__NAME", "Echo"),
            ("EVALBOARD_PROVIDERS__ECHO__KIND", "openai-compatible"),
            ("EVALBOARD_PROVIDERS__ECHO__BASE_URL", base.as_str()),
            (
                "EVALBOARD_PROVIDERS__ECHO__API_KEY_ENV",
                "EVALBOARD_TEST_ECHO_KEY",
            ),
            ("EVALBOARD_TEST_ECHO_KEY", "echo-key-1"),
            ("EVALBOARD_PROVIDERS__ECHO__MODELS", r#"["auth"]"#),
            ("EVALBOARD_PROVIDERS__ECHO__MAX_ATTEMPTS", "1"),
        ],
        &[],
    );
    let run = json_of(&evalboard(
        &server,
        &create(r#"{"concurrency": 8}"#, &["--follow", "--json"]),
        None,
    ));
    assert_eq!(run["run"]["status"], "completed", "{run}");
    let id = run["run"]["id"].as_str().unwrap();
    let refused = evalboard(
        &server,
        &[
            "rejudge",
            id,
            "--judge-provider",
            "Echo",
            "--judge-model",
            "auth",
            "--follow",
            "--json",
        ],
        None,
    );
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("the re-judging did not finish (canceled or failed"),
        "{said}"
    );
    assert!(
        said.contains("re-judging 1 failed ("),
        "the log's warning: {said}"
    );
    let shown = String::from_utf8(evalboard(&server, &["show", id], None).stdout).unwrap();
    assert!(
        shown.contains(
            " · judge extraction rules (re-judged 1×; round 0 in force, the latest undone) · "
        ),
        "{shown}"
    );
    let after: Value = serde_json::from_slice(&refused.stdout).expect("the run, as JSON");
    assert_eq!(
        (
            &after["run"]["status"],
            &after["judge"],
            &after["judgingRound"],
            &after["progress"]
        ),
        (
            &json!("completed"),
            &json!("choice"),
            &json!(0),
            &run["progress"]
        ),
        "back as it was: {after}"
    );
    server.terminate();
}
