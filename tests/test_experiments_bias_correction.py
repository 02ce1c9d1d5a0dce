"""Bias-correction claims on hand-built results whose answers are known: each claim with the
effect present (holds) and absent (must not hold)."""

from __future__ import annotations

import math

import pytest
from experiments_testing import record, results_of

from adamlab.experiments import bias_correction
from adamlab.experiments.bias_correction import first_step_factor

#: wide enough that every best lr (corrected 1e-2, uncorrected down to 1e-4) is inside the grid
LRS = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
SEEDS = (0, 1, 2)
#: per-seed multiplicative wobble, shared by every config of a seed (the seeds are paired)
WOBBLE = {0: 0.99, 1: 1.0, 2: 1.01}
BETAS = [(0.0, 0.99), (0.0, 0.9999), (0.9, 0.99), (0.9, 0.9999)]
BEST_LR = 1e-2  # where the loss bowl of an effective step size bottoms out


def bowl(lr: float) -> float:
    return 0.1 + (math.log10(lr) - math.log10(BEST_LR)) ** 2


#: the warmup arm's lr grid: wide enough for a best lr that falls two decades
WARM_LRS = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
#: the last step: past the horizon 3/(1-beta2) = 30,000 of beta2 = 0.9999
LAST = 30_000


def bias_results(*, corrected_first_step: float = 1.0, uncorrected_like_corrected: bool = False,
                 corrected_loss_factor_at_high_beta2: float = 1.0, with_uncorrected: bool = True,
                 seeds=SEEDS, last: int = LAST, late_penalty: float = 1.2,
                 warmup: str | None = "works"):
    """Uncorrected Adam behaves like corrected Adam at lr x (1-beta1)/sqrt(1-beta2) (the theory),
    diverging at step 50 when that exceeds 2, and ends `late_penalty` x worse where that factor
    exceeds 1 (the early transient's damage lasts); corrected Adam's loss ignores beta2.
    The warmup arm (uncorrected, warmup_steps ~ 1/(1-beta2)) behaves like corrected Adam
    (`warmup="works"`), or like uncorrected Adam at lr x factor^2 (`"fails"`: its best lr
    falls two decades), or is absent (None)."""
    records = []
    for beta1, beta2 in BETAS:
        factor = first_step_factor(beta1, beta2)
        for lr in LRS:
            for seed in seeds:
                hp = {"lr": lr, "beta1": beta1, "beta2": beta2}
                scale = corrected_loss_factor_at_high_beta2 if beta2 == 0.9999 else 1.0
                scale *= WOBBLE[seed]
                records.append(record("quadratic", "adam", {**hp, "bias_correction": True}, seed, {
                    1: {"opt.effective_step": corrected_first_step},
                    100: {"loss": scale * bowl(lr)},
                    last: {"loss": scale * bowl(lr) / 2},
                }))
                if not with_uncorrected:
                    continue
                effective = lr if uncorrected_like_corrected else lr * factor
                penalty = late_penalty if factor > 1 and not uncorrected_like_corrected else 1.0
                log = {1: {"opt.effective_step": factor}}
                status = "finished"
                if effective > 2.0:
                    log[50] = {"train_loss": math.nan}
                    status = "diverged"
                else:
                    log[100] = {"loss": WOBBLE[seed] * bowl(effective)}
                    log[last] = {"loss": penalty * WOBBLE[seed] * bowl(effective) / 2}
                records.append(record("quadratic", "adam", {**hp, "bias_correction": False}, seed,
                                      log, variant="adam-nobc", status=status))
        if warmup is None:
            continue
        for lr in WARM_LRS:
            for seed in seeds:
                effective = lr if warmup == "works" else lr * factor**2
                hp = {"lr": lr, "beta1": beta1, "beta2": beta2, "bias_correction": False,
                      "warmup_steps": round(1 / (1 - beta2))}
                log = {1: {"opt.effective_step": factor}, 100: {"loss": 10.0},
                       last: {"loss": WOBBLE[seed] * bowl(effective) / 2}}
                records.append(record("quadratic", "adam", hp, seed, log,
                                      variant="adam-nobc-warmup"))
    return results_of(records, sweep="bias_correction")


def by_text(claims):
    return {c.claim.split(" (")[0] if c.claim.startswith("first") else c.claim: c for c in claims}


def test_first_step_factor_is_the_uncorrected_first_update_over_lr():
    assert first_step_factor(0.9, 0.9999) == pytest.approx(10.0)
    assert first_step_factor(0.0, 0.9999) == pytest.approx(100.0)
    assert first_step_factor(0.9, 0.99) == pytest.approx(1.0)


