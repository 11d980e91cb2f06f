//! The board view of the stream (`GET /runs/events?view=board`): stored events gathered for a
//! short while and sent as one batch of only what a board needs of them
//! ([`evalboard_domain::board_needs`]), formatted once for every board subscriber.
//!
//! Positions: every event of a batch carries the id of the position before the batch, except
//! the last, which carries the batch's own. A client that leaves in the middle of a batch
//! resumes from before it and receives those events again (exactly, from the database); that is
//! harmless because each event's effect on a board is a replacement whose last occurrence wins.

use std::{sync::Arc, time::Duration};

use actix_web::web::Bytes;
use evalboard_domain::{BoardEffect, EventPosition, RunId, board_needs};
use tokio::time::Instant;

use super::{Frame, sse};

/// What the board channel carries.
#[derive(Clone)]
pub(crate) enum BoardMessage {
    /// Stored events, conflated.
    Batch(Arc<BoardBatch>),
    /// A streaming preview, sent as it comes.
    Preview(Arc<Frame>),
}

/// Stored events after `from` up to `to`, reduced to what a board needs.
pub(crate) struct BoardBatch {
    /// The position before the batch.
    pub(crate) from: EventPosition,
    /// The position of the batch's last event.
    pub(crate) to: EventPosition,
    /// The events a board needs, in order.
    frames: Vec<Arc<Frame>>,
    /// All of them on the wire, for subscribers of every run.
    pub(crate) wire: Bytes,
}

impl BoardBatch {
    /// The batch of what a board needs of `frames` (stored events after `from`, in order);
    /// `None` when there are none.
    pub(crate) fn of(from: EventPosition, frames: &[Arc<Frame>]) -> Option<Self> {
        let stored: Vec<(&Arc<Frame>, (&RunId, BoardEffect))> = frames
            .iter()
            .filter_map(|frame| Some((frame, (&frame.run_id, frame.effect()?))))
            .collect();
        let effects: Vec<_> = stored.iter().map(|(_, effect)| *effect).collect();
        let needed: Vec<Arc<Frame>> = stored
            .iter()
            .map(|(frame, _)| *frame)
            .zip(board_needs(&effects))
            .filter(|(_, needed)| *needed)
            .map(|(frame, _)| Arc::clone(frame))
            .collect();
        let to = needed.last()?.position;
        let wire = positioned(from, to, needed.iter());
        Some(Self {
            from,
            to,
            frames: needed,
            wire,
        })
    }

    /// The events of `runs` only, positioned the same way; `None` when there are none.
    pub(crate) fn for_runs(&self, runs: &[RunId]) -> Option<Bytes> {
        let mut frames = self
            .frames
            .iter()
            .filter(|frame| runs.contains(&frame.run_id))
            .peekable();
        frames.peek()?;
        Some(positioned(self.from, self.to, frames))
    }
}

/// `frames` with the id of `from`, except the last, which gets that of `to`.
fn positioned<'a>(
    from: EventPosition,
    to: EventPosition,
    frames: impl Iterator<Item = &'a Arc<Frame>>,
) -> Bytes {
    let mut frames = frames.peekable();
    let mut out = Vec::new();
    while let Some(frame) = frames.next() {
        let id = if frames.peek().is_some() {
            from.id
        } else {
            to.id
        };
        sse::push_event(&mut out, id, &frame.body);
    }
    Bytes::from(out)
}

/// Gathers the pump's stored events for board subscribers between batches.
pub(crate) struct Conflator {
    every: Duration,
    /// The position the gathered events follow.
    from: EventPosition,
    pending: Vec<Arc<Frame>>,
    /// A status among them: the batch goes out at once.
    urgent: bool,
    last_batch: Instant,
}

impl Conflator {
    /// A conflator sending a batch at most every `every` (and at once for a status change),
    /// starting after `position`.
    pub(crate) fn new(every: Duration, position: EventPosition) -> Self {
        Self {
            every,
            from: position,
            pending: Vec::new(),
            urgent: false,
            last_batch: Instant::now(),
        }
    }

    /// Adds a stored event (the next after what was added before).
    pub(crate) fn push(&mut self, frame: Arc<Frame>) {
        self.urgent |= matches!(frame.effect(), Some(BoardEffect::Status { .. }));
        self.pending.push(frame);
    }

    /// Nobody watches the board: forgets what was gathered; the next batch follows `position`.
    pub(crate) fn skip_to(&mut self, position: EventPosition) {
        self.pending.clear();
        self.urgent = false;
        self.from = position;
    }

