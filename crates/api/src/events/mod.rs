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

mod previews;
mod subscriber;

use std::{sync::Arc, time::Duration};

use evalboard_domain::{RunEvent, RunId};
use evalboard_persistence::{Database, StoreError};
use evalboard_runner::ActivityBoard;
use tokio::sync::{broadcast, watch};

use crate::dto::EventPayload;

pub(crate) use subscriber::{Start, subscribe};

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
        }
    }
}

/// One event ready to send: its payload serialized once for every subscriber.
#[derive(Debug)]
pub(crate) struct Frame {
    /// The event's id; for a preview, the id of the last stored event before it.
    pub(crate) id: u64,
    /// Its run, for subscribers that follow one.
    pub(crate) run_id: RunId,
    /// The JSON payload, with the event name set.
    pub(crate) data: actix_web_lab::sse::Data,
    /// A streaming preview: not stored, sent only live, never counted as delivered.
    pub(crate) preview: bool,
}

impl Frame {
    fn stored(event: RunEvent) -> Self {
        let name = event.change.kind();
        let id = event.id;
        let run_id = event.run_id.clone();
        let json = EventPayload::from(event).to_json();
        Self {
            id,
            run_id,
            data: actix_web_lab::sse::Data::new(json).event(name),
            preview: false,
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
    frames: broadcast::Sender<Arc<Frame>>,
    /// The id of the last stored event the pump has broadcast.
    delivered: watch::Sender<u64>,
    /// While nobody listens the pump reads nothing; the lowest position a subscriber that came
    /// meanwhile caught up from the database to, where the pump may start again instead of
    /// reading every event it skipped.
    resume_at: std::sync::Mutex<Option<u64>>,
    /// Reads of new events the pump made (the figure that stays still while nobody listens).
    pump_reads: std::sync::atomic::AtomicU64,
}

impl Inner {
    /// The hub's state, with the stream delivered up to `start`.
    fn new(db: Database, config: EventStreamConfig, start: u64) -> Self {
        let (frames, _) = broadcast::channel(config.buffer.max(1));
        Self {
            db,
            config,
            frames,
            delivered: watch::Sender::new(start),
            resume_at: std::sync::Mutex::new(None),
            pump_reads: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A subscriber read the stored stream up to `position` (and catches up to it from the
    /// database itself).
    fn subscriber_read_up_to(&self, position: u64) {
        let mut resume = self
            .resume_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *resume = Some(resume.map_or(position, |r| r.min(position)));
    }

    /// Where the pump can start again after a time without subscribers.
    fn take_resume_position(&self) -> Option<u64> {
        self.resume_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }
}

impl EventHub {
    /// Starts the pump (and, with the engine's `activity`, the preview ticker, and with a
    /// retention, the pruner) on the current tokio runtime.
    pub async fn start(
        db: Database,
        config: EventStreamConfig,
        activity: Option<ActivityBoard>,
    ) -> Result<Self, StoreError> {
        let start = db.blocking(|db| db.event_horizon()).await?.last_id;
        let hub = Self {
            inner: Arc::new(Inner::new(db, config, start)),
        };
        tokio::spawn(pump(Arc::clone(&hub.inner), start));
        if let Some(activity) = activity {
            tokio::spawn(previews::run(Arc::clone(&hub.inner), activity));
        }
        if let Some(retention) = hub.inner.config.retention {
            tokio::spawn(prune(hub.inner.db.clone(), retention));
        }
        Ok(hub)
    }

    /// The id of the last stored event broadcast so far.
    pub fn delivered(&self) -> u64 {
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
        self.inner.frames.receiver_count()
    }
}

/// Stored events after `after` (of one run, when given) as frames, at most `limit`.
async fn frames_after(
    db: &Database,
    after: u64,
    run: Option<RunId>,
    limit: u32,
) -> Result<Vec<Frame>, StoreError> {
    db.blocking(move |db| {
        Ok(db
            .events_after(after, run.as_ref(), limit)?
            .into_iter()
            .map(Frame::stored)
            .collect())
    })
    .await
}

/// Broadcasts every stored event after `start` as it is committed, forever.
async fn pump(inner: Arc<Inner>, start: u64) {
    let mut last = start;
    let mut idle = false;
    let mut commits = inner.db.event_commits();
    let mut listener = None;
    let mut listen_again_at = tokio::time::Instant::now();
    loop {
        if listener.is_none() && tokio::time::Instant::now() >= listen_again_at {
            match inner.db.event_listener().await {
                Ok(found) => listener = found,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen for other replicas' events; retrying");
                    listen_again_at = tokio::time::Instant::now() + inner.config.recheck_every;
                }
            }
        }
        // Nobody listens: no query. A subscriber that comes reads what it needs from the
        // database and tells from where the pump's broadcast must go on (the lowest such
        // position of all who came meanwhile: each catches up to at least its own).
        let listening = inner.frames.receiver_count() > 0;
        if !listening {
            idle = true;
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
                match frames_after(&inner.db, last, None, inner.config.page).await {
                    Ok(frames) => {
                        let full = frames.len() == inner.config.page as usize;
                        for frame in frames {
                            last = frame.id;
                            // No subscriber is not an error: they read the database when they come.
                            let _ = inner.frames.send(Arc::new(frame));
                        }
                        inner.delivered.send_replace(last);
                        if !full {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot read new events; retrying");
                        break;
                    }
                }
            }
        }
        let heard = async {
            match listener.as_mut() {
                Some(listener) => listener.notified().await,
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
            () = tokio::time::sleep(inner.config.recheck_every) => {}
        }
    }
}

/// Deletes events older than `retention`, every minute (or every tenth of the retention, when
/// shorter).
async fn prune(db: Database, retention: Duration) {
    let every = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::time::sleep(every).await;
        let Ok(age) = chrono::Duration::from_std(retention) else {
            return;
        };
        let cutoff = chrono::Utc::now() - age;
        if let Err(error) = db.blocking(move |db| db.prune_events(cutoff)).await {
            tracing::warn!(%error, "cannot prune old events");
        }
    }
}
