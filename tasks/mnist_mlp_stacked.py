"""The MNIST MLP for a stack of K members: weights [K, out, in], biases [K, out].

Members share the seed, hence the initial weights and the batches. The first layer reads the
same images for every member, so it is one matrix product for the whole stack (the K weight
matrices side by side, [in, K * out]); the layers after it are batched products (baddbmm).

On the CPU a 784-256-10 MLP is bound by its matrix products, which a stack does not shrink: the
gain is small but never a loss (8 configurations, 100 steps, 2 shared cores: 1.14-1.31x with one
torch thread, 1.9x and more with two; `python -m benchmarks.sweep_throughput --sweeps mnist`),
so it stacks on the CPU too. On a GPU the stack fills the device where one small model leaves it
idle.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from adamlab.tasks.mnist_mlp import MnistMlpParams, MnistMlpTask
from adamlab.tasks.stacked import StackedTask

#: hidden activations held at once while evaluating (elements): bounds memory for large stacks
EVAL_CHUNK_ELEMENTS = 1 << 24


class StackedMnistMlpTask(StackedTask):
    task = MnistMlpTask

    def __init__(
        self, params: MnistMlpParams, *, seed: int, device: torch.device, batch_size: int, members: int
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        one = MnistMlpTask(params, seed=seed, device=device, batch_size=batch_size)
        self.data, self.batches, self.activation = one.data, one.batches, one.activation
        self.train_images, self.train_labels = one.train_images, one.train_labels
        self.evaluation_sets = one.evaluation_sets
        self.tensors = [self.stack(t, members) for t in one.tensors]

    def logits(self, inputs: Tensor) -> Tensor:
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

    def loss_and_grad(self, step: int) -> Tensor:
        for tensor in self.tensors:
            tensor.grad = None
        indices = self.batches.indices(step)
        inputs = self.train_images.index_select(0, indices)
        labels = self.train_labels.index_select(0, indices)
        logits = self.logits(inputs)
        members, batch, classes = logits.shape
        losses = F.cross_entropy(
            logits.reshape(members * batch, classes), labels.repeat(members), reduction="none"
        ).view(members, batch).mean(dim=1)
        # each member's loss depends on its own weights only: the sum's gradient is each one's
        losses.sum().backward()
        return losses.detach()

    def evaluate(self) -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{} for _ in range(self.members)]
        for prefix, images, labels in self.evaluation_sets():
            losses, accuracies = self._evaluate_on(images, labels)
            for member, loss, accuracy in zip(out, losses, accuracies, strict=True):
                member[f"{prefix}_loss"], member[f"{prefix}_accuracy"] = loss, accuracy
        return out

    def _evaluate_on(self, images: Tensor, labels: Tensor) -> tuple[list[float], list[float]]:
        """Every member's mean cross-entropy and accuracy on (images, labels), in chunks."""
        n = images.shape[0]
        widest = max(t.shape[1] for t in self.tensors[::2])
        rows = max(1, EVAL_CHUNK_ELEMENTS // (self.members * widest))
        loss_sum = torch.zeros(self.members, dtype=torch.float32, device=self.device)
        correct = torch.zeros(self.members, dtype=torch.float32, device=self.device)
        with torch.no_grad():
            for start in range(0, n, rows):
                logits = self.logits(images[start : start + rows])
                members, count, classes = logits.shape
                chunk_labels = labels[start : start + rows]
                loss_sum += F.cross_entropy(
                    logits.reshape(members * count, classes), chunk_labels.repeat(members),
                    reduction="none",
                ).view(members, count).sum(dim=1)
                correct += (logits.argmax(dim=2) == chunk_labels).to(torch.float32).sum(dim=1)
        return (loss_sum / n).tolist(), (correct / n).tolist()
