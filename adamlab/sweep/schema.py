"""The sweep YAML schema: validate a file into a resolved `Sweep`, reporting every problem at once.

Each problem is one line naming the file, the key path and what is allowed, e.g.
``configs/x.yaml: optimizers[1].beta2[2]: must be in [0, 1), got 1.0 (line 14)``.
All of them are collected before anything runs; `SweepConfigError.lines` holds them in file order.

The static shape (top-level keys, task entries) is checked with pydantic models; the parts that
depend on the registries (task parameters, optimizer hyperparameters, sparse-gradient support) are
checked against the registered task's `Params` model and the optimizer's registry defaults.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec, optimizer_names
from adamlab.optimizers.spec import OptimizerSpec, field_bounds, field_choices
from adamlab.sweep.preflight import preflight_problems
from adamlab.sweep.problems import Problem
from adamlab.sweep.values import DEFAULT_MAX_TRIALS, ValueSpecError, expand_values
from adamlab.sweep.yaml_source import YamlDocument, load_yaml, render_path
from adamlab.targets import TargetError
from adamlab.tasks.registry import load_task, task_names, task_spec

logger = logging.getLogger("adamlab.sweep")

# the name is a folder name under results/: not only dots ("." and ".." are the folder itself
# and its parent)
NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
#: per logged value a trial keeps in memory until its record is written (lists of Python
#: objects, then the JSON text): a budget, measured at ~150 bytes
LOGGED_VALUE_BYTES = 200
#: values logged per log or evaluation step, a generous bound over the tasks and optimizers
VALUES_PER_LOG_STEP = 40
DEFAULT_RESULTS_ROOT = Path("results")
#: the most estimated work one trial may ask for without --max-steps: a week (steps x the
#: estimated seconds of one step of one member, adamlab.sweep.execute's work model)
MAX_TRIAL_WORK_S = 7 * 24 * 3600.0

# ---------------------------------------------------------------- input models (static shape)

#: integers are stored as int64 in the results tables
INT64_MAX = 2**63 - 1
_StepCount = Annotated[int, Field(ge=1, le=INT64_MAX)]


class SweepFile(BaseModel):
    """Top level of a sweep YAML file (task and optimizer entries are checked one by one)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    output: str | None = None
    #: a list of seeds, or a count N meaning [0, 1, ..., N-1] (expanded in validate_sweep)
    seeds: list[Annotated[int, Field(ge=0, le=INT64_MAX)]] = Field(default=[0], min_length=1)
    device: str = "cpu"
    steps: _StepCount | None = None
    epochs: _StepCount | None = None
    batch_size: _StepCount = 128
    log_every: _StepCount = 10
    eval_every: _StepCount | None = None
    divergence_factor: float = Field(1.0e3, gt=1)
    #: "auto" or an integer >= 1 (checked in validate_sweep, for a one-line message)
    stack_size: Any = "auto"
    tasks: list[Any] = Field(min_length=1)
    optimizers: list[Any] = Field(min_length=1)


