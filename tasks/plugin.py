"""A user's task in plain PyTorch, as a sweep sees it (named by `target: "module:Class"` or
installed under the `adamlab.tasks` entry-point group). The class follows this contract:

    class MyTask:
        metric_goals = {"val_loss": "min", "test_loss": "min"}   # optional
        def __init__(self, *, seed: int, device: torch.device, **params): ...
        def model(self) -> torch.nn.Module: ...        # a fresh model for this seed
        def batch(self, step: int): ...                # the training batch of step 1, 2, ...
        def loss(self, model, batch) -> torch.Tensor: ...   # scalar training loss
        def evaluate(self, model) -> dict[str, float]: ...  # at eval steps and at the last step
        @classmethod
        def data_identity(cls, **params) -> str | None: ...  # optional: a fingerprint of the
                                                            # data files it reads (TaskSpec's)

Its parameters are the keywords of `__init__` besides seed and device (a `params:` key the
constructor does not take is refused before any trial runs; one without a default must be
given). Goals not declared follow the naming rule (accuracy up, everything else down); the
metric summaries rank by is `primary_metric` when the class sets it, else its first declared
`test_*` goal, else train_loss. The runner builds it with the trial's seed after seeding the
global RNGs and trains it through `ModuleTask` (tasks/module_task.py).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, create_model

from adamlab.targets import TargetError, load_target, module_file
from adamlab.tasks.spec import TaskSpec

#: what a task class must define
TASK_METHODS = ("model", "batch", "loss", "evaluate")
#: the keywords adamlab passes itself
RESERVED = ("seed", "device")
GOALS = ("min", "max")


def is_task_class(value: Any) -> bool:
    return isinstance(value, type) and all(callable(getattr(value, m, None)) for m in TASK_METHODS)


def task_plugin_spec(name: str, target: str, folder: Path | None, *, origin: str = "") -> type[TaskSpec]:
    """The spec of the task class at `target`; raises TargetError (one line) when it is none."""
    value, module = load_target(target, folder, kind="task", candidates=is_task_class)
    return spec_of(name, value, target=target, origin=origin or f"file: {module_file(module)}",
                   source_file=module_file(module))


def spec_of(name: str, value: Any, *, target: str, origin: str, source_file: str = "") -> type[TaskSpec]:
    if not isinstance(value, type):
        raise TargetError(f"{target} is not a task: a class with {', '.join(TASK_METHODS)}, "
                          f"got {type(value).__name__}")
    missing = [m for m in TASK_METHODS if not callable(getattr(value, m, None))]
    if missing:
        raise TargetError(f"{target} is not a task: it has no {', '.join(missing)} "
                          f"(a task defines {', '.join(TASK_METHODS)})")
    parameters = list(inspect.signature(value.__init__).parameters.values())[1:]
    names = {p.name for p in parameters}
    absent = [k for k in RESERVED if k not in names
              and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)]
    if absent:
        raise TargetError(f"{target} is not a task: its __init__ takes no {', '.join(absent)} "
                          f"(adamlab passes seed= and device=)")
    fields: dict[str, Any] = {}
    open_keywords = False
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_keywords = True
            continue
        if parameter.name in RESERVED or parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        default = parameter.default
        if default is inspect.Parameter.empty:
            fields[parameter.name] = (Any, Field(...))
        else:
            fields[parameter.name] = (Any, Field(list(default) if isinstance(default, tuple) else default))
    config = ConfigDict(extra="allow" if open_keywords else "forbid", frozen=True)
    params_model = create_model(f"{value.__name__}Params", __config__=config, **fields)
    goals = dict(getattr(value, "metric_goals", None) or {})
    bad = {m: g for m, g in goals.items() if g not in GOALS}
    if bad:
        metric, goal = next(iter(bad.items()))
        raise TargetError(f"{target}: metric_goals[{metric!r}] must be min or max, got {goal!r}")
    goals = {"train_loss": "min", **goals}
    primary = getattr(value, "primary_metric", None) or next(
        (m for m in goals if m.startswith("test_")), "train_loss"
    )
    loss = next((m for m in ("test_loss", "val_loss", "loss") if m in goals), "train_loss")
    doc = inspect.getdoc(value) or ""
    return type(f"{value.__name__}Spec", (TaskSpec,), {
        "name": name,
        "summary": doc.splitlines()[0] if doc else f"plug-in {target}",
        "Params": params_model,
        "metric_goals": goals,
        "primary_metric": primary,
        "loss_metric": loss,
        "implementation": target,
        "origin": origin,
        "plugin": True,
        "source_file": source_file,
        "user_class": value,
        "data_identity": classmethod(_user_data_identity),
    })


def _user_data_identity(spec: type[TaskSpec], params: Any) -> str | None:
    hook = getattr(spec.user_class, "data_identity", None)
    return None if hook is None else hook(**params.model_dump())
