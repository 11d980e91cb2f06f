//! What one client may take of a real server: a request rate, event streams, a refused body's
//! connection, and a body that goes silent.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::support::Server;

/// Everything the server sends on `stream` until it closes the connection (or 10 s pass).
fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (String::from_utf8_lossy(&answer).into_owned(), true),
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
            // Reset after the answer: closed too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&answer).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&answer).into_owned(), false),
        }
    }
}

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

#[test]
fn a_refused_or_silent_body_gets_its_answer_and_the_connection_closes() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[("EVALBOARD_HTTP__BODY_IDLE_TIMEOUT_SECS", "1")],
        &[],
    );
    let chunked_to = |host: &str, chunks: usize| {
        let chunk = vec![b' '; 32 * 1024];
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        let mut stream = TcpStream::connect(address(&server)).unwrap();
        let head = format!(
            "POST /runs HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        (0..chunks).for_each(|_| stream.write_all(&framed).unwrap());
        (stream, framed)
    };
    let chunked = |chunks: usize| chunked_to("127.0.0.1", chunks);
    // A chunked body past the 64 KiB limit gets its 413 ...
    let (mut stream, _) = chunked(4);
    stream.write_all(b"0\r\n\r\n").unwrap();
    let (answer, closed) = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(closed);
    // ... and a client that keeps sending is hung up on (after at most a second's linger, so
    // that it can read the answer): the server used to read all it sent, gigabytes a second.
    // So is one refused before any handler (here a 421 for a name the server does not answer
    // to; a 401 or a 429 likewise).
    for host in ["127.0.0.1", "attacker.example"] {
        let (mut stream, framed) = chunked_to(host, 0);
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = std::time::Instant::now();
        let hung_up = loop {
            if started.elapsed() > Duration::from_secs(5) {
                break false;
            }
            if stream.write_all(&framed).is_err() {
                break true;
            }
        };
        assert!(
            hung_up,
            "Host {host}: the server still reads a refused body after 5 s"
        );
    }

    // A body that stops halfway: 408 once it has been silent for a second, and closed.
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let head = "POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 100\r\n\r\n{\"providerName\":";
    stream.write_all(head.as_bytes()).unwrap();
    let (answer, closed) = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("sent nothing, or too little, for too long"),
        "{answer}"
    );
    assert!(closed);
    // A body never silent for a second, but a byte at a time: 408 once it has had its second
    // and is below the least pace (1 KiB/s), and closed; it used to hold its connection for
    // as long as its client liked.
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream
        .write_all(
            b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .unwrap();
    let started = std::time::Instant::now();
    let cut = loop {
        std::thread::sleep(Duration::from_millis(250));
        if stream.write_all(b" ").is_err() || started.elapsed() > Duration::from_secs(10) {
            break started.elapsed();
        }
        let mut peek = [0; 1];
        stream.set_nonblocking(true).unwrap();
        let answered = stream.peek(&mut peek).is_ok_and(|n| n > 0);
        stream.set_nonblocking(false).unwrap();
        if answered {
            break started.elapsed();
        }
    };
    assert!(
        cut < Duration::from_secs(10),
        "a trickle held on for {cut:?}"
    );
    let (answer, closed) = read_until_closed(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed);
    // One client holds at most 32 requests whose body is still coming: past them, a 429 at
    // once (trickles within the request rate held a connection each, without end).
    let trickle = || {
        let mut stream = TcpStream::connect(address(&server)).unwrap();
        stream
            .write_all(
                b"POST /auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
            )
            .unwrap();
        stream
    };
    let mut held: Vec<TcpStream> = (0..32).map(|_| trickle()).collect();
    // Each one more is refused once the 32 have reached the limits (they are admitted in
    // whatever order the server reads them).
    let refused = (0..20).find_map(|_| {
        let mut stream = trickle();
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut head = [0; 12];
        let answered = stream.read_exact(&mut head).is_ok();
        held.push(stream);
        answered.then(|| String::from_utf8_lossy(&head).into_owned())
    });
    assert_eq!(refused.as_deref(), Some("HTTP/1.1 429"), "{refused:?}");
    drop(held);
    // Nothing was created.
    assert_eq!(server.get("/runs").1["runs"], serde_json::json!([]));
}