class TaskEntry(BaseModel):
    """One entry of `tasks:`; steps and the rest override the top-level values for this task."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    #: "module:Class" of a task class in plain PyTorch (tasks/plugin.py)
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    steps: _StepCount | None = None
    epochs: _StepCount | None = None
    batch_size: _StepCount | None = None
    log_every: _StepCount | None = None
    eval_every: _StepCount | None = None


# ---------------------------------------------------------------- the resolved sweep


@dataclass(frozen=True)
class TaskPlan:
    """A task entry with everything resolved: its validated parameters and its step counts."""

    name: str
    #: the task's Params, defaults filled, as JSON-safe values
    params: dict[str, Any]
    steps: int
    batch_size: int
    log_every: int
    eval_every: int
    uses_sparse_gradients: bool = False
    #: "module:Class" of a plug-in task ("" for a registered one)
    target: str = ""


@dataclass(frozen=True)
class OptimizerPlan:
    """An optimizer entry: the registry name, the entry's label and its per-hyperparameter values.

    `grid` holds every hyperparameter of the optimizer in registry order (defaults as one-value
    lists); the entry's configurations are the cartesian product of its lists.
    """

    label: str
    optimizer: str
    grid: dict[str, list[Any]]
    #: "module:attribute" of a plug-in optimizer ("" for a registered one)
    target: str = ""


@dataclass(frozen=True)
class Sweep:
    name: str
    description: str
    #: the file it was read from, as given
    source: str
    output: Path
    seeds: tuple[int, ...]
    #: device as asked for ('cpu', 'cuda', 'cuda:1'); 'auto' is resolved to 'cpu' or 'cuda'
    device: str
    divergence_factor: float
    #: the most trials per stack; None = automatic (as many as share one and fit in memory)
    stack_size: int | None
    tasks: tuple[TaskPlan, ...]
    optimizers: tuple[OptimizerPlan, ...]
    #: the keys the YAML gave explicitly per optimizer entry (for display of what varies)
    explicit_hparams: tuple[tuple[str, ...], ...] = field(default=())
    #: the folder plug-in modules are imported from first (the sweep file's); None: sys.path only
    folder: str | None = None
    #: the YAML it was validated from (for the line numbers of later checks)
    document: YamlDocument | None = field(default=None, compare=False, repr=False)
    #: whether every optimizer entry was built and stepped (check_optimizers); a run does it
    #: before its first trial when validation left it out
    optimizers_checked: bool = field(default=False, compare=False)
    #: the command-line overrides applied to the file ("KEY=VALUE", in order)
    overrides: tuple[str, ...] = field(default=())

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    def with_output(self, output: str | Path) -> Sweep:
        return replace(self, output=Path(output))

    def resolved(self) -> dict[str, Any]:
        """The sweep as a YAML-ready mapping, every default filled in.

        Loading it back (it is valid sweep YAML) gives exactly the same trials.
        """
        return {
            "name": self.name,
            "description": self.description,
            "output": str(self.output),
            "seeds": list(self.seeds),
            "device": self.device,
            "divergence_factor": self.divergence_factor,
            "stack_size": "auto" if self.stack_size is None else self.stack_size,
            "tasks": [
                {
                    "name": t.name,
                    **({"target": t.target} if t.target else {}),
                    "params": dict(t.params),
                    "steps": t.steps,
                    "batch_size": t.batch_size,
                    "log_every": t.log_every,
                    "eval_every": t.eval_every,
                }
                for t in self.tasks
            ],
            "optimizers": [
                {
                    "name": o.label,
                    **({"target": o.target} if o.target else {"optimizer": o.optimizer}),
                    **{k: _resolved_values(v) for k, v in o.grid.items()},
                }
                for o in self.optimizers
            ],
        }

    def optimizer_spec(self, plan: OptimizerPlan) -> OptimizerSpec:
        return get_spec(plan.optimizer, plan.target, self.folder)

    def to_yaml(self) -> str:
        header = f"# resolved from {self.source} by adamlab: every default filled in\n"
        if self.overrides:
            header += "# with " + " ".join(f"--set {o!r}" for o in self.overrides) + "\n"
        return header + yaml.safe_dump(self.resolved(), sort_keys=False, allow_unicode=True)


def _resolved_values(values: list[Any]) -> Any:
    """A grid as YAML gives it: one scalar, a list, or a list of lists for list values."""
    if len(values) == 1 and not isinstance(values[0], list):
        return values[0]
    return list(values)


# ---------------------------------------------------------------- problems


class SweepConfigError(AdamlabError):
    """Every problem found in one sweep file; `lines` has one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _got(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, str):
        return repr(value)
    return f"{value!r} ({_kind(value)})" if isinstance(value, bool) or value is None else repr(value)


