"""Two tasks in plain PyTorch, as adamlab runs them (the contract: model, batch, loss, evaluate).

- `MnistMlp`: a small MLP on MNIST, the data read from $ADAMLAB_DATA by the project's MNIST
  loader (the four IDX files), the last 10,000 training images held out for validation.
- `TeacherRegression`: a two-layer network fit to a fixed random teacher on Gaussian inputs; it
  needs no data, so it runs anywhere in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class MnistMlp:
    """A 784-hidden-10 ReLU MLP on MNIST: validation and test loss and accuracy."""

    metric_goals = {"val_loss": "min", "val_accuracy": "max", "test_loss": "min", "test_accuracy": "max"}

    def __init__(self, *, seed: int, device: torch.device, hidden: int = 128,
                 batch_size: int = 128, validation: int = 10_000, data_dir: str | None = None):
        from adamlab.tasks.mnist_data import load_mnist

        root = Path(data_dir or os.environ.get("ADAMLAB_DATA") or "data")
        data = load_mnist(root, device, download=False)
        split = data.train_images.shape[0] - validation
        self.train = data.train_images[:split], data.train_labels[:split]
        self.val = data.train_images[split:], data.train_labels[split:]
        self.test = data.test_images, data.test_labels
        self.hidden, self.batch_size, self.device = hidden, batch_size, device
        # the batch order comes from the trial's seed alone, the same for every optimizer
        self.order = torch.Generator().manual_seed(seed)
        self.permutation = torch.randperm(split, generator=self.order)
        self.position = 0

    def model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(784, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 10)).to(self.device)

    def batch(self, step: int):
        if self.position + self.batch_size > len(self.permutation):
            self.permutation = torch.randperm(len(self.permutation), generator=self.order)
            self.position = 0
        index = self.permutation[self.position:self.position + self.batch_size].to(self.device)
        self.position += self.batch_size
        images, labels = self.train
        return images[index], labels[index]

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        metrics = {}
        for split, (images, labels) in (("val", self.val), ("test", self.test)):
            logits = model(images)
            metrics[f"{split}_loss"] = F.cross_entropy(logits, labels).item()
            metrics[f"{split}_accuracy"] = (logits.argmax(1) == labels).float().mean().item()
        return metrics


class TeacherRegression:
    """A 16-32-1 tanh network fit to a fixed random teacher on N(0, I) inputs."""

    metric_goals = {"val_loss": "min", "test_loss": "min"}

    def __init__(self, *, seed: int, device: torch.device, dim: int = 16, hidden: int = 32,
                 batch_size: int = 64, noise: float = 0.1):
        problem = torch.Generator().manual_seed(1234)  # the same teacher for every seed
        self.teacher = torch.randn(dim, generator=problem).to(device)
        self.dim, self.hidden, self.batch_size, self.noise = dim, hidden, batch_size, noise
        self.device = device
        self.data = torch.Generator().manual_seed(seed)
        self.val = self._draw(512, torch.Generator().manual_seed(10_000 + seed))
        self.test = self._draw(2048, torch.Generator().manual_seed(20_000 + seed))

    def _draw(self, n: int, generator: torch.Generator):
        x = torch.randn(n, self.dim, generator=generator)
        y = torch.tanh(x @ self.teacher.cpu()) + self.noise * torch.randn(n, generator=generator)
        return x.to(self.device), y.to(self.device)

    def model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.dim, self.hidden), nn.Tanh(), nn.Linear(self.hidden, 1)).to(self.device)

    def batch(self, step: int):
        return self._draw(self.batch_size, self.data)

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(model(x).squeeze(-1), y)

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return {f"{name}_loss": self.loss(model, data).item() for name, data in (("val", self.val), ("test", self.test))}
