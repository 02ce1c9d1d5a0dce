"""Noisy quadratic: f(theta) = 0.5 (theta - theta*)^T H (theta - theta*), theta* = 0.

The Hessian H has a chosen spectrum and is diagonal or randomly rotated. A minibatch of B
examples gives the gradient H theta + noise, where the noise is the mean of B independent
per-example draws:

- ``noise_shape: isotropic``: each example adds N(0, noise^2 I) to the gradient, so the batch
  gradient noise is N(0, noise^2/B I).
- ``noise_shape: hessian``: as in DeepOBS's ``quadratic_deep``, each example is the quadratic
  centred at a random point x ~ N(0, noise^2 I), 0.5 (theta - x)^T H (theta - x); the batch
  gradient is H (theta - x_bar), i.e. noise -H x_bar with x_bar ~ N(0, noise^2/B I).

Loss and gradient are computed in closed form and the gradient is written to ``theta.grad``
directly (no autograd), and the noise is drawn in blocks of steps, so a step costs a handful of
tensor operations beyond the optimizer's own.

Metrics: ``train_loss`` is the true objective f(theta) at the point where the step's gradient was
taken (not the noisy minibatch loss, whose expectation carries the constant 0.5 noise^2 tr(H)/B
on the hessian noise model and which says nothing about progress); ``distance_to_opt``
(each log step, after the update) is ||theta - theta*||; ``loss`` (each evaluation) is f(theta)
at the current parameters.
"""

from __future__ import annotations

import math

import torch

from adamlab.tasks.base import Task
from adamlab.tasks.quadratic_spec import (
    GEOMETRIC_DEFAULTS,
    MAX_ROTATED_DIM,
    PRESETS,
    QuadraticParams,
    QuadraticSpec,
)
from adamlab.tasks.randomness import StepBlocks, cpu_generator

__all__ = [
    "GEOMETRIC_DEFAULTS", "MAX_ROTATED_DIM", "PRESETS", "QuadraticParams", "QuadraticTask",
    "eigenvalues", "haar_orthogonal",
]

def eigenvalues(params: QuadraticParams, generator: torch.Generator) -> torch.Tensor:
    """The Hessian's eigenvalues (float64, CPU), largest first for the geometric spectrum."""
    dim = params.dim
    if params.spectrum == "geometric":
        exponents = torch.arange(dim, dtype=torch.float64) / max(dim - 1, 1)
        return params.max_curvature * params.condition ** (-exponents)
    n_large = round(dim / 10)
    small = torch.rand(dim - n_large, generator=generator, dtype=torch.float64)
    large = 30.0 + 30.0 * torch.rand(n_large, generator=generator, dtype=torch.float64)
    return torch.cat([small, large])


def haar_orthogonal(dim: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-distributed orthogonal matrix (QR of a Gaussian with the signs fixed; float64)."""
    gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return q * torch.sign(torch.diagonal(r))


class QuadraticTask(QuadraticSpec, Task):
    def __init__(
        self, params: QuadraticParams, *, seed: int, device: torch.device, batch_size: int,
        members: int = 1,
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        problem_seed = seed if params.problem_seed is None else params.problem_seed
        problem = cpu_generator(problem_seed, "quadratic.problem")
        spectrum = eigenvalues(params, problem)
        # CPU copies feed the noise draws, so CPU and CUDA runs draw identical noise
        self._eigenvalues_cpu = spectrum.to(torch.float32)
        self._hessian_cpu: torch.Tensor | None = None
        if params.rotated:
            q = haar_orthogonal(params.dim, problem)
            hessian = (q * spectrum) @ q.T
            self._hessian_cpu = (0.5 * (hessian + hessian.T)).to(torch.float32)
        self.eigenvalues = self._eigenvalues_cpu.to(device)
        self.hessian = None if self._hessian_cpu is None else self._hessian_cpu.to(device)
        # H/2 gives the loss with one dot product and the gradient with one add (x2 is exact)
        self._half_hessian = None if self.hessian is None else 0.5 * self.hessian
        self._half_eigenvalues = 0.5 * self.eigenvalues

        # every member starts at theta0: theta is [K, dim]
        theta0 = torch.full((params.dim,), float(params.theta0), dtype=torch.float32, device=device)
        self.tensors = [self.stack(theta0, members)]

        self.noise_std = params.noise / math.sqrt(batch_size)
        self._noise: StepBlocks | None = None
        if params.noise > 0:
            self._noise = StepBlocks(
                seed,
                "quadratic.noise",
                max(1, self.NOISE_BLOCK_VALUES // params.dim),
                self._draw_noise,
                device,
            )

    @property
    def theta(self) -> torch.Tensor:
        """The members' parameters, [K, dim]."""
        return self.tensors[0]

    def _draw_noise(self, generator: torch.Generator, n_steps: int) -> torch.Tensor:
        draws = torch.randn(n_steps, self.params.dim, generator=generator) * self.noise_std
        if self.params.noise_shape == "isotropic":
            return draws
        # -H x_bar for each step's batch mean x_bar (rows); H is symmetric
        if self._hessian_cpu is None:
            return -(draws * self._eigenvalues_cpu)
        return -(draws @ self._hessian_cpu)

    def gradient_noise(self, step: int) -> torch.Tensor | None:
        """The noise added to the gradient at ``step`` (None without noise; shared by members)."""
        return None if self._noise is None else self._noise.at(step)

    def _half_h_theta(self, theta: torch.Tensor) -> torch.Tensor:
        if self._half_hessian is None:
            return self._half_eigenvalues * theta
        return theta @ self._half_hessian  # row k: (H/2) theta_k, H being symmetric

    def loss_and_grad(self, step: int) -> torch.Tensor:
        noise = self.gradient_noise(step)
        theta = self.theta.detach()  # cheaper than a no_grad block; nothing here needs autograd
        half_h_theta = self._half_h_theta(theta)
        losses = torch.linalg.vecdot(theta, half_h_theta)
        if noise is None:
            self.theta.grad = half_h_theta.mul_(2.0)
        else:
            self.theta.grad = torch.add(noise, half_h_theta, alpha=2.0)
        return losses

    def objectives(self) -> list[float]:
        """f(theta_k) of each member at the current parameters."""
        theta = self.theta.detach()
        return torch.linalg.vecdot(theta, self._half_h_theta(theta)).tolist()

    def evaluate(self) -> list[dict[str, float]]:
        return [{"loss": value} for value in self.objectives()]

    def step_metrics(self) -> list[dict[str, float]]:
        distances = torch.linalg.vector_norm(self.theta.detach(), dim=1).tolist()
        return [{"distance_to_opt": value} for value in distances]
