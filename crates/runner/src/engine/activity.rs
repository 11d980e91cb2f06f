//! What items in flight are streaming right now, for the active board's `currentItem.activity`
//! and for following one item's answer as it arrives. Kept in memory only: it changes many
//! times a second and is worth nothing after a restart.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use evalboard_domain::{RunId, Timestamp, truncate_to_micros};

/// How much of the latest text a preview shows.
const PREVIEW_CHARS: usize = 160;
/// How much of an attempt's text is kept, for [`ActivityBoard::live_text`] and the preview;
/// what comes after is counted, not kept (the stored response, once the item is answered, has
/// all of it), and the preview stays at the end of the kept text.
const LIVE_TEXT_BYTES: usize = 256 * 1024;

/// Streaming progress of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The attempt streaming.
    pub attempt: u32,
    /// When the attempt was sent.
    pub started_at: Timestamp,
    /// The last characters received (of the first 256 KiB of the attempt's text).
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

/// What has arrived of an item's answer since a reader's last look ([`ActivityBoard::live_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveText {
    /// The attempt streaming.
    pub attempt: u32,
    /// Whether `text` is the attempt's whole text so far (the reader's first look, or a new
    /// attempt) rather than what follows the reader's last look.
    pub replace: bool,
    /// The text.
    pub text: String,
    /// Where the reader is after this, to pass to the next look.
    pub position: LivePosition,
    /// Characters received so far (more than the kept text once it reached its limit).
    pub received_chars: u64,
    /// Chunks received so far.
    pub chunk_count: u64,
}

/// How far a reader of [`ActivityBoard::live_text`] has read: an attempt and a byte length of
/// its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePosition {
    attempt: u32,
    bytes: usize,
}

/// One item in flight: its activity, and the text its attempt received (up to
/// [`LIVE_TEXT_BYTES`]).
#[derive(Debug)]
struct Entry {
    /// Its `preview` stays empty: previews are made from `text` when read, a few times a
    /// second, rather than at every chunk.
    activity: Activity,
    text: String,
    /// A chunk did not fit in the kept text: none after it is kept either, so that the text
    /// stays the attempt's beginning, without holes.
    full: bool,
}

impl Entry {
    /// The activity with its preview: the last [`PREVIEW_CHARS`] characters of the text.
    fn activity(&self) -> Activity {
        let start = self
            .text
            .char_indices()
            .rev()
            .nth(PREVIEW_CHARS - 1)
            .map_or(0, |(at, _)| at);
        Activity {
            preview: self.text[start..].to_owned(),
            ..self.activity.clone()
        }
    }
}

/// Items in flight by run, then by sequence: a chunk finds its entry by reference, without
/// building a key (a chunk arrives per word or token).
type ItemsByRun = HashMap<RunId, HashMap<u32, Entry>>;

/// Activity of every item in flight on this server, shared by the engine and the API.
#[derive(Debug, Clone, Default)]
pub struct ActivityBoard {
    items: Arc<Mutex<ItemsByRun>>,
}