def _allowed_keys(model: type[BaseModel] | None, loc: tuple) -> list[str] | None:
    for part in loc:
        if model is None:
            return None
        info = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(info, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return list(model.model_fields) if model is not None else None


def _describe(error: dict, model: type[BaseModel] | None) -> str:
    kind, ctx, got = error["type"], error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, tuple(error["loc"][:-1]))
        return "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in bounds:
        limit = next(iter(ctx.values()))
        shown = f"{limit:,}" if isinstance(limit, int) and abs(limit) >= 10**6 else f"{limit:g}"
        return f"must be {bounds[kind]} {shown}, got {_got(got)}"
    expected = {
        "int_type": "an integer", "int_from_float": "an integer", "int_parsing": "an integer",
        "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
        "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
        "list_type": "a list", "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    }
    if kind in expected:
        return f"must be {expected[kind]}, got {_got(got)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_pattern_mismatch":
        return f"must be a folder name of letters, digits, '_', '.', '-' (not . or ..), got {_got(got)}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}, got {_got(got)}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    message = error["msg"]
    return f"{message[:1].lower()}{message[1:]}, got {_got(got)}"


def _pydantic_problems(exc: ValidationError, prefix: tuple, model: type[BaseModel]) -> list[Problem]:
    return [
        Problem(render_path((*prefix, *err["loc"])), _describe(err, model))
        for err in exc.errors()
    ]


# ---------------------------------------------------------------- checks


def _check_hparam(spec: OptimizerSpec, name: str, value: Any) -> tuple[Any, str | None]:
    """The value coerced to the kind of the hyperparameter's default, or an error message; the
    range and choices are the optimizer's own (its Params)."""
    info = spec.field(name) if name in spec.Params.model_fields else None
    default = info.get_default(call_default_factory=True) if info is not None else None
    if isinstance(default, list):
        if not isinstance(value, list):
            return None, f"must be a list (given as [[...]]), got {_got(value)}"
        if not all(_scalar(item) for item in value):
            return None, "list values must hold scalars"
        return list(value), None
    if isinstance(value, list):
        if spec.plugin and all(_scalar(item) for item in value):
            return list(value), None  # a keyword whose default is no list (None, a scalar)
        return None, f"must be a scalar, got {_got(value)}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            return None, f"must be true or false, got {_got(value)}"
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be a number, got {_got(value)}"
        value = float(value)
        if not math.isfinite(value):
            return None, f"must be a finite number, got {value!r}"
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"must be an integer, got {_got(value)}"
        if abs(value) > INT64_MAX:
            return None, f"must be an integer within int64 (|n| < 2^63), got {value}"
    elif not _scalar(value):
        return None, f"must be a scalar, got {_got(value)}"
    if info is None:
        return value, None
    choices = field_choices(info)
    if choices is not None and value not in choices:
        return None, f"must be one of {', '.join(map(str, choices))}, got {_got(value)}"
    bounds = field_bounds(info)
    if not bounds.unbounded and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not bounds.contains(value):
            return None, f"{bounds.rule()}, got {value!r}"
    return value, None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _optimizer_entry(j: int, raw: Any, problems: list[Problem], max_trials: int,
                     folder: str | None) -> tuple[OptimizerPlan, tuple[str, ...]] | None:
    where = f"optimizers[{j}]"
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        problems.append(Problem(where, f"must be an optimizer name or a mapping with name: and hyperparameters, got {_got(raw)}"))
        return None
    label = raw.get("name")
    if "name" not in raw:
        problems.append(Problem(f"{where}.name", "required key is missing (a registered optimizer, or a label plus optimizer: or target:)"))
        return None
    if not isinstance(label, str) or not label.strip():
        problems.append(Problem(f"{where}.name", f"must be a non-empty string, got {_got(label)}"))
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
            problems.append(Problem(f"{where}.optimizer", f"unknown optimizer {_got(registry_name)}; allowed: {allowed}"))
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
    import json

    return json.dumps(value, sort_keys=True)


def _task_entry(i: int, raw: Any, top: SweepFile | None, problems: list[Problem],
                folder: str | None) -> TaskPlan | None:
    where = f"tasks[{i}]"
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict):
        problems.append(Problem(where, f"must be a task name or a mapping with name: and params:, got {_got(raw)}"))
        return None
    try:
        entry = TaskEntry.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, ("tasks", i), TaskEntry))
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
        problems.extend(_pydantic_problems(exc, ("tasks", i, "params"), task_cls.Params))
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
    # torch when this runs, not when the module is imported (a torch-free start-up)
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


