"""The optimizers a sweep can name, found through one door (adamlab.entry_points): the built-ins,
installed plug-ins and, by `target: "module:attribute"`, an optimizer in the user's own file.

Torch-free until an optimizer is built: a built-in entry point loads its spec (builtin.py), and
only `build_optimizer` imports the implementation.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

from adamlab.entry_points import OPTIMIZER_GROUP, registered
from adamlab.errors import AdamlabError
from adamlab.optimizers.builtin import ADAM_PER_MEMBER
from adamlab.optimizers.plugin import build_plugin, optimizer_plugin_spec, spec_of
from adamlab.optimizers.schedules import split_schedule
from adamlab.optimizers.spec import OptimizerSpec
from adamlab.targets import load_target, source_stamp

__all__ = ["ADAM_PER_MEMBER", "build_optimizer", "get_spec", "optimizer_names", "trial_hparams"]


def optimizer_names() -> list[str]:
    return sorted(registered(OPTIMIZER_GROUP))


@functools.cache
def _registered_spec(name: str) -> OptimizerSpec:
    entry = registered(OPTIMIZER_GROUP)[name]
    value = entry.load()
    if isinstance(value, OptimizerSpec):
        if entry.built_in:
            return value
        return OptimizerSpec(**{**value.__dict__, "name": name, "origin": entry.origin})
    # an installed optimizer class or factory: described from its signature
    return spec_of(name, value, target=entry.entry_point.value, origin=entry.origin)


@functools.cache
def _plugin_spec(name: str, target: str, folder: str | None, stamp: str) -> OptimizerSpec:
    return optimizer_plugin_spec(name, target, Path(folder) if folder else None)


def get_spec(name: str, target: str = "", folder: str | Path | None = None) -> OptimizerSpec:
    """The spec of optimizer `name`: registered, or (with `target`) the plug-in at
    "module:attribute", imported from `folder` first (the sweep file's folder)."""
    if target:
        where = str(folder) if folder is not None else None
        return _plugin_spec(name, target, where, source_stamp(target, Path(folder) if folder else None))
    if name not in registered(OPTIMIZER_GROUP):
        raise AdamlabError(f"unknown optimizer {name!r}; allowed: {', '.join(optimizer_names())}")
    return _registered_spec(name)


def trial_hparams(spec: OptimizerSpec | str, hparams: dict[str, Any]) -> dict[str, Any]:
    """`hparams` as a trial records them: optional hyperparameters at their defaults left out."""
    if isinstance(spec, str):
        spec = get_spec(spec)
    return spec.trial_hparams(hparams)


def _implementation(spec: OptimizerSpec, folder: str | Path | None):
    if spec.plugin:
        return load_target(spec.target, Path(folder) if folder else None)[0]
    module_name, attr = spec.target.split(":")
    return getattr(importlib.import_module(module_name), attr)


def build_optimizer(name: str | OptimizerSpec, params, folder: str | Path | None = None,
                    **hyperparameters):
    """Construct the optimizer over `params` (imports torch); the schedule's hyperparameters are
    the training loop's to apply (see schedules.py), not the optimizer's."""
    spec = name if isinstance(name, OptimizerSpec) else get_spec(name)
    allowed = spec.allowed()
    unknown = set(hyperparameters) - set(allowed)
    if unknown and not spec.Params.open_keywords:
        raise AdamlabError(
            f"optimizer {spec.name!r} has no hyperparameter {sorted(unknown)[0]!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    own, _ = split_schedule(hyperparameters)
    implementation = _implementation(spec, folder)
    if spec.plugin:
        return build_plugin(spec, implementation, params, own)
    return implementation(params, **{**spec.defaults, **own})
