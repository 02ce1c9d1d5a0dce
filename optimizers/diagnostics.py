"""What an optimizer step did, measured from outside the optimizer (the sweep logs it as opt.*).

    snapshot = params_snapshot(optimizer)   # after backward, before optimizer.step()
    optimizer.step()
    metrics = step_diagnostics(optimizer, snapshot)

- `opt.effective_step`: mean over the updated coordinates of |delta theta| / lr (each parameter
  group's own lr): how far a step moves per unit of learning rate. Any optimizer.
- For Adam-family optimizers (any whose state holds `exp_avg_sq`: adamlab's Adam/AdamW,
  torch.optim.Adam/AdamW/SparseAdam), after the step t:
  `opt.bc1` = 1 - beta1^t and `opt.bc2` = 1 - beta2^t, the bias-correction factors Algorithm 1
  divides by (reported with bias_correction=False too: what the run is doing without), and
  `opt.eps_dominated`: the share of coordinates whose denominator sqrt(v_hat) + eps is mostly
  eps (eps > sqrt(v_hat)), v_hat being what the optimizer divides by (AMSGrad's max of v, and v
  itself without bias correction).

Coordinates are those of the parameters that had a gradient at the snapshot (the ones the step
may move; a complex number is two, as Adam treats it); with several groups or tensors, values
are averaged over coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: one (group index, parameter, copy of it before the step) per parameter with a gradient
Snapshot = list[tuple[int, Tensor, Tensor]]


def params_snapshot(optimizer: torch.optim.Optimizer) -> Snapshot:
    """Copies of the parameters the next step will update; take after backward, before step()."""
    return [
        (index, p, p.detach().clone())
        for index, group in enumerate(optimizer.param_groups)
        for p in group["params"]
        if p.grad is not None
    ]


def step_diagnostics(optimizer: torch.optim.Optimizer, snapshot: Snapshot) -> dict[str, float]:
    """The opt.* metrics of the step taken since `snapshot` (see the module docstring)."""
    metrics: dict[str, float] = {}
    effective_step = _effective_step(optimizer, snapshot)
    if effective_step is not None:
        metrics["opt.effective_step"] = effective_step
    metrics.update(_adam_diagnostics(optimizer, snapshot))
    return metrics


def _effective_step(optimizer: torch.optim.Optimizer, snapshot: Snapshot) -> float | None:
    total, coordinates = 0.0, 0
    for index, p, before in snapshot:
        lr = float(optimizer.param_groups[index]["lr"])
        if lr <= 0:  # nothing to divide by: such a group says nothing about step size
            continue
        delta = _real(p.detach() - before)
        total += delta.abs().sum().item() / lr
        coordinates += delta.numel()
    return total / coordinates if coordinates else None


def _adam_diagnostics(optimizer: torch.optim.Optimizer, snapshot: Snapshot) -> dict[str, float]:
    bc1_sum = bc2_sum = eps_dominated = 0.0
    coordinates = 0
    for index, p, _ in snapshot:
        state = optimizer.state.get(p, {})
        if "exp_avg_sq" not in state:
            continue
        group = optimizer.param_groups[index]
        beta1, beta2 = (float(beta) for beta in group["betas"])
        t = float(state["step"])
        bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
        v = state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"]
        v_hat = _real(v / bc2 if group.get("bias_correction", True) else v)
        n = v_hat.numel()
        eps_dominated += (v_hat.sqrt() < group["eps"]).sum().item()
        bc1_sum += bc1 * n
        bc2_sum += bc2 * n
        coordinates += n
    if not coordinates:
        return {}
    return {
        "opt.bc1": bc1_sum / coordinates,
        "opt.bc2": bc2_sum / coordinates,
        "opt.eps_dominated": eps_dominated / coordinates,
    }


def _real(tensor: Tensor) -> Tensor:
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor
