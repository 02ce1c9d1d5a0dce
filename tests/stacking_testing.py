"""Helpers for the stack tests: trials of one task differing in optimizer settings, and
the comparison of a stacked member's record with its one-trial record."""

from __future__ import annotations

import itertools
import math

import pytest

from adamlab.optimizers.registry import get_spec
from adamlab.store.records import TrialRecord
from adamlab.sweep.trials import Trial

#: float32 trajectories of a stack and of one trial differ by rounding only
RTOL = 1e-5
ABS = 1e-7


def trials_for(task: str, params: dict, optimizer: str, *, steps: int = 30, seed: int = 0,
               batch_size: int = 16, log_every: int = 5, eval_every: int = 10,
               device: str = "cpu", **grid: list) -> list[Trial]:
    """One trial per point of `grid` (hyperparameter -> values), registry defaults elsewhere."""
    keys = list(grid)
    return [
        Trial(
            task=task, task_params=dict(params), optimizer=optimizer,
            hparams={**get_spec(optimizer).defaults, **dict(zip(keys, combo, strict=True))},
            seed=seed, steps=steps, batch_size=batch_size, log_every=log_every,
            eval_every=eval_every, divergence_factor=1e3, device=device.split(":")[0],
            device_spec=device,
        )
        for combo in itertools.product(*(grid[k] for k in keys))
    ]


def assert_same_record(stacked: TrialRecord, one: TrialRecord) -> None:
    """The stacked member's record is the one-trial record, timings aside, values to RTOL."""
    for name in ("trial_id", "sweep", "task", "task_params", "optimizer", "variant", "hparams",
                 "seed", "steps", "batch_size", "device", "status", "steps_run", "error"):
        assert getattr(stacked, name) == getattr(one, name), name
    assert stacked.metrics["step"] == one.metrics["step"]
    assert stacked.metrics["metric"] == one.metrics["metric"]
    for step, metric, mine, theirs in zip(one.metrics["step"], one.metrics["metric"],
                                          stacked.metrics["value"], one.metrics["value"], strict=True):
        if math.isfinite(theirs):
            # abs: a cross-entropy near 0 is log(1 + tiny) of O(1) logits, exact to ~1e-7 in float32
            assert mine == pytest.approx(theirs, rel=RTOL, abs=ABS), (one.hparams, step, metric)
        else:
            assert not math.isfinite(mine) and (math.isnan(mine) == math.isnan(theirs)), (step, metric)
    assert stacked.final.keys() == one.final.keys() and stacked.best.keys() == one.best.keys()
