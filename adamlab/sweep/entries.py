"""One task or optimizer entry of a sweep file, checked against its registered task or optimizer
and resolved into a `TaskPlan` or `OptimizerPlan`: hyperparameter values coerced to the kind of
their defaults and within the optimizer's bounds, task parameters through the task's `Params`,
epochs turned into steps; and the checks across entries (sparse gradients, warm-up length).
Problems are appended to the caller's list, one per key.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec, optimizer_names
from adamlab.optimizers.spec import OptimizerSpec, field_bounds, field_choices
from adamlab.sweep.file_model import INT64_MAX, SweepFile, TaskEntry, described, pydantic_problems
from adamlab.sweep.problems import Problem
from adamlab.sweep.resolved import OptimizerPlan, TaskPlan
from adamlab.sweep.values import ValueSpecError, expand_values
from adamlab.targets import TargetError
from adamlab.tasks.device import PLAIN_DEVICES
from adamlab.tasks.device import resolve_device as device_of
from adamlab.tasks.registry import load_task, task_names, task_spec


def _check_hparam(spec: OptimizerSpec, name: str, value: Any) -> tuple[Any, str | None]:
    """The value coerced to the kind of the hyperparameter's default, or an error message; the
    range and choices are the optimizer's own (its Params)."""
    info = spec.field(name) if name in spec.Params.model_fields else None
    default = info.get_default(call_default_factory=True) if info is not None else None
    if isinstance(default, list):
        if not isinstance(value, list):
            return None, f"must be a list (given as [[...]]), got {described(value)}"
        if not all(_scalar(item) for item in value):
            return None, "list values must hold scalars"
        return list(value), None
    if isinstance(value, list):
        if spec.plugin and all(_scalar(item) for item in value):
            return list(value), None  # a keyword whose default is no list (None, a scalar)
        return None, f"must be a scalar, got {described(value)}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return None, f"must be true or false, got {described(value)}"
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be a number, got {described(value)}"
        value = float(value)
        if not math.isfinite(value):
            return None, f"must be a finite number, got {value!r}"
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"must be an integer, got {described(value)}"
        if abs(value) > INT64_MAX:
            return None, f"must be an integer within int64 (|n| < 2^63), got {value}"
    elif not _scalar(value):
        return None, f"must be a scalar, got {described(value)}"
    if info is None:
        return value, None
    choices = field_choices(info)
    if choices is not None and value not in choices:
        return None, f"must be one of {', '.join(map(str, choices))}, got {described(value)}"
    bounds = field_bounds(info)
    if not bounds.unbounded and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not bounds.contains(value):
            return None, f"{bounds.rule()}, got {value!r}"
    return value, None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def optimizer_entry(j: int, raw: Any, problems: list[Problem], max_trials: int,
                     folder: str | None) -> tuple[OptimizerPlan, tuple[str, ...]] | None:
    where = f"optimizers[{j}]"
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        problems.append(Problem(where, f"must be an optimizer name or a mapping with name: and hyperparameters, got {described(raw)}"))
        return None
    label = raw.get("name")
    if "name" not in raw:
        problems.append(Problem(f"{where}.name", "required key is missing (a registered optimizer, or a label plus optimizer: or target:)"))
        return None
    if not isinstance(label, str) or not label.strip():
        problems.append(Problem(f"{where}.name", f"must be a non-empty string, got {described(label)}"))
        return None
    target = ""
    try:
        allowed = ", ".join(optimizer_names())
    except AdamlabError as exc:  # an installed plug-in that clashes with a built-in
        problems.append(Problem(f"{where}.name", str(exc)))
        return None
    if "target" in raw:
        target = raw["target"]
        if "optimizer" in raw:
            problems.append(Problem(f"{where}.optimizer", "give optimizer: (a registered name) or target: (module:attribute), not both"))
            return None
        registry_name = label
        try:
            spec = get_spec(label, target if isinstance(target, str) else repr(target), folder)
        except TargetError as exc:
            problems.append(Problem(f"{where}.target", str(exc)))
            return None
    elif "optimizer" in raw:
        registry_name = raw["optimizer"]
        if not isinstance(registry_name, str) or registry_name not in optimizer_names():
            problems.append(Problem(f"{where}.optimizer", f"unknown optimizer {described(registry_name)}; allowed: {allowed}"))
            return None
        spec = get_spec(registry_name)
    else:
        registry_name = label
        if registry_name not in optimizer_names():
            problems.append(Problem(
                f"{where}.name",
                f"unknown optimizer {label!r}; allowed: {allowed} (for a named variant add "
                f"optimizer: <one of those>; for your own, target: module:attribute)",
            ))
            return None
        spec = get_spec(registry_name)
    grid: dict[str, list[Any]] = {}
    ok = True
    allowed_keys = spec.allowed()
    for key, value in raw.items():
        if key in ("name", "optimizer", "target"):
            continue
        path = f"{where}.{key}"
        if key not in allowed_keys and not spec.Params.open_keywords:
            if spec.plugin:
                problems.append(Problem(path, f"unknown keyword for {target} (its constructor "
                                              f"takes: {', '.join(allowed_keys)})"))
            else:
                hint = " (betas are given as beta1 and beta2)" if key == "betas" else ""
                problems.append(Problem(path, f"unknown hyperparameter for {registry_name}{hint}; allowed: {', '.join(allowed_keys)}"))
            ok = False
            continue
        default = allowed_keys.get(key)
        if isinstance(default, list) and isinstance(value, list) and all(map(_scalar, value)):
            problems.append(Problem(path, (
                f"takes a list: give it as [[...]] (e.g. {[value]}), one list per value; a plain "
                f"list is a sweep axis of scalars, got {value}"
            )))
            ok = False
            continue
        try:
            values, suffixes = expand_values(value, max_count=max_trials, list_items=spec.plugin)
        except ValueSpecError as exc:
            problems.append(Problem(path + exc.path, exc.message))
            ok = False
            continue
        checked = []
        for item, suffix in zip(values, suffixes, strict=True):
            coerced, message = _check_hparam(spec, key, item)
            if message:
                problems.append(Problem(path + suffix, message))
                ok = False
            else:
                checked.append(coerced)
        # a value listed twice is one configuration
        grid[key] = list({_canonical(v): v for v in checked}.values())
    missing = [k for k in spec.Params.required if k not in raw]
    if missing:
        problems.append(Problem(where, f"{target} needs {', '.join(missing)} (no default in its constructor)"))
        ok = False
    if spec.plugin and "lr" not in raw and spec.defaults.get("lr") is None:
        problems.append(Problem(where, f"{target} has no default lr; give lr:"))
        ok = False
    if not ok:
        return None
    explicit = tuple(k for k in raw if k not in ("name", "optimizer", "target"))
    full = {key: grid.get(key, [default]) for key, default in spec.defaults.items()}
    # optional hyperparameters (the schedule's, a plug-in's keywords) only where the entry gives them
    full.update({key: values for key, values in grid.items() if key not in full})
    return OptimizerPlan(label=label, optimizer=registry_name, grid=full, target=target), explicit


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def task_entry(i: int, raw: Any, top: SweepFile | None, problems: list[Problem],
                folder: str | None) -> TaskPlan | None:
    where = f"tasks[{i}]"
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        problems.append(Problem(where, f"must be a task name or a mapping with name: and params:, got {described(raw)}"))
        return None
    try:
        entry = TaskEntry.model_validate(raw)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, ("tasks", i), TaskEntry))
        return None
    if entry.target is not None:
        try:
            task_cls = task_spec(entry.name, entry.target, folder)
        except TargetError as exc:
            problems.append(Problem(f"{where}.target", str(exc)))
            return None
    else:
        try:
            names = task_names()
        except AdamlabError as exc:  # an installed plug-in that clashes with a built-in
            problems.append(Problem(f"{where}.name", str(exc)))
            return None
        if entry.name not in names:
            problems.append(Problem(f"{where}.name", f"unknown task {entry.name!r}; allowed: {', '.join(names)} (for your own, target: module:Class)"))
            return None
        try:
            task_cls = task_spec(entry.name)
        except Exception as exc:  # a registered task whose spec fails to import
            problems.append(Problem(f"{where}.name", f"task {entry.name!r} cannot be loaded: {type(exc).__name__}: {exc}"))
            return None
    try:
        params = task_cls.Params.model_validate(entry.params)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, ("tasks", i, "params"), task_cls.Params))
        return None
    if top is None:  # the top level is broken: its defaults are unknown, so stop at the entry's own checks
        return None

    if entry.steps is not None and entry.epochs is not None:
        problems.append(Problem(where, "give steps or epochs, not both"))
        return None
    if entry.steps is not None or entry.epochs is not None:
        steps, epochs, level = entry.steps, entry.epochs, f"{where}."
    else:
        steps, epochs, level = top.steps, top.epochs, ""
    if steps is None and epochs is None:
        problems.append(Problem(where, "no steps or epochs given; set steps: (or epochs:) at the top level or in this task entry"))
        return None
    batch_size = entry.batch_size or top.batch_size
    if epochs is not None:
        if task_cls.plugin:
            problems.append(Problem(f"{level}epochs", f"a plug-in task ({entry.target}) has no fixed epoch length here; use steps:"))
            return None
        steps = _steps_for_epochs(entry.name, task_cls, params, batch_size, epochs, top.seeds[0], f"{level}epochs", problems)
        if steps is None:
            return None
    return TaskPlan(
        name=entry.name,
        params=params.model_dump(mode="json"),
        steps=steps,
        batch_size=batch_size,
        log_every=entry.log_every or top.log_every,
        eval_every=entry.eval_every or top.eval_every or steps,
        uses_sparse_gradients=bool(task_cls.uses_sparse_gradients(params)),
        target=entry.target or "",
    )


