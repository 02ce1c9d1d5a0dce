"""Run one trial: build its task and optimizer from the trial seed, train, log, and return its record.

What is recorded (all under `TrialRecord.metrics`, long format):
- `train_loss` at step 1, every `log_every` steps and the last step, with the task's
  `step_metrics()` and the optimizer diagnostics (`opt.*`) of that step's update;
- the task's `evaluate()` every `eval_every` steps and at the last step;
- each row's `wall_time`: seconds since the training loop began.
`train_loss` at step t is the loss of step t's batch before the t-th update; step metrics and
evaluations at step t are taken after it. `final`/`best` per metric follow the task's
`metric_goals` (a metric not listed is minimised, unless its name ends in "accuracy").

Divergence: the loss is NaN/inf or above `divergence_factor` x the step-1 loss (the ratio test is
off when the step-1 loss is <= 0). On CPU every step's loss is checked (one `.item()`, about a
microsecond), so a trial stops at the very step it diverged. On CUDA a per-step `.item()` would
synchronise the device every step, so the running maximum of the loss is kept on the device
(NaN propagates through it) and read at log steps: the trial stops by the next log step.
A diverged trial stops before that step's update and is not evaluated; its last `train_loss` row
is the diverged value, and `steps_run` is the step where it was caught.

An exception inside the trial marks it failed with a one-line `error`; the traceback is returned
beside the record (the store writes it to `errors/<trial_id>.txt`). KeyboardInterrupt is not
caught: an interrupted trial leaves no record and runs again next time.
"""

from __future__ import annotations

import math
import random
import time
import traceback
from dataclasses import dataclass

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store.records import TrialRecord
from adamlab.sweep.trials import Trial

ERROR_MAX_CHARS = 300


@dataclass
class TrialOutcome:
    record: TrialRecord
    #: full traceback text of a failed trial, else None
    traceback: str | None = None


def metric_goal(name: str, goals: dict[str, str]) -> str:
    """'min' or 'max' for `name`: the task's goal if listed, else max for *accuracy, else min."""
    if name in goals:
        return goals[name]
    return "max" if name.endswith("accuracy") else "min"


