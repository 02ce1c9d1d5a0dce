"""A claim kind on tuning curves: "A beats B at every budget <= k".

Each variant's tuning curve (`adamlab.analysis.tuning_curve`: the best of k configs drawn from
its grid without replacement, on the selection metric) carries a distribution-free band of its
median best; here each band is at 97.5% so that the two together hold with >= 95% (Bonferroni).
The claim holds when, at every budget k = 1..K, A's whole band is better than B's whole band;
it fails when at some k <= K B's whole band is better than A's; else it is inconclusive. It is
not measurable when either variant has fewer than K configs. An experiment uses it by calling
`beats_at_every_budget_claim` from its `claims` function.
"""

from __future__ import annotations

import pandas as pd

from adamlab.analysis.goals import task_metrics
from adamlab.analysis.selection import rank
from adamlab.analysis.tuning_curve import config_scores, curve, metric_limits
from adamlab.experiments.claims import Claim, number, unmeasured
from adamlab.store.tables import Results

#: each variant's band; two together hold with >= 1 - 2 * (1 - BAND) = 95%
BAND = 0.975


def _curve(results: Results, trials: pd.DataFrame, metric: str):
    task = str(trials["task"].iloc[0])
    goals = task_metrics(task, results.manifest)
    ranking = rank(results, trials, metric, goal=goals.goal(metric))
    goal = goals.goal(ranking.select_metric)
    values = config_scores(ranking.configs, float("inf") if goal == "min" else float("-inf"))
    limits = metric_limits(ranking.select_metric, values, goal)
    return curve(values, goal=goal, limits=limits, confidence=BAND), goal, ranking.select_metric


def beats_at_every_budget_claim(results: Results, trials_a: pd.DataFrame, name_a: str,
                                trials_b: pd.DataFrame, name_b: str, metric: str,
                                budget: int) -> Claim:
    text = f"{name_a} beats {name_b} at every tuning budget ≤ {budget} configs"
    criterion = (f"at every k ≤ {budget}: {name_a}'s {BAND:.1%} band of its median best of k "
                 f"configs is wholly better than {name_b}'s (two bands: ≥ 95% together)")
    scope = str(trials_a["task"].iloc[0]) if not trials_a.empty else ""
    if trials_a.empty or trials_b.empty:
        return unmeasured(scope, text, criterion, f"needs trials of {name_a} and of {name_b}")
    mine, goal, selected = _curve(results, trials_a, metric)
    theirs, _, _ = _curve(results, trials_b, metric)
    if len(mine) < budget or len(theirs) < budget:
        return unmeasured(scope, text, criterion,
                          f"{name_a} has {len(mine)} configs, {name_b} {len(theirs)} (< {budget})")
    better = (lambda x, y: x < y) if goal == "min" else (lambda x, y: x > y)
    wins, losses = [], []
    for (k, _, _, low_a, high_a), (_, _, _, low_b, high_b) in zip(
            mine[:budget], theirs[:budget], strict=True):
        worst_a, best_a = (high_a, low_a) if goal == "min" else (low_a, high_a)
        worst_b, best_b = (high_b, low_b) if goal == "min" else (low_b, high_b)
        if better(worst_a, best_b):
            wins.append(k)
        elif better(worst_b, best_a):
            losses.append(k)
    verdict = "fails" if losses else "holds" if len(wins) == budget else "inconclusive"
    last_a, last_b = mine[budget - 1], theirs[budget - 1]
    measured = (
        f"on {selected}, median best at k = {budget}: {name_a} {number(last_a[2], 4)} "
        f"[{number(last_a[3], 4)}, {number(last_a[4], 4)}], {name_b} {number(last_b[2], 4)} "
        f"[{number(last_b[3], 4)}, {number(last_b[4], 4)}]; bands apart in {name_a}'s favour at "
        f"{len(wins)} of {budget} budgets, in {name_b}'s at {len(losses)}"
    )
    return Claim(scope, text, measured, criterion, verdict, float(len(wins)),
                 why="the bands overlap at some budget" if verdict == "inconclusive" else "")
