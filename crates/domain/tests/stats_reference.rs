//! The comparison statistics against reference values from an independent implementation:
//! `stats/reference.json`, written by `stats/reference.py` (Wilson intervals from statsmodels'
//! `proportion_confint(method="wilson")`, exact McNemar p-values from statsmodels' `mcnemar(exact=
//! True)` and scipy's `binomtest`, Newcombe's hybrid score interval written from the papers by
//! someone who had not seen this code). Regenerate with `python3 crates/domain/tests/stats/
//! reference.py` after `pip install scipy statsmodels`.

use evalboard_domain::stats::{PairedCounts, mcnemar_exact, wilson};
use serde_json::Value;

const REFERENCE: &str = include_str!("stats/reference.json");

/// Last-digit differences between two correct implementations are expected.
const TOLERANCE: f64 = 1e-12;

fn reference() -> Value {
    serde_json::from_str(REFERENCE).unwrap()
}

fn int(case: &Value, field: &str) -> u64 {
    case[field].as_u64().unwrap()
}

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() < TOLERANCE,
        "{what}: {got} vs reference {want}"
    );
}

#[test]
fn wilson_intervals_match_statsmodels() {
    let cases = reference()["wilson"].as_array().unwrap().clone();
    assert!(cases.len() >= 9);
    for case in &cases {
        let (k, n) = (int(case, "k"), int(case, "n"));
        let interval = wilson(k, n).unwrap();
        close(interval.low, &case["low"], &format!("wilson({k}, {n}).low"));
        close(
            interval.high,
            &case["high"],
            &format!("wilson({k}, {n}).high"),
        );
    }
    assert_eq!(wilson(0, 0), None);
}

#[test]
fn mcnemar_p_values_match_statsmodels_and_scipy() {
    for case in reference()["mcnemar"].as_array().unwrap() {
        let (b, c) = (int(case, "b"), int(case, "c"));
        close(
            mcnemar_exact(b, c),
            &case["p"],
            &format!("mcnemar({b}, {c})"),
        );
    }
    assert_eq!(mcnemar_exact(0, 0), 1.0, "no discordant item");
    // At the bottom of a double's range: 2 · 2^-1075 = 2^-1074, the smallest double, is
    // representable and kept (it used to underflow before the doubling); 2^-1075 is not.
    assert_eq!(mcnemar_exact(0, 1075), f64::from_bits(1));
    assert_eq!(mcnemar_exact(1075, 0), f64::from_bits(1));
    assert_eq!(mcnemar_exact(0, 1076), 0.0);
    assert_eq!(mcnemar_exact(0, 1), 1.0);
}

#[test]
fn paired_differences_match_newcombes_interval() {
    for case in reference()["paired"].as_array().unwrap() {
        let counts = PairedCounts {
            both: int(case, "a"),
            baseline_only: int(case, "b"),
            other_only: int(case, "c"),
            neither: int(case, "d"),
        };
        let what = format!("{counts:?}");
        let paired = counts.difference().unwrap();
        close(paired.difference, &case["difference"], &what);
        close(paired.interval.low, &case["low"], &format!("{what} low"));
        close(paired.interval.high, &case["high"], &format!("{what} high"));
        close(
            paired.agreement,
            &case["agreement"],
            &format!("{what} agreement"),
        );
        assert!(
            -1.0 <= paired.interval.low && paired.interval.high <= 1.0,
            "{what}"
        );
        assert!(
            paired.interval.low <= paired.difference && paired.difference <= paired.interval.high
        );
    }
    assert_eq!(PairedCounts::default().difference(), None, "no items");
}

/// At 0 or n successes an interval reaches exactly the estimate, never past it by a rounding
/// error; a difference's interval never leaves [-1, 1]. Every count up to 200 items.
#[test]
fn intervals_hold_their_estimates_at_the_extremes() {
    for n in 1..=200 {
        let none = wilson(0, n).unwrap();
        let all = wilson(n, n).unwrap();
        assert_eq!(none.low, 0.0, "0 of {n}");
        assert_eq!(all.high, 1.0, "{n} of {n}");
        assert!(none.high <= 1.0 && all.low >= 0.0);
        for (baseline_only, other_only) in [(n, 0), (0, n)] {
            let paired = PairedCounts {
                baseline_only,
                other_only,
                ..Default::default()
            }
            .difference()
            .unwrap();
            assert!(
                -1.0 <= paired.interval.low && paired.interval.high <= 1.0,
                "all wrong against all right, {n} items: {:?}",
                paired.interval
            );
            assert!(
                paired.interval.low <= paired.difference
                    && paired.difference <= paired.interval.high
            );
        }
    }
}
