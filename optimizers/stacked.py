"""Optimizer updates for a stack of K models trained side by side (issue 8's batched trials).

Every parameter of the stack is one tensor with the members along its leading axis
(theta[k] is member k's parameter), and every hyperparameter that may differ between members is
a per-member value: as a tensor it is a column shaped [K, 1, ..., 1] that broadcasts over the
member's coordinates. Member k's update is exactly its one-trial optimizer's update:

Adam (Kingma & Ba, Algorithm 1), AdamW (Loshchilov & Hutter), see `adam.py`:

    m     = beta1 * m + (1 - beta1) * g
    v     = beta2 * v + (1 - beta2) * g^2
    m_hat = m / (1 - beta1^t),  v_hat = v / (1 - beta2^t)      (m, v without bias correction)
    theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

with weight decay coupled (Adam: g += weight_decay * theta) or decoupled (AdamW: theta *= 1 -
lr * weight_decay first), AMSGrad's running max of v optional. On the CPU the stack is updated
by the single-pass kernel in `stacked_kernel` (one call for all members and tensors, the same
expression as the one-trial kernel); elsewhere by the tensor ops of `_tensor_step`.

SGD as torch.optim.SGD: g += weight_decay * theta; with momentum b = g at the first step, then
b = momentum * b + (1 - dampening) * g; Nesterov uses g + momentum * b; theta -= lr * g.

Members of one stack share the optimizer and its discrete flags (amsgrad, bias_correction; the
registry name fixes momentum/nesterov); `STACKED_OPTIMIZERS` says which hyperparameters may vary.
At log steps `step_and_diagnose()` gives each member the `opt.*` metrics `diagnostics.py` defines
for one trial (the kernel measures them in its update pass). `keep()` drops members (a diverged
one leaves the stack with its state).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import Tensor

from adamlab.optimizers.stacked_kernel import StackedAdamCall, load_stacked_kernel

IMPLEMENTATIONS = ("auto", "tensor", "kernel")
#: below this many elements in one step the kernel runs on one thread (forking costs more)
PARALLEL_MIN_NUMEL = 64 * 1024


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

    def keep(self, members: Sequence[int]) -> MemberValues:
        return MemberValues({name: [values[k] for k in members] for name, values in self.values.items()})


def _select(tensor: Tensor, index: Tensor) -> Tensor:
    return tensor.index_select(0, index.to(tensor.device))


class StackedOptimizer(ABC):
    """The update of K members' parameters; each member's hyperparameters in `hp`."""

    #: adaptive optimizers report opt.bc1 / opt.bc2 / opt.eps_dominated too
    adaptive = False

    def __init__(self, params: list[Tensor], hp: MemberValues):
        self.params = list(params)
        self.hp = hp

    @property
    def members(self) -> int:
        return self.params[0].shape[0]

    @abstractmethod
    def step(self) -> None:
        """One update of every member, from each parameter's .grad."""

    def keep(self, members: Sequence[int], params: list[Tensor]) -> None:
        """Drop every member not in `members` (ascending); `params` are the task's new tensors."""
        self.params = list(params)
        self.hp = self.hp.keep(members)

    def step_and_diagnose(self) -> list[dict[str, float]]:
        """step(), returning each member's opt.* metrics of that step (log steps)."""
        snapshot = self.snapshot()
        self.step()
        return self.diagnostics(snapshot)

    def snapshot(self) -> list[Tensor]:
        """Copies of the parameters; take before step() for `diagnostics`."""
        return [p.detach().clone() for p in self.params]

    def diagnostics(self, snapshot: list[Tensor]) -> list[dict[str, float]]:
        """Per member, the opt.* metrics of the step taken since `snapshot` (diagnostics.py's)."""
        members = self.members
        coordinates = sum(p[0].numel() for p in self.params)
        moved = [
            (p.detach() - before).abs_().flatten(1).sum(1).tolist()
            for p, before in zip(self.params, snapshot, strict=True)
        ]
        metrics: list[dict[str, float]] = [{} for _ in range(members)]
        for k, lr in enumerate(self.hp["lr"]):
            if lr > 0 and coordinates:  # lr 0 says nothing about step size: not reported
                metrics[k]["opt.effective_step"] = sum(sums[k] / lr for sums in moved) / coordinates
        return metrics


