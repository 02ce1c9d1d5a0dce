"""Adam with and without bias correction (after Kingma & Ba 2014, section 6.4).

m and v start at zero, so without correction the first update is
lr * (1 - beta1) g / sqrt((1 - beta2) g^2) = lr * (1 - beta1) / sqrt(1 - beta2) per coordinate
(10x lr at beta1 = 0.9, beta2 = 0.9999; 100x at beta1 = 0), and v keeps underestimating E[g^2]
for ~1/(1 - beta2) steps: uncorrected Adam runs with a larger, decaying effective step size that
grows as beta2 -> 1. Corrected Adam's first update is lr * g/|g| (lr per coordinate) whatever the
betas. The claims, per task (loss = test_loss on mnist_mlp, the exact objective on quadratic;
early = the first evaluation after step 1, late = the last step, see 6):

1. the first step without correction is (1 - beta1)/sqrt(1 - beta2) x lr (opt.effective_step at
   step 1), and 2. with correction it is 1 x lr, both within 5% for every (beta1, beta2): these
   two are implementation checks (deterministic identities), not claims about the method;
3. corrected Adam is stable across beta2: its best lr moves <= 1 grid step and its best early
   loss by <= 1.25x from beta2's smallest to largest value (for each beta1);
4. without correction the best early lr falls by >= 1 grid step from the smallest beta2 to the
   largest (the extra early step size is lr's to give back);
5. and 6. without correction, at a large beta2, every lr from corrected Adam's best upwards
   trains worse than corrected Adam at the same lr and beta1 (or diverges), early and late:
   for each (beta1, lr) a diverged seed of the uncorrected run counts as worse, else the paired
   per-seed ratio uncorrected/corrected must be > 1 over its whole 95% interval (< 1 over it
   fails; straddling 1 is inconclusive). Early is judged at the largest beta2; late is judged
   after the transient: at the largest beta2 whose horizon 3/(1 - beta2) steps (v's
   initialisation weighs e^-3 = 5% by then) fits in the run, which the claim names;
7. best against best, late (the same beta2 as 6): each variant at its own best lr, for each
   beta1, uncorrected Adam's loss over corrected Adam's is > 1 over the whole paired 95%
   interval (Kingma & Ba's Figure 4: at beta2 near 1 the uncorrected curve lies above the
   corrected one at every step size, its minimum included); < 1 over it fails;
8. warmup instead of correction: uncorrected Adam with a linear lr warmup of about 1/(1 - beta2)
   steps (trials with bias_correction false and warmup_steps > 0) has a best final lr that
   moves <= 1 grid step across beta2, for each beta1, like corrected Adam's (claim 3): the
   warmup keeps the steps small while v is still underestimated, which is what the correction
   does.
3, 4 and 8 are where-is-the-best claims, recomputed on every resample of the seeds (see
`adamlab.experiments.claims`); each best lr is selected on the validation loss where the task
logs one (MNIST), and a best lr at an open edge of the lr grid makes them inconclusive.
Claims 1-6 are the first version's; 6 was judged at the last step of 1,000 whatever beta2 was,
inside the transient at beta2 = 0.9999 (10,000 steps): the horizon rule is a correction of what
"late" means, fixed before the longer runs. 7 and 8 are new.

Corrected and uncorrected runs are told apart by the `bias_correction` hyperparameter, not by
their labels; the warmup arm by `warmup_steps` (claims 3-7 use the trials without warmup and
with the constant schedule).
"""

from __future__ import annotations

import math
import statistics

import pandas as pd

from adamlab.analysis.grid_edges import OPEN, grid_edges
from adamlab.analysis.stats import paired_comparison
from adamlab.experiments.claims import (
    CHECK,
    Claim,
    combine,
    guard,
    interval_text,
    interval_verdict,
    number,
    percent,
    resampled_verdict,
    share_holding,
    times,
    unmeasured,
    verdict_of,
)
from adamlab.experiments.measures import (
    LR,
    best_row,
    config_values,
    first_evaluation_step,
    grid,
    grid_position,
    loss_metric,
    resample,
    seeds_of,
    tasks_in,
    values_at_step,
    where,
)
from adamlab.store.tables import HP_PREFIX, Results

FIRST_STEP_TOLERANCE = 0.05
#: corrected Adam's best early loss may differ by at most this factor across beta2
STABLE_LOSS_SPREAD = 1.25
#: ... and its best lr by at most this many grid steps
STABLE_LR_STEPS = 1
#: the headline (beta1, beta2) of the first-step claim when swept: the paper's 10x
HEADLINE_BETAS = (0.9, 0.9999)