class MetricLog:
    """The long-format metric rows of one trial, column-wise."""

    def __init__(self) -> None:
        self.step: list[int] = []
        self.wall_time: list[float] = []
        self.metric: list[str] = []
        self.value: list[float] = []

    def add(self, step: int, wall_time: float, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.step.append(step)
            self.wall_time.append(wall_time)
            self.metric.append(name)
            self.value.append(float(value))

    def columns(self) -> dict[str, list]:
        return {"step": self.step, "wall_time": self.wall_time, "metric": self.metric, "value": self.value}

    def final_and_best(self, goals: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
        final: dict[str, float] = {}
        best: dict[str, float] = {}
        for name, value in zip(self.metric, self.value, strict=True):
            final[name] = value
            if not math.isfinite(value):
                best.setdefault(name, math.nan)
                continue
            current = best.get(name, math.nan)
            better = max if metric_goal(name, goals) == "max" else min
            best[name] = value if math.isnan(current) else better(current, value)
        return final, best


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    torch.manual_seed(seed)
    try:
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


def _train(trial: Trial, task, optimizer, log: MetricLog) -> tuple[str, int]:
    """The training loop; returns (status, steps_run)."""
    import torch

    from adamlab.optimizers.diagnostics import params_snapshot, step_diagnostics

    steps, log_every, eval_every = trial.steps, trial.log_every, trial.eval_every
    factor, isfinite = trial.divergence_factor, math.isfinite
    check_every_step = task.device.type == "cpu"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    loss_and_grad, optimizer_step = task.loss_and_grad, optimizer.step
    threshold = math.inf
    peak = None  # CUDA: running max of the losses since the last check, kept on the device
    next_log, next_eval = 1, eval_every
    start = time.perf_counter()
    step = 0
    try:
        for step in range(1, steps + 1):
            for p in params:  # the Task contract: grads are None on entry
                p.grad = None
            loss = loss_and_grad(step)
            is_log = step == next_log or step == steps
            if check_every_step or is_log:
                value = loss.item()
                if step == 1 and value > 0:
                    threshold = factor * value
                diverged = not isfinite(value) or value > threshold
                if peak is not None:  # CUDA: also every step since the last check
                    worst = torch.maximum(peak, loss).item()
                    diverged = diverged or not isfinite(worst) or worst > threshold
                    peak = None
                if diverged:
                    log.add(step, time.perf_counter() - start, {"train_loss": value})
                    return "diverged", step
            else:
                peak = loss if peak is None else torch.maximum(peak, loss)
            if is_log:
                snapshot = params_snapshot(optimizer)
                optimizer_step()
                now = time.perf_counter() - start
                log.add(step, now, {"train_loss": value})
                log.add(step, now, step_diagnostics(optimizer, snapshot))
                log.add(step, now, task.step_metrics())
                next_log = log_every if step == 1 and log_every > 1 else step + log_every
            else:
                optimizer_step()
            if step == next_eval or step == steps:
                log.add(step, time.perf_counter() - start, task.evaluate())
                next_eval = step + eval_every
    except Exception as exc:
        raise _FailedAtStep(step) from exc
    return "finished", steps


def trial_record(
    trial: Trial, sweep_name: str, *, device: str, status: str, steps_run: int,
    wall_time_s: float, log: MetricLog, goals: dict[str, str], error: str | None,
    optimizer=None,
) -> TrialRecord:
    """The record of an ended trial: its configuration, outcome, metric log and the environment
    it ran in (with the code path of `optimizer`, None when it was never built)."""
    from adamlab.sweep.environment import capture_environment, implementation_of

    final, best = log.final_and_best(goals)
    return TrialRecord(
        trial_id=trial.trial_id,
        sweep=sweep_name,
        task=trial.task,
        task_params=dict(trial.task_params),
        optimizer=trial.optimizer,
        variant=trial.variant,
        hparams=dict(trial.hparams),
        seed=trial.seed,
        steps=trial.steps,
        batch_size=trial.batch_size,
        device=device,
        status=status,
        steps_run=steps_run,
        wall_time_s=wall_time_s,
        final=final,
        best=best,
        error=error,
        metrics=log.columns(),
        adamlab_version=__version__,
        environment=capture_environment(implementation_of(optimizer) if optimizer is not None else ""),
    )


def run_trial(trial: Trial, sweep_name: str) -> TrialOutcome:
    """Run `trial` to its end (finished, diverged or failed) and return its record."""
    started = time.perf_counter()
    log = MetricLog()
    goals: dict[str, str] = {}
    status, steps_run, error, trace = "failed", 0, None, None
    device = trial.device_spec
    optimizer = None
    try:
        from adamlab.optimizers.registry import build_optimizer
        from adamlab.tasks.device import resolve_device
        from adamlab.tasks.registry import load_task

        task_cls = load_task(trial.task)
        goals = dict(task_cls.metric_goals)
        torch_device = resolve_device(trial.device_spec)
        device = str(torch_device)
        seed_everything(trial.seed)
        task = task_cls(
            task_cls.Params.model_validate(trial.task_params),
            seed=trial.seed, device=torch_device, batch_size=trial.batch_size,
        )
        optimizer = build_optimizer(trial.optimizer, task.param_groups(), **trial.hparams)
        status, steps_run = _train(trial, task, optimizer, log)
    except _FailedAtStep as failure:
        cause = failure.__cause__
        status, steps_run, error = "failed", failure.step, _one_line(cause)
        trace = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    except Exception as exc:  # building the task or the optimizer
        status, error, trace = "failed", _one_line(exc), traceback.format_exc()
    record = trial_record(
        trial, sweep_name, device=device, status=status, steps_run=steps_run,
        wall_time_s=time.perf_counter() - started, log=log, goals=goals, error=error,
        optimizer=optimizer,
    )
    return TrialOutcome(record, trace)
