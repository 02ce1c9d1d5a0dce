"""The reference every config is measured against: the best-tuned SGD and momentum configs.

- Best SGD = the top-ranked config whose registry optimizer is `sgd`; best momentum = the
  top-ranked one whose optimizer is `momentum` or `nesterov` (whatever the entries' labels). Only
  configs with at least one ok seed qualify.
- Metric ratio = config mean / baseline mean (defined when the baseline mean is > 0 and the
  config mean >= 0). For a "min" metric below 1 is better, for a "max" metric above 1.
- Steps to target = the first logged step at which the config's seed-mean curve (running best
  under rule `best`) reaches the target; its ratio is that step over the best SGD config's.
  The default target is the best SGD config's own value, so the ratio reads 'steps needed to
  reach what SGD reaches, relative to SGD'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

BASELINE_OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("sgd",),
    "momentum": ("momentum", "nesterov"),
}
BASELINE_TITLES = {"sgd": "SGD", "momentum": "momentum"}


@dataclass(frozen=True)
class Baseline:
    #: "sgd" or "momentum"
    kind: str
    config_id: int
    #: e.g. "sgd (lr=0.1)"
    label: str
    mean: float


def best_baseline(ranked: pd.DataFrame, kind: str) -> pd.Series | None:
    """The top-ranked config of the baseline `kind` with an ok seed, or None."""
    candidates = ranked[
        ranked["optimizer"].isin(BASELINE_OPTIMIZERS[kind]) & (ranked["n_ok"] > 0)
    ]
    return None if candidates.empty else candidates.iloc[0]


def metric_ratio(value: float, reference: float) -> float:
    if not (math.isfinite(value) and math.isfinite(reference)) or reference <= 0 or value < 0:
        return math.nan
    return value / reference


def step_ratio(steps: float, reference_steps: float) -> float:
    if math.isnan(steps) or math.isnan(reference_steps) or reference_steps <= 0:
        return math.nan
    return steps / reference_steps
