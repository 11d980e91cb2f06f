//! Starting the real binary and talking to it.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use serde_json::{Value, json};

pub(crate) const SECRET: &str = "sk-test-do-not-leak-4f2a9c";
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_evalboard");

/// A running server and everything it printed.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    pub(crate) fn start(data_dir: &Path, extra_env: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", data_dir, extra_env, args)
    }

    /// [`Server::start`] at `bind` (a restart at the address its clients know).
    pub(crate) fn start_on(
        bind: &str,
        data_dir: &Path,
        extra_env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let mut command = Command::new(BINARY);
        command
            .args(["--bind", bind, "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env_remove("DATABASE_URL")
            .env("OPENAI_API_KEY", SECRET)
            .env("EVALBOARD_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the server");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut server = Self {
            child,
            base: String::new(),
            lines,
            seen: Vec::new(),
        };
        let line = server.wait_for("listening on http://");
        let at = line.find("http://").unwrap();
        server.base = line[at..].trim().to_owned();
        server
    }

    pub(crate) fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "server never printed `{needle}`; output:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        let response = reqwest::blocking::get(format!("{}{path}", self.base)).unwrap();
        (response.status().as_u16(), response.json().unwrap())
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.json().unwrap())
    }

    /// Sends SIGTERM and returns everything the server printed once it has exited.
    pub(crate) fn terminate(self) -> String {
        self.stop_with("TERM")
    }

    /// Sends `signal` (`TERM`, `HUP`, …) and returns everything the server printed once it has
    /// exited, which it must have done gracefully.
    pub(crate) fn stop_with(mut self, signal: &str) -> String {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.try_iter());
        let output = self.seen.join("\n");
        assert!(
            status.success(),
            "exit status {status} after SIG{signal}; output:\n{output}"
        );
        assert!(
            output.contains("stopped"),
            "no graceful stop; output:\n{output}"
        );
        output
    }
}

/// Sends SIGTERM to `child`.
pub(crate) fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// A dataset of `n` items in MMLU-Pro JSON Lines, answer B everywhere.
pub(crate) fn dataset_jsonl(n: usize) -> String {
    (0..n)
        .map(|i| {
            let category = ["math", "law", "art"][i % 3];
            json!({"question_id": i, "question": format!("Question {i}?"), "options": ["w", "x", "y", "z"],
                   "answer": "B", "answer_index": 1, "cot_content": "", "category": category, "src": "test"})
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn all_items(server: &Server, run: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut uri = format!("/runs/{run}/items?groupBy=none&limit=200");
    loop {
        let (status, page) = server.get(&uri);
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["nextCursor"].as_str() {
            Some(cursor) => {
                uri = format!("/runs/{run}/items?groupBy=none&limit=200&cursor={cursor}")
            }
            None => return items,
        }
    }
}

pub(crate) fn wait_for(
    server: &Server,
    run: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, detail) = server.get(&format!("/runs/{run}"));
        if done(&detail) {
            return detail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never {what}: {detail}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An OpenAI-compatible endpoint that refuses every request, quoting its `Authorization`
/// header: model `auth` with a 401, any other with a 400. Returns its base URL.
pub(crate) fn start_echoing_provider() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut authorization = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if lower.starts_with("authorization:") {
                        authorization = line["authorization:".len()..].trim().to_owned();
                    } else if let Some(n) = lower.strip_prefix("content-length:") {
                        length = n.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let key = authorization.trim_start_matches("Bearer ").to_owned();
                let (status, message) = if String::from_utf8_lossy(&body).contains("\"auth\"") {
                    (
                        "401 Unauthorized",
                        format!(
                            "Incorrect API key provided: {key}. You can find your API key at …"
                        ),
                    )
                } else {
                    (
                        "400 Bad Request",
                        format!(
                            "Invalid request headers: Authorization: {authorization}; x-key={key}"
                        ),
                    )
                };
                let body = json!({"error": {"message": message}}).to_string();
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    base
}
