//! The live event stream behind `GET /runs/events`.
//!
//! One pump per server reads what the outbox received since it last looked — woken by this
//! process's commits and, on PostgreSQL, by every replica's (`LISTEN`) — turns each event into
//! its JSON payload once, and fans it out on a broadcast channel. A subscriber first catches up
//! from the database (events after its `Last-Event-ID`), then follows the channel, skipping
//! what it already sent: the stream is gap-free and in id order whichever way an event
//! arrives. The channel holds a bounded number of frames; a subscriber that falls further
//! behind is dropped and resumes with `Last-Event-ID`, so a slow client costs neither the engine
//! nor memory.

mod board;
mod previews;
mod sse;
mod subscriber;

use std::{sync::Arc, time::Duration};

use actix_web::web::Bytes;
use evalboard_domain::{BoardEffect, EventPosition, RunEvent, RunId};
use evalboard_persistence::{Database, Outage, StoreError};
use evalboard_runner::ActivityBoard;
use tokio::sync::{broadcast, watch};

use crate::dto::EventPayload;

use board::{BoardBatch, BoardMessage, Conflator};
pub(crate) use subscriber::{Dropped, STREAMS_DROPPED, Start, StreamView, subscribe};

/// How the stream behaves; the defaults suit a dashboard.
#[derive(Debug, Clone)]
pub struct EventStreamConfig {
    /// Frames kept for subscribers that fall behind; one that falls further is dropped.
    pub buffer: usize,
    /// A comment is sent after this long without events, so proxies keep the stream open.
    pub heartbeat: Duration,
    /// Streaming previews (`activity`) are sent at most this often per run.
    pub preview_every: Duration,
    /// A subscriber whose connection takes nothing for this long is dropped.
    pub stall_timeout: Duration,
    /// The outbox is read at least this often even when no commit was announced (a lost
    /// notification, a listener reconnecting).
    pub recheck_every: Duration,
    /// Events older than this are pruned; `None` keeps them all.
    pub retention: Option<Duration>,
    /// Events read from the database per query.
    pub page: u32,
    /// The board view sends stored events at most this often, gathered (a status change goes
    /// out at once).
    pub board_every: Duration,
}

impl Default for EventStreamConfig {
    fn default() -> Self {
        Self {
            buffer: 8_192,
            heartbeat: Duration::from_secs(15),
            preview_every: Duration::from_millis(250),
            stall_timeout: Duration::from_secs(10),
            recheck_every: Duration::from_secs(1),
            retention: Some(Duration::from_secs(24 * 3600)),
            page: 500,
            board_every: Duration::from_millis(100),
        }
    }
}

/// One event ready to send, formatted once for every subscriber.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The event's position; for a preview, that of the last stored event before it.
    pub(crate) position: EventPosition,
    /// Its run, for subscribers that follow some runs only.
    pub(crate) run_id: RunId,
    /// Its `event:` and `data:` lines (the `id` line may differ per subscriber).
    pub(crate) body: Bytes,
    pub(crate) kind: FrameKind,
    /// When the change happened (a stored event's `at`), for the delivery lag metric.
    pub(crate) changed_at: Option<evalboard_domain::Timestamp>,
}

/// Stored or not.
#[derive(Debug)]
pub(crate) enum FrameKind {
    /// A stored event: what it does to a board, and the event with its own id on the wire.
    Stored { effect: BoardEffect, wire: Bytes },
    /// A streaming preview: not stored, sent only live, carrying the position the subscriber
    /// reached.
    Preview,
}

impl Frame {
    fn stored(event: RunEvent) -> Self {
        let name = event.change.kind();
        let effect = event.change.board_effect();
        let position = event.position;
        let run_id = event.run_id.clone();
        let changed_at = Some(event.at);
        let body = sse::event_body(name, &EventPayload::from(event).to_json());
        Self {
            position,
            run_id,
            kind: FrameKind::Stored {
                effect,
                wire: sse::with_id(position.id, &body),
            },
            body,
            changed_at,
        }
    }

