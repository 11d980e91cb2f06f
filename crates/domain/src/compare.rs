//! Paired comparison of runs over the same dataset items: per run, its accuracy with a Wilson
//! interval; per run against the first (the baseline), the paired difference, McNemar's exact
//! test and the agreement; the same per category; and the items whose verdict flipped.
//!
//! Runs are paired on dataset item ids: only the items every run has are compared (runs of
//! different versions of one dataset share most of them). An item that failed, was canceled or
//! has no verdict yet counts as wrong for accuracy, and is counted apart.

use std::collections::{BTreeMap, HashMap};

use crate::{
    ItemState,
    stats::{Interval, PairedCounts, PairedDifference, wilson},
};

/// One item of one run, as a comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedItem {
    /// The dataset item's id: what items are paired on.
    pub item_id: String,
    /// Its category.
    pub category: String,
    /// Its position in its run.
    pub sequence: u32,
    /// Where it stands.
    pub state: ItemState,
    /// The answer extracted from its response (a letter, or a number), once judged.
    pub extracted: Option<String>,
    /// Whether the judged response gave no answer the rules could read.
    pub unparsed: bool,
    /// A digest of the dataset item's content (question, options, key), when the runs compared
    /// come from different dataset versions: an id whose content changed between them is not
    /// the same item. `None`: not read (one version), and then not checked.
    pub content: Option<u64>,
}

impl ComparedItem {
    fn correct(&self) -> bool {
        self.state == ItemState::Correct
    }
}

/// One run's figures over the compared items.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigures {
    /// Items compared.
    pub items: u64,
    /// Judged correct.
    pub correct: u64,
    /// Judged incorrect (unparsed answers included).
    pub incorrect: u64,
    /// Judged answers that named no letter.
    pub unparsed: u64,
    /// Failed or canceled: counted wrong.
    pub faulted: u64,
    /// Not judged yet (pending, running, awaiting): counted wrong.
    pub unanswered: u64,
    /// correct / items; `None` without items.
    pub accuracy: Option<f64>,
    /// Wilson 95 % interval of the accuracy.
    pub interval: Option<Interval>,
}

/// The figures of every run, and of every run after the first against the first.
#[derive(Debug, Clone, PartialEq)]
pub struct Breakdown {
    /// Per run, in the order given.
    pub runs: Vec<RunFigures>,
    /// Per run after the first: its paired difference with the first (`None` without items).
    pub against_baseline: Vec<Option<PairedDifference>>,
}

/// An item whose verdict is not the same in every run.
#[derive(Debug, Clone, PartialEq)]
pub struct FlippedItem {
    /// The dataset item's id.
    pub item_id: String,
    /// Its category.
    pub category: String,
    /// The item in each run, in the order given.
    pub runs: Vec<ComparedItem>,
}

/// A comparison of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Items every run has: the ones compared.
    pub compared: u64,
    /// Per run, its items that not every run has: left out (the changed ones included).
    pub left_out: Vec<u64>,
    /// Items every run has by id, whose content differs between runs (another dataset version
    /// changed their question, options or key): left out, since they are not the same item.
    pub changed: u64,
    /// Over all compared items.
    pub overall: Breakdown,
    /// Per category, by name.
    pub categories: Vec<(String, Breakdown)>,
    /// Compared items whose verdict differs between the baseline and another run, in the
    /// baseline's order.
    pub flipped: Vec<FlippedItem>,
}

