"""The measurements claims are made of, over a loaded results folder (pure pandas).

Definitions shared by every experiment:
- A config is a task + variant + optimizer + every hyperparameter (its trials are its seeds), as
  in `adamlab summary`.
- A config's value for a metric at a step is the mean over its seeds of each seed's value at the
  logged step nearest <= that step (the last logged value when no step is given). A config with a
  seed that diverged (by then) or failed is unstable: its value is +inf for a metric to minimise,
  -inf for one to maximise, so it ranks after every stable config and a ratio to it reads '∞'.
- The best config of a set is chosen by `adamlab.analysis.selection`, the rule `summary` and
  `plot` use: on the validation counterpart of a test metric when the task logged one
  (column `select`), the test metric reported (column `value`).
- Grid steps count positions in the sorted list of the values the sweep gave a hyperparameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from adamlab.analysis.goals import Goal, task_metrics
from adamlab.analysis.grouping import rank_configs
from adamlab.analysis.selection import best, rank
from adamlab.store.tables import HP_PREFIX, Results

LR = HP_PREFIX + "lr"

def loss_metric(results: Results, task: str) -> str:
    """The loss `task` is judged by in these experiments (evaluated on held-out data, or the
    exact objective, never a single minibatch's loss), as the task declared it (recorded in the
    results folder)."""
    return task_metrics(task, results.manifest).loss_metric


def tasks_in(trials: pd.DataFrame) -> list[str]:
    """The tasks of `trials`, in table order."""
    return list(dict.fromkeys(trials["task"]))


def logged_steps(results: Results, trials: pd.DataFrame, metric: str) -> list[int]:
    """Every step at which some trial of `trials` logged `metric`, ascending."""
    log = results.metrics
    steps = log.loc[(log["metric"] == metric) & log["trial_id"].isin(trials["trial_id"]), "step"]
    return sorted(int(s) for s in steps.unique())


def first_evaluation_step(results: Results, trials: pd.DataFrame, metric: str) -> int | None:
    """The first step after step 1 at which `metric` was logged (an 'early' look), or None."""
    later = [s for s in logged_steps(results, trials, metric) if s > 1]
    return later[0] if later else None


def values_at_step(results: Results, trials: pd.DataFrame, metric: str, step: int) -> pd.Series:
    """Each trial's value of `metric` logged at exactly `step` (index: `trials`' index; NaN where
    that trial logged none)."""
    log = results.metrics
    at = log[(log["metric"] == metric) & (log["step"] == step)]
    at = at.drop_duplicates("trial_id", keep="last").set_index("trial_id")["value"]
    return trials["trial_id"].map(at).astype("float64")


def config_values(
    results: Results,
    trials: pd.DataFrame,
    metric: str,
    *,
    at_step: int | None = None,
    goal: Goal = "min",
) -> pd.DataFrame:
    """One row per config of `trials`: the columns of `group_configs` (variant, optimizer, the
    hp.* columns, n_seeds, n_ok, n_diverged, n_failed, mean, ci_low, ci_high, select_mean,
    seed_values, seed_select, bad_seeds, ...), `value` (the mean, or ±inf when unstable; see the
    module docstring) and `select` (the same for the selection metric). Rows in table order."""
    if trials.empty:
        return pd.DataFrame(columns=["variant", "optimizer", "n_seeds", "mean", "value", "select"])
    ranking = rank(results, trials, metric, goal=goal, rule="final", at_step=at_step)
    configs = ranking.configs.sort_values("config_id", kind="stable")
    return _with_values(configs, goal).reset_index(drop=True)


def _with_values(configs: pd.DataFrame, goal: Goal) -> pd.DataFrame:
    unstable = (configs["n_diverged"] + configs["n_failed"]) > 0
    worst = math.inf if goal == "min" else -math.inf
    configs = configs.copy()
    configs["value"] = np.where(unstable, worst, configs["mean"])
    configs["select"] = np.where(unstable, worst, configs["select_mean"])
    return configs


def seeds_of(configs: pd.DataFrame) -> list[int]:
    """Every seed any of `configs` ran, ascending."""
    return sorted({int(s) for seeds in configs["seeds"] for s in seeds})


def grid(values: Sequence[float]) -> list[float]:
    """The distinct values, ascending (NaN dropped)."""
    return sorted({float(v) for v in values if not pd.isna(v)})


def grid_position(value: float, axis: Sequence[float]) -> int:
    return list(axis).index(float(value))


def best_row(configs: pd.DataFrame, *, goal: Goal = "min") -> pd.Series | None:
    """The best config of `configs` by the one selection rule (fewest bad seeds, then the best
    mean of the selection metric, then table order), or None if none has an ok seed."""
    if configs.empty:
        return None
    ranked = rank_configs(configs.drop(columns=["rank"], errors="ignore"), goal=goal)
    return best(ranked)


def where(frame: pd.DataFrame, **equal) -> pd.DataFrame:
    """Rows whose hyperparameter columns equal the given values: where(t, beta1=0.9)."""
    mask = pd.Series(True, index=frame.index)
    for name, value in equal.items():
        column = frame[HP_PREFIX + name]
        mask &= column.notna() & (column == value)
    return frame[mask]


def ratio(value: float, reference: float) -> float:
    """value / reference for two losses, where an unstable value (+inf) makes the ratio inf and an
    unstable reference leaves it undefined (nan)."""
    if math.isnan(value) or math.isnan(reference) or math.isinf(reference) or reference <= 0:
        return math.nan
    return value / reference


def tuning_budget(configs: pd.DataFrame) -> int:
    """How many configs a variant was tuned over (its grid's size, every seed counted once)."""
    return int(len(configs))


def budget_note(name: str, configs: pd.DataFrame, other: str, other_configs: pd.DataFrame) -> str:
    """'; unequal tuning budgets: adam 4 configs, sgd 3' when the two were tuned over grids of
    different sizes (the better-tuned one had more chances to look good), else ''."""
    mine, theirs = tuning_budget(configs), tuning_budget(other_configs)
    if mine == theirs:
        return ""
    return f"; unequal tuning budgets: {name} {mine} configs, {other} {theirs}"
