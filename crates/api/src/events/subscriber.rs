//! One subscriber: catch up from the database, then follow the broadcast.

use std::sync::Arc;

use actix_web_lab::sse;
use evalboard_domain::RunId;
use evalboard_persistence::StoreError;
use tokio::sync::{
    broadcast::{self, error::RecvError},
    mpsc,
};

use super::{EventHub, Frame, Inner, frames_after};
use crate::dto::ResetEventDto;

/// Where a subscriber's stream begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// After the event with this id (the client's `Last-Event-ID`).
    After(u64),
    /// With the next event committed.
    Now,
}

/// Events a subscriber's connection may hold unsent before it counts as stalled.
const OUTBOX: usize = 64;

/// Opens a stream of the events after `start` (of one run, when given).
pub(crate) async fn subscribe(
    hub: &EventHub,
    start: Start,
    run: Option<RunId>,
) -> Result<impl actix_web::Responder + use<>, StoreError> {
    // Subscribe before reading the horizon: what is committed from here on is either read
    // from the database while catching up or received, and duplicates are skipped by id.
    let live = hub.inner.frames.subscribe();
    let horizon = hub.inner.db.blocking(|db| db.event_horizon()).await?;
    hub.inner.subscriber_read_up_to(horizon.last_id);
    let (cursor, reset) = match start {
        Start::Now => (horizon.last_id, None),
        Start::After(seen) if horizon.can_resume_from(seen) => (seen, None),
        Start::After(seen) => {
            let reason = if seen < horizon.pruned_through {
                "pruned"
            } else {
                "unknown_position"
            };
            (horizon.last_id, Some(reason))
        }
    };
    let (outbox, stream) = mpsc::channel(OUTBOX);
    let inner = Arc::clone(&hub.inner);
    let heartbeat = inner.config.heartbeat;
    actix_web::rt::spawn(async move {
        let mut feed = Feed {
            inner,
            outbox,
            cursor,
            run,
        };
        if let Some(reason) = reset
            && !feed.send_reset(reason).await
        {
            return;
        }
        if feed.catch_up().await {
            feed.follow(live).await;
        }
    });
    Ok(sse::Sse::from_infallible_receiver(stream).with_keep_alive(heartbeat))
}

struct Feed {
    inner: Arc<Inner>,
    outbox: mpsc::Sender<sse::Event>,
    /// The id of the last stored event sent.
    cursor: u64,
    run: Option<RunId>,
}

impl Feed {
    /// Tells the client to refetch the board; the stream continues after the cursor, which
    /// the caller set to the newest stored event.
    async fn send_reset(&mut self, reason: &str) -> bool {
        let payload = ResetEventDto {
            reason: reason.to_owned(),
            last_event_id: self.cursor,
        };
        let json = serde_json::to_string(&payload).expect("payloads are plain data");
        let reset = sse::Data::new(json)
            .event("reset")
            .id(self.cursor.to_string());
        self.send(reset.into()).await
    }