/// Compares runs, each given as its items; the first is the baseline. Items are paired on
/// `item_id` (an id twice in one run keeps its first item), and, where their `content` is
/// given, on their content too: an id whose content differs is counted in `changed`.
pub fn compare_runs(runs: &[Vec<ComparedItem>]) -> Comparison {
    let indexed: Vec<HashMap<&str, &ComparedItem>> = runs
        .iter()
        .map(|items| {
            let mut index = HashMap::with_capacity(items.len());
            for item in items {
                index.entry(item.item_id.as_str()).or_insert(item);
            }
            index
        })
        .collect();
    // The items every run has, in the baseline's order.
    let mut rows: Vec<Vec<&ComparedItem>> = Vec::new();
    let mut changed = 0;
    if let Some((baseline, others)) = indexed.split_first() {
        let mut baseline_items: Vec<&ComparedItem> = baseline.values().copied().collect();
        baseline_items.sort_by_key(|item| item.sequence);
        for item in baseline_items {
            let row: Option<Vec<&ComparedItem>> = std::iter::once(Some(item))
                .chain(
                    others
                        .iter()
                        .map(|index| index.get(item.item_id.as_str()).copied()),
                )
                .collect();
            let same_content = |row: &[&ComparedItem]| {
                row.iter().all(|other| match (item.content, other.content) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                })
            };
            match row {
                Some(row) if same_content(&row) => rows.push(row),
                Some(_) => changed += 1,
                None => {}
            }
        }
    }
    let compared = rows.len() as u64;
    let left_out = indexed
        .iter()
        .map(|index| index.len() as u64 - compared)
        .collect();
    let overall = breakdown(runs.len(), rows.iter());
    let mut by_category: BTreeMap<&str, Vec<&Vec<&ComparedItem>>> = BTreeMap::new();
    for row in &rows {
        by_category
            .entry(row[0].category.as_str())
            .or_default()
            .push(row);
    }
    let categories = by_category
        .into_iter()
        .map(|(name, rows)| (name.to_owned(), breakdown(runs.len(), rows.into_iter())))
        .collect();
    let flipped = rows
        .iter()
        .filter(|row| {
            row[1..]
                .iter()
                .any(|item| item.correct() != row[0].correct())
        })
        .map(|row| FlippedItem {
            item_id: row[0].item_id.clone(),
            category: row[0].category.clone(),
            runs: row.iter().map(|item| (*item).clone()).collect(),
        })
        .collect();
    Comparison {
        compared,
        left_out,
        changed,
        overall,
        categories,
        flipped,
    }
}

