"""Weight-decay claims on hand-built lr x weight_decay grids whose answers are known."""

from __future__ import annotations

import math

import pytest
from experiments_testing import record, results_of

from adamlab.experiments import weight_decay
from adamlab.experiments.measures import config_values
from adamlab.experiments.weight_decay import best_wd_by_lr

LRS = [1e-4, 1e-3, 1e-2]
ADAMW_WDS = [1e-3, 1e-2, 1e-1, 1.0]
L2_WDS = [1e-6, 1e-5, 1e-4, 1e-3]


def along_axes(lr: float, wd: float, best_wd: float) -> float:
    """Best weight decay best_wd at every lr."""
    return 0.1 + (math.log10(wd) - math.log10(best_wd)) ** 2 + (math.log10(lr) + 3) ** 2


def along_diagonal(lr: float, wd: float, best_at_1e3: float) -> float:
    """Best weight decay best_at_1e3 * 1e-3 / lr: one decade down per decade of lr."""
    return 0.1 + (math.log10(wd * lr) - math.log10(best_at_1e3 * 1e-3)) ** 2 + (math.log10(lr) + 3) ** 2


def wd_results(*, adamw_shape=along_axes, l2_shape=along_diagonal, l2_offset: float = 0.0,
               l2_seed_spread: float = 0.0):
    records = []
    for optimizer, wds, shape, best, offset, spread in [
        ("adamw", ADAMW_WDS, adamw_shape, 1e-1, 0.0, 0.0),
        ("adam", L2_WDS, l2_shape, 1e-4, l2_offset, l2_seed_spread),
    ]:
        for lr in LRS:
            for wd in wds:
                for seed in (0, 1):
                    loss = shape(lr, wd, best) + offset + (spread if seed else -spread)
                    records.append(record("mnist_mlp", optimizer, {"lr": lr, "weight_decay": wd}, seed, {
                        500: {"test_loss": 2 * loss, "test_accuracy": 0.5},
                        3000: {"test_loss": loss, "test_accuracy": 1 - loss / 10},
                    }, variant="adam-l2" if optimizer == "adam" else "adamw"))
    return results_of(records, sweep="weight_decay")


def test_best_weight_decay_per_lr_follows_the_loss_surface():
    results = wd_results()
    adamw = results.trials[results.trials["optimizer"] == "adamw"]
    per_lr = best_wd_by_lr(config_values(results, adamw, "test_loss"))
    assert per_lr["lr"].tolist() == LRS
    assert per_lr["weight_decay"].tolist() == [0.1, 0.1, 0.1]
    adam = results.trials[results.trials["optimizer"] == "adam"]
    per_lr = best_wd_by_lr(config_values(results, adam, "test_loss"))
    assert per_lr["weight_decay"].tolist() == [1e-3, 1e-4, 1e-5]


def test_separable_adamw_and_diagonal_adam_l2_hold():
    axis, diagonal, loss, accuracy = weight_decay.claims(wd_results())
    assert axis.status == "holds" and axis.value == 0
    assert "0.0001→0.1, 0.001→0.1, 0.01→0.1" in axis.measured
    assert diagonal.status == "holds" and diagonal.value == -2  # two grid steps down
    assert "smallest→largest lr -2" in diagonal.measured
    assert loss.status == "holds" and accuracy.status == "holds"
    assert loss.value == pytest.approx(0.1)


def test_swapped_shapes_fail_both_basin_claims():
    axis, diagonal, _, _ = weight_decay.claims(
        wd_results(adamw_shape=along_diagonal, l2_shape=along_axes)
    )
    assert axis.status == "fails" and axis.value == 2
    assert diagonal.status == "fails" and diagonal.value == 0


def test_adamw_worse_than_adam_l2_beyond_its_seed_interval_fails():
    _, _, loss, accuracy = weight_decay.claims(wd_results(l2_offset=-0.05))
    assert loss.status == "fails" and accuracy.status == "fails"
    assert "AdamW 0.1 (lr=0.001, wd=0.1); Adam-L2 0.05 [0.05, 0.05]" in loss.measured


def test_adamw_worse_but_inside_adam_l2s_seed_interval_holds():
    # Adam-L2's seeds at 0.05 -/+ 0.06: its mean is better, its interval reaches 0.11
    _, _, loss, _ = weight_decay.claims(wd_results(l2_offset=-0.05, l2_seed_spread=0.06))
    assert loss.status == "holds"


def test_missing_variants_are_unmeasured():
    only_adamw = results_of([
        record("mnist_mlp", "adamw", {"lr": 1e-3, "weight_decay": 0.1}, 0, {3000: {"test_loss": 0.1}})
    ])
    claims = weight_decay.claims(only_adamw)
    assert [c.status for c in claims] == ["unmeasured"] * 4
