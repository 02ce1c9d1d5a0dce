"""The references every config is measured against, and how a config is compared to one.

- The baseline optimizers are SGD and momentum: the references are the best SGD config (the
  best, by `adamlab.analysis.selection.best`, of the configs whose registry optimizer is `sgd`)
  and the best momentum config (optimizer `momentum` or `nesterov`, whatever the entries'
  labels); with `--against VARIANT`, that variant's best config instead. "Best-tuned" only when
  its variant tried more than one lr.
- A comparison (`compare`) is paired when both configs ran the same seeds: the mean over the
  seeds both finished ok of log(config/reference) (or config - reference when some value of the
  table is <= 0, and always for an accuracy: percentage points, the interval clipped to
  [-100, 100]), with its Student-t interval, shown as a ratio (or difference); seeds that
  diverged or failed in either are left out and counted. When the seed sets differ it is
  Welch's unpaired t on the same scale.
- The comparisons of one table form a family: their p-values are Holm-adjusted together, and a
  comparison is significant (★) when its adjusted p < ALPHA on at least MIN_PAIRS pairs. The
  family is each variant's best config, or every config with `--all`.
- Steps to target: see `adamlab.analysis.steps`; its ratio is that step over the best SGD
  config's, given only when both were interpolated on the training curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from adamlab.analysis.grid_edges import GridEdge
from adamlab.analysis.grouping import BOUNDED_SUFFIX
from adamlab.analysis.stats import (
    CONFIDENCE,
    Comparison,
    Method,
    Scale,
    holm,
    paired_comparison,
    welch_comparison,
)

#: reference key -> the registry optimizers whose best config is that reference by default
BASELINE_OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("sgd",),
    "momentum": ("momentum", "nesterov"),
}
BASELINE_TITLES = {"sgd": "SGD", "momentum": "momentum"}

#: a comparison is marked when its Holm-adjusted p-value is below this ...
ALPHA = 1.0 - CONFIDENCE
#: ... and it rests on at least this many pairs (seeds): the report's threshold for any claim
MIN_PAIRS = 3


@dataclass(frozen=True)
class Reference:
    """A config every other config of a summary table is compared against."""

    #: "sgd", "momentum", or the --against variant
    key: str
    config_id: int
    #: the reference config's variant
    variant: str
    #: e.g. "sgd (lr=0.1)"
    label: str
    mean: float
    #: e.g. "SGD"
    title: str = ""
    #: its flagged hyperparameters (see `adamlab.analysis.grid_edges`)
    edges: dict[str, GridEdge] = field(default_factory=dict)
    #: False when some hyperparameter is at an open edge, needs refining, or is untuned
    bracketed: bool = True
    #: False when its variant tried a single lr
    tuned: bool = True


def comparison_scale(configs: pd.DataFrame, metric: str = "") -> Scale:
    """"ratio" when every ok value in the table is > 0 (log-ratios exist), else "difference";
    an accuracy always by "difference" (percentage points: a ratio of accuracies near 1 hides
    what changed, and its interval can leave what an accuracy can be)."""
    if metric.endswith(BOUNDED_SUFFIX):
        return "difference"
    values = [v for seeds in configs["seed_values"] for v in seeds.values()]
    return "ratio" if values and all(v > 0 and math.isfinite(v) for v in values) else "difference"


def compare(config: pd.Series, reference: pd.Series, *, scale: Scale,
            bounded: bool = False) -> Comparison | None:
    """`config` against `reference` (rows of `group_configs`): paired on shared seeds, Welch when
    the seed sets differ; None when either has no ok seed. `bounded`: a difference of two
    accuracies, whose interval is clipped to [-1, 1]."""
    mine, theirs = config["seed_values"], reference["seed_values"]
    if not mine or not theirs:
        return None
    if set(config["seeds"]) == set(reference["seeds"]):
        left_out = len(set(config["seeds"]) - (set(mine) & set(theirs)))
        found = paired_comparison(mine, theirs, scale=scale, left_out=left_out)
    else:
        found = welch_comparison(list(mine.values()), list(theirs.values()), scale=scale)
    if found is not None and bounded and found.has_interval:
        found = replace(found, low=max(found.low, -1.0), high=min(found.high, 1.0))
    return found


@dataclass(frozen=True)
class ConfigComparison:
    """One config of a summary table against one reference, on the table's metric."""

    #: the reference's key: "sgd", "momentum", or the --against variant
    reference: str
    config_id: int
    reference_config_id: int
    metric: str
    #: "ratio": config/reference, from the mean per-seed log-ratio; "difference": config -
    #: reference (an accuracy: a difference of proportions, its interval clipped to [-1, 1])
    scale: Scale
    #: "paired" on the seeds both finished ok, or "welch" when the seed sets differ
    method: Method
    estimate: float
    #: the Student-t interval of `estimate` at `confidence` (NaN below two pairs, or below two
    #: seeds on a side for Welch)
    low: float
    high: float
    confidence: float
    #: two-sided p-value of no difference (NaN without an interval)
    p: float
    #: `p` Holm-adjusted within the table's family (NaN outside it)
    p_holm: float
    #: the pairs used (paired) or the config's ok seeds (Welch)
    pairs: int
    #: shared seeds left out because one of the two diverged or failed there
    left_out: int
    #: ★: `p_holm` < ALPHA on at least MIN_PAIRS pairs
    significant: bool
    #: the two variants were tuned over grids of different sizes
    unequal_budget: bool


