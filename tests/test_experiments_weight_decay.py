"""Weight-decay claims on hand-built lr x weight_decay grids whose answers are known: each claim
with the effect present (holds) and absent or inside seed noise (must not hold)."""

from __future__ import annotations

import math
import random

import pytest
from experiments_testing import record, results_of

from adamlab.experiments import weight_decay
from adamlab.experiments.measures import config_values
from adamlab.experiments.weight_decay import best_wd_by_lr, monotone

LRS = [1e-4, 1e-3, 1e-2]
ADAMW_WDS = [1e-3, 1e-2, 1e-1, 1.0]
L2_WDS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
SEEDS = (0, 1, 2)


def along_axes(lr: float, wd: float, best_wd: float) -> float:
    """Best weight decay best_wd at every lr."""
    return 0.1 + (math.log10(wd) - math.log10(best_wd)) ** 2 + (math.log10(lr) + 3) ** 2


def along_diagonal(lr: float, wd: float, best_at_1e3: float) -> float:
    """Best weight decay best_at_1e3 * 1e-3 / lr: one decade down per decade of lr."""
    return 0.1 + (math.log10(wd * lr) - math.log10(best_at_1e3 * 1e-3)) ** 2 + (math.log10(lr) + 3) ** 2


def flat(lr: float, wd: float, best: float) -> float:
    """Weight decay does not matter at all: only lr does."""
    return 0.1 + (math.log10(lr) + 3) ** 2


def zigzag(lr: float, wd: float, best: float) -> float:
    """Adam-L2's best weight decay jumps 2 grid steps down, then 1 back up: not one way."""
    target = {1e-4: 1e-3, 1e-3: 1e-5, 1e-2: 1e-4}[lr]
    return 0.1 + (math.log10(wd) - math.log10(target)) ** 2 + (math.log10(lr) + 3) ** 2


def noise(*key, sigma: float) -> float:
    return random.Random(repr(key)).gauss(0.0, sigma) if sigma else 0.0


