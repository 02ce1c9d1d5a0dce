"""The hand-stacked built-in tasks equal their plain-PyTorch form stacked automatically.

Each built-in (quadratic, mnist_mlp, embedding_sparsity) is written below as a user would write
it in plain PyTorch (model/batch/loss/evaluate), built from the one-member built-in's own data,
initial weights and batches. K members of the built-in (its hand-stacked form: shared first-layer
GEMM, hand-written gradients) and K members of the plain form through ModuleTask (vmap), each
trained by the same stacked optimizer with per-member hyperparameters, have the same losses,
gradients and evaluations at every step, to float32 rounding.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from task_testing import tiny_mnist_arrays, write_mnist
from torch import nn

from adamlab.optimizers.registry import get_spec
from adamlab.optimizers.stacked import build_stacked_optimizer
from adamlab.tasks.embedding_sparsity import EmbeddingSparsityTask
from adamlab.tasks.mnist_mlp import ACTIVATIONS, MnistMlpTask
from adamlab.tasks.module_task import VMAP, ModuleTask
from adamlab.tasks.quadratic import QuadraticTask

CPU = torch.device("cpu")
BATCH = 16
STEPS = 5
MEMBERS = [{**get_spec("momentum").defaults, "lr": lr, "momentum": m}
           for lr, m in [(0.01, 0.9), (0.05, 0.5), (0.2, 0.0)]]
#: float32, a few steps: the hand-written and autograd gradients differ by rounding, which is
#: relative to the largest entry (a rotated Hessian's products cancel)
RTOL, ATOL = 2e-5, 2e-6


class ThetaModel(nn.Module):
    def __init__(self, theta: torch.Tensor):
        super().__init__()
        self.theta = nn.Parameter(theta)


class PlainQuadratic:
    """f(theta) = 0.5 theta^T H theta; the gradient carries the built-in's noise, the loss value
    is the true objective (as the built-in reports it)."""

    def __init__(self, *, seed, device, **params):
        self.builtin = QuadraticTask(QuadraticTask.Params(**params), seed=seed, device=device,
                                     batch_size=BATCH)
        self.hessian = (self.builtin.hessian if self.builtin.hessian is not None
                        else torch.diag(self.builtin.eigenvalues))

    def model(self):
        return ThetaModel(self.builtin.theta[0].detach().clone())

    def batch(self, step):
        return self.builtin.gradient_noise(step)

    def objective(self, theta):
        return 0.5 * theta @ (self.hessian @ theta)

    def loss(self, model, noise):
        noisy = noise @ model.theta
        return self.objective(model.theta) + (noisy - noisy.detach())

    def evaluate(self, model):
        return {"loss": self.objective(model.theta).item()}


class PlainMnistMlp:
    def __init__(self, *, seed, device, **params):
        self.builtin = MnistMlpTask(MnistMlpTask.Params(**params), seed=seed, device=device,
                                    batch_size=BATCH)
        self.activation = self.builtin.params.activation

    def model(self):
        tensors = [t[0].detach() for t in self.builtin.tensors]
        layers = []
        for weight, bias in zip(tensors[::2], tensors[1::2], strict=True):
            linear = nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            layers += [linear, Activation(self.activation)]
        return nn.Sequential(*layers[:-1])

    def batch(self, step):
        indices = self.builtin.batches.indices(step)
        return self.builtin.train_images[indices], self.builtin.train_labels[indices]

    def loss(self, model, batch):
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def evaluate(self, model):
        metrics = {}
        for prefix, images, labels in self.builtin.evaluation_sets():
            logits = model(images)
            metrics[f"{prefix}_loss"] = F.cross_entropy(logits, labels).item()
            metrics[f"{prefix}_accuracy"] = (logits.argmax(1) == labels).float().mean().item()
        return metrics


class Activation(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.name = name

    def forward(self, x):
        return ACTIVATIONS[self.name](x)


class PlainEmbedding:
    def __init__(self, *, seed, device, **params):
        self.builtin = EmbeddingSparsityTask(EmbeddingSparsityTask.Params(**params), seed=seed,
                                             device=device, batch_size=BATCH)

    def model(self):
        initial = self.builtin.tensors[0][0].detach()
        return nn.Embedding.from_pretrained(initial.clone(), freeze=False)

    def batch(self, step):
        ids = self.builtin.tokens.at(step)
        return ids, self.builtin.targets(step, ids)

    def loss(self, model, batch):
        ids, targets = batch
        return 0.5 * (model(ids) - targets).square().sum(1).mean()

    def evaluate(self, model):
        squared = (model.weight - self.builtin.teacher).square().sum(1)
        return {"test_loss": 0.5 * (squared @ self.builtin.probabilities).item(),
                "error": squared.sqrt().mean().item()}


@pytest.fixture(scope="module")
def mnist_params(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, tiny_mnist_arrays(), gz=True)
    return {"widths": [24, 12], "activation": "tanh", "data_dir": str(folder), "download": False}


def run(task, steps: int = STEPS):
    """Each step's [K] losses and gradients under the momentum stack; then evaluate()."""
    optimizer = build_stacked_optimizer("momentum", task.tensors, MEMBERS)
    losses, grads = [], []
    for step in range(1, steps + 1):
        losses.append(task.loss_and_grad(step).clone())
        grads.append([t.grad.clone() for t in task.tensors])
        optimizer.step()
    return losses, grads, task.evaluate()


def assert_close(mine: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    atol = ATOL * max(1.0, theirs.abs().max().item())
    torch.testing.assert_close(mine, theirs, rtol=RTOL, atol=atol, msg=lambda m: f"{what}: {m}")


def check(builtin_cls, plain_cls, params: dict) -> None:
    torch.manual_seed(0)
    builtin = builtin_cls(builtin_cls.Params(**params), seed=0, device=CPU, batch_size=BATCH,
                          members=len(MEMBERS))
    torch.manual_seed(0)
    plain = ModuleTask(plain_cls(seed=0, device=CPU, **params), members=len(MEMBERS))
    assert plain.path == VMAP
    expected_losses, expected_grads, expected_evaluations = run(builtin)
    losses, grads, evaluations = run(plain)
    for step, (mine, theirs) in enumerate(zip(losses, expected_losses, strict=True), 1):
        assert_close(mine, theirs, f"losses at step {step}")
    for step, (mine, theirs) in enumerate(zip(grads, expected_grads, strict=True), 1):
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            assert_close(a, b, f"gradient {i} at step {step}")
    for k, (mine, theirs) in enumerate(zip(evaluations, expected_evaluations, strict=True)):
        assert mine.keys() <= theirs.keys()
        for name, value in mine.items():
            assert value == pytest.approx(theirs[name], rel=RTOL, abs=ATOL), (k, name)
    assert len({round(e[next(iter(e))], 6) for e in evaluations}) == len(MEMBERS)  # not vacuous


@pytest.mark.parametrize("params", [
    {"dim": 12, "rotated": True, "condition": 20.0, "noise": 0.5},
    {"preset": "deepobs"},
])
def test_quadratic(params):
    check(QuadraticTask, PlainQuadratic, params)


def test_mnist_mlp(mnist_params):
    check(MnistMlpTask, PlainMnistMlp, mnist_params)


def test_embedding_sparsity():
    check(EmbeddingSparsityTask, PlainEmbedding, {"vocab_size": 200, "dim": 6, "target_noise": 0.1})
