"""Which pending trials run together as one stack (issue 8's batched trials), and the units of
work a sweep hands out (to this process or to the workers of `--jobs`).

Trials stack when they share everything but the optimizer hyperparameters that may differ per
member: the task and its params, seed, steps, batch size, log/eval cadence, divergence factor,
device, the optimizer's registry name and its discrete flags (amsgrad, bias_correction: the
optimizer's `StackedForm.shared_hparams`). And only when both the task and the optimizer have a
stacked form (tasks/stacked.py, optimizers/stacked.py) that takes the configuration; any other
trial is a unit of its own and runs exactly as without batching.

A group of n stackable trials becomes ceil(n / batch_trials) stacks of near-equal size (33 with
batch_trials 32 are 17 + 16, not 32 + 1), and with `jobs` workers stacks are split further until
every worker has a unit, when there are that many trials. Units keep sweep order (by their first
trial).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from adamlab.sweep.runner import TrialOutcome, run_trial
from adamlab.sweep.trials import Trial, canonical_json

logger = logging.getLogger("adamlab.sweep")


@dataclass
class WorkPlan:
    #: units of work in sweep order: a one-trial unit runs as before, a larger one as a stack
    units: list[list[Trial]]
    #: why trials that asked to be batched run one at a time (one line per distinct reason)
    notes: list[str] = field(default_factory=list)

    @property
    def stacks(self) -> list[list[Trial]]:
        return [unit for unit in self.units if len(unit) > 1]


class _Stackability:
    """Whether a trial's task and optimizer have stacked forms taking it (cached per configuration)."""

    def __init__(self) -> None:
        self._reasons: dict[tuple, str | None] = {}
        self.notes: dict[str, None] = {}

    def shared_hparams(self, trial: Trial) -> dict | None:
        """The hyperparameters a stack of `trial` must share, or None when it cannot stack."""
        from adamlab.optimizers.registry import get_spec

        key = (trial.task, canonical_json(trial.task_params), trial.device_spec, trial.optimizer)
        if key not in self._reasons:
            self._reasons[key] = self._reason(trial)
            if self._reasons[key] is not None:
                self.notes.setdefault(self._reasons[key], None)
        if self._reasons[key] is not None:
            return None
        return get_spec(trial.optimizer).shared_hparams(trial.hparams)

    @staticmethod
    def _reason(trial: Trial) -> str | None:
        import torch

        from adamlab.optimizers.registry import OPTIMIZERS
        from adamlab.tasks.registry import load_task
        from adamlab.tasks.stacked import load_stacked_task

        if OPTIMIZERS[trial.optimizer].stacked is None:
            stackable = ", ".join(name for name, spec in OPTIMIZERS.items() if spec.stacked)
            return (f"optimizer {trial.optimizer} has no stacked form (stackable: "
                    f"{stackable}): its trials run one at a time")
        stacked = load_stacked_task(trial.task)
        if stacked is None:
            return f"task {trial.task} has no stacked form: its trials run one at a time"
        params = load_task(trial.task).Params.model_validate(trial.task_params)
        declined = stacked.declines(params, torch.device(trial.device_spec))
        if declined is not None:
            return f"{trial.task} on {trial.device}: {declined}"
        return None


def stack_key(trial: Trial, shared_hparams: dict) -> tuple:
    """What every member of one stack has in common (the trial's id fields less per-member hparams)."""
    return (
        trial.task, canonical_json(trial.task_params), trial.seed, trial.steps, trial.batch_size,
        trial.log_every, trial.eval_every, trial.divergence_factor, trial.device, trial.device_spec,
        trial.optimizer, canonical_json(shared_hparams),
    )


def _split(trials: list[Trial], parts: int) -> list[list[Trial]]:
    """`trials` cut into `parts` consecutive runs whose sizes differ by at most one."""
    size, extra = divmod(len(trials), parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(trials[start:end])
        start = end
    return out


def plan_units(trials: list[Trial], batch_trials: int, *, jobs: int = 1) -> WorkPlan:
    """The units `trials` (pending, in sweep order) run as; see the module docstring.

    Why some trials run one at a time despite batch_trials > 1 is logged once per reason (a
    warning on the "adamlab.sweep" logger) and kept in `WorkPlan.notes`.
    """
    if batch_trials < 1:
        raise ValueError(f"batch_trials must be >= 1, got {batch_trials}")
    if batch_trials == 1:
        return WorkPlan([[trial] for trial in trials])
    position = {trial.trial_id: i for i, trial in enumerate(trials)}
    stackability = _Stackability()
    groups: dict[tuple, list[Trial]] = {}
    units: list[list[Trial]] = []
    for trial in trials:
        shared = stackability.shared_hparams(trial)
        if shared is None:
            units.append([trial])
        else:
            groups.setdefault(stack_key(trial, shared), []).append(trial)
    for group in groups.values():
        units.extend(_split(group, math.ceil(len(group) / batch_trials)))
    while len(units) < jobs:  # give every worker something to do
        largest = max(units, key=len, default=[])
        if len(largest) < 2:
            break
        units.remove(largest)
        units.extend(_split(largest, 2))
    units.sort(key=lambda unit: position[unit[0].trial_id])
    for note in stackability.notes:
        logger.warning("batch_trials: %s", note)
    return WorkPlan(units, list(stackability.notes))


def run_unit(unit: list[Trial], sweep_name: str) -> list[TrialOutcome]:
    """Run one unit of work: a single trial as `run_trial`, more as a stack. Outcomes in order."""
    if len(unit) == 1:
        return [run_trial(unit[0], sweep_name)]
    from adamlab.sweep.stacked_runner import run_stack

    return run_stack(unit, sweep_name)
