"""An MLP classifier on MNIST for a stack of K members, the whole dataset held as tensors on the
device: weights [K, out, in], biases [K, out].

Members share the seed, hence the initial weights and the batches. The first layer reads the
same images for every member, so it is one matrix product for the whole stack (the K weight
matrices side by side, [in, K * out]); the layers after it are batched products (baddbmm). On
the CPU a 784-256-10 MLP is bound by its matrix products, which a stack does not shrink: the gain
is small but never a loss; on a GPU the stack fills the device where one small model leaves it
idle.

Batches are index slices of the training tensors: epoch e is a permutation drawn from the trial
seed and e, cut into floor(60000 / batch_size) batches (the last partial batch of each epoch is
dropped, so every step has batch_size examples; ``steps_per_epoch`` is that floor). Initial
weights come from the seed too, drawn as torch.nn.Linear draws them by default
(U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases) but from a generator of the trial's
own, so every optimizer starts from the same weights and sees the same batches.

Metrics: ``train_loss`` is the cross-entropy of the step's batch (before the update);
``test_loss`` and ``test_accuracy`` (fraction correct, 0..1) are over the 10000 test images at
each evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from adamlab.errors import AdamlabError
from adamlab.tasks.base import Task, TaskParams
from adamlab.tasks.mnist_data import NUM_CLASSES, default_data_dir, load_mnist
from adamlab.tasks.randomness import EpochBatches, cpu_generator

#: hidden activations held at once while evaluating (elements): bounds memory for large stacks
EVAL_CHUNK_ELEMENTS = 1 << 24

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}


class MnistMlpParams(TaskParams):
    widths: tuple[Annotated[int, Field(ge=1)], ...] = Field(
        (256,), description="hidden layer sizes; [] is multinomial logistic regression"
    )
    activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
    data_dir: str | None = Field(
        None,
        description="folder with the four MNIST IDX files (gz or raw), or its mnist/ or "
        "MNIST/raw/ subfolder; None = $ADAMLAB_DATA, else ./data",
    )
    download: bool = Field(True, description="fetch MNIST with torchvision when not found")


def init_mlp(sizes: list[int], generator: torch.Generator) -> list[torch.Tensor]:
    """[W1, b1, W2, b2, ...] for layer sizes ``sizes``, torch.nn.Linear's default init (CPU)."""
    tensors = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        bound = 1.0 / math.sqrt(fan_in)
        weight = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
        bias = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
        tensors += [weight, bias]
    return tensors


class MnistMlpTask(Task):
    name = "mnist_mlp"
    summary = "MLP (default 784-256-10, ReLU) on MNIST; test loss and accuracy"
    Params = MnistMlpParams
    metric_goals = {"train_loss": "min", "test_loss": "min", "test_accuracy": "max"}
    primary_metric = "test_accuracy"

    def __init__(
        self, params: MnistMlpParams, *, seed: int, device: torch.device, batch_size: int,
        members: int = 1,
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        self.data_dir = Path(params.data_dir) if params.data_dir is not None else default_data_dir()
        self.data = load_mnist(self.data_dir, device, download=params.download)
        n_train = self.data.train_images.shape[0]
        if not 1 <= batch_size <= n_train:
            raise AdamlabError(
                f"mnist_mlp: batch_size must be in [1, {n_train}] (the training set size), "
                f"got {batch_size}"
            )
        self.batches = EpochBatches(n_train, batch_size, seed, "mnist_mlp.batches", device)
        self.activation = ACTIVATIONS[params.activation]
        sizes = [self.data.input_dim, *params.widths, NUM_CLASSES]
        # weights [K, out, in], biases [K, out]: every member starts from the seed's weights
        self.tensors = [
            self.stack(t.to(device), members)
            for t in init_mlp(sizes, cpu_generator(seed, "mnist_mlp.init"))
        ]

    @classmethod
    def member_bytes(cls, params: MnistMlpParams, batch_size: int) -> int:
        sizes = [28 * 28, *params.widths, NUM_CLASSES]
        weights = sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False))
        # float32 weights, gradients, three optimizer states and a copy at log steps; the
        # activations of a batch kept for backward
        return 4 * (6 * weights + 3 * batch_size * sum(sizes[1:]))

    @property
    def steps_per_epoch(self) -> int:
        return self.batches.steps_per_epoch

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """[K, N, classes]: every member's logits for the same `inputs` [N, in]."""
        members, n_layers = self.members, len(self.tensors) // 2
        weight, bias = self.tensors[0], self.tensors[1]
        width = weight.shape[1]
        # layer 1 for all members at once: inputs @ [W1_1^T ... W1_K^T] + [b1_1 ... b1_K]
        hidden = torch.addmm(bias.reshape(-1), inputs, weight.reshape(members * width, -1).t())
        hidden = hidden.view(inputs.shape[0], members, width).transpose(0, 1)
        for layer in range(1, n_layers):
            hidden = self.activation(hidden)
            weight, bias = self.tensors[2 * layer], self.tensors[2 * layer + 1]
            hidden = torch.baddbmm(bias.unsqueeze(1), hidden, weight.transpose(1, 2))
        return hidden

    def _losses(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """[K, N] cross-entropies of each member's logits [K, N, classes]."""
        members, count, classes = logits.shape
        return F.cross_entropy(
            logits.reshape(members * count, classes), labels.repeat(members), reduction="none"
        ).view(members, count)

    def loss_and_grad(self, step: int) -> torch.Tensor:
        for tensor in self.tensors:
            tensor.grad = None
        indices = self.batches.indices(step)
        inputs = self.data.train_images.index_select(0, indices)
        labels = self.data.train_labels.index_select(0, indices)
        losses = self._losses(self.logits(inputs), labels).mean(dim=1)
        # each member's loss depends on its own weights only: the sum's gradient is each one's
        losses.sum().backward()
        return losses.detach()

    def evaluate(self) -> list[dict[str, float]]:
        images, labels = self.data.test_images, self.data.test_labels
        n = images.shape[0]
        widest = max(t.shape[1] for t in self.tensors[::2])
        rows = max(1, EVAL_CHUNK_ELEMENTS // (self.members * widest))
        loss_sum = torch.zeros(self.members, dtype=torch.float32, device=self.device)
        correct = torch.zeros(self.members, dtype=torch.float32, device=self.device)
        with torch.no_grad():
            for start in range(0, n, rows):
                logits = self.logits(images[start : start + rows])
                chunk_labels = labels[start : start + rows]
                loss_sum += self._losses(logits, chunk_labels).sum(dim=1)
                correct += (logits.argmax(dim=2) == chunk_labels).to(torch.float32).sum(dim=1)
        test_loss, accuracy = (loss_sum / n).tolist(), (correct / n).tolist()
        return [
            {"test_loss": loss, "test_accuracy": acc}
            for loss, acc in zip(test_loss, accuracy, strict=True)
        ]
