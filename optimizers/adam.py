"""Adam (Kingma & Ba, 2015, Algorithm 1) and AdamW (Loshchilov & Hutter, 2019).

For every parameter tensor theta with gradient g, at step t:

    m     = beta1 * m + (1 - beta1) * g          first moment (EMA of gradients)
    v     = beta2 * v + (1 - beta2) * g^2        second moment (EMA of squared gradients)
    m_hat = m / (1 - beta1^t)                    bias corrections (skipped with
    v_hat = v / (1 - beta2^t)                    bias_correction=False: m_hat = m, v_hat = v)
    theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

Adam's weight_decay is L2 regularisation coupled into the gradient (g += weight_decay * theta);
AdamW's is decoupled: theta *= 1 - lr * weight_decay before the moments are updated, as in
torch.optim.AdamW (`weight_decay_scaling="lr"`, the default), or theta *= 1 - eta_t *
weight_decay with `weight_decay_scaling="schedule"`, Loshchilov & Hutter's Algorithm 2: eta_t is
the schedule multiplier, the group's lr over its `initial_lr` (which torch's lr schedulers set;
1.0 without a scheduler), so the decay per step does not depend on the base lr. With amsgrad,
v_hat uses the running maximum of v instead of v.

State uses torch's keys (`step` as a 0-dim float tensor on the CPU, `exp_avg` = m,
`exp_avg_sq` = v, `max_exp_avg_sq`), so state_dicts load into torch.optim.Adam/AdamW and back.

`adam_textbook` below is the update written exactly as above, one tensor at a time: the readable
reference. By default the optimizers run the same update through `fast_adam`, the one fast
implementation (a single-pass kernel on the CPU, multi-tensor ops elsewhere), which also updates
stacks of K models (optimizers/stacked.py) and agrees with the textbook to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from numbers import Real

import torch
from torch import Tensor

from adamlab.optimizers import fast_adam
from adamlab.optimizers.adam_kernel import require_kernel
from adamlab.optimizers.schedules import WEIGHT_DECAY_SCALINGS

IMPLEMENTATIONS = ("auto", "plain", "foreach", "fused")


@dataclass(frozen=True)
class AdamHyperparameters:
    """One parameter group's hyperparameters, as plain Python numbers for this step."""
    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool
    amsgrad: bool
    maximize: bool
    bias_correction: bool
    #: AdamW's shrink per step, theta *= 1 - decay: lr * weight_decay, or eta_t * weight_decay
    #: with weight_decay_scaling "schedule" (0 for Adam)
    decay: float = 0.0

    def bias_corrections(self, t: float) -> tuple[float, float]:
        """(1 - beta1^t, 1 - beta2^t), or (1, 1) when bias correction is switched off."""
        if not self.bias_correction:
            return 1.0, 1.0
        return 1.0 - self.beta1**t, 1.0 - self.beta2**t


@dataclass
class AdamTensors:
    """The tensors of one parameter group that take part in this step (those with a gradient).

    Complex parameters appear as real views (torch.view_as_real), so real and imaginary parts
    are separate coordinates, as in torch.optim.Adam.
    """

    params: list[Tensor] = field(default_factory=list)
    grads: list[Tensor] = field(default_factory=list)
    exp_avgs: list[Tensor] = field(default_factory=list)
    exp_avg_sqs: list[Tensor] = field(default_factory=list)
    #: one entry per parameter with amsgrad, else empty
    max_exp_avg_sqs: list[Tensor] = field(default_factory=list)
    steps: list[Tensor] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor]]:
        v_maxes = self.max_exp_avg_sqs or [None] * len(self.params)
        return iter(zip(
            self.params, self.grads, self.exp_avgs, self.exp_avg_sqs, v_maxes, self.steps, strict=True
        ))


