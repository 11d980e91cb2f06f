#!/usr/bin/env python3
"""Reference values for evalboard's run comparison statistics.

This script is an independent Python reference (written without looking at
the Rust implementation) for the three statistics evalboard uses to compare
two evaluation runs item by item. Its output, ``reference.json`` next to this
file, is checked by a Rust test in ``crates/domain/tests``.

Statistics (all at the 95 % level, z = scipy.stats.norm.ppf(0.975)):

* Wilson score interval for k successes out of n (n >= 1).
* Exact (two-sided, binomial) McNemar p-value from the discordant counts.
* Paired difference of proportions D = p2 - p1 with Newcombe's hybrid score
  interval ("method 10", no continuity correction), plus the agreement rate.

Regenerate (from the repository root)::

    pip install scipy statsmodels
    python3 crates/domain/tests/stats/reference.py

The script writes ``crates/domain/tests/stats/reference.json`` (path resolved
relative to this file) and prints it.

References:

* E. B. Wilson (1927). Probable inference, the law of succession, and
  statistical inference. JASA 22:209-212.
* Q. McNemar (1947). Note on the sampling error of the difference between
  correlated proportions or percentages. Psychometrika 12:153-157.
* R. G. Newcombe (1998). Improved confidence intervals for the difference
  between binomial proportions based on paired data. Statistics in Medicine
  17:2635-2650 (method 10).
* M. W. Fagerland, S. Lydersen, P. Laake (2014). Recommended tests and
  confidence intervals for paired binomial proportions. Statistics in
  Medicine 33:2850-2875 (the "Newcombe hybrid score" interval, and the exact
  conditional McNemar test).
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

Z = float(stats.norm.ppf(0.975))
TOL = 1e-12

WILSON_CASES = [
    (0, 1), (1, 1), (0, 10), (10, 10), (7, 10), (1, 2), (3, 7),
    (5000, 12032), (11999, 12032),
]

MCNEMAR_CASES = [
    (5, 0, 0, 5), (0, 0, 1, 0), (0, 1, 0, 0), (10, 3, 7, 0), (0, 10, 10, 0),
    (100, 25, 40, 35), (0, 0, 30, 0), (5000, 200, 260, 6572),
    (5000, 1000, 1100, 4932),
]

PAIRED_CASES = [
    (0, 0, 0, 1), (1, 0, 0, 0), (5, 0, 0, 5), (10, 0, 0, 0), (0, 0, 0, 10),
    (40, 5, 10, 45), (12, 3, 1, 4), (6000, 1100, 1000, 3932), (0, 10, 0, 0),
    (0, 0, 10, 0), (0, 1, 0, 0),
]


# --------------------------------------------------------------------------
# Wilson score interval
# --------------------------------------------------------------------------

def wilson_formula(k: int, n: int) -> tuple[float, float]:
    """Textbook Wilson interval, not clipped to [0, 1].

    (p + z^2/2n -/+ z*sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    p = k / n
    z2 = Z * Z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = Z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    return centre - half, centre + half


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson interval via statsmodels, cross-checked against the formula.

    Note: statsmodels clips the Wilson bounds to [0, 1]. Mathematically the
    Wilson interval always lies in [0, 1], so the clip only removes floating
    point rounding (e.g. a lower bound of -1e-17 at k = 0); both versions
    agree to TOL.
    """
    low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
    low, high = float(low), float(high)
    f_low, f_high = wilson_formula(k, n)
    assert abs(low - f_low) <= TOL, (k, n, low, f_low)
    assert abs(high - f_high) <= TOL, (k, n, high, f_high)
    return low, high


# --------------------------------------------------------------------------
# Exact McNemar test
# --------------------------------------------------------------------------

def mcnemar_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided exact McNemar p-value: min(1, 2 P(X <= min(b, c))),
    X ~ Binomial(b + c, 1/2); 1.0 when b + c == 0.

    Cross-check: scipy.stats.binomtest uses the "minlike" two-sided rule
    (sum of P(X = i) over all i with P(X = i) <= P(X = min(b, c))). For
    p = 1/2 the binomial distribution is symmetric, so that equals the
    doubled tail, except when b == c where the doubled tail exceeds 1 and
    both are 1. So the two methods agree; differences are rounding only.
    """
    p_sm = float(sm_mcnemar([[a, b], [c, d]], exact=True).pvalue)
    if b + c == 0:
        # statsmodels gives 2*cdf(0; 0, .5) = 2 -> min(.., 1) = 1.
        assert p_sm == 1.0, (a, b, c, d, p_sm)
        return 1.0
    p_sp = float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)
    assert abs(p_sm - p_sp) <= TOL, (a, b, c, d, p_sm, p_sp)
    # Also the direct definition.
    p_def = min(1.0, 2.0 * float(stats.binom.cdf(min(b, c), b + c, 0.5)))
    assert abs(p_sm - p_def) <= TOL, (a, b, c, d, p_sm, p_def)
    return p_sm