    fn preview(position: EventPosition, run_id: RunId, json: &str) -> Self {
        Self {
            position,
            run_id,
            body: sse::event_body("run_item", json),
            kind: FrameKind::Preview,
            changed_at: None,
        }
    }

    /// What a stored event does to a board (a preview is not part of what a board folds).
    fn effect(&self) -> Option<BoardEffect> {
        match &self.kind {
            FrameKind::Stored { effect, .. } => Some(*effect),
            FrameKind::Preview => None,
        }
    }
}

/// The server's event fan-out; cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    config: EventStreamConfig,
    /// Every stored event and the previews, for the exact stream.
    frames: broadcast::Sender<Arc<Frame>>,
    /// Batches and previews, for the board view.
    board: broadcast::Sender<BoardMessage>,
    /// The position of the last stored event the pump has broadcast.
    delivered: watch::Sender<EventPosition>,
    /// Held by the pump while it reads new events and sends them, and by the previews while
    /// they check that another server's preview is of an item still running and send it: an
    /// item's end the pump reads after that check is sent after the preview, never before it.
    preview_order: tokio::sync::Mutex<()>,
    /// While nobody listens the pump reads nothing; the lowest position a subscriber that came
    /// meanwhile caught up from the database to, where the pump may start again instead of
    /// reading every event it skipped.
    resume_at: std::sync::Mutex<Option<EventPosition>>,
    /// Reads of new events the pump made (the figure that stays still while nobody listens).
    pump_reads: std::sync::atomic::AtomicU64,
    /// Set when the server stops: every stream ends ([`EventHub::close`]).
    closing: watch::Sender<bool>,
    /// Set while the pump cannot read new events (the database out of reach): every live
    /// stream ends, so that its client says it is not live instead of showing, under "Live",
    /// what it last received; its reconnection is refused (503) until the database is back,
    /// then resumes where it was.
    unreadable: watch::Sender<bool>,
}

impl Inner {
    /// The hub's state, with the stream delivered up to `start`.
    fn new(db: Database, config: EventStreamConfig, start: EventPosition) -> Self {
        let (frames, _) = broadcast::channel(config.buffer.max(1));
        let (board, _) = broadcast::channel(config.buffer.max(1));
        Self {
            db,
            config,
            frames,
            board,
            delivered: watch::Sender::new(start),
            preview_order: tokio::sync::Mutex::new(()),
            resume_at: std::sync::Mutex::new(None),
            pump_reads: std::sync::atomic::AtomicU64::new(0),
            closing: watch::Sender::new(false),
            unreadable: watch::Sender::new(false),
        }
    }

    /// A subscriber read the stored stream up to `position` (and catches up to it from the
    /// database itself).
    fn subscriber_read_up_to(&self, position: EventPosition) {
        let mut resume = self
            .resume_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *resume = Some(resume.map_or(position, |r| r.min(position)));
    }

    /// Subscribers of either view.
    fn listeners(&self) -> usize {
        self.frames.receiver_count() + self.board.receiver_count()
    }

