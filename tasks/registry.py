"""The tasks a sweep can name, found through one door (adamlab.entry_points): the built-ins,
installed plug-ins and, by `target: "module:Class"`, a task class in the user's own file.

`task_spec` is torch-free for the built-ins (their specs live in <task>_spec.py); `load_task`
imports a built-in's implementation (torch) to train it.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from adamlab.entry_points import TASK_GROUP, registered
from adamlab.errors import AdamlabError
from adamlab.targets import source_stamp
from adamlab.tasks.plugin import spec_of, task_plugin_spec
from adamlab.tasks.spec import TaskSpec


def task_names() -> list[str]:
    return sorted(registered(TASK_GROUP))


@functools.cache
def _registered_spec(name: str) -> type[TaskSpec]:
    entry = registered(TASK_GROUP)[name]
    value = entry.load()
    if isinstance(value, type) and issubclass(value, TaskSpec):
        if entry.built_in:
            return value
        return type(value.__name__, (value,), {"name": name, "origin": entry.origin})
    # an installed task class in plain PyTorch (the contract of tasks/plugin.py)
    return spec_of(name, value, target=entry.entry_point.value, origin=entry.origin)


@functools.cache
def _plugin_spec(name: str, target: str, folder: str | None, stamp: str) -> type[TaskSpec]:
    return task_plugin_spec(name, target, Path(folder) if folder else None)


def task_spec(name: str, target: str = "", folder: str | Path | None = None) -> type[TaskSpec]:
    """The spec of task `name`: registered, or (with `target`) the plug-in class at
    "module:Class", imported from `folder` first (the sweep file's folder)."""
    if target:
        where = str(folder) if folder is not None else None
        return _plugin_spec(name, target, where, source_stamp(target, Path(folder) if folder else None))
    if name not in registered(TASK_GROUP):
        raise AdamlabError(f"unknown task {name!r}; allowed: {', '.join(task_names())}")
    return _registered_spec(name)


def load_task(name: str):
    """The member-axis Task class of registered task `name` (imports torch)."""
    spec = task_spec(name)
    if getattr(spec, "plugin", False):
        raise AdamlabError(f"task {name!r} is a plug-in in plain PyTorch; it trains through ModuleTask")
    if not spec.implementation:
        return spec
    module_name, class_name = spec.implementation.split(":")
    return getattr(importlib.import_module(module_name), class_name)