fn breakdown<'a>(
    run_count: usize,
    rows: impl Iterator<Item = &'a Vec<&'a ComparedItem>>,
) -> Breakdown {
    let mut figures = vec![
        RunFigures {
            items: 0,
            correct: 0,
            incorrect: 0,
            unparsed: 0,
            faulted: 0,
            unanswered: 0,
            accuracy: None,
            interval: None,
        };
        run_count
    ];
    let mut pairs = vec![PairedCounts::default(); run_count.saturating_sub(1)];
    for row in rows {
        for (figure, item) in figures.iter_mut().zip(row) {
            figure.items += 1;
            match item.state {
                // Counted as the run's own `unparsed` is: every judged answer with no extracted
                // answer (an LLM judge may still find one right).
                ItemState::Correct => {
                    figure.correct += 1;
                    figure.unparsed += u64::from(item.unparsed);
                }
                ItemState::Incorrect => {
                    figure.incorrect += 1;
                    figure.unparsed += u64::from(item.unparsed);
                }
                ItemState::Failed | ItemState::Canceled => figure.faulted += 1,
                ItemState::Pending | ItemState::Running | ItemState::Awaiting => {
                    figure.unanswered += 1
                }
            }
        }
        let baseline = row[0].correct();
        for (pair, item) in pairs.iter_mut().zip(&row[1..]) {
            match (baseline, item.correct()) {
                (true, true) => pair.both += 1,
                (true, false) => pair.baseline_only += 1,
                (false, true) => pair.other_only += 1,
                (false, false) => pair.neither += 1,
            }
        }
    }
    for figure in &mut figures {
        figure.accuracy = (figure.items > 0).then(|| figure.correct as f64 / figure.items as f64);
        figure.interval = wilson(figure.correct, figure.items);
    }
    Breakdown {
        runs: figures,
        against_baseline: pairs.iter().map(PairedCounts::difference).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, category: &str, sequence: u32, state: ItemState) -> ComparedItem {
        ComparedItem {
            item_id: id.into(),
            category: category.into(),
            sequence,
            state,
            extracted: None,
            unparsed: false,
            content: None,
        }
    }

    /// Dataset versions that kept an id for another question: not paired, counted apart.
    #[test]
    fn an_id_whose_content_changed_is_not_the_same_item() {
        use ItemState::*;
        let with = |content, item: ComparedItem| ComparedItem {
            content: Some(content),
            ..item
        };
        let baseline = vec![
            with(1, item("q1", "law", 1, Correct)),
            with(2, item("q2", "law", 2, Correct)),
        ];
        let other = vec![
            with(1, item("q1", "law", 1, Incorrect)),
            // The same id, another question (or key).
            with(9, item("q2", "law", 2, Incorrect)),
        ];
        let comparison = compare_runs(&[baseline, other]);
        assert_eq!((comparison.compared, comparison.changed), (1, 1));
        assert_eq!(comparison.left_out, [1, 1]);
        assert_eq!(comparison.flipped.len(), 1);
        assert_eq!(comparison.flipped[0].item_id, "q1");
    }

    #[test]
    fn unparsed_answers_are_counted_whatever_their_verdict() {
        use ItemState::*;
        let unparsed = |id, state| ComparedItem {
            unparsed: true,
            ..item(id, "law", 1, state)
        };
        // An LLM judge found q1's unreadable answer right: still unparsed, as the run counts it.
        let run = vec![
            unparsed("q1", Correct),
            unparsed("q2", Incorrect),
            item("q3", "law", 3, Correct),
        ];
        let comparison = compare_runs(&[run.clone(), run]);
        let figures = &comparison.overall.runs[0];
        assert_eq!(
            (figures.correct, figures.incorrect, figures.unparsed),
            (2, 1, 2)
        );
    }

    #[test]
    fn runs_are_paired_on_common_items_with_faults_counted_wrong() {
        use ItemState::*;
        let baseline = vec![
            item("q1", "law", 1, Correct),
            item("q2", "law", 2, Correct),
            item("q3", "math", 3, Incorrect),
            item("q4", "math", 4, Failed),
            item("only-a", "math", 5, Correct),
        ];
        // Another version of the dataset: q4 kept, q5 new, `only-a` gone; another order.
        let other = vec![
            item("q5", "math", 1, Correct),
            item("q4", "math", 2, Correct),
            item("q3", "math", 3, Correct),
            item("q2", "law", 4, Running),
            item("q1", "law", 5, Correct),
        ];
        let comparison = compare_runs(&[baseline, other]);
        assert_eq!(comparison.compared, 4);
        assert_eq!(comparison.left_out, [1, 1]);
        let [a, b] = &comparison.overall.runs[..] else {
            panic!("two runs")
        };
        assert_eq!(
            (a.correct, a.incorrect, a.faulted, a.unanswered),
            (2, 1, 1, 0)
        );
        assert_eq!(
            (b.correct, b.incorrect, b.faulted, b.unanswered),
            (3, 0, 0, 1)
        );
        assert_eq!((a.accuracy, b.accuracy), (Some(0.5), Some(0.75)));
        let pair = comparison.overall.against_baseline[0].unwrap();
        assert_eq!(pair.items, 4);
        assert!((pair.difference - 0.25).abs() < 1e-12);
        assert!((pair.agreement - 0.25).abs() < 1e-12, "only q1 agrees");
        let names: Vec<&str> = comparison
            .categories
            .iter()
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(names, ["law", "math"]);
        let flipped: Vec<&str> = comparison
            .flipped
            .iter()
            .map(|f| f.item_id.as_str())
            .collect();
        assert_eq!(flipped, ["q2", "q3", "q4"], "in the baseline's order");
        assert_eq!(comparison.flipped[0].runs[1].sequence, 4);
    }

    #[test]
    fn nothing_in_common_is_an_empty_comparison() {
        let comparison = compare_runs(&[
            vec![item("a", "x", 1, ItemState::Correct)],
            vec![item("b", "x", 1, ItemState::Correct)],
        ]);
        assert_eq!(comparison.compared, 0);
        assert_eq!(comparison.overall.runs[0].accuracy, None);
        assert_eq!(comparison.overall.against_baseline, [None]);
        assert!(comparison.categories.is_empty());
    }
}
