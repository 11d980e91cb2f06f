//! The live stream over real HTTP: a client that folds `GET /runs/events` into the board the
//! way the spec's `useRunEvents` does ends up with exactly what `GET /runs/active` says, through
//! faults, a cancel, a retry and a reconnection with `Last-Event-ID`.

use std::{collections::BTreeMap, time::Duration};

use evalboard_api::{AppState, EventHub, EventStreamConfig};
use evalboard_domain::{EventPosition, RunId};
use evalboard_persistence::{
    Database, PoolOptions,
    testing::{CutProxy, TestDatabase},
};
use evalboard_runner::{EngineConfig, EngineHandle, providers::ClientSet};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use evalboard_api::testing::{SseEvent, sse_events};

use crate::support::{api_tests, import, items, now, registry};

/// A real server on a free port: the whole app, an engine and the event stream.
struct LiveServer {
    base: String,
    http: reqwest::Client,
    engine: Option<EngineHandle>,
    server: actix_web::dev::ServerHandle,
    hub: EventHub,
    db: TestDatabase,
}

fn stream_config() -> EventStreamConfig {
    EventStreamConfig {
        heartbeat: Duration::from_secs(1),
        preview_every: Duration::from_millis(50),
        retention: None,
        ..EventStreamConfig::default()
    }
}

impl LiveServer {
    async fn start(db: TestDatabase, engine: bool) -> Self {
        Self::start_with(db, engine, stream_config()).await
    }

    async fn start_with(db: TestDatabase, engine: bool, config: EventStreamConfig) -> Self {
        let serving = (*db).clone();
        Self::start_on(db, serving, engine, config).await
    }

