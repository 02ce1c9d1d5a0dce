"""Optimizers for a stack of K >= 1 models trained side by side: how every trial is optimized.

Every parameter of a stack is one tensor with the members along its leading axis (theta[k] is
member k's parameter; a plain trial is a stack of K = 1), and every hyperparameter that may
differ between members is a per-member value. Member k's update is exactly its one-trial
optimizer's update:

- Adam / AdamW (`StackedAdam`): `fast_adam`, the one fast Adam implementation the public
  Adam/AdamW classes use too, with one coefficient set per member (see adam.py for the update).
- SGD, heavy-ball momentum, Nesterov (`StackedSGD`), as torch.optim.SGD: g += weight_decay *
  theta; with momentum b = g at the first step, then b = momentum * b + (1 - dampening) * g;
  Nesterov uses g + momentum * b; theta -= lr * g. Per-member values are [K, 1, ...] columns
  cached on the parameters' device, so a step copies nothing to the device.
- Any other registered optimizer (torch's reference Adam/AdamW, SparseAdam; and every optimizer
  on sparse gradients) runs unchanged on a K = 1 stack (`TorchStack`).

Members of one stack share the optimizer and its discrete flags (amsgrad, bias_correction,
weight_decay_scaling; the registry name fixes momentum/nesterov) and the lr schedule: the
registry's `per_member` says which hyperparameters may vary. The training loop sets the
schedule's multiplier eta_t before each step (`set_lr_multiplier`): every member's lr in force is
then its lr * eta_t, as a torch lr scheduler would set it. At log steps `step_and_diagnose()`
gives each member the opt.* metrics of diagnostics.py (effective step over the lr in force).
`keep()` drops members (a diverged one leaves the stack with its state).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from adamlab.optimizers import fast_adam
from adamlab.optimizers.adam import check_hyperparameters
from adamlab.optimizers.adam_kernel import kernel_problem, load_kernel
from adamlab.optimizers.builtin import ADAM_PER_MEMBER
from adamlab.optimizers.diagnostics import (
    member_movement,
    opt_metrics,
    params_snapshot,
    step_diagnostics,
)
from adamlab.optimizers.optimizer_stack import OptimizerStack
from adamlab.optimizers.registry import build_optimizer, get_spec
from adamlab.optimizers.schedules import split_schedule
from adamlab.optimizers.spec import OptimizerSpec

#: the names `adamlab.optimizers.adam` uses for the same code paths
IMPLEMENTATIONS = ("auto", "foreach", "fused")


class MemberValues:
    """Per-member hyperparameters: Python floats, and as [K, 1, ...] columns for tensor ops."""
    def __init__(self, values: dict[str, list[float]]):
        self.values = values
        self._columns: dict[tuple, Tensor] = {}

    def __getitem__(self, name: str) -> list[float]:
        return self.values[name]

    def column(self, name: str, like: Tensor) -> Tensor:
        """Member k's `name` at row k, shaped to broadcast against `like` ([K, ...])."""
        key = (name, like.dim(), like.dtype, like.device)
        column = self._columns.get(key)
        if column is None:
            # computed in float64 then rounded once, as the one-trial optimizers round a Python float
            values = torch.tensor(self.values[name], dtype=torch.float64)
            shape = (len(values),) + (1,) * (like.dim() - 1)
            column = values.to(like.dtype).view(shape).to(like.device)
            self._columns[key] = column
        return column

    def keep(self, kept: Sequence[int]) -> MemberValues:
        return MemberValues({name: [values[k] for k in kept] for name, values in self.values.items()})


def _select(tensor: Tensor, kept: Sequence[int]) -> Tensor:
    return tensor.index_select(0, torch.tensor(list(kept), dtype=torch.long, device=tensor.device))


