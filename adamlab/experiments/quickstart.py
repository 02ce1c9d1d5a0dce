"""The quickstart sweep: Adam/AdamW vs SGD and momentum on a quadratic and a Zipf embedding table.

A small cut of the other experiments, claims that a couple of minutes of CPU can check:
1. (quadratic) corrected Adam's and AdamW's first step moves each coordinate by lr
   (opt.effective_step at step 1 = 1x, within 5%), whatever the lr;
2. (embedding_sparsity) the rare bucket's error falls far faster under Adam than under SGD, each
   at its best lr (share of the step-1 rare.error removed, >= 5x);
3. (embedding_sparsity) AdamW's decay shrinks the rare rows, which rarely get a gradient, below
   where Adam leaves them at the same lr.
"""

from __future__ import annotations

from adamlab.experiments.bias_correction import BIAS_CORRECTION, first_step_claim
from adamlab.experiments.claims import Claim, unmeasured
from adamlab.experiments.embedding_sparsity import (
    TASK as EMBEDDING,
)
from adamlab.experiments.embedding_sparsity import (
    decay_shrinks_rare_rows_claim,
    faster_on_rare_rows_claim,
)
from adamlab.store.tables import Results

QUADRATIC = "quadratic"


def claims(results: Results) -> list[Claim]:
    trials = results.trials
    quadratic = trials[trials["task"] == QUADRATIC]
    if BIAS_CORRECTION in quadratic:
        corrected = quadratic[quadratic[BIAS_CORRECTION].fillna(False).astype(bool)]
        first_step = first_step_claim(results, corrected, QUADRATIC, corrected=True)
    else:
        first_step = unmeasured(QUADRATIC, "first step with correction = 1× lr", "1×", "no adam/adamw trial")
    embedding = trials[trials["task"] == EMBEDDING]
    if embedding.empty:
        why = f"no {EMBEDDING} trial"
        return [first_step, unmeasured(EMBEDDING, "rare rows: Adam vs SGD", "", why),
                unmeasured(EMBEDDING, "AdamW's decay shrinks the rare rows", "", why)]
    return [
        first_step,
        faster_on_rare_rows_claim(results, embedding, ("adam",), ("sgd",)),
        decay_shrinks_rare_rows_claim(results, embedding),
    ]
