"""Rare rows of a Zipf embedding table with sparse gradients: SGD vs SparseAdam.

The companion of `embedding_sparsity`: with `sparse: true` the table's gradients are sparse
COO tensors, which only sparse-capable optimizers take (torch's SparseAdam and plain SGD), so
it is a sweep of its own (every optimizer of a sweep runs on every task). SparseAdam is lazy: it
updates m, v and the row only for the rows in the batch. Claims (as in `embedding_sparsity`):
1. the rare bucket's error falls far faster under SparseAdam than under SGD, each at its best lr
   (share of the step-1 rare.error removed, >= 5x);
2. the gap is rarity: SGD at its best lr removes >= 90% of the frequent bucket's error.
"""

from __future__ import annotations

from adamlab.experiments.claims import Claim, unmeasured
from adamlab.experiments.embedding_sparsity import (
    TASK,
    faster_on_rare_rows_claim,
    frequent_rows_fit_claim,
)
from adamlab.store.tables import Results


def claims(results: Results) -> list[Claim]:
    trials = results.trials[results.trials["task"] == TASK]
    if trials.empty:
        return [unmeasured(TASK, "rare rows: SparseAdam vs SGD", "", f"no {TASK} trial")]
    return [
        faster_on_rare_rows_claim(results, trials, ("sparse_adam",), ("sgd",)),
        frequent_rows_fit_claim(results, trials, ("sgd",)),
    ]