# --------------------------------------------------------------------------
# Paired difference with Newcombe's hybrid score interval
# --------------------------------------------------------------------------

def paired_difference(a: int, b: int, c: int, d: int) -> dict:
    """Paired difference D = p2 - p1 with Newcombe's method 10 interval.

    Table (baseline = run 1, other = run 2):
        a = both correct, b = baseline correct & other incorrect,
        c = baseline incorrect & other correct, d = both incorrect.
    p1 = (a + b)/n, p2 = (a + c)/n, D = p2 - p1 = (c - b)/n.

    Newcombe (1998, Stat Med 17:2635-2650, method 10; also Fagerland,
    Lydersen & Laake 2014, Stat Med 33:2850-2875, "Newcombe hybrid score")
    give, for theta = p1 - p2 with Wilson intervals (l1, u1), (l2, u2):

        L_theta = theta - delta,  U_theta = theta + eps,
        delta = sqrt((p1 - l1)^2 - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)^2)
        eps   = sqrt((u1 - p1)^2 - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)^2)

    with phi = (a d - b c) / sqrt((a+b)(c+d)(a+c)(b+d)), set to 0 when the
    denominator is 0 (no continuity correction, so no adjustment of phi).

    Here we report D = p2 - p1 = -theta, so the interval is
    (-U_theta, -L_theta):

        lower = D - eps   = D - sqrt((p2 - l2)^2 - 2 phi (p2 - l2)(u1 - p1)
                                     + (u1 - p1)^2)
        upper = D + delta = D + sqrt((u2 - p2)^2 - 2 phi (u2 - p2)(p1 - l1)
                                     + (p1 - l1)^2)

    Equivalently: the same formula with the roles of the two runs swapped
    (p1 <-> p2, which swaps b <-> c and leaves phi unchanged). No clipping
    to [-1, 1] is applied.
    """
    n = a + b + c + d
    if n < 1:
        raise ValueError("n must be >= 1")
    p1 = (a + b) / n
    p2 = (a + c) / n
    diff = (c - b) / n
    assert abs(diff - (p2 - p1)) <= TOL
    l1, u1 = wilson(a + b, n)
    l2, u2 = wilson(a + c, n)
    den = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0 if den == 0 else (a * d - b * c) / math.sqrt(den)

    x = p2 - l2
    y = u1 - p1
    lower = diff - math.sqrt(x * x - 2.0 * phi * x * y + y * y)
    x = u2 - p2
    y = p1 - l1
    upper = diff + math.sqrt(x * x - 2.0 * phi * x * y + y * y)

    # Sign-convention check: the interval for theta = p1 - p2 computed with
    # Newcombe's formula as written must be the mirror image of ours.
    theta = p1 - p2
    delta = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2)
                      + (u2 - p2) ** 2)
    eps = math.sqrt((u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2)
                    + (p2 - l2) ** 2)
    assert abs(lower - -(theta + eps)) <= TOL
    assert abs(upper - -(theta - delta)) <= TOL

    return {
        "a": a, "b": b, "c": c, "d": d,
        "difference": diff,
        "low": lower,
        "high": upper,
        "agreement": (a + d) / n,
    }


def main() -> None:
    out = {
        "generator": "crates/domain/tests/stats/reference.py",
        "python": platform.python_version(),
        "scipy": scipy.__version__,
        "statsmodels": statsmodels.__version__,
        "z": Z,
        "wilson": [],
        "mcnemar": [],
        "paired": [],
    }
    for k, n in WILSON_CASES:
        low, high = wilson(k, n)
        out["wilson"].append({"k": k, "n": n, "low": low, "high": high})
    for a, b, c, d in MCNEMAR_CASES:
        out["mcnemar"].append(
            {"a": a, "b": b, "c": c, "d": d, "p": mcnemar_exact(a, b, c, d)})
    for a, b, c, d in PAIRED_CASES:
        out["paired"].append(paired_difference(a, b, c, d))

    text = json.dumps(out, indent=2) + "\n"
    path = Path(__file__).resolve().with_name("reference.json")
    path.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
