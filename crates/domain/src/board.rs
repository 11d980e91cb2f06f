//! What the active board makes of a run's events, and which events it can do without.
//!
//! A dashboard folds the event stream into one entry per run (docs/events.md, "Folding the
//! stream into the board"): a status replaces the run's header (a terminal one clears the
//! current item), progress replaces the counters, an item either becomes the current item
//! (`running`) or clears it when it shows the same sequence, and a terminal item goes to the
//! front of the five recent items. The board view of the stream sends only the events whose
//! effect survives the ones after them ([`board_needs`]).

use std::{
    collections::{HashMap, HashSet},
    hash::Hash,
};

use crate::{ItemState, RunChange};

/// How many finished items a board lists per run.
pub const RECENT_ITEMS: usize = 5;

/// What one event does to its run's board entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardEffect {
    /// Replaces the header and lifecycle; a terminal status clears the current item.
    Status {
        /// Whether the run's new status is terminal.
        terminal: bool,
    },
    /// Replaces the counters.
    Progress,
    /// An item in `state`: `running` becomes the current item; any other state clears the
    /// current item if it is this one, and a terminal state puts it first among the recent items.
    Item {
        /// The item's position in the run.
        sequence: u32,
        /// Its state after the change.
        state: ItemState,
    },
}

impl RunChange {
    /// What this change does to a board.
    pub fn board_effect(&self) -> BoardEffect {
        match self {
            Self::Status { run, .. } => BoardEffect::Status {
                terminal: run.status.is_terminal(),
            },
            Self::Progress(_) => BoardEffect::Progress,
            Self::Item(item) => BoardEffect::Item {
                sequence: item.sequence,
                state: item.state,
            },
        }
    }
}

/// What the events after a point do, for one run.
#[derive(Default)]
struct Later {
    running: bool,
    terminal_status: bool,
    progress: bool,
    /// Items with a later non-running event (which clears the current item just as well).
    leaving: HashSet<u32>,
    /// The first distinct items of later terminal events, up to [`RECENT_ITEMS`]: once there
    /// are that many, every earlier finished item is pushed out of the recent list.
    finishing: Vec<u32>,
}

impl Later {
    /// Whether the current item, whatever it is now, ends up the same without an event that
    /// might clear it (or set it) here.
    fn decides_current(&self) -> bool {
        self.running || self.terminal_status
    }

    fn pushes_out(&self, sequence: u32) -> bool {
        self.finishing.len() >= RECENT_ITEMS || self.finishing.contains(&sequence)
    }
}

