"""The noisy quadratic for a stack of K members: theta is [K, dim], gradients in closed form.

All members share the problem (H, the per-step gradient noise) and theta0, since they share the
seed; the one-trial task built from that seed supplies them. Per step: H theta for all members in
one product, the K losses, and noise + H theta broadcast over the members.
"""

from __future__ import annotations

import torch
from torch import Tensor

from adamlab.tasks.quadratic import QuadraticParams, QuadraticTask
from adamlab.tasks.stacked import StackedTask


class StackedQuadraticTask(StackedTask):
    task = QuadraticTask

    def __init__(
        self, params: QuadraticParams, *, seed: int, device: torch.device, batch_size: int, members: int
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        self.problem = QuadraticTask(params, seed=seed, device=device, batch_size=batch_size)
        # H/2 as the one-trial task scales it (x0.5 is exact), so H theta = 2 (H/2) theta matches
        self._half_hessian = None if self.problem.hessian is None else 0.5 * self.problem.hessian
        self._half_eigenvalues = 0.5 * self.problem.eigenvalues
        self.tensors = [self.stack(self.problem.theta, members)]

    @property
    def theta(self) -> Tensor:
        return self.tensors[0]

    def _half_h_theta(self, theta: Tensor) -> Tensor:
        if self._half_hessian is None:
            return self._half_eigenvalues * theta
        return theta @ self._half_hessian  # row k: (H/2) theta_k, H being symmetric

    def loss_and_grad(self, step: int) -> Tensor:
        noise = self.problem.gradient_noise(step)
        theta = self.theta.detach()
        half_h_theta = self._half_h_theta(theta)
        losses = torch.linalg.vecdot(theta, half_h_theta)
        if noise is None:
            self.theta.grad = half_h_theta.mul_(2.0)
        else:
            self.theta.grad = torch.add(noise, half_h_theta, alpha=2.0)
        return losses

    def objectives(self) -> list[float]:
        """f(theta_k) of each member."""
        theta = self.theta.detach()
        return torch.linalg.vecdot(theta, self._half_h_theta(theta)).tolist()

    def evaluate(self) -> list[dict[str, float]]:
        return [{"loss": value} for value in self.objectives()]

    def step_metrics(self) -> list[dict[str, float]]:
        distances = torch.linalg.vector_norm(self.theta.detach(), dim=1).tolist()
        return [{"distance_to_opt": value} for value in distances]
