"""Run a stack of trials (same task, seed and step counts; different optimizer hyperparameters)
as one batched training, and return one record per trial, as `runner.run_trial` would have.

Member k of the stack is trained on the same batches from the same initial weights as its
one-trial run, so its record (metrics, `opt.*` diagnostics, status, steps_run) equals that run's
to float rounding. What the one-trial loop does per trial, this loop does per member:

- the step's losses are checked for divergence (every step on CPU; on CUDA the running maximum
  per member, read at log steps). A diverged member gets its last `train_loss` row and status
  `diverged` at the step it was caught, and leaves the stack before that step's update (its
  parameters and optimizer state are dropped, so nothing of it reaches the others); the rest
  go on.
- log steps record each member's train_loss, `opt.*` and the task's step metrics; evaluations
  each member's `evaluate()`.
- `wall_time` is seconds since the stack's loop began; a record's `wall_time_s` is the time from
  the stack's start to that member's end (the members ran together, each for that long).

If the stack cannot be built, or fails while training, its trials run one at a time instead
(members that had already diverged keep their records), with a warning on the
"adamlab.sweep" logger: a stacking problem never costs a trial.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

from adamlab.sweep.runner import (
    MetricLog,
    TrialOutcome,
    _one_line,
    run_trial,
    seed_everything,
    trial_record,
)
from adamlab.sweep.trials import Trial

logger = logging.getLogger("adamlab.sweep")


class _StackFailed(Exception):
    """Carries the step an exception in the stack's loop happened at (the cause is chained)."""

    def __init__(self, step: int):
        super().__init__(step)
        self.step = step


@dataclass
class _Member:
    trial: Trial
    log: MetricLog = field(default_factory=MetricLog)
    threshold: float = math.inf
    outcome: TrialOutcome | None = None


def run_stack(trials: list[Trial], sweep_name: str) -> list[TrialOutcome]:
    """Run `trials` (stackable: see `stacking.stack_key`) together; outcomes in `trials` order."""
    if len(trials) == 1:
        return [run_trial(trials[0], sweep_name)]
    started = time.perf_counter()
    members = [_Member(trial) for trial in trials]
    try:
        task, optimizer, device, goals = _build(trials)
    except Exception as exc:
        logger.warning(
            "could not stack %d trials of %s (%s); running them one at a time",
            len(trials), trials[0].task, _one_line(exc),
        )
        return [run_trial(trial, sweep_name) for trial in trials]
    try:
        _train(members, task, optimizer, device, goals, sweep_name, started)
    except _StackFailed as failure:
        pending = [m for m in members if m.outcome is None]
        logger.warning(
            "a stack of %d %s trials failed at step %d (%s); running its %d unfinished trial(s) "
            "one at a time", len(trials), trials[0].task, failure.step, _one_line(failure.__cause__),
            len(pending),
        )
        for member in pending:
            member.outcome = run_trial(member.trial, sweep_name)
    return [m.outcome for m in members]


def _build(trials: list[Trial]):
    from adamlab.optimizers.stacked import build_stacked_optimizer
    from adamlab.tasks.device import resolve_device
    from adamlab.tasks.registry import load_task
    from adamlab.tasks.stacked import load_stacked_task

    first = trials[0]
    task_cls = load_task(first.task)
    stacked_cls = load_stacked_task(first.task)
    if stacked_cls is None:
        raise ValueError(f"task {first.task!r} has no stacked form")
    device = resolve_device(first.device_spec)
    seed_everything(first.seed)
    task = stacked_cls(
        task_cls.Params.model_validate(first.task_params),
        seed=first.seed, device=device, batch_size=first.batch_size, members=len(trials),
    )
    optimizer = build_stacked_optimizer(first.optimizer, task.tensors, [t.hparams for t in trials])
    return task, optimizer, device, dict(task_cls.metric_goals)


def _end(member: _Member, status: str, steps_run: int, device, goals, sweep_name, started,
         optimizer) -> None:
    member.outcome = TrialOutcome(trial_record(
        member.trial, sweep_name, device=str(device), status=status, steps_run=steps_run,
        wall_time_s=time.perf_counter() - started, log=member.log, goals=goals, error=None,
        optimizer=optimizer,
    ))


def _train(members: list[_Member], task, optimizer, device, goals, sweep_name: str, started: float) -> None:
    """The one-trial loop of `runner._train`, for every member of the stack at once."""
    import torch

    first = members[0].trial
    steps, log_every, eval_every = first.steps, first.log_every, first.eval_every
    factor, isfinite = first.divergence_factor, math.isfinite
    check_every_step = device.type == "cpu"
    active = list(members)  # the members still in the stack, in stack order
    peak = None  # CUDA: running max of each member's loss since the last check
    next_log, next_eval = 1, eval_every
    start = time.perf_counter()
    step = 0

    def end(member: _Member, status: str, steps_run: int) -> None:
        _end(member, status, steps_run, device, goals, sweep_name, started, optimizer)

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
            if is_log:
                diagnostics = optimizer.step_and_diagnose()
                now = time.perf_counter() - start
                step_metrics = task.step_metrics()
                for member, value, opt_metrics, task_metrics in zip(
                    active, values, diagnostics, step_metrics, strict=True
                ):
                    member.log.add(step, now, {"train_loss": value})
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
        raise _StackFailed(step) from exc
    for member in active:
        end(member, "finished", steps)
