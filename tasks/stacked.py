"""Stacked tasks: K copies of one task (same params, same seed) trained side by side in one process.

Issue 8's batched trials run the trials that differ only in optimizer hyperparameters as one
stack: every parameter becomes one tensor with the K members along its leading axis, each step's
batch (a function of the seed and the step alone, see randomness.py) is drawn once and fed to all
K, and the stacked optimizer (optimizers/stacked.py) updates all members at once. Member k starts
from exactly the weights the one-trial task builds from the seed, so member k's run is the
one-trial run of its optimizer configuration, to float rounding.

A task's stacked form is optional: one module plus one line in `STACKED_TASKS`. A task without
one (or whose stacked form `declines` a configuration) simply runs one trial at a time.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

from adamlab.tasks.base import Task, TaskParams

#: task registry name -> "module:Class" of its stacked form
STACKED_TASKS: dict[str, str] = {
    "quadratic": "adamlab.tasks.quadratic_stacked:StackedQuadraticTask",
    "mnist_mlp": "adamlab.tasks.mnist_mlp_stacked:StackedMnistMlpTask",
    "embedding_sparsity": "adamlab.tasks.embedding_sparsity_stacked:StackedEmbeddingSparsityTask",
}


def load_stacked_task(name: str) -> type[StackedTask] | None:
    """The stacked form of task `name`, or None when it has none."""
    target = STACKED_TASKS.get(name)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


class StackedTask(ABC):
    """K members of one task. Subclasses build `self.tensors` (each [K, ...], leaves) in __init__.

    The contract mirrors `Task`, one value per member: `loss_and_grad(step)` returns the K losses
    ([K] tensor, detached) and leaves each stacked tensor's .grad holding every member's gradient
    of its own loss (the task manages .grad itself: the runner never zeroes it); `evaluate()` and
    `step_metrics()` return one dict per member, in member order. `keep(members)` drops the other
    members (a diverged member leaves the stack, so nothing of it reaches the rest).
    """

    #: the one-trial task this stacks (its name, Params, metric goals)
    task: ClassVar[type[Task]]

    def __init__(
        self, params: TaskParams, *, seed: int, device: torch.device, batch_size: int, members: int
    ):
        if members < 1:
            raise ValueError(f"a stack needs at least 1 member, got {members}")
        self.params = params
        self.seed = seed
        self.device = device
        self.batch_size = batch_size
        self.tensors: list[Tensor] = []

    @classmethod
    def declines(cls, params: TaskParams, device: torch.device) -> str | None:
        """Why this configuration runs unstacked (e.g. 'sparse gradients'), or None to stack it."""
        return None

    @property
    def members(self) -> int:
        return self.tensors[0].shape[0]

    @staticmethod
    def stack(tensor: Tensor, members: int) -> Tensor:
        """`members` copies of one member's `tensor`, as a new leaf that requires grad."""
        return tensor.detach().unsqueeze(0).repeat(members, *[1] * tensor.dim()).requires_grad_()

    @abstractmethod
    def loss_and_grad(self, step: int) -> Tensor:
        """Each member's training loss on the batch of `step` ([K]); fills every tensor's .grad."""

    @abstractmethod
    def evaluate(self) -> list[dict[str, float]]:
        """Each member's evaluation metrics."""

    def step_metrics(self) -> list[dict[str, float]]:
        """Each member's cheap log-step metrics."""
        return [{} for _ in range(self.members)]

    def keep(self, members: Sequence[int]) -> None:
        """Keep only `members` (ascending positions); tensors become new leaves with their grads."""
        index = torch.tensor(list(members), dtype=torch.long, device=self.device)
        kept = []
        for tensor in self.tensors:
            new = tensor.detach().index_select(0, index).requires_grad_(tensor.requires_grad)
            if tensor.grad is not None:
                new.grad = tensor.grad.index_select(0, index)
            kept.append(new)
        self.tensors = kept
