//! Streaming previews: the item each run is streaming on this server, with its `activity`, a few
//! times a second. Previews are not stored: they are worth nothing a moment later, and a client
//! that reconnects gets the next one.

use std::{collections::HashMap, sync::Arc};

use evalboard_domain::{ItemSnapshot, RunId};
use evalboard_runner::ActivityBoard;

use super::{BoardMessage, Frame, Inner};
use crate::dto::{ItemSnapshotDto, RunItemEventDto, api_time_millis};

/// Sends a preview of each run's current item whenever its activity changed, every
/// `preview_every`, while the server runs.
pub(super) async fn run(inner: Arc<Inner>, activity: ActivityBoard) {
    let mut ticks = tokio::time::interval(inner.config.preview_every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // What each run's last preview showed, and the text of items already looked up.
    let mut sent: HashMap<RunId, (u32, u64)> = HashMap::new();
    let mut items: HashMap<(RunId, u32), ItemSnapshot> = HashMap::new();
    loop {
        ticks.tick().await;
        if inner.listeners() == 0 {
            continue;
        }
        let current = activity.latest_per_run();
        sent.retain(|run, _| current.iter().any(|(r, _, _)| r == run));
        items
            .retain(|(run, sequence), _| current.iter().any(|(r, s, _)| r == run && s == sequence));
        for (run_id, sequence, activity) in current {
            let seen = (sequence, activity.chunk_count);
            if sent.get(&run_id) == Some(&seen) {
                continue;
            }
            let key = (run_id.clone(), sequence);
            if !items.contains_key(&key) {
                let (run, db_key) = (run_id.clone(), sequence);
                match inner
                    .db
                    .blocking(move |db| db.item_snapshot(&run, db_key))
                    .await
                {
                    Ok(Some(item)) => {
                        items.insert(key.clone(), item);
                    }
                    Ok(None) => continue,
                    Err(error) => {
                        tracing::debug!(%error, "no preview this time");
                        continue;
                    }
                }
            }
            let mut item = ItemSnapshotDto::from(items[&key].clone());
            // The item streams here, whatever its row said when it was looked up.
            item.state = evalboard_domain::ItemState::Running.as_str().to_owned();
            let at = api_time_millis(activity.last_chunk_at.unwrap_or(activity.started_at));
            item.activity = Some(activity.into());
            let payload = RunItemEventDto {
                run_id: run_id.to_string(),
                item,
                at,
            };
            let json = serde_json::to_string(&payload).expect("payloads are plain data");
            let frame = Arc::new(Frame::preview(
                *inner.delivered.borrow(),
                run_id.clone(),
                &json,
            ));
            // Nobody on one of the views is not an error.
            let _ = inner.frames.send(Arc::clone(&frame));
            let _ = inner.board.send(BoardMessage::Preview(frame));
            sent.insert(run_id, seen);
        }
    }
}
