//! Item states and their legal transitions, and the snapshot of an item the active board shows.

/// Where one item of a run stands.
///
/// `pending` -> `running` -> `awaiting` (answered, not judged) -> `correct` | `incorrect`; any
/// non-terminal item can end `failed` or `canceled`. Three further moves exist for the engine:
/// a `running` item whose claim lapsed goes back to `pending`, a retry reopens a terminal
/// item as `pending`, and a re-judging takes a verdict back to `awaiting` (the answer stays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemState {
    /// Not yet sent to the model.
    Pending,
    /// Sent; the answer is being produced.
    Running,
    /// Answered, waiting for the judge.
    Awaiting,
    /// Judged right.
    Correct,
    /// Judged wrong.
    Incorrect,
    /// Gave up after errors.
    Failed,
    /// Stopped by a cancel before it finished.
    Canceled,
}

impl ItemState {
    /// Every state, in lifecycle order.
    pub const ALL: [ItemState; 7] = [
        Self::Pending,
        Self::Running,
        Self::Awaiting,
        Self::Correct,
        Self::Incorrect,
        Self::Failed,
        Self::Canceled,
    ];

    /// The state's wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Awaiting => "awaiting",
            Self::Correct => "correct",
            Self::Incorrect => "incorrect",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the item is finished (judged, failed or canceled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Correct | Self::Incorrect | Self::Failed | Self::Canceled
        )
    }

    /// Whether the item ended without a verdict (`failed` or `canceled`).
    pub fn is_faulted(self) -> bool {
        matches!(self, Self::Failed | Self::Canceled)
    }

    /// Whether `self -> next` is a legal move.
    pub fn can_transition_to(self, next: ItemState) -> bool {
        use ItemState::*;
        match (self, next) {
            (Pending, Running) | (Running, Awaiting) => true,
            (Awaiting, Correct | Incorrect) => true,
            (Pending | Running | Awaiting, Failed | Canceled) => true,
            // A claim that lapsed (crash, lease expiry) hands the item back to the queue.
            (Running, Pending) => true,
            // A retry reopens finished items as a new attempt.
            (from, Pending) if from.is_terminal() => true,
            // A re-judging asks for the verdict again.
            (Correct | Incorrect, Awaiting) => true,
            _ => false,
        }
    }
}

crate::states::named_states!(ItemState, "item");

/// One item as the active board shows it (`currentItem`, `recentItems`).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSnapshot {
    /// 1-based position of the item in its run.
    pub sequence: u32,
    /// Where the item stands.
    pub state: ItemState,
    /// The question put to the model.
    pub prompt_text: String,
    /// The answer options, in letter order (A, B, ...).
    pub choices: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::ItemState::{self, *};

    #[test]
    fn the_happy_path_is_legal() {
        let path = [Pending, Running, Awaiting, Correct];
        for pair in path.windows(2) {
            assert_eq!(pair[0].transition_to(pair[1]), Ok(pair[1]));
        }
    }

    #[test]
    fn terminal_states_only_reopen_or_await_a_new_verdict() {
        for from in ItemState::ALL.into_iter().filter(|s| s.is_terminal()) {
            for to in ItemState::ALL {
                let judged = matches!(from, Correct | Incorrect);
                let legal = to == Pending || (judged && to == Awaiting);
                assert_eq!(from.can_transition_to(to), legal, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn skipping_a_stage_is_an_error_not_a_panic() {
        let err = Pending.transition_to(Correct).unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal item transition from `pending` to `correct`"
        );
        assert!(Awaiting.transition_to(Running).is_err());
        assert!(Pending.transition_to(Awaiting).is_err());
    }

    #[test]
    fn names_round_trip() {
        for s in ItemState::ALL {
            assert_eq!(s.as_str().parse::<ItemState>(), Ok(s));
        }
        assert!("done".parse::<ItemState>().is_err());
    }
}
