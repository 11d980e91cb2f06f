//! What items in flight are streaming right now, for the active board's `currentItem.activity`.
//! Kept in memory only: previews change many times a second and are worth nothing after a
//! restart.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use evalboard_domain::{RunId, Timestamp, truncate_to_micros};

/// How much of the latest text a preview shows.
const PREVIEW_CHARS: usize = 160;

/// Streaming progress of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The attempt streaming.
    pub attempt: u32,
    /// When the attempt was sent.
    pub started_at: Timestamp,
    /// The last characters received.
    pub preview: String,
    /// Chunks received so far.
    pub chunk_count: u64,
    /// Characters received so far.
    pub received_chars: u64,
    /// When the first chunk arrived.
    pub first_chunk_at: Option<Timestamp>,
    /// When the latest chunk arrived.
    pub last_chunk_at: Option<Timestamp>,
}

/// Activity of every item in flight on this server, shared by the engine and the API.
#[derive(Debug, Clone, Default)]
pub struct ActivityBoard {
    items: Arc<Mutex<HashMap<(RunId, u32), Activity>>>,
}

impl ActivityBoard {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(RunId, u32), Activity>) -> T) -> T {
        let mut items = self
            .items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut items)
    }

    /// An attempt started: its activity starts empty.
    pub(crate) fn start(&self, run: &RunId, sequence: u32, attempt: u32) {
        self.with(|items| {
            items.insert(
                (run.clone(), sequence),
                Activity {
                    attempt,
                    started_at: truncate_to_micros(Utc::now()),
                    preview: String::new(),
                    chunk_count: 0,
                    received_chars: 0,
                    first_chunk_at: None,
                    last_chunk_at: None,
                },
            );
        });
    }

    /// A chunk of text arrived.
    pub(crate) fn chunk(&self, run: &RunId, sequence: u32, text: &str) {
        let now = truncate_to_micros(Utc::now());
        self.with(|items| {
            if let Some(activity) = items.get_mut(&(run.clone(), sequence)) {
                activity.chunk_count += 1;
                activity.received_chars += text.chars().count() as u64;
                activity.first_chunk_at.get_or_insert(now);
                activity.last_chunk_at = Some(now);
                activity.preview.push_str(text);
                let excess = activity
                    .preview
                    .chars()
                    .count()
                    .saturating_sub(PREVIEW_CHARS);
                if excess > 0 {
                    activity.preview = activity.preview.chars().skip(excess).collect();
                }
            }
        });
    }

    /// The item is no longer in flight here.
    pub(crate) fn finish(&self, run: &RunId, sequence: u32) {
        self.with(|items| items.remove(&(run.clone(), sequence)));
    }

    /// The item of `run` most recently sent from this server and still streaming, with its
    /// activity: what the board shows as the run's current item.
    pub fn latest(&self, run: &RunId) -> Option<(u32, Activity)> {
        self.with(|items| {
            items
                .iter()
                .filter(|((r, _), _)| r == run)
                .max_by_key(|((_, sequence), a)| (a.started_at, *sequence))
                .map(|((_, sequence), a)| (*sequence, a.clone()))
        })
    }

    /// For each run with items streaming on this server, the one sent most recently (as
    /// [`ActivityBoard::latest`]).
    pub fn latest_per_run(&self) -> Vec<(RunId, u32, Activity)> {
        self.with(|items| {
            let mut latest: HashMap<&RunId, (u32, &Activity)> = HashMap::new();
            for ((run, sequence), activity) in items.iter() {
                let newer = latest
                    .get(run)
                    .is_none_or(|(s, a)| (activity.started_at, *sequence) > (a.started_at, *s));
                if newer {
                    latest.insert(run, (*sequence, activity));
                }
            }
            latest
                .into_iter()
                .map(|(run, (sequence, activity))| (run.clone(), sequence, activity.clone()))
                .collect()
        })
    }

    /// The activity of an item, if it is streaming on this server.
    pub fn get(&self, run: &RunId, sequence: u32) -> Option<Activity> {
        self.with(|items| items.get(&(run.clone(), sequence)).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_keep_the_latest_text() {
        let board = ActivityBoard::default();
        let run = RunId::generate();
        board.chunk(&run, 1, "ignored: not started");
        assert!(board.get(&run, 1).is_none());
        board.start(&run, 1, 2);
        board.chunk(&run, 1, &"x".repeat(150));
        board.chunk(&run, 1, "The answer is (B).");
        let activity = board.get(&run, 1).unwrap();
        assert_eq!(
            (
                activity.attempt,
                activity.chunk_count,
                activity.received_chars
            ),
            (2, 2, 168)
        );
        assert_eq!(activity.preview.chars().count(), PREVIEW_CHARS);
        assert!(activity.preview.ends_with("The answer is (B)."));
        assert!(activity.first_chunk_at <= activity.last_chunk_at);
        board.start(&run, 2, 1);
        assert_eq!(board.latest(&run).unwrap().0, 2, "the most recently sent");
        board.finish(&run, 2);
        assert_eq!(board.latest(&run).unwrap().0, 1);
        board.finish(&run, 1);
        assert!(board.get(&run, 1).is_none());
        assert!(board.latest(&run).is_none());
    }
}
