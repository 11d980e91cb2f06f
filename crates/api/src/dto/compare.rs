//! `GET /runs/compare`: runs compared item by item against a baseline.

use evalboard_domain::{
    compare::{Breakdown, ComparedItem, RunFigures},
    stats::{Interval, PairedDifference},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{DatasetRefDto, FingerprintDto, LatencyDto, RunDto, RunUsageDto};

/// A 95 % confidence interval.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct IntervalDto {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl From<Interval> for IntervalDto {
    fn from(i: Interval) -> Self {
        Self {
            low: i.low,
            high: i.high,
        }
    }
}

/// One run's figures over the compared items. Failed, canceled and not yet judged items count as
/// wrong for `accuracy` and are counted apart.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunFiguresDto {
    /// Items compared.
    pub items: u64,
    /// Judged correct.
    pub correct: u64,
    /// Judged incorrect, unparsed answers included.
    pub incorrect: u64,
    /// Judged answers the rules could read no answer from (no letter, or no number).
    pub unparsed: u64,
    /// Failed or canceled.
    pub faulted: u64,
    /// Not judged yet.
    pub unanswered: u64,
    /// correct / items; `null` without items.
    #[schema(required = true)]
    pub accuracy: Option<f64>,
    /// Wilson 95 % interval of `accuracy`.
    #[schema(required = true)]
    pub accuracy_interval: Option<IntervalDto>,
}

impl From<&RunFigures> for RunFiguresDto {
    fn from(f: &RunFigures) -> Self {
        Self {
            items: f.items,
            correct: f.correct,
            incorrect: f.incorrect,
            unparsed: f.unparsed,
            faulted: f.faulted,
            unanswered: f.unanswered,
            accuracy: f.accuracy,
            accuracy_interval: f.interval.map(Into::into),
        }
    }
}

/// A run against the baseline, on the compared items.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PairedDto {
    /// The run compared with the baseline.
    pub run_id: String,
    /// Items compared.
    pub items: u64,
    /// Its accuracy minus the baseline's; `null` without items.
    #[schema(required = true)]
    pub accuracy_difference: Option<f64>,
    /// Newcombe's hybrid score 95 % interval of the difference.
    #[schema(required = true)]
    pub difference_interval: Option<IntervalDto>,
    /// Items right in the baseline only (McNemar's b).
    pub baseline_only: u64,
    /// Items right in this run only (McNemar's c).
    pub other_only: u64,
    /// Exact McNemar p-value: the two-sided binomial test of b in b + c with p = ½; 1 when
    /// b + c = 0; `null` without items.
    #[schema(required = true)]
    pub mcnemar_p_value: Option<f64>,
    /// Share of items with the same verdict in both runs.
    #[schema(required = true)]
    pub agreement: Option<f64>,
}

impl PairedDto {
    fn new(run_id: &str, paired: Option<&PairedDifference>) -> Self {
        Self {
            run_id: run_id.to_owned(),
            items: paired.map_or(0, |p| p.items),
            accuracy_difference: paired.map(|p| p.difference),
            difference_interval: paired.map(|p| p.interval.into()),
            baseline_only: paired.map_or(0, |p| p.counts.baseline_only),
            other_only: paired.map_or(0, |p| p.counts.other_only),
            mcnemar_p_value: paired.map(|p| p.p_value),
            agreement: paired.map(|p| p.agreement),
        }
    }
}

/// Every run's figures, and every run after the baseline against it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BreakdownDto {
    /// Per run, in the order of `runIds`.
    pub runs: Vec<RunFiguresDto>,
    /// Per run after the baseline, in the order of `runIds`.
    pub comparisons: Vec<PairedDto>,
}

impl BreakdownDto {
    /// `run_ids` in the comparison's order, the baseline first.
    pub(crate) fn new(breakdown: &Breakdown, run_ids: &[String]) -> Self {
        Self {
            runs: breakdown.runs.iter().map(Into::into).collect(),
            comparisons: breakdown
                .against_baseline
                .iter()
                .zip(&run_ids[1..])
                .map(|(paired, id)| PairedDto::new(id, paired.as_ref()))
                .collect(),
        }
    }
}