def _resolve_device(spec: str, path: str, problems: list[Problem]) -> str | None:
    from adamlab.tasks.device import PLAIN_DEVICES, resolve_device

    if spec in PLAIN_DEVICES:
        return spec
    try:
        device = resolve_device(spec)
    except (AdamlabError, RuntimeError) as exc:
        problems.append(Problem(path, str(exc)))
        return None
    return device.type if spec == "auto" else spec


def _sparse_problems(tasks, optimizers, specs: dict[int, OptimizerSpec], problems: list[Problem]) -> None:
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


def _warmup_problems(tasks, optimizers, problems: list[Problem]) -> None:
    for j, opt in optimizers:
        longest = max(opt.grid.get("warmup_steps", [0]))
        for i, task in tasks:
            if longest > task.steps:
                problems.append(Problem(
                    f"optimizers[{j}].warmup_steps",
                    f"must be <= the steps of every task, got {longest} (tasks[{i}] {task.name} "
                    f"runs {task.steps} steps)",
                ))


# ---------------------------------------------------------------- entry points


def validate_sweep(doc: YamlDocument, *, device: str | None = None,
                   max_trials: int = DEFAULT_MAX_TRIALS, preflight: bool = True,
                   folder: str | Path | None = None, max_steps: int | None = None) -> Sweep:
    """Validate loaded YAML into a Sweep; `device` overrides the file's (the --device option).

    A sweep of more than `max_trials` trials (counted from its grid sizes, before anything is
    expanded), a task too large for the memory of the device it would run on, and a trial of
    more than `max_steps` steps (when None: of more than MAX_TRIAL_WORK_S estimated seconds)
    are refused.
    """
    source, data = doc.source, doc.data
    if data is None:
        raise SweepConfigError([f"{source}: the file is empty; a sweep needs at least name, tasks and optimizers"])
    if not isinstance(data, dict):
        raise SweepConfigError([f"{source}: must be a mapping of keys (name, tasks, optimizers, ...), got {_kind(data)}"])

    problems: list[Problem] = []
    data = _seed_count(data, problems)
    top: SweepFile | None = None
    try:
        top = SweepFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, (), SweepFile))
    if top is not None and top.steps is not None and top.epochs is not None:
        problems.append(Problem("steps", "give steps or epochs, not both"))
        top = None  # the step count is unknown: skip the checks that need it
    stack_size = None
    if top is not None and top.stack_size != "auto":
        if type(top.stack_size) is not int or top.stack_size < 1:
            problems.append(Problem(
                "stack_size", f"must be auto or an integer >= 1, got {top.stack_size!r}"
            ))
        else:
            stack_size = top.stack_size

    seeds = data.get("seeds")
    seen_seeds: set[int] = set()
    for k, seed in enumerate(seeds if isinstance(seeds, list) else []):
        if isinstance(seed, int) and seed in seen_seeds:
            problems.append(Problem(f"seeds[{k}]", f"seed {seed} is given twice"))
        elif isinstance(seed, int):
            seen_seeds.add(seed)

    device_spec = device if device is not None else (top.device if top else data.get("device", "cpu"))
    resolved_device = None
    if isinstance(device_spec, str):
        resolved_device = _resolve_device(device_spec, "--device" if device is not None else "device", problems)

    raw_tasks = data.get("tasks") if isinstance(data.get("tasks"), list) else []
    raw_optimizers = data.get("optimizers") if isinstance(data.get("optimizers"), list) else []
    if folder is None and source and Path(source).is_file():
        folder = Path(source).resolve().parent
    folder = str(folder) if folder is not None else None
    tasks = [(i, plan) for i, raw in enumerate(raw_tasks) if (plan := _task_entry(i, raw, top, problems, folder))]
    entries = [(j, got) for j, raw in enumerate(raw_optimizers) if (got := _optimizer_entry(j, raw, problems, max_trials, folder))]
    optimizers = [(j, plan) for j, (plan, _) in entries]
    specs = {j: get_spec(plan.optimizer, plan.target, folder) for j, plan in optimizers}
    _sparse_problems(tasks, optimizers, specs, problems)
    _warmup_problems(tasks, optimizers, problems)
    if not problems and top is not None:
        problems.extend(_size_problems(tasks, optimizers, len(top.seeds), max_trials))
        too_big = _memory_problems(tasks, resolved_device, folder) if resolved_device is not None else []
        problems.extend(too_big)
        # a task that cannot fit is not also said to take too long
        problems.extend(p for p in _work_problems(tasks, max_steps, folder) if p.path not in {q.path for q in too_big})
    if problems:
        raise SweepConfigError(_format(doc, problems))
    assert top is not None and resolved_device is not None
    sweep = Sweep(
        name=top.name,
        description=top.description,
        source=source,
        output=Path(top.output) if top.output is not None else DEFAULT_RESULTS_ROOT / top.name,
        seeds=tuple(top.seeds),
        device=resolved_device,
        divergence_factor=top.divergence_factor,
        stack_size=stack_size,
        tasks=tuple(plan for _, plan in tasks),
        optimizers=tuple(plan for _, plan in optimizers),
        explicit_hparams=tuple(explicit for _, (_, explicit) in entries),
        folder=folder,
        document=doc,
    )
    if preflight:
        check_optimizers(sweep)
        sweep = replace(sweep, optimizers_checked=True)
    return sweep