class StackedOptimizer(ABC):
    """The update of K members' parameters; each member's hyperparameters in `hp`."""
    def __init__(self, params: list[Tensor], hp: MemberValues):
        self.params = list(params)
        self.hp = hp
        #: the schedule's multiplier eta_t of every member's lr at this step
        self.lr_multiplier = 1.0

    def set_lr_multiplier(self, eta: float) -> None:
        self.lr_multiplier = eta

    def lrs(self) -> list[float]:
        """Each member's lr in force (lr * eta_t)."""
        return [lr * self.lr_multiplier for lr in self.hp["lr"]]

    @property
    def members(self) -> int:
        return self.params[0].shape[0]

    @abstractmethod
    def step(self) -> None:
        """One update of every member, from each parameter's .grad."""
    def code_path(self) -> str:
        """The code that runs the update, in words (recorded with each trial)."""
        return "stacked tensor ops"

    def keep(self, kept: Sequence[int], params: list[Tensor]) -> None:
        """Drop every member not in `kept` (ascending); `params` are the task's new tensors."""
        self.params = list(params)
        self.hp = self.hp.keep(kept)

    @torch.no_grad()
    def step_and_diagnose(self) -> list[dict[str, float]]:
        """step(), returning each member's opt.* metrics of that step (log steps)."""
        before = [p.detach().clone() for p in self.params]
        self.step()
        coordinates = sum(p[0].numel() for p in self.params)
        return [
            opt_metrics(total / lr if lr > 0 else None, coordinates)
            for total, lr in zip(member_movement(before, self.params), self.lrs(), strict=True)
        ]


class StackedAdam(StackedOptimizer):
    """Adam (decoupled_weight_decay=False) or AdamW (True) for a stack, through `fast_adam`.

    `implementation`: "auto" (the CPU kernel where it takes the tensors, multi-tensor ops
    elsewhere), "foreach" (multi-tensor ops only) or "fused" (refuses to run without the kernel)."""

    PER_MEMBER = ADAM_PER_MEMBER

    def __init__(
        self, params: list[Tensor], member_hparams: list[dict[str, Any]], *,
        decoupled_weight_decay: bool, implementation: str = "auto",
    ):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        for member in member_hparams:  # what the one-trial Adam/AdamW refuse, with their messages
            check_hyperparameters({
                "lr": member["lr"], "betas": (member["beta1"], member["beta2"]),
                "eps": member["eps"], "weight_decay": member["weight_decay"],
                "amsgrad": member.get("amsgrad", False), "maximize": False,
                "bias_correction": member.get("bias_correction", True),
                "weight_decay_scaling": member.get("weight_decay_scaling", "lr"),
            })
        super().__init__(params, MemberValues(
            {name: [float(m[name]) for m in member_hparams] for name in self.PER_MEMBER}
        ))
        self.flags = fast_adam.AdamFlags(
            decoupled_weight_decay=decoupled_weight_decay,
            amsgrad=bool(_shared(member_hparams, "amsgrad", False)),
            bias_correction=bool(_shared(member_hparams, "bias_correction", True)),
        )
        #: AdamW's decay per step: lr_t * wd ("lr") or eta_t * wd ("schedule")
        self.weight_decay_scaling = _shared(member_hparams, "weight_decay_scaling", "lr")
        self.implementation = implementation
        self.t = 0
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.max_exp_avg_sqs = [torch.zeros_like(p) for p in self.params] if self.flags.amsgrad else []
        if implementation == "fused" and not self.uses_kernel():
            raise RuntimeError("the Adam kernel cannot take these tensors here "
                               "(needs CPU float32/float64 contiguous tensors and a C compiler)")

    def uses_kernel(self) -> bool:
        """Whether a step runs in the C kernel (else multi-tensor ops)."""
        tensors = self.params + self.exp_avgs + self.exp_avg_sqs + self.max_exp_avg_sqs
        dtype = self.params[0].dtype
        return (
            self.implementation != "foreach"
            and all(t.is_cpu and t.dtype == dtype and t.is_contiguous() for t in tensors)
            and load_kernel(dtype) is not None
        )

    def code_path(self) -> str:
        if self.uses_kernel():
            return "fused kernel"

        problem = kernel_problem(self.params[0].dtype) if self.params[0].is_cpu else None
        return "foreach" + (f" (kernel unavailable: {problem})" if problem else "")

    def keep(self, kept: Sequence[int], params: list[Tensor]) -> None:
        super().keep(kept, params)
        self.exp_avgs = [_select(m, kept) for m in self.exp_avgs]
        self.exp_avg_sqs = [_select(v, kept) for v in self.exp_avg_sqs]
        self.max_exp_avg_sqs = [_select(v, kept) for v in self.max_exp_avg_sqs]

    @torch.no_grad()
    def step(self) -> None:
        self._step(diagnose=False)

    @torch.no_grad()
    def step_and_diagnose(self) -> list[dict[str, float]]:
        sums = self._step(diagnose=True)
        coordinates = sum(p[0].numel() for p in self.params)
        metrics = []
        t = float(self.t)
        for k, lr in enumerate(self.lrs()):
            metrics.append(opt_metrics(
                sums.moved[k] / lr if lr > 0 else None, coordinates,
                bc1=1.0 - self.hp["beta1"][k] ** t, bc2=1.0 - self.hp["beta2"][k] ** t,
                below=sums.below[k],
            ))
        return metrics

    def _step(self, *, diagnose: bool) -> fast_adam.StepSums | None:
        self.t += 1
        count, members = len(self.params), self.members
        hp = self.hp
        lrs = self.lrs()
        decay = None  # lr_t * wd: torch's, computed by fast_adam
        if self.weight_decay_scaling == "schedule":
            decay = [self.lr_multiplier * wd for wd in hp["weight_decay"]]
        coefficients = fast_adam.Coefficients(
            lrs, hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"], [float(self.t)] * members,
            decay=decay,
        )
        tensors = fast_adam.SlabTensors(
            self.params, [p.grad for p in self.params], self.exp_avgs, self.exp_avg_sqs,
            self.max_exp_avg_sqs, [members] * count, [0] * count,
        )
        return fast_adam.adam_step(
            tensors, coefficients, self.flags,
            use_kernel=self.implementation != "foreach", diagnose=diagnose,
        )


