//! Property tests: for any sequence of legal item transitions, the counters kept alongside the
//! items add up and equal a recount of the items' states.

use evalboard_domain::{ItemState, StateCounts};
use proptest::prelude::*;

fn state() -> impl Strategy<Value = ItemState> {
    prop::sample::select(ItemState::ALL.to_vec())
}

proptest! {
    #[test]
    fn counters_always_add_up(
        size in 1usize..40,
        moves in prop::collection::vec((any::<prop::sample::Index>(), state()), 0..400),
    ) {
        let mut items = vec![ItemState::Pending; size];
        let mut counts = StateCounts::from_states(items.iter().copied());
        for (index, next) in moves {
            let i = index.index(size);
            let current = items[i];
            match current.transition_to(next) {
                Ok(next) => {
                    items[i] = next;
                    counts = counts.moved(current, next, 1).expect("the source state holds the item");
                }
                Err(_) => prop_assert!(!current.can_transition_to(next)),
            }
            let progress = counts.progress();
            prop_assert_eq!(counts, StateCounts::from_states(items.iter().copied()));
            prop_assert_eq!(progress.total, size as u64);
            prop_assert_eq!(progress.completed + progress.awaiting + progress.pending, progress.total);
            prop_assert_eq!(progress.correct + progress.incorrect + progress.faulted, progress.completed);
            prop_assert_eq!(
                progress.completed,
                items.iter().filter(|s| s.is_terminal()).count() as u64
            );
            prop_assert_eq!(
                progress.faulted,
                items.iter().filter(|s| s.is_faulted()).count() as u64
            );
        }
    }
}
