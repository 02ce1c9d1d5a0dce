"""Weight-decay claims on hand-built lr x weight_decay grids whose answers are known: each claim
with the effect present (holds) and absent or inside seed noise (must not hold).

Three parametrisations (Adam-L2, AdamW with wd x lr, AdamW with wd x schedule) and the shared
wd = 0 control, as configs/weight_decay.yaml runs them."""

from __future__ import annotations

import math
import random

import pytest
from experiments_testing import record, results_of

from adamlab.experiments import weight_decay
from adamlab.experiments.measures import config_values
from adamlab.experiments.weight_decay import (
    best_wd_by_lr,
    monotone,
    non_increasing,
    same_log_spacing,
    split_variants,
)

LRS = [1e-4, 1e-3, 1e-2]
SCHEDULE_WDS = [1e-3, 1e-2, 1e-1, 1.0]
PRODUCT_WDS = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
L2_WDS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
SEEDS = (0, 1, 2)
#: how much worse than the best the wd = 0 control is (test_loss)
CONTROL_GAP = 0.5


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


def rising(lr: float, wd: float, best: float) -> float:
    """Adam-L2's best weight decay rises with lr (a positive diagonal): the wrong way."""
    return along_diagonal(1e-6 / lr, wd, best) - (math.log10(1e-6 / lr) + 3) ** 2 + (math.log10(lr) + 3) ** 2


def noise(*key, sigma: float) -> float:
    return random.Random(repr(key)).gauss(0.0, sigma) if sigma else 0.0


def _record(optimizer, hparams, seed, loss, val, variant):
    return record("mnist_mlp", optimizer, hparams, seed, {
        500: {"val_loss": 2 * val, "test_loss": 2 * loss, "val_accuracy": 0.5, "test_accuracy": 0.5},
        3000: {"val_loss": val, "test_loss": loss, "val_accuracy": 1 - val / 10,
               "test_accuracy": 1 - loss / 10},
    }, variant=variant)


def wd_results(*, schedule_shape=along_axes, l2_shape=along_diagonal, product_shape=along_diagonal,
               l2_offset: float = 0.0, seed_sigma: float = 1e-3, config_sigma: float = 1e-4,
               seeds=SEEDS, schedule_wds=SCHEDULE_WDS, l2_wds=L2_WDS, product_wds=PRODUCT_WDS,
               control_gap: float = CONTROL_GAP, val_shift: dict | None = None,
               control: bool = True):
    """test_loss = shape + a per-seed offset (shared by every config: paired seeds) + a small
    per-(config, seed) noise; val_loss the same plus `val_shift` {(variant, lr, wd): delta}.
    The wd = 0 control (adam, weight_decay 0) sits `control_gap` above the lr's best."""
    records = []
    variants = [
        ("adamw-schedule", "adamw", {"weight_decay_scaling": "schedule"}, schedule_wds,
         schedule_shape, 1e-1, 0.0),
        ("adam-l2", "adam", {}, l2_wds, l2_shape, 1e-4, l2_offset),
        ("adamw-lr", "adamw", {}, product_wds, product_shape, 1e-1, 0.0),
    ]
    for variant, optimizer, extra, wds, shape, best, offset in variants:
        for lr in LRS:
            for wd in wds:
                for seed in seeds:
                    loss = (shape(lr, wd, best) + offset + noise(seed, sigma=seed_sigma)
                            + noise(variant, lr, wd, seed, sigma=config_sigma))
                    val = loss + (val_shift or {}).get((variant, lr, wd), 0.0)
                    records.append(_record(optimizer, {"lr": lr, "weight_decay": wd, **extra},
                                           seed, loss, val, variant))
    if control:
        for lr in LRS:
            for seed in seeds:
                loss = (flat(lr, 0.0, 0.0) + control_gap + noise(seed, sigma=seed_sigma)
                        + noise("control", lr, seed, sigma=config_sigma))
                records.append(_record("adam", {"lr": lr, "weight_decay": 0.0}, seed, loss, loss,
                                       "adam-nowd"))
    return results_of(records, sweep="weight_decay")


def claims_of(results):
    return dict(zip(["axis", "diagonal", "product", "loss", "accuracy", "helps"],
                    weight_decay.claims(results), strict=True))


