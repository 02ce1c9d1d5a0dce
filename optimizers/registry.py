"""Optimizer registry: the names sweeps use, their hyperparameters and defaults.

Kept free of torch so the CLI and config validation can check names and keys without importing
it; `build_optimizer` imports the real class on demand. Hyperparameters are flat scalars
(`beta1`, `beta2` rather than a `betas` pair) so each can be swept and tabulated on its own.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from adamlab.errors import AdamlabError
from adamlab.optimizers.schedules import SCHEDULE_DEFAULTS, split_schedule

ADAM_PER_MEMBER = ("lr", "beta1", "beta2", "eps", "weight_decay")
_ADAM_DEFAULTS = {
    "lr": 1e-3,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
    "bias_correction": True,
}


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    summary: str
    #: "module:callable"; called as callable(params, **hyperparameters)
    target: str
    defaults: dict[str, Any] = field(default_factory=dict)
    #: adaptive optimizers get the Adam diagnostics (bias-correction factors, eps share) logged
    adaptive: bool = False
    #: accepts sparse gradients (nn.Embedding(sparse=True))
    sparse_ok: bool = False
    #: "module:callable" of its stacked form, called as callable(params, members) with one
    #: hyperparameter dict per member; None: it runs on stacks of one member (optimizers/stacked.py)
    stacked: str | None = None
    #: the hyperparameters that may differ between the members of one stack
    per_member: tuple[str, ...] = ()
    #: hyperparameters a trial names only when they differ from these defaults (so adding one
    #: leaves every existing trial id as it was): the schedule's, for every optimizer, and any
    #: of the optimizer's own added after its first release
    optional: dict[str, Any] = field(default_factory=lambda: dict(SCHEDULE_DEFAULTS))

    def allowed(self) -> dict[str, Any]:
        """Every hyperparameter a sweep may give, with its default."""
        return {**self.defaults, **self.optional}

    def shared_hparams(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """What the members of one stack must have in common (amsgrad, bias_correction, ...)."""
        return {k: v for k, v in hparams.items() if k not in self.per_member}


OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in [
        OptimizerSpec(
            "adam",
            "adamlab Adam (Kingma & Ba, Alg. 1); weight_decay is coupled L2 added to g",
            "adamlab.optimizers.factories:adam",
            dict(_ADAM_DEFAULTS),
            adaptive=True,
            stacked="adamlab.optimizers.stacked:adam",
            per_member=ADAM_PER_MEMBER,
        ),
        OptimizerSpec(
            "adamw",
            "adamlab AdamW (Loshchilov & Hutter); weight_decay shrinks theta by lr_t*wd per step "
            "(weight_decay_scaling: lr, torch's) or by eta_t*wd (schedule: L&H Alg. 2)",
            "adamlab.optimizers.factories:adamw",
            {**_ADAM_DEFAULTS, "weight_decay": 1e-2},
            adaptive=True,
            stacked="adamlab.optimizers.stacked:adamw",
            per_member=ADAM_PER_MEMBER,
            optional={"weight_decay_scaling": "lr", **SCHEDULE_DEFAULTS},
        ),
        OptimizerSpec(
            "sgd",
            "plain SGD (torch.optim.SGD, no momentum)",
            "adamlab.optimizers.factories:sgd",
            {"lr": 1e-2, "weight_decay": 0.0},
            stacked="adamlab.optimizers.stacked:sgd",
            per_member=("lr", "weight_decay"),
        ),
        OptimizerSpec(
            "momentum",
            "SGD with heavy-ball momentum (torch.optim.SGD)",
            "adamlab.optimizers.factories:momentum",
            {"lr": 1e-2, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0},
            stacked="adamlab.optimizers.stacked:momentum",
            per_member=("lr", "momentum", "dampening", "weight_decay"),
        ),
        OptimizerSpec(
            "nesterov",
            "SGD with Nesterov momentum (torch.optim.SGD, nesterov=True)",
            "adamlab.optimizers.factories:nesterov",
            {"lr": 1e-2, "momentum": 0.9, "weight_decay": 0.0},
            stacked="adamlab.optimizers.stacked:nesterov",
            per_member=("lr", "momentum", "weight_decay"),
        ),
        OptimizerSpec(
            "torch_adam",
            "torch.optim.Adam, the reference adamlab's Adam is tested against",
            "adamlab.optimizers.factories:torch_adam",
            {k: v for k, v in _ADAM_DEFAULTS.items() if k != "bias_correction"},
            adaptive=True,
        ),
        OptimizerSpec(
            "torch_adamw",
            "torch.optim.AdamW, the reference adamlab's AdamW is tested against",
            "adamlab.optimizers.factories:torch_adamw",
            {k: v for k, v in _ADAM_DEFAULTS.items() if k != "bias_correction"}
            | {"weight_decay": 1e-2},
            adaptive=True,
        ),
        OptimizerSpec(
            "sparse_adam",
            "torch.optim.SparseAdam: lazy Adam for sparse embedding gradients",
            "adamlab.optimizers.factories:sparse_adam",
            {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
            adaptive=True,
            sparse_ok=True,
        ),
    ]
}

# sgd handles sparse gradients too (torch.optim.SGD without momentum or weight decay)
OPTIMIZERS["sgd"] = OptimizerSpec(**{**OPTIMIZERS["sgd"].__dict__, "sparse_ok": True})


def trial_hparams(name: str, hparams: dict[str, Any]) -> dict[str, Any]:
    """`hparams` as a trial records them: optional hyperparameters at their defaults left out."""
    optional = get_spec(name).optional
    return {k: v for k, v in hparams.items()
            if not (k in optional and _same_value(v, optional[k]))}


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b
    )


def optimizer_names() -> list[str]:
    return sorted(OPTIMIZERS)


def get_spec(name: str) -> OptimizerSpec:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise AdamlabError(
            f"unknown optimizer {name!r}; allowed: {', '.join(optimizer_names())}"
        ) from None


def build_optimizer(name: str, params, **hyperparameters):
    """Construct the registered optimizer over `params` (imports torch)."""
    spec = get_spec(name)
    unknown = set(hyperparameters) - set(spec.allowed())
    if unknown:
        raise AdamlabError(
            f"optimizer {name!r} has no hyperparameter {sorted(unknown)[0]!r}; "
            f"allowed: {', '.join(spec.allowed())}"
        )
    # the schedule is the training loop's to apply (see schedules.py), not the optimizer's
    own, _ = split_schedule(hyperparameters)
    module_name, attr = spec.target.split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(params, **{**spec.defaults, **own})
