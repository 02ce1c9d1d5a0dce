"""What every task provides, for a stack of K >= 1 members: the members' parameters built from
(seed, device), each member's training loss with gradients for step t, and evaluations.

A task is written once, with a leading member axis: every parameter tensor is [K, ...], member
k's slice being its own model (a plain trial is K = 1). The members share the task, its params,
the seed and so every batch: they differ only in how they are optimized (the members of a stack
are the trials of a sweep that differ only in per-member optimizer hyperparameters, see
optimizers/stacked.py). Member k starts from exactly the weights a one-member task builds from the
seed and sees the same batches, so its run is the one-trial run of its optimizer configuration
to float rounding, whatever K is.

A task instance is built once per stack. Everything random (initial weights, data, batch order,
gradient noise) comes from the seed alone, so two optimizers given the same seed see the same
initial point and the same batches: comparisons are paired.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor

from adamlab.tasks.spec import TaskParams, TaskSpec

__all__ = ["Task", "TaskParams"]


class Task(TaskSpec, ABC):
    """The member-axis implementation of a task; its metadata (name, Params, goals, ...) is the
    torch-free `TaskSpec` it subclasses (see tasks/spec.py)."""

    def __init__(
        self, params: TaskParams, *, seed: int, device: torch.device, batch_size: int, members: int = 1
    ):
        if members < 1:
            raise ValueError(f"a stack needs at least 1 member, got {members}")
        self.params = params
        self.seed = seed
        self.device = device
        self.batch_size = batch_size
        self._members = members
        #: the leaves the optimizer updates, each [K, ...] (subclasses build them in __init__)
        self.tensors: list[Tensor] = []

    @property
    def members(self) -> int:
        return self._members

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches per pass over the training data, for `epochs:` sweeps; None if unbounded."""
        return None

    @staticmethod
    def stack(tensor: Tensor, members: int) -> Tensor:
        """`members` copies of one member's `tensor`, as a new leaf that requires grad."""
        return tensor.detach().unsqueeze(0).repeat(members, *[1] * tensor.dim()).requires_grad_()

    def param_groups(self) -> list[Tensor]:
        """What a torch.optim optimizer is constructed with (the leaves)."""
        return list(self.tensors)

    @abstractmethod
    def loss_and_grad(self, step: int) -> Tensor:
        """Each member's training loss on the batch of `step` (1-based): a detached [K] tensor.

        On return each leaf's .grad holds every member's gradient of its own loss; the task
        manages .grad itself (the loop never zeroes it).
        """

    @abstractmethod
    def evaluate(self) -> list[dict[str, float]]:
        """Each member's evaluation metrics (no gradients), in member order."""

    def step_metrics(self) -> list[dict[str, float]]:
        """Each member's cheap extra metrics recorded at each log step besides train_loss."""
        return [{} for _ in range(self.members)]

    def keep(self, kept: Sequence[int]) -> None:
        """Keep only the members at positions `kept` (ascending); leaves become new leaves with
        their grads.

        A diverged member leaves the stack this way, so nothing of it reaches the rest."""
        index = torch.tensor(list(kept), dtype=torch.long, device=self.device)
        tensors = []
        for tensor in self.tensors:
            new = tensor.detach().index_select(0, index).requires_grad_(tensor.requires_grad)
            if tensor.grad is not None:
                new.grad = tensor.grad.index_select(0, index)
            tensors.append(new)
        self.tensors = tensors
        self._members = len(kept)