def test_the_variants_are_told_apart_by_optimizer_scaling_and_decay():
    variants = split_variants(wd_results().trials)
    assert set(variants.l2["variant"]) == {"adam-l2"}
    assert set(variants.lr_scaled["variant"]) == {"adamw-lr"}
    assert set(variants.schedule_scaled["variant"]) == {"adamw-schedule"}
    assert set(variants.control["variant"]) == {"adam-nowd"}
    assert len(variants.control) == len(LRS) * len(SEEDS)


def test_best_weight_decay_per_lr_follows_the_loss_surface():
    results = wd_results()
    variants = split_variants(results.trials)
    per_lr = best_wd_by_lr(config_values(results, variants.schedule_scaled, "test_loss"))
    assert per_lr["lr"].tolist() == LRS
    assert per_lr["weight_decay"].tolist() == [0.1, 0.1, 0.1]
    per_lr = best_wd_by_lr(config_values(results, variants.l2, "test_loss"))
    assert per_lr["weight_decay"].tolist() == [1e-3, 1e-4, 1e-5]
    per_lr = best_wd_by_lr(config_values(results, variants.lr_scaled, "test_loss"))
    assert per_lr["weight_decay"].tolist() == [1.0, 0.1, 0.01]


def test_the_best_weight_decay_is_selected_on_validation_loss():
    # at lr=1e-3, the val_loss prefers wd=0.01 (the test_loss still prefers 0.1)
    results = wd_results(val_shift={("adamw-schedule", 1e-3, 0.1): 2.0,
                                    ("adamw-schedule", 1e-3, 0.01): -0.5})
    variants = split_variants(results.trials)
    per_lr = best_wd_by_lr(config_values(results, variants.schedule_scaled, "test_loss"))
    assert per_lr["weight_decay"].tolist() == [0.1, 0.01, 0.1]


def test_present_every_claim_holds():
    c = claims_of(wd_results())
    assert c["axis"].verdict == "holds" and c["axis"].value == 0
    assert "0.0001→0.1, 0.001→0.1, 0.01→0.1" in c["axis"].measured
    assert "lr=0.0001 {0.1}; lr=0.001 {0.1}; lr=0.01 {0.1}" in c["axis"].measured
    assert "weight decay matters at 3 of 3 lrs" in c["axis"].measured
    assert c["diagonal"].verdict == "holds" and c["diagonal"].value == 2
    assert "fell 2" in c["diagonal"].measured
    assert c["product"].verdict == "holds" and c["product"].value == 0
    assert "(lr·wd 0.0001)" in c["product"].measured
    assert c["loss"].verdict == "holds" and c["accuracy"].verdict == "holds"
    assert c["helps"].verdict == "holds"


def test_absent_swapped_shapes_fail_the_where_claims():
    # schedule-scaled AdamW on a diagonal (its grid reaches 10 so no best is at an edge),
    # Adam-L2 and lr-scaled AdamW axis-aligned
    c = claims_of(wd_results(
        schedule_shape=along_diagonal, l2_shape=along_axes, product_shape=along_axes,
        schedule_wds=[1e-3, 1e-2, 1e-1, 1.0, 10.0],
    ))
    assert c["axis"].verdict == "fails" and c["axis"].value == 2
    assert c["diagonal"].verdict == "fails" and c["diagonal"].value == 0
    # wd fixed at 0.1 while lr rises two decades: lr·wd moves 2 grid steps
    assert c["product"].verdict == "fails" and c["product"].value == 2


def test_a_diagonal_must_fall_one_way():
    assert monotone([3, 2, 2, 0]) and monotone([0, 1]) and not monotone([4, 2, 3])
    assert non_increasing([3, 2, 2, 0]) and not non_increasing([0, 1])
    c = claims_of(wd_results(l2_shape=zigzag))
    assert "rising somewhere" in c["diagonal"].measured
    assert c["diagonal"].verdict == "fails"
    # the best weight decay rises with lr by 2 grid steps: a diagonal, but the wrong way
    c = claims_of(wd_results(l2_shape=rising, l2_wds=[1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]))
    assert c["diagonal"].verdict == "fails" and "rose 2" in c["diagonal"].measured