def late_best_lr_falls_two_steps(results):
    """The uncorrected arm without warmup, its final loss reshaped so that its best final lr
    falls two grid steps from β2 0.99 to 0.9999 at β1=0.9 (1e-2 -> 1e-4): the contrast the
    warmup claim needs."""
    trials = results.trials
    plain = trials[~trials["hp.bias_correction"].astype(bool) & (trials["hp.warmup_steps"] == 0)]
    metrics = results.metrics
    for _, trial in plain[plain["hp.beta1"] == 0.9].iterrows():
        factor = first_step_factor(trial["hp.beta1"], trial["hp.beta2"])
        at = (metrics["trial_id"] == trial["trial_id"]) & (metrics["step"] == LAST) & (
            metrics["metric"] == "loss")
        metrics.loc[at, "value"] = 1.2 * WOBBLE[int(trial["seed"])] * bowl(
            trial["hp.lr"] * factor**2) / 2
    return results


def test_every_claim_holds_when_the_results_follow_the_theory():
    claims = bias_correction.claims(late_best_lr_falls_two_steps(bias_results()))
    assert len(claims) == 8
    assert all(c.scope == "quadratic" for c in claims)
    assert [c.verdict for c in claims] == ["holds"] * 8, [c.measured for c in claims]
    assert [c.kind for c in claims] == ["implementation check"] * 2 + ["claim"] * 6
    uncorrected, corrected, stable, shift, early, late, best, warm = claims
    assert "plausible bests" in stable.measured and "lr matters at 4 of 4" in stable.measured
    assert uncorrected.value == pytest.approx(10.0)  # the headline pair beta1=0.9, beta2=0.9999
    assert "10.0× lr at β1=0.9, β2=0.9999 (expected 10.0×)" in uncorrected.measured
    assert corrected.value == pytest.approx(1.0)
    assert stable.value == pytest.approx(1.0)  # the best loss is the same for every beta2
    # best uncorrected lr: 1e-2 / factor -> 1e-3 (beta2 0.99) -> 1e-4 (0.9999) at beta1=0
    assert shift.value == 1 and "0.001 → 0.0001 (÷10)" in shift.measured
    # beta2=0.9999, lr >= 1e-2: uncorrected runs at 10x (beta1=0.9) or 100x (beta1=0) the lr;
    # the closest call is beta1=0.9 at lr 0.1 (effective 1.0 against corrected 0.1)
    assert early.value == pytest.approx(bowl(1.0) / bowl(0.1))  # beta1=0.9 at lr 0.1
    assert "β2=0.9999" in early.claim and "early, step 100" in early.claim
    assert "uncorrected only at 1, corrected only at 0" in early.measured
    assert "β2=0.9999" in late.claim and "late, step 30000 ≥ 3/(1−β2) = 30,000" in late.claim
    assert "β2=0.9999" in best.claim
    assert "β2=0.99: 100, β2=0.9999: 10,000" in warm.measured
    assert warm.value == 0 and "without warmup, final: moves 2 grid steps" in warm.measured


def test_the_warmup_claim_cannot_hold_when_the_arm_without_warmup_passes_it_too():
    # without warmup the best final lr also moves only 1 grid step: the claim does not tell
    # warmup apart (the negative control of the warmup claim)
    claims = bias_correction.claims(bias_results())
    warm = claims[7]
    assert warm.verdict == "inconclusive" and "does not tell warmup apart" in warm.why
    # each at its best lr, uncorrected ends 1.2x worse (the lasting damage of the transient)
    assert claims[6].verdict == "holds" and "1.20×" in claims[6].measured


def test_late_is_judged_at_the_largest_beta2_past_its_horizon():
    assert bias_correction.horizon(0.999) == pytest.approx(3000)
    assert bias_correction.past_horizon([0.99, 0.999, 0.9999], 3000) == 0.999
    assert bias_correction.past_horizon([0.99, 0.999, 0.9999], 2999) == 0.99
    assert bias_correction.past_horizon([0.999, 0.9999], 1000) is None
    claims = bias_correction.claims(bias_results(last=1000))
    late = claims[5]
    # 1,000 steps reach only beta2=0.99's horizon (300): there beta1=0.9 has no extra step
    # (factor 1), so "worse" cannot hold
    assert "β2=0.99:" in late.claim and late.verdict != "holds"
    claims = bias_correction.claims(bias_results(last=200))
    assert claims[5].verdict == "not measurable" and claims[6].verdict == "not measurable"
    assert "short of 3/(1−β2) for every β2" in claims[5].measured


