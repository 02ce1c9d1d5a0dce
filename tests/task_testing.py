"""Helpers for the task tests: the runner's training loop, and tiny MNIST IDX files."""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from adamlab.tasks.mnist_data import IMAGES_MAGIC, LABELS_MAGIC, MNIST_FILES


def train(task, make_optimizer: Callable, steps: int, *, first_step: int = 1) -> list[float]:
    """The runner's loop: zero_grad(set_to_none) -> loss_and_grad(step) -> step(); the losses."""
    optimizer = make_optimizer(task.param_groups())
    losses = []
    for step in range(first_step, first_step + steps):
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(task.loss_and_grad(step)))
        optimizer.step()
    return losses


def parameters_of(task) -> list[torch.Tensor]:
    groups = task.param_groups()
    if groups and isinstance(groups[0], dict):
        return [p for group in groups for p in group["params"]]
    return list(groups)


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """An unsigned-byte IDX file holding ``array``."""
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def tiny_mnist_arrays(n_train: int = 200, n_test: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    """28x28 images whose class is a bright band at rows 2y..2y+3 over faint noise: learnable."""
    rng = np.random.RandomState(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.randint(0, 10, size=n).astype(np.uint8)
        images = rng.randint(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label + 2 : 2 * label + 5, 4:24] = 255
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = labels
    return arrays


def write_mnist(folder: Path, arrays: dict[str, np.ndarray], *, gz: bool) -> dict[str, Path]:
    """Write the four files of ``arrays`` into ``folder`` (gzipped or raw); role -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for role, name in MNIST_FILES.items():
        magic = IMAGES_MAGIC if role.endswith("images") else LABELS_MAGIC
        data = idx_bytes(arrays[role], magic)
        path = folder / (f"{name}.gz" if gz else name)
        path.write_bytes(gzip.compress(data) if gz else data)
        paths[role] = path
    return paths