def test_null_weight_decay_too_small_to_matter_never_holds():
    """The negative control: weight decay changes nothing but seed noise (as in
    configs/controls/weight_decay_null.yaml): no where-is-the-best claim may hold or fail, nor
    may "weight decay helps" hold. A control far worse than every positive weight decay changes
    nothing: the gate looks at the positive weight decays only, whose best the claims locate."""
    for sigma, gap in ((1e-4, 0.0), (3e-3, 0.0), (1e-4, CONTROL_GAP)):
        c = claims_of(wd_results(schedule_shape=flat, l2_shape=flat, product_shape=flat,
                                 config_sigma=sigma, control_gap=gap))
        for claim in (c["axis"], c["diagonal"], c["product"]):
            assert claim.verdict == "inconclusive"
            assert "weight decay changes the selection metric beyond seed noise at 0 of 3 lrs" \
                in claim.why
        if gap == 0.0:
            assert c["helps"].verdict != "holds"


def test_the_product_claim_needs_grids_spaced_alike():
    c = claims_of(wd_results(product_wds=[1e-3, 1e-1, 10.0]))
    assert c["product"].verdict == "not measurable"
    assert "not spaced alike" in c["product"].measured
    assert same_log_spacing([1e-4, 3.16e-4, 1e-3], [1e-2, 3.16e-2, 0.1])
    assert not same_log_spacing([1e-4, 1e-3], [1e-2, 3.16e-2])


def test_as_good_as_present_absent_and_within_noise():
    c = claims_of(wd_results())  # identical best losses
    assert c["loss"].verdict == "holds" and c["loss"].value == pytest.approx(1.0, abs=0.01)
    # AdamW's best loss 0.1 against Adam-L2's 0.07 on every seed: far outside the 1% margin,
    # and its error rate 43% higher
    c = claims_of(wd_results(l2_offset=-0.03))
    assert c["loss"].verdict == "fails" and c["accuracy"].verdict == "fails"
    # AdamW 1% worse on average, seed noise far larger than the margin: inconclusive
    c = claims_of(wd_results(l2_offset=-0.001, config_sigma=0.01))
    assert c["loss"].verdict == "inconclusive" and "straddles the margin" in c["loss"].why


def test_decay_helps_present_absent_and_reversed():
    assert claims_of(wd_results())["helps"].verdict == "holds"
    # the control as good as each best: inside seed noise, never "holds"
    helps = claims_of(wd_results(control_gap=0.0, config_sigma=0.01))["helps"]
    assert helps.verdict == "inconclusive"
    # the control better than every variant: fails
    helps = claims_of(wd_results(control_gap=-0.05))["helps"]
    assert helps.verdict == "fails"
    helps = claims_of(wd_results(control=False))["helps"]
    assert helps.verdict == "not measurable"


def test_fewer_than_three_seeds_is_inconclusive():
    c = claims_of(wd_results(seeds=(0, 1)))
    for claim in (c["axis"], c["diagonal"], c["product"]):
        assert claim.verdict == "inconclusive" and "2 seeds (< 3)" in claim.why
    assert c["loss"].verdict == "inconclusive"  # t = 12.7 at 2 seeds: the interval straddles 1.01


def test_a_best_weight_decay_at_an_open_edge_is_inconclusive():
    # schedule-scaled AdamW's grid stops at its best, 0.1: nothing larger was tried
    c = claims_of(wd_results(schedule_wds=[1e-3, 1e-2, 1e-1]))
    assert c["axis"].verdict == "inconclusive"
    assert "weight_decay=0.1 is the top of the grid" in c["axis"].why
    # "as good as" holds: an unbracketed AdamW could only do better
    assert c["loss"].verdict == "holds"
    # Adam-L2's grid stops at its best (wd=1e-4 at lr=1e-3): a better-tuned Adam-L2 could beat
    # AdamW
    c = claims_of(wd_results(l2_wds=[1e-4, 1e-3, 1e-2]))
    assert c["diagonal"].verdict == "inconclusive" and c["loss"].verdict == "inconclusive"
    assert "lead is an upper bound" in c["loss"].why
    # the smallest positive weight decay is an open edge although wd = 0 was run below it
    c = claims_of(wd_results(schedule_wds=[1e-1, 1.0, 10.0]))
    assert c["axis"].verdict == "inconclusive"
    assert "weight_decay=0.1 is the bottom of the grid" in c["axis"].why


def test_missing_variants_are_not_measurable():
    only_adamw = results_of([
        record("mnist_mlp", "adamw", {"lr": 1e-3, "weight_decay": 0.1}, 0, {3000: {"test_loss": 0.1}})
    ])
    assert [c.verdict for c in weight_decay.claims(only_adamw)] == ["not measurable"] * 6
