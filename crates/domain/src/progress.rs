//! Progress of a run, derived from how many of its items are in each state.

use crate::item::ItemState;

/// How many items of a run are in each state. The single source the spec's `progress` object
/// is computed from; kept on the run row and moved in the same transaction as the items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Items in `pending`.
    pub pending: u64,
    /// Items in `running`.
    pub running: u64,
    /// Items in `awaiting`.
    pub awaiting: u64,
    /// Items in `correct`.
    pub correct: u64,
    /// Items in `incorrect`.
    pub incorrect: u64,
    /// Items in `failed`.
    pub failed: u64,
    /// Items in `canceled`.
    pub canceled: u64,
}

impl StateCounts {
    /// Counts a collection of item states.
    pub fn from_states(states: impl IntoIterator<Item = ItemState>) -> Self {
        let mut counts = Self::default();
        for state in states {
            *counts.slot(state) += 1;
        }
        counts
    }

    /// Counts `n` more items in `state`.
    pub fn add(&mut self, state: ItemState, n: u64) {
        *self.slot(state) += n;
    }

    /// The number of items in `state`.
    pub fn get(&self, state: ItemState) -> u64 {
        match state {
            ItemState::Pending => self.pending,
            ItemState::Running => self.running,
            ItemState::Awaiting => self.awaiting,
            ItemState::Correct => self.correct,
            ItemState::Incorrect => self.incorrect,
            ItemState::Failed => self.failed,
            ItemState::Canceled => self.canceled,
        }
    }

    fn slot(&mut self, state: ItemState) -> &mut u64 {
        match state {
            ItemState::Pending => &mut self.pending,
            ItemState::Running => &mut self.running,
            ItemState::Awaiting => &mut self.awaiting,
            ItemState::Correct => &mut self.correct,
            ItemState::Incorrect => &mut self.incorrect,
            ItemState::Failed => &mut self.failed,
            ItemState::Canceled => &mut self.canceled,
        }
    }

    /// Moves `n` items from `from` to `to`. Returns `None`, leaving the counts untouched, when
    /// fewer than `n` items are in `from`: the caller's idea of the items is then wrong.
    pub fn moved(mut self, from: ItemState, to: ItemState, n: u64) -> Option<Self> {
        let source = self.slot(from);
        *source = source.checked_sub(n)?;
        *self.slot(to) += n;
        Some(self)
    }

    /// All items of the run.
    pub fn total(&self) -> u64 {
        ItemState::ALL.into_iter().map(|s| self.get(s)).sum()
    }

    /// Items past `running` (awaiting a verdict, or terminal): the only ones that can hold an
    /// answer.
    pub fn past_running(&self) -> u64 {
        self.total() - self.pending - self.running
    }

    /// The spec's progress object.
    pub fn progress(&self) -> Progress {
        let faulted = self.failed + self.canceled;
        let completed = self.correct + self.incorrect + faulted;
        Progress {
            completed,
            total: self.total(),
            correct: self.correct,
            incorrect: self.incorrect,
            awaiting: self.awaiting,
            faulted,
            pending: self.pending + self.running,
        }
    }
}

/// The spec's `progress` object.
///
/// `completed` counts terminal items (`correct` + `incorrect` + `faulted`), `faulted` counts
/// `failed` + `canceled`, `awaiting` counts answered items not yet judged, and `pending` counts
/// items not yet answered (queued or in flight), so `completed + awaiting + pending == total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Items in a terminal state.
    pub completed: u64,
    /// All items of the run.
    pub total: u64,
    /// Items judged correct.
    pub correct: u64,
    /// Items judged incorrect.
    pub incorrect: u64,
    /// Items answered and waiting for the judge.
    pub awaiting: u64,
    /// Items that failed or were canceled.
    pub faulted: u64,
    /// Items not answered yet (queued or running).
    pub pending: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ItemState::*;

    #[test]
    fn matches_the_spec_example() {
        let counts = StateCounts {
            pending: 84,
            running: 1,
            awaiting: 1,
            correct: 11,
            incorrect: 3,
            ..Default::default()
        };
        assert_eq!(
            counts.progress(),
            Progress {
                completed: 14,
                total: 100,
                correct: 11,
                incorrect: 3,
                awaiting: 1,
                faulted: 0,
                pending: 85,
            }
        );
    }

    #[test]
    fn moving_more_items_than_a_state_holds_is_refused() {
        let counts = StateCounts::from_states([Pending, Pending]);
        assert_eq!(counts.moved(Running, Awaiting, 1), None);
        let moved = counts.moved(Pending, Running, 2).unwrap();
        assert_eq!((moved.pending, moved.running), (0, 2));
    }
}
