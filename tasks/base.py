"""What every task provides: a model and data built from (seed, device), a training loss with
gradients for step t, and an evaluation.

A task instance is built once per trial. Everything random (initial weights, data, batch order,
gradient noise) comes from the trial's seed alone, so two optimizers given the same seed see the
same initial point and the same batches: comparisons are paired.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict


class TaskParams(BaseModel):
    """Base of each task's parameter schema: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Task(ABC):
    #: registry name, e.g. "quadratic"
    name: ClassVar[str]
    #: one line for `adamlab list`
    summary: ClassVar[str]
    #: pydantic schema of the task's parameters (validated from the sweep YAML)
    Params: ClassVar[type[TaskParams]]
    #: metric name -> "min" or "max": which direction is better; train_loss is always recorded
    metric_goals: ClassVar[dict[str, str]] = {"train_loss": "min"}
    #: the metric summaries rank by unless told otherwise
    primary_metric: ClassVar[str] = "train_loss"

    def __init__(self, params: TaskParams, *, seed: int, device: torch.device, batch_size: int):
        self.params = params
        self.seed = seed
        self.device = device
        self.batch_size = batch_size

    @classmethod
    def uses_sparse_gradients(cls, params: TaskParams) -> bool:
        """Whether the model produces sparse gradients (only sparse-capable optimizers apply)."""
        return False

    @classmethod
    def memory_bytes(cls, params: TaskParams, batch_size: int) -> int:
        """About how many bytes one trial's model, data, gradients and optimizer state take (an
        upper estimate; a sweep is refused when it exceeds the device's memory). 0: unknown."""
        return 0

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches per pass over the training data, for `epochs:` sweeps; None if unbounded."""
        return None

    @abstractmethod
    def param_groups(self) -> Iterable[torch.Tensor] | list[dict[str, Any]]:
        """What the optimizer is constructed with."""

    @abstractmethod
    def loss_and_grad(self, step: int) -> torch.Tensor:
        """Training loss (0-dim tensor, detached) on the batch of `step` (1-based).

        On entry every parameter's .grad is None (the runner zeroes with set_to_none); on return
        each trainable parameter's .grad holds the gradient of that loss.
        """

    @abstractmethod
    def evaluate(self) -> dict[str, float]:
        """Evaluation metrics of the current parameters (no gradients)."""

    def step_metrics(self) -> dict[str, float]:
        """Cheap extra metrics recorded at each log step besides train_loss (optional)."""
        return {}
