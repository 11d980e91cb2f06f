//! Streaming previews: the item each run is streaming, with its `activity`, a few times a
//! second. Previews are not stored: they are worth nothing a moment later, and a client that
//! reconnects gets the next one.
//!
//! A server with an engine makes previews of what it streams itself. On PostgreSQL it also
//! publishes them (`NOTIFY`, [`evalboard_persistence::Database::publish_previews`]), and every
//! server sends its subscribers the previews the others published, so a subscriber on any
//! replica sees what every replica streams.

use std::{collections::HashMap, sync::Arc};

use evalboard_domain::{ItemSnapshot, RunId};
use evalboard_runner::ActivityBoard;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{BoardMessage, Frame, Inner};
use crate::dto::{ActivityDto, ItemSnapshotDto, RunItemEventDto, api_time_millis};

/// The most a notification's payload holds (PostgreSQL allows 8,000 bytes).
const MAX_PAYLOAD: usize = 7_900;

/// Ticks a run's preview state is kept after its last preview, local or published.
const FORGET_AFTER_TICKS: u32 = 40;

/// What a server publishes for the others: its previews of one tick.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    /// The publishing hub, which ignores its own notifications.
    origin: String,
    previews: Vec<Preview>,
}

/// One run's streaming item, as published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preview {
    run_id: String,
    sequence: u32,
    activity: ActivityDto,
    /// When the latest chunk (or, before any, the attempt) arrived.
    at: String,
}

/// What a run's last preview showed: its item and how many chunks had arrived.
type Shown = (u32, u64);

/// Which server made a preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// This one's engine: its item is streaming now (the engine stops showing an item before
    /// storing what came of it).
    Here,
    /// Another server, which published it up to a tick ago (and the notification took its
    /// time): its item may have ended since, and its end been sent to subscribers already.
    Elsewhere,
}