STABLE_TEXT = "corrected Adam is stable across β2"
SHIFT_TEXT = "without correction the best early lr falls as β2 → 1"
WORSE_TEXT = "without correction, {beta2}: worse than corrected at lr ≥ corrected's best ({when})"
BEST_TEXT = "without correction, each at its best lr: worse than corrected (late)"
WARMUP_TEXT = "uncorrected Adam with a warmup of ~1/(1−β2) steps: its best lr does not move with β2"

EFFECTIVE_STEP = "opt.effective_step"
BIAS_CORRECTION = HP_PREFIX + "bias_correction"


def first_step_factor(beta1: float, beta2: float) -> float:
    """The uncorrected first step over lr, for |g| >> eps: (1 - beta1) / sqrt(1 - beta2)."""
    return (1.0 - beta1) / math.sqrt(1.0 - beta2)


def claims(results: Results) -> list[Claim]:
    trials = results.trials
    adam = trials[trials[BIAS_CORRECTION].notna()] if BIAS_CORRECTION in trials else trials.iloc[:0]
    if adam.empty:
        return [unmeasured(
            "", "Adam with and without bias correction", "trials of adam/adamw",
            "no trial has a bias_correction hyperparameter (adam or adamw)",
        )]
    out: list[Claim] = []
    for task in tasks_in(adam):
        out.extend(task_claims(results, adam[adam["task"] == task], task))
    return out


def task_claims(results: Results, trials: pd.DataFrame, task: str) -> list[Claim]:
    plain = trials[_no_schedule(trials)]
    corrected = plain[plain[BIAS_CORRECTION].astype(bool)]
    uncorrected = plain[~plain[BIAS_CORRECTION].astype(bool)]
    warm = trials[~trials[BIAS_CORRECTION].astype(bool) & (_warmup_steps(trials) > 0)]
    metric = loss_metric(results, task)
    early = first_evaluation_step(results, plain, metric)
    out = [
        first_step_claim(results, uncorrected, task, corrected=False),
        first_step_claim(results, corrected, task, corrected=True),
    ]
    if early is None:
        why = f"{metric} was not logged after step 1"
        out += [unmeasured(task, text, "", why) for text in (
            STABLE_TEXT, SHIFT_TEXT, WORSE_TEXT.format(beta2="largest β2", when="early"),
            WORSE_TEXT.format(beta2="β2 past its horizon", when="late"), BEST_TEXT, WARMUP_TEXT,
        )]
        return out
    early_bc = config_values(results, corrected, metric, at_step=early)
    early_nobc = config_values(results, uncorrected, metric, at_step=early)
    out.append(stable_across_beta2_claim(early_bc, task, metric, early))
    out.append(best_lr_shift_claim(early_nobc, task, metric, early))
    betas2 = grid(plain[HP_PREFIX + "beta2"])
    out.append(worse_at_large_lr_claim(early_bc, early_nobc, task, metric, betas2[-1],
                                       f"early, step {early}"))
    late_bc = config_values(results, corrected, metric)
    late_nobc = config_values(results, uncorrected, metric)
    last = int(plain["steps"].max())
    late_beta2 = past_horizon(betas2, last)
    if late_beta2 is None:
        why = (f"the run's {last} steps are short of 3/(1−β2) for every β2 "
               f"({', '.join(f'{b:g}' for b in betas2)})")
        out.append(unmeasured(task, WORSE_TEXT.format(beta2="β2 past its horizon", when="late"),
                              "", why))
        out.append(unmeasured(task, BEST_TEXT, "", why))
    else:
        when = f"late, step {last} ≥ 3/(1−β2) = {horizon(late_beta2):,.0f}"
        out.append(worse_at_large_lr_claim(late_bc, late_nobc, task, metric, late_beta2, when))
        out.append(best_against_best_claim(late_bc, late_nobc, task, metric, late_beta2, when))
    out.append(warmup_claim(config_values(results, warm, metric), late_nobc, task, metric))
    return out


def horizon(beta2: float) -> float:
    """Steps after which v's zero initialisation weighs beta2^t ~ e^-3 (5%): 3 / (1 - beta2)."""
    return 3.0 / (1.0 - beta2)


