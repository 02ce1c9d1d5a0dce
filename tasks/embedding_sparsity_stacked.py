"""The embedding-sparsity task for a stack of K members: the table is [K, vocab_size, dim].

Members share the seed, hence the teacher, the initial table and every step's token ids and
targets: those are drawn once per step for the whole stack. The gradient is the one
nn.Embedding(sparse=False) produces, written directly: the batch's rows of
d/dE 0.5 mean_b ||E[id_b] - T_b||^2 accumulated into a dense [K, vocab_size, dim] buffer in
batch order (as embedding's backward accumulates them). The buffer is kept between steps and
only the rows the previous batch touched are cleared, so a step does not zero K tables.

The sparse form (`sparse: true`, SparseAdam / sparse SGD) runs one trial at a time.
"""

from __future__ import annotations

import torch
from torch import Tensor

from adamlab.tasks.embedding_sparsity import (
    ROW_STATISTICS,
    EmbeddingSparsityParams,
    EmbeddingSparsityTask,
)
from adamlab.tasks.stacked import StackedTask


class StackedEmbeddingSparsityTask(StackedTask):
    task = EmbeddingSparsityTask

    def __init__(
        self, params: EmbeddingSparsityParams, *, seed: int, device: torch.device,
        batch_size: int, members: int,
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        self.one = EmbeddingSparsityTask(params, seed=seed, device=device, batch_size=batch_size)
        self.tensors = [self.stack(self.one.embedding.weight, members)]
        self.table.grad = torch.zeros_like(self.table)
        self._rows_with_grad: Tensor | None = None
        self._touched = torch.zeros(params.vocab_size, dtype=torch.bool, device=device)
        self._weight_at_last_log = self.table.detach().clone()
        # d loss / d residual = (0.5 / B) * 2 residual, with 0.5 / B rounded as autograd's
        # mean backward rounds it, so the buffer holds what embedding's backward would
        self._scale = torch.tensor(0.5, device=device) / batch_size

    @classmethod
    def declines(cls, params: EmbeddingSparsityParams, device: torch.device) -> str | None:
        return "sparse gradients (sparse: true) run one trial at a time" if params.sparse else None

    @property
    def table(self) -> Tensor:
        return self.tensors[0]

    def loss_and_grad(self, step: int) -> Tensor:
        ids = self.one.tokens.at(step)
        targets = self.one.targets(step, ids)
        table, grad = self.table.detach(), self.table.grad
        residual = table.index_select(1, ids) - targets  # [K, B, dim]
        losses = 0.5 * residual.square().sum(dim=2).mean(dim=1)
        if self._rows_with_grad is not None:
            grad.index_fill_(1, self._rows_with_grad, 0.0)
        grad.index_add_(1, ids, self._scale * (2.0 * residual))
        self._rows_with_grad = ids
        self._touched[ids] = True
        return losses

    def keep(self, members) -> None:
        super().keep(members)
        index = torch.tensor(list(members), dtype=torch.long, device=self.device)
        self._weight_at_last_log = self._weight_at_last_log.index_select(0, index)

    def row_statistics(self) -> Tensor:
        """[K, len(ROW_STATISTICS), vocab_size]: per member and row, error, touched, update, norm."""
        with torch.no_grad():
            weight = self.table.detach()
            return torch.stack(
                [
                    torch.linalg.vector_norm(weight - self.one.teacher, dim=2),
                    self._touched.to(weight.dtype).expand(weight.shape[0], -1),
                    torch.linalg.vector_norm(weight - self._weight_at_last_log, dim=2),
                    torch.linalg.vector_norm(weight, dim=2),
                ],
                dim=1,
            )

    def step_metrics(self) -> list[dict[str, float]]:
        rows = self.row_statistics()
        self._weight_at_last_log.copy_(self.table.detach())
        # [K, bucket, statistic]
        means = torch.stack([rows[:, :, rows_of].mean(dim=2) for rows_of in self.one.buckets.values()], dim=1)
        return [
            {
                f"{bucket}.{statistic}": value
                for bucket, bucket_means in zip(self.one.buckets, member, strict=True)
                for statistic, value in zip(ROW_STATISTICS, bucket_means, strict=True)
            }
            for member in means.tolist()
        ]

    def evaluate(self) -> list[dict[str, float]]:
        with torch.no_grad():
            squared = (self.table.detach() - self.one.teacher).square().sum(dim=2)  # [K, vocab]
            test_loss = 0.5 * torch.mv(squared, self.one.probabilities)
            error = squared.sqrt().mean(dim=1)
        return [
            {"test_loss": loss, "error": err}
            for loss, err in zip(test_loss.tolist(), error.tolist(), strict=True)
        ]
