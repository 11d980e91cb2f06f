//! Logs are written by a thread of their own: a reader of standard output that stops reading (a
//! paused terminal, a stuck log shipper) does not stop the server, and the lines that waited are
//! written once it reads again.

use std::{
    io::{BufRead, BufReader, Read},
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::BINARY;

/// Each request logs a `served` line of about 190 bytes: a pipe (64 KiB here) that nobody reads
/// is full after a few hundred.
const REQUESTS: usize = 1_000;

#[test]
fn a_reader_that_stops_reading_the_logs_does_not_stall_the_server() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(BINARY)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env_remove("DATABASE_URL")
        .env("EVALBOARD_LOG", "info")
        // One client asking a thousand times a minute.
        .env("EVALBOARD_HTTP__REQUESTS_PER_MINUTE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read up to the line that says where it listens, then nothing while the requests go.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
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
    // Stopping writes out what waited; none of it was lost.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
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
