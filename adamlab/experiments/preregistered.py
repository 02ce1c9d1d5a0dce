"""What decides each registered experiment's claims: its criteria (see `adamlab.experiments.criteria`).

Declared apart from the code that measures the claims, which needs pandas: the first sweep into a
folder stores these before its first trial, and a sweep imports only what it runs. Each
criterion names, as `module:name` references, the functions and constants of the experiment's
module (and the shared rules) that judge it; they are read from source, never imported here.
"""

from __future__ import annotations

from adamlab.experiments.criteria import (
    COMPARISON_RULES,
    SELECTION_RULES,
    WHERE_RULES,
    Criterion,
    refs,
)

# ------------------------------------------------------------------------ bias_correction

#: the claims' texts (the criteria find their claims by them)
STABLE_TEXT = "corrected Adam is stable across β2"
SHIFT_TEXT = "without correction the best early lr falls as β2 → 1"

_BIAS = "adamlab.experiments.bias_correction"
_BIAS_TASK = refs(_BIAS, "claims", "task_claims", "_no_schedule", "_warmup_steps", "_beta_pairs")
_BIAS_CHECK = (*_BIAS_TASK, *refs(_BIAS, "first_step_claim", "first_step_factor",
                                  "FIRST_STEP_TOLERANCE", "HEADLINE_BETAS"))
_BIAS_WHERE = (*WHERE_RULES, *SELECTION_RULES, *_BIAS_TASK,
               *refs(_BIAS, "_lr_levels", "_groups", "_decided", "_best_per_beta2",
                     "_open_lr_edges", "STABLE_LR_STEPS"))
_BIAS_LATE = refs(_BIAS, "horizon", "past_horizon")
BIAS_CORRECTION = (
    Criterion("first_step_uncorrected", "first step without correction", _BIAS_CHECK),
    Criterion("first_step_corrected", "first step with correction", _BIAS_CHECK),
    Criterion("stable", STABLE_TEXT, (*_BIAS_WHERE, *COMPARISON_RULES, *refs(
        _BIAS, "stable_across_beta2_claim", "_stability", "_spread_parts", "STABLE_LOSS_SPREAD"),
        "adamlab.experiments.claims:combine")),
    Criterion("shift", SHIFT_TEXT, (*_BIAS_WHERE, *refs(_BIAS, "best_lr_shift_claim", "_lr_shifts"))),
    Criterion("worse_early", "corrected's best (early", (*COMPARISON_RULES, *SELECTION_RULES,
                                                         *_BIAS_TASK,
                                                         *refs(_BIAS, "worse_at_large_lr_claim"))),
    Criterion("worse_late", "corrected's best (late", (*COMPARISON_RULES, *SELECTION_RULES,
                                                       *_BIAS_TASK, *_BIAS_LATE,
                                                       *refs(_BIAS, "worse_at_large_lr_claim"))),
    Criterion("best_against_best", "each at its best lr: worse than corrected",
              (*COMPARISON_RULES, *SELECTION_RULES, *_BIAS_TASK, *_BIAS_LATE,
               *refs(_BIAS, "best_against_best_claim", "_unbracketed_lr"))),
    Criterion("warmup", "with a warmup of", (*_BIAS_WHERE, *refs(_BIAS, "warmup_claim",
                                                                  "_warm_lr_moves",
                                                                  "_moves_at_most"))),
)

# --------------------------------------------------------------------- embedding_sparsity

_EMBEDDING = "adamlab.experiments.embedding_sparsity"
_EMBEDDING_BEST = (*COMPARISON_RULES, *SELECTION_RULES,
                   *refs(_EMBEDDING, "_of", "error_removed", "_best_by_rare_error", "unbracketed"))
_FASTER = (*_EMBEDDING_BEST, *refs(_EMBEDDING, "faster_on_rare_rows_claim", "FASTER_FACTOR"),
           "adamlab.experiments.claims:interval_verdict")
_FREQUENT = (*_EMBEDDING_BEST, *refs(_EMBEDDING, "frequent_rows_fit_claim", "FREQUENT_FIT"),
             "adamlab.experiments.claims:interval_verdict")
_SHRINK = (*_EMBEDDING_BEST, *refs(_EMBEDDING, "decay_shrinks_rare_rows_claim", "norm_ratio",
                                   "SHRINK"))
EMBEDDING_SPARSITY = (
    Criterion("faster_than_sgd", "faster under adam than sgd", _FASTER),
    Criterion("faster_than_momentum", "faster under adam than momentum", _FASTER),
    Criterion("frequent_rows", "fits the frequent rows", _FREQUENT),
    Criterion("decay_shrinks", "AdamW's decay shrinks the rare rows", _SHRINK),
    Criterion("task_loss", "on the task's own metric",
              (*_EMBEDDING_BEST, *refs(_EMBEDDING, "task_loss_claim", "TASK_LOSS_MARGIN"))),
)
#: the same claims with sparse gradients (`adamlab.experiments.embedding_sparse`)
EMBEDDING_SPARSE = (
    Criterion("faster_than_sgd", "faster under sparse_adam than sgd", _FASTER),
    Criterion("frequent_rows", "fits the frequent rows", _FREQUENT),
)

# --------------------------------------------------------------------------- weight_decay

_DECAY = "adamlab.experiments.weight_decay"
_DECAY_WHERE = (*WHERE_RULES, *SELECTION_RULES,
                *refs(_DECAY, "split_variants", "best_wd_claim", "where_levels", "best_wd_by_lr",
                      "path_positions", "path_holds", "WHERE_TEXT", "LRS_WHERE_WD_MATTERS"),
                "adamlab.analysis.grid_edges:grid_edges")
_DECAY_BEST = (*COMPARISON_RULES, *SELECTION_RULES, *refs(_DECAY, "split_variants", "_unbracketed"))
WEIGHT_DECAY = (
    Criterion("axis", "the best weight decay barely moves",
              (*_DECAY_WHERE, *refs(_DECAY, "AXIS_STEPS"))),
    Criterion("diagonal", "the best weight decay falls as lr rises",
              (*_DECAY_WHERE, *refs(_DECAY, "DIAGONAL_STEPS", "non_increasing"))),
    Criterion("product", "the best lr·wd stays put",
              (*_DECAY_WHERE, *refs(_DECAY, "PRODUCT_STEPS", "same_log_spacing",
                                    "SPACING_TOLERANCE"))),
    Criterion("loss", "best test_loss is at least as good",
              (*_DECAY_BEST, *refs(_DECAY, "best_result_claim", "AS_GOOD_AS_MARGIN"))),
    Criterion("accuracy", "best test_accuracy is at least as good",
              (*_DECAY_BEST, *refs(_DECAY, "best_result_claim", "AS_GOOD_AS_MARGIN"))),
    Criterion("helps", "weight decay helps", (*_DECAY_BEST, *refs(_DECAY, "decay_helps_claim"))),
)

# ----------------------------------------------------------------------------- quickstart

#: a small cut of the others: corrected Adam's first step, and two of the embedding claims
QUICKSTART = (BIAS_CORRECTION[1], EMBEDDING_SPARSITY[0], EMBEDDING_SPARSITY[3])
