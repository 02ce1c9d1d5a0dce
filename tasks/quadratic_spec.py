"""The quadratic task's metadata, torch-free (see tasks/spec.py); the task is quadratic.py."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, FiniteFloat, model_validator

from adamlab.tasks.spec import TaskParams, TaskSpec

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



class QuadraticSpec(TaskSpec):
    name = "quadratic"
    summary = "noisy quadratic 0.5 theta^T H theta: chosen spectrum, rotation, gradient noise"
    Params = QuadraticParams
    metric_goals = {"train_loss": "min", "loss": "min", "distance_to_opt": "min"}
    primary_metric = "loss"

    #: noise values drawn per block (steps_per_block * dim), small enough to stay in cache
    NOISE_BLOCK_VALUES = 1 << 16
    loss_metric = "loss"
    implementation = "adamlab.tasks.quadratic:QuadraticTask"

    @classmethod
    def memory_bytes(cls, params: QuadraticParams, batch_size: int) -> int:
        # theta, its gradient, the optimizer's state and the spectrum (float64 copies included);
        # rotated: Q, H in float64 and three float32 copies; the noise block
        dense = params.dim * params.dim * (8 + 8 + 3 * 4) if params.rotated else 0
        return 16 * 8 * params.dim + dense + 2 * 4 * cls.NOISE_BLOCK_VALUES

    @classmethod
    def member_bytes(cls, params: QuadraticParams, batch_size: int) -> int:
        # theta, its gradient, three optimizer states and temporaries, float32
        return 4 * 8 * params.dim