def _steps_for_epochs(name, spec, params, batch_size, epochs, seed, path, problems) -> int | None:
    # An epoch's length depends on the data: the spec tells it from the files' headers where it
    # can (no torch), else the task is built once to count it
    per_epoch = spec.epoch_steps(params, batch_size)
    if per_epoch:
        return epochs * per_epoch
    # lazy: builds a task to count its epoch, which needs torch; validating a sweep needs none
    import torch

    task_cls = load_task(name)
    try:
        per_epoch = task_cls(params, seed=seed, device=torch.device("cpu"), batch_size=batch_size).steps_per_epoch
    except Exception as exc:
        problems.append(Problem(path, f"cannot build task {task_cls.name!r} to count an epoch's steps: {exc}"))
        return None
    if per_epoch is None:
        problems.append(Problem(path, f"task {task_cls.name!r} has no fixed epoch length (unbounded data); use steps:"))
        return None
    return epochs * per_epoch


def resolve_device(spec: str, path: str, problems: list[Problem]) -> str | None:
    if spec in PLAIN_DEVICES:
        return spec
    try:
        device = device_of(spec)
    except (AdamlabError, RuntimeError) as exc:
        problems.append(Problem(path, str(exc)))
        return None
    return device.type if spec == "auto" else spec


def sparse_problems(tasks, optimizers, specs: dict[int, OptimizerSpec], problems: list[Problem]) -> None:
    capable = ", ".join(n for n in optimizer_names() if get_spec(n).sparse_ok)
    for i, task in tasks:
        if not task.uses_sparse_gradients:
            continue
        for j, opt in optimizers:
            if not specs[j].sparse_ok:
                problems.append(Problem(
                    f"optimizers[{j}]",
                    f"{opt.optimizer} cannot take the sparse gradients of tasks[{i}] ({task.name} "
                    f"with these params); allowed on sparse gradients: {capable}",
                ))


def warmup_problems(tasks, optimizers, problems: list[Problem]) -> None:
    for j, opt in optimizers:
        longest = max(opt.grid.get("warmup_steps", [0]))
        for i, task in tasks:
            if longest > task.steps:
                problems.append(Problem(
                    f"optimizers[{j}].warmup_steps",
                    f"must be <= the steps of every task, got {longest} (tasks[{i}] {task.name} "
                    f"runs {task.steps} steps)",
                ))
