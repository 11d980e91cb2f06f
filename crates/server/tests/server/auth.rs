//! Authentication as an operator meets it: a server reachable beyond loopback refuses to start
//! without tokens, `evalboard token create` makes one that lets its holder in (by header, or by
//! the dashboard's cookie, event stream included), and one data directory serves one server.

use std::{
    io::Read,
    process::{Command, Output},
};

use serde_json::{Value, json};

use crate::{
    support::{BINARY, Server},
    write_config,
};

fn evalboard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BINARY);
    command.args(args).env_remove("DATABASE_URL");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn listening_beyond_loopback_needs_tokens_or_an_explicit_none() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let refused = evalboard(&["--bind", "0.0.0.0:0", "--data-dir", dir], &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without tokens")
            && stderr.contains("evalboard token create --name NAME --role admin")
            && stderr.contains("auth.mode = \"none\""),
        "{stderr}"
    );
    // `tokens` needs one.
    let refused = evalboard(&["--data-dir", dir], &[("EVALBOARD_AUTH__MODE", "tokens")]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("needs at least one [[auth.tokens]]")
    );

    // Told so, it starts open, and says so loudly; tokens configured beside it are said to be
    // ignored.
    let created = evalboard(
        &["token", "create", "--name", "ci", "--role", "viewer"],
        &[],
    );
    let entry = String::from_utf8(created.stderr).unwrap();
    let config = write_config(
        data.path(),
        &entry[entry.find("[[auth.tokens]]").unwrap()..],
    );
    let mut child = Command::new(BINARY)
        .args([
            "--bind",
            "0.0.0.0:0",
            "--data-dir",
            dir,
            "--config",
            &config,
        ])
        .env_remove("DATABASE_URL")
        .env("EVALBOARD_AUTH__MODE", "none")
        .env("EVALBOARD_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut output = String::new();
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = [0u8; 4096];
    while !output.contains("listening on") {
        let n = stdout.read(&mut buffer).unwrap();
        assert!(n > 0, "the server exited: {output}");
        output.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(output.contains("AUTHENTICATION IS OFF"), "{output}");
    assert!(
        output.contains("the 1 configured token(s) are ignored"),
        "{output}"
    );
}

#[test]
fn a_created_token_lets_its_holder_in_by_header_or_by_cookie() {
    let created = evalboard(
        &["token", "create", "--name", "ci", "--role", "operator"],
        &[],
    );
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("evb_"), "{token}");
    let entry = String::from_utf8(created.stderr).unwrap();
    assert!(entry.contains("[[auth.tokens]]") && entry.contains("role = \"operator\""));
    assert!(
        !entry.contains(&token),
        "the entry holds the digest, not the token"
    );
    let entry = &entry[entry.find("[[auth.tokens]]").unwrap()..];
    let refused = evalboard(
        &["token", "create", "--name", "two words", "--role", "admin"],
        &[],
    );
    assert!(!refused.status.success());
    let refused = evalboard(&["token", "create", "--name", "ci", "--role", "root"], &[]);
    assert!(!refused.status.success());

    let data = tempfile::tempdir().unwrap();
    let config = write_config(data.path(), entry);
    let mut server = Server::start(data.path(), &[], &["--config", &config]);
    let client = reqwest::blocking::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);

    assert_eq!(client.get(url("/runs")).send().unwrap().status(), 401);
    // A load balancer's health checks (public) are not logged at `info`: every few seconds,
    // they would fill the log.
    for check in ["/healthz", "/readyz"] {
        assert_eq!(client.get(url(check)).send().unwrap().status(), 200);
    }
    let listed = client.get(url("/runs")).bearer_auth(&token).send().unwrap();
    assert_eq!(listed.status(), 200);
    let request_id = listed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let created = client
        .post(url("/runs"))
        .bearer_auth(&token)
        .json(&json!({"providerName": "Simulated", "datasetName": "evalboard-demo", "modelName": "sim-1"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);

    // The dashboard's way: a cookie, which the event stream takes too.
    let signed_in = client
        .post(url("/auth/session"))
        .json(&json!({"token": token}))
        .send()
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let session: Value = client
        .get(url("/auth/session"))
        .header("cookie", &cookie)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (&session["name"], &session["role"]),
        (&json!("ci"), &json!("operator"))
    );
    let stream = client
        .get(url("/runs/events?view=board"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    drop(stream);
    assert_eq!(
        client.get(url("/runs/events")).send().unwrap().status(),
        401
    );

    // Who did it is in the request log, under the id its response carried; the token never is.
    let line = server.wait_for(&format!("id={request_id}"));
    assert!(
        line.contains("path=/runs}")
            && line.contains("served status=200")
            && line.contains("token=\"ci\""),
        "{line}"
    );
    let output = server.terminate();
    assert!(!output.contains(&token), "the token leaked into the log");
    assert!(
        !output
            .lines()
            .any(|l| l.contains("served") && (l.contains("/healthz") || l.contains("/readyz"))),
        "{output}"
    );
    assert!(output.contains("path=/runs}"), "{output}");
}

/// The documented rotation: a new token under the holder's name, both accepted until the old
/// entry goes. A name given another role is refused by `token create` as by the server, and
/// the server's own options are refused rather than ignored.
#[test]
fn a_token_is_rotated_under_its_name() {
    let data = tempfile::tempdir().unwrap();
    let created = |args: &[&str]| {
        let mut all = vec!["token", "create", "--name", "ci"];
        all.extend(args);
        evalboard(&all, &[])
    };
    let first = created(&["--role", "operator"]);
    let first_token = String::from_utf8(first.stdout).unwrap().trim().to_owned();
    let first_entry = String::from_utf8(first.stderr).unwrap();
    let first_entry = first_entry[first_entry.find("[[auth.tokens]]").unwrap()..].to_owned();
    let config = write_config(data.path(), &first_entry);

    let other_role = created(&["--role", "admin", "--config", &config]);
    assert!(!other_role.status.success());
    let said = String::from_utf8_lossy(&other_role.stderr);
    assert!(
        said.contains("has a token named `ci` with the role operator"),
        "{said}"
    );
    let server_option = created(&["--role", "admin", "--bind", "0.0.0.0:1"]);
    assert!(!server_option.status.success());
    assert!(
        String::from_utf8_lossy(&server_option.stderr)
            .contains("--bind is an option of the server")
    );

    let second = created(&["--role", "operator", "--config", &config]);
    assert!(second.status.success());
    let second_token = String::from_utf8(second.stdout).unwrap().trim().to_owned();
    let second_said = String::from_utf8(second.stderr).unwrap();
    assert!(
        second_said.contains("has a token named `ci` already"),
        "{second_said}"
    );
    // Everything on stderr is TOML (the prose as comments): appended to the configuration, it
    // reads.
    use figment::providers::Format;
    let appended = figment::Figment::from(figment::providers::Toml::string(&format!(
        "{first_entry}\n{second_said}"
    )));
    let tokens = appended.find_value("auth.tokens").unwrap();
    assert_eq!(tokens.into_array().unwrap().len(), 2);
    let second_entry = &second_said[second_said.find("[[auth.tokens]]").unwrap()..];
    let second_entry = &second_entry[..second_entry.find("\n\n").unwrap_or(second_entry.len())];
    let both = write_config(data.path(), &format!("{first_entry}\n{second_entry}\n"));
    let server = Server::start(data.path(), &[], &["--config", &both]);
    let client = reqwest::blocking::Client::new();
    for token in [&first_token, &second_token] {
        let listed = client
            .get(format!("{}/runs", server.base))
            .bearer_auth(token)
            .send()
            .unwrap();
        assert_eq!(listed.status(), 200);
    }
    server.terminate();

    // Under another role, the same name is two holders: refused at start.
    let clash = write_config(
        data.path(),
        &format!(
            "{first_entry}\n{}",
            second_entry.replace("operator", "admin")
        ),
    );
    let refused = evalboard(
        &[
            "--config",
            &clash,
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("two tokens named `ci` have different roles"),
        "{said}"
    );
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(data.path(), &[], &[]);
    assert_eq!(first.get("/healthz").0, 200);
    let second = evalboard(
        &[
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        &[],
    );
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another evalboard server is running on the data directory"),
        "{stderr}"
    );
    first.terminate();
    // Once the first has stopped, the directory is free again.
    let again = Server::start(data.path(), &[], &[]);
    assert_eq!(again.get("/healthz").0, 200);
    again.terminate();
}

/// `http.public_host` given with a port still names the server: a `Host` of that name passes
/// the rebinding check with any port or none, another name does not.
#[test]
fn a_public_host_given_with_a_port_names_the_server() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[("EVALBOARD_HTTP__PUBLIC_HOST", "evals.example.com:8443")],
        &[],
    );
    let client = reqwest::blocking::Client::new();
    let status = |host: &str| {
        client
            .get(format!("{}/runs", server.base))
            .header("host", host)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status("evals.example.com:8443"), 200);
    assert_eq!(status("evals.example.com"), 200);
    assert_eq!(status("attacker.example"), 421);
}
