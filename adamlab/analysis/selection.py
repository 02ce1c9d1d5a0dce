"""The one selection rule: which config is best, for `summary`, `plot` and `report` alike.

`rank(results, trials, metric, ...)` groups the trials into configs and ranks them (see
`adamlab.analysis.grouping`): by share of diverged/failed seeds, then by the seed mean of the
selection metric (`val_X` for a reported `test_X` when the task logged it; the test metric is
reported, never selected on). `best(configs)` is the top-ranked config with an ok seed: the one
function that picks a best. Everything else calls it: `best_of_each` (the best of each group:
the summary's best config per variant, the plots' best config at each lr and in each heatmap
cell), the summary's references (best SGD, best momentum, the --against variant's best) and
`adamlab.experiments.measures.best_row` (the claims' bests, re-ranked with
`grouping.rank_configs`). So for the same metric and rule they all name the same config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from adamlab.analysis.goals import Goal, task_metrics
from adamlab.analysis.grouping import (
    Rule,
    group_configs,
    interval_kind,
    selection_metric,
    trial_values,
)
from adamlab.store.tables import Results


@dataclass(frozen=True)
class Ranking:
    #: the reported metric
    metric: str
    #: what the ranking used: `metric`, or its validation counterpart
    select_metric: str
    goal: Goal
    rule: Rule
    at_step: int | None
    #: ranked configs (columns of `group_configs`)
    configs: pd.DataFrame


def rank(
    results: Results,
    trials: pd.DataFrame,
    metric: str,
    *,
    goal: Goal | None = None,
    rule: Rule = "final",
    at_step: int | None = None,
) -> Ranking:
    """Configs of `trials` ranked for `metric` (selected on its validation counterpart)."""
    task = str(trials["task"].iloc[0]) if not trials.empty else ""
    goals = task_metrics(task, results.manifest) if task else None
    if goal is None:
        goal = goals.goal(metric) if goals is not None else "min"
    recorded = results.metric_names(task) if task else []
    chosen = selection_metric(metric, recorded)
    declared = goals.select_metrics if goals is not None else None
    if declared is not None:  # the task said which validation metric selects which
        chosen = declared[metric] if declared.get(metric) in recorded else metric
    select_goal = goals.goal(chosen) if goals is not None else goal
    values = trial_values(
        trials, results.metric_log({metric, chosen}), metric, goal=goal, rule=rule, at_step=at_step,
        select_metric=chosen, select_goal=select_goal,
    )
    ok = values.loc[values["state"] == "ok", "value"].tolist()
    configs = group_configs(trials, values, goal=goal, interval=interval_kind(metric, ok))
    return Ranking(metric, chosen, goal, rule, at_step, configs)


def best(configs: pd.DataFrame) -> pd.Series | None:
    """The top-ranked config with an ok seed (configs as `rank` orders them), or None."""
    usable = configs[configs["n_ok"] > 0] if not configs.empty else configs
    return None if usable.empty else usable.iloc[0]


def best_of_each(configs: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """The best config (`best`) of each group of ranked `configs` with equal `by` columns; in a
    group where no config has an ok seed, its top-ranked one, so that the group still shows
    (with its failures). Rows in rank order."""
    if configs.empty:
        return configs
    chosen = []
    for _, group in configs.groupby(list(by), sort=False, dropna=False):
        row = best(group)
        chosen.append(row.name if row is not None else group.index[0])
    return configs[configs.index.isin(chosen)]


def best_per_variant(configs: pd.DataFrame) -> pd.Series:
    """A mask over ranked `configs`: True for each variant's best config (`best_of_each`)."""
    return pd.Series(configs.index.isin(best_of_each(configs, ["variant"]).index),
                     index=configs.index)
