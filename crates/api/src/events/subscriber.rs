//! One subscriber: catch up from the database, then follow the broadcast.

use std::sync::Arc;

use actix_web::{HttpResponse, web::Bytes};
use evalboard_domain::{EventPosition, RunId};
use evalboard_persistence::{Resume, StoreError};
use tokio::sync::{
    broadcast::{
        self,
        error::{RecvError, TryRecvError},
    },
    mpsc,
};

use super::{BoardBatch, BoardMessage, EventHub, Frame, FrameKind, Inner, frames_after, sse};
use crate::dto::ResetEventDto;

/// Where a subscriber's stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// After the event with this id (the client's `Last-Event-ID`).
    After(u64),
    /// With the next event committed.
    Now,
}

/// Which events a subscriber receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StreamView {
    /// Every stored event, each once, in id order (for tools).
    #[default]
    Exact,
    /// What a board needs, in batches (for dashboards; docs/events.md).
    Board,
}

/// Writes a subscriber's connection may hold unsent before it counts as stalled.
const OUTBOX: usize = 16;

/// A write gathers events up to about this many bytes (they are shared, not copied: this
/// bounds how much a slow subscriber keeps alive, with [`OUTBOX`] about 256 KiB beyond the
/// broadcast's own buffer)...
const WRITE_BYTES: usize = 16 * 1024;

/// ...or this many broadcast messages, so that a subscriber of a few runs, for which most
/// messages add nothing, still yields now and then.
const WRITE_MESSAGES: usize = 256;

/// Opens a stream of the events after `start` (of some runs, when given), in `view`.
pub(crate) async fn subscribe(
    hub: &EventHub,
    start: Start,
    runs: Option<Vec<RunId>>,
    view: StreamView,
    follow: bool,
) -> Result<HttpResponse, StoreError> {
    // Subscribe before reading the horizon: what is committed from here on is either read
    // from the database while catching up or received, and duplicates are skipped by id.
    let live = match (follow, view) {
        (false, _) => None,
        (true, StreamView::Exact) => Some(Live::Exact(hub.inner.frames.subscribe())),
        (true, StreamView::Board) => Some(Live::Board(hub.inner.board.subscribe())),
    };
    let (horizon, resume) = hub
        .inner
        .db
        .blocking(move |db| {
            let resume = match start {
                Start::After(seen) => Some(db.resume_from(seen)?),
                Start::Now => None,
            };
            Ok((db.event_horizon()?, resume))
        })
        .await?;
    // The database answered: streams need not end for it (the pump reads nothing while nobody
    // listens, so it may not have found out itself).
    hub.inner.unreadable.send_replace(false);
    hub.inner.subscriber_read_up_to(horizon.last);
    let (cursor, reset) = match resume {
        None => (horizon.last, None),
        Some(Resume::At(position)) => (position, None),
        Some(Resume::Pruned) => (horizon.last, Some("pruned")),
        Some(Resume::Unknown) => (horizon.last, Some("unknown_position")),
    };
    let (outbox, stream) = mpsc::channel(OUTBOX);
    let inner = Arc::clone(&hub.inner);
    let heartbeat = inner.config.heartbeat;
    actix_web::rt::spawn(async move {
        let mut feed = Feed {
            inner,
            outbox,
            cursor,
            runs: runs.map(Arc::from),
            view,
        };
        if let Some(reason) = reset
            && !feed.send_reset(reason).await
        {
            return;
        }
        // Without `follow`, dropping the outbox after the catch-up ends the stream.
        if feed.catch_up().await {
            match live {
                Some(Live::Exact(live)) => feed.follow(live).await,
                Some(Live::Board(live)) => feed.follow_board(live).await,
                None => {}
            }
        }
    });
    Ok(sse::response(stream, heartbeat))
}

enum Live {
    Exact(broadcast::Receiver<Arc<Frame>>),
    Board(broadcast::Receiver<BoardMessage>),
}

struct Feed {
    inner: Arc<Inner>,
    outbox: mpsc::Sender<sse::Pieces>,
    /// The position this subscriber has everything up to: that of the last stored event sent
    /// (or, in the board view, of the last batch sent).
    cursor: EventPosition,
    runs: Option<Arc<[RunId]>>,
    view: StreamView,
}