def past_horizon(betas2: list[float], steps: int) -> float | None:
    """The largest beta2 whose horizon fits in `steps`, or None."""
    fitting = [b for b in betas2 if horizon(b) <= steps * (1 + 1e-9)]  # 3/(1-0.999) rounds up
    return max(fitting) if fitting else None


def _warmup_steps(trials: pd.DataFrame) -> pd.Series:
    column = HP_PREFIX + "warmup_steps"
    if column not in trials:
        return pd.Series(0, index=trials.index)
    return trials[column].fillna(0).astype(int)


def _no_schedule(trials: pd.DataFrame) -> pd.Series:
    """The trials with a constant lr (no schedule, no warmup)."""
    column = HP_PREFIX + "schedule"
    constant = (trials[column].fillna("constant") == "constant") if column in trials else True
    return (_warmup_steps(trials) == 0) & constant


def _beta_pairs(frame: pd.DataFrame) -> list[tuple[float, float]]:
    pairs = frame[[HP_PREFIX + "beta1", HP_PREFIX + "beta2"]].drop_duplicates()
    return sorted((float(b1), float(b2)) for b1, b2 in pairs.itertuples(index=False))


def first_step_claim(results: Results, trials: pd.DataFrame, task: str, *, corrected: bool) -> Claim:
    if corrected:
        text = "first step with correction = 1× lr (m̂/√v̂ = g/|g|)"
        criterion = f"1× for every (β1, β2), ±{100 * FIRST_STEP_TOLERANCE:g}%"
    else:
        text = "first step without correction = (1−β1)/√(1−β2) × lr"
        criterion = f"(1−β1)/√(1−β2) for every (β1, β2), ±{100 * FIRST_STEP_TOLERANCE:g}%"
    if trials.empty:
        return unmeasured(task, text, criterion,
                          f"no {'corrected' if corrected else 'uncorrected'} trial", kind=CHECK)
    steps = values_at_step(results, trials, EFFECTIVE_STEP, 1)
    if steps.isna().all():
        return unmeasured(task, text, criterion, f"{EFFECTIVE_STEP} not logged at step 1",
                          kind=CHECK)
    measured = trials.assign(step1=steps).dropna(subset=["step1"])
    deviations: dict[tuple[float, float], tuple[float, float]] = {}
    for beta1, beta2 in _beta_pairs(measured):
        mean = float(where(measured, beta1=beta1, beta2=beta2)["step1"].mean())
        expected = 1.0 if corrected else first_step_factor(beta1, beta2)
        deviations[(beta1, beta2)] = (mean, expected)
    headline = HEADLINE_BETAS if HEADLINE_BETAS in deviations else max(
        deviations, key=lambda pair: first_step_factor(*pair)
    )
    mean, expected = deviations[headline]
    worst = max(abs(m / e - 1.0) for m, e in deviations.values())
    measured_text = (
        f"{times(mean)} lr at β1={headline[0]:g}, β2={headline[1]:g} (expected {times(expected)}); "
        f"largest deviation over {len(deviations)} (β1, β2) pair{'s' if len(deviations) > 1 else ''}: "
        f"{percent(worst)}"
    )
    return Claim(task, text, measured_text, criterion, verdict_of(worst <= FIRST_STEP_TOLERANCE),
                 mean, kind=CHECK)


def _best_per_beta2(configs: pd.DataFrame, beta1: float) -> dict[float, pd.Series]:
    out = {}
    for beta2 in grid(configs[HP_PREFIX + "beta2"]):
        best = best_row(where(configs, beta1=beta1, beta2=beta2))
        if best is not None and math.isfinite(best["value"]):
            out[beta2] = best
    return out


def _open_lr_edges(configs: pd.DataFrame, bests: list[pd.Series], what: str) -> list[str]:
    """The best lrs (of `what`) at an open edge of the lr grid, in words."""
    out = []
    for best in bests:
        line = where(configs, beta1=best[HP_PREFIX + "beta1"], beta2=best[HP_PREFIX + "beta2"])
        edge = grid_edges(line, best, [LR]).get(LR)
        if edge is not None and edge.flag == OPEN:
            out.append(f"{what} β1={best[HP_PREFIX + 'beta1']:g}, β2={best[HP_PREFIX + 'beta2']:g}: "
                       f"{edge.detail}")
    return out