#[test]
fn a_client_meets_its_request_rate_and_its_stream_limit() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[
            ("EVALBOARD_HTTP__REQUESTS_PER_MINUTE", "60"),
            ("EVALBOARD_HTTP__REQUEST_BURST", "5"),
            ("EVALBOARD_HTTP__STREAMS_PER_CLIENT", "1"),
        ],
        &[],
    );
    let client = reqwest::blocking::Client::new();
    let url = |path: &str| format!("{}{path}", server.base);
    // One stream is this client's share: a second is refused.
    let first = client.get(url("/runs/events")).send().unwrap();
    assert_eq!(first.status(), 200);
    let second = client.get(url("/runs/events")).send().unwrap();
    assert_eq!(second.status(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let problem: serde_json::Value = second.json().unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("event streams open")
    );
    drop(first);
    // The burst of five is spent (two streams, now three reads), then 429 with Retry-After —
    // for a request refused before the limits too (a name the server does not answer to here,
    // a wrong token likewise), so that guessing is bounded like any other traffic.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(client.get(url("/runs")).send().unwrap().status().as_u16());
    }
    let misdirected = client.get(url("/runs")).header("host", "attacker.example");
    statuses.push(misdirected.send().unwrap().status().as_u16());
    assert_eq!(statuses, [200, 200, 200, 429], "{statuses:?}");
    let refused = client.get(url("/runs")).send().unwrap();
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "one request a second: {wait}");
    // Health checks are not counted.
    assert_eq!(client.get(url("/healthz")).send().unwrap().status(), 200);
}

/// A stream its client closed gives its slot back at once, not when a heartbeat's write finds
/// the connection gone (15 s and more later): a dashboard reloaded again and again is not
/// refused for streams it no longer holds.
#[test]
fn a_closed_stream_gives_its_slot_back_at_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &[("EVALBOARD_HTTP__STREAMS_PER_CLIENT", "1")],
        &[],
    );
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/runs/events", server.base);
    for reload in 0..5 {
        let closed = std::time::Instant::now();
        // Each stream is dropped (its connection closed) as soon as it is open; the next one
        // may meet the server before it has seen the close, so it asks again for a moment.
        while client.get(&url).send().unwrap().status() != 200 {
            assert!(
                closed.elapsed() < Duration::from_secs(5),
                "reload {reload}: the closed stream still held its slot after 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Behind a trusted reverse proxy, each client's allowance is its own, by the address the
/// proxy says it received the request from; from a peer not listed, `X-Forwarded-For` is
/// ignored (a client can write it).
#[test]
fn behind_a_trusted_proxy_each_client_has_its_own_allowance() {
    let stream = |server: &Server, forwarded_for: &str| {
        reqwest::blocking::Client::new()
            .get(format!("{}/runs/events", server.base))
            .header("x-forwarded-for", forwarded_for)
            .send()
            .unwrap()
    };
    let detail = |refused: reqwest::blocking::Response| -> String {
        assert_eq!(refused.status(), 429);
        let problem: serde_json::Value = refused.json().unwrap();
        problem["detail"].as_str().unwrap().to_owned()
    };
    let one_stream = ("EVALBOARD_HTTP__STREAMS_PER_CLIENT", "1");

    let data = tempfile::tempdir().unwrap();
    let proxied = Server::start(
        data.path(),
        &[
            one_stream,
            ("EVALBOARD_HTTP__TRUSTED_PROXIES", r#"["127.0.0.1"]"#),
        ],
        &[],
    );
    let alice = stream(&proxied, "203.0.113.7");
    assert_eq!(alice.status(), 200);
    // What a client wrote itself, left of the proxy's entry, changes nothing.
    let bob = stream(&proxied, "203.0.113.7, 203.0.113.8");
    assert_eq!(bob.status(), 200, "another client behind the proxy");
    let said = detail(stream(&proxied, "198.51.100.1, 203.0.113.7"));
    assert!(said.contains("address 203.0.113.7 already has 1"), "{said}");
    drop((alice, bob));
    proxied.terminate();

    let data = tempfile::tempdir().unwrap();
    let direct = Server::start(data.path(), &[one_stream], &[]);
    let first = stream(&direct, "203.0.113.7");
    assert_eq!(first.status(), 200);
    let said = detail(stream(&direct, "203.0.113.8"));
    assert!(said.contains("address 127.0.0.1 already has 1"), "{said}");
    drop(first);
    direct.terminate();

    // An entry that is not an address or a network stops the server at start.
    let data = tempfile::tempdir().unwrap();
    let refused = std::process::Command::new(crate::support::BINARY)
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env("EVALBOARD_HTTP__TRUSTED_PROXIES", r#"["proxy.internal"]"#)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("http.trusted_proxies: `proxy.internal` is not an IP address"),
        "{said}"
    );
}