def adam_textbook(tensors: AdamTensors, hp: AdamHyperparameters) -> None:
    """Algorithm 1, one parameter tensor at a time (the reference the fast paths are tested on)."""
    for theta, g, m, v, v_max, step in tensors:
        step += 1
        t = step.item()
        if hp.maximize:
            g = -g
        if hp.weight_decay != 0:
            if hp.decoupled_weight_decay:
                theta.mul_(1 - hp.decay)
            else:
                g = g.add(theta, alpha=hp.weight_decay)
        m.mul_(hp.beta1).add_(g, alpha=1 - hp.beta1)
        v.mul_(hp.beta2).addcmul_(g, g, value=1 - hp.beta2)
        if v_max is not None:
            torch.maximum(v_max, v, out=v_max)
            v = v_max
        bc1, bc2 = hp.bias_corrections(t)
        m_hat = m / bc1
        v_hat = v / bc2
        theta.addcdiv_(m_hat, v_hat.sqrt_().add_(hp.eps), value=-hp.lr)


def _scalar_dtype() -> torch.dtype:
    # torch.optim.Adam keeps `step` in float32 (float64 when that is the default dtype)
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _is_real_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _check_number(name: str, value, *, upper_open: float | None = None) -> None:
    if not _is_real_number(value):
        raise ValueError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < 0 or (upper_open is not None and value >= upper_open):
        allowed = f"in [0, {upper_open:g})" if upper_open is not None else ">= 0"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _check_lr(lr) -> None:
    if isinstance(lr, Tensor):
        if lr.numel() != 1 or not lr.is_floating_point():
            raise ValueError(
                f"lr given as a tensor must hold one floating-point value, got shape "
                f"{tuple(lr.shape)} and dtype {lr.dtype}"
            )
        lr = lr.item()
    _check_number("lr", lr)


def check_hyperparameters(group: dict) -> None:
    """Raise ValueError naming the first invalid hyperparameter of a parameter group."""
    _check_lr(group["lr"])
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    _check_number("beta1 (betas[0])", betas[0], upper_open=1.0)
    _check_number("beta2 (betas[1])", betas[1], upper_open=1.0)
    _check_number("eps", group["eps"])
    _check_number("weight_decay", group["weight_decay"])
    for flag in ("amsgrad", "maximize", "bias_correction"):
        if not isinstance(group[flag], bool):
            raise ValueError(f"{flag} must be True or False, got {group[flag]!r}")
    scaling = group.get("weight_decay_scaling", "lr")
    if scaling not in WEIGHT_DECAY_SCALINGS:
        raise ValueError(
            f"weight_decay_scaling must be one of {', '.join(map(repr, WEIGHT_DECAY_SCALINGS))}, "
            f"got {scaling!r}"
        )