def _where_claim(task: str, text: str, criterion: str, measured: str, value: float,
                 configs: pd.DataFrame, predicate, edges: list[str]) -> Claim:
    """A where-is-the-best claim: the verdict over the seed resamples, then the guards."""
    seeds = seeds_of(configs)
    share = share_holding(seeds, lambda drawn: predicate(resample(configs, drawn)))
    verdict = resampled_verdict(share)
    measured += f"; holds in {100 * share:.0f}% of seed resamples"
    why = ("" if verdict != "inconclusive"
           else f"holds in {100 * share:.0f}% of seed resamples (needs ≥ 95% to hold, ≤ 5% to fail)")
    claim = Claim(task, text, measured, criterion, verdict, value, why=why)
    return guard(claim, n_seeds=len(seeds), unbracketed_any=edges)


def _stability(configs: pd.DataFrame) -> tuple[int, float, list[str]] | None:
    """(largest lr move in grid steps, largest best-loss spread, per-β1 text) across β2, or
    None when some β1 has fewer than 2 stable β2 values."""
    lrs = grid(configs[LR])
    parts, worst_steps, worst_spread = [], 0, 1.0
    for beta1 in grid(configs[HP_PREFIX + "beta1"]):
        best = _best_per_beta2(configs, beta1)
        if len(best) < 2:
            return None
        positions = [grid_position(row[LR], lrs) for row in best.values()]
        values = [float(row["value"]) for row in best.values()]
        moved, spread = max(positions) - min(positions), max(values) / min(values)
        worst_steps, worst_spread = max(worst_steps, moved), max(worst_spread, spread)
        parts.append(f"β1={beta1:g}: lr moves {moved}, {{metric}} {times(spread)}")
    return worst_steps, worst_spread, parts


def stable_across_beta2_claim(configs: pd.DataFrame, task: str, metric: str, step: int) -> Claim:
    text = STABLE_TEXT
    criterion = (
        f"best lr moves ≤ {STABLE_LR_STEPS} grid step and best {metric} ≤ "
        f"{STABLE_LOSS_SPREAD:g}× across β2, for each β1, in ≥ 95% of seed resamples"
    )
    if configs.empty:
        return unmeasured(task, text, criterion, "no corrected trial")
    found = _stability(configs)
    if found is None:
        return unmeasured(task, text, criterion, "fewer than 2 β2 values trained stably at some β1")
    worst_steps, worst_spread, parts = found

    def holds(sample: pd.DataFrame) -> bool | None:
        got = _stability(sample)
        return None if got is None else got[0] <= STABLE_LR_STEPS and got[1] <= STABLE_LOSS_SPREAD

    betas2 = ", ".join(f"{b:g}" for b in grid(configs[HP_PREFIX + "beta2"]))
    measured = (f"at step {step}, best over lr per β2 ∈ {{{betas2}}}: "
                + "; ".join(p.format(metric=metric) for p in parts))
    bests = [row for beta1 in grid(configs[HP_PREFIX + "beta1"])
             for row in _best_per_beta2(configs, beta1).values()]
    return _where_claim(task, text, criterion, measured, worst_spread, configs, holds,
                        _open_lr_edges(configs, bests, "corrected"))


def _lr_shifts(configs: pd.DataFrame, low: float, high: float) -> tuple[list[int], list[str]] | None:
    lrs = grid(configs[LR])
    shifts, parts = [], []
    for beta1 in grid(configs[HP_PREFIX + "beta1"]):
        best = _best_per_beta2(configs, beta1)
        if low not in best or high not in best:
            return None
        lr_low, lr_high = float(best[low][LR]), float(best[high][LR])
        shifts.append(grid_position(lr_low, lrs) - grid_position(lr_high, lrs))
        parts.append(f"β1={beta1:g}: {lr_low:.3g} → {lr_high:.3g} (÷{lr_low / lr_high:.3g})")
    return shifts, parts


def best_lr_shift_claim(configs: pd.DataFrame, task: str, metric: str, step: int) -> Claim:
    text = SHIFT_TEXT
    if configs.empty:
        return unmeasured(task, text, "≥ 1 grid step lower", "no uncorrected trial")
    betas2 = grid(configs[HP_PREFIX + "beta2"])
    low, high = betas2[0], betas2[-1]
    criterion = (f"best lr at β2={high:g} ≥ 1 grid step below β2={low:g}, for each β1, in ≥ 95% "
                 "of seed resamples")
    if len(betas2) < 2:
        return unmeasured(task, text, criterion, "only one β2 value")
    found = _lr_shifts(configs, low, high)
    if found is None:
        return unmeasured(task, text, criterion, f"no stable config at some β1 for β2={low:g} or {high:g}")
    shifts, parts = found

    def holds(sample: pd.DataFrame) -> bool | None:
        got = _lr_shifts(sample, low, high)
        return None if got is None else min(got[0]) >= 1

    measured = f"best lr at step {step}, β2={low:g} → {high:g}: " + "; ".join(parts)
    bests = [row for beta1 in grid(configs[HP_PREFIX + "beta1"])
             for beta2, row in _best_per_beta2(configs, beta1).items() if beta2 in (low, high)]
    return _where_claim(task, text, criterion, measured, float(min(shifts)), configs, holds,
                        _open_lr_edges(configs, bests, "uncorrected"))


