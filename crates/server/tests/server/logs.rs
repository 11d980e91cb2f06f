//! Logs are written by a thread of their own: a reader of standard output that stops reading (a
//! paused terminal, a stuck log shipper) does not stop the server, the lines that waited are
//! written once it reads again, and the server still exits when nobody ever does.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{BINARY, sigterm};

/// Each request logs a `served` line of about 190 bytes: a pipe (64 KiB here) that nobody reads
/// is full after a few hundred.
const REQUESTS: usize = 1_000;

/// The server, killed if the test fails before it stops it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server and reads its output up to the line that says where it listens; the rest
/// is left unread.
fn start(data_dir: &std::path::Path) -> (Running, BufReader<ChildStdout>, String) {
    let mut server = Running(
        Command::new(BINARY)
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .env_remove("DATABASE_URL")
            .env("EVALBOARD_LOG", "info")
            // One client asking a thousand times a minute.
            .env("EVALBOARD_HTTP__REQUESTS_PER_MINUTE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(server.0.stdout.take().unwrap());
    let base = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "no listening line"
        );
        if let Some(at) = line.find("http://") {
            break line[at..].trim().to_owned();
        }
    };
    (server, stdout, base)
}

/// `REQUESTS` requests, each of which must be answered within 10 s.
fn ask(base: &str) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    for i in 0..REQUESTS {
        let reply = client
            .get(format!("{base}/runs?limit=1"))
            .send()
            .unwrap_or_else(|e| panic!("request {i} got no answer: {e}"));
        assert_eq!(reply.status(), 200, "request {i}");
    }
}

#[test]
fn a_reader_that_stops_reading_the_logs_does_not_stall_the_server() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, mut stdout, base) = start(data.path());
    ask(&base);
    // Stopping writes out what waited; none of it was lost.
    sigterm(&server.0);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(server.0.wait().unwrap().success());
    let served = rest
        .lines()
        .filter(|l| l.contains("path=/runs}") && l.contains("served status=200"))
        .count();
    assert_eq!(
        served,
        REQUESTS,
        "{}",
        &rest[rest.len().saturating_sub(2000)..]
    );
}

#[test]
fn a_server_whose_logs_nobody_reads_still_stops() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, _unread, base) = start(data.path());
    ask(&base);
    sigterm(&server.0);
    // The log's thread is stuck writing to the full pipe; the exit does not wait for it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
