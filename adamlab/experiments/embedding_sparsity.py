"""Rare rows of a Zipf embedding table: SGD and momentum vs Adam and AdamW.

Row k of the `embedding_sparsity` table gets a gradient only in the batches that contain token k,
so the rows of rare tokens get few gradients. SGD's step on a row is proportional to how often
the row appears in the batch (the loss is a batch mean), so its lr is capped by the frequent rows
and a rare row moves by about lr/batch_size of its error per appearance; Adam divides each
coordinate's step by its own gradient scale, so a rare row's first appearance already moves it by
about lr per coordinate. AdamW's decoupled decay multiplies every row by 1 - lr*wd each step,
including rows that never got a gradient, while Adam and SGD leave those rows where they are.

Claims (step 1 is the first logged step; `B.error` is the mean distance of bucket B's rows to the
teacher rows, `B.norm` their mean norm):
1. and 2. the rare bucket's error falls far faster under Adam than under SGD and under momentum,
   each at its best lr (best = lowest final rare.error, mean over seeds): the share of the
   step-1 error removed by the end, Adam's over the baseline's, is >= 5x;
3. the gap is about rarity: SGD at its best lr removes >= 90% of the frequent bucket's error;
4. AdamW's decay shrinks the rare rows, which get no gradient at most steps: their mean norm
   (end over step 1) ends below Adam's at the same lr, for every stable (lr, weight_decay > 0).
   A row that never got a gradient would end at (1 - lr*wd)^(T-1) of its norm; the rare rows do
   get the odd gradient, which pulls them back towards the teacher's norm.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from adamlab.experiments.claims import Claim, number, percent, times, unmeasured
from adamlab.experiments.measures import (
    LR,
    best_row,
    config_values,
    logged_steps,
    values_at_step,
)
from adamlab.store.tables import HP_PREFIX, Results

TASK = "embedding_sparsity"
#: Adam's share of the rare error removed over a baseline's, at least
FASTER_FACTOR = 5.0
#: share of the frequent bucket's error SGD removes at its best lr, at least
FREQUENT_FIT = 0.9

RARE_ERROR, FREQUENT_ERROR, RARE_NORM = "rare.error", "frequent.error", "rare.norm"


def claims(results: Results) -> list[Claim]:
    trials = results.trials[results.trials["task"] == TASK]
    if trials.empty:
        return [unmeasured(TASK, "rare rows: Adam vs SGD", "", f"no {TASK} trial")]
    return [
        faster_on_rare_rows_claim(results, trials, ("adam",), ("sgd",)),
        faster_on_rare_rows_claim(results, trials, ("adam",), ("momentum", "nesterov")),
        frequent_rows_fit_claim(results, trials, ("sgd",)),
        decay_shrinks_rare_rows_claim(results, trials),
    ]


def _of(trials: pd.DataFrame, optimizers: Sequence[str]) -> pd.DataFrame:
    return trials[trials["optimizer"].isin(optimizers)]


def error_removed(results: Results, trials: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per config of `trials`: `value` (final `metric`, ±inf if unstable), `start` (seed mean at
    step 1) and `removed` = 1 - value/start, the share of the step-1 error gone by the end."""
    configs = config_values(results, trials, metric)
    start = trials.assign(start=values_at_step(results, trials, metric, 1))
    starts = []
    for _, row in configs.iterrows():
        ids = set(row["ok_trial_ids"])
        starts.append(float(start.loc[start["trial_id"].isin(ids), "start"].mean()) if ids else math.nan)
    configs["start"] = starts
    configs["removed"] = 1.0 - configs["value"] / configs["start"]
    return configs


def _best_by_rare_error(results: Results, trials: pd.DataFrame) -> pd.Series | None:
    configs = error_removed(results, trials, RARE_ERROR)
    best = best_row(configs)
    return best if best is not None and math.isfinite(best["value"]) else None


def _names(optimizers: Sequence[str]) -> str:
    """How claims name a group of registry optimizers: by the first (momentum for
    momentum/nesterov)."""
    return optimizers[0]


