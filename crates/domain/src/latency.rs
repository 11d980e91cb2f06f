//! A run's latencies kept as histograms, so that an active run's percentiles are read without
//! reading its items.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::LatencySummary;

/// Significant decimal digits each histogram keeps: a percentile read from it is within 1 % of
/// the exact one (the value it reports is the top of the bucket the exact one falls in).
const SIGNIFICANT_DIGITS: u8 = 2;

/// Time to first token and to the whole answer of a run's answered items, in microseconds,
/// as histograms. [`LatencySummary::from_samples`] over the same samples gives the exact
/// figures; [`LatencyHistogram::summary`] gives them within 1 %.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Recorded", into = "Recorded")]
pub struct LatencyHistogram {
    ttft: Histogram<u64>,
    total: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            ttft: empty(),
            total: empty(),
        }
    }
}

fn empty() -> Histogram<u64> {
    // Resizes itself to any value; two significant digits are always valid.
    Histogram::new(SIGNIFICANT_DIGITS).expect("2 significant digits are valid")
}

impl LatencyHistogram {
    /// Records one answered item: its time to the first token (when it streamed one) and to the
    /// whole answer. A negative time (clocks that moved back) counts as zero.
    pub fn record(&mut self, ttft_us: Option<i64>, total_us: Option<i64>) {
        let record = |histogram: &mut Histogram<u64>, us: i64| {
            grow_and_record(histogram, us.max(0) as u64, 1)
        };
        if let Some(us) = ttft_us {
            record(&mut self.ttft, us);
        }
        if let Some(us) = total_us {
            record(&mut self.total, us);
        }
    }

    /// The median and 95th percentile of each, by the nearest-rank method within 1 %; `None`
    /// without samples.
    pub fn summary(&self) -> LatencySummary {
        let at = |histogram: &Histogram<u64>, percent: f64| {
            (!histogram.is_empty())
                .then(|| histogram.value_at_percentile(percent).min(i64::MAX as u64) as i64)
        };
        LatencySummary {
            ttft_p50_us: at(&self.ttft, 50.0),
            ttft_p95_us: at(&self.ttft, 95.0),
            total_p50_us: at(&self.total, 50.0),
            total_p95_us: at(&self.total, 95.0),
        }
    }
}

/// Records `count` times `value`, the histogram growing to hold it (`saturating_record` would
/// clamp it to the current top instead). Growing fails only where `usize` is too small to
/// count every bucket of a `u64`; the value is then clamped.
fn grow_and_record(histogram: &mut Histogram<u64>, value: u64, count: u64) {
    if histogram.record_n(value, count).is_err() {
        histogram.saturating_record_n(value, count);
    }
}

/// How a histogram is stored: each non-empty bucket as `[value, count]` (the value the
/// bucket's top), so that recording them again rebuilds the same histogram.
#[derive(Serialize, Deserialize)]
struct Recorded {
    ttft: Vec<(u64, u64)>,
    total: Vec<(u64, u64)>,
}

impl From<LatencyHistogram> for Recorded {
    fn from(histogram: LatencyHistogram) -> Self {
        let buckets = |h: &Histogram<u64>| {
            h.iter_recorded()
                .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
                .collect()
        };
        Self {
            ttft: buckets(&histogram.ttft),
            total: buckets(&histogram.total),
        }
    }
}

impl From<Recorded> for LatencyHistogram {
    fn from(recorded: Recorded) -> Self {
        let rebuild = |buckets: Vec<(u64, u64)>| {
            let mut histogram = empty();
            for (value, count) in buckets {
                grow_and_record(&mut histogram, value, count);
            }
            histogram
        };
        Self {
            ttft: rebuild(recorded.ttft),
            total: rebuild(recorded.total),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Samples spread like real latencies: 40 ms to a few seconds, unevenly.
    fn samples() -> Vec<(i64, i64)> {
        (0..5_000i64)
            .map(|i| {
                let ttft = 40_000 + (i * 7_919) % 900_000;
                (ttft, ttft + 5_000 + (i * 104_729) % 3_000_000)
            })
            .collect()
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_ones() {
        let mut histogram = LatencyHistogram::default();
        for (ttft, total) in samples() {
            histogram.record(Some(ttft), Some(total));
        }
        let exact = LatencySummary::from_samples(
            samples().iter().map(|s| s.0).collect(),
            samples().iter().map(|s| s.1).collect(),
        );
        let kept = histogram.summary();
        for (kept, exact) in [
            (kept.ttft_p50_us, exact.ttft_p50_us),
            (kept.ttft_p95_us, exact.ttft_p95_us),
            (kept.total_p50_us, exact.total_p50_us),
            (kept.total_p95_us, exact.total_p95_us),
        ] {
            let (kept, exact) = (kept.unwrap() as f64, exact.unwrap() as f64);
            assert!(
                (kept - exact).abs() <= exact / 100.0,
                "{kept} is not within 1 % of {exact}"
            );
        }
    }

    #[test]
    fn a_stored_histogram_reads_back_the_same() {
        let mut histogram = LatencyHistogram::default();
        for (ttft, total) in samples() {
            histogram.record(Some(ttft), Some(total));
        }
        histogram.record(None, Some(-5));
        let stored = serde_json::to_string(&histogram).unwrap();
        let read: LatencyHistogram = serde_json::from_str(&stored).unwrap();
        assert_eq!(read.summary(), histogram.summary());
        assert_eq!(read.total.len(), 5_001);
        assert_eq!(read.total.min(), 0);
        // Two significant digits keep a few hundred buckets, not one per sample.
        assert!(stored.len() < 16_000, "{} bytes", stored.len());
    }

    #[test]
    fn percentiles_of_what_was_recorded_and_none_without_samples() {
        let empty = LatencyHistogram::default();
        assert_eq!(empty.summary(), LatencySummary::default());
        let mut first = LatencyHistogram::default();
        first.record(Some(10), Some(1_000));
        first.record(None, Some(3_000));
        first.record(None, Some(3_000));
        // The median is the second of 1,000, 3,000, 3,000: the top of 3,000's bucket.
        let median = first.summary().total_p50_us.unwrap();
        assert!((3_000..=3_030).contains(&median), "{median}");
        assert_eq!(first.summary().ttft_p95_us, Some(10));
    }
}
