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
3, 4 and 8 are where-is-the-best claims (`adamlab.experiments.claims`): the lr must matter at
every (β1, β2) judged (repeated-measures F-test over the lrs, Holm, 5%), then each (β1, β2)'s
best lr is the set of lrs not shown worse than the observed best (one-sided paired t-tests,
Holm over the claim's contrasts), and the claim holds (fails) when it holds (fails) for every
choice; each best lr is selected on the validation loss where the task logs one (MNIST), and a
best lr at an open edge of the lr grid makes them inconclusive. Claim 3's loss spread is two
one-sided tests per pair of β2 values (inside [1/1.25, 1.25]), Holm across them. Claims 5-7
are comparisons with the project's minimum effect: "worse" means a ratio above 1.01 over the
whole paired 95% interval; their parts (each (β1, lr), each β1) are Holm-adjusted in each
direction; a config with a diverged seed is the worse one in either arm and the measured text
counts both. Claim 8 holds only when the arm without warmup fails the same test at the same
step: a claim that also holds without the treatment does not measure the treatment.
How these criteria came to be what they are is written down in docs/criteria_history.md.

Corrected and uncorrected runs are told apart by the `bias_correction` hyperparameter, not by
their labels; the warmup arm by `warmup_steps` (claims 3-7 use the trials without warmup and
with the constant schedule).

One module of ~600 lines, over the house's ~400, for a reason: its functions are the eight
claims' pre-registered criteria, each hashed by its `module:name` and syntax tree
(adamlab.experiments.criteria); moving one to another module would change the identity of the
criterion every stored results folder was judged by, for no change in what it computes.
"""

from __future__ import annotations

import itertools
import math
import statistics

import pandas as pd

from adamlab.analysis.grid_edges import OPEN, grid_edges
from adamlab.analysis.stats import holm, paired_comparison
from adamlab.experiments.claims import (
    CHECK,
    MIN_EFFECT,
    TAIL,
    Claim,
    Part,
    WhereLevel,
    combine,
    comparison_part,
    guard,
    interval_text,
    number,
    parts_verdict,
    percent,
    sets_text,
    times,
    unmeasured,
    verdict_of,
    where_decision,
)
from adamlab.experiments.measures import (
    LR,
    best_row,
    budget_note,
    config_values,
    first_evaluation_step,
    grid,
    grid_position,
    loss_metric,
    seeds_of,
    tasks_in,
    values_at_step,
    where,
)
from adamlab.experiments.preregistered import SHIFT_TEXT, STABLE_TEXT
from adamlab.store.tables import HP_PREFIX, Results

FIRST_STEP_TOLERANCE = 0.05
#: corrected Adam's best early loss may differ by at most this factor across beta2
STABLE_LOSS_SPREAD = 1.25
#: ... and its best lr by at most this many grid steps
STABLE_LR_STEPS = 1
#: the headline (beta1, beta2) of the first-step claim when swept: the paper's 10x
HEADLINE_BETAS = (0.9, 0.9999)

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


def _lr_levels(configs: pd.DataFrame, pairs: list[tuple[float, float]]) -> list[WhereLevel]:
    """Per (β1, β2) of `pairs` with a stable config: its lrs as candidates of a where-is-the-best
    claim (values: the selection metric per seed)."""
    lrs = grid(configs[LR])
    levels = []
    for beta1, beta2 in pairs:
        line = where(configs, beta1=beta1, beta2=beta2).reset_index(drop=True)
        best = best_row(line)
        if best is None or not math.isfinite(best["value"]):
            continue
        levels.append(WhereLevel(
            label=f"β1={beta1:g}, β2={beta2:g}",
            positions=tuple(grid_position(lr, lrs) for lr in line[LR]),
            seed_values=tuple(line["seed_select"]),
            stable=tuple(bool(n == 0) for n in line["n_diverged"] + line["n_failed"]),
            best=int(line.index[line["config_id"] == best["config_id"]][0]),
        ))
    return levels


def _groups(levels: list[WhereLevel]) -> list[list[int]]:
    """Indices of `levels` per β1 (levels are labelled 'β1=..., β2=...')."""
    by: dict[str, list[int]] = {}
    for i, level in enumerate(levels):
        by.setdefault(level.label.split(",")[0], []).append(i)
    return list(by.values())


def _lr_name(configs: pd.DataFrame):
    lrs = grid(configs[LR])
    return lambda position: f"{lrs[position]:.3g}"


def _decided(task: str, text: str, criterion: str, measured: str, value: float,
             configs: pd.DataFrame, verdict: str, why: str, edges: list[str]) -> Claim:
    claim = Claim(task, text, measured, criterion, verdict, value,
                  why=why if verdict == "inconclusive" else "")
    return guard(claim, n_seeds=len(seeds_of(configs)), unbracketed_any=edges)


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


def _spread_parts(configs: pd.DataFrame) -> list[Part]:
    """For each β1 and each two β2 values: the best losses' paired ratio inside
    [1/STABLE_LOSS_SPREAD, STABLE_LOSS_SPREAD] (both one-sided tests, TOST)."""
    parts = []
    for beta1 in grid(configs[HP_PREFIX + "beta1"]):
        best = _best_per_beta2(configs, beta1)
        for (b_low, low), (b_high, high) in itertools.combinations(best.items(), 2):
            label = f"β1={beta1:g}, β2 {b_low:g} vs {b_high:g}"
            below = comparison_part(label, high["seed_values"], low["seed_values"], scale="ratio",
                                    threshold=STABLE_LOSS_SPREAD, above=False)
            above = comparison_part(label, high["seed_values"], low["seed_values"], scale="ratio",
                                    threshold=1 / STABLE_LOSS_SPREAD, above=True)
            parts += [below, above]
    return parts


def stable_across_beta2_claim(configs: pd.DataFrame, task: str, metric: str, step: int) -> Claim:
    text = STABLE_TEXT
    criterion = (
        f"best lr moves ≤ {STABLE_LR_STEPS} grid step across β2 for every plausible best (95% "
        f"sets; lr must matter at every (β1, β2)), and best {metric} within "
        f"{STABLE_LOSS_SPREAD:g}× across β2 (paired ratios, two one-sided tests, Holm), for each β1"
    )
    if configs.empty:
        return unmeasured(task, text, criterion, "no corrected trial")
    found = _stability(configs)
    if found is None:
        return unmeasured(task, text, criterion, "fewer than 2 β2 values trained stably at some β1")
    worst_steps, worst_spread, parts = found
    levels = _lr_levels(configs, _beta_pairs(configs))
    groups = _groups(levels)

    def holds(path: tuple[int, ...]) -> bool:
        return all(max(path[i] for i in g) - min(path[i] for i in g) <= STABLE_LR_STEPS
                   for g in groups)

    decision = where_decision(levels, holds, what="lr", levels_name="(β1, β2)")
    spread = parts_verdict(_spread_parts(configs))
    verdict = combine([decision.verdict, spread])
    betas2 = ", ".join(f"{b:g}" for b in grid(configs[HP_PREFIX + "beta2"]))
    measured = (f"at step {step}, best over lr per β2 ∈ {{{betas2}}}: "
                + "; ".join(p.format(metric=metric) for p in parts)
                + "; " + sets_text(levels, decision, _lr_name(configs))
                + f"; lr matters at {decision.mattering} of {decision.judged}; spread within "
                  f"{STABLE_LOSS_SPREAD:g}×: {spread}")
    why = decision.why or f"the loss spread across β2 is {spread}"
    bests = [row for beta1 in grid(configs[HP_PREFIX + "beta1"])
             for row in _best_per_beta2(configs, beta1).values()]
    return _decided(task, text, criterion, measured, worst_spread, configs, verdict, why,
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
    criterion = (f"best lr at β2={high:g} ≥ 1 grid step below β2={low:g}, for each β1, for every "
                 "plausible best (95% sets; lr must matter at each of those (β1, β2))")
    if len(betas2) < 2:
        return unmeasured(task, text, criterion, "only one β2 value")
    found = _lr_shifts(configs, low, high)
    if found is None:
        return unmeasured(task, text, criterion, f"no stable config at some β1 for β2={low:g} or {high:g}")
    shifts, parts = found
    beta1s = grid(configs[HP_PREFIX + "beta1"])
    levels = _lr_levels(configs, [(b1, b2) for b1 in beta1s for b2 in (low, high)])
    pairs = [(2 * k, 2 * k + 1) for k in range(len(beta1s))]  # (low, high) per β1

    def holds(path: tuple[int, ...]) -> bool:
        return all(path[i] - path[j] >= 1 for i, j in pairs)

    decision = where_decision(levels, holds, what="lr", levels_name="(β1, β2)")
    measured = (f"best lr at step {step}, β2={low:g} → {high:g}: " + "; ".join(parts) + "; "
                + sets_text(levels, decision, _lr_name(configs))
                + f"; lr matters at {decision.mattering} of {decision.judged}")
    bests = [row for beta1 in beta1s
             for beta2, row in _best_per_beta2(configs, beta1).items() if beta2 in (low, high)]
    return _decided(task, text, criterion, measured, float(min(shifts)), configs,
                    decision.verdict, decision.why,
                    _open_lr_edges(configs, bests, "uncorrected"))


def worse_at_large_lr_claim(
    corrected: pd.DataFrame, uncorrected: pd.DataFrame, task: str, metric: str, high: float,
    when: str,
) -> Claim:
    text = WORSE_TEXT.format(beta2=f"β2={high:g}", when=when)
    criterion = (f"{metric} ratio uncorrected/corrected > {1 + MIN_EFFECT:g} (whole paired 95% "
                 "interval; a config with a diverged seed is worse than one without, in either "
                 "arm), at every such lr and β1 (Holm over them)")
    if corrected.empty or uncorrected.empty:
        return unmeasured(task, text, criterion, "needs both corrected and uncorrected trials")
    parts: list[Part] = []
    estimates, seeds, noisy = [], [], []
    diverged = {"uncorrected": 0, "corrected": 0, "both": 0}
    for beta1 in grid(corrected[HP_PREFIX + "beta1"]):
        bc = where(corrected, beta1=beta1, beta2=high)
        best = best_row(bc)
        if best is None or not math.isfinite(best["value"]):
            continue
        for _, row in bc[bc[LR] >= best[LR]].iterrows():
            match = where(uncorrected, beta1=beta1, beta2=high, lr=row[LR])
            if match.empty:
                continue
            other = match.iloc[0]
            label = f"β1={beta1:g}, lr={row[LR]:.3g}"
            mine_ok, theirs_ok = math.isfinite(other["value"]), math.isfinite(row["value"])
            if not mine_ok and not theirs_ok:
                diverged["both"] += 1
                continue
            if not mine_ok:
                parts.append(Part(label, 0.0, 1.0))
                estimates.append(math.inf)
                diverged["uncorrected"] += 1
                continue
            if not theirs_ok:
                parts.append(Part(label, 1.0, 0.0))
                estimates.append(0.0)
                diverged["corrected"] += 1
                continue
            comparison = paired_comparison(other["seed_values"], row["seed_values"], scale="ratio")
            if comparison is None:
                continue
            parts.append(comparison_part(label, other["seed_values"], row["seed_values"],
                                         scale="ratio", threshold=1 + MIN_EFFECT, above=True))
            if parts[-1].p_holds >= TAIL:
                noisy.append(f"{label}: {times(comparison.estimate)} "
                             f"[{times(comparison.low)}, {times(comparison.high)}]")
            estimates.append(comparison.estimate)
            seeds.append(comparison.n)
    if not parts:
        return unmeasured(
            task, text, criterion,
            f"no lr at β2={high:g} where either arm trained stably and both ran",
        )
    verdict = parts_verdict(parts)
    adjusted_holds = holm([part.p_holds for part in parts])
    adjusted_fails = holm([part.p_fails for part in parts])
    worse = sum(p < TAIL for p in adjusted_holds)
    better = sum(p < TAIL for p in adjusted_fails)
    measured = (
        f"β2={high:g}, {len(parts)} (β1, lr): min {times(min(estimates))}, median "
        f"{times(statistics.median(estimates))}; diverged: uncorrected only at "
        f"{diverged['uncorrected']}, corrected only at {diverged['corrected']} (counted worse "
        f"there), both at {diverged['both']} (left out); {worse} worse by > "
        f"{100 * MIN_EFFECT:g}%, {better} not, {len(parts) - worse - better} undecided (paired "
        "95% intervals, Holm)"
        + (f"; undecided or not worse: {'; '.join(noisy)}" if noisy else "")
    )
    why = ("some (β1, lr) are undecided after Holm" if verdict == "inconclusive" else "")
    claim = Claim(task, text, measured, criterion, verdict, min(estimates), why=why)
    return guard(claim, n_seeds=min(seeds) if seeds else len(seeds_of(corrected)))


def best_against_best_claim(
    corrected: pd.DataFrame, uncorrected: pd.DataFrame, task: str, metric: str, beta2: float,
    when: str,
) -> Claim:
    text = BEST_TEXT.replace("(late)", f"(β2={beta2:g}, {when})")
    criterion = (f"{metric} of uncorrected's best ÷ corrected's best > {1 + MIN_EFFECT:g} (whole "
                 "paired 95% interval; an arm whose every lr has a diverged seed is the worse "
                 "one), for each β1 (Holm over them)")
    if corrected.empty or uncorrected.empty:
        return unmeasured(task, text, criterion, "needs both corrected and uncorrected trials")
    parts: list[Part] = []
    texts, seeds = [], []
    against, favoured = [], []
    budgets = ""
    for beta1 in grid(corrected[HP_PREFIX + "beta1"]):
        bc_line = where(corrected, beta1=beta1, beta2=beta2)
        nobc_line = where(uncorrected, beta1=beta1, beta2=beta2)
        bc, nobc = best_row(bc_line), best_row(nobc_line)
        bc_ok = bc is not None and math.isfinite(bc["value"])
        nobc_ok = nobc is not None and math.isfinite(nobc["value"])
        label = f"β1={beta1:g}"
        if not bc_ok and not nobc_ok:
            texts.append(f"{label}: every lr unstable in both arms (left out)")
            continue
        if not nobc_ok:
            parts.append(Part(label, 0.0, 1.0))
            texts.append(f"{label}: every uncorrected lr unstable")
            continue
        if not bc_ok:
            parts.append(Part(label, 1.0, 0.0))
            texts.append(f"{label}: every corrected lr unstable")
            continue
        comparison = paired_comparison(nobc["seed_values"], bc["seed_values"], scale="ratio")
        if comparison is None:
            continue
        parts.append(comparison_part(label, nobc["seed_values"], bc["seed_values"], scale="ratio",
                                     threshold=1 + MIN_EFFECT, above=True))
        seeds.append(comparison.n)
        texts.append(
            f"{label}: uncorrected (lr={nobc[LR]:.3g}) {number(nobc['value'], 4)}, corrected "
            f"(lr={bc[LR]:.3g}) {number(bc['value'], 4)}: {times(comparison.estimate)}"
            f"{interval_text(comparison.low, comparison.high)}"
        )
        against += _unbracketed_lr(nobc_line, nobc, "uncorrected")
        favoured += _unbracketed_lr(bc_line, bc, "corrected")
        budgets += budget_note(f"uncorrected β1={beta1:g}", nobc_line, "corrected", bc_line)
    if not parts:
        return unmeasured(task, text, criterion, f"no β1 with stable corrected or uncorrected "
                                                 f"trials at β2={beta2:g}")
    verdict = parts_verdict(parts)
    claim = Claim(task, text, "; ".join(texts) + " (paired 95% intervals)" + budgets, criterion,
                  verdict, math.nan,
                  why="an interval straddles the criterion" if verdict == "inconclusive" else "")
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
                 "for each β1, for every plausible best (95% sets; lr must matter at every "
                 "(β1, β2)); and the arm without warmup must not pass the same test (else the "
                 "claim cannot tell warmup apart)")
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
    levels = _lr_levels(warm, _beta_pairs(warm))
    decision = where_decision(levels, _moves_at_most(_groups(levels)), what="lr",
                              levels_name="(β1, β2)")
    measured = (f"warmup steps {lengths}; best final lr per β2: " + "; ".join(parts)
                + f"; moves {moved} grid step{'s' if moved != 1 else ''}; "
                + sets_text(levels, decision, _lr_name(warm))
                + f"; lr matters at {decision.mattering} of {decision.judged}")
    verdict, why = decision.verdict, decision.why
    contrast = _warm_lr_moves(plain) if not plain.empty else None
    if contrast is not None:
        plain_levels = _lr_levels(plain, _beta_pairs(plain))
        plain_decision = where_decision(plain_levels, _moves_at_most(_groups(plain_levels)))
        measured += (f" (without warmup, final: moves {contrast[0]} grid step"
                     f"{'s' if contrast[0] != 1 else ''}; the same test {plain_decision.verdict})")
        if verdict == "holds" and plain_decision.verdict != "fails":
            verdict = "inconclusive"
            why = (f"the arm without warmup does not fail the same test ({plain_decision.verdict})"
                   ": the claim does not tell warmup apart")
    bests = [row for beta1 in grid(warm[HP_PREFIX + "beta1"])
             for row in _best_per_beta2(warm, beta1).values()]
    return _decided(task, text, criterion, measured, float(moved), warm, verdict, why,
                    _open_lr_edges(warm, bests, "warmup"))


def _moves_at_most(groups: list[list[int]]):
    def holds(path: tuple[int, ...]) -> bool:
        return all(max(path[i] for i in g) - min(path[i] for i in g) <= STABLE_LR_STEPS
                   for g in groups)
    return holds
