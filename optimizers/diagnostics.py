"""What an optimizer step did (the sweep logs it as opt.*): the definitions, in one place.

- `opt.effective_step`: mean over the updated coordinates of |delta theta| / lr (each parameter
  group's, or stack member's, own lr): how far a step moves per unit of learning rate. Any
  optimizer; not reported where lr is 0 (nothing to divide by).
- For Adam-family optimizers (adamlab's Adam/AdamW and their stacks, torch.optim.Adam/AdamW/
  SparseAdam: any whose state holds `exp_avg_sq`), after the step t:
  `opt.bc1` = 1 - beta1^t and `opt.bc2` = 1 - beta2^t, the bias-correction factors Algorithm 1
  divides by (reported with bias_correction=False too: what the run is doing without), and
  `opt.eps_dominated`: the share of coordinates whose denominator sqrt(v_hat) + eps is mostly
  eps (eps > sqrt(v_hat)), v_hat being what the optimizer divides by (AMSGrad's max of v, and v
  itself without bias correction).

Coordinates are those of the parameters that had a gradient (a complex number is two, as Adam
treats it); with several groups or tensors, values are averaged over coordinates.

The raw sums behind them (sum |delta theta|, the count of sqrt(v_hat) < eps) are measured by
`movement`, `member_movement` and `eps_dominated_counts` from tensors, or by the Adam kernel in its update pass
(adam_kernel); `opt_metrics` turns either into the metrics. For a torch.optim optimizer:

    snapshot = params_snapshot(optimizer)   # after backward, before optimizer.step()
    optimizer.step()
    metrics = step_diagnostics(optimizer, snapshot)
"""

from __future__ import annotations

import torch
from torch import Tensor

#: one (group index, parameter, copy of it before the step) per parameter with a gradient
Snapshot = list[tuple[int, Tensor, Tensor]]


def _real(tensor: Tensor) -> Tensor:
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


def movement(before: list[Tensor], after: list[Tensor]) -> list[float]:
    """sum |after - before| of each pair (float64 sums, read with one synchronisation)."""
    if not before:
        return []
    sums = [
        (_real(a.detach()) - _real(b)).abs().sum(dtype=torch.float64).cpu()
        for a, b in zip(after, before, strict=True)
    ]
    return torch.stack(sums).tolist()


def member_movement(before: list[Tensor], after: list[Tensor]) -> list[float]:
    """Per member of a stack ([K, ...] tensors), sum |after - before| over all its coordinates."""
    moved = torch.zeros(after[0].shape[0], dtype=torch.float64, device=after[0].device)
    for a, b in zip(after, before, strict=True):
        moved += (a.detach() - b).abs_().flatten(1).sum(1, dtype=torch.float64)
    return moved.tolist()


def eps_dominated_counts(v: list[Tensor], bc2: list[float], eps: list[float]) -> list[int]:
    """Per tensor, how many coordinates have sqrt(v / bc2) < eps (v: what Adam divides by)."""
    if not v:
        return []
    # an int32 sum: torch's default int64 sum of booleans takes ~7x longer
    counts = [
        torch.lt((_real(vi) / b).sqrt(), e).sum(dtype=torch.int32).cpu()
        for vi, b, e in zip(v, bc2, eps, strict=True)
    ]
    return torch.stack(counts).tolist()


def opt_metrics(
    moved_over_lr: float | None, coordinates: int, *, bc1: float | None = None,
    bc2: float | None = None, below: int | None = None,
) -> dict[str, float]:
    """The opt.* metrics from the raw sums: sum |delta theta| / lr over `coordinates` (None when
    lr is 0), and for Adam the coordinate-averaged bias corrections and the eps-dominated count."""
    metrics: dict[str, float] = {}
    if not coordinates:
        return metrics
    if moved_over_lr is not None:
        metrics["opt.effective_step"] = moved_over_lr / coordinates
    if bc1 is not None:
        metrics["opt.bc1"] = bc1
        metrics["opt.bc2"] = bc2
        metrics["opt.eps_dominated"] = below / coordinates
    return metrics


def params_snapshot(optimizer: torch.optim.Optimizer) -> Snapshot:
    """Copies of the parameters the next step will update; take after backward, before step()."""
    return [
        (index, p, p.detach().clone())
        for index, group in enumerate(optimizer.param_groups)
        for p in group["params"]
        if p.grad is not None
    ]


def step_diagnostics(optimizer: torch.optim.Optimizer, snapshot: Snapshot) -> dict[str, float]:
    """The opt.* metrics of a torch.optim optimizer's step taken since `snapshot`."""
    lrs = [float(optimizer.param_groups[index]["lr"]) for index, _, _ in snapshot]
    moving = [i for i, lr in enumerate(lrs) if lr > 0]
    moved = movement([snapshot[i][2] for i in moving], [snapshot[i][1] for i in moving])
    stepped = sum(_real(snapshot[i][2]).numel() for i in moving)
    metrics = {}
    if stepped:
        metrics["opt.effective_step"] = sum(m / lrs[i] for m, i in zip(moved, moving, strict=True)) / stepped
    metrics.update(_adam_metrics(optimizer, snapshot))
    return metrics


def _adam_metrics(optimizer: torch.optim.Optimizer, snapshot: Snapshot) -> dict[str, float]:
    bc1_sum = bc2_sum = 0.0
    v_used, bc2s, eps = [], [], []
    coordinates = 0
    for index, p, _ in snapshot:
        state = optimizer.state.get(p, {})
        if "exp_avg_sq" not in state:
            continue
        group = optimizer.param_groups[index]
        beta1, beta2 = (float(beta) for beta in group["betas"])
        t = float(state["step"])
        bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
        v_used.append(state["max_exp_avg_sq"] if group.get("amsgrad") else state["exp_avg_sq"])
        bc2s.append(bc2 if group.get("bias_correction", True) else 1.0)
        eps.append(group["eps"])
        n = _real(p).numel()
        bc1_sum += bc1 * n
        bc2_sum += bc2 * n
        coordinates += n
    if not coordinates:
        return {}
    below = sum(eps_dominated_counts(v_used, bc2s, eps))
    return opt_metrics(
        None, coordinates, bc1=bc1_sum / coordinates, bc2=bc2_sum / coordinates, below=below
    )
