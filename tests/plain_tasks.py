"""Plain-PyTorch tasks (the contract a user writes: model, batch, loss, evaluate) for the stacking
tests: an MLP with dropout, a BatchNorm net, and models vmap cannot run. Float64 throughout, so
stacked and lone runs can be compared to tight tolerances.

`lone_run` is the hand-written loop a user would write for one optimizer configuration:
seed, build the task, `model()`, then per step `loss(model, batch(step))`, backward, step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

FEATURES, CLASSES, EXAMPLES, BATCH = 6, 3, 96, 16


class MlpTask:
    """A two-layer MLP classifier with dropout on synthetic data; batches drawn from the global
    RNG (so member k must see its lone run's draws)."""

    metric_goals = {"val_loss": "min", "val_accuracy": "max"}

    def __init__(self, *, seed: int, device, width: int = 12, dropout: float = 0.25):
        generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self.x = torch.randn(EXAMPLES, FEATURES, generator=generator, dtype=torch.float64)
        self.y = torch.randint(0, CLASSES, (EXAMPLES,), generator=generator)
        self.width, self.dropout = width, dropout

    def model(self) -> nn.Module:
        return nn.Sequential(
            nn.Linear(FEATURES, self.width), nn.Tanh(), nn.Dropout(self.dropout),
            nn.Linear(self.width, CLASSES),
        ).double()

    def batch(self, step: int):
        index = torch.randint(0, EXAMPLES, (BATCH,))
        return self.x[index], self.y[index]

    def loss(self, model, batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    def evaluate(self, model) -> dict[str, float]:
        model.eval()
        with torch.no_grad():
            logits = model(self.x)
        model.train()
        return {
            "val_loss": F.cross_entropy(logits, self.y).item(),
            "val_accuracy": (logits.argmax(1) == self.y).double().mean().item(),
        }


class WeightPenaltyTask(MlpTask):
    """Reads a weight of the model inside loss(): it must be the member's own."""

    def loss(self, model, batch) -> torch.Tensor:
        return super().loss(model, batch) + 0.1 * model[0].weight.square().sum()


class BatchNormTask(MlpTask):
    """Linear -> BatchNorm1d -> ReLU -> Linear: running statistics updated in place each step,
    used by evaluate() (eval mode)."""

    momentum: float | None = 0.1

    def model(self) -> nn.Module:
        return nn.Sequential(
            nn.Linear(FEATURES, self.width), nn.BatchNorm1d(self.width, momentum=self.momentum),
            nn.ReLU(), nn.Linear(self.width, CLASSES),
        ).double()


class CumulativeBatchNormTask(BatchNormTask):
    """BatchNorm with momentum=None: a cumulative average that reads its batch count as a Python
    number, which vmap cannot do."""

    momentum = None


class BranchingTask(MlpTask):
    """Data-dependent Python control flow in loss()."""

    def loss(self, model, batch) -> torch.Tensor:
        loss = super().loss(model, batch)
        return loss if loss > 1.0 else 2.0 * loss


class LateBranchingTask(MlpTask):
    """Vmaps at step 1; from step 3 on, its loss branches on data (vmap fails then)."""

    def batch(self, step: int):
        return (*super().batch(step), step)

    def loss(self, model, batch) -> torch.Tensor:
        x, y, step = batch
        loss = F.cross_entropy(model(x), y)
        if step >= 3 and loss > 100.0:
            return 0.0 * loss
        return loss


def lone_run(task_cls, make_optimizer, *, steps: int, seed: int = 0, params: dict | None = None):
    """The user's own loop: losses per step, the parameters' gradients per step, final evaluate()."""
    torch.manual_seed(seed)
    task = task_cls(seed=seed, device="cpu", **(params or {}))
    model = task.model()
    optimizer = make_optimizer(model.parameters())
    losses, grads = [], []
    for step in range(1, steps + 1):
        loss = task.loss(model, task.batch(step))
        optimizer.zero_grad()
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        optimizer.step()
        losses.append(loss.item())
    return losses, grads, task.evaluate(model), model
