//! The statistics of a run comparison, at 95 %: the Wilson score interval of an accuracy, the
//! paired difference of two accuracies on the same items with Newcombe's hybrid score interval,
//! and McNemar's exact test. Formulas and references: `docs/analysis.md`.

/// z of a two-sided 95 % interval: the 0.975 quantile of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The Wilson score interval of `k` successes in `n` trials; `None` when `n` is 0.
pub fn wilson(k: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z_95 * Z_95;
    let center = p + z2 / (2.0 * n);
    let spread = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let scale = 1.0 + z2 / n;
    // At 0 or n successes the bound on that side is exactly the estimate; computed, it misses
    // it by a rounding error (1.2e-17 for 0 of 25), leaving the estimate outside its interval.
    Some(Interval {
        low: if k == 0.0 {
            0.0
        } else {
            ((center - spread) / scale).max(0.0)
        },
        high: if k == n {
            1.0
        } else {
            ((center + spread) / scale).min(1.0)
        },
    })
}

/// Two runs' outcomes on the same items: how many both got right, only the baseline, only the
/// other run, neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairedCounts {
    /// Right in both runs.
    pub both: u64,
    /// Right in the baseline only (McNemar's b).
    pub baseline_only: u64,
    /// Right in the other run only (McNemar's c).
    pub other_only: u64,
    /// Wrong in both.
    pub neither: u64,
}

/// What a paired comparison says about the other run against the baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDifference {
    /// The counts it was computed from.
    pub counts: PairedCounts,
    /// Items compared.
    pub items: u64,
    /// The other run's accuracy minus the baseline's.
    pub difference: f64,
    /// Newcombe's hybrid score interval of the difference.
    pub interval: Interval,
    /// Exact McNemar p-value (two-sided binomial test on the discordant items).
    pub p_value: f64,
    /// Share of items with the same verdict in both runs.
    pub agreement: f64,
}

impl PairedCounts {
    /// Items counted.
    pub fn items(&self) -> u64 {
        self.both + self.baseline_only + self.other_only + self.neither
    }

    /// The comparison's figures; `None` without items.
    pub fn difference(&self) -> Option<PairedDifference> {
        let n = self.items();
        if n == 0 {
            return None;
        }
        let (a, b, c, d) = (
            self.both as f64,
            self.baseline_only as f64,
            self.other_only as f64,
            self.neither as f64,
        );
        let nf = n as f64;
        let (p1, p2) = ((a + b) / nf, (a + c) / nf);
        let first = wilson(self.both + self.baseline_only, n)?;
        let second = wilson(self.both + self.other_only, n)?;
        let denominator = ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
        // The correlation of the two runs' outcomes (0 when a margin is empty).
        let phi = if denominator > 0.0 {
            (a * d - b * c) / denominator
        } else {
            0.0
        };
        let difference = p2 - p1;
        let below = |x: f64, y: f64| (x * x - 2.0 * phi * x * y + y * y).max(0.0).sqrt();
        // A difference of accuracies lies in [-1, 1]; rounding must not take a bound past it.
        let interval = Interval {
            low: (difference - below(p2 - second.low, first.high - p1)).max(-1.0),
            high: (difference + below(second.high - p2, p1 - first.low)).min(1.0),
        };
        Some(PairedDifference {
            counts: *self,
            items: n,
            difference,
            interval,
            p_value: mcnemar_exact(self.baseline_only, self.other_only),
            agreement: (a + d) / nf,
        })
    }
}

/// McNemar's exact test: the two-sided binomial test of `b` successes in `b + c` trials with
/// probability ½, `min(1, 2 · P(X ≤ min(b, c)))`; 1 when there is no discordant item.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // 2 · P(X ≤ k) summed in log space: 2^-n underflows long before n reaches a dataset's
    // size. The factor 2 goes in first (2 · 2^-n = 2^-(n-1)), so that a p-value a double can
    // hold is not lost by underflowing before it is doubled (b = 0, c = 1075: 2^-1074).
    let ln_half_n = -((n - 1) as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0; // ln C(n, 0)
    let mut terms = Vec::with_capacity(k as usize + 1);
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        terms.push(ln_choose + ln_half_n);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let two_tails = max.exp() * terms.iter().map(|t| (t - max).exp()).sum::<f64>();
    two_tails.min(1.0)
}