/// Makes, publishes and sends previews every `preview_every` while the server runs: those of
/// the local engine's `activity` (when there is one) and those other servers publish (received
/// on `published`).
pub(super) async fn run(
    inner: Arc<Inner>,
    activity: Option<ActivityBoard>,
    mut published: mpsc::Receiver<String>,
) {
    let origin = uuid::Uuid::new_v4().to_string();
    let mut ticks = tokio::time::interval(inner.config.preview_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut state = PreviewState::default();
    // The latest preview of each run another server published since the last tick.
    let mut remote: HashMap<String, Preview> = HashMap::new();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            Some(payload) = published.recv() => {
                match serde_json::from_str::<Published>(&payload) {
                    Ok(batch) if batch.origin != origin => {
                        for preview in batch.previews {
                            remote.insert(preview.run_id.clone(), preview);
                        }
                    }
                    Ok(_) => {}
                    Err(error) => tracing::debug!(%error, "an unreadable published preview"),
                }
                continue;
            }
        }
        let local: Vec<Preview> = activity
            .as_ref()
            .map(|board| {
                board
                    .latest_per_run()
                    .into_iter()
                    .map(|(run_id, sequence, activity)| Preview {
                        run_id: run_id.to_string(),
                        sequence,
                        at: api_time_millis(activity.last_chunk_at.unwrap_or(activity.started_at)),
                        activity: activity.into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let local = state.changed_locally(local);
        publish(&inner, &origin, &local).await;
        let previews: Vec<(Preview, Origin)> = local
            .into_iter()
            .map(|p| (p, Origin::Here))
            .chain(remote.drain().map(|(_, p)| (p, Origin::Elsewhere)))
            .collect();
        state.tick();
        if inner.listeners() == 0 {
            continue;
        }
        for (preview, origin) in previews {
            // Another server's preview is checked and sent in the pump's order (see `frame`).
            let _order = match origin {
                Origin::Elsewhere => Some(inner.preview_order.lock().await),
                Origin::Here => None,
            };
            if let Some(frame) = state.frame(&inner, preview, origin).await {
                // Nobody on one of the views is not an error.
                let _ = inner.frames.send(Arc::clone(&frame));
                let _ = inner.board.send(BoardMessage::Preview(frame));
            }
        }
    }
}

/// Publishes this server's new previews for the other servers (nothing to do on SQLite).
async fn publish(inner: &Inner, origin: &str, previews: &[Preview]) {
    if previews.is_empty() || inner.db.backend() != evalboard_persistence::Backend::Postgres {
        return;
    }
    let payloads = payloads(origin, previews);
    let published = inner
        .db
        .blocking(move |db| payloads.iter().try_for_each(|p| db.publish_previews(p)))
        .await;
    if let Err(error) = published {
        tracing::debug!(%error, "previews not published this time");
    }
}

/// `previews` in as few payloads of at most [`MAX_PAYLOAD`] bytes as they fill, in order.
fn payloads(origin: &str, previews: &[Preview]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut batch: Vec<Preview> = Vec::new();
    for preview in previews {
        batch.push(preview.clone());
        if payload(origin, &batch).len() > MAX_PAYLOAD {
            let last = batch.pop().expect("just pushed");
            if !batch.is_empty() {
                payloads.push(payload(origin, &batch));
            }
            // A preview too long alone (160 characters of text cannot be) is not published.
            batch = vec![last];
            if payload(origin, &batch).len() > MAX_PAYLOAD {
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        payloads.push(payload(origin, &batch));
    }
    payloads
}

fn payload(origin: &str, previews: &[Preview]) -> String {
    #[derive(Serialize)]
    struct Borrowed<'a> {
        origin: &'a str,
        previews: &'a [Preview],
    }
    serde_json::to_string(&Borrowed { origin, previews }).expect("payloads are plain data")
}

/// What the previews sent so far showed, and the items' text already looked up.
#[derive(Default)]
struct PreviewState {
    /// Each run's last preview made here (so that only changes are published).
    made: HashMap<String, (Shown, u32)>,
    /// Each run's last preview sent to subscribers, and the tick it was last seen.
    sent: HashMap<String, (Shown, u32)>,
    items: HashMap<(String, u32), (ItemSnapshot, u32)>,
    tick: u32,
}

impl PreviewState {
    /// The local previews that changed since the last tick.
    fn changed_locally(&mut self, local: Vec<Preview>) -> Vec<Preview> {
        let tick = self.tick;
        local
            .into_iter()
            .filter(|p| {
                let shown = (p.sequence, p.activity.chunk_count);
                let before = self.made.insert(p.run_id.clone(), (shown, tick));
                before.is_none_or(|(was, _)| was != shown)
            })
            .collect()
    }

    /// Forgets what has not been seen for a while.
    fn tick(&mut self) {
        self.tick = self.tick.wrapping_add(1);
        let now = self.tick;
        let fresh = |seen: u32| now.wrapping_sub(seen) < FORGET_AFTER_TICKS;
        self.made.retain(|_, (_, seen)| fresh(*seen));
        self.sent.retain(|_, (_, seen)| fresh(*seen));
        self.items.retain(|_, (_, seen)| fresh(*seen));
    }

    /// The frame for `preview`, unless its run's last preview showed the same, or it came from
    /// elsewhere for an item no longer running: sent after the item's end, it would make the
    /// ended item a subscriber's streaming one again, for good once its run ends.
    async fn frame(
        &mut self,
        inner: &Inner,
        preview: Preview,
        origin: Origin,
    ) -> Option<Arc<Frame>> {
        let tick = self.tick;
        let shown = (preview.sequence, preview.activity.chunk_count);
        if self
            .sent
            .get(&preview.run_id)
            .is_some_and(|(was, _)| *was == shown)
        {
            self.sent.insert(preview.run_id.clone(), (shown, tick));
            return None;
        }
        let run_id = RunId::parse(&preview.run_id).ok()?;
        // Read after the item's end was stored, the state says so; read before, the end's
        // event is still to be read by the pump, which waits for the order lock the caller
        // holds until this frame is sent: the end comes after it.
        if origin == Origin::Elsewhere {
            let (run, sequence) = (run_id.clone(), preview.sequence);
            match inner
                .db
                .blocking(move |db| db.item_state(&run, sequence))
                .await
            {
                Ok(Some(evalboard_domain::ItemState::Running)) => {}
                Ok(_) => return None,
                Err(error) => {
                    tracing::debug!(%error, "no preview this time");
                    return None;
                }
            }
        }
        let key = (preview.run_id.clone(), preview.sequence);
        let item = match self.items.get_mut(&key) {
            Some((item, seen)) => {
                *seen = tick;
                item.clone()
            }
            None => {
                let (run, sequence) = (run_id.clone(), preview.sequence);
                match inner
                    .db
                    .blocking(move |db| db.item_snapshot(&run, sequence))
                    .await
                {
                    Ok(Some(item)) => {
                        self.items.insert(key, (item.clone(), tick));
                        item
                    }
                    Ok(None) => return None,
                    Err(error) => {
                        tracing::debug!(%error, "no preview this time");
                        return None;
                    }
                }
            }
        };
        let mut item = ItemSnapshotDto::from(item);
        // The item streams, whatever its row said when it was looked up.
        item.state = evalboard_domain::ItemState::Running.as_str().to_owned();
        item.activity = Some(preview.activity);
        let payload = RunItemEventDto {
            run_id: preview.run_id.clone(),
            item,
            at: preview.at,
        };
        let json = serde_json::to_string(&payload).expect("payloads are plain data");
        self.sent.insert(preview.run_id, (shown, tick));
        Some(Arc::new(Frame::preview(
            *inner.delivered.borrow(),
            run_id,
            &json,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preview(run: usize) -> Preview {
        Preview {
            run_id: format!("run-{run:032x}"),
            sequence: 7,
            activity: ActivityDto {
                attempt: 1,
                preview: "é".repeat(160),
                chunk_count: 12,
                received_chars: 900,
                first_chunk_at: Some("2026-12-03T05:00:00.000Z".into()),
                last_chunk_at: Some("2026-12-03T05:00:01.250Z".into()),
            },
            at: "2026-12-03T05:00:01.250Z".into(),
        }
    }

    #[test]
    fn previews_are_published_in_payloads_postgresql_accepts_and_read_back_whole() {
        let previews: Vec<Preview> = (0..40).map(preview).collect();
        let payloads = payloads("origin", &previews);
        assert!(
            payloads.len() > 1,
            "40 previews do not fit one notification"
        );
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let read: Vec<String> = payloads
            .iter()
            .flat_map(|p| serde_json::from_str::<Published>(p).unwrap().previews)
            .map(|p| p.run_id)
            .collect();
        let sent: Vec<String> = previews.into_iter().map(|p| p.run_id).collect();
        assert_eq!(read, sent, "every preview once, in order");
    }
}
