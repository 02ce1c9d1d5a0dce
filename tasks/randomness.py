"""Random streams derived from a trial's seed, so every task draws from named, independent streams.

Each stream ("init", "teacher", "batches", ...) gets its own CPU generator seeded from a hash of
(seed, labels). Draws happen on CPU and are then moved to the device, so a CPU and a CUDA run of
the same trial start from the same numbers, and no task touches torch's global RNG.

Per-step data (gradient noise, token ids) comes in blocks of steps: block b is drawn from the
stream (seed, label, b) alone, so the data of step t depends only on (seed, t) and never on the
model or the optimizer; that is what makes optimizer comparisons paired, and what lets several
models (the members of a stack) share one data pipeline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch


def derive_seed(seed: int, *labels: object) -> int:
    """A 63-bit seed for the stream named by ``labels`` under the trial seed ``seed``."""
    text = repr((int(seed), *labels)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


def cpu_generator(seed: int, *labels: object) -> torch.Generator:
    """A fresh CPU generator for the stream ``labels`` of trial seed ``seed``."""
    return torch.Generator(device="cpu").manual_seed(derive_seed(seed, *labels))


class StepBlocks:
    """Per-step draws produced ``steps_per_block`` steps at a time, step t from (seed, label, block).

    ``draw(generator, n_steps)`` returns a CPU tensor whose first axis has one entry per step;
    the block is moved to ``device`` once and ``at(step)`` hands out the entry of one step
    (1-based). Keeps only the current block, so memory stays bounded for any number of steps.
    """

    def __init__(
        self,
        seed: int,
        label: str,
        steps_per_block: int,
        draw: Callable[[torch.Generator, int], torch.Tensor],
        device: torch.device,
    ):
        if steps_per_block < 1:
            raise ValueError(f"steps_per_block must be >= 1, got {steps_per_block}")
        self.seed = seed
        self.label = label
        self.steps_per_block = steps_per_block
        self._draw = draw
        self.device = device
        self._block_index = -1
        self._rows: tuple[torch.Tensor, ...] = ()

    def at(self, step: int) -> torch.Tensor:
        """The draw of ``step``: a view into the block, not to be modified in place."""
        if step < 1:
            raise ValueError(f"steps are 1-based, got {step}")
        block_index, row = divmod(step - 1, self.steps_per_block)
        if block_index != self._block_index:
            generator = cpu_generator(self.seed, self.label, block_index)
            block = self._draw(generator, self.steps_per_block).to(self.device)
            # one view per step made up front: a tuple lookup costs less than tensor indexing
            self._rows = block.unbind(0)
            self._block_index = block_index
        return self._rows[row]


class EpochBatches:
    """Index batches over ``n_examples``: epoch e is a permutation drawn from (seed, label, e),
    cut into ``n_examples // batch_size`` batches (the remainder of each epoch is dropped, so
    every step sees a full batch). ``indices(step)`` is a function of (seed, step) alone.
    """

    def __init__(self, n_examples: int, batch_size: int, seed: int, label: str, device: torch.device):
        if not 1 <= batch_size <= n_examples:
            raise ValueError(f"batch_size must be in [1, {n_examples}], got {batch_size}")
        self.n_examples = n_examples
        self.batch_size = batch_size
        self.seed = seed
        self.label = label
        self.device = device
        self.steps_per_epoch = n_examples // batch_size
        self._epoch = -1
        self._permutation: torch.Tensor | None = None

    def indices(self, step: int) -> torch.Tensor:
        """The example indices (int64, on the device) of the batch of ``step`` (1-based)."""
        if step < 1:
            raise ValueError(f"steps are 1-based, got {step}")
        epoch, position = divmod(step - 1, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = cpu_generator(self.seed, self.label, epoch)
            self._permutation = torch.randperm(self.n_examples, generator=generator).to(self.device)
            self._epoch = epoch
        start = position * self.batch_size
        return self._permutation[start : start + self.batch_size]
