"""Tuning curves: how good a variant's best is after k configs of its grid, k = 1 .. n.

A variant's n configs each have a value: the seed mean of the selection metric (`val_X` for a
reported `test_X`), the number the summary ranks by; a config with a diverged or failed seed
counts as the worst draw (+inf for a metric to minimise, -inf to maximise), as in the ranking.

- Expected best (Dodge et al. 2019, "Show your work"): the mean of the best of k configs drawn
  at random *without replacement* from the n, exact from the order statistics:
  E = sum_i v_(i) [C(i, k) - C(i-1, k)] / C(n, k) over the values sorted worst to best. Without
  replacement because a grid is a finite set a tuner works through: at k = n the expected best
  is the grid's best (the config the summary selects), and no draw repeats a config. At k = 1 it
  is the mean of the config values. (This is the unbiased "U-statistic" estimate of Lourie et
  al.'s `opda.nonparametric.EmpiricalDistribution.u_tuning_curve`.) It is infinite while k
  draws can all be diverged configs.
- Median best: the median of that same best of k without replacement: the order statistic
  v_(m), m the first i with C(i, k) / C(n, k) >= 1/2.
- Band (Lourie et al. 2023, "Show Your Work with Confidence"): a distribution-free 95% band for
  the median tuning curve of the search distribution the configs stand for, F^-1(0.5^(1/k))
  (for maximisation), from a simultaneous confidence band of its CDF F. The band used is
  Dvoretzky-Kiefer-Wolfowitz's, |F_n - F| <= sqrt(ln(2/0.05) / 2n) everywhere with 95%
  probability (Massart's constant), one of the bands Lourie et al. give: it is closed-form,
  where their tighter Learned-Miller-DeStefano band needs a simulated critical value (opda
  draws 100,000 samples with a process pool and needs SciPy, which adamlab does not depend on:
  that is why opda is not used). Where the CDF band leaves the sample, the curve's band reaches
  the metric's own limit (0 below a positive metric, [0, 1] for an accuracy) or is unbounded
  (null in JSON). For random search (configs drawn independently) the band is exact in its
  coverage; for a grid it treats the grid as a sample from the search space, which it is not
  quite. The band always holds the median: the median's order statistic lies between the
  band's (the DKW half-width is wider than the gap between a with- and without-replacement
  median, (k-1)(1 - 0.5^(1/k)) < ln 2 < n * eps).
Every curve is monotone: the expected and the median best never get worse with k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import pandas as pd

from adamlab.analysis.goals import Goal, task_metrics
from adamlab.analysis.grouping import BOUNDED_SUFFIX, TaskInstance, task_instances
from adamlab.analysis.selection import rank
from adamlab.analysis.stats import CONFIDENCE
from adamlab.store.tables import Results


@dataclass(frozen=True)
class TuningPoint:
    task: str
    variant: str
    metric: str
    k: int
    expected: float
    median: float
    low: float
    high: float

    def record(self) -> dict:
        out = asdict(self)
        for key in ("expected", "median", "low", "high"):
            value = out[key]
            out[key] = None if value is None or not math.isfinite(value) else value
        return out


def dkw_epsilon(n: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the DKW-Massart simultaneous band of an empirical CDF of n values."""
    return math.sqrt(math.log(2.0 / (1.0 - confidence)) / (2.0 * n))


def metric_limits(metric: str, values: Sequence[float], goal: Goal) -> tuple[float, float]:
    """What the metric can be: [0, 1] for an accuracy, [0, inf) when every value is > 0."""
    if metric.endswith(BOUNDED_SUFFIX):
        return 0.0, 1.0
    finite = [v for v in values if math.isfinite(v)]
    if finite and all(v > 0 for v in finite):
        return 0.0, math.inf
    return -math.inf, math.inf


def curve(values: Sequence[float], *, goal: Goal, limits: tuple[float, float] = (-math.inf, math.inf),
          confidence: float = CONFIDENCE) -> list[tuple[int, float, float, float, float]]:
    """(k, expected, median, low, high) for k = 1 .. n over the config `values` (±inf for a
    diverged config: the worst). `low`/`high` are the band's ends in the metric's own units
    (low <= high)."""
    n = len(values)
    if n == 0:
        return []
    sign = -1.0 if goal == "min" else 1.0  # work on "larger is better"
    better = sorted(sign * v for v in values)  # worst first
    floor, ceiling = sorted((sign * limits[0], sign * limits[1]))
    eps = dkw_epsilon(n, confidence)
    # empirical CDF at each order statistic, ties counted at their last position
    cdf = [sum(w <= x for w in better) / n for x in better]
    out = []
    for k in range(1, n + 1):
        total = math.comb(n, k)
        expected = 0.0
        for i in range(k, n + 1):  # P(best of k = the i-th) = C(i-1, k-1) / C(n, k)
            expected += math.comb(i - 1, k - 1) / total * better[i - 1]
        m = next(i for i in range(k, n + 1) if math.comb(i, k) * 2 >= total)
        median = better[m - 1]
        q = 0.5 ** (1.0 / k)
        upper = next((better[j] for j in range(n) if (j + 1) / n - eps >= q), ceiling)
        lower = max((better[i] for i in range(n) if cdf[i] + eps < q), default=floor)
        points = sorted((sign * lower, sign * upper))
        out.append((k, sign * expected, sign * median, points[0], points[1]))
    return out


def tuning_curves(results: Results, *, metric: str | None = None,
                  task: str | None = None) -> list[TuningPoint]:
    """Every variant's tuning curve per task instance, on the selection metric of `metric`
    (default: the task's primary metric)."""
    return [point for instance in task_instances(results.trials)
            if task is None or instance.task == task
            for point in instance_curves(results, instance, metric)]


def instance_curves(results: Results, instance: TaskInstance,
                    metric: str | None = None) -> list[TuningPoint]:
    goals = task_metrics(instance.task, results.manifest)
    reported = metric or goals.primary_metric
    ranking = rank(results, instance.trials, reported, goal=goals.goal(reported))
    select_goal = goals.goal(ranking.select_metric)
    worst = math.inf if select_goal == "min" else -math.inf
    out = []
    for variant, configs in ranking.configs.groupby("variant", sort=False):
        values = config_scores(configs, worst)
        limits = metric_limits(ranking.select_metric, values, select_goal)
        for k, expected, median, low, high in curve(values, goal=select_goal, limits=limits):
            out.append(TuningPoint(instance.label, str(variant), ranking.select_metric, k,
                                   expected, median, low, high))
    return out


def config_scores(configs: pd.DataFrame, worst: float) -> list[float]:
    """Each config's selection value (the seed mean), `worst` when a seed diverged or failed or
    none finished."""
    unstable = (configs["n_diverged"] + configs["n_failed"] > 0) | (configs["n_ok"] == 0)
    return [worst if bad else float(v) for bad, v in zip(unstable, configs["select_mean"],
                                                          strict=True)]