def worse_at_large_lr_claim(
    corrected: pd.DataFrame, uncorrected: pd.DataFrame, task: str, metric: str, high: float,
    when: str,
) -> Claim:
    text = WORSE_TEXT.format(beta2=f"β2={high:g}", when=when)
    criterion = (f"{metric} ratio uncorrected/corrected > 1 (whole paired 95% interval) or "
                 "diverged, at every such lr and β1")
    if corrected.empty or uncorrected.empty:
        return unmeasured(task, text, criterion, "needs both corrected and uncorrected trials")
    verdicts, estimates, seeds, noisy = [], [], [], []
    diverged = 0
    for beta1 in grid(corrected[HP_PREFIX + "beta1"]):
        bc = where(corrected, beta1=beta1, beta2=high)
        best = best_row(bc)
        if best is None or not math.isfinite(best["value"]):
            continue
        for _, row in bc[bc[LR] >= best[LR]].iterrows():
            match = where(uncorrected, beta1=beta1, beta2=high, lr=row[LR])
            if match.empty or not math.isfinite(row["value"]):
                continue
            other = match.iloc[0]
            if not math.isfinite(other["value"]):  # the uncorrected run diverged: worse
                verdicts.append("holds")
                estimates.append(math.inf)
                diverged += 1
                continue
            comparison = paired_comparison(other["seed_values"], row["seed_values"], scale="ratio")
            if comparison is None:
                continue
            verdicts.append(interval_verdict(comparison.low, comparison.high, 1.0, above=True))
            if verdicts[-1] != "holds":
                noisy.append(f"β1={beta1:g}, lr={row[LR]:.3g}: {times(comparison.estimate)} "
                             f"[{times(comparison.low)}, {times(comparison.high)}]")
            estimates.append(comparison.estimate)
            seeds.append(comparison.n)
    if not verdicts:
        return unmeasured(
            task, text, criterion,
            f"no lr at β2={high:g} where corrected Adam trained stably and uncorrected Adam ran too",
        )
    verdict = combine(verdicts)
    measured = (
        f"β2={high:g}, {len(verdicts)} (β1, lr): min {times(min(estimates))}, median "
        f"{times(statistics.median(estimates))}; {diverged} of {len(verdicts)} diverged; "
        f"{verdicts.count('holds') - diverged} worse, {verdicts.count('fails')} better, "
        f"{verdicts.count('inconclusive')} inside seed noise (paired 95% intervals)"
        + (f"; not worse: {'; '.join(noisy)}" if noisy else "")
    )
    why = ("some (β1, lr) intervals straddle 1" if verdict == "inconclusive" else "")
    claim = Claim(task, text, measured, criterion, verdict, min(estimates), why=why)
    return guard(claim, n_seeds=min(seeds) if seeds else len(seeds_of(corrected)))


