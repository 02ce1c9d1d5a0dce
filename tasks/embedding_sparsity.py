"""An embedding table learning a fixed random teacher table from Zipf-distributed token ids.

Row k of the table is the token of frequency rank k (row 0 the most frequent): token ids are
drawn i.i.d. with probability p_k proportional to (k+1)^(-zipf_exponent). Each example is a
token id and its target, the teacher's row for that id (plus N(0, target_noise^2) per
coordinate when target_noise > 0); the loss is 0.5 ||E[id] - target||^2, averaged over the
batch. Regression onto the teacher row keeps the rows independent, so a row's error is simply
its distance to the teacher row, and it changes only through the steps taken on that row: the
task isolates how an optimizer treats rows that are rarely seen (Adam's normalised steps against
SGD's steps proportional to how often a row appears).

The table of a stack of K members is [K, vocab_size, dim]; the members share the seed, hence the
teacher, the initial table and every step's token ids and targets. The dense gradient is the one
nn.Embedding(sparse=False) produces, written directly into a buffer kept between steps.
``sparse: true`` gives the gradients of nn.Embedding(sparse=True), sparse COO tensors over a 2-D
[K * vocab_size, dim] leaf, and only sparse-capable optimizers (torch's SparseAdam, plain SGD)
apply.

Rows are grouped by frequency rank into three buckets: ``frequent`` (the top frequent_fraction of
rows, default 1%), ``rare`` (the bottom rare_fraction, default 50%) and ``middle`` (the rest);
bucket sizes are the fractions of vocab_size rounded half up, at least 1 row each.

Metrics, at each log step (step_metrics), for each bucket B, means over the bucket's rows:
- ``B.error``: ||E_k - T_k||, distance of the row to its teacher row;
- ``B.touched``: 1 if the row has been in at least one training batch so far, else 0 (the
  fraction of the bucket's rows that have ever received a gradient; depends on the data only);
- ``B.update``: ||E_k(now) - E_k(previous log step)||, the net movement of the row since the
  previous log step (since initialisation at the first);
- ``B.norm``: ||E_k||, which shows weight decay shrinking rows that gradients never reach.
The table starts as N(0, init_std^2) entries (nn.Embedding's default is init_std 1) and the
teacher is N(0, 1), so an untrained row is about sqrt((1 + init_std^2) dim) from its teacher row;
weight decay alone moves that towards sqrt(dim) by shrinking the row, which is why ``norm`` sits
beside ``error`` (init_std: 0 starts every row at 0 and takes that effect out).
At each evaluation: ``test_loss``, the expected loss over the Zipf distribution,
sum_k p_k 0.5 ||E_k - T_k||^2 (without the constant 0.5 dim target_noise^2 that noise adds),
and ``error``, ||E_k - T_k|| averaged over all rows.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adamlab.tasks.base import Task
from adamlab.tasks.embedding_sparsity_spec import (
    BUCKETS,
    ROW_STATISTICS,
    EmbeddingSparsityParams,
    EmbeddingSparsitySpec,
    bucket_slices,
)
from adamlab.tasks.randomness import StepBlocks, cpu_generator

__all__ = [
    "BUCKETS", "ROW_STATISTICS", "EmbeddingSparsityParams", "EmbeddingSparsityTask",
    "bucket_slices", "zipf_probabilities",
]

def zipf_probabilities(vocab_size: int, exponent: float) -> torch.Tensor:
    """p_k proportional to (k+1)^(-exponent), k = 0..vocab_size-1 (float64)."""
    weights = torch.arange(1, vocab_size + 1, dtype=torch.float64) ** (-exponent)
    return weights / weights.sum()


class EmbeddingSparsityTask(EmbeddingSparsitySpec, Task):
    def __init__(
        self, params: EmbeddingSparsityParams, *, seed: int, device: torch.device, batch_size: int,
        members: int = 1,
    ):
        super().__init__(params, seed=seed, device=device, batch_size=batch_size, members=members)
        vocab_size, dim = params.vocab_size, params.dim
        self.buckets = bucket_slices(vocab_size, params.frequent_fraction, params.rare_fraction)
        probabilities = zipf_probabilities(vocab_size, params.zipf_exponent)
        self.probabilities = probabilities.to(torch.float32).to(device)
        cdf = probabilities.cumsum(0)
        cdf[-1] = 1.0
        self._cdf = cdf

        self.teacher = torch.randn(vocab_size, dim, generator=cpu_generator(seed, "embedding.teacher"))
        self.teacher = self.teacher.to(device)
        initial = params.init_std * torch.randn(
            vocab_size, dim, generator=cpu_generator(seed, "embedding.init")
        )
        table = self.stack(initial.to(device), members)  # [K, vocab_size, dim]
        if params.sparse:
            # sparse gradients need a 2-D leaf: the members' tables one after another, [K * V, dim],
            # looked up with ids offset by k * V
            table = table.detach().view(members * vocab_size, dim).requires_grad_()
        self.tensors = [table]

        steps_per_block = max(1, self.TOKEN_BLOCK_VALUES // batch_size)
        self.tokens = StepBlocks(seed, "embedding.tokens", steps_per_block, self._draw_tokens, device)
        self._target_noise: StepBlocks | None = None
        if params.target_noise > 0:
            self._target_noise = StepBlocks(
                seed,
                "embedding.target_noise",
                max(1, self.TOKEN_BLOCK_VALUES // (batch_size * dim)),
                lambda generator, n: params.target_noise
                * torch.randn(n, batch_size, dim, generator=generator),
                device,
            )

        self._touched = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        self._weight_at_last_log = self.weights().clone()
        self._rows_with_grad: torch.Tensor | None = None
        # d loss / d residual = (0.5 / B) * 2 residual, with 0.5 / B rounded as autograd's
        # mean backward rounds it, so the dense gradient is what embedding's backward gives
        self._scale = torch.tensor(0.5, device=device) / batch_size

    def weights(self) -> torch.Tensor:
        """The members' tables, [K, vocab_size, dim] (detached)."""
        return self.tensors[0].detach().view(self.members, self.params.vocab_size, self.params.dim)

    def _draw_tokens(self, generator: torch.Generator, n_steps: int) -> torch.Tensor:
        uniform = torch.rand(n_steps * self.batch_size, generator=generator, dtype=torch.float64)
        ids = torch.searchsorted(self._cdf, uniform, right=True)
        return ids.view(n_steps, self.batch_size)

    def targets(self, step: int, ids: torch.Tensor) -> torch.Tensor:
        """The regression targets of the batch of ``step`` (token ids ``ids``)."""
        targets = self.teacher.index_select(0, ids)
        if self._target_noise is not None:
            targets = targets + self._target_noise.at(step)
        return targets

    def loss_and_grad(self, step: int) -> torch.Tensor:
        ids = self.tokens.at(step)
        targets = self.targets(step, ids)
        self._touched[ids] = True
        if self.params.sparse:
            return self._sparse_loss_and_grad(ids, targets)
        # dense: the gradient nn.Embedding(sparse=False) produces, written directly: the batch's
        # rows of d/dE 0.5 mean_b ||E[id_b] - T_b||^2 accumulated in batch order into a buffer
        # that is kept between steps, clearing only the rows the previous batch touched
        table = self.tensors[0]
        if table.grad is None:
            table.grad = torch.zeros_like(table)
        residual = table.detach().index_select(1, ids) - targets  # [K, B, dim]
        losses = 0.5 * residual.square().sum(dim=2).mean(dim=1)
        if self._rows_with_grad is not None:
            table.grad.index_fill_(1, self._rows_with_grad, 0.0)
        table.grad.index_add_(1, ids, self._scale * (2.0 * residual))
        self._rows_with_grad = ids
        return losses

    def _sparse_loss_and_grad(self, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        table = self.tensors[0]
        table.grad = None
        offsets = torch.arange(self.members, device=self.device) * self.params.vocab_size
        rows = F.embedding(ids + offsets.unsqueeze(1), table, sparse=True)  # [K, B, dim]
        losses = 0.5 * (rows - targets).square().sum(dim=2).mean(dim=1)
        losses.sum().backward()
        return losses.detach()

    def keep(self, kept) -> None:
        index = torch.tensor(list(kept), dtype=torch.long, device=self.device)
        if self.params.sparse:
            weights = self.weights().index_select(0, index)
            self.tensors = [weights.reshape(-1, self.params.dim).requires_grad_()]
            self._members = len(kept)
        else:
            super().keep(kept)
        self._weight_at_last_log = self._weight_at_last_log.index_select(0, index)

    def row_statistics(self) -> torch.Tensor:
        """[K, len(ROW_STATISTICS), vocab_size]: per member and row, error, touched, update, norm."""
        with torch.no_grad():
            weight = self.weights()
            return torch.stack(
                [
                    torch.linalg.vector_norm(weight - self.teacher, dim=2),
                    self._touched.to(weight.dtype).expand(weight.shape[0], -1),
                    torch.linalg.vector_norm(weight - self._weight_at_last_log, dim=2),
                    torch.linalg.vector_norm(weight, dim=2),
                ],
                dim=1,
            )

    def step_metrics(self) -> list[dict[str, float]]:
        rows = self.row_statistics()
        self._weight_at_last_log.copy_(self.weights())
        # [K, bucket, statistic]
        means = torch.stack([rows[:, :, rows_of].mean(dim=2) for rows_of in self.buckets.values()], dim=1)
        return [
            {
                f"{bucket}.{statistic}": value
                for bucket, bucket_means in zip(self.buckets, member, strict=True)
                for statistic, value in zip(ROW_STATISTICS, bucket_means, strict=True)
            }
            for member in means.tolist()
        ]

    def evaluate(self) -> list[dict[str, float]]:
        with torch.no_grad():
            squared = (self.weights() - self.teacher).square().sum(dim=2)  # [K, vocab]
            test_loss = 0.5 * torch.mv(squared, self.probabilities)
            error = squared.sqrt().mean(dim=1)
        return [
            {"test_loss": loss, "error": err}
            for loss, err in zip(test_loss.tolist(), error.tolist(), strict=True)
        ]