def check_optimizers(sweep: Sweep) -> None:
    """Build every optimizer entry of `sweep` and step it (adamlab.sweep.preflight; imports
    torch); raises SweepConfigError. Commands that run nothing (--dry-run, a sweep whose trials
    are all done) skip it."""
    tasks = list(enumerate(sweep.tasks))
    problems = preflight_problems(
        [(f"optimizers[{j}]", plan, sweep.optimizer_spec(plan)) for j, plan in enumerate(sweep.optimizers)],
        dense=[f"tasks[{i}] ({t.name})" for i, t in tasks if not t.uses_sparse_gradients],
        sparse=[f"tasks[{i}] ({t.name})" for i, t in tasks if t.uses_sparse_gradients],
        folder=sweep.folder,
    )
    if problems:
        if sweep.document is not None:
            raise SweepConfigError(_format(sweep.document, problems))
        raise SweepConfigError([f"{sweep.source}: {p.path}: {p.message}" for p in problems])


#: the most seeds `seeds: N` may name (a list can name more, each explicitly)
MAX_SEED_COUNT = 10_000


def _seed_count(data: dict, problems: list[Problem]) -> dict:
    """`seeds: N` as [0, ..., N-1]; the trial ids are those of the list written out."""
    count = data.get("seeds")
    if not isinstance(count, int) or isinstance(count, bool):
        return data
    if not 1 <= count <= MAX_SEED_COUNT:
        problems.append(Problem("seeds", f"a seed count must be 1 to {MAX_SEED_COUNT:,} "
                                         f"(or give a list of seeds), got {count}"))
        return {**data, "seeds": [0]}
    return {**data, "seeds": list(range(count))}


def _size_problems(tasks, optimizers, seeds: int, max_trials: int) -> list[Problem]:
    """A sweep above `max_trials` trials, counted without expanding anything."""
    configurations = sum(math.prod(len(values) for values in plan.grid.values()) for _, plan in optimizers)
    total = len(tasks) * configurations * seeds
    if total <= max_trials:
        return []
    return [Problem("optimizers", (
        f"the sweep expands to {total:,} trials ({len(tasks)} task(s) x {configurations:,} "
        f"optimizer configuration(s) x {seeds} seed(s)), more than the limit of {max_trials:,}; "
        f"shrink the grids, or raise the limit with --max-trials"
    ))]


