"""Which pending trials run together as one stack: the work a sweep hands out (to this
process, to the workers of `--jobs`, or to Ray).

Every trial runs in a stack of K >= 1 members (adamlab.sweep.runner). Trials share a stack when
they share everything but the optimizer hyperparameters that may differ per member: the task and
its params, seed, steps, batch size, log/eval cadence, divergence factor, device, the optimizer's
name (and plug-in target) and its discrete flags (amsgrad, bias_correction: everything outside
its spec's `per_member`). Optimizers without a hand-stacked form (torch's reference classes, a
user's) stack as one instance per member (optimizers/optimizer_stack.py), where every
hyperparameter but the schedule may differ; tasks with sparse gradients run in stacks of one.

`stack_size` caps K: None ("auto", the default) lets a stack grow to every trial that can share
it, as far as the memory of the device it runs on allows (`auto_stack_size`: the `jobs` stacks in
flight share one budget, MEMORY_SHARE of the memory available, cgroup limits included); 1 runs
every trial alone. A group of n stackable trials becomes ceil(n / K) stacks of near-equal size (33 with K 32
are 17 + 16, not 32 + 1), and with `jobs` workers stacks are split further until every worker
has one, when there are that many trials. Stacks keep sweep order (by their first trial).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from adamlab import host
from adamlab.optimizers.registry import get_spec
from adamlab.sweep.trials import Trial, canonical_json
from adamlab.tasks.registry import task_spec

logger = logging.getLogger("adamlab.sweep")

#: the share of the device's free memory the stacks in flight may fill together, `jobs` stacks
#: an equal part each (the rest: the worker processes, the data, torch's workspace, evaluation
#: chunks)
MEMORY_SHARE = 0.25


@dataclass
class WorkPlan:
    #: stacks in sweep order, each a list of trials (K >= 1)
    stacks: list[list[Trial]]
    #: why some trials run alone although stacking was asked for (one line per distinct reason)
    notes: list[str] = field(default_factory=list)


class _Stackability:
    """Whether a trial can share a stack, and how many members fit (cached per configuration)."""
    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._cache: dict[tuple, tuple[str | None, int]] = {}
        self.notes: dict[str, None] = {}

    def check(self, trial: Trial) -> tuple[dict | None, int]:
        """(the hyperparameters a stack of `trial` must share, or None when it runs alone;
        the most members that fit in memory)."""

        key = (trial.task, trial.task_target, canonical_json(trial.task_params), trial.device_spec,
               trial.optimizer, trial.optimizer_target, trial.batch_size)
        if key not in self._cache:
            self._cache[key] = self._reason_and_room(trial, self.jobs)
            reason = self._cache[key][0]
            if reason is not None:
                self.notes.setdefault(reason, None)
        reason, room = self._cache[key]
        if reason is not None:
            return None, 1
        spec = get_spec(trial.optimizer, trial.optimizer_target, trial.folder)
        return spec.shared_hparams(trial.hparams), room

    @staticmethod
    def _reason_and_room(trial: Trial, jobs: int) -> tuple[str | None, int]:
        task_cls = task_spec(trial.task, trial.task_target, trial.folder)
        params = task_cls.Params.model_validate(trial.task_params)
        if task_cls.uses_sparse_gradients(params):
            return (f"{trial.task} with sparse gradients runs one trial at a time (no optimizer "
                    f"takes sparse gradients per member)"), 1
        member = task_cls.member_bytes(params, trial.batch_size)
        return None, auto_stack_size(member, trial.device_spec, jobs)


def auto_stack_size(member_bytes: int, device_spec: str, jobs: int = 1) -> int:
    """The most members of `member_bytes` each that fit in a stack's part of the budget: the
    memory of the device the stacks run on (adamlab.host.available_memory: a GPU's, or the RAM
    available now within the cgroup's limit) x MEMORY_SHARE / `jobs` stacks in flight (at least
    1; unbounded where it cannot be told)."""

    free = host.available_memory(device_spec)
    if free is None or member_bytes <= 0:
        return 1 << 30
    return max(1, int(free * MEMORY_SHARE / max(1, jobs)) // member_bytes)


def stack_key(trial: Trial, shared_hparams: dict) -> tuple:
    """What every member of one stack has in common (the trial's id fields less per-member hparams)."""
    return (
        trial.task, canonical_json(trial.task_params), trial.seed, trial.steps, trial.batch_size,
        trial.log_every, trial.eval_every, trial.divergence_factor, trial.device, trial.device_spec,
        trial.optimizer, trial.optimizer_target, trial.task_target, canonical_json(shared_hparams),
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


def plan_stacks(trials: list[Trial], stack_size: int | None = None, *, jobs: int = 1) -> WorkPlan:
    """The stacks `trials` (pending, in sweep order) run as, at most `stack_size` trials each
(checked where it is read: adamlab.sweep.options.parse_stack_size); see the module docstring.

    Why some trials run alone is logged once per reason (a warning on the "adamlab.sweep"
    logger) when a stack size other than 1 was asked for explicitly, and kept in `notes`.
    """
    if stack_size == 1:
        return WorkPlan([[trial] for trial in trials])
    position = {trial.trial_id: i for i, trial in enumerate(trials)}
    stackability = _Stackability(jobs)
    groups: dict[tuple, list[Trial]] = {}
    room: dict[tuple, int] = {}
    stacks: list[list[Trial]] = []
    for trial in trials:
        shared, fits = stackability.check(trial)
        if shared is None:
            stacks.append([trial])
        else:
            key = stack_key(trial, shared)
            groups.setdefault(key, []).append(trial)
            room[key] = fits if stack_size is None else min(fits, stack_size)
    for key, group in groups.items():
        stacks.extend(_split(group, math.ceil(len(group) / room[key])))
    while len(stacks) < jobs:  # give every worker something to do
        largest = max(stacks, key=len, default=[])
        if len(largest) < 2:
            break
        stacks.remove(largest)
        stacks.extend(_split(largest, 2))
    stacks.sort(key=lambda stack: position[stack[0].trial_id])
    if stack_size is not None:
        for note in stackability.notes:
            logger.warning("stack_size: %s", note)
    return WorkPlan(stacks, list(stackability.notes))
