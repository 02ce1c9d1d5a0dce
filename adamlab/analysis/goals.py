"""Which metric a task is ranked by, and whether lower or higher is better.

Resolution order, first that knows wins:
1. the results folder itself: `adamlab-results.json` -> "tasks" -> {task: {"primary_metric",
   "metric_goals"}} (optional in layout 1; lets a folder be read without the task's code);
2. the registered task class (`primary_metric`, `metric_goals`; importing it imports torch);
3. the naming rule: the primary metric is train_loss, and a metric whose name ends in
   "accuracy" is maximised, every other metric minimised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from adamlab.errors import AdamlabError

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
        return TaskMetrics(
            task,
            declared.get("primary_metric") or DEFAULT_PRIMARY_METRIC,
            goals,
            "results folder",
        )
    from adamlab.tasks.registry import TASKS, load_task

    if task in TASKS:
        cls = load_task(task)
        return TaskMetrics(
            task, cls.primary_metric, dict(cls.metric_goals), "task registry"
        )
    return TaskMetrics(task)