/// The figures of one category.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryComparisonDto {
    /// The category.
    pub category: String,
    /// Its figures.
    #[serde(flatten)]
    pub breakdown: BreakdownDto,
}

/// A compared run: which one, which dataset version, and how many of its items were left out.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedRunDto {
    /// The run.
    pub run: RunDto,
    /// The dataset version its items come from.
    pub dataset: DatasetRefDto,
    /// Its items that not every compared run has (another dataset version, another selection),
    /// and those another version changed under the same id (question, options or key).
    pub left_out: u64,
    /// What it spent (all its items, not only the compared ones).
    pub usage: RunUsageDto,
    /// How fast its items were answered (all its items; as of now while it is active).
    pub latency: LatencyDto,
    /// The judge of its current verdicts.
    pub judge: String,
    /// Of its verdicts, those its LLM judge did not give (the extraction rules did): as the
    /// run's own `judgeFallbacks`, over all its items.
    pub judge_fallbacks: u64,
    /// Its reproducibility fingerprint; `null` for runs made before fingerprints were recorded.
    #[schema(required = true)]
    pub fingerprint: Option<FingerprintDto>,
    /// Fingerprint fields in which it differs from the baseline's (`model`, `generation`,
    /// `judge`, ...); empty for the baseline, and when either has no fingerprint.
    pub differs_from_baseline: Vec<String>,
}

/// One run's outcome on a flipped item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlippedOutcomeDto {
    /// The run.
    pub run_id: String,
    /// The item's sequence in that run (for `GET /runs/{run_id}/items`).
    pub sequence: u32,
    /// Its state there.
    pub state: String,
    /// Whether it counts as right.
    pub correct: bool,
    /// The answer extracted from that run's response (a letter, or a number), once judged.
    #[schema(required = true)]
    pub extracted_answer: Option<String>,
}

/// An item whose verdict is not the same in every run.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlippedItemDto {
    /// The dataset item's id.
    pub dataset_item_id: String,
    /// Its category.
    pub category: String,
    /// Per run, in the order of `runIds`.
    pub outcomes: Vec<FlippedOutcomeDto>,
}

impl FlippedItemDto {
    pub(crate) fn new(
        item_id: &str,
        category: &str,
        runs: &[ComparedItem],
        run_ids: &[String],
    ) -> Self {
        Self {
            dataset_item_id: item_id.to_owned(),
            category: category.to_owned(),
            outcomes: runs
                .iter()
                .zip(run_ids)
                .map(|(item, run_id)| FlippedOutcomeDto {
                    run_id: run_id.clone(),
                    sequence: item.sequence,
                    state: item.state.as_str().to_owned(),
                    correct: item.state == evalboard_domain::ItemState::Correct,
                    extracted_answer: item.extracted.clone(),
                })
                .collect(),
        }
    }
}

/// A page of flipped items.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlippedPageDto {
    /// Flipped items in all.
    pub total: u64,
    /// Of those, the ones the filters (`baseline`, `category`) keep: `total` without filters.
    pub matching: u64,
    /// This page, in the baseline's order.
    pub items: Vec<FlippedItemDto>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// `GET /runs/compare`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonDto {
    /// The baseline: the first of `runIds`.
    pub baseline_run_id: String,
    /// Items every run has, with the same content where the runs' dataset versions differ: the
    /// items compared.
    pub compared: u64,
    /// The runs, in the order of `runIds`.
    pub runs: Vec<ComparedRunDto>,
    /// Over all compared items.
    pub overall: BreakdownDto,
    /// Per category (the baseline's), by name.
    pub categories: Vec<CategoryComparisonDto>,
    /// Items whose verdict differs between the baseline and another run.
    pub flipped: FlippedPageDto,
    /// What makes the comparison less than a comparison of models, for people: runs whose
    /// fingerprints differ from the baseline's in more than the model, or that have none.
    pub warnings: Vec<String>,
}