class Adam(torch.optim.Optimizer):
    """Adam with coupled L2 weight decay; see the module docstring for the update.

    Arguments as torch.optim.Adam where they overlap, plus `bias_correction` (switch off to
    study what the 1 - beta^t factors do) and `implementation`:
    "auto" (default: the single-pass CPU kernel where it can be built, multi-tensor
    torch._foreach_* ops elsewhere), "plain" (`adam_textbook`), "foreach" or "fused"
    (the kernel, failing loudly if it cannot be built; tensors it cannot take use foreach).
    """

    decoupled_weight_decay = False

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        bias_correction: bool = True,
        implementation: str = "auto",
    ) -> None:
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"implementation must be one of {', '.join(map(repr, IMPLEMENTATIONS))}, "
                f"got {implementation!r}"
            )
        if implementation == "fused":
            require_kernel()
        self.implementation = implementation
        defaults = dict(
            lr=lr, betas=tuple(betas) if isinstance(betas, (tuple, list)) else betas, eps=eps,
            weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
            bias_correction=bias_correction, **self._decay_defaults(),
        )
        super().__init__(params, defaults)  # validates each group (add_param_group)

    def _decay_defaults(self) -> dict:
        """Defaults only AdamW has (its weight_decay_scaling)."""
        return {}

    def add_param_group(self, param_group: dict) -> None:
        # checked before torch adds it: a bad group is refused and the optimizer left unchanged
        check_hyperparameters({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("implementation", "auto")
        for group in self.param_groups:  # groups loaded from torch.optim.Adam lack our flag
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("bias_correction", True)
            group.update({k: group.get(k, v) for k, v in self._decay_defaults().items()})

    def _hyperparameters(self, group: dict) -> AdamHyperparameters:
        beta1, beta2 = group["betas"]
        lr, weight_decay = float(group["lr"]), float(group["weight_decay"])
        decay = 0.0
        if self.decoupled_weight_decay:
            if group.get("weight_decay_scaling", "lr") == "schedule":
                # eta_t: the lr a scheduler set over the lr it started from (1.0 without one)
                initial = float(group.get("initial_lr", lr))
                decay = (lr / initial if initial != 0 else 1.0) * weight_decay
            else:
                decay = lr * weight_decay
        return AdamHyperparameters(
            lr=lr, beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
            weight_decay=weight_decay,
            decoupled_weight_decay=self.decoupled_weight_decay, amsgrad=group["amsgrad"],
            maximize=group["maximize"], bias_correction=group["bias_correction"], decay=decay,
        )

    def _tensors_with_grad(self, group: dict) -> AdamTensors:
        """Collect (and lazily create) the state of the group's parameters that have a gradient."""
        tensors = AdamTensors()
        amsgrad = group["amsgrad"]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError(
                    f"{type(self).__name__} does not support sparse gradients; use "
                    "torch.optim.SparseAdam (registry name 'sparse_adam') for sparse embeddings"
                )
            state = self.state[p]
            if not state:
                state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if amsgrad and "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            row = [p, grad, state["exp_avg"], state["exp_avg_sq"]]
            if amsgrad:
                row.append(state["max_exp_avg_sq"])
            if p.is_complex():
                row = [torch.view_as_real(t) for t in row]
            tensors.params.append(row[0])
            tensors.grads.append(row[1])
            tensors.exp_avgs.append(row[2])
            tensors.exp_avg_sqs.append(row[3])
            if amsgrad:
                tensors.max_exp_avg_sqs.append(row[4])
            tensors.steps.append(state["step"])
        return tensors

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None):
        """Perform one optimisation step; `closure` re-evaluates the loss and returns it."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            tensors = self._tensors_with_grad(group)
            if not tensors.params:
                continue
            hp = self._hyperparameters(group)
            if self.implementation == "plain":
                adam_textbook(tensors, hp)
            else:
                _fast_step(tensors, hp, use_kernel=self.implementation != "foreach")
        return loss


_ONE = torch.tensor(1.0)


def _fast_step(tensors: AdamTensors, hp: AdamHyperparameters, *, use_kernel: bool) -> None:
    """One group's step through `fast_adam`: each tensor one slab with its own step count."""
    # adding a tensor, not the number 1: on CPU tensors that is one call, not one per tensor
    torch._foreach_add_(tensors.steps, _ONE, alpha=1.0)
    n = len(tensors)
    coefficients = fast_adam.Coefficients(
        [hp.lr] * n, [hp.beta1] * n, [hp.beta2] * n, [hp.eps] * n, [hp.weight_decay] * n,
        [step.item() for step in tensors.steps], decay=[hp.decay] * n,
    )
    slabs = fast_adam.SlabTensors(
        tensors.params, tensors.grads, tensors.exp_avgs, tensors.exp_avg_sqs,
        tensors.max_exp_avg_sqs, [1] * n, list(range(n)),
    )
    flags = fast_adam.AdamFlags(
        hp.decoupled_weight_decay, hp.amsgrad, hp.bias_correction, hp.maximize
    )
    fast_adam.adam_step(slabs, coefficients, flags, use_kernel=use_kernel)


class AdamW(Adam):
    """Adam with decoupled weight decay: theta *= 1 - lr * weight_decay before each update
    (`weight_decay_scaling="lr"`, torch's), or theta *= 1 - eta_t * weight_decay
    (`"schedule"`, Loshchilov & Hutter's Algorithm 2; eta_t = lr / initial_lr of the group)."""

    decoupled_weight_decay = True

    def __init__(
        self,
        params,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        bias_correction: bool = True,
        weight_decay_scaling: str = "lr",
        implementation: str = "auto",
    ) -> None:
        self._weight_decay_scaling = weight_decay_scaling
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
            bias_correction=bias_correction, implementation=implementation,
        )

    def _decay_defaults(self) -> dict:
        return {"weight_decay_scaling": getattr(self, "_weight_decay_scaling", "lr")}
