"""The loop's keep rule, with the standard library only (no scipy in expkit's own environment).

The test: a one-sided two-sample t-test of "the trial is better than the current best" at level alpha, whose
standard error uses the seed-to-seed standard deviation pooled over every finished run group of the loop (the
baseline and each trial, K seeds each; df = sum of K_i - 1). Seed noise is a property of the training setup, so
pooling it gives the test many degrees of freedom after a few trials: with K = 3 seeds the per-pair Welch test
has ~57% power at a 2-sigma improvement, the pooled test ~79% (benchmarks/bench_loop.py).
A change is kept only when the improvement is >= min_delta AND p < alpha.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def sd(xs: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with df degrees of freedom."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2.0))
    if t * t < df:  # P(|T| > t) = 1 - I_y(1/2, df/2) with y = t^2/(df + t^2): no cancellation near t = 0
        tail = 0.5 * (1.0 - betainc(0.5, df / 2.0, t * t / (df + t * t)))
    else:
        tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


def format_p(p: float | None, digits: int = 3) -> str:
    """A p-value for people: one that underflows to 0 (no seed-to-seed spread at all) reads "< 1e-16", not 0."""
    if p is None:
        return "-"
    return "< 1e-16" if p < 1e-16 else f"{p:.{digits}g}"


def t_ppf(q: float, df: float) -> float:
    """The q-quantile of Student's t (bisection on t_sf: exact to ~1e-10, fast enough for one call per trial)."""
    if not 0.0 < q < 1.0:
        raise ValueError("q must be in (0, 1)")
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if 1.0 - t_sf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def pooled_sd(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """(sd, df): the within-group standard deviation pooled over groups of any sizes; groups of 1 add nothing."""
    ss = sum(sum((x - mean(g)) ** 2 for x in g) for g in groups if len(g) >= 2)
    df = sum(len(g) - 1 for g in groups if len(g) >= 2)
    return (math.sqrt(ss / df), df) if df else (0.0, 0)


@dataclass
class Decision:
    keep: bool
    delta: float            # improvement in the goal's direction (> 0 is better)
    ci_low: float           # 95% two-sided CI of the improvement
    ci_high: float
    p_value: float          # one-sided: the trial is no better than the best
    noise_sd: float         # the pooled seed-to-seed sd used
    df: int
    reason: str

    def to_json(self) -> dict:
        return {k: (round(v, 6) + 0.0 if isinstance(v, float) and math.isfinite(v) else v) for k, v in asdict(self).items()}


TEST_NAME = "one-sided t-test, seed sd pooled over the loop's runs"


def decide(best: Sequence[float], trial: Sequence[float], goal: str, *, noise_groups: Sequence[Sequence[float]] = (),
           min_delta: float = 0.0, alpha: float = 0.05) -> Decision:
    """Keep the trial only if it beats the best by >= min_delta and the t-test rejects "no better" at alpha.

    `noise_groups` are the other finished run groups of the loop (their seed-to-seed spread is pooled with the
    best's and the trial's).
    """
    sign = 1.0 if goal == "max" else -1.0
    delta = sign * (mean(trial) - mean(best))
    s, df = pooled_sd([best, trial, *noise_groups])
    se = s * math.sqrt(1.0 / len(best) + 1.0 / len(trial))
    if df == 0 or se == 0.0:  # no spread at all: the difference is exact
        p = 0.0 if delta > 0 else 1.0
        lo = hi = delta
    else:
        p = t_sf(delta / se, df)
        half = t_ppf(0.975, df) * se
        lo, hi = delta - half, delta + half
    significant = p < alpha
    big_enough = delta >= min_delta and delta > 0
    keep = significant and big_enough
    if keep:
        reason = f"better by {delta:.4g} (p={p:.3g} < {alpha:g})"
    elif not big_enough:
        reason = f"improvement {delta:.4g} is below --min-delta {min_delta:g}" if delta > 0 and delta < min_delta \
            else f"not better ({delta:.4g})"
    else:
        reason = f"better by {delta:.4g} but not significant (p={p:.3g} >= {alpha:g})"
    return Decision(keep, delta, lo, hi, p, s, df, reason)


def mean_ci(xs: Sequence[float], noise_sd: float | None = None, df: int | None = None) -> tuple[float, float]:
    """The 95% CI (low, high) of the mean of xs; with the pooled sd and its df when given."""
    m = mean(xs)
    if noise_sd is None:
        noise_sd, df = sd(xs), len(xs) - 1
    if not df or noise_sd == 0.0:
        return m, m
    half = t_ppf(0.975, df) * noise_sd / math.sqrt(len(xs))
    return m - half, m + half