/// Which of `events` (each with its run, in stream order) a board needs: folding only those
/// into any board gives what folding all of them gives. Every status is kept; a run's progress
/// only when it is the run's last; an item when it may still be the current item or clear it,
/// or when it stays among the recent items.
///
/// The result also holds when the board has already folded some of `events` (a client joining
/// or resuming in the middle of a batch): each kept effect is a replacement whose last
/// occurrence wins.
pub fn board_needs<K: Eq + Hash>(events: &[(K, BoardEffect)]) -> Vec<bool> {
    let mut later: HashMap<&K, Later> = HashMap::new();
    let mut needed = vec![false; events.len()];
    for (index, (run, effect)) in events.iter().enumerate().rev() {
        let after = later.entry(run).or_default();
        needed[index] = match *effect {
            BoardEffect::Status { terminal } => {
                after.terminal_status |= terminal;
                true
            }
            BoardEffect::Progress => !std::mem::replace(&mut after.progress, true),
            BoardEffect::Item {
                state: ItemState::Running,
                ..
            } => !std::mem::replace(&mut after.running, true) && !after.terminal_status,
            BoardEffect::Item { sequence, state } => {
                let clears = !after.decides_current() && !after.leaving.contains(&sequence);
                let listed = state.is_terminal() && !after.pushes_out(sequence);
                after.leaving.insert(sequence);
                if state.is_terminal()
                    && after.finishing.len() < RECENT_ITEMS
                    && !after.finishing.contains(&sequence)
                {
                    after.finishing.push(sequence);
                }
                clears || listed
            }
        };
    }
    needed
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A run's board entry, each part tagged with the event that set it.
    #[derive(Debug, Clone, PartialEq, Default)]
    struct Entry {
        status: usize,
        progress: usize,
        current: Option<(u32, usize)>,
        recent: Vec<(u32, usize)>,
    }

    /// The fold of docs/events.md over tagged events (the tag is the event's index).
    fn fold(
        mut board: HashMap<u8, Entry>,
        events: &[(u8, BoardEffect, usize)],
    ) -> HashMap<u8, Entry> {
        for &(run, effect, tag) in events {
            let entry = board.entry(run).or_default();
            match effect {
                BoardEffect::Status { terminal } => {
                    entry.status = tag;
                    if terminal {
                        entry.current = None;
                    }
                }
                BoardEffect::Progress => entry.progress = tag,
                BoardEffect::Item {
                    sequence,
                    state: ItemState::Running,
                } => {
                    entry.current = Some((sequence, tag));
                }
                BoardEffect::Item { sequence, state } => {
                    if entry.current.is_some_and(|(s, _)| s == sequence) {
                        entry.current = None;
                    }
                    if state.is_terminal() {
                        entry.recent.retain(|&(s, _)| s != sequence);
                        entry.recent.insert(0, (sequence, tag));
                        entry.recent.truncate(RECENT_ITEMS);
                    }
                }
            }
        }
        board
    }

    fn effect() -> impl Strategy<Value = BoardEffect> {
        let state = prop::sample::select(vec![
            ItemState::Running,
            ItemState::Running,
            ItemState::Awaiting,
            ItemState::Correct,
            ItemState::Incorrect,
            ItemState::Failed,
            ItemState::Canceled,
        ]);
        prop_oneof![
            1 => any::<bool>().prop_map(|terminal| BoardEffect::Status { terminal }),
            3 => Just(BoardEffect::Progress),
            8 => (0u32..8, state).prop_map(|(sequence, state)| BoardEffect::Item { sequence, state }),
        ]
    }

    /// Events of two runs, tagged with their index; and a board the client may hold already.
    fn events() -> impl Strategy<Value = Vec<(u8, BoardEffect, usize)>> {
        prop::collection::vec((0u8..2, effect()), 0..60).prop_map(|events| {
            events
                .into_iter()
                .enumerate()
                .map(|(tag, (run, effect))| (run, effect, tag + 1000))
                .collect()
        })
    }

    fn kept(events: &[(u8, BoardEffect, usize)]) -> Vec<(u8, BoardEffect, usize)> {
        let needs = board_needs(&events.iter().map(|&(r, e, _)| (r, e)).collect::<Vec<_>>());
        events
            .iter()
            .zip(needs)
            .filter(|(_, needed)| *needed)
            .map(|(event, _)| *event)
            .collect()
    }

    proptest! {
        #[test]
        fn the_kept_events_fold_into_the_same_board(before in events(), events in events()) {
            let board = fold(HashMap::new(), &before);
            prop_assert_eq!(fold(board.clone(), &kept(&events)), fold(board, &events));
        }

        #[test]
        fn a_board_that_folded_part_of_the_events_already_ends_the_same(
            before in events(),
            events in events(),
            split in 0usize..60,
        ) {
            let board = fold(HashMap::new(), &before);
            let seen = fold(board.clone(), &events[..split.min(events.len())]);
            prop_assert_eq!(fold(seen, &kept(&events)), fold(board, &events));
        }
    }

    #[test]
    fn a_busy_run_keeps_its_last_progress_current_item_and_recent_items() {
        // Twenty items each start and finish; the counters move with each.
        let mut events = Vec::new();
        for sequence in 0..20 {
            events.push((
                (),
                BoardEffect::Item {
                    sequence,
                    state: ItemState::Running,
                },
            ));
            events.push(((), BoardEffect::Progress));
            events.push((
                (),
                BoardEffect::Item {
                    sequence,
                    state: ItemState::Correct,
                },
            ));
            events.push(((), BoardEffect::Progress));
        }
        events.push((
            (),
            BoardEffect::Item {
                sequence: 20,
                state: ItemState::Running,
            },
        ));
        let needs = board_needs(&events);
        let kept: Vec<_> = events
            .iter()
            .zip(&needs)
            .filter(|(_, n)| **n)
            .map(|(e, _)| e.1)
            .collect();
        let mut expected: Vec<_> = (15..20)
            .map(|sequence| BoardEffect::Item {
                sequence,
                state: ItemState::Correct,
            })
            .collect();
        expected.push(BoardEffect::Progress);
        expected.push(BoardEffect::Item {
            sequence: 20,
            state: ItemState::Running,
        });
        assert_eq!(kept, expected);
    }
}