    /// The server on `serving` (`db` through a proxy, say), the test reading `db` directly.
    async fn start_on(
        db: TestDatabase,
        serving: Database,
        engine: bool,
        config: EventStreamConfig,
    ) -> Self {
        let registry = std::sync::Arc::new(registry());
        let engine = engine.then(|| {
            let mut config = EngineConfig::new("live-test-worker");
            config.poll_every = Duration::from_millis(20);
            config.retry_base_delay = Duration::from_millis(5);
            EngineHandle::start(
                serving.clone(),
                std::sync::Arc::clone(&registry),
                ClientSet::from_registry(&registry),
                config,
            )
        });
        let hub = EventHub::start(
            serving.clone(),
            config,
            engine.as_ref().map(|e| e.signal().activity().clone()),
        )
        .await
        .unwrap();
        let mut state = AppState::new(serving.clone(), registry).with_events(hub.clone());
        if let Some(engine) = &engine {
            state = state.with_engine(engine.signal());
        }
        let server = actix_web::HttpServer::new(move || evalboard_api::app(state.clone()))
            .workers(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
        let base = format!("http://{}", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self {
            base,
            http: reqwest::Client::new(),
            engine,
            server: handle,
            hub,
            db,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let reply = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(reply.status().is_success(), "{path}: {}", reply.status());
        reply.json().await.unwrap()
    }

    /// The board and the id of the last event it includes.
    async fn board(&self) -> (Value, u64) {
        let reply = self.get("/runs/active?limit=24").await;
        assert_eq!(reply.status(), 200);
        let position = reply.headers()["last-event-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        (reply.json().await.unwrap(), position)
    }

    /// The board once every committed event may be delivered (on PostgreSQL committed events
    /// wait for older transactions, of any database of the cluster, to end).
    async fn quiet_board(&self) -> (Value, u64) {
        eventually(10, "events never settled", || {
            !self.db.events_wait_to_settle().unwrap()
        })
        .await;
        self.board().await
    }

    async fn create_run(&self, dataset: &str, settings: Value) -> String {
        let body = json!({"providerName": "Simulated", "datasetName": dataset, "modelName": "sim-1", "settings": settings});
        self.post("/runs", body).await["run"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn status(&self, run: &str) -> String {
        let detail: Value = self
            .get(&format!("/runs/{run}"))
            .await
            .json()
            .await
            .unwrap();
        detail["run"]["status"].as_str().unwrap().to_owned()
    }

    async fn wait_for_status(&self, run: &str, done: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if done(&self.status(run).await) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run} never got there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most 5 s) until every subscriber is gone.
    async fn until_no_subscribers(&self) {
        eventually(5, "a subscriber stayed", || self.hub.subscribers() == 0).await;
    }

    async fn stop(self) {
        self.server.stop(false).await;
        if let Some(engine) = self.engine {
            engine.shutdown().await;
        }
    }
}

/// Waits until `done` holds, checking every 5 ms; fails with `failure` after `seconds`.
async fn eventually(seconds: u64, failure: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{failure}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

type Events = std::pin::Pin<Box<dyn Stream<Item = SseEvent>>>;

/// A board client: hydrated from `/runs/active`, then following the stream.
struct Client {
    board: BTreeMap<String, Value>,
    /// Ids of the stored events received, in order.
    ids: Vec<u64>,
    last_id: u64,
    events: Option<Events>,
    /// The query it streams with: empty for the exact stream, else `?view=board…`.
    query: &'static str,
    /// Events it received.
    received: usize,
    /// What it was hydrated with and every event it received, in order: the recording the
    /// dashboard's fold is tested with (`record_for_the_dashboard`).
    recording: Recording,
}

#[derive(Default, serde::Serialize)]
struct Recording {
    initial: Value,
    events: Vec<Value>,
}

impl Client {
    async fn hydrate(server: &LiveServer) -> Self {
        Self::hydrate_with(server, "").await
    }

    /// A client of the board view (`query` starts with `?view=board`).
    async fn hydrate_with(server: &LiveServer, query: &'static str) -> Self {
        let (snapshots, position) = server.board().await;
        let mut client = Self {
            board: BTreeMap::new(),
            ids: Vec::new(),
            last_id: position,
            events: None,
            query,
            received: 0,
            recording: Recording {
                initial: snapshots.clone(),
                events: Vec::new(),
            },
        };
        client.replace_board(&snapshots);
        client.connect(server).await;
        client
    }

    fn replace_board(&mut self, snapshots: &Value) {
        self.board = snapshots
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["run"]["id"].as_str().unwrap().to_owned(), s.clone()))
            .collect();
    }

    async fn connect(&mut self, server: &LiveServer) {
        let reply = server
            .http
            .get(format!("{}/runs/events{}", server.base, self.query))
            .header("Last-Event-ID", self.last_id.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(
            reply.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        self.events = Some(sse_events(reply.bytes_stream()));
    }

    fn disconnect(&mut self) {
        self.events = None;
    }

    /// Receives and folds one event.
    async fn next(&mut self) -> SseEvent {
        let events = self.events.as_mut().expect("connected");
        let event = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .expect("an event within 20 s")
            .expect("the stream stays open");
        self.apply(&event);
        event
    }

    /// Receives until every stored event up to `target` arrived.
    async fn catch_up_to(&mut self, target: u64) {
        while self.last_id < target {
            self.next().await;
        }
    }

    /// The fold of the spec's `useRunEvents`: status and lifecycle, progress, and items merged
    /// into the run's snapshot.
    fn apply(&mut self, event: &SseEvent) {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        self.recording
            .events
            .push(json!({"event": event.event, "id": event.id, "data": data}));
        let id: u64 = event.id.parse().expect("every event has an id");
        let preview = event.event == "run_item" && data["item"].get("activity").is_some();
        if event.event == "reset" {
            panic!("no reset expected here: {}", event.data);
        }
        self.received += 1;
        if self.query.is_empty() && !preview {
            // Ids are unique; on PostgreSQL the stream's order is the writing transactions'
            // (the test compares it with the stored order at the end).
            assert!(!self.ids.contains(&id), "{id} received twice");
            self.ids.push(id);
            self.last_id = id;
        } else if self.query.is_empty() || preview {
            assert_eq!(id, self.last_id, "a preview carries the position reached");
        } else {
            // The board view: each event carries a position to resume from, the last of a batch
            // the batch's own.
            self.last_id = id;
        }
        let run_id = data["runId"].as_str().unwrap().to_owned();
        match event.event.as_str() {
            "run_status" => {
                let snapshot = self.board.entry(run_id).or_insert_with(
                    || json!({"progress": null, "currentItem": null, "recentItems": []}),
                );
                snapshot["run"] = data["run"].clone();
                snapshot["lifecycle"] = data["lifecycle"].clone();
                assert_eq!(data["status"], data["run"]["status"]);
                if ["completed", "failed", "canceled"].contains(&data["status"].as_str().unwrap()) {
                    snapshot["currentItem"] = Value::Null;
                }
            }
            "run_progress" => {
                if let Some(snapshot) = self.board.get_mut(&run_id) {
                    snapshot["progress"] = data["progress"].clone();
                }
            }
            "run_item" => {
                let Some(snapshot) = self.board.get_mut(&run_id) else {
                    return;
                };
                let item = data["item"].clone();
                let sequence = item["sequence"].clone();
                match item["state"].as_str().unwrap() {
                    "running" => snapshot["currentItem"] = item,
                    state => {
                        if snapshot["currentItem"]["sequence"] == sequence {
                            snapshot["currentItem"] = Value::Null;
                        }
                        if ["correct", "incorrect", "failed", "canceled"].contains(&state) {
                            let recent = snapshot["recentItems"].as_array_mut().unwrap();
                            recent.retain(|i| i["sequence"] != sequence);
                            recent.insert(0, item);
                            recent.truncate(5);
                        }
                    }
                }
            }
            other => panic!("unexpected event `{other}`"),
        }
    }

    /// Asserts the folded board is the server's board.
    fn assert_matches(&self, board: &Value, who: &str) {
        let expected: BTreeMap<String, Value> = board
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["run"]["id"].as_str().unwrap().to_owned(), s.clone()))
            .collect();
        assert_eq!(
            self.board.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{who}: the same runs"
        );
        for (run, snapshot) in &expected {
            assert_eq!(&self.board[run], snapshot, "{who}: run {run}");
        }
    }
}

async fn the_folded_stream_equals_the_board(db: TestDatabase) {
    import(&db, "Demo", &items(40));
    import(&db, "Slow", &items(12));
    let server = LiveServer::start(db, true).await;
    let mut watcher = Client::hydrate(&server).await;
    let mut board_watcher = Client::hydrate_with(&server, "?view=board").await;

    let faulty = server
        .create_run(
            "Demo",
            json!({"concurrency": 4, "simulated": {"latencyMs": 30, "faultRate": 0.5, "seed": 7}}),
        )
        .await;
    let slow = server
        .create_run(
            "Slow",
            json!({"concurrency": 2, "simulated": {"latencyMs": 250, "seed": 1}}),
        )
        .await;

    // A board that follows these two runs by id.
    let runs: &'static str = format!("?view=board&runId={faulty},{slow}").leak();
    let mut drill_down = Client::hydrate_with(&server, runs).await;

    // Second clients join mid-run, leave, and resume where they left off.
    let mut visitor = Client::hydrate(&server).await;
    let mut board_visitor = Client::hydrate_with(&server, "?view=board").await;
    for _ in 0..15 {
        visitor.next().await;
    }
    for _ in 0..4 {
        board_visitor.next().await;
    }
    visitor.disconnect();
    board_visitor.disconnect();
    let left_at = visitor.last_id.max(board_visitor.last_id);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while server.board().await.1 < left_at + 20 {
        assert!(std::time::Instant::now() < deadline, "the runs stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Cancel the slow run once some of its items are done.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (board, _) = server.board().await;
        let done = board
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["run"]["id"] == slow.as_str())
            .map(|s| s["progress"]["completed"].as_u64().unwrap());
        if done >= Some(2) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the slow run stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server
        .post(&format!("/runs/{slow}/cancel"), json!({}))
        .await;
    visitor.connect(&server).await;
    board_visitor.connect(&server).await;

    server.wait_for_status(&faulty, |s| s == "completed").await;
    server.wait_for_status(&slow, |s| s == "canceled").await;
    // Retry what failed (or, should the seed fail nothing, everything).
    let retried = server
        .http
        .post(format!("{}/runs/{faulty}/retry", server.base))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    if retried.status() == 409 {
        server
            .post(&format!("/runs/{faulty}/retry"), json!({"scope": "all"}))
            .await;
    } else {
        assert_eq!(retried.status(), 202);
    }
    server.post(&format!("/runs/{slow}/retry"), json!({})).await;
    server.wait_for_status(&faulty, |s| s == "completed").await;
    server.wait_for_status(&slow, |s| s == "completed").await;
    // A run whose items all finish within one batch of the board view.
    let quick = server
        .create_run(
            "Demo",
            json!({"concurrency": 8, "simulated": {"latencyMs": 0}}),
        )
        .await;
    server.wait_for_status(&quick, |s| s == "completed").await;

    let (board, position) = server.quiet_board().await;
    for client in [
        &mut watcher,
        &mut visitor,
        &mut board_watcher,
        &mut board_visitor,
    ] {
        client.catch_up_to(position).await;
    }
    let two_runs = [faulty.as_str(), slow.as_str()].map(|id| RunId::parse(id).unwrap());
    let last_of_two_runs = server
        .db
        .events_after(EventPosition::default(), Some(&two_runs), 100_000)
        .unwrap()
        .last()
        .unwrap()
        .id();
    drill_down.catch_up_to(last_of_two_runs).await;
    watcher.assert_matches(&board, "watcher");
    visitor.assert_matches(&board, "visitor");
    board_watcher.assert_matches(&board, "board watcher");
    board_visitor.assert_matches(&board, "board visitor");
    let of_two_runs: Vec<Value> = board
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["run"]["id"] == faulty.as_str() || s["run"]["id"] == slow.as_str())
        .cloned()
        .collect();
    drill_down.assert_matches(&json!(of_two_runs), "a board of the two runs");
    // The board view sent less than every event (what was replaced within a batch).
    assert!(
        board_watcher.received < watcher.received,
        "board view: {} events, exact: {}",
        board_watcher.received,
        watcher.received
    );
    record_for_the_dashboard(&visitor, &board);

    // Every stored event reached the watcher exactly once, in order, and the visitor got every
    // one after it first hydrated, its disconnection notwithstanding.
    let stored: Vec<u64> = server
        .db
        .events_after(EventPosition::default(), None, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    assert_eq!(watcher.ids, stored);
    // In the stream's order (by the writing transaction, then by id).
    let visitor_from = stored.iter().position(|&id| id == visitor.ids[0]).unwrap();
    let expected = stored[visitor_from..].to_vec();
    assert_eq!(visitor.ids, expected);
    server.stop().await;
}

/// The position of the event `id` (a `Last-Event-ID`).
fn resume_position(db: &TestDatabase, id: u64) -> EventPosition {
    match db.resume_from(id).unwrap() {
        evalboard_persistence::Resume::At(position) => position,
        other => panic!("cannot resume from {id}: {other:?}"),
    }
}

/// With `EVALBOARD_RECORD_STREAM=FILE`, writes what a client joining mid-run saw (its
/// hydration, every event across its disconnection and resumption, through faults, a cancel and
/// retries) and the board it ended equal to: the dashboard's fold is tested against it
/// (`crates/dashboard/web/src/live/stream.test.ts`; docs/dashboard.md says how to record anew).
fn record_for_the_dashboard(client: &Client, board: &Value) {
    let Some(path) = std::env::var_os("EVALBOARD_RECORD_STREAM") else {
        return;
    };
    let recording = json!({
        "initial": client.recording.initial,
        "events": client.recording.events,
        "final": board,
    });
    std::fs::write(path, serde_json::to_string(&recording).unwrap() + "\n").unwrap();
}

async fn resuming_where_the_outbox_cannot_serve_starts_with_reset(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let server = LiveServer::start(db, false).await;
    let first = server.create_run("Demo", json!({})).await;
    let second = server.create_run("Demo", json!({})).await;
    let (_, position) = server.quiet_board().await;
    assert_eq!(position, 4, "two events per created run");

    let open = |last: Option<&str>, query: &str| {
        let mut request = server
            .http
            .get(format!("{}/runs/events{query}", server.base));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last);
        }
        request.send()
    };
    let first_events = |reply: reqwest::Response, n: usize| async move {
        assert_eq!(reply.status(), 200);
        sse_events(reply.bytes_stream())
            .take(n)
            .collect::<Vec<_>>()
            .await
    };

    // Resuming within the stored events replays exactly the missed ones; a run filter keeps
    // only that run's.
    let replay = first_events(open(Some("1"), "").await.unwrap(), 3).await;
    let ids: Vec<&str> = replay.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["2", "3", "4"]);
    let only_second = first_events(
        open(None, &format!("?runId={second}&lastEventId=0"))
            .await
            .unwrap(),
        2,
    )
    .await;
    assert!(only_second.iter().all(|e| e.data.contains(&second)));
    assert_eq!(only_second[0].event, "run_status");

    // `follow=false` sends what is stored after the position and ends (collecting the whole
    // body would never return otherwise); without a position there is nothing to send.
    let whole = |reply: reqwest::Response| async move {
        assert_eq!(reply.status(), 200);
        sse_events(reply.bytes_stream()).collect::<Vec<_>>().await
    };
    let missed = whole(open(Some("2"), "?follow=false").await.unwrap()).await;
    let ids: Vec<&str> = missed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["3", "4"]);
    assert!(
        whole(open(None, "?follow=false").await.unwrap())
            .await
            .is_empty()
    );
    let board = whole(open(Some("0"), "?follow=false&view=board").await.unwrap()).await;
    assert!(!board.is_empty(), "the board view's catch-up, then the end");
    assert_eq!(open(None, "?follow=maybe").await.unwrap().status(), 400);

    // Pruned events: the stream starts with `reset` at the newest id.
    let pruned = server
        .db
        .prune_events(now() + chrono::Duration::seconds(1))
        .unwrap();
    assert_eq!(pruned, 4);
    let reset = first_events(open(Some("1"), "").await.unwrap(), 1).await;
    assert_eq!(reset[0].event, "reset");
    assert_eq!(reset[0].id, "4");
    let data: Value = serde_json::from_str(&reset[0].data).unwrap();
    assert_eq!(data, json!({"reason": "pruned", "lastEventId": 4}));
    // An id this server never issued (another database, say) resets too.
    let reset = first_events(open(Some("99"), "").await.unwrap(), 1).await;
    let data: Value = serde_json::from_str(&reset[0].data).unwrap();
    assert_eq!(data["reason"], "unknown_position");
    // After a reset the stream goes on with new events.
    let after_reset = open(Some("1"), "").await.unwrap().bytes_stream();
    let mut after_reset = sse_events(after_reset);
    assert_eq!(after_reset.next().await.unwrap().event, "reset");
    server
        .post(&format!("/runs/{first}/cancel"), json!({}))
        .await;
    let next = after_reset.next().await.unwrap();
    assert_eq!((next.event.as_str(), next.id.as_str()), ("run_status", "5"));

    // Bad input is a 4xx with a problem document.
    let bad = open(Some("yesterday"), "").await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    // A bad query position is refused even beside a good header (the header would win).
    let beside = open(Some("1"), "?lastEventId=-36&follow=false")
        .await
        .unwrap();
    assert_eq!(beside.status(), 400);
    let unknown = open(None, "?runId=run-0123456789abcdef0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(open(None, "?since=3").await.unwrap().status(), 400);
    assert_eq!(open(None, "?view=everything").await.unwrap().status(), 400);
    let many_runs: Vec<String> = (0..51).map(|_| RunId::generate().to_string()).collect();
    let too_many = open(None, &format!("?runId={}", many_runs.join(",")))
        .await
        .unwrap();
    assert_eq!(too_many.status(), 400, "at most 50 runs");
    server.stop().await;
}

async fn a_client_that_stops_reading_is_dropped_and_can_resume(db: TestDatabase) {
    // Long questions, so that the stream outgrows every socket buffer between the server and a
    // client that reads nothing.
    let mut long = items(400);
    for item in &mut long {
        item.question = format!("{} {}", item.question, "context ".repeat(2_000));
    }
    import(&db, "Long", &long);
    let config = EventStreamConfig {
        buffer: 64,
        stall_timeout: Duration::from_millis(300),
        ..stream_config()
    };
    let server = LiveServer::start_with(db, true, config).await;
    let (_, position) = server.board().await;

    // A client that asks for the stream, with a small receive window, and never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = server.base.trim_start_matches("http://").parse().unwrap();
    let mut stuck = socket.connect(address).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stuck,
        b"GET /runs/events HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.hub.subscribers() == 0 {
        assert!(std::time::Instant::now() < deadline, "never subscribed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The run goes through while the client reads nothing, and the client is dropped.
    let run = server
        .create_run(
            "Long",
            json!({"concurrency": 16, "simulated": {"latencyMs": 0}}),
        )
        .await;
    server.wait_for_status(&run, |s| s == "completed").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.hub.subscribers() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled subscriber is still attached"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(stuck);

    // Resuming from where it was gets it everything it missed, in order.
    let mut resumed = Client {
        board: BTreeMap::new(),
        ids: Vec::new(),
        last_id: position,
        events: None,
        query: "",
        received: 0,
        recording: Recording::default(),
    };
    resumed.replace_board(&json!([]));
    resumed.connect(&server).await;
    let (board, end) = server.quiet_board().await;
    resumed.catch_up_to(end).await;
    resumed.assert_matches(&board, "resumed");
    let stored: Vec<u64> = server
        .db
        .events_after(resume_position(&server.db, position), None, 100_000)
        .unwrap()
        .iter()
        .map(|e| e.id())
        .collect();
    assert_eq!(resumed.ids, stored);
    server.stop().await;
}

api_tests!(
    a_client_that_stops_reading_is_dropped_and_can_resume,
    the_folded_stream_equals_the_board,
    resuming_where_the_outbox_cannot_serve_starts_with_reset,
    an_idle_stream_carries_heartbeats,
    head_is_answered_wherever_get_is,
    a_client_leaving_an_idle_stream_is_let_go_without_an_event,
);

/// A database out of reach ends the live streams — a client left open would go on showing,
/// under "Live", what it last received — refuses new ones (503), and a client resumes where
/// it was once the database is back (PostgreSQL, through a proxy the test cuts).
#[actix_web::test]
async fn a_database_out_of_reach_ends_live_streams_until_it_is_back() {
    let Some(db) = TestDatabase::postgres() else {
        return;
    };
    let proxy = CutProxy::start(db.url()).await;
    let through = proxy.url_through(db.url());
    // Off this thread, which also runs the proxy.
    let serving = tokio::task::spawn_blocking(move || {
        Database::connect(
            &through,
            &PoolOptions {
                max_connections: 4,
                acquire_timeout: Duration::from_millis(500),
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    let config = EventStreamConfig {
        heartbeat: Duration::from_millis(100),
        recheck_every: Duration::from_millis(100),
        ..stream_config()
    };
    let server = LiveServer::start_on(db, serving, false, config).await;
    for query in ["", "?view=board"] {
        let reply = server.get(&format!("/runs/events{query}")).await;
        assert_eq!(reply.status(), 200);
        let mut body = reply.bytes_stream();
        // Caught up and following: heartbeats come.
        for _ in 0..3 {
            let beat = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
            assert!(matches!(beat, Ok(Some(Ok(_)))), "{query}: {beat:?}");
        }
        proxy.cut();
        // Heartbeats, then the end: a stream that ends is one its client reopens.
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(chunk) = body.next().await {
                if chunk.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(
            ended.is_ok(),
            "{query}: the stream went on with the database gone"
        );
        let refused = server.get(&format!("/runs/events{query}")).await;
        assert_eq!(refused.status(), 503, "{query}");
        assert_eq!(server.get("/readyz").await.status(), 503);
        proxy.mend();
        let reopened = server.get(&format!("/runs/events{query}")).await;
        assert_eq!(reopened.status(), 200, "{query}");
        // It stays open: the database answers again.
        let mut body = reopened.bytes_stream();
        let beat = tokio::time::timeout(Duration::from_secs(5), body.next()).await;
        assert!(matches!(beat, Ok(Some(Ok(_)))), "{query}: {beat:?}");
        let more = tokio::time::timeout(Duration::from_millis(500), body.next()).await;
        assert!(
            matches!(more, Ok(Some(Ok(_)))),
            "{query}: still open: {more:?}"
        );
    }
    server.stop().await;
}

/// Nothing happens on the server, so no event would reveal that a client left: its
/// subscription still ends soon after its connection does (the pump reads only for
/// subscribers).
async fn a_client_leaving_an_idle_stream_is_let_go_without_an_event(db: TestDatabase) {
    // The connection's end is seen when a write fails: a heartbeat, here every 50 ms.
    let config = EventStreamConfig {
        heartbeat: Duration::from_millis(50),
        ..stream_config()
    };
    let server = LiveServer::start_with(db, false, config).await;
    for query in ["", "?view=board"] {
        let reply = server.get(&format!("/runs/events{query}")).await;
        assert_eq!(reply.status(), 200);
        assert_eq!(server.hub.subscribers(), 1, "{query}");
        drop(reply);
        server.until_no_subscribers().await;
    }
    server.stop().await;
}

/// Over the wire, `HEAD` gets what `GET` would, without the body: monitors and load balancers
/// ask `HEAD /healthz`. An event stream asked with `HEAD` ends at once instead of holding the
/// connection and a subscription open.
async fn head_is_answered_wherever_get_is(db: TestDatabase) {
    import(&db, "Demo", &items(3));
    let server = LiveServer::start(db, false).await;
    let head = |path: &str| server.http.head(format!("{}{path}", server.base)).send();
    for path in [
        "/healthz",
        "/runs?limit=5",
        "/datasets",
        "/openapi.json",
        "/ui/",
    ] {
        let got = server.get(path).await;
        let headed = head(path).await.unwrap();
        assert_eq!(headed.status(), got.status(), "{path}");
        assert_eq!(headed.status(), 200, "{path}");
        for name in ["content-type", "content-length"] {
            assert_eq!(
                headed.headers().get(name),
                got.headers().get(name),
                "{path}: {name}"
            );
        }
        assert!(headed.bytes().await.unwrap().is_empty(), "{path}");
    }
    let headed = tokio::time::timeout(Duration::from_secs(5), async {
        let reply = head("/runs/events?view=board").await.unwrap();
        let headers = reply.headers().clone();
        (reply.status(), headers, reply.bytes().await.unwrap())
    })
    .await
    .expect("HEAD of the event stream ends");
    assert_eq!(headed.0, 200);
    assert_eq!(headed.1["content-type"], "text/event-stream");
    assert!(headed.2.is_empty());
    server.until_no_subscribers().await;
    // A path without GET still says what it takes.
    let refused = head("/runs/run-0123/cancel").await.unwrap();
    assert_eq!(refused.status(), 405);
    assert_eq!(refused.headers()["allow"], "POST");
    server.stop().await;
}

async fn an_idle_stream_carries_heartbeats(db: TestDatabase) {
    let config = EventStreamConfig {
        heartbeat: Duration::from_millis(50),
        ..stream_config()
    };
    let server = LiveServer::start_with(db, false, config).await;
    let reply = server.get("/runs/events").await;
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // Nothing happens on the server: whatever arrives is keep-alive comments, which proxies
    // see as traffic and clients ignore.
    let mut body = reply.bytes_stream();
    let mut seen = Vec::new();
    while seen.windows(2).filter(|w| w == b"\n\n").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("a heartbeat within 5 s")
            .unwrap()
            .unwrap();
        seen.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(seen).unwrap();
    assert!(
        text.split("\n\n")
            .filter(|frame| !frame.is_empty())
            .all(|frame| frame.starts_with(':')),
        "only comments on an idle stream: {text:?}"
    );
    server.stop().await;
}
