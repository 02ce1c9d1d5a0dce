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

Validation split: the last ``validation_fraction`` of the training images (by default 1/6: the
last 10,000 of MNIST's 60,000) are held out and never trained on; batches are drawn from the
rest. Hyperparameters are selected on the validation metrics, and the test metrics of the
selected config are what gets reported (`adamlab summary`, `adamlab report`). 0 turns the split
off: every training image is trained on and selection falls back to the test set (the summary
warns).

``train_size`` trains on the first ``train_size`` of the training images left after the split
(a fixed subset, the same for every seed and trial; MNIST's training order is already mixed),
so that a CPU budget can afford enough epochs for the model to overfit (weight decay matters
then). The validation set stays the full held-out part. ``steps_per_epoch`` counts batches of
the subset.

Metrics: ``train_loss`` is the cross-entropy of the step's batch (before the update);
``val_loss``/``val_accuracy`` over the held-out training images and ``test_loss``/
``test_accuracy`` (fraction correct, 0..1) over the 10000 test images, at each evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from adamlab.errors import AdamlabError
from adamlab.tasks.base import Task
from adamlab.tasks.mnist_data import NUM_CLASSES, default_data_dir, load_mnist
from adamlab.tasks.mnist_mlp_spec import (
    VALIDATION_FRACTION,
    MnistMlpParams,
    MnistMlpSpec,
    validation_size,
)
from adamlab.tasks.randomness import EpochBatches, cpu_generator

__all__ = ["VALIDATION_FRACTION", "MnistMlpParams", "MnistMlpTask", "init_mlp", "validation_size"]

#: hidden activations held at once while evaluating (elements): bounds memory for large stacks
EVAL_CHUNK_ELEMENTS = 1 << 24

ACTIVATIONS = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}


def init_mlp(sizes: list[int], generator: torch.Generator) -> list[torch.Tensor]:
    """[W1, b1, W2, b2, ...] for layer sizes ``sizes``, torch.nn.Linear's default init (CPU)."""
    tensors = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=False):
        bound = 1.0 / math.sqrt(fan_in)
        weight = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
        bias = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
        tensors += [weight, bias]
    return tensors


class MnistMlpTask(MnistMlpSpec, Task):
    def __init__(
        self, params: MnistMlpParams, *, seed: int, device: torch.device, batch_size: int,
        members: int = 1,
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        self.data_dir = Path(params.data_dir) if params.data_dir is not None else default_data_dir()
        self.data = load_mnist(self.data_dir, device, download=params.download)
        n_total = self.data.train_images.shape[0]
        n_split = n_total - validation_size(n_total, params.validation_fraction)
        n_train = n_split
        if params.train_size is not None:
            if params.train_size > n_split:
                raise AdamlabError(
                    f"mnist_mlp: train_size must be <= {n_split} (the training images left after "
                    f"the validation split), got {params.train_size}"
                )
            n_train = params.train_size
        # views of the training tensors: the split copies nothing
        self.train_images = self.data.train_images[:n_train]
        self.train_labels = self.data.train_labels[:n_train]
        self.val_images = self.data.train_images[n_split:]
        self.val_labels = self.data.train_labels[n_split:]
        if not 1 <= batch_size <= n_train:
            raise AdamlabError(
                f"mnist_mlp: batch_size must be in [1, {n_train}] (the training images trained "
                f"on, after the validation split and train_size), got {batch_size}"
            )
        self.batches = EpochBatches(n_train, batch_size, seed, "mnist_mlp.batches", device)
        self.activation = ACTIVATIONS[params.activation]
        sizes = [self.data.input_dim, *params.widths, NUM_CLASSES]
        # weights [K, out, in], biases [K, out]: every member starts from the seed's weights
        self.tensors = [
            self.stack(t.to(device), members)
            for t in init_mlp(sizes, cpu_generator(seed, "mnist_mlp.init"))
        ]

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
        inputs = self.train_images.index_select(0, indices)
        labels = self.train_labels.index_select(0, indices)
        losses = self._losses(self.logits(inputs), labels).mean(dim=1)
        # each member's loss depends on its own weights only: the sum's gradient is each one's
        losses.sum().backward()
        return losses.detach()

    def evaluation_sets(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """(metric prefix, images, labels) of each evaluation set: val (when split off), test."""
        sets = [("test", self.data.test_images, self.data.test_labels)]
        if self.val_images.shape[0]:
            sets.insert(0, ("val", self.val_images, self.val_labels))
        return sets

    def evaluate(self) -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{} for _ in range(self.members)]
        for prefix, images, labels in self.evaluation_sets():
            losses, accuracies = self._evaluate_on(images, labels)
            for member, loss, accuracy in zip(out, losses, accuracies, strict=True):
                member[f"{prefix}_loss"], member[f"{prefix}_accuracy"] = loss, accuracy
        return out

    def _evaluate_on(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[list[float], list[float]]:
        """Every member's mean cross-entropy and accuracy on (images, labels), in chunks."""
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
        return (loss_sum / n).tolist(), (correct / n).tolist()