class StackedSGD(StackedOptimizer):
    """torch.optim.SGD for a stack: plain, heavy-ball momentum (with dampening) or Nesterov."""
    def __init__(
        self, params: list[Tensor], member_hparams: list[dict[str, Any]], *, momentum: bool, nesterov: bool
    ):
        for member in member_hparams:
            _check_sgd(member, nesterov=nesterov)
        values = {
            "lr": [float(m["lr"]) for m in member_hparams],
            "weight_decay": [float(m.get("weight_decay", 0.0)) for m in member_hparams],
        }
        if momentum:
            values["momentum"] = [float(m["momentum"]) for m in member_hparams]
            # torch.optim.SGD with momentum 0 keeps no buffer, so it never dampens: with a
            # dampening of 0 the buffer is g itself and the update is the same
            values["dampening"] = [
                float(m.get("dampening", 0.0)) if m["momentum"] != 0 else 0.0 for m in member_hparams
            ]
        super().__init__(params, MemberValues(values))
        self.momentum = momentum
        self.nesterov = nesterov
        self.buffers: list[Tensor | None] = [None] * len(self.params)

    def keep(self, kept: Sequence[int], params: list[Tensor]) -> None:
        super().keep(kept, params)
        self.buffers = [None if b is None else _select(b, kept) for b in self.buffers]

    @torch.no_grad()
    def step(self) -> None:
        decay = any(self.hp["weight_decay"])
        for i, theta in enumerate(self.params):
            g = theta.grad
            theta = theta.detach()
            if decay:
                g = g.addcmul(theta, self.hp.column("weight_decay", theta))
            if self.momentum:
                momentum = self.hp.column("momentum", theta)
                buffer = self.buffers[i]
                if buffer is None:
                    buffer = self.buffers[i] = g.clone()
                else:
                    buffer.mul_(momentum).addcmul_(g, 1 - self.hp.column("dampening", theta))
                g = g.addcmul(buffer, momentum) if self.nesterov else buffer
            if self.lr_multiplier == 1.0:
                theta.addcmul_(g, -self.hp.column("lr", theta))
            else:  # torch.optim.SGD under an lr scheduler: the buffer is not rescaled
                theta.addcmul_(g, self.hp.column("lr", theta), value=-self.lr_multiplier)


