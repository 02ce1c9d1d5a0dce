"""The one training loop: run a stack of K >= 1 trials (same task, seed, batches and step counts;
optimizer hyperparameters that may differ per member) and return one record per trial. A plain
trial is a stack of one.

Member k of a stack is trained on the same batches from the same initial weights as it would be
alone, so its record does not depend on the stack it ran in, to float rounding.

What is recorded per member (all under `TrialRecord.metrics`, long format):
- `train_loss` at step 1, every `log_every` steps and the last step, with the task's
  `step_metrics()` and the optimizer diagnostics (`opt.*`) of that step's update;
- the task's `evaluate()` every `eval_every` steps and at the last step;
- each row's `wall_time`: seconds since the stack's training loop began. A record's
  `stack_wall_time_s` is the time from the stack's start (building it included) to that
  member's end, `stack_size` the members it started with, and `wall_time_s` the member's share:
  the build's time split evenly, then each stretch of training split evenly among the members
  still training in it (so a stack's shares add up to its time, and a member that diverged
  early costs little).
`train_loss` at step t is the loss of step t's batch before the t-th update; step metrics and
evaluations at step t are taken after it. `opt.lr` at a log step is the lr in force for that
step's update: the member's lr times the schedule's multiplier eta_t (see schedules.py; the
members of a stack share the schedule, set on the optimizer before every update).

Subnormal floats are flushed to zero while a stack trains (torch.set_flush_denormal, which the
Adam kernel's threads follow too): once a large weight decay kills a ReLU, Adam's moments of its
dead weights decay geometrically into subnormals, and CPU arithmetic on subnormals is ~40x
slower. Values that small (< 1.2e-38 in float32) change no metric. `final`/`best` per metric follow the task's
`metric_goals` (a metric not listed is minimised, unless its name ends in "accuracy").

Divergence: a member's loss is NaN/inf or above `divergence_factor` x its step-1 loss (the ratio
test is off when the step-1 loss is <= 0). On CPU every step's losses are checked (one
`.tolist()`), so a member stops at the very step it diverged. On CUDA a per-step read would
synchronise the device every step, so the running maximum of each member's loss is kept on the
device (NaN propagates through it) and read at log steps: a member stops by the next log step.
A diverged member gets its last `train_loss` row and status `diverged` at the step it was caught,
and leaves the stack before that step's update (its parameters and optimizer state are dropped,
so nothing of it reaches the others); the rest go on. It is not evaluated.

Failures: an exception while building or training a stack of one marks its trial failed with a
one-line `error`; the traceback is returned beside the record (the store writes it to
`errors/<trial_id>.txt`). A larger stack that cannot be built, or fails while training, runs its
unfinished trials as stacks of one instead (members that had already diverged keep their
records), with a warning on the "adamlab.sweep" logger: a stacking problem never costs a trial.
KeyboardInterrupt is not caught: an interrupted trial leaves no record and runs again next time.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
import traceback
from dataclasses import dataclass, field

from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec
from adamlab.optimizers.schedules import Schedule
from adamlab.store.records import TrialRecord
from adamlab.sweep.trial_record import MetricLog, trial_record
from adamlab.sweep.trials import Trial
from adamlab.tasks.device import resolve_device
from adamlab.tasks.registry import load_task, task_spec

ERROR_MAX_CHARS = 300

logger = logging.getLogger("adamlab.sweep")


@dataclass
class TrialOutcome:
    record: TrialRecord
    #: full traceback text of a failed trial, else None
    traceback: str | None = None


def seed_everything(seed: int) -> None:
    # lazy: torch loads only where a trial runs or a device is used, never at a command's start-up
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
        # numpy with torch, when a trial runs
        # lazy: numpy loads with torch, when a trial runs
        import numpy

        numpy.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy ships with the dependencies
        pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else ""
    if not isinstance(exc, AdamlabError):
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return message if len(message) <= ERROR_MAX_CHARS else message[: ERROR_MAX_CHARS - 3] + "..."


class _FailedAtStep(Exception):
    """Carries the step an exception in the training loop happened at (the cause is chained)."""
    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


@dataclass
class _Member:
    trial: Trial
    log: MetricLog = field(default_factory=MetricLog)
    threshold: float = math.inf
    outcome: TrialOutcome | None = None
    #: seconds of the stack's time that are this member's (see the module docstring)
    share: float = 0.0


def run_trial(trial: Trial, sweep_name: str) -> TrialOutcome:
    """Run `trial` alone (a stack of one) to its end and return its record."""
    return run_stack([trial], sweep_name)[0]


def run_stack(trials: list[Trial], sweep_name: str) -> list[TrialOutcome]:
    """Run `trials` (stackable: see `stacking.stack_key`) together; outcomes in `trials` order."""
    with flush_denormals():
        return _run_stack(trials, sweep_name)


@contextlib.contextmanager
def flush_denormals():
    """Subnormal floats read and computed as zero inside (see the module docstring)."""
    # lazy: torch loads only where a trial runs or a device is used, never at a command's start-up
    import torch

    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def _run_stack(trials: list[Trial], sweep_name: str) -> list[TrialOutcome]:
    started = time.perf_counter()
    members = [_Member(trial) for trial in trials]
    first = trials[0]
    goals: dict[str, str] = {}
    device = first.device_spec
    try:
        task, optimizer, device, goals = _build(trials)
    except Exception as exc:
        if len(trials) > 1:
            logger.warning(
                "could not stack %d trials of %s (%s); running them one at a time",
                len(trials), first.task, _one_line(exc),
            )
            return [run_trial(trial, sweep_name) for trial in trials]
        record = trial_record(
            first, sweep_name, device=str(device), status="failed", steps_run=0,
            wall_time_s=time.perf_counter() - started, log=members[0].log, goals=goals,
            error=_one_line(exc),
        )
        return [TrialOutcome(record, traceback.format_exc())]
    try:
        _train(members, task, optimizer, device, goals, sweep_name, started)
    except _FailedAtStep as failure:
        cause = failure.__cause__
        pending = [m for m in members if m.outcome is None]
        if len(trials) > 1:
            logger.warning(
                "a stack of %d %s trials failed at step %d (%s); running its %d unfinished "
                "trial(s) one at a time", len(trials), first.task, failure.step, _one_line(cause),
                len(pending),
            )
            for member in pending:
                member.outcome = run_trial(member.trial, sweep_name)
        else:
            trace = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
            member = members[0]
            member.outcome = TrialOutcome(trial_record(
                member.trial, sweep_name, device=str(device), status="failed",
                steps_run=failure.step, wall_time_s=time.perf_counter() - started, log=member.log,
                goals=goals, error=_one_line(cause), optimizer=optimizer, task=task,
            ), trace)
    return [m.outcome for m in members]


def _build(trials: list[Trial]):
    # lazy: torch loads only where a trial runs or a device is used, never at a command's start-up
    from adamlab.optimizers.stacked import build_stacked_optimizer

    first = trials[0]
    spec = task_spec(first.task, first.task_target, first.folder)
    goals = dict(spec.metric_goals)
    device = resolve_device(first.device_spec)
    seed_everything(first.seed)
    params = spec.Params.model_validate(first.task_params)
    if spec.plugin:
        # a task in plain PyTorch: built with the trial's seed after the global RNGs are seeded,
        # its members stacked by ModuleTask (vmap where the model allows, else one at a time)
        # lazy: torch loads only where a trial runs or a device is used, never at a command's start-up
        from adamlab.tasks.module_task import ModuleTask

        user_task = spec.user_class(seed=first.seed, device=device, **params.model_dump())
        task = ModuleTask(user_task, members=len(trials))
        sparse = False
    else:
        task_cls = load_task(first.task)
        task = task_cls(
            params, seed=first.seed, device=device, batch_size=first.batch_size, members=len(trials),
        )
        sparse = task_cls.uses_sparse_gradients(params)
    optimizer = build_stacked_optimizer(
        get_spec(first.optimizer, first.optimizer_target, first.folder), task.tensors,
        [t.hparams for t in trials], sparse=sparse, folder=first.folder,
    )
    return task, optimizer, device, goals


def _train(members: list[_Member], task, optimizer, device, goals, sweep_name: str, started: float) -> None:
    """The training loop of every member of the stack at once; ends each member's record."""
    # lazy: torch loads only where a trial runs or a device is used, never at a command's start-up
    import torch

    first = members[0].trial
    steps, log_every, eval_every = first.steps, first.log_every, first.eval_every
    schedule = Schedule.of(first.hparams, steps)
    factor, isfinite = first.divergence_factor, math.isfinite
    check_every_step = device.type == "cpu"
    active = list(members)  # the members still in the stack, in stack order
    peak = None  # CUDA: running max of each member's loss since the last check
    next_log, next_eval = 1, eval_every
    start = time.perf_counter()
    step = 0
    size = len(members)
    for member in members:
        member.share = (start - started) / size
    stretch_start = start

    def close_stretch() -> None:
        # the time since the last change of members, split among those training in it
        nonlocal stretch_start
        now = time.perf_counter()
        for member in active:
            member.share += (now - stretch_start) / len(active)
        stretch_start = now

    def end(member: _Member, status: str, steps_run: int) -> None:
        member.outcome = TrialOutcome(trial_record(
            member.trial, sweep_name, device=str(device), status=status, steps_run=steps_run,
            wall_time_s=member.share, log=member.log, goals=goals, error=None,
            optimizer=optimizer, task=task, stack_size=size,
            stack_wall_time_s=time.perf_counter() - started,
        ))

    try:
        for step in range(1, steps + 1):
            losses = task.loss_and_grad(step)
            is_log = step == next_log or step == steps
            if check_every_step or is_log:
                values = losses.tolist()
                if step == 1:
                    for member, value in zip(active, values, strict=True):
                        member.threshold = factor * value if value > 0 else math.inf
                worst = values
                if peak is not None:  # CUDA: also every step since the last check
                    worst = torch.maximum(peak, losses).tolist()
                    peak = None
                diverged = [
                    i for i, (value, high) in enumerate(zip(values, worst, strict=True))
                    if not isfinite(value) or value > active[i].threshold
                    or not isfinite(high) or high > active[i].threshold
                ]
                if diverged:
                    close_stretch()
                    now = time.perf_counter() - start
                    for i in diverged:
                        active[i].log.add(step, now, {"train_loss": values[i]})
                        end(active[i], "diverged", step)
                    kept = [i for i in range(len(active)) if i not in set(diverged)]
                    if not kept:
                        return
                    task.keep(kept)
                    optimizer.keep(kept, task.tensors)
                    active = [active[i] for i in kept]
                    values = [values[i] for i in kept]
            else:
                peak = losses if peak is None else torch.maximum(peak, losses)
            if not schedule.constant:
                optimizer.set_lr_multiplier(schedule.multiplier(step))
            if is_log:
                diagnostics = optimizer.step_and_diagnose()
                now = time.perf_counter() - start
                step_metrics = task.step_metrics()
                eta = optimizer.lr_multiplier
                for member, value, opt_metrics, task_metrics in zip(
                    active, values, diagnostics, step_metrics, strict=True
                ):
                    member.log.add(step, now, {"train_loss": value})
                    member.log.add(step, now, {"opt.lr": float(member.trial.hparams["lr"]) * eta})
                    member.log.add(step, now, opt_metrics)
                    member.log.add(step, now, task_metrics)
                next_log = log_every if step == 1 and log_every > 1 else step + log_every
            else:
                optimizer.step()
            if step == next_eval or step == steps:
                now = time.perf_counter() - start
                for member, metrics in zip(active, task.evaluate(), strict=True):
                    member.log.add(step, now, metrics)
                next_eval = step + eval_every
    except Exception as exc:
        raise _FailedAtStep(step) from exc
    close_stretch()
    for member in active:
        end(member, "finished", steps)
