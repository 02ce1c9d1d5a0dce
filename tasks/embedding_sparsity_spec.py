"""The embedding_sparsity task's metadata, torch-free (see tasks/spec.py); the task is
embedding_sparsity.py."""

from __future__ import annotations

import math

from pydantic import Field, FiniteFloat, model_validator

from adamlab.tasks.spec import TaskParams, TaskSpec

BUCKETS = ("frequent", "middle", "rare")
ROW_STATISTICS = ("error", "touched", "update", "norm")


def bucket_slices(vocab_size: int, frequent_fraction: float, rare_fraction: float) -> dict[str, slice]:
    """Rows of each bucket (rows are frequency ranks, most frequent first)."""
    n_frequent = max(1, math.floor(frequent_fraction * vocab_size + 0.5))
    n_rare = max(1, math.floor(rare_fraction * vocab_size + 0.5))
    return {
        "frequent": slice(0, n_frequent),
        "middle": slice(n_frequent, vocab_size - n_rare),
        "rare": slice(vocab_size - n_rare, vocab_size),
    }


class EmbeddingSparsityParams(TaskParams):
    vocab_size: int = Field(10_000, ge=3, description="rows of the embedding table")
    dim: int = Field(16, ge=1, description="columns of the embedding table")
    zipf_exponent: FiniteFloat = Field(
        1.0, ge=0, description="token of rank k has probability proportional to k^-exponent"
    )
    init_std: FiniteFloat = Field(1.0, ge=0, description="std of the initial table entries")
    target_noise: FiniteFloat = Field(
        0.0, ge=0, description="std of Gaussian noise added to each target coordinate"
    )
    sparse: bool = Field(False, description="nn.Embedding(sparse=True): sparse gradients")
    frequent_fraction: FiniteFloat = Field(
        0.01, gt=0, lt=1, description="share of rows (most frequent first) in bucket 'frequent'"
    )
    rare_fraction: FiniteFloat = Field(
        0.5, gt=0, lt=1, description="share of rows (least frequent last) in bucket 'rare'"
    )

    @model_validator(mode="after")
    def _check_buckets(self) -> EmbeddingSparsityParams:
        middle = bucket_slices(self.vocab_size, self.frequent_fraction, self.rare_fraction)["middle"]
        if middle.stop <= middle.start:
            raise ValueError(
                f"frequent_fraction {self.frequent_fraction} and rare_fraction "
                f"{self.rare_fraction} leave no rows of {self.vocab_size} for bucket 'middle'; "
                f"lower them or raise vocab_size"
            )
        return self


class EmbeddingSparsitySpec(TaskSpec):
    name = "embedding_sparsity"
    summary = "embedding table fit to a teacher on Zipf tokens; error/updates of rare vs frequent rows"
    Params = EmbeddingSparsityParams
    metric_goals = {
        "train_loss": "min",
        "test_loss": "min",
        "error": "min",
        **{f"{bucket}.error": "min" for bucket in BUCKETS},
    }
    primary_metric = "test_loss"

    #: token ids drawn per block (steps_per_block * batch_size)
    TOKEN_BLOCK_VALUES = 1 << 16
    loss_metric = "test_loss"
    implementation = "adamlab.tasks.embedding_sparsity:EmbeddingSparsityTask"

    @classmethod
    def memory_bytes(cls, params: EmbeddingSparsityParams, batch_size: int) -> int:
        # ~10 vocab x dim float32 tables (initial, teacher, weight, gradient, m, v, last-log copy,
        # diagnostics), the float64 Zipf law and cdf; per step: a block of token ids (float64
        # uniforms + int64 ids), the looked-up rows, targets and target noise
        tables = 10 * 4 * params.vocab_size * params.dim + 4 * 8 * params.vocab_size
        tokens = 2 * 8 * max(batch_size, cls.TOKEN_BLOCK_VALUES)
        rows = 6 * 4 * max(batch_size, cls.TOKEN_BLOCK_VALUES) * params.dim
        return tables + tokens + rows

    @classmethod
    def uses_sparse_gradients(cls, params: EmbeddingSparsityParams) -> bool:
        return params.sparse

    @classmethod
    def member_bytes(cls, params: EmbeddingSparsityParams, batch_size: int) -> int:
        # float32 table, gradient, three optimizer states, the copy at the last log step and the
        # row statistics' temporaries; the batch's residuals
        return 4 * (8 * params.vocab_size * params.dim + 4 * batch_size * params.dim)