class TorchStack:
    """A torch.optim optimizer (any registered one) on a stack of one member."""
    def __init__(self, optimizer: torch.optim.Optimizer, params: list[Tensor]):
        self.optimizer = optimizer
        self.params = list(params)
        self.initial_lrs = [group["lr"] for group in optimizer.param_groups]
        self.lr_multiplier = 1.0

    def set_lr_multiplier(self, eta: float) -> None:
        """As a torch lr scheduler sets it: each group's lr = its initial lr * eta."""
        self.lr_multiplier = eta
        for group, lr in zip(self.optimizer.param_groups, self.initial_lrs, strict=True):
            group["lr"] = lr * eta

    @property
    def members(self) -> int:
        return 1

    def code_path(self) -> str:
        kind = type(self.optimizer)
        if kind.__module__.startswith("torch.optim"):
            return f"torch.optim.{kind.__name__}"
        return f"{kind.__module__}.{kind.__qualname__}"

    def step(self) -> None:
        self.optimizer.step()

    def step_and_diagnose(self) -> list[dict[str, float]]:
        snapshot = params_snapshot(self.optimizer)
        self.optimizer.step()
        return [step_diagnostics(self.optimizer, snapshot)]

    def keep(self, kept: Sequence[int], params: list[Tensor]) -> None:
        if list(kept) != [0]:  # a one-member stack only ever ends: the loop never shrinks it
            raise ValueError(f"a one-member stack cannot keep members {list(kept)}")


def _check_sgd(member: dict[str, Any], *, nesterov: bool) -> None:
    """Raise what torch.optim.SGD's constructor raises for these hyperparameters."""
    lr, momentum = member["lr"], member.get("momentum", 0.0)
    dampening, weight_decay = member.get("dampening", 0.0), member.get("weight_decay", 0.0)
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if momentum < 0.0:
        raise ValueError(f"Invalid momentum value: {momentum}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening")


def _shared(member_hparams: list[dict[str, Any]], name: str, default: Any) -> Any:
    values = {m.get(name, default) for m in member_hparams}
    if len(values) != 1:
        raise ValueError(f"members of one stack must share {name}, got {sorted(values)}")
    return values.pop()


def adam(params, member_hparams, **options) -> StackedAdam:
    return StackedAdam(params, member_hparams, decoupled_weight_decay=False, **options)


def adamw(params, member_hparams, **options) -> StackedAdam:
    return StackedAdam(params, member_hparams, decoupled_weight_decay=True, **options)


def sgd(params, member_hparams) -> StackedSGD:
    return StackedSGD(params, member_hparams, momentum=False, nesterov=False)


def momentum(params, member_hparams) -> StackedSGD:
    return StackedSGD(params, member_hparams, momentum=True, nesterov=False)


def nesterov(params, member_hparams) -> StackedSGD:
    return StackedSGD(params, member_hparams, momentum=True, nesterov=True)


def build_stacked_optimizer(
    name: str | OptimizerSpec, params: list[Tensor], member_hparams: list[dict[str, Any]], *,
    sparse: bool = False, folder: str | None = None, **options: Any,
) -> StackedOptimizer | TorchStack:
    """Optimizer `name` (a registered name or a spec) over the stacked `params`, member k with
    `member_hparams[k]`. `folder`: where a plug-in's module is imported from first.

    `sparse`: the task's gradients are sparse, which only torch's sparse-capable optimizers
    take (on one member)."""
    spec = name if isinstance(name, OptimizerSpec) else get_spec(name)
    name = spec.name
    if sparse and len(member_hparams) != 1:
        raise ValueError(f"optimizer {name!r} has no stacked form for sparse gradients; it runs "
                         f"on one member at a time")
    if sparse or (spec.stacked is None and len(member_hparams) == 1):
        return TorchStack(build_optimizer(spec, params, folder, **member_hparams[0]), params)
    if spec.stacked is None:
        # any torch.optim optimizer (a plug-in too): one instance per member over its views
        def factory(views, **hparams):
            return build_optimizer(spec, views, folder, **hparams)

        return OptimizerStack(factory, params, member_hparams)
    if any(p.shape[0] != len(member_hparams) for p in params):
        raise ValueError(f"every stacked tensor needs {len(member_hparams)} members along dim 0")
    shared = [spec.shared_hparams(m) for m in member_hparams]
    if any(s != shared[0] for s in shared):
        raise ValueError(f"members of one {name} stack must share {', '.join(shared[0]) or 'nothing'}")
    module_name, attr = spec.stacked.split(":")
    own = [split_schedule(m)[0] for m in member_hparams]  # the schedule is the training loop's
    return getattr(importlib.import_module(module_name), attr)(params, own, **options)