impl Feed {
    /// Tells the client to refetch the board; the stream continues after the cursor, which
    /// the caller set to the newest stored event.
    async fn send_reset(&mut self, reason: &str) -> bool {
        let payload = ResetEventDto {
            reason: reason.to_owned(),
            last_event_id: self.cursor.id,
        };
        let json = serde_json::to_string(&payload).expect("payloads are plain data");
        self.send(vec![sse::with_id(
            self.cursor.id,
            &sse::event_body("reset", &json),
        )])
        .await
    }

    fn follows(&self, run: &RunId) -> bool {
        self.runs.as_ref().is_none_or(|runs| runs.contains(run))
    }

    /// Sends what the database has after the cursor (in the board view, page by page reduced
    /// to what a board needs). False when the subscriber is gone.
    async fn catch_up(&mut self) -> bool {
        let page = self.inner.config.page;
        loop {
            let read = async {
                let frames =
                    frames_after(&self.inner.db, self.cursor, self.runs.clone(), page).await?;
                // Events after the cursor may have been pruned while this subscriber was
                // catching up; the page would then skip them without a word.
                let horizon = self.inner.db.blocking(|db| db.event_horizon()).await?;
                Ok::<_, StoreError>((frames, horizon))
            };
            let (frames, horizon) = match read.await {
                Ok(read) => read,
                Err(error) => {
                    // Ending the stream makes the client reconnect with its Last-Event-ID.
                    tracing::warn!(%error, "cannot read events for a subscriber");
                    dropped(Dropped::Database);
                    return false;
                }
            };
            if horizon.pruned_through > self.cursor {
                self.cursor = horizon.last;
                if !self.send_reset("pruned").await {
                    return false;
                }
                continue;
            }
            let full = frames.len() == page as usize;
            let mut write = Write::after(self.cursor);
            let sent = match self.view {
                StreamView::Exact => {
                    for frame in &frames {
                        self.gather_frame(frame, &mut write);
                        if write.is_full() {
                            let next = Write::after(write.reached);
                            if !self.flush(std::mem::replace(&mut write, next)).await {
                                return false;
                            }
                        }
                    }
                    self.flush(write).await
                }
                StreamView::Board => match BoardBatch::of(self.cursor, &frames) {
                    Some(batch) => {
                        self.gather_batch(&batch, &mut write);
                        self.flush(write).await
                    }
                    None => true,
                },
            };
            if !sent {
                return false;
            }
            if !full {
                return true;
            }
        }
    }

    /// Sends what the pump broadcasts, until the subscriber leaves or falls behind.
    async fn follow(&mut self, live: broadcast::Receiver<Arc<Frame>>) {
        self.follow_with(live, |feed, frame, write| feed.gather_frame(frame, write))
            .await;
    }

    /// Sends the board batches and previews the pump broadcasts, until the subscriber leaves
    /// or falls behind.
    async fn follow_board(&mut self, live: broadcast::Receiver<BoardMessage>) {
        self.follow_with(live, |feed, message, write| match message {
            BoardMessage::Preview(frame) => feed.gather_frame(frame, write),
            BoardMessage::Batch(batch) => feed.gather_batch(batch, write),
        })
        .await;
    }

    /// Follows a broadcast: each message wakes the subscriber, and what else is waiting by then
    /// goes out with it in one write (up to [`WRITE_BYTES`] or [`WRITE_MESSAGES`]), so that a
    /// burst of events costs the connection one wake-up rather than one per event.
    async fn follow_with<T: Clone>(
        &mut self,
        mut live: broadcast::Receiver<T>,
        gather: impl Fn(&Self, &T, &mut Write),
    ) {
        let mut closing = self.inner.closing.subscribe();
        let mut unreadable = self.inner.unreadable.subscribe();
        loop {
            let first = tokio::select! {
                message = receive(&mut live) => message,
                // The server stops: the stream ends, and the client resumes elsewhere.
                _ = closing.wait_for(|closing| *closing) => None,
                // The database is out of reach: nothing new can be sent, and a client left
                // open would go on saying it is live. It resumes once the database is back.
                _ = unreadable.wait_for(|unreadable| *unreadable) => {
                    dropped(Dropped::Database);
                    None
                }
                // A client that leaves while nothing happens lets go of its subscription as
                // soon as its connection is seen closed (the server reads the close, or a
                // heartbeat's write fails), not at the next event (until then the pump would
                // read for it).
                () = self.outbox.closed() => None,
            };
            let Some(first) = first else { return };
            let mut write = Write::after(self.cursor);
            gather(self, &first, &mut write);
            for _ in 1..WRITE_MESSAGES {
                if write.is_full() {
                    break;
                }
                match try_receive(&mut live) {
                    Waiting::Message(message) => gather(self, &message, &mut write),
                    Waiting::Nothing => break,
                    // Dropped at once, as when `receive` finds it: what was gathered is read
                    // again from the database when the client resumes.
                    Waiting::End => return,
                }
            }
            if !self.flush(write).await {
                return;
            }
        }
    }

