"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2), written
the way any torch.optim optimizer is: adamlab needs nothing more to sweep it.

    c_t = beta1 * m_{t-1} + (1 - beta1) * g_t
    theta_t = theta_{t-1} - lr * (sign(c_t) + weight_decay * theta_{t-1})
    m_t = beta2 * m_{t-1} + (1 - beta2) * g_t
"""

from __future__ import annotations

import torch


class Lion(torch.optim.Optimizer):
    """Lion: the sign of an interpolated momentum, with decoupled weight decay."""

    def __init__(self, params, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0):
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for theta in group["params"]:
                if theta.grad is None:
                    continue
                g = theta.grad
                state = self.state[theta]
                if not state:
                    state["exp_avg"] = torch.zeros_like(theta)
                m = state["exp_avg"]
                c = m.mul(beta1).add_(g, alpha=1 - beta1)
                theta.mul_(1 - group["lr"] * group["weight_decay"])
                theta.add_(c.sign_(), alpha=-group["lr"])
                m.mul_(beta2).add_(g, alpha=1 - beta2)
        return loss
