"""The sweep file's static shape as pydantic models (`SweepFile`, `TaskEntry`), and pydantic's
errors said as adamlab's one-line problems (key path, what is allowed, what was given).

The parts that depend on the registries (task parameters, optimizer hyperparameters) are checked
by adamlab.sweep.entries; this module knows no task or optimizer.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adamlab.sweep.problems import Problem
from adamlab.sweep.yaml_source import render_path

# the name is a folder name under results/: not only dots ("." and ".." are the folder itself
# and its parent)
NAME_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"

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


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean", int: "an integer", float: "a number", str: "a string",
        list: "a list", dict: "a mapping",
    }.get(type(value), type(value).__name__)


def described(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return kind_of(value)
    if isinstance(value, str):
        return repr(value)
    return f"{value!r} ({kind_of(value)})" if isinstance(value, bool) or value is None else repr(value)


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
        return f"must be {bounds[kind]} {shown}, got {described(got)}"
    expected = {
        "int_type": "an integer", "int_from_float": "an integer", "int_parsing": "an integer",
        "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
        "string_type": "a string", "bool_type": "true or false", "bool_parsing": "true or false",
        "list_type": "a list", "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    }
    if kind in expected:
        return f"must be {expected[kind]}, got {described(got)}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind == "string_pattern_mismatch":
        return f"must be a folder name of letters, digits, '_', '.', '-' (not . or ..), got {described(got)}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx.get('expected')}, got {described(got)}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    message = error["msg"]
    return f"{message[:1].lower()}{message[1:]}, got {described(got)}"


def pydantic_problems(exc: ValidationError, prefix: tuple, model: type[BaseModel]) -> list[Problem]:
    return [
        Problem(render_path((*prefix, *err["loc"])), _describe(err, model))
        for err in exc.errors()
    ]