    /// Adds a frame to the write, unless the subscriber does not follow its run or has it
    /// already. A preview carries the position reached so far, so resuming is unaffected.
    fn gather_frame(&self, frame: &Frame, write: &mut Write) {
        if !self.follows(&frame.run_id) {
            return;
        }
        match &frame.kind {
            FrameKind::Preview => write.push(sse::with_id(write.reached.id, &frame.body)),
            FrameKind::Stored { wire, .. } if frame.position > write.reached => {
                write.push(wire.clone());
                write.reached = frame.position;
            }
            FrameKind::Stored { .. } => {}
        }
    }

    /// Adds what a board batch holds for this subscriber's runs. A batch may begin before the
    /// position reached (this subscriber caught up into it): receiving some of its events
    /// again is harmless (board.rs).
    fn gather_batch(&self, batch: &BoardBatch, write: &mut Write) {
        if batch.to <= write.reached {
            return;
        }
        match &self.runs {
            None => write.push(batch.wire.clone()),
            Some(runs) => {
                if let Some(wire) = batch.for_runs(runs) {
                    write.push(wire);
                }
            }
        }
        write.reached = batch.to;
    }

    /// Writes what was gathered; the subscriber has reached its position once the connection
    /// took it. False when the subscriber is gone.
    async fn flush(&mut self, write: Write) -> bool {
        let sent = write.pieces.is_empty() || self.send(write.pieces).await;
        if sent {
            self.cursor = write.reached;
        }
        sent
    }

    /// Queues a write for the connection; false when the client left or has not taken
    /// anything for the stall timeout.
    async fn send(&self, write: sse::Pieces) -> bool {
        match tokio::time::timeout(self.inner.config.stall_timeout, self.outbox.send(write)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::info!("dropping a subscriber that stopped reading");
                dropped(Dropped::Stalled);
                false
            }
        }
    }
}

/// Events gathered for one write to a subscriber's connection: the shared bytes of each (a
/// stored event's, a board batch's), not copies, so that a subscriber costs references to what
/// every subscriber shares.
struct Write {
    pieces: sse::Pieces,
    bytes: usize,
    /// The position the subscriber reaches once the connection takes the write.
    reached: EventPosition,
}

impl Write {
    fn after(position: EventPosition) -> Self {
        Self {
            pieces: Vec::new(),
            bytes: 0,
            reached: position,
        }
    }

    fn push(&mut self, piece: Bytes) {
        self.bytes += piece.len();
        self.pieces.push(piece);
    }

    fn is_full(&self) -> bool {
        self.bytes >= WRITE_BYTES
    }
}

/// Counts a subscriber the server ended: `stalled` (its connection took nothing for the stall
/// timeout), `behind` (it fell further behind than the buffer) or `database` (its catch-up
/// could not be read). Each resumes with `Last-Event-ID`.
fn dropped(reason: Dropped) {
    metrics::counter!(STREAMS_DROPPED, "reason" => reason.label()).increment(1);
}

/// Streams the server ended, by reason.
pub(crate) const STREAMS_DROPPED: &str = "evalboard_event_stream_dropped_total";

/// Why the server ended a stream: the `reason` of [`STREAMS_DROPPED`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dropped {
    Stalled,
    Behind,
    Database,
}

impl Dropped {
    /// Every reason, for declaring each one's counter.
    pub(crate) const ALL: [Self; 3] = [Self::Stalled, Self::Behind, Self::Database];

    /// The metric's label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Stalled => "stalled",
            Self::Behind => "behind",
            Self::Database => "database",
        }
    }
}

