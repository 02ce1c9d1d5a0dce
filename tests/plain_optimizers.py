"""Optimizers written the way a user writes one (a torch.optim.Optimizer subclass), for the
generic-stacking tests."""

from __future__ import annotations

import torch


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al., 2023): theta -= lr * (sign(beta1 m + (1 - beta1) g) + wd theta);
    m = beta2 m + (1 - beta2) g."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                update = (beta1 * m + (1 - beta1) * p.grad).sign_()
                p.mul_(1 - group["lr"] * group["weight_decay"]).add_(update, alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1 - beta2)


class CachedLrSGD(torch.optim.Optimizer):
    """Broken: keeps the lr it was built with and ignores its group's lr (so a schedule or a
    scheduler cannot change it)."""

    def __init__(self, params, lr: float = 0.01):
        super().__init__(params, {"lr": lr})
        self.lr = lr

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-self.lr)


class SharedStepSGD(torch.optim.Optimizer):
    """Broken: its step count lives on the class, shared by every instance (each instance's
    lr decays with the steps of all of them)."""

    steps_taken = 0

    def __init__(self, params, lr: float = 0.01):
        super().__init__(params, {"lr": lr})
        type(self).steps_taken = 0

    @torch.no_grad()
    def step(self, closure=None):
        type(self).steps_taken += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"] / type(self).steps_taken)



class ClassMomentumSGD(torch.optim.Optimizer):
    """Broken: its momentum is stored on the class, so every instance steps with the momentum of
    the last one built (each lone run is right; the members of a stack are not)."""

    momentum = 0.0

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0):
        super().__init__(params, {"lr": lr})
        type(self).momentum = momentum

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                buffer = state.setdefault("buffer", torch.zeros_like(p))
                buffer.mul_(type(self).momentum).add_(p.grad)
                p.add_(buffer, alpha=-group["lr"])
