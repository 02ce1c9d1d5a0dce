"""The references every config is measured against, and how a config is compared to one.

- Best SGD = the top-ranked config whose registry optimizer is `sgd`; best momentum = the
  top-ranked one whose optimizer is `momentum` or `nesterov` (whatever the entries' labels); with
  `--against VARIANT`, that variant's top-ranked config instead. Only configs with at least one
  ok seed qualify. "Best-tuned" only when its variant tried more than one lr.
- A comparison (`compare`) is paired when both configs ran the same seeds: the mean over the
  seeds both finished ok of log(config/reference) (or config - reference when some value of the
  table is <= 0, and always for an accuracy: percentage points, the interval clipped to
  [-100, 100]), with its Student-t interval, shown as a ratio (or difference); seeds that
  diverged or failed in either are left out and counted. When the seed sets differ it is
  Welch's unpaired t on the same scale.
- Steps to target: see `adamlab.analysis.steps`; its ratio is that step over the best SGD
  config's, given only when both were interpolated on the training curve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pandas as pd

from adamlab.analysis.grid_edges import GridEdge
from adamlab.analysis.grouping import BOUNDED_SUFFIX
from adamlab.analysis.stats import Comparison, Scale, paired_comparison, welch_comparison

BASELINE_OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("sgd",),
    "momentum": ("momentum", "nesterov"),
}
BASELINE_TITLES = {"sgd": "SGD", "momentum": "momentum"}


@dataclass(frozen=True)
class Baseline:
    #: "sgd", "momentum", or the --against variant
    kind: str
    config_id: int
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


def best_baseline(candidates: pd.DataFrame) -> pd.Series | None:
    """The top-ranked of `candidates` (ranked configs) with an ok seed, or None."""
    usable = candidates[candidates["n_ok"] > 0]
    return None if usable.empty else usable.iloc[0]


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


def step_ratio(steps: float, reference_steps: float) -> float:
    if math.isnan(steps) or math.isnan(reference_steps) or reference_steps <= 0:
        return math.nan
    return steps / reference_steps