/// The next message of a broadcast; `None` once the subscriber fell behind (it is dropped and
/// resumes with `Last-Event-ID`) or the pump stopped.
async fn receive<T: Clone>(live: &mut broadcast::Receiver<T>) -> Option<T> {
    match live.recv().await {
        Ok(message) => Some(message),
        Err(RecvError::Lagged(missed)) => {
            fell_behind(missed);
            None
        }
        Err(RecvError::Closed) => None,
    }
}

/// What a broadcast holds for a subscriber right now.
enum Waiting<T> {
    Message(T),
    Nothing,
    /// The subscriber fell behind, or the pump stopped.
    End,
}

/// The next message of a broadcast if one is waiting, as [`receive`] without waiting.
fn try_receive<T: Clone>(live: &mut broadcast::Receiver<T>) -> Waiting<T> {
    match live.try_recv() {
        Ok(message) => Waiting::Message(message),
        Err(TryRecvError::Empty) => Waiting::Nothing,
        Err(TryRecvError::Lagged(missed)) => {
            fell_behind(missed);
            Waiting::End
        }
        Err(TryRecvError::Closed) => Waiting::End,
    }
}

fn fell_behind(missed: u64) {
    tracing::info!(
        missed,
        "dropping a subscriber that fell behind; it resumes with Last-Event-ID"
    );
    dropped(Dropped::Behind);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use evalboard_persistence::testing::TestDatabase;

    use super::*;
    use crate::events::EventStreamConfig;

    fn at(id: u64) -> EventPosition {
        EventPosition { commit: 0, id }
    }

    fn inner(db: &TestDatabase, buffer: usize) -> Arc<Inner> {
        let config = EventStreamConfig {
            buffer,
            stall_timeout: Duration::from_millis(50),
            ..EventStreamConfig::default()
        };
        Arc::new(Inner::new((**db).clone(), config, at(0)))
    }

    /// A feed for `inner` writing to a connection that holds `room` events.
    fn feed(
        inner: &Arc<Inner>,
        room: usize,
        cursor: u64,
        run: Option<RunId>,
    ) -> (Feed, mpsc::Receiver<sse::Pieces>) {
        let (outbox, sent) = mpsc::channel(room);
        let feed = Feed {
            inner: Arc::clone(inner),
            outbox,
            cursor: at(cursor),
            runs: run.map(|run| Arc::from([run])),
            view: StreamView::Exact,
        };
        (feed, sent)
    }

    fn stored(id: u64, run_id: RunId) -> Arc<Frame> {
        let body = sse::event_body("run_progress", "{}");
        Arc::new(Frame {
            position: at(id),
            run_id,
            kind: FrameKind::Stored {
                effect: evalboard_domain::BoardEffect::Progress,
                wire: sse::with_id(id, &body),
            },
            body,
            changed_at: None,
        })
    }

    fn frame(id: u64) -> Arc<Frame> {
        stored(id, RunId::generate())
    }

    /// The `id` fields of the events of one write, in order.
    fn ids_of(wire: &[u8]) -> Vec<String> {
        std::str::from_utf8(wire)
            .unwrap()
            .lines()
            .filter_map(|line| line.strip_prefix("id: "))
            .map(str::to_owned)
            .collect()
    }

    /// The `id` field of a write of one event.
    fn id_of(wire: &[u8]) -> String {
        let ids = ids_of(wire);
        assert_eq!(ids.len(), 1, "{ids:?}");
        ids[0].clone()
    }

    /// Stores a run (and so its first events) of a one-item dataset.
    fn store_run(db: &TestDatabase) {
        use evalboard_domain::{AnswerKey, DatasetItem, DatasetName, RunSettings};
        let name = DatasetName::parse("tiny").unwrap();
        let now = evalboard_domain::truncate_to_micros(chrono::Utc::now());
        let items = [DatasetItem {
            id: "q1".into(),
            category: "math".into(),
            question: "1 + 1?".into(),
            choices: vec!["2".into(), "3".into()],
            answer: AnswerKey::from_letter("A").unwrap().into(),
            explanation: None,
            source: None,
        }];
        db.import_dataset(evalboard_persistence::DatasetImport {
            name: &name,
            items: &items,
            at: now,
        })
        .unwrap();
        db.create_run(evalboard_persistence::NewRun {
            provider_name: "Simulated",
            provider: None,
            model_name: "sim-1",
            dataset_name: "tiny",
            dataset_version: None,
            settings: &RunSettings::default(),
            idempotency: None,
            requested_by: None,
            at: now,
        })
        .unwrap();
    }

    #[actix_web::test]
    async fn the_pump_reads_nothing_while_nobody_listens_and_starts_where_a_subscriber_caught_up() {
        let db = TestDatabase::sqlite();
        let hub = EventHub::start(
            (*db).clone(),
            EventStreamConfig {
                recheck_every: Duration::from_millis(10),
                ..EventStreamConfig::default()
            },
            None,
        )
        .await
        .unwrap();
        for _ in 0..3 {
            store_run(&db);
        }
        // The pump wakes at each commit and every 10 ms; give it many chances to read.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(hub.pump_reads(), 0, "nobody listens");
        assert_eq!(hub.delivered(), at(0));

        // A subscriber comes: the pump goes on from where it read the stream to, not from
        // what it skipped.
        let mut live = hub.inner.frames.subscribe();
        let horizon = db.event_horizon().unwrap().last;
        hub.inner.subscriber_read_up_to(horizon);
        store_run(&db);
        let frame = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("the new run's first event is broadcast")
            .unwrap();
        assert_eq!(
            frame.position.id,
            horizon.id + 1,
            "nothing stored while idle is read again"
        );
        assert!(hub.pump_reads() >= 1);
        assert!(hub.delivered() > horizon);
    }

    #[actix_web::test]
    async fn events_pruned_while_catching_up_are_announced_with_a_reset() {
        let db = TestDatabase::sqlite();
        for _ in 0..3 {
            store_run(&db);
        }
        let seen = db.event_horizon().unwrap().last;
        assert!(seen.id >= 3);
        // The subscriber has seen the first event; then everything so far is pruned, and more
        // is stored, before it reads its first page.
        db.prune_events(chrono::Utc::now() + chrono::Duration::seconds(1))
            .unwrap();
        store_run(&db);
        let horizon = db.event_horizon().unwrap();
        assert!(horizon.pruned_through >= seen);

        let inner = inner(&db, 64);
        let (mut feed, mut sent) = feed(&inner, 64, 1, None);
        assert!(feed.catch_up().await);
        let reset = sse::joined(sent.try_recv().unwrap());
        let shown = std::str::from_utf8(&reset).unwrap();
        assert!(
            shown.contains("event: reset\n") && shown.contains("pruned"),
            "{shown}"
        );
        assert_eq!(id_of(&reset), horizon.last.id.to_string(), "{shown}");
        assert_eq!(feed.cursor, horizon.last);
        assert!(
            sent.try_recv().is_err(),
            "nothing from before the reset is sent after it"
        );
    }

    /// A recorder for this test's thread, and how many subscribers it saw dropped for `reason`.
    fn drops_recorded() -> (
        metrics_util::debugging::DebuggingRecorder,
        impl Fn(&str) -> u64,
    ) {
        use metrics_util::{
            MetricKind,
            debugging::{DebugValue, DebuggingRecorder},
        };
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let count = move |reason: &str| {
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .filter(|(key, ..)| {
                    key.kind() == MetricKind::Counter
                        && key.key().name() == "evalboard_event_stream_dropped_total"
                        && key.key().labels().any(|l| l.value() == reason)
                })
                .map(|(.., value)| match value {
                    DebugValue::Counter(n) => n,
                    _ => 0,
                })
                .sum()
        };
        (recorder, count)
    }

    #[actix_web::test]
    async fn a_subscriber_that_falls_behind_the_buffer_is_dropped() {
        let (recorder, dropped) = drops_recorded();
        let _local = metrics::set_default_local_recorder(&recorder);
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 4);
        let live = inner.frames.subscribe();
        for id in 1..=10 {
            inner.frames.send(frame(id)).unwrap();
        }
        let (mut feed, mut sent) = feed(&inner, 64, 0, None);
        tokio::time::timeout(Duration::from_secs(5), feed.follow(live))
            .await
            .expect("dropped at once, not left waiting");
        assert!(sent.try_recv().is_err(), "nothing is sent past a gap");
        assert_eq!((dropped("behind"), dropped("stalled")), (1, 0));
    }

    #[actix_web::test]
    async fn a_subscriber_whose_connection_takes_nothing_is_dropped() {
        let (recorder, dropped) = drops_recorded();
        let _local = metrics::set_default_local_recorder(&recorder);
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 64);
        let live = inner.frames.subscribe();
        for id in 1..=3 {
            inner.frames.send(frame(id)).unwrap();
        }
        // The connection holds one write, and has not taken the one before these events.
        let (mut feed, mut sent) = feed(&inner, 1, 0, None);
        feed.outbox
            .try_send(vec![Bytes::from_static(b": earlier\n\n")])
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), feed.follow(live))
            .await
            .expect("dropped after the stall timeout");
        assert_eq!(
            feed.cursor,
            at(0),
            "only what the connection took counts as sent"
        );
        assert_eq!(&sse::joined(sent.try_recv().unwrap())[..], b": earlier\n\n");
        assert!(sent.try_recv().is_err());
        assert_eq!((dropped("stalled"), dropped("behind")), (1, 0));
    }

    #[actix_web::test]
    async fn a_burst_goes_out_in_few_writes_in_order() {
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 4_096);
        let live = inner.frames.subscribe();
        let events = 2_000u64;
        let frames: Vec<Arc<Frame>> = (1..=events).map(frame).collect();
        for frame in &frames {
            inner.frames.send(Arc::clone(frame)).unwrap();
        }
        let (mut feed, mut sent) = feed(&inner, 4_096, 0, None);
        let following = tokio::spawn(async move {
            feed.follow(live).await;
            feed.cursor
        });
        let mut ids = Vec::new();
        let mut writes = 0;
        while ids.len() < events as usize {
            let write = tokio::time::timeout(Duration::from_secs(5), sent.recv())
                .await
                .unwrap()
                .unwrap();
            if writes == 0 {
                let FrameKind::Stored { wire, .. } = &frames[0].kind else {
                    unreachable!()
                };
                assert_eq!(
                    write[0].as_ptr(),
                    wire.as_ptr(),
                    "a stored event is written from its shared bytes, not a copy"
                );
            }
            let pieces = write.len();
            let bytes = sse::joined(write);
            assert!(
                bytes.len() < WRITE_BYTES + 1_024 && pieces <= WRITE_MESSAGES,
                "a write holds about {WRITE_BYTES} bytes or {WRITE_MESSAGES} events at most: {} bytes, {pieces} pieces",
                bytes.len()
            );
            writes += 1;
            ids.extend(ids_of(&bytes));
        }
        let expected: Vec<String> = (1..=events).map(|id| id.to_string()).collect();
        assert_eq!(ids, expected, "every event once, in order");
        let per_write = events as usize / writes;
        assert!(per_write >= 20, "{writes} writes for {events} events");
        inner.frames.send(frame(events + 1)).unwrap();
        let last = tokio::time::timeout(Duration::from_secs(5), sent.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(id_of(&sse::joined(last)), (events + 1).to_string());
        following.abort();
    }

    #[actix_web::test]
    async fn events_already_sent_are_skipped_and_previews_keep_the_position() {
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 64);
        let live = inner.frames.subscribe();
        let run = RunId::generate();
        let of_run = |id, preview| {
            if preview {
                Arc::new(Frame::preview(at(id), run.clone(), "{}"))
            } else {
                stored(id, run.clone())
            }
        };
        // 3 was sent already; 5 is another run's.
        let frames = [
            of_run(3, false),
            of_run(4, false),
            of_run(4, true),
            frame(5),
            of_run(6, false),
        ];
        for frame in frames {
            inner.frames.send(frame).unwrap();
        }
        let (mut feed, mut sent) = feed(&inner, 64, 3, Some(run.clone()));
        let following = tokio::spawn(async move { feed.follow(live).await });
        let mut ids = Vec::new();
        while ids.len() < 3 {
            let write = tokio::time::timeout(Duration::from_secs(5), sent.recv())
                .await
                .unwrap()
                .unwrap();
            ids.extend(ids_of(&sse::joined(write)));
        }
        assert_eq!(
            ids,
            ["4", "4", "6"],
            "the preview carries the position reached"
        );
        following.abort();
    }
}
