"""Small-sample statistics over seeds: Student-t intervals, paired and Welch comparisons, Holm.

Seeds are few (2-5), so every interval here is exact under normality rather than asymptotic:
- the mean of n >= 2 values gets the Student-t interval mean ± t(1 - α/2, n - 1)·s/√n (none for
  n = 1); a percentile bootstrap of 2-3 values is [min, max] and covers the mean ~50-75% of the
  time, which is why it is not used;
- two configs run on the same seeds share data order and initial weights, so they are compared
  per seed: the mean of the per-seed log-ratios (or differences) with its t-interval, shown
  back on the ratio scale;
- configs whose seed sets differ are compared unpaired, by Welch's t (and said so);
- several comparisons in one table are Holm-adjusted (step-down, strong family-wise control);
- a positive metric (a loss, an error, a norm) gets its interval on the log scale, shown as the
  geometric mean [low, high], so it never leaves (0, inf); a bounded one (an accuracy) gets the
  t-interval clipped to the metric's range;
- one-sided tests against a threshold other than "no difference" (`p_beyond`) decide claims with
  a minimum effect or a margin: the whole 95% interval beyond the threshold is the one-sided test
  at 2.5%; two of them against +-margin are the two one-sided tests (TOST) of equivalence.

The t and F distributions come from the regularised incomplete beta function (Lentz's continued
fraction); no SciPy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

CONFIDENCE = 0.95
_ITERATIONS = 300
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _ITERATIONS + 1):
        m2 = 2 * m
        for numerator in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                          -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=4096)  # a summary asks for the same few (p, df) a thousand times
def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection on the CDF, to ~1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = 0.5 * (low + high)
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * max(1.0, high):
            break
    return 0.5 * (low + high)


def f_sf(f: float, d1: float, d2: float) -> float:
    """P(F > f) for the F distribution with (d1, d2) degrees of freedom."""
    if f <= 0.0:
        return 1.0
    if math.isinf(f):
        return 0.0
    return incomplete_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))


def _mean_sd(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.nan
    return mean, math.sqrt(var)


def t_interval(values: Sequence[float], *, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Student-t interval of the mean of `values`; (nan, nan) for fewer than 2 values."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return math.nan, math.nan
    mean, sd = _mean_sd(values)
    half = t_quantile(1.0 - (1.0 - confidence) / 2.0, len(values) - 1) * sd / math.sqrt(len(values))
    return mean - half, mean + half


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (same order as given; NaN stays NaN and is not counted)."""
    indexed = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(indexed)
    adjusted = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


Scale = Literal["ratio", "difference"]
Method = Literal["paired", "welch"]


@dataclass(frozen=True)
class Comparison:
    """A config against a reference on one metric.

    `estimate`, `low`, `high` are on the display scale: config/reference (ratio scale, from the
    mean log-ratio) or config - reference (difference scale); NaN bounds when fewer than two
    pairs (paired) or fewer than two seeds on a side (Welch). `p` is the two-sided p-value of
    no difference; `n` the pairs used (paired) or the seeds of the config (Welch)."""

    method: Method
    scale: Scale
    estimate: float
    low: float
    high: float
    p: float
    n: int
    #: seeds shared by both configs left out because one of them diverged/failed there
    left_out: int = 0

    @property
    def no_difference(self) -> float:
        return 1.0 if self.scale == "ratio" else 0.0

    @property
    def has_interval(self) -> bool:
        return not math.isnan(self.low)


def _transform(value: float, scale: Scale) -> float:
    return math.log(value) if scale == "ratio" else value


def _back(value: float, scale: Scale) -> float:
    return math.exp(value) if scale == "ratio" else value


