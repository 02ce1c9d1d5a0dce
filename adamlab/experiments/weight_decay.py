"""Adam with L2 regularisation vs AdamW's decoupled weight decay (after Loshchilov & Hutter 2019).

Adam-L2 adds weight_decay * theta to the gradient, so the decay is divided by sqrt(v_hat) like
the gradient: weights with large gradients are barely regularised, and how much decay a setting
gives depends on lr and the gradient scale together. AdamW shrinks every weight by lr *
weight_decay per step, outside the adaptive scaling. Loshchilov & Hutter found AdamW's good
(lr, weight_decay) region lying along the axes (the best weight decay barely depends on lr)
where Adam-L2's is a diagonal, and AdamW's best test result at least as good.

Claims, on the task's test_loss (where regularisation shows first; test accuracy is near-flat
across weight decay on short MNIST runs) and, for the best result, test_accuracy too. A config's
value is its final value, mean over seeds; the best weight decay at an lr is the config with the
lowest test_loss among that lr's:
1. AdamW's best weight decay moves <= 1 grid step across the lr grid;
2. Adam-L2's best weight decay at the largest lr is >= 2 grid steps from the one at the smallest
   lr (the net shift along the lr axis: a diagonal, whichever way it leans);
3. AdamW's best test_loss is at most Adam-L2's (or inside its 95% seed interval);
4. AdamW's best test_accuracy is at least Adam-L2's (or inside its 95% seed interval).
Adam-L2 is every trial of optimizer adam (or torch_adam), AdamW every trial of adamw (or
torch_adamw), whatever their labels.
"""

from __future__ import annotations

import math

import pandas as pd

from adamlab.analysis.goals import Goal
from adamlab.experiments.claims import Claim, number, unmeasured
from adamlab.experiments.measures import LR, best_row, config_values, grid, grid_position
from adamlab.store.tables import HP_PREFIX, Results

TASK = "mnist_mlp"
COUPLED = ("adam", "torch_adam")
DECOUPLED = ("adamw", "torch_adamw")
WD = HP_PREFIX + "weight_decay"
LOSS, ACCURACY = "test_loss", "test_accuracy"
#: AdamW's best weight decay may move at most this many grid steps across lr
AXIS_STEPS = 1
#: Adam-L2's best weight decay moves at least this many
DIAGONAL_STEPS = 2


def claims(results: Results) -> list[Claim]:
    trials = results.trials[results.trials["task"] == TASK]
    coupled = trials[trials["optimizer"].isin(COUPLED)]
    decoupled = trials[trials["optimizer"].isin(DECOUPLED)]
    return [
        best_wd_claim(results, decoupled, "AdamW", axis=True),
        best_wd_claim(results, coupled, "Adam-L2", axis=False),
        best_result_claim(results, decoupled, coupled, LOSS, "min"),
        best_result_claim(results, decoupled, coupled, ACCURACY, "max"),
    ]


def best_wd_by_lr(configs: pd.DataFrame) -> pd.DataFrame:
    """Per lr (ascending): the best config's weight decay and value (lr, weight_decay, value);
    lrs where every config is unstable are left out."""
    rows = []
    for lr in grid(configs[LR]):
        best = best_row(configs[configs[LR] == lr])
        if best is not None and math.isfinite(best["value"]):
            rows.append({"lr": lr, "weight_decay": float(best[WD]), "value": float(best["value"])})
    return pd.DataFrame(rows, columns=["lr", "weight_decay", "value"])


def best_wd_claim(results: Results, trials: pd.DataFrame, name: str, *, axis: bool) -> Claim:
    if axis:
        text = f"{name}: the best weight decay varies little with lr (basin along the axes)"
        criterion = f"best weight_decay moves ≤ {AXIS_STEPS} grid step across lr"
    else:
        text = f"{name}: the best weight decay shifts with lr (basin along a diagonal)"
        criterion = f"best weight_decay at the largest lr ≥ {DIAGONAL_STEPS} grid steps from the smallest lr's"
    if trials.empty or WD not in trials:
        return unmeasured(TASK, text, criterion, f"no {name} trial on {TASK}")
    configs = config_values(results, trials, LOSS)
    per_lr = best_wd_by_lr(configs)
    if len(per_lr) < 2 or len(grid(configs[WD])) < 2:
        return unmeasured(TASK, text, criterion, "needs >= 2 stable lrs and >= 2 weight decays")
    wds = grid(configs[WD])
    positions = [grid_position(wd, wds) for wd in per_lr["weight_decay"]]
    moved = max(positions) - min(positions)
    shift = positions[-1] - positions[0]
    path = ", ".join(f"{lr:.3g}→{wd:g}" for lr, wd in zip(per_lr["lr"], per_lr["weight_decay"], strict=True))
    measured = (
        f"range {moved} grid step{'s' if moved != 1 else ''}, smallest→largest lr {shift:+d}; "
        f"best weight_decay by lr ({LOSS}): {path}"
    )
    if axis:
        return Claim(TASK, text, measured, criterion, moved <= AXIS_STEPS, float(moved))
    return Claim(TASK, text, measured, criterion, abs(shift) >= DIAGONAL_STEPS, float(shift))


def best_result_claim(
    results: Results, decoupled: pd.DataFrame, coupled: pd.DataFrame, metric: str, goal: Goal
) -> Claim:
    better = "≤" if goal == "min" else "≥"
    text = f"AdamW's best {metric} is at least as good as Adam-L2's"
    criterion = f"AdamW's best {better} Adam-L2's best, or inside its 95% seed interval"
    if decoupled.empty or coupled.empty:
        return unmeasured(TASK, text, criterion, "needs both AdamW and Adam-L2 trials")
    best_w = best_row(config_values(results, decoupled, metric, goal=goal), goal=goal)
    best_l2 = best_row(config_values(results, coupled, metric, goal=goal), goal=goal)
    if best_w is None or best_l2 is None or not (
        math.isfinite(best_w["value"]) and math.isfinite(best_l2["value"])
    ):
        return unmeasured(TASK, text, criterion, f"no stable config with {metric} for one of them")
    w, l2 = float(best_w["value"]), float(best_l2["value"])
    bound = best_l2["ci_high"] if goal == "min" else best_l2["ci_low"]
    bound = l2 if pd.isna(bound) else float(bound)
    holds = (w <= max(l2, bound)) if goal == "min" else (w >= min(l2, bound))
    interval = (
        f" [{number(best_l2['ci_low'], 4)}, {number(best_l2['ci_high'], 4)}]"
        if not pd.isna(best_l2["ci_low"]) else ""
    )
    measured = (
        f"AdamW {number(w, 4)} (lr={best_w[LR]:.3g}, wd={best_w[WD]:g}); Adam-L2 {number(l2, 4)}"
        f"{interval} (lr={best_l2[LR]:.3g}, wd={best_l2[WD]:g})"
    )
    return Claim(TASK, text, measured, criterion, holds, w)
