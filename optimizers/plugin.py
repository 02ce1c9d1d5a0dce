"""A user's optimizer as a sweep sees it: a torch.optim.Optimizer subclass, or a callable
(params, **kwargs) -> Optimizer, named by `target: "module:attribute"` or installed under the
`adamlab.optimizers` entry-point group.

Its hyperparameters are its constructor's keywords (read from the signature before any trial
runs, so an unknown keyword is refused up front), each with the constructor's default; a value is
checked for its kind (number, flag, string, list) against that default and for nothing else: a
user's `momentum` is the user's, not SGD's. `lr` is what the schedule scales and is >= 0. The
constructor receives list values as tuples (`betas: [[0.9, 0.99]]` -> betas=(0.9, 0.99)).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from pydantic import Field, create_model

from adamlab.optimizers.spec import OptimizerParams, OptimizerSpec
from adamlab.targets import TargetError, load_target, module_file

#: the methods a torch.optim.Optimizer has and the training loop uses
OPTIMIZER_METHODS = ("step", "zero_grad", "state_dict", "load_state_dict", "add_param_group")
#: a keyword that accepts any value (no default to take the kind from)
ANY = object()


def is_optimizer_class(value: Any) -> bool:
    # lazy: a plug-in's spec is read without torch; only checking the class it names needs it
    import torch

    return isinstance(value, type) and issubclass(value, torch.optim.Optimizer)


def optimizer_plugin_spec(name: str, target: str, folder: Path | None, *, origin: str = "") -> OptimizerSpec:
    """The spec of the optimizer at `target`; raises TargetError (one line) when it is none."""
    value, module = load_target(target, folder, kind="optimizer", candidates=is_optimizer_class)
    return spec_of(name, value, target=target, origin=origin or f"file: {module_file(module)}",
                   source_file=module_file(module))


def spec_of(name: str, value: Any, *, target: str, origin: str, source_file: str = "") -> OptimizerSpec:
    if isinstance(value, type):
        if not is_optimizer_class(value):
            missing = [m for m in OPTIMIZER_METHODS if not callable(getattr(value, m, None))]
            lacks = f"; it has no {', '.join(missing)}" if missing else ""
            raise TargetError(
                f"{target} is not an optimizer: a torch.optim.Optimizer subclass or a callable "
                f"(params, **kwargs) -> Optimizer{lacks}"
            )
        signature = inspect.signature(value.__init__)
        parameters = list(signature.parameters.values())[1:]  # self
    elif callable(value):
        try:
            parameters = list(inspect.signature(value).parameters.values())
        except (TypeError, ValueError):
            raise TargetError(f"{target}: its signature cannot be read") from None
    else:
        raise TargetError(
            f"{target} is not an optimizer: a torch.optim.Optimizer subclass or a callable "
            f"(params, **kwargs) -> Optimizer, got {type(value).__name__}"
        )
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        raise TargetError(f"{target} is not an optimizer: its first argument must be the parameters")
    keywords = parameters[1:]
    fields: dict[str, Any] = {}
    open_keywords = False
    for parameter in keywords:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            open_keywords = True
            continue
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.POSITIONAL_ONLY):
            continue
        default = parameter.default
        if default is inspect.Parameter.empty:
            default = ANY
        if isinstance(default, tuple):
            default = list(default)
        if parameter.name == "lr":
            fields["lr"] = (Any, Field(default if default is not ANY else None, ge=0))
        else:
            fields[parameter.name] = (Any, Field(default if default is not ANY else None))
    if "lr" not in fields:
        raise TargetError(f"{target} is not an optimizer adamlab can schedule: it takes no lr keyword")
    params_model = create_model(
        f"{getattr(value, '__name__', 'Plugin')}Params", __base__=OptimizerParams, **fields,
    )
    # every keyword but lr is named by a trial only when the sweep gives it
    params_model.optional = (*(k for k in fields if k != "lr"), *OptimizerParams.optional)
    params_model.open_keywords = open_keywords
    params_model.required = tuple(
        p.name for p in keywords if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    )
    doc = inspect.getdoc(value) or ""
    return OptimizerSpec(
        name=name,
        summary=doc.splitlines()[0] if doc else f"plug-in {target}",
        target=target,
        Params=params_model,
        origin=origin,
        plugin=True,
        source_file=source_file,
    )


def build_plugin(spec: OptimizerSpec, value: Any, params, hyperparameters: dict[str, Any]):
    """The user's optimizer over `params` (list values as tuples)."""
    keywords = {k: tuple(v) if isinstance(v, list) else v for k, v in hyperparameters.items()}
    return value(params, **keywords)