class StackedAdam(StackedOptimizer):
    """Adam (decoupled_weight_decay=False) or AdamW (True) for a stack; see the module docstring."""

    adaptive = True
    PER_MEMBER = ("lr", "beta1", "beta2", "eps", "weight_decay")

    def __init__(
        self, params: list[Tensor], members: list[dict[str, Any]], *,
        decoupled_weight_decay: bool, implementation: str = "auto",
    ):
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
        hp = {name: [float(m[name]) for m in members] for name in self.PER_MEMBER}
        # derived in float64 and rounded once, as the one-trial kernel derives them
        hp["1-beta1"] = [1.0 - beta1 for beta1 in hp["beta1"]]
        hp["1-beta2"] = [1.0 - beta2 for beta2 in hp["beta2"]]
        hp["shrink"] = [1.0 - lr * wd for lr, wd in zip(hp["lr"], hp["weight_decay"], strict=True)]
        super().__init__(params, MemberValues(hp))
        self.amsgrad = bool(_shared(members, "amsgrad", False))
        self.bias_correction = bool(_shared(members, "bias_correction", True))
        self.decoupled_weight_decay = decoupled_weight_decay
        self.implementation = implementation
        self.t = 0
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.max_exp_avg_sqs = [torch.zeros_like(p) for p in self.params] if self.amsgrad else []
        self._kernel_call: StackedAdamCall | None = None
        self._use_kernel = self._kernel_applies()
        if implementation == "kernel" and not self._use_kernel:
            raise RuntimeError("the stacked Adam kernel cannot take these tensors here "
                               "(needs CPU float32/float64 contiguous tensors and a C compiler)")

    def _kernel_applies(self) -> bool:
        if self.implementation == "tensor":
            return False
        tensors = self.params + self.exp_avgs + self.exp_avg_sqs + self.max_exp_avg_sqs
        dtype = self.params[0].dtype
        return (
            all(t.is_cpu and t.dtype == dtype and t.is_contiguous() for t in tensors)
            and load_stacked_kernel(dtype) is not None
        )

    def keep(self, members: Sequence[int], params: list[Tensor]) -> None:
        index = torch.tensor(list(members), dtype=torch.long)
        super().keep(members, params)
        self.exp_avgs = [_select(m, index) for m in self.exp_avgs]
        self.exp_avg_sqs = [_select(v, index) for v in self.exp_avg_sqs]
        self.max_exp_avg_sqs = [_select(v, index) for v in self.max_exp_avg_sqs]
        self._kernel_call = None
        self._use_kernel = self._kernel_applies()

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        grads = [p.grad for p in self.params]
        if self._use_kernel:
            self._kernel_step(grads)
        else:
            self._tensor_step(grads)

    @torch.no_grad()
    def step_and_diagnose(self) -> list[dict[str, float]]:
        if not self._use_kernel:
            return super().step_and_diagnose()
        self.t += 1
        moved, below = self._kernel_step([p.grad for p in self.params], diagnose=True)
        coordinates = sum(p[0].numel() for p in self.params)
        metrics = []
        for k, lr in enumerate(self.hp["lr"]):
            member = {"opt.effective_step": moved[k] / lr / coordinates} if lr > 0 else {}
            member.update(self._bias_correction_metrics(k))
            member["opt.eps_dominated"] = below[k] / coordinates
            metrics.append(member)
        return metrics

    def _bias_correction_metrics(self, k: int) -> dict[str, float]:
        """opt.bc1 and opt.bc2 of member k after step t, summed over tensors as diagnostics.py does."""
        t = float(self.t)
        bc1_sum = bc2_sum = 0.0
        coordinates = 0
        for theta in self.params:
            n = theta[0].numel()
            bc1_sum += (1.0 - self.hp["beta1"][k] ** t) * n
            bc2_sum += (1.0 - self.hp["beta2"][k] ** t) * n
            coordinates += n
        return {"opt.bc1": bc1_sum / coordinates, "opt.bc2": bc2_sum / coordinates}

    def _kernel_step(self, grads: list[Tensor], *, diagnose: bool = False):
        grads = [g.contiguous() for g in grads]
        if self._kernel_call is None:
            self._kernel_call = StackedAdamCall(
                load_stacked_kernel(self.params[0].dtype), self.params, self.exp_avgs,
                self.exp_avg_sqs, self.max_exp_avg_sqs, self.hp.values,
                decoupled=self.decoupled_weight_decay, bias_correction=self.bias_correction,
            )
        numel = sum(p.numel() for p in self.params)
        threads = torch.get_num_threads() if numel >= PARALLEL_MIN_NUMEL else 1
        return self._kernel_call(self.t, grads, threads, diagnose=diagnose)

    def _bias_corrections(self) -> tuple[Tensor, Tensor]:
        """(1 - beta1^t, 1 - beta2^t) per member, in float64 (ones without bias correction)."""
        if not self.bias_correction:
            ones = torch.ones(self.members, dtype=torch.float64)
            return ones, ones
        bc1, bc2 = (
            1.0 - torch.tensor(self.hp[name], dtype=torch.float64) ** self.t for name in ("beta1", "beta2")
        )
        return bc1, bc2

    def _tensor_step(self, grads: list[Tensor]) -> None:
        decay = any(self.hp["weight_decay"])
        bc1, bc2 = self._bias_corrections()
        # lr * m_hat / (sqrt(v_hat) + eps), m_hat = m / bc1 and v_hat = v / bc2, is computed as
        # (lr / bc1) * m / (sqrt(v * (1 / bc2)) + eps) with both factors rounded once from
        # float64: the one-trial kernel's expression, so the two agree to the last bits
        step = MemberValues({
            "lr / bc1": (torch.tensor(self.hp["lr"], dtype=torch.float64) / bc1).tolist(),
            "1 / bc2": (1.0 / bc2).tolist(),
        })
        for i, (theta, g) in enumerate(zip(self.params, grads, strict=True)):
            m, v = self.exp_avgs[i], self.exp_avg_sqs[i]
            column = partial(self.hp.column, like=theta)
            theta = theta.detach()
            if decay and self.decoupled_weight_decay:
                theta.mul_(column("shrink"))  # theta *= 1 - lr * weight_decay
            elif decay:
                g = g + column("weight_decay") * theta
            m.mul_(column("beta1")).add_(column("1-beta1") * g)  # m = beta1 m + (1 - beta1) g
            v.mul_(column("beta2")).add_(column("1-beta2") * g * g)  # v = beta2 v + (1 - beta2) g^2
            if self.amsgrad:
                torch.maximum(self.max_exp_avg_sqs[i], v, out=self.max_exp_avg_sqs[i])
                v = self.max_exp_avg_sqs[i]
            denominator = (v * step.column("1 / bc2", theta)).sqrt_().add_(column("eps"))
            theta.sub_(step.column("lr / bc1", theta) * m / denominator)

    @torch.no_grad()
    def diagnostics(self, snapshot: list[Tensor]) -> list[dict[str, float]]:
        metrics = super().diagnostics(snapshot)
        counts = [0] * self.members
        coordinates = 0
        bc2 = MemberValues({"bc2": self._bias_corrections()[1].tolist()})
        for i, theta in enumerate(self.params):
            v = self.max_exp_avg_sqs[i] if self.amsgrad else self.exp_avg_sqs[i]
            # v_hat as diagnostics.py computes it: v / (1 - beta2^t), the float64 factor rounded once
            v_hat = v / bc2.column("bc2", theta) if self.bias_correction else v
            # an int32 sum: torch's default int64 sum of booleans takes ~7x longer
            below = torch.lt(v_hat.sqrt(), self.hp.column("eps", theta)).flatten(1).sum(1, dtype=torch.int32)
            counts = [total + n for total, n in zip(counts, below.tolist(), strict=True)]
            coordinates += theta[0].numel()
        for k in range(self.members):
            metrics[k].update(self._bias_correction_metrics(k))
            metrics[k]["opt.eps_dominated"] = counts[k] / coordinates
        return metrics