def faster_on_rare_rows_claim(
    results: Results, trials: pd.DataFrame, fast: Sequence[str], slow: Sequence[str]
) -> Claim:
    text = f"rare rows: error falls far faster under {_names(fast)} than {_names(slow)}, each at its best lr"
    criterion = f"share of the step-1 rare.error removed, {_names(fast)} ÷ {_names(slow)} ≥ {FASTER_FACTOR:g}×"
    fast_best = _best_by_rare_error(results, _of(trials, fast))
    slow_best = _best_by_rare_error(results, _of(trials, slow))
    if fast_best is None or slow_best is None:
        missing = _names(fast) if fast_best is None else _names(slow)
        return unmeasured(TASK, text, criterion, f"no stable {missing} trial with {RARE_ERROR} logged")
    last = max(logged_steps(results, trials, RARE_ERROR))
    speedup = fast_best["removed"] / slow_best["removed"] if slow_best["removed"] > 0 else math.inf
    measured = (
        f"rare.error at step {last}: {_names(slow)} (lr={slow_best[LR]:.3g}) {number(slow_best['value'])}, "
        f"{_names(fast)} (lr={fast_best[LR]:.3g}) {number(fast_best['value'])}, from "
        f"{number(fast_best['start'])}; removed {percent(slow_best['removed'])} vs "
        f"{percent(fast_best['removed'])} → {times(speedup)}"
    )
    return Claim(TASK, text, measured, criterion, speedup >= FASTER_FACTOR, speedup)


def frequent_rows_fit_claim(results: Results, trials: pd.DataFrame, optimizers: Sequence[str]) -> Claim:
    text = f"the gap is rarity: {_names(optimizers)} at its best lr fits the frequent rows"
    criterion = f"{_names(optimizers)} removes ≥ {100 * FREQUENT_FIT:g}% of the step-1 frequent.error"
    chosen = _of(trials, optimizers)
    best = _best_by_rare_error(results, chosen)
    if best is None:
        return unmeasured(TASK, text, criterion, f"no stable {_names(optimizers)} trial")
    frequent = error_removed(results, chosen, FREQUENT_ERROR)
    row = frequent[frequent["config_id"] == best["config_id"]].iloc[0]
    measured = (
        f"lr={best[LR]:.3g}: frequent.error {number(row['start'])} → {number(row['value'])} "
        f"(removed {percent(row['removed'])}); rare rows removed {percent(best['removed'])}"
    )
    return Claim(TASK, text, measured, criterion, row["removed"] >= FREQUENT_FIT, float(row["removed"]))


def norm_ratio(results: Results, trials: pd.DataFrame) -> pd.DataFrame:
    """Per config: rare.norm at the end over rare.norm at step 1 (seed means)."""
    configs = error_removed(results, trials, RARE_NORM)
    configs["norm_ratio"] = configs["value"] / configs["start"]
    return configs


def decay_shrinks_rare_rows_claim(results: Results, trials: pd.DataFrame) -> Claim:
    text = "AdamW's decay shrinks the rare rows (no gradient at most steps) below where Adam leaves them"
    criterion = "AdamW's rare.norm (end ÷ step 1) below Adam's at the same lr, for every stable (lr, wd > 0)"
    adamw = _of(trials, ("adamw",))
    if not adamw.empty:
        adamw = adamw[adamw[HP_PREFIX + "weight_decay"] > 0]
    adam = _of(trials, ("adam",))
    if adamw.empty or adam.empty:
        return unmeasured(TASK, text, criterion, "needs adam trials and adamw trials with weight_decay > 0")
    adamw_ratios = norm_ratio(results, adamw)
    adam_ratios = norm_ratio(results, adam)
    pairs = []
    for _, row in adamw_ratios.iterrows():
        same_lr = adam_ratios[adam_ratios[LR] == row[LR]]
        if same_lr.empty or not (math.isfinite(row["norm_ratio"]) and math.isfinite(same_lr["norm_ratio"].iloc[0])):
            continue
        pairs.append((row, float(same_lr["norm_ratio"].iloc[0])))
    if not pairs:
        return unmeasured(TASK, text, criterion, "no lr where both AdamW and Adam trained stably")
    best = _best_by_rare_error(results, adamw)
    headline = next((p for p in pairs if best is not None and p[0]["config_id"] == best["config_id"]), pairs[0])
    row, adam_ratio = headline
    lr, wd = float(row[LR]), float(row[HP_PREFIX + "weight_decay"])
    last = int(adamw["steps"].max())
    untouched = (1.0 - lr * wd) ** (last - 1)
    shrinks = [p[0]["norm_ratio"] / p[1] for p in pairs]
    below = sum(s < 1.0 for s in shrinks)
    measured = (
        f"rare.norm end ÷ step 1 at lr={lr:.3g}, wd={wd:g}: AdamW {number(row['norm_ratio'])}, "
        f"Adam {number(adam_ratio)} (a row never updated: (1−lr·wd)^{last - 1} = {number(untouched)}); "
        f"AdamW below Adam at {below} of {len(pairs)} (lr, wd), AdamW ÷ Adam {number(min(shrinks))}–{number(max(shrinks))}"
    )
    return Claim(TASK, text, measured, criterion, below == len(pairs), float(row["norm_ratio"]))