def significant(p_holm: float, pairs: int) -> bool:
    """★: Holm-adjusted p < ALPHA on at least MIN_PAIRS pairs."""
    return not math.isnan(p_holm) and p_holm < ALPHA and pairs >= MIN_PAIRS


def compare_with_reference(
    configs: pd.DataFrame,
    reference: Reference,
    *,
    metric: str,
    scale: Scale,
    family: pd.Index,
    budgets: dict[str, int],
) -> dict[int, ConfigComparison]:
    """Every config of `configs` (ranked rows of `group_configs`) but the reference itself and
    those without an ok seed, against `reference`, by config id. The p-values of the configs at
    `family` (index labels of `configs`) are Holm-adjusted together; `budgets` gives each
    variant's number of configs."""
    reference_row = configs.loc[configs["config_id"] == reference.config_id].iloc[0]
    bounded = metric.endswith(BOUNDED_SUFFIX)
    found: dict[object, tuple[int, str, Comparison]] = {}
    for index, row in configs.iterrows():
        if row["config_id"] != reference.config_id:
            comparison = compare(row, reference_row, scale=scale, bounded=bounded)
            if comparison is not None:
                found[index] = (int(row["config_id"]), str(row["variant"]), comparison)
    in_family = [i for i in family if i in found]
    adjusted = dict(zip(in_family, holm([found[i][2].p for i in in_family]), strict=True))
    budget = budgets.get(reference.variant, 0)
    out: dict[int, ConfigComparison] = {}
    for index, (config_id, variant, comparison) in found.items():
        p_holm = adjusted.get(index, math.nan)
        out[config_id] = ConfigComparison(
            reference=reference.key,
            config_id=config_id,
            reference_config_id=reference.config_id,
            metric=metric,
            scale=comparison.scale,
            method=comparison.method,
            estimate=comparison.estimate,
            low=comparison.low,
            high=comparison.high,
            confidence=CONFIDENCE,
            p=comparison.p,
            p_holm=p_holm,
            pairs=comparison.n,
            left_out=comparison.left_out,
            significant=significant(p_holm, comparison.n),
            unequal_budget=budgets.get(variant, 0) != budget,
        )
    return out


def step_ratio(steps: float, reference_steps: float) -> float:
    if math.isnan(steps) or math.isnan(reference_steps) or reference_steps <= 0:
        return math.nan
    return steps / reference_steps