    /// Where the pump can start again after a time without subscribers.
    fn take_resume_position(&self) -> Option<EventPosition> {
        self.resume_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl EventHub {
    /// Starts the pump, the preview ticker (with the engine's `activity`, it also makes
    /// previews) and, with a retention, the pruner, on the current tokio runtime.
    pub async fn start(
        db: Database,
        config: EventStreamConfig,
        activity: Option<ActivityBoard>,
    ) -> Result<Self, StoreError> {
        let start = db.blocking(|db| db.event_horizon()).await?.last;
        let hub = Self {
            inner: Arc::new(Inner::new(db, config, start)),
        };
        // Previews other replicas publish: a few per tick, dropped when the ticker lags.
        let (published, heard) = tokio::sync::mpsc::channel(256);
        tokio::spawn(pump(Arc::clone(&hub.inner), start, published));
        tokio::spawn(previews::run(Arc::clone(&hub.inner), activity, heard));
        if let Some(retention) = hub.inner.config.retention {
            tokio::spawn(prune(hub.inner.db.clone(), retention));
        }
        Ok(hub)
    }

    /// The position of the last stored event broadcast so far.
    pub fn delivered(&self) -> EventPosition {
        *self.inner.delivered.borrow()
    }

    /// How many times the pump has read new events from the database.
    pub fn pump_reads(&self) -> u64 {
        self.inner
            .pump_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many subscribers are connected.
    pub fn subscribers(&self) -> usize {
        self.inner.listeners()
    }

    /// Ends every stream — the event streams and the items' text streams — as the server
    /// stops: an open dashboard would otherwise hold the server's graceful stop for its whole
    /// timeout. Clients reconnect (to another replica, or to this server when it is back) and
    /// resume where they were.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Whether [`EventHub::close`] was called.
    pub fn is_closing(&self) -> bool {
        *self.inner.closing.borrow()
    }
}

/// Stored events after `after` (of some runs, when given) as frames, at most `limit`.
async fn frames_after(
    db: &Database,
    after: EventPosition,
    runs: Option<Arc<[RunId]>>,
    limit: u32,
) -> Result<Vec<Arc<Frame>>, StoreError> {
    db.blocking(move |db| {
        Ok(db
            .events_after(after, runs.as_deref(), limit)?
            .into_iter()
            .map(|event| Arc::new(Frame::stored(event)))
            .collect())
    })
    .await
}

/// From each change (its event's `at`) to the pump handing it to this replica's subscribers:
/// the writer's batching, the commit, the pump's wake-up and read. An event from another
/// replica carries that replica's clock; a negative difference counts as zero.
fn record_delivery_lag(frames: &[Arc<Frame>]) {
    let now = chrono::Utc::now();
    let lag = metrics::histogram!("evalboard_event_delivery_lag_seconds");
    for at in frames.iter().filter_map(|frame| frame.changed_at) {
        let seconds = (now - at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        lag.record(seconds.max(0.0));
    }
}

/// How soon the pump looks again while committed events wait for an earlier transaction to end
/// (one that wrote no event, whose commit wakes nobody): at once for the engine's short
/// transactions, then less often while a long one (a large import) holds them back.
fn next_settle_wait(previous: Option<Duration>) -> Duration {
    const FIRST: Duration = Duration::from_millis(5);
    const MOST: Duration = Duration::from_millis(160);
    previous.map_or(FIRST, |wait| (wait * 2).min(MOST))
}

/// Broadcasts every stored event after `start` as it is committed, forever: each to the exact
/// stream at once, and to board subscribers in batches.
async fn pump(
    inner: Arc<Inner>,
    start: EventPosition,
    published_previews: tokio::sync::mpsc::Sender<String>,
) {
    let mut last = start;
    let mut idle = false;
    let mut commits = inner.db.event_commits();
    let mut listener = None;
    let mut listen_again_at = tokio::time::Instant::now();
    let mut conflator = Conflator::new(inner.config.board_every, start);
    // Committed events wait for an earlier transaction (PostgreSQL): how soon to look again.
    let mut settle_wait: Option<Duration> = None;
    // Both are tried again every `recheck_every` while the database is down: logged as outages.
    let listening_outage = Outage::new("listen for other replicas' events");
    let reading_outage = Outage::new("read new events");
    // Reads failing in a row for want of the database: the streams end at the second (one
    // alone may be a pool wait that timed out under load, not an outage).
    let mut unreadable_reads = 0u32;
    loop {
        if listener.is_none() && tokio::time::Instant::now() >= listen_again_at {
            match inner.db.event_listener(published_previews.clone()).await {
                Ok(found) => {
                    listening_outage.succeeded();
                    listener = found;
                }
                Err(error) => {
                    listening_outage.failed(&error);
                    listen_again_at = tokio::time::Instant::now() + inner.config.recheck_every;
                }
            }
        }
        // Nobody listens: no query. A subscriber that comes reads what it needs from the
        // database and tells from where the pump's broadcast must go on (the lowest such
        // position of all who came meanwhile: each catches up to at least its own).
        let listening = inner.listeners() > 0;
        if !listening {
            idle = true;
            settle_wait = None;
            inner.take_resume_position();
        } else if std::mem::take(&mut idle)
            && let Some(position) = inner.take_resume_position()
        {
            last = last.max(position);
            inner.delivered.send_replace(last);
        }
        if listening {
            loop {
                inner
                    .pump_reads
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let order = inner.preview_order.lock().await;
                match frames_after(&inner.db, last, None, inner.config.page).await {
                    Ok(frames) => {
                        reading_outage.succeeded();
                        unreadable_reads = 0;
                        inner.unreadable.send_replace(false);
                        let full = frames.len() == inner.config.page as usize;
                        let board = inner.board.receiver_count() > 0;
                        record_delivery_lag(&frames);
                        for frame in frames {
                            last = frame.position;
                            if board {
                                conflator.push(Arc::clone(&frame));
                            }
                            // No subscriber is not an error: they read the database when they come.
                            let _ = inner.frames.send(frame);
                        }
                        inner.delivered.send_replace(last);
                        drop(order);
                        // Also between pages: a pump that is reading a backlog still sends the
                        // board its batches on time.
                        send_board_batch(&inner, &mut conflator, last);
                        if !full {
                            let settling = inner
                                .db
                                .blocking(|db| db.events_wait_to_settle())
                                .await
                                .unwrap_or(false);
                            settle_wait = settling.then(|| next_settle_wait(settle_wait));
                            break;
                        }
                    }
                    Err(error) => {
                        drop(order);
                        reading_outage.failed(&error);
                        if matches!(error, StoreError::Unavailable(_)) {
                            unreadable_reads += 1;
                            if unreadable_reads >= 2 {
                                inner.unreadable.send_replace(true);
                            }
                        }
                        break;
                    }
                }
            }
        }
        send_board_batch(&inner, &mut conflator, last);
        let heard = async {
            match listener.as_mut() {
                Some(listener) => listener.notified().await,
                None => std::future::pending().await,
            }
        };
        let batch_due = async {
            match conflator.due_at() {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = commits.changed() => {}
            heard = heard => {
                if heard.is_err() {
                    tracing::warn!("lost the event listener's connection; reconnecting");
                    listener = None;
                }
            }
            () = batch_due => {}
            () = tokio::time::sleep(settle_wait.unwrap_or(inner.config.recheck_every)) => {}
        }
    }
}

/// Broadcasts the board's batch if one is due; forgets the gathered events while no board
/// subscriber listens (the next batch follows `last`).
fn send_board_batch(inner: &Inner, conflator: &mut Conflator, last: EventPosition) {
    if inner.board.receiver_count() == 0 {
        conflator.skip_to(last);
    } else if let Some(batch) = conflator.batch_if_due() {
        // Nobody left to receive it is not an error.
        let _ = inner.board.send(BoardMessage::Batch(Arc::new(batch)));
    }
}

/// Deletes events older than `retention`, every minute (or every tenth of the retention, when
/// shorter).
async fn prune(db: Database, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    let outage = Outage::new("prune old events");
    loop {
        tokio::time::sleep(every).await;
        let Ok(age) = chrono::Duration::from_std(retention) else {
            return;
        };
        let cutoff = chrono::Utc::now() - age;
        match db.blocking(move |db| db.prune_events(cutoff)).await {
            Ok(_) => outage.succeeded(),
            Err(error) => outage.failed(&error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pump_looks_again_soon_then_less_often_while_events_wait_to_settle() {
        let waits: Vec<u64> = std::iter::successors(Some(next_settle_wait(None)), |w| {
            Some(next_settle_wait(Some(*w)))
        })
        .take(8)
        .map(|w| w.as_millis() as u64)
        .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 160, 160]);
    }
}