impl ActivityBoard {
    fn with<T>(&self, f: impl FnOnce(&mut ItemsByRun) -> T) -> T {
        let mut items = self
            .items
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut items)
    }

    /// An attempt started: its activity starts empty.
    pub(crate) fn start(&self, run: &RunId, sequence: u32, attempt: u32) {
        let entry = Entry {
            activity: Activity {
                attempt,
                started_at: truncate_to_micros(Utc::now()),
                preview: String::new(),
                chunk_count: 0,
                received_chars: 0,
                first_chunk_at: None,
                last_chunk_at: None,
            },
            text: String::new(),
            full: false,
        };
        self.with(|items| match items.get_mut(run) {
            Some(of_run) => {
                of_run.insert(sequence, entry);
            }
            None => {
                items.insert(run.clone(), HashMap::from([(sequence, entry)]));
            }
        });
    }

    /// A chunk of text arrived.
    pub(crate) fn chunk(&self, run: &RunId, sequence: u32, text: &str) {
        let now = truncate_to_micros(Utc::now());
        self.with(|items| {
            if let Some(Entry {
                activity,
                text: kept,
                full,
            }) = items
                .get_mut(run)
                .and_then(|of_run| of_run.get_mut(&sequence))
            {
                *full = *full || kept.len() + text.len() > LIVE_TEXT_BYTES;
                if !*full {
                    kept.push_str(text);
                }
                activity.chunk_count += 1;
                activity.received_chars += text.chars().count() as u64;
                activity.first_chunk_at.get_or_insert(now);
                activity.last_chunk_at = Some(now);
            }
        });
    }

    /// The item is no longer in flight here.
    pub(crate) fn finish(&self, run: &RunId, sequence: u32) {
        self.with(|items| {
            if let Some(of_run) = items.get_mut(run) {
                of_run.remove(&sequence);
                if of_run.is_empty() {
                    items.remove(run);
                }
            }
        });
    }

    /// The item of `run` most recently sent from this server and still streaming, with its
    /// activity: what the board shows as the run's current item.
    pub fn latest(&self, run: &RunId) -> Option<(u32, Activity)> {
        self.with(|items| {
            items
                .get(run)
                .and_then(most_recently_sent)
                .map(|(sequence, e)| (sequence, e.activity()))
        })
    }

    /// For each run with items streaming on this server, the one sent most recently (as
    /// [`ActivityBoard::latest`]).
    pub fn latest_per_run(&self) -> Vec<(RunId, u32, Activity)> {
        self.with(|items| {
            items
                .iter()
                .filter_map(|(run, of_run)| {
                    let (sequence, entry) = most_recently_sent(of_run)?;
                    Some((run.clone(), sequence, entry.activity()))
                })
                .collect()
        })
    }

    /// The activity of an item, if it is streaming on this server.
    pub fn get(&self, run: &RunId, sequence: u32) -> Option<Activity> {
        self.with(|items| {
            items
                .get(run)
                .and_then(|of_run| of_run.get(&sequence))
                .map(Entry::activity)
        })
    }

    /// The text of an item's attempt that arrived after `after` (all of it for a first look, or
    /// when a new attempt started since), if the item is streaming on this server.
    pub fn live_text(
        &self,
        run: &RunId,
        sequence: u32,
        after: Option<LivePosition>,
    ) -> Option<LiveText> {
        self.with(|items| {
            let Entry { activity, text, .. } = items.get(run)?.get(&sequence)?;
            let from = after
                .filter(|p| p.attempt == activity.attempt && p.bytes <= text.len())
                .map(|p| p.bytes);
            Some(LiveText {
                attempt: activity.attempt,
                replace: from.is_none(),
                // Chunks are appended whole, so a previous length is a character boundary.
                text: text[from.unwrap_or(0)..].to_owned(),
                position: LivePosition {
                    attempt: activity.attempt,
                    bytes: text.len(),
                },
                received_chars: activity.received_chars,
                chunk_count: activity.chunk_count,
            })
        })
    }
}

/// The item of a run sent most recently (the higher sequence between items sent at once).
fn most_recently_sent(of_run: &HashMap<u32, Entry>) -> Option<(u32, &Entry)> {
    of_run
        .iter()
        .max_by_key(|(sequence, e)| (e.activity.started_at, **sequence))
        .map(|(sequence, e)| (*sequence, e))
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

    #[test]
    fn live_text_gives_what_arrived_since_the_last_look() {
        let board = ActivityBoard::default();
        let run = RunId::generate();
        assert!(board.live_text(&run, 1, None).is_none(), "not in flight");
        board.start(&run, 1, 1);
        board.chunk(&run, 1, "Let's thïnk");
        let first = board.live_text(&run, 1, None).unwrap();
        assert_eq!((first.replace, first.text.as_str()), (true, "Let's thïnk"));
        board.chunk(&run, 1, " step by step.");
        let next = board.live_text(&run, 1, Some(first.position)).unwrap();
        assert_eq!(
            (next.replace, next.text.as_str()),
            (false, " step by step.")
        );
        assert_eq!((next.chunk_count, next.received_chars), (2, 25));
        let idle = board.live_text(&run, 1, Some(next.position)).unwrap();
        assert_eq!((idle.replace, idle.text.as_str()), (false, ""));
        // A new attempt starts over: the reader replaces what it showed.
        board.start(&run, 1, 2);
        board.chunk(&run, 1, "The answer");
        let retried = board.live_text(&run, 1, Some(idle.position)).unwrap();
        assert_eq!(
            (retried.attempt, retried.replace, retried.text.as_str()),
            (2, true, "The answer")
        );
        // Past the kept limit the text stops growing, even by a chunk small enough to fit in
        // what is left (the text would have a hole); the counts go on.
        board.chunk(&run, 1, &"x".repeat(LIVE_TEXT_BYTES));
        board.chunk(&run, 1, ".");
        let full = board.live_text(&run, 1, Some(retried.position)).unwrap();
        assert_eq!(full.text, "");
        assert_eq!(full.received_chars, 11 + LIVE_TEXT_BYTES as u64);
        assert_eq!(full.chunk_count, 3);
        assert!(board.get(&run, 1).unwrap().preview.ends_with("The answer"));
        board.finish(&run, 1);
        assert!(board.live_text(&run, 1, Some(full.position)).is_none());
    }
}
