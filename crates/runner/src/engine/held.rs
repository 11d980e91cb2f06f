//! The claims an engine holds and its renewer keeps alive: by run, each item with how many of
//! its claims are held. An item is usually claimed once; a retry or re-judging can claim it
//! again while what its previous claim reported still waits in the writer, whose word that it
//! is settled (`WriterMessage::Settled`) must then let go of that claim only, not the new one.

use std::collections::{BTreeMap, HashMap};

use evalboard_domain::RunId;

/// Claims held here, by run and item.
#[derive(Debug, Default)]
pub(crate) struct HeldClaims {
    runs: HashMap<RunId, BTreeMap<u32, u32>>,
}

impl HeldClaims {
    /// Holds a claim on each of `sequences` of `run`.
    pub(crate) fn hold(&mut self, run: &RunId, sequences: impl IntoIterator<Item = u32>) {
        let items = self.runs.entry(run.clone()).or_default();
        for sequence in sequences {
            *items.entry(sequence).or_default() += 1;
        }
    }

    /// Lets go of one claim on `sequence` of `run` (the item is still held if claimed again).
    pub(crate) fn let_go(&mut self, run: &RunId, sequence: u32) {
        let Some(items) = self.runs.get_mut(run) else {
            return;
        };
        if let Some(held) = items.get_mut(&sequence) {
            *held -= 1;
            if *held == 0 {
                items.remove(&sequence);
            }
        }
        if items.is_empty() {
            self.runs.remove(run);
        }
    }

    /// Every item held, by run, in run id and sequence order (the order the writer locks them).
    pub(crate) fn items(&self) -> Vec<(RunId, Vec<u32>)> {
        let mut items: Vec<(RunId, Vec<u32>)> = self
            .runs
            .iter()
            .map(|(run, items)| (run.clone(), items.keys().copied().collect()))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_word_on_a_settled_claim_keeps_the_items_new_claim() {
        let run = RunId::generate();
        let mut held = HeldClaims::default();
        held.hold(&run, [1, 2]);
        // Item 1 is retried and claimed again before its first claim is said settled.
        held.hold(&run, [1]);
        held.let_go(&run, 1);
        held.let_go(&run, 2);
        assert_eq!(held.items(), [(run.clone(), vec![1])]);
        held.let_go(&run, 1);
        assert!(held.items().is_empty());
        // Letting go of what is not held changes nothing.
        held.let_go(&run, 7);
        assert!(held.items().is_empty());
    }
}
