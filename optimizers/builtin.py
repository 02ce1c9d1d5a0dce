"""The built-in optimizers' metadata: summary, hyperparameters (defaults, ranges, choices, which
may differ per stack member) and where the implementation is. Torch-free: `adamlab list`, sweep
validation and the read commands import this, never the optimizers themselves.

Hyperparameters are flat scalars (`beta1`, `beta2` rather than a `betas` pair) so each can be
swept and tabulated on its own; the factories in `factories.py` turn them into torch's arguments.
Each spec is declared as an entry point of this package (`adamlab.optimizers` in pyproject.toml),
the same door an installed plug-in comes through.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from adamlab.optimizers.schedules import WEIGHT_DECAY_SCALINGS
from adamlab.optimizers.spec import OptimizerParams, OptimizerSpec

ADAM_PER_MEMBER = ("lr", "beta1", "beta2", "eps", "weight_decay")

_LR = "learning rate (lr_t = lr x eta_t under a schedule)"


class AdamParams(OptimizerParams):
    per_member = ADAM_PER_MEMBER

    lr: float = Field(1e-3, ge=0, description=_LR)
    beta1: float = Field(0.9, ge=0, lt=1, description="EMA factor of the first moment m")
    beta2: float = Field(0.999, ge=0, lt=1, description="EMA factor of the second moment v")
    eps: float = Field(1e-8, ge=0, description="added to sqrt(v_hat) in the denominator")
    weight_decay: float = Field(0.0, ge=0, description="coupled L2: wd x theta added to g")
    amsgrad: bool = Field(False, description="divide by the running max of v_hat")
    bias_correction: bool = Field(True, description="divide m and v by 1 - beta^t")


class AdamWParams(AdamParams):
    optional = ("weight_decay_scaling", *OptimizerParams.optional)

    weight_decay: float = Field(1e-2, ge=0, description="decoupled: theta shrinks each step")
    weight_decay_scaling: Literal["lr", "schedule"] = Field(
        "lr", description="theta *= 1 - lr_t x wd (lr, torch's) or 1 - eta_t x wd (schedule, "
        "Loshchilov & Hutter Alg. 2): " + " | ".join(WEIGHT_DECAY_SCALINGS),
    )


class TorchAdamParams(OptimizerParams):
    lr: float = Field(1e-3, ge=0, description=_LR)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    amsgrad: bool = False


class TorchAdamWParams(TorchAdamParams):
    weight_decay: float = Field(1e-2, ge=0)


class SparseAdamParams(OptimizerParams):
    lr: float = Field(1e-3, ge=0, description=_LR)
    beta1: float = Field(0.9, ge=0, lt=1)
    beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, ge=0)


class SgdParams(OptimizerParams):
    per_member = ("lr", "weight_decay")

    lr: float = Field(1e-2, ge=0, description=_LR)
    weight_decay: float = Field(0.0, ge=0, description="coupled L2: wd x theta added to g")


class MomentumParams(OptimizerParams):
    per_member = ("lr", "momentum", "dampening", "weight_decay")

    lr: float = Field(1e-2, ge=0, description=_LR)
    momentum: float = Field(0.9, ge=0, description="heavy-ball factor of the buffer b")
    dampening: float = Field(0.0, ge=0, le=1, description="b = momentum b + (1 - dampening) g")
    weight_decay: float = Field(0.0, ge=0, description="coupled L2: wd x theta added to g")


class NesterovParams(OptimizerParams):
    per_member = ("lr", "momentum", "weight_decay")

    lr: float = Field(1e-2, ge=0, description=_LR)
    momentum: float = Field(0.9, ge=0, description="Nesterov momentum (> 0)")
    weight_decay: float = Field(0.0, ge=0, description="coupled L2: wd x theta added to g")


_FACTORIES = "adamlab.optimizers.factories"
_STACKED = "adamlab.optimizers.stacked"

ADAM = OptimizerSpec(
    "adam", "adamlab Adam (Kingma & Ba, Alg. 1); weight_decay is coupled L2 added to g",
    f"{_FACTORIES}:adam", AdamParams, stacked=f"{_STACKED}:adam",
)
ADAMW = OptimizerSpec(
    "adamw",
    "adamlab AdamW (Loshchilov & Hutter); weight_decay shrinks theta by lr_t*wd per step "
    "(weight_decay_scaling: lr, torch's) or by eta_t*wd (schedule: L&H Alg. 2)",
    f"{_FACTORIES}:adamw", AdamWParams, stacked=f"{_STACKED}:adamw",
)
# sgd handles sparse gradients too (torch.optim.SGD without momentum or weight decay)
SGD = OptimizerSpec(
    "sgd", "plain SGD (torch.optim.SGD, no momentum)", f"{_FACTORIES}:sgd", SgdParams,
    sparse_ok=True, stacked=f"{_STACKED}:sgd",
)
MOMENTUM = OptimizerSpec(
    "momentum", "SGD with heavy-ball momentum (torch.optim.SGD)", f"{_FACTORIES}:momentum",
    MomentumParams, stacked=f"{_STACKED}:momentum",
)
NESTEROV = OptimizerSpec(
    "nesterov", "SGD with Nesterov momentum (torch.optim.SGD, nesterov=True)",
    f"{_FACTORIES}:nesterov", NesterovParams, stacked=f"{_STACKED}:nesterov",
)
TORCH_ADAM = OptimizerSpec(
    "torch_adam", "torch.optim.Adam, the reference adamlab's Adam is tested against",
    f"{_FACTORIES}:torch_adam", TorchAdamParams,
)
TORCH_ADAMW = OptimizerSpec(
    "torch_adamw", "torch.optim.AdamW, the reference adamlab's AdamW is tested against",
    f"{_FACTORIES}:torch_adamw", TorchAdamWParams,
)
SPARSE_ADAM = OptimizerSpec(
    "sparse_adam", "torch.optim.SparseAdam: lazy Adam for sparse embedding gradients",
    f"{_FACTORIES}:sparse_adam", SparseAdamParams, sparse_ok=True,
)