def test_best_against_best_present_absent_and_reversed():
    assert bias_correction.claims(bias_results())[6].verdict == "holds"
    # tuned, the uncorrected run is exactly as good: not worse by the 1% minimum effect
    assert bias_correction.claims(bias_results(late_penalty=1.0))[6].verdict == "fails"
    # 0.5% worse on every seed: beyond "no difference", short of the minimum effect
    assert bias_correction.claims(bias_results(late_penalty=1.005))[6].verdict == "fails"
    best = bias_correction.claims(bias_results(late_penalty=0.9))[6]
    assert best.verdict == "fails" and "0.900×" in best.measured


def test_warmup_that_does_not_restore_a_fixed_best_lr_fails():
    warm = bias_correction.claims(bias_results(warmup="fails"))[7]
    assert warm.verdict == "fails" and warm.value == 2
    warm = bias_correction.claims(bias_results(warmup=None))[7]
    assert warm.verdict == "not measurable" and "warmup arm" in warm.measured


def test_a_wrong_first_step_fails_its_claim():
    claims = bias_correction.claims(bias_results(corrected_first_step=2.0))
    assert claims[1].verdict == "fails" and claims[1].kind == "implementation check"
    assert "2.00× lr" in claims[1].measured and "largest deviation over 4 (β1, β2) pairs: 100.0%" in claims[1].measured
    assert claims[0].verdict == "holds"


def test_corrected_adam_that_depends_on_beta2_fails_the_stability_claim():
    claims = bias_correction.claims(bias_results(corrected_loss_factor_at_high_beta2=2.0))
    assert claims[2].verdict == "fails"
    assert claims[2].value == pytest.approx(2.0)


def test_uncorrected_adam_that_behaves_like_corrected_does_not_hold_the_shift_and_worse_claims():
    claims = bias_correction.claims(bias_results(uncorrected_like_corrected=True))
    shift, early, late = claims[3:6]
    assert shift.verdict == "fails" and shift.value == 0
    # no difference at all on any seed: not worse by the 1% minimum effect
    assert early.verdict == "fails" and early.value == pytest.approx(1.0)
    assert late.verdict == "fails"


def test_uncorrected_adam_better_than_corrected_fails_the_worse_claims():
    # uncorrected at lr x factor, but its loss scaled down: 0.9x corrected's at every lr
    records = bias_results(uncorrected_like_corrected=True)
    metrics = records.metrics
    nobc = set(records.trials.loc[~records.trials["hp.bias_correction"].astype(bool), "trial_id"])
    better = metrics["trial_id"].isin(nobc) & (metrics["metric"] == "loss")
    metrics.loc[better, "value"] *= 0.9
    early, late, best = bias_correction.claims(records)[4:7]
    assert early.verdict == "fails" and late.verdict == "fails" and best.verdict == "fails"


def test_two_seeds_make_the_method_claims_inconclusive_not_the_checks():
    claims = bias_correction.claims(bias_results(seeds=(0, 1)))
    assert [c.verdict for c in claims] == ["holds"] * 2 + ["inconclusive"] * 6
    assert all("2 seeds (< 3)" in c.why for c in claims[2:]), claims


def test_without_uncorrected_trials_those_claims_are_unmeasured_not_failed():
    claims = bias_correction.claims(bias_results(with_uncorrected=False, warmup=None))
    statuses = [c.verdict for c in claims]
    assert statuses == ["not measurable", "holds", "holds"] + ["not measurable"] * 5
    assert claims[0].measured.startswith("not measurable: ")


def test_results_without_adam_are_one_unmeasured_claim():
    results = results_of([record("quadratic", "sgd", {"lr": 0.1}, 0, {1: {"loss": 1.0}})])
    (claim,) = bias_correction.claims(results)
    assert claim.verdict == "not measurable" and "bias_correction" in claim.measured


def test_without_an_evaluation_after_step_1_the_loss_claims_are_unmeasured():
    records = [
        record("quadratic", "adam", {"lr": lr, "bias_correction": bc}, 0,
               {1: {"opt.effective_step": 1.0 if bc else first_step_factor(0.9, 0.999), "loss": 1.0}})
        for lr in LRS for bc in (True, False)
    ]
    claims = bias_correction.claims(results_of(records))
    assert [c.verdict for c in claims] == ["holds", "holds"] + ["not measurable"] * 6
    assert all("loss was not logged after step 1" in c.measured for c in claims[2:])