    /// When the gathered events are due; `None` when there are none.
    pub(crate) fn due_at(&self) -> Option<Instant> {
        if self.pending.is_empty() {
            None
        } else if self.urgent {
            Some(self.last_batch)
        } else {
            Some(self.last_batch + self.every)
        }
    }

    /// The batch of what was gathered, if it is due.
    pub(crate) fn batch_if_due(&mut self) -> Option<BoardBatch> {
        if self.due_at()? > Instant::now() {
            return None;
        }
        let batch = BoardBatch::of(self.from, &self.pending);
        self.from = self
            .pending
            .last()
            .map_or(self.from, |frame| frame.position);
        self.pending.clear();
        self.urgent = false;
        self.last_batch = Instant::now();
        batch
    }
}

#[cfg(test)]
mod tests {
    use evalboard_domain::{ItemSnapshot, ItemState, RunChange, RunEvent, StateCounts};

    use super::*;

    fn at(id: u64) -> EventPosition {
        EventPosition { commit: 0, id }
    }

    fn item(run: &RunId, id: u64, sequence: u32, state: ItemState) -> Arc<Frame> {
        Arc::new(Frame::stored(RunEvent {
            position: at(id),
            run_id: run.clone(),
            at: chrono::Utc::now(),
            change: RunChange::Item(ItemSnapshot {
                sequence,
                state,
                prompt_text: "1 + 1?".into(),
                choices: vec!["2".into(), "3".into()],
            }),
        }))
    }

    fn progress(run: &RunId, id: u64) -> Arc<Frame> {
        Arc::new(Frame::stored(RunEvent {
            position: at(id),
            run_id: run.clone(),
            at: chrono::Utc::now(),
            change: RunChange::Progress(StateCounts::default()),
        }))
    }

    /// The (id, event name) of each event in `wire`.
    fn events(wire: &[u8]) -> Vec<(u64, String)> {
        std::str::from_utf8(wire)
            .unwrap()
            .split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                let field = |name: &str| {
                    event
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .unwrap()
                        .to_owned()
                };
                (field("id: ").parse().unwrap(), field("event: "))
            })
            .collect()
    }

    #[test]
    fn a_batch_keeps_what_the_board_needs_and_positions_its_last_event_only() {
        let (a, b) = (RunId::generate(), RunId::generate());
        let frames = [
            item(&a, 11, 0, ItemState::Running),
            progress(&a, 12),
            item(&b, 13, 0, ItemState::Running),
            item(&a, 14, 1, ItemState::Running),
            progress(&a, 15),
            progress(&b, 16),
        ];
        let batch = BoardBatch::of(at(10), &frames).unwrap();
        assert_eq!((batch.from, batch.to), (at(10), at(16)));
        assert_eq!(
            events(&batch.wire),
            [
                (10, "run_item".to_owned()),
                (10, "run_item".to_owned()),
                (10, "run_progress".to_owned()),
                (16, "run_progress".to_owned()),
            ],
            "a's first item and first progress are replaced by later ones"
        );
        assert_eq!(
            events(&batch.for_runs(std::slice::from_ref(&a)).unwrap()),
            [(10, "run_item".to_owned()), (16, "run_progress".to_owned())],
            "one run's events end at the batch's position too"
        );
        assert!(batch.for_runs(&[RunId::generate()]).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn batches_go_out_at_most_every_period_and_at_once_for_a_status() {
        let run = RunId::generate();
        let mut conflator = Conflator::new(Duration::from_millis(100), at(0));
        assert!(conflator.due_at().is_none());
        conflator.push(progress(&run, 1));
        assert!(conflator.batch_if_due().is_none(), "not yet");
        tokio::time::advance(Duration::from_millis(100)).await;
        let batch = conflator.batch_if_due().unwrap();
        assert_eq!((batch.from, batch.to), (at(0), at(1)));

        conflator.push(progress(&run, 2));
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(conflator.batch_if_due().is_none());
        conflator.skip_to(at(7));
        assert!(conflator.due_at().is_none(), "nobody watched: forgotten");

        let status = Arc::new(Frame::stored(RunEvent {
            position: at(8),
            run_id: run.clone(),
            at: chrono::Utc::now(),
            change: RunChange::Status {
                run: evalboard_domain::RunHeader {
                    id: run.clone(),
                    provider_name: "p".into(),
                    dataset_name: "d".into(),
                    model_name: "m".into(),
                    status: evalboard_domain::RunStatus::Running,
                },
                previous: None,
                lifecycle: evalboard_domain::Lifecycle::default(),
            },
        }));
        conflator.push(status);
        let batch = conflator.batch_if_due().expect("a status goes out at once");
        assert_eq!((batch.from, batch.to), (at(7), at(8)));
    }
}
