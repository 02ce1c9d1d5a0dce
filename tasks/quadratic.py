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
from typing import Any, Literal

import torch
from pydantic import Field, FiniteFloat, model_validator

from adamlab.tasks.base import Task, TaskParams
from adamlab.tasks.randomness import StepBlocks, cpu_generator

#: the largest dim for which a rotated (dense) Hessian is built
MAX_ROTATED_DIM = 4096

#: presets fill in every key the user did not give (user keys win)
PRESETS: dict[str, dict[str, Any]] = {
    "none": {},
    # DeepOBS quadratic_deep: 100-d, rotated, 90% of eigenvalues in (0,1) and 10% in (30,60),
    # data noise 0.6 around the centre, theta0 = 1. DeepOBS fixes the problem across seeds (its
    # numpy seed 42); so does this preset through problem_seed (the draws are torch's, so the
    # numbers differ from DeepOBS's, the distribution does not).
    "deepobs": {
        "dim": 100,
        "spectrum": "deepobs",
        "rotated": True,
        "problem_seed": 42,
        "noise": 0.6,
        "noise_shape": "hessian",
        "theta0": 1.0,
    },
    # the reference concept page: f = theta^2 (H = 2) from theta = 3, no noise
    "theta_squared": {
        "dim": 1,
        "spectrum": "geometric",
        "condition": 1.0,
        "max_curvature": 2.0,
        "rotated": False,
        "noise": 0.0,
        "theta0": 3.0,
    },
}

#: the geometric spectrum's defaults when neither the user nor the preset sets them
GEOMETRIC_DEFAULTS = {"condition": 100.0, "max_curvature": 1.0}


class QuadraticParams(TaskParams):
    preset: Literal["none", "deepobs", "theta_squared"] = Field(
        "none",
        description="fills in every parameter not given: deepobs = DeepOBS quadratic_deep, "
        "theta_squared = f = theta^2 from theta = 3 (1-d, H = 2, no noise)",
    )
    dim: int = Field(10, ge=1, description="number of coordinates of theta")
    spectrum: Literal["geometric", "deepobs"] = Field(
        "geometric",
        description="geometric: eigenvalues max_curvature * condition^(-i/(dim-1)), i = 0..dim-1; "
        "deepobs: 90% drawn from U(0,1), 10% from U(30,60)",
    )
    condition: FiniteFloat | None = Field(
        GEOMETRIC_DEFAULTS["condition"],
        ge=1,
        description="largest/smallest eigenvalue (geometric spectrum only)",
    )
    max_curvature: FiniteFloat | None = Field(
        GEOMETRIC_DEFAULTS["max_curvature"],
        gt=0,
        description="largest eigenvalue (geometric spectrum only)",
    )
    rotated: bool = Field(False, description="H = Q diag(eigenvalues) Q^T with Q Haar-random")
    problem_seed: int | None = Field(
        None, ge=0, le=2**63 - 1,
        description="seed of the problem itself (deepobs eigenvalues, rotation); "
        "None = the trial seed, so every seed is a different problem",
    )
    noise: FiniteFloat = Field(
        1.0, ge=0, description="per-example noise std; a batch of B has std noise/sqrt(B)"
    )
    noise_shape: Literal["isotropic", "hessian"] = Field(
        "isotropic", description="isotropic gradient noise, or -H x_bar (DeepOBS data noise)"
    )
    theta0: FiniteFloat = Field(1.0, description="every coordinate of the initial theta")

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        preset = data.get("preset", "none")
        # an unknown or mistyped preset fills nothing; the field check then reports it
        merged = {**(PRESETS.get(preset, {}) if isinstance(preset, str) else {}), **data}
        geometric = merged.get("spectrum", "geometric") == "geometric"
        for key, value in GEOMETRIC_DEFAULTS.items():
            if geometric and merged.get(key) is None:
                merged[key] = value
            elif not geometric and key not in data:
                merged[key] = None  # meaningless for the other spectra; given anyway, it's an error
        return merged

    @model_validator(mode="after")
    def _check_consistency(self) -> QuadraticParams:
        if self.spectrum == "deepobs" and (
            self.condition is not None or self.max_curvature is not None
        ):
            raise ValueError(
                "condition and max_curvature apply to spectrum 'geometric' only; "
                "spectrum 'deepobs' draws 90% of eigenvalues from U(0,1) and 10% from U(30,60)"
            )
        if self.rotated and self.dim > MAX_ROTATED_DIM:
            raise ValueError(
                f"a rotated Hessian is a dense dim x dim matrix: dim must be <= "
                f"{MAX_ROTATED_DIM} when rotated, got {self.dim}"
            )
        return self


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


class QuadraticTask(Task):
    name = "quadratic"
    summary = "noisy quadratic 0.5 theta^T H theta: chosen spectrum, rotation, gradient noise"
    Params = QuadraticParams
    metric_goals = {"train_loss": "min", "loss": "min", "distance_to_opt": "min"}
    primary_metric = "loss"

    #: noise values drawn per block (steps_per_block * dim), small enough to stay in cache
    NOISE_BLOCK_VALUES = 1 << 16

    @classmethod
    def memory_bytes(cls, params: QuadraticParams, batch_size: int) -> int:
        # theta, its gradient, the optimizer's state and the spectrum (float64 copies included);
        # rotated: Q, H in float64 and three float32 copies; the noise block
        dense = params.dim * params.dim * (8 + 8 + 3 * 4) if params.rotated else 0
        return 16 * 8 * params.dim + dense + 2 * 4 * cls.NOISE_BLOCK_VALUES

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

    @classmethod
    def member_bytes(cls, params: QuadraticParams, batch_size: int) -> int:
        # theta, its gradient, three optimizer states and temporaries, float32
        return 4 * 8 * params.dim

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
