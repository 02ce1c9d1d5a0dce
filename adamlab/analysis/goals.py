"""Which metric a task is ranked by, and whether lower or higher is better.

Resolution order, first that knows wins:
1. the results folder itself: `adamlab-results.json` -> "tasks" -> {task: {"primary_metric",
   "metric_goals", "select_metrics", "loss_metric"}}, written by the sweep from the task's spec
   (a plug-in's too), so a folder is read without the task's code;
2. the registered task's torch-free spec (folders written before the manifest said it);
3. the naming rule: the primary metric is train_loss, a metric whose name ends in "accuracy"
   is maximised, every other metric minimised, and `test_X` is selected on `val_X`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adamlab.errors import AdamlabError
from adamlab.tasks.registry import task_names, task_spec

Goal = Literal["min", "max"]
GOALS: tuple[Goal, ...] = ("min", "max")
DEFAULT_PRIMARY_METRIC = "train_loss"


def goal_by_name(metric: str) -> Goal:
    return "max" if metric.endswith("accuracy") else "min"


@dataclass(frozen=True)
class TaskMetrics:
    task: str
    primary_metric: str = DEFAULT_PRIMARY_METRIC
    metric_goals: Mapping[str, Goal] = field(default_factory=dict)
    #: where the answer came from: "results folder", "task registry" or "naming rule"
    source: str = "naming rule"
    #: reported metric -> the validation metric that selects it; None: the naming rule
    select_metrics: Mapping[str, str] | None = None
    #: the loss the task is judged by (held-out or exact)
    loss_metric: str = DEFAULT_PRIMARY_METRIC

    def goal(self, metric: str) -> Goal:
        return self.metric_goals.get(metric) or goal_by_name(metric)


def task_metrics(task: str, manifest: Mapping[str, Any]) -> TaskMetrics:
    declared = (manifest.get("tasks") or {}).get(task)
    if isinstance(declared, Mapping):
        goals = dict(declared.get("metric_goals") or {})
        bad = {m: g for m, g in goals.items() if g not in GOALS}
        if bad:
            metric, goal = next(iter(bad.items()))
            raise AdamlabError(
                f"adamlab-results.json: tasks.{task}.metric_goals.{metric}: got {goal!r}; "
                f"allowed: {', '.join(GOALS)}"
            )
        select = declared.get("select_metrics")
        return TaskMetrics(
            task,
            declared.get("primary_metric") or DEFAULT_PRIMARY_METRIC,
            goals,
            "results folder",
            dict(select) if isinstance(select, Mapping) else None,
            declared.get("loss_metric") or _registered_loss(task),
        )
    spec = registered_spec(task)
    if spec is not None:
        return TaskMetrics(
            task, spec.primary_metric, dict(spec.metric_goals), "task registry",
            spec.select_metrics(), spec.loss_metric,
        )
    return TaskMetrics(task)


def registered_spec(task: str):
    """The registered task's torch-free spec, or None."""
    try:
        return task_spec(task) if task in task_names() else None
    except AdamlabError:
        return None


def _registered_loss(task: str) -> str:
    spec = registered_spec(task)
    return spec.loss_metric if spec is not None else DEFAULT_PRIMARY_METRIC