def best_against_best_claim(
    corrected: pd.DataFrame, uncorrected: pd.DataFrame, task: str, metric: str, beta2: float,
    when: str,
) -> Claim:
    text = BEST_TEXT.replace("(late)", f"(β2={beta2:g}, {when})")
    criterion = (f"{metric} of uncorrected's best ÷ corrected's best > 1 (whole paired 95% "
                 "interval; a diverged best counts as worse), for each β1")
    if corrected.empty or uncorrected.empty:
        return unmeasured(task, text, criterion, "needs both corrected and uncorrected trials")
    verdicts, parts, seeds = [], [], []
    against, favoured = [], []
    for beta1 in grid(corrected[HP_PREFIX + "beta1"]):
        bc_line = where(corrected, beta1=beta1, beta2=beta2)
        nobc_line = where(uncorrected, beta1=beta1, beta2=beta2)
        bc, nobc = best_row(bc_line), best_row(nobc_line)
        if bc is None or not math.isfinite(bc["value"]):
            continue
        if nobc is None or not math.isfinite(nobc["value"]):
            verdicts.append("holds")
            parts.append(f"β1={beta1:g}: every uncorrected lr unstable")
            continue
        comparison = paired_comparison(nobc["seed_values"], bc["seed_values"], scale="ratio")
        if comparison is None:
            continue
        verdicts.append(interval_verdict(comparison.low, comparison.high, 1.0, above=True))
        seeds.append(comparison.n)
        parts.append(
            f"β1={beta1:g}: uncorrected (lr={nobc[LR]:.3g}) {number(nobc['value'], 4)}, corrected "
            f"(lr={bc[LR]:.3g}) {number(bc['value'], 4)}: {times(comparison.estimate)}"
            f"{interval_text(comparison.low, comparison.high)}"
        )
        against += _unbracketed_lr(nobc_line, nobc, "uncorrected")
        favoured += _unbracketed_lr(bc_line, bc, "corrected")
    if not verdicts:
        return unmeasured(task, text, criterion, f"no β1 with stable corrected and uncorrected "
                                                 f"trials at β2={beta2:g}")
    verdict = combine(verdicts)
    claim = Claim(task, text, "; ".join(parts) + " (paired 95% intervals)", criterion, verdict,
                  math.nan, why="an interval straddles 1" if verdict == "inconclusive" else "")
    return guard(claim, n_seeds=min(seeds) if seeds else len(seeds_of(corrected)),
                 unbracketed_against=against, unbracketed_for=favoured)


def _unbracketed_lr(line: pd.DataFrame, best: pd.Series, what: str) -> list[str]:
    edge = grid_edges(line, best, [LR]).get(LR)
    return [f"{what} β1={best[HP_PREFIX + 'beta1']:g}: {edge.detail}"] if (
        edge is not None and not edge.bracketed) else []


def _warm_lr_moves(configs: pd.DataFrame) -> tuple[int, list[str]] | None:
    """(largest move of the best lr across β2 in grid steps, per-β1 text), or None when some β1
    has fewer than 2 stable β2 values."""
    lrs = grid(configs[LR])
    worst, parts = 0, []
    for beta1 in grid(configs[HP_PREFIX + "beta1"]):
        best = _best_per_beta2(configs, beta1)
        if len(best) < 2:
            return None
        positions = [grid_position(row[LR], lrs) for row in best.values()]
        worst = max(worst, max(positions) - min(positions))
        path = ", ".join(f"{b2:g}→{row[LR]:.3g}" for b2, row in best.items())
        parts.append(f"β1={beta1:g}: {path}")
    return worst, parts


def warmup_claim(warm: pd.DataFrame, plain: pd.DataFrame, task: str, metric: str) -> Claim:
    text = WARMUP_TEXT
    criterion = (f"best final lr of the warmup arm moves ≤ {STABLE_LR_STEPS} grid step across β2, "
                 "for each β1, in ≥ 95% of seed resamples")
    if warm.empty:
        return unmeasured(task, text, criterion,
                          "no uncorrected trial with warmup_steps > 0 (the warmup arm)")
    found = _warm_lr_moves(warm)
    if found is None:
        return unmeasured(task, text, criterion, "fewer than 2 β2 values trained stably at some β1")
    moved, parts = found
    warmups = warm[[HP_PREFIX + "beta2", HP_PREFIX + "warmup_steps"]].drop_duplicates()
    lengths = ", ".join(f"β2={b2:g}: {int(w):,}" for b2, w in
                        sorted(warmups.itertuples(index=False)))
    measured = (f"warmup steps {lengths}; best final lr per β2: " + "; ".join(parts)
                + f"; moves {moved} grid step{'s' if moved != 1 else ''}")
    contrast = _warm_lr_moves(plain) if not plain.empty else None
    if contrast is not None:
        measured += (f" (without warmup, final: moves {contrast[0]} grid step"
                     f"{'s' if contrast[0] != 1 else ''})")

    def holds(sample: pd.DataFrame) -> bool | None:
        got = _warm_lr_moves(sample)
        return None if got is None else got[0] <= STABLE_LR_STEPS

    bests = [row for beta1 in grid(warm[HP_PREFIX + "beta1"])
             for row in _best_per_beta2(warm, beta1).values()]
    return _where_claim(task, text, criterion, measured, float(moved), warm, holds,
                        _open_lr_edges(warm, bests, "warmup"))
