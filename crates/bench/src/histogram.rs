//! Latencies, counted in buckets.

use std::sync::atomic::{AtomicU64, Ordering};

/// Latencies in 0.1 ms buckets up to 60 s; the last bucket holds anything later.
pub(crate) struct Histogram {
    buckets: Vec<AtomicU64>,
}

const BUCKET_MICROS: i64 = 100;

impl Histogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: (0..600_001).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub(crate) fn record(&self, micros: i64) {
        let index = (micros.max(0) / BUCKET_MICROS) as usize;
        let index = index.min(self.buckets.len() - 1);
        self.buckets[index].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The latency (ms) below which `quantile` of the samples fall.
    pub(crate) fn quantile_ms(&self, quantile: f64) -> f64 {
        let total = self.count();
        let wanted = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= wanted {
                return ((index as i64 + 1) * BUCKET_MICROS) as f64 / 1000.0;
            }
        }
        f64::NAN
    }
}