class StackedSGD(StackedOptimizer):
    """torch.optim.SGD for a stack: plain, heavy-ball momentum (with dampening) or Nesterov."""

    def __init__(
        self, params: list[Tensor], members: list[dict[str, Any]], *, momentum: bool, nesterov: bool
    ):
        values = {
            "lr": [float(m["lr"]) for m in members],
            "weight_decay": [float(m.get("weight_decay", 0.0)) for m in members],
        }
        if momentum:
            values["momentum"] = [float(m["momentum"]) for m in members]
            # torch.optim.SGD with momentum 0 keeps no buffer, so it never dampens: with a
            # dampening of 0 the buffer is g itself and the update is the same
            values["dampening"] = [
                float(m.get("dampening", 0.0)) if m["momentum"] != 0 else 0.0 for m in members
            ]
        super().__init__(params, MemberValues(values))
        self.momentum = momentum
        self.nesterov = nesterov
        self.buffers: list[Tensor | None] = [None] * len(self.params)

    def keep(self, members: Sequence[int], params: list[Tensor]) -> None:
        index = torch.tensor(list(members), dtype=torch.long)
        super().keep(members, params)
        self.buffers = [None if b is None else _select(b, index) for b in self.buffers]

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
            theta.addcmul_(g, -self.hp.column("lr", theta))


