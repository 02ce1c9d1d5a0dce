"""The checks a results folder's manifest (adamlab-results.json) passes before anything in it is
read: its layout version, and the sweep name and task metrics the summary takes from it. A
folder that fails one is refused in one line naming the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store.names import LAYOUT_VERSION


def check_layout_version(path: Path, manifest: dict[str, Any]) -> int:
    """The folder's layout version, when it is the one this adamlab reads; else one line saying
    which adamlab wrote it and what to do."""
    version = manifest.get("layout_version")
    writer = manifest.get("adamlab_version") or "an unknown version"
    if not isinstance(version, int) or isinstance(version, bool):
        raise AdamlabError(
            f"{path}: layout_version: expected an integer, got {version!r} "
            f"(written by adamlab {writer})"
        )
    if version != LAYOUT_VERSION:
        advice = (
            "upgrade adamlab to read them"
            if version > LAYOUT_VERSION
            else f"read them with adamlab {writer}, or re-run the sweep with this one"
        )
        raise AdamlabError(
            f"{path}: written by adamlab {writer} with layout version {version}; this adamlab "
            f"({__version__}) reads layout version {LAYOUT_VERSION}: {advice}"
        )
    return version


def check_manifest_tasks(path: Path, manifest: dict[str, Any]) -> None:
    """"sweep" a string, "tasks" {task: {"primary_metric": str, "metric_goals": {metric: "min" |
    "max"}}}: what the summary reads from the manifest, checked before it is used."""
    if "sweep" in manifest and not isinstance(manifest["sweep"], str):
        raise AdamlabError(f"{path}: sweep: expected a string, got {manifest['sweep']!r:.60}")
    tasks = manifest.get("tasks")
    if tasks is None:
        return
    if not isinstance(tasks, dict):
        raise AdamlabError(f"{path}: tasks: expected a mapping of task name to its metrics, got {tasks!r:.60}")
    for task, declared in tasks.items():
        if not isinstance(declared, dict):
            raise AdamlabError(f"{path}: tasks.{task}: expected a mapping with primary_metric and metric_goals, got {declared!r:.60}")
        primary = declared.get("primary_metric")
        if primary is not None and not isinstance(primary, str):
            raise AdamlabError(f"{path}: tasks.{task}.primary_metric: expected a metric name, got {primary!r:.60}")
        goals = declared.get("metric_goals")
        if goals is None:
            continue
        if not isinstance(goals, dict):
            raise AdamlabError(f"{path}: tasks.{task}.metric_goals: expected a mapping of metric to min or max, got {goals!r:.60}")
        for metric, goal in goals.items():
            if goal not in ("min", "max"):
                raise AdamlabError(f"{path}: tasks.{task}.metric_goals.{metric}: expected min or max, got {goal!r:.60}")