    /// Sends what the database has after the cursor. False when the subscriber is gone.
    async fn catch_up(&mut self) -> bool {
        let page = self.inner.config.page;
        loop {
            let read = async {
                let frames =
                    frames_after(&self.inner.db, self.cursor, self.run.clone(), page).await?;
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
                    return false;
                }
            };
            if horizon.pruned_through > self.cursor {
                self.cursor = horizon.last_id;
                if !self.send_reset("pruned").await {
                    return false;
                }
                continue;
            }
            let full = frames.len() == page as usize;
            for frame in frames {
                if !self.send_stored(&frame).await {
                    return false;
                }
            }
            if !full {
                return true;
            }
        }
    }

    /// Sends what the pump broadcasts, until the subscriber leaves or falls behind.
    async fn follow(&mut self, mut live: broadcast::Receiver<Arc<Frame>>) {
        loop {
            let frame = match live.recv().await {
                Ok(frame) => frame,
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(
                        missed,
                        "dropping a subscriber that fell behind; it resumes with Last-Event-ID"
                    );
                    return;
                }
                Err(RecvError::Closed) => return,
            };
            if self.run.as_ref().is_some_and(|run| *run != frame.run_id) {
                continue;
            }
            let sent = if frame.preview {
                // Previews carry the position the client already has, so resuming is unaffected.
                let event = frame.data.clone().id(self.cursor.to_string());
                self.send(event.into()).await
            } else if frame.id > self.cursor {
                self.send_stored(&frame).await
            } else {
                true
            };
            if !sent {
                return;
            }
        }
    }

    async fn send_stored(&mut self, frame: &Frame) -> bool {
        let event = frame.data.clone().id(frame.id.to_string());
        let sent = self.send(event.into()).await;
        if sent {
            self.cursor = frame.id;
        }
        sent
    }

    /// Queues an event for the connection; false when the client left or has not taken
    /// anything for the stall timeout.
    async fn send(&self, event: sse::Event) -> bool {
        match tokio::time::timeout(self.inner.config.stall_timeout, self.outbox.send(event)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::info!("dropping a subscriber that stopped reading");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use evalboard_persistence::testing::TestDatabase;

    use super::*;
    use crate::events::EventStreamConfig;

    fn inner(db: &TestDatabase, buffer: usize) -> Arc<Inner> {
        let config = EventStreamConfig {
            buffer,
            stall_timeout: Duration::from_millis(50),
            ..EventStreamConfig::default()
        };
        Arc::new(Inner::new((**db).clone(), config, 0))
    }

    /// A feed for `inner` writing to a connection that holds `room` events.
    fn feed(
        inner: &Arc<Inner>,
        room: usize,
        cursor: u64,
        run: Option<RunId>,
    ) -> (Feed, mpsc::Receiver<sse::Event>) {
        let (outbox, sent) = mpsc::channel(room);
        let feed = Feed {
            inner: Arc::clone(inner),
            outbox,
            cursor,
            run,
        };
        (feed, sent)
    }

    fn frame(id: u64) -> Arc<Frame> {
        Arc::new(Frame {
            id,
            run_id: RunId::generate(),
            data: sse::Data::new("{}").event("run_progress"),
            preview: false,
        })
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
            answer: AnswerKey::from_letter("A").unwrap(),
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
            settings: &RunSettings::default(),
            idempotency: None,
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
        assert_eq!(hub.delivered(), 0);

        // A subscriber comes: the pump goes on from where it read the stream to, not from
        // what it skipped.
        let mut live = hub.inner.frames.subscribe();
        let horizon = db.event_horizon().unwrap().last_id;
        hub.inner.subscriber_read_up_to(horizon);
        store_run(&db);
        let frame = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("the new run's first event is broadcast")
            .unwrap();
        assert_eq!(
            frame.id,
            horizon + 1,
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
        let seen = db.event_horizon().unwrap().last_id;
        assert!(seen >= 3);
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
        let sse::Event::Data(reset) = sent.try_recv().unwrap() else {
            panic!("a data event")
        };
        let shown = format!("{reset:?}");
        assert!(
            shown.contains("reset") && shown.contains("pruned"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("id: Some(\"{}\")", horizon.last_id)),
            "{shown}"
        );
        assert_eq!(feed.cursor, horizon.last_id);
        assert!(
            sent.try_recv().is_err(),
            "nothing from before the reset is sent after it"
        );
    }

    #[actix_web::test]
    async fn a_subscriber_that_falls_behind_the_buffer_is_dropped() {
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
    }

    #[actix_web::test]
    async fn a_subscriber_whose_connection_takes_nothing_is_dropped() {
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 64);
        let live = inner.frames.subscribe();
        for id in 1..=3 {
            inner.frames.send(frame(id)).unwrap();
        }
        let (mut feed, mut sent) = feed(&inner, 1, 0, None);
        tokio::time::timeout(Duration::from_secs(5), feed.follow(live))
            .await
            .expect("dropped after the stall timeout");
        assert_eq!(
            feed.cursor, 1,
            "only what the connection took counts as sent"
        );
        assert!(sent.try_recv().is_ok());
        assert!(sent.try_recv().is_err());
    }

    #[actix_web::test]
    async fn events_already_sent_are_skipped_and_previews_keep_the_position() {
        let db = TestDatabase::sqlite();
        let inner = inner(&db, 64);
        let live = inner.frames.subscribe();
        let run = RunId::generate();
        let of_run = |id, preview| {
            Arc::new(Frame {
                id,
                run_id: run.clone(),
                data: sse::Data::new("{}").event("run_item"),
                preview,
            })
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
        for _ in 0..3 {
            let event = tokio::time::timeout(Duration::from_secs(5), sent.recv())
                .await
                .unwrap()
                .unwrap();
            let sse::Event::Data(data) = event else {
                panic!("a data event")
            };
            // `Data` shows its fields only through Debug.
            let shown = format!("{data:?}");
            let id = shown
                .split("id: Some(\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            ids.push(id.to_owned());
        }
        assert_eq!(
            ids,
            ["4", "4", "6"],
            "the preview carries the position reached"
        );
        following.abort();
    }
}