def _shared(members: list[dict[str, Any]], name: str, default: Any) -> Any:
    values = {m.get(name, default) for m in members}
    if len(values) != 1:
        raise ValueError(f"members of one stack must share {name}, got {sorted(values)}")
    return values.pop()


@dataclass(frozen=True)
class StackedForm:
    """How a registry optimizer runs stacked: which hyperparameters may differ between members."""

    per_member: tuple[str, ...]
    build: Callable[..., StackedOptimizer]

    def shared_hparams(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """What members of one stack must have in common (amsgrad, bias_correction, ...)."""
        return {k: v for k, v in hparams.items() if k not in self.per_member}


#: registry name -> stacked form; optimizers not listed (torch's reference classes, SparseAdam)
#: always run one trial at a time
STACKED_OPTIMIZERS: dict[str, StackedForm] = {
    "adam": StackedForm(StackedAdam.PER_MEMBER, partial(StackedAdam, decoupled_weight_decay=False)),
    "adamw": StackedForm(StackedAdam.PER_MEMBER, partial(StackedAdam, decoupled_weight_decay=True)),
    "sgd": StackedForm(("lr", "weight_decay"), partial(StackedSGD, momentum=False, nesterov=False)),
    "momentum": StackedForm(
        ("lr", "momentum", "dampening", "weight_decay"), partial(StackedSGD, momentum=True, nesterov=False)
    ),
    "nesterov": StackedForm(
        ("lr", "momentum", "weight_decay"), partial(StackedSGD, momentum=True, nesterov=True)
    ),
}


def build_stacked_optimizer(
    name: str, params: list[Tensor], members: list[dict[str, Any]], **options: Any
) -> StackedOptimizer:
    """The stacked form of registry optimizer `name` over `params`, member k with `members[k]`."""
    form = STACKED_OPTIMIZERS.get(name)
    if form is None:
        raise ValueError(f"optimizer {name!r} has no stacked form; stackable: {', '.join(STACKED_OPTIMIZERS)}")
    if any(p.shape[0] != len(members) for p in params):
        raise ValueError(f"every stacked tensor needs {len(members)} members along dim 0")
    shared = [form.shared_hparams(m) for m in members]
    if any(s != shared[0] for s in shared):
        raise ValueError(f"members of one {name} stack must share {', '.join(shared[0]) or 'nothing'}")
    return form.build(params, members, **options)
