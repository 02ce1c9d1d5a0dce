"""Weight decay in three parametrisations (after Loshchilov & Hutter 2019): Adam with L2
regularisation, AdamW as torch writes it, and AdamW as the paper's Algorithm 2 writes it.

Adam-L2 adds weight_decay * theta to the gradient, so the decay is divided by sqrt(v_hat) like
the gradient and a step's decay is ~lr * wd / sqrt(v_hat): the lr and the gradient scale set how
much decay a setting gives. AdamW decouples the decay from the adaptive step. torch shrinks theta
by lr * wd per step (`weight_decay_scaling: lr`); Loshchilov & Hutter's Algorithm 2 shrinks it by
eta_t * wd, eta_t the schedule multiplier (`weight_decay_scaling: schedule`), which does not
depend on the base lr. Their finding: with the decay decoupled (their form), the good (lr, wd)
region lies along the axes (the best wd barely moves with lr); with L2 it is a diagonal. In
torch's units the same hypothesis reads: the best lr * wd stays put (a slope -1 diagonal).

Who is who: Adam-L2 is every trial of optimizer adam (or torch_adam) with weight_decay > 0;
lr-scaled AdamW every adamw (or torch_adamw) trial with weight_decay_scaling lr (the default)
and weight_decay > 0; schedule-scaled AdamW every adamw trial with weight_decay_scaling schedule
and weight_decay > 0. At weight_decay = 0 the three are one update (Adam), so the trials of
these optimizers with weight_decay = 0 are the shared no-decay control, at every lr. The control
is not a point of any weight-decay grid: grid steps and grid edges are judged on the positive
weight decays only (a best at the smallest positive wd is an open edge, whatever wd = 0 did).

The claims, fixed before the sweep ran, on the task's test_loss (selection on val_loss: the
best weight decay at an lr, and each variant's best config, are chosen on the validation loss;
test metrics are what is reported); a config's value is its final value, mean over seeds:
1. schedule-scaled AdamW (the paper's form): its best weight decay moves <= 1 grid step across
   the lr grid (the good region is axis-aligned);
2. Adam-L2: its best weight decay falls as lr rises, >= 2 grid steps from the smallest lr to the
   largest, one way (non-increasing in lr: a negative diagonal). The paper's contrast is 1 vs 2;
3. lr-scaled AdamW (torch's form), the same hypothesis in torch's units: the best lr * wd moves
   <= 1 grid step across lr (a slope -1 diagonal in lr x wd). It needs the lr and wd grids
   spaced alike in log10 (the config uses half-decades for both), so that lr * wd has a grid;
4. schedule-scaled AdamW's best test_loss is at most 1% above Adam-L2's (paired per-seed
   ratio < 1.01 over its whole 95% interval: non-inferiority, margin fixed here in advance);
5. its best test error rate (1 − test_accuracy) is at most 1% above Adam-L2's, the same way;
6. weight decay helps in each parametrisation: each variant's best config (lr, wd > 0) has a
   test_loss at least 1% below the no-decay control's best (over lr): paired per-seed ratio
   < 0.99 over its whole 95% interval, Holm over the three variants (> 0.99 over it fails).
Claims 1-3 are where-is-the-best claims (`adamlab.experiments.claims`): weight decay must first
matter, at >= 2 lrs, among the positive weight decays (repeated-measures F-test over them, seeds
as blocks, on the selection metric val_loss, Holm over the lrs, 5%; or some weight decay
diverging where another does not); then each lr's best weight decay is the set of those not
shown worse than the observed best (one-sided paired t-tests, Holm over every contrast of the
claim), and the claim holds (fails) when it holds (fails) for every choice from those sets. A
best at an open edge of the grid makes the claim inconclusive.

How these criteria came to be what they are (each change made before, or independently of,
the results it could move) is written down in docs/criteria_history.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from adamlab.analysis.goals import Goal
from adamlab.analysis.grid_edges import OPEN, grid_edges
from adamlab.analysis.stats import paired_comparison
from adamlab.experiments.claims import (
    MIN_EFFECT,
    Claim,
    WhereLevel,
    comparison_part,
    guard,
    interval_text,
    number,
    parts_verdict,
    sets_text,
    times,
    unmeasured,
    where_decision,
)
from adamlab.experiments.measures import (
    LR,
    best_row,
    budget_note,
    config_values,
    grid,
    grid_position,
    seeds_of,
)
from adamlab.store.tables import HP_PREFIX, Results

TASK = "mnist_mlp"
COUPLED = ("adam", "torch_adam")
DECOUPLED = ("adamw", "torch_adamw")
WD = HP_PREFIX + "weight_decay"
SCALING = HP_PREFIX + "weight_decay_scaling"
LOSS, ACCURACY = "test_loss", "test_accuracy"
#: schedule-scaled AdamW's best weight decay may move at most this many grid steps across lr
AXIS_STEPS = 1
#: Adam-L2's best weight decay falls at least this many, one way
DIAGONAL_STEPS = 2
#: lr-scaled AdamW's best lr * wd may move at most this many grid steps across lr
PRODUCT_STEPS = 1
#: weight decay must matter (beyond seed noise) at this many lrs for the where-claims
LRS_WHERE_WD_MATTERS = 2
#: "as good as": AdamW's best test_loss (and test error rate) at most this much above Adam-L2's,
#: relative: the project's one minimum effect (see `adamlab.experiments.claims.MIN_EFFECT`)
AS_GOOD_AS_MARGIN = MIN_EFFECT
#: lr and wd grids count as spaced alike when their log10 steps agree to this
SPACING_TOLERANCE = 0.01

ADAM_L2, ADAMW_LR, ADAMW_SCHEDULE = "Adam-L2", "AdamW (wd × lr)", "AdamW (wd × schedule)"


@dataclass(frozen=True)
class Variants:
    """The trials of each parametrisation (weight_decay > 0) and the shared no-decay control."""

    l2: pd.DataFrame
    lr_scaled: pd.DataFrame
    schedule_scaled: pd.DataFrame
    control: pd.DataFrame

    def named(self) -> list[tuple[str, pd.DataFrame]]:
        return [(ADAM_L2, self.l2), (ADAMW_LR, self.lr_scaled),
                (ADAMW_SCHEDULE, self.schedule_scaled)]


def split_variants(trials: pd.DataFrame) -> Variants:
    """Split `trials` (one task) by optimizer, weight_decay_scaling and weight_decay > 0."""
    adam_family = trials[trials["optimizer"].isin(COUPLED + DECOUPLED)]
    if WD not in adam_family:
        empty = adam_family.iloc[:0]
        return Variants(empty, empty, empty, empty)
    decays = adam_family[WD].astype(float) > 0
    if SCALING in adam_family:
        scaling = adam_family[SCALING].where(adam_family[SCALING].notna(), "lr")
    else:
        scaling = pd.Series("lr", index=adam_family.index)
    decoupled = adam_family["optimizer"].isin(DECOUPLED)
    return Variants(
        l2=adam_family[decays & ~decoupled],
        lr_scaled=adam_family[decays & decoupled & (scaling == "lr")],
        schedule_scaled=adam_family[decays & decoupled & (scaling == "schedule")],
        control=adam_family[~decays],
    )


def claims(results: Results) -> list[Claim]:
    trials = results.trials[results.trials["task"] == TASK]
    variants = split_variants(trials)
    return [
        best_wd_claim(results, variants.schedule_scaled, ADAMW_SCHEDULE, "axis"),
        best_wd_claim(results, variants.l2, ADAM_L2, "diagonal"),
        best_wd_claim(results, variants.lr_scaled, ADAMW_LR, "product"),
        best_result_claim(results, variants.schedule_scaled, variants.l2, LOSS, "min"),
        best_result_claim(results, variants.schedule_scaled, variants.l2, ACCURACY, "max"),
        decay_helps_claim(results, variants),
    ]


def best_wd_by_lr(configs: pd.DataFrame) -> pd.DataFrame:
    """Per lr (ascending): the best config's weight decay and value (lr, weight_decay, value,
    config_id); lrs where every config is unstable are left out."""
    rows = []
    for lr in grid(configs[LR]):
        best = best_row(configs[configs[LR] == lr])
        if best is not None and math.isfinite(best["value"]):
            rows.append({"lr": lr, "weight_decay": float(best[WD]), "value": float(best["value"]),
                         "config_id": int(best["config_id"])})
    return pd.DataFrame(rows, columns=["lr", "weight_decay", "value", "config_id"])


def monotone(positions: Sequence[int]) -> bool:
    steps = [b - a for a, b in zip(positions[:-1], positions[1:], strict=True)]
    return all(s >= 0 for s in steps) or all(s <= 0 for s in steps)


def non_increasing(positions: Sequence[int]) -> bool:
    return all(b <= a for a, b in zip(positions[:-1], positions[1:], strict=True))


def same_log_spacing(lrs: Sequence[float], wds: Sequence[float]) -> bool:
    """Both grids evenly spaced in log10 by the same step (so lr * wd has a grid)."""
    steps = [math.log10(b / a) for values in (lrs, wds)
             for a, b in zip(values[:-1], values[1:], strict=True)]
    return bool(steps) and max(steps) - min(steps) <= SPACING_TOLERANCE * max(steps)


def path_positions(per_lr: pd.DataFrame, lrs: list[float], wds: list[float], shape: str) -> list[int]:
    """Per lr of `per_lr`: the best weight decay's grid position, or for "product" the grid
    position of lr * wd (lr's position plus wd's, on grids spaced alike)."""
    positions = [grid_position(wd, wds) for wd in per_lr["weight_decay"]]
    if shape == "product":
        positions = [p + grid_position(lr, lrs) for p, lr in zip(positions, per_lr["lr"], strict=True)]
    return positions


def path_holds(positions: Sequence[int], shape: str) -> bool | None:
    if len(positions) < 2:
        return None
    moved = max(positions) - min(positions)
    if shape == "axis":
        return moved <= AXIS_STEPS
    if shape == "product":
        return moved <= PRODUCT_STEPS
    return non_increasing(positions) and positions[0] - positions[-1] >= DIAGONAL_STEPS


def where_levels(configs: pd.DataFrame, wds: list[float]) -> list[WhereLevel]:
    """Per lr (ascending) with a stable config: the positive weight decays tried there, as
    candidates of a where-is-the-best claim (values: the selection metric per seed)."""
    levels = []
    for lr in grid(configs[LR]):
        at = configs[configs[LR] == lr].reset_index(drop=True)
        best = best_row(at)
        if best is None or not math.isfinite(best["value"]):
            continue
        levels.append(WhereLevel(
            label=f"lr={lr:.3g}",
            positions=tuple(grid_position(wd, wds) for wd in at[WD]),
            seed_values=tuple(at["seed_select"]),
            stable=tuple(bool(n == 0) for n in at["n_diverged"] + at["n_failed"]),
            best=int(at.index[at["config_id"] == best["config_id"]][0]),
        ))
    return levels


WHERE_TEXT = {
    "axis": ("{name}: the best weight decay barely moves with lr (good region along the axes)",
             f"best weight_decay moves ≤ {AXIS_STEPS} grid step across lr"),
    "diagonal": ("{name}: the best weight decay falls as lr rises (a negative diagonal)",
                 f"best weight_decay falls ≥ {DIAGONAL_STEPS} grid steps from the smallest lr to "
                 "the largest, never rising"),
    "product": ("{name}: the best lr·wd stays put (a slope −1 diagonal in lr × wd)",
                f"best lr·weight_decay moves ≤ {PRODUCT_STEPS} grid step across lr (lr and wd "
                "grids spaced alike)"),
}


def best_wd_claim(results: Results, trials: pd.DataFrame, name: str, shape: str) -> Claim:
    text, criterion = WHERE_TEXT[shape]
    text = text.format(name=name)
    criterion += (
        f", for every plausible best (95% sets; see the report's rules); needs weight decay to "
        f"matter (F-test over the positive weight decays, Holm over the lrs, 5%) at ≥ "
        f"{LRS_WHERE_WD_MATTERS} lrs"
    )
    if trials.empty:
        return unmeasured(TASK, text, criterion, f"no {name} trial with weight_decay > 0 on {TASK}")
    configs = config_values(results, trials, LOSS)
    per_lr = best_wd_by_lr(configs)
    lrs, wds = grid(configs[LR]), grid(configs[WD])
    if len(per_lr) < 2 or len(wds) < 2:
        return unmeasured(TASK, text, criterion, "needs >= 2 stable lrs and >= 2 weight decays")
    if shape == "product" and not same_log_spacing(lrs, wds):
        return unmeasured(TASK, text, criterion,
                          "the lr and weight_decay grids are not spaced alike in log10")
    positions = path_positions(per_lr, lrs, wds, shape)
    moved = max(positions) - min(positions)
    shown = "lr·wd" if shape == "product" else "weight_decay"
    path = ", ".join(
        f"{lr:.3g}→{wd:.3g}" + (f" (lr·wd {lr * wd:.3g})" if shape == "product" else "")
        for lr, wd in zip(per_lr["lr"], per_lr["weight_decay"], strict=True))
    levels = where_levels(configs, wds)
    lr_positions = [grid_position(lr, lrs) for lr in per_lr["lr"]]  # aligned with `levels`

    def holds(chosen: tuple[int, ...]) -> bool:
        shifted = [p + (lp if shape == "product" else 0)
                   for p, lp in zip(chosen, lr_positions, strict=True)]
        return bool(path_holds(shifted, shape))

    decision = where_decision(levels, holds, levels_that_must_matter=LRS_WHERE_WD_MATTERS,
                              what="weight decay", levels_name="lrs")
    trend = ""
    if shape == "diagonal":
        drop = positions[0] - positions[-1]
        trend = (f", fell {drop}" if drop >= 0 else f", rose {-drop}") + (
            "" if non_increasing(positions) else ", rising somewhere")
    measured = (
        f"best {shown} ranges over {moved} grid step{'s' if moved != 1 else ''}{trend}; best "
        f"weight_decay by lr (selected on val_loss): {path}; "
        + sets_text(levels, decision, lambda p: f"{wds[p]:.3g}")
        + f"; weight decay matters at {decision.mattering} of {decision.judged} lrs"
    )
    value = float(moved)
    if decision.verdict == "inconclusive":
        return guard(Claim(TASK, text, measured, criterion, "inconclusive", value,
                           why=decision.why), n_seeds=len(seeds_of(configs)))
    at_edge = []
    for lr, cid in zip(per_lr["lr"], per_lr["config_id"], strict=True):
        row = configs[configs["config_id"] == cid].iloc[0]
        edge = grid_edges(configs[configs[LR] == lr], row, [WD]).get(WD)
        if edge is not None and edge.flag == OPEN:
            at_edge.append(f"at lr={lr:.3g}, {edge.detail}")
    claim = Claim(TASK, text, measured, criterion, decision.verdict, value)
    return guard(claim, n_seeds=len(seeds_of(configs)), unbracketed_any=at_edge)


def best_result_claim(
    results: Results, decoupled: pd.DataFrame, coupled: pd.DataFrame, metric: str, goal: Goal
) -> Claim:
    text = f"{ADAMW_SCHEDULE}'s best {metric} is at least as good as {ADAM_L2}'s"
    what = "test_loss" if goal == "min" else "test error rate (1 − test_accuracy)"
    criterion = (f"AdamW's best {what} ÷ Adam-L2's best < {1 + AS_GOOD_AS_MARGIN:g} (paired "
                 "per-seed ratio, whole 95% interval: non-inferiority at 2.5%)")
    if decoupled.empty or coupled.empty:
        return unmeasured(TASK, text, criterion,
                          f"needs both {ADAMW_SCHEDULE} and {ADAM_L2} trials with weight_decay > 0")
    w_configs = config_values(results, decoupled, metric, goal=goal)
    l2_configs = config_values(results, coupled, metric, goal=goal)
    best_w, best_l2 = best_row(w_configs, goal=goal), best_row(l2_configs, goal=goal)
    if best_w is None or best_l2 is None or not (
        math.isfinite(best_w["value"]) and math.isfinite(best_l2["value"])
    ):
        return unmeasured(TASK, text, criterion, f"no stable config with {metric} for one of them")
    mine, theirs = best_w["seed_values"], best_l2["seed_values"]
    if goal == "max":  # accuracies are compared as error rates, a positive metric
        mine = {s: 1.0 - v for s, v in mine.items()}
        theirs = {s: 1.0 - v for s, v in theirs.items()}
    if not all(v > 0 for v in [*mine.values(), *theirs.values()]):
        return unmeasured(TASK, text, criterion, f"a {what} of 0: no ratio")
    comparison = paired_comparison(mine, theirs, scale="ratio")
    if comparison is None:
        return unmeasured(TASK, text, criterion, "the two best configs share no ok seed")
    part = comparison_part("AdamW ÷ Adam-L2", mine, theirs, scale="ratio",
                           threshold=1 + AS_GOOD_AS_MARGIN, above=False)
    verdict = parts_verdict([part])
    effect = f"AdamW ÷ Adam-L2 ({what}) {comparison.estimate:.4f}" + interval_text(
        comparison.low, comparison.high, lambda v: f"{v:.4f}")
    measured = (
        f"AdamW {number(best_w['value'], 4)} (lr={best_w[LR]:.3g}, wd={best_w[WD]:.3g}); Adam-L2 "
        f"{number(best_l2['value'], 4)} (lr={best_l2[LR]:.3g}, wd={best_l2[WD]:.3g}); {effect} "
        f"over {comparison.n} paired seeds"
        + budget_note("AdamW", w_configs, "Adam-L2", l2_configs)
    )
    claim = Claim(TASK, text, measured, criterion, verdict, comparison.estimate,
                  why="the interval straddles the margin" if verdict == "inconclusive" else "")
    return guard(
        claim,
        n_seeds=comparison.n,
        unbracketed_for=_unbracketed("AdamW", w_configs, best_w),
        unbracketed_against=_unbracketed("Adam-L2", l2_configs, best_l2),
    )


def decay_helps_claim(results: Results, variants: Variants) -> Claim:
    text = "weight decay helps: each parametrisation's best beats the best without decay"
    criterion = (f"test_loss of each variant's best (lr, wd > 0) ÷ the wd = 0 control's best < "
                 f"{1 - MIN_EFFECT:g} (paired per-seed ratio, whole 95% interval; Holm over the "
                 "variants)")
    named = [(name, trials) for name, trials in variants.named() if not trials.empty]
    if variants.control.empty or not named:
        return unmeasured(TASK, text, criterion,
                          "needs trials with weight_decay = 0 and trials with weight_decay > 0")
    control = config_values(results, variants.control, LOSS)
    best_control = best_row(control)
    if best_control is None or not math.isfinite(best_control["value"]):
        return unmeasured(TASK, text, criterion, "no stable wd = 0 control")
    parts, texts, seeds = [], [], []
    undecided = False
    against = _unbracketed("wd = 0", control, best_control)
    favoured: list[str] = []
    budgets = ""
    for name, trials in named:
        configs = config_values(results, trials, LOSS)
        best = best_row(configs)
        if best is None or not math.isfinite(best["value"]):
            undecided = True
            texts.append(f"{name}: no stable config")
            continue
        comparison = paired_comparison(best["seed_values"], best_control["seed_values"], scale="ratio")
        if comparison is None:
            undecided = True
            texts.append(f"{name}: shares no ok seed with the control")
            continue
        parts.append(comparison_part(name, best["seed_values"], best_control["seed_values"],
                                     scale="ratio", threshold=1 - MIN_EFFECT, above=False))
        seeds.append(comparison.n)
        favoured += _unbracketed(name, configs, best)
        budgets += budget_note(name, configs, "wd = 0", control)
        texts.append(f"{name} (lr={best[LR]:.3g}, wd={best[WD]:.3g}) {number(best['value'], 4)}: "
                     f"{times(comparison.estimate)}{interval_text(comparison.low, comparison.high)}")
    verdict = parts_verdict(parts)
    if undecided and verdict == "holds":
        verdict = "inconclusive"
    measured = (f"wd = 0 best (lr={best_control[LR]:.3g}) {number(best_control['value'], 4)}; "
                + "; ".join(texts) + budgets)
    claim = Claim(TASK, text, measured, criterion, verdict, math.nan,
                  why="an interval straddles the criterion" if verdict == "inconclusive" else "")
    return guard(claim, n_seeds=min(seeds) if seeds else 0, unbracketed_against=against,
                 unbracketed_for=favoured)


def _unbracketed(name: str, configs: pd.DataFrame, best: pd.Series) -> list[str]:
    edges = grid_edges(configs, best, [c for c in (LR, WD) if c in configs])
    return [f"{name}: {edge.detail}" for edge in edges.values() if not edge.bracketed]