def paired_comparison(
    config: Mapping[int, float],
    reference: Mapping[int, float],
    *,
    scale: Scale,
    left_out: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison | None:
    """Per-seed comparison of two configs run on the same seeds.

    `config` and `reference` map seed -> value for the seeds each finished ok; `left_out` counts
    the seeds both ran where one of them diverged or failed (reported with the comparison).
    None when no seed is ok in both.
    """
    shared = sorted(set(config) & set(reference))
    if not shared:
        return None
    diffs = [_transform(config[s], scale) - _transform(reference[s], scale) for s in shared]
    mean = math.fsum(diffs) / len(diffs)
    low = high = p = math.nan
    if len(diffs) >= 2:
        _, sd = _mean_sd(diffs)
        se = sd / math.sqrt(len(diffs))
        df = len(diffs) - 1
        half = t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
        low, high = _back(mean - half, scale), _back(mean + half, scale)
        p = _two_sided_p(mean, se, df)
    return Comparison("paired", scale, _back(mean, scale), low, high, p, len(diffs), left_out)


def welch_comparison(
    config: Sequence[float],
    reference: Sequence[float],
    *,
    scale: Scale,
    confidence: float = CONFIDENCE,
) -> Comparison | None:
    """Unpaired comparison (Welch's t on logs or values) of two configs with different seeds."""
    a = [_transform(v, scale) for v in config]
    b = [_transform(v, scale) for v in reference]
    if not a or not b:
        return None
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    diff = mean_a - mean_b
    low = high = p = math.nan
    if len(a) >= 2 and len(b) >= 2:
        (_, sd_a), (_, sd_b) = _mean_sd(a), _mean_sd(b)
        va, vb = sd_a**2 / len(a), sd_b**2 / len(b)
        se = math.sqrt(va + vb)
        if se > 0:
            df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
            half = t_quantile(1.0 - (1.0 - confidence) / 2.0, df) * se
        else:
            df, half = 1.0, 0.0
        low, high = _back(diff - half, scale), _back(diff + half, scale)
        p = _two_sided_p(diff, se, df)
    return Comparison("welch", scale, _back(diff, scale), low, high, p, len(a))


def _two_sided_p(mean: float, se: float, df: float) -> float:
    if se == 0:
        return 0.0 if mean != 0 else 1.0
    return 2.0 * (1.0 - t_cdf(abs(mean / se), df))


def repeated_measures_p(table: Sequence[Sequence[float]]) -> float:
    """p-value of 'no treatment effect' in a seeds x treatments table (repeated-measures
    one-way ANOVA, seeds as blocks): F = MS_treatment / MS_residual with (k-1, (k-1)(n-1)) df.
    NaN when there are fewer than 2 seeds or 2 treatments."""
    n = len(table)
    k = len(table[0]) if n else 0
    if n < 2 or k < 2:
        return math.nan
    grand = math.fsum(v for row in table for v in row) / (n * k)
    col_means = [math.fsum(row[j] for row in table) / n for j in range(k)]
    row_means = [math.fsum(row) / k for row in table]
    ss_treat = n * math.fsum((m - grand) ** 2 for m in col_means)
    ss_resid = math.fsum(
        (table[i][j] - row_means[i] - col_means[j] + grand) ** 2
        for i in range(n) for j in range(k)
    )
    d1, d2 = k - 1, (k - 1) * (n - 1)
    if ss_resid == 0:
        return 0.0 if ss_treat > 0 else 1.0
    return f_sf((ss_treat / d1) / (ss_resid / d2), d1, d2)


def log_t_interval(values: Sequence[float], *, confidence: float = CONFIDENCE
                   ) -> tuple[float, float, float]:
    """(geometric mean, low, high): the Student-t interval of the mean of log(values), mapped
    back; every value must be > 0, so the interval is inside (0, inf). (gm, nan, nan) for one
    value, (nan, nan, nan) for none."""
    logs = [math.log(float(v)) for v in values]
    if not logs:
        return math.nan, math.nan, math.nan
    centre = math.exp(math.fsum(logs) / len(logs))
    if len(logs) < 2:
        return centre, math.nan, math.nan
    low, high = t_interval(logs, confidence=confidence)
    return centre, math.exp(low), math.exp(high)


def clipped_t_interval(values: Sequence[float], low_limit: float, high_limit: float, *,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Student-t interval of the mean, clipped to what the metric can be."""
    low, high = t_interval(values, confidence=confidence)
    if math.isnan(low):
        return low, high
    return max(low, low_limit), min(high, high_limit)


def paired_diffs(config: Mapping[int, float], reference: Mapping[int, float], *,
                 scale: Scale) -> list[float]:
    """Per shared seed (ascending): config - reference on the comparison scale (log-ratio on
    "ratio")."""
    return [_transform(config[s], scale) - _transform(reference[s], scale)
            for s in sorted(set(config) & set(reference))]


def p_beyond(diffs: Sequence[float], threshold: float) -> tuple[float, float]:
    """One-sided paired t-tests of the mean of `diffs` against `threshold` (on the same scale):
    (p of "mean > threshold", p of "mean < threshold"). With no spread the sign decides
    (p 0 or 1); with fewer than 2 values both are 1 (nothing can be decided)."""
    n = len(diffs)
    if n < 2:
        return 1.0, 1.0
    mean, sd = _mean_sd(diffs)
    if sd == 0 or not math.isfinite(sd):
        return (0.0 if mean > threshold else 1.0), (0.0 if mean < threshold else 1.0)
    t = (mean - threshold) / (sd / math.sqrt(n))
    above = 1.0 - t_cdf(t, n - 1)
    return above, 1.0 - above


def threshold_on_scale(value: float, scale: Scale) -> float:
    """A criterion on the display scale (a ratio, or a difference) on the test's scale."""
    return _transform(value, scale)
