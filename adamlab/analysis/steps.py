"""Steps to a target, at the resolution they were measured.

A config's curve is its seed-mean curve of the metric (running best under rule `best`). A
training metric (logged at the training-log steps, like train_loss) is interpolated linearly
between the last logged step short of the target and the first that reaches it. An evaluation
metric (logged only every `eval_every` steps) is known only at its eval steps: the answer is
"≤ S (eval every E)", or "≤ S (first eval)" when the first evaluation already reaches it, never
a bare number that reads like a measured step.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import pandas as pd

from adamlab.analysis.goals import Goal


@dataclass(frozen=True)
class Reached:
    #: the step (interpolated, or the eval step that first reached it); NaN when never
    step: float
    #: for the table, e.g. "1,234", "≤ 500 (eval every 500)", "≤ 10 (first log)", "not reached"
    text: str
    #: True when `step` is interpolated on the training curve
    interpolated: bool


NOT_REACHED = Reached(math.nan, "not reached", False)


def steps_to_target(
    curve: pd.Series, target: float, *, goal: Goal, training_steps: Collection[int] = ()
) -> Reached:
    """When `curve` (index: step) first reaches `target`. `training_steps`: the steps at which
    training metrics were logged; a curve logged at exactly those is interpolated."""
    if curve.empty:
        return Reached(math.nan, "—", False)
    steps = [int(s) for s in curve.index]
    values = curve.to_numpy(dtype=float)
    reached = values <= target if goal == "min" else values >= target
    if not reached.any():
        return NOT_REACHED
    k = int(reached.argmax())
    # a training metric is logged at every training-log step (up to the curve's end)
    training = set(steps) == {s for s in training_steps if s <= steps[-1]}
    if k == 0:
        where = "first log" if training else "first eval"
        return Reached(float(steps[0]), f"≤ {steps[0]:,} ({where})", False)
    if training:
        s0, s1, v0, v1 = steps[k - 1], steps[k], values[k - 1], values[k]
        step = s1 if v1 == v0 else s0 + (target - v0) / (v1 - v0) * (s1 - s0)
        step = min(max(step, s0), s1)
        return Reached(float(step), f"{step:,.0f}", True)
    cadence = min(b - a for a, b in zip(steps[:-1], steps[1:], strict=True))
    return Reached(float(steps[k]), f"≤ {steps[k]:,} (eval every {cadence:,})", False)
