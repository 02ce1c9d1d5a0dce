"""The record of an ended trial: its metric log (`MetricLog`, each metric's final and best
value by the task's goals) and `trial_record`, which adds the trial's configuration, outcome and
the environment it ran in (code path, plug-in files, data fingerprint)."""

from __future__ import annotations

import math

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec
from adamlab.store.records import TrialRecord
from adamlab.sweep.environment import (
    capture_environment,
    data_hash_of,
    implementation_of,
    plugin_files,
)
from adamlab.sweep.trials import Trial
from adamlab.tasks.registry import task_spec


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


def _plugin_targets(trial: Trial) -> list[str]:
    """"module:attribute" of the trial's plug-in optimizer and task (in a file or installed)."""
    targets = []
    for find in (lambda: get_spec(trial.optimizer, trial.optimizer_target, trial.folder),
                 lambda: task_spec(trial.task, trial.task_target, trial.folder)):
        try:
            spec = find()
        except AdamlabError:  # it never loaded: the trial failed before it ran
            continue
        if spec.plugin:
            targets.append(spec.implementation if hasattr(spec, "implementation") else spec.target)
    return targets


def trial_record(
    trial: Trial, sweep_name: str, *, device: str, status: str, steps_run: int,
    wall_time_s: float, log: MetricLog, goals: dict[str, str], error: str | None,
    optimizer=None, task=None, stack_size: int = 1, stack_wall_time_s: float | None = None,
) -> TrialRecord:
    """The record of an ended trial: its configuration, outcome, metric log and the environment
    it ran in (with the code path of `optimizer`, None when it was never built, and for a plain
    PyTorch task the path its members ran: vmap, or one at a time and why)."""
    path = getattr(task, "path", None)
    reason = getattr(task, "path_reason", None)
    task_path = f"; members: {path}" + (f" ({reason})" if reason else "") if path else ""
    final, best = log.final_and_best(goals)
    return TrialRecord(
        trial_id=trial.trial_id,
        sweep=sweep_name,
        task=trial.task,
        task_params=dict(trial.task_params),
        optimizer=trial.optimizer,
        variant=trial.variant,
        hparams=dict(trial.hparams),
        optimizer_target=trial.optimizer_target,
        task_target=trial.task_target,
        seed=trial.seed,
        steps=trial.steps,
        batch_size=trial.batch_size,
        device=device,
        log_every=trial.log_every,
        eval_every=trial.eval_every,
        divergence_factor=trial.divergence_factor,
        status=status,
        steps_run=steps_run,
        wall_time_s=wall_time_s,
        stack_size=stack_size,
        stack_wall_time_s=wall_time_s if stack_wall_time_s is None else stack_wall_time_s,
        final=final,
        best=best,
        error=error,
        metrics=log.columns(),
        adamlab_version=__version__,
        environment=capture_environment(
            implementation_of(optimizer) + task_path if optimizer is not None else "",
            plugin_files(*_plugin_targets(trial)),
            data_hash=data_hash_of(trial.task, trial.task_params, trial.task_target, trial.folder),
        ),
    )