def wd_results(*, adamw_shape=along_axes, l2_shape=along_diagonal, l2_offset: float = 0.0,
               seed_sigma: float = 1e-3, config_sigma: float = 1e-4, seeds=SEEDS,
               adamw_wds=ADAMW_WDS, l2_wds=L2_WDS, val_shift: dict | None = None):
    """test_loss = shape + a per-seed offset (shared by every config: paired seeds) + a small
    per-(config, seed) noise; val_loss the same plus `val_shift` {(optimizer, lr, wd): delta}."""
    records = []
    for optimizer, wds, shape, best, offset in [
        ("adamw", adamw_wds, adamw_shape, 1e-1, 0.0),
        ("adam", l2_wds, l2_shape, 1e-4, l2_offset),
    ]:
        for lr in LRS:
            for wd in wds:
                for seed in seeds:
                    loss = (shape(lr, wd, best) + offset + noise(seed, sigma=seed_sigma)
                            + noise(optimizer, lr, wd, seed, sigma=config_sigma))
                    val = loss + (val_shift or {}).get((optimizer, lr, wd), 0.0)
                    records.append(record("mnist_mlp", optimizer, {"lr": lr, "weight_decay": wd}, seed, {
                        500: {"val_loss": 2 * val, "test_loss": 2 * loss, "val_accuracy": 0.5,
                              "test_accuracy": 0.5},
                        3000: {"val_loss": val, "test_loss": loss, "val_accuracy": 1 - val / 10,
                               "test_accuracy": 1 - loss / 10},
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


def test_the_best_weight_decay_is_selected_on_validation_loss():
    # at lr=1e-3, AdamW's val_loss prefers wd=0.01 (its test_loss still prefers 0.1)
    results = wd_results(val_shift={("adamw", 1e-3, 0.1): 2.0, ("adamw", 1e-3, 0.01): -0.5})
    adamw = results.trials[results.trials["optimizer"] == "adamw"]
    per_lr = best_wd_by_lr(config_values(results, adamw, "test_loss"))
    assert per_lr["weight_decay"].tolist() == [0.1, 0.01, 0.1]


def test_present_separable_adamw_and_diagonal_adam_l2_hold():
    axis, diagonal, loss, accuracy = weight_decay.claims(wd_results())
    assert axis.verdict == "holds" and axis.value == 0
    assert "0.0001→0.1, 0.001→0.1, 0.01→0.1" in axis.measured
    assert "holds in 100% of seed resamples" in axis.measured
    assert "weight decay matters at 3 of 3 lrs" in axis.measured
    assert diagonal.verdict == "holds" and diagonal.value == 2
    assert loss.verdict == "holds" and accuracy.verdict == "holds"


def test_absent_swapped_shapes_fail_both_basin_claims():
    # AdamW's grid reaches 10 so that its best (1 at lr=1e-4 down to 0.01) is never at an edge
    axis, diagonal, _, _ = weight_decay.claims(wd_results(
        adamw_shape=along_diagonal, l2_shape=along_axes, adamw_wds=[1e-3, 1e-2, 1e-1, 1.0, 10.0],
    ))
    assert axis.verdict == "fails" and axis.value == 2
    assert diagonal.verdict == "fails" and diagonal.value == 0


def test_a_shift_that_is_not_one_way_is_no_diagonal():
    assert monotone([3, 2, 2, 0]) and monotone([0, 1]) and not monotone([4, 2, 3])
    _, diagonal, _, _ = weight_decay.claims(wd_results(l2_shape=zigzag))
    assert "range 2 grid steps, not monotone in lr" in diagonal.measured
    assert diagonal.verdict == "fails"


def test_null_weight_decay_too_small_to_matter_never_holds():
    """The negative control: weight decay changes nothing but seed noise (as in
    configs/controls/weight_decay_null.yaml): no where-is-the-best claim may hold."""
    for sigma in (1e-4, 3e-3):
        axis, diagonal, loss, accuracy = weight_decay.claims(
            wd_results(adamw_shape=flat, l2_shape=flat, config_sigma=sigma)
        )
        for claim in (axis, diagonal):
            assert claim.verdict != "holds", claim
            assert claim.verdict == "inconclusive" and "where its best lies is noise" in claim.why


def test_as_good_as_present_absent_and_within_noise():
    _, _, loss, accuracy = weight_decay.claims(wd_results())  # identical best losses
    assert loss.verdict == "holds" and loss.value == pytest.approx(1.0, abs=0.01)
    # AdamW's best loss 0.1 against Adam-L2's 0.07 on every seed: far outside the 2% margin,
    # and its accuracy 0.3 points lower (> 0.2)
    _, _, loss, accuracy = weight_decay.claims(wd_results(l2_offset=-0.03))
    assert loss.verdict == "fails" and accuracy.verdict == "fails"
    # AdamW 1% worse on average, seed noise far larger than the margin: inconclusive
    _, _, loss, _ = weight_decay.claims(wd_results(l2_offset=-0.001, config_sigma=0.01))
    assert loss.verdict == "inconclusive" and "straddles the margin" in loss.why


def test_fewer_than_three_seeds_is_inconclusive():
    axis, diagonal, loss, _ = weight_decay.claims(wd_results(seeds=(0, 1)))
    for claim in (axis, diagonal):
        assert claim.verdict == "inconclusive" and "2 seeds (< 3)" in claim.why
    assert loss.verdict == "inconclusive"  # t = 12.7 at 2 seeds: the interval straddles 1.02


def test_a_best_weight_decay_at_an_open_edge_is_inconclusive():
    # AdamW's grid stops at its best, 0.1: nothing larger was tried
    axis, _, loss, _ = weight_decay.claims(wd_results(adamw_wds=[1e-3, 1e-2, 1e-1]))
    assert axis.verdict == "inconclusive" and "weight_decay=0.1 is the top of the grid" in axis.why
    # "as good as" holds: an unbracketed AdamW could only do better
    assert loss.verdict == "holds"
    # Adam-L2's grid stops at its best (wd=1e-4 at lr=1e-3): a better-tuned Adam-L2 could beat
    # AdamW
    _, diagonal, loss, _ = weight_decay.claims(wd_results(l2_wds=[1e-4, 1e-3, 1e-2]))
    assert diagonal.verdict == "inconclusive" and loss.verdict == "inconclusive"
    assert "lead is an upper bound" in loss.why


def test_missing_variants_are_not_measurable():
    only_adamw = results_of([
        record("mnist_mlp", "adamw", {"lr": 1e-3, "weight_decay": 0.1}, 0, {3000: {"test_loss": 0.1}})
    ])
    claims = weight_decay.claims(only_adamw)
    assert [c.verdict for c in claims] == ["not measurable"] * 4