def _work_problems(tasks, max_steps: int | None, folder: str | None) -> list[Problem]:
    """Trials that would run for more than a week (estimated), or more than `max_steps` steps
    when given: a mistyped steps: must not run until it is killed."""
    from adamlab.sweep.resources import SECONDS_PER_MEMBER_BYTE, STEP_OVERHEAD_S

    problems = []
    for i, task in tasks:
        if max_steps is not None:
            if task.steps > max_steps:
                problems.append(Problem(f"tasks[{i}]", (
                    f"{task.name} runs {task.steps:,} steps, more than --max-steps {max_steps:,}"
                )))
            continue
        spec = task_spec(task.name, task.target, folder)
        member = spec.member_bytes(spec.Params.model_validate(task.params), task.batch_size)
        per_step = STEP_OVERHEAD_S + member * SECONDS_PER_MEMBER_BYTE
        if task.steps * per_step > MAX_TRIAL_WORK_S:
            problems.append(Problem(f"tasks[{i}]", (
                f"{task.steps:,} steps of {task.name} would take about "
                f"{_duration(task.steps * per_step)} per trial (estimated {per_step * 1e3:.2g} ms "
                f"a step), more than the {_duration(MAX_TRIAL_WORK_S)} a sweep may ask for; lower "
                f"its steps, or allow them with --max-steps {task.steps}"
            )))
    return problems


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:,.0f} {unit}" if unit == "years" else f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _memory_problems(tasks, device: str, folder: str | None) -> list[Problem]:
    """Tasks whose one trial cannot fit in the memory of the device it would run on (the task's
    model, data and optimizer state, and the metric log a trial keeps until it ends)."""
    from adamlab import host

    available = host.available_memory(device)
    problems = []
    for i, task in tasks:
        spec = task_spec(task.name, task.target, folder)
        model = spec.memory_bytes(spec.Params.model_validate(task.params), task.batch_size)
        logged = (task.steps // task.log_every + task.steps // task.eval_every + 2) * VALUES_PER_LOG_STEP
        need = model + logged * LOGGED_VALUE_BYTES
        if available is not None and need > available:
            problems.append(Problem(f"tasks[{i}]", (
                f"one trial of {task.name} needs about {_bytes(need)} of memory (model, data and "
                f"optimizer state: {_bytes(model)}; log of {task.steps:,} steps every "
                f"{task.log_every:,}: {_bytes(logged * LOGGED_VALUE_BYTES)}), more than the "
                f"{_bytes(available)} {device} has available; lower its sizes or steps"
            )))
    return problems


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit in ("B", "PB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def _format(doc: YamlDocument, problems: list[Problem]) -> list[str]:
    lines: list[tuple[int, str]] = []
    for problem in dict.fromkeys(problems):  # drop exact repeats, keep order
        line = doc.line_of(problem.path) if not problem.path.startswith("--") else None
        where = f"{doc.source}: {problem.path}: " if problem.path else f"{doc.source}: "
        suffix = doc.where(problem.path) if not problem.path.startswith("--") else ""
        lines.append((line or 0, f"{where}{problem.message}{suffix}"))
    return [text for _, text in sorted(lines, key=lambda item: item[0])]


def load_sweep(path: str | Path, *, device: str | None = None,
               max_trials: int = DEFAULT_MAX_TRIALS, preflight: bool = True,
               max_steps: int | None = None, overrides: tuple[str, ...] = ()) -> Sweep:
    """Read and validate a sweep YAML file, with `overrides` ("KEY=VALUE", see
    `adamlab.sweep.overrides`) applied first; raises AdamlabError (SweepConfigError for schema
    problems). `preflight=False` leaves out building the optimizers (see check_optimizers)."""
    from adamlab.sweep.overrides import apply_overrides

    doc = apply_overrides(load_yaml(path), overrides)
    sweep = validate_sweep(doc, device=device, max_trials=max_trials, preflight=preflight,
                           max_steps=max_steps)
    return replace(sweep, overrides=tuple(overrides)) if overrides else sweep
