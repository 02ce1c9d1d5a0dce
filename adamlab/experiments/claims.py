"""A claim: what an experiment expects, the quantity measured, the test, and its verdict.

Verdicts are three-valued, plus "not measurable" (the results lack what the claim needs):
- a comparison (an effect at least / at most some size) states its minimum effect in the claim
  (MIN_EFFECT, 1% relative on a positive metric, unless the claim names a larger one): it holds
  when the whole 95% paired interval is beyond that effect (the one-sided t-test at 2.5%), fails
  when the whole interval is on the other side of it, and is inconclusive when it straddles it.
  A claim of several parts (each β1, each lr, each variant) takes each part's one-sided p-values
  and Holm-adjusts them across its parts, in each direction: it holds when every adjusted p of
  "beyond the criterion" is < 2.5%, fails when some adjusted p of "short of it" is < 2.5%;
- an "as good as" claim is the non-inferiority half of an equivalence test against a margin
  fixed in the claim (holds when the whole interval is inside the margin, fails when it is wholly
  beyond it); a "no difference" claim is both halves (two one-sided tests, TOST);
- a where-is-the-best claim (the best lr moves, the best weight decay shifts) is decided in two
  steps. First the hyperparameter it locates must matter: at each level (each lr, each β2) a
  repeated-measures F-test over the candidates (seeds as blocks; some candidate diverging where
  another does not also counts), Holm-adjusted over the levels, at 5%; without enough levels
  where it matters the claim is inconclusive whatever the data say about where its best lies.
  Then each level's best is a set, not a point: the candidates that a one-sided paired t-test
  does not show worse than the level's observed best (Holm over every such contrast of the
  claim, 5%; a candidate that diverged on a seed where the best did not is worse). The claim
  holds when it holds for every choice of bests from those sets, fails when it fails for every
  choice, and is inconclusive otherwise. Under no effect (every candidate equal) this says
  "holds" or "fails" at most 5% of the time each, at 5 seeds (tests/test_claims_calibration.py
  simulates it);
- any claim about the method resting on fewer than 3 seeds is inconclusive, and so is one
  resting on a config whose best setting is not bracketed by its grid (open edge, refine,
  untuned) when a better-tuned config could overturn the verdict: a lead over an unbracketed
  baseline is an upper bound (so it cannot hold), an unbracketed leader's lead a lower bound
  (so it cannot fail); a where-is-the-best claim on an unbracketed best cannot be either.
Implementation checks (numeric identities such as the first step lr·(1−β1)/√(1−β2)) are
deterministic: holds or fails, listed apart from the claims about the method.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from adamlab.analysis.stats import (
    Scale,
    holm,
    p_beyond,
    paired_diffs,
    repeated_measures_p,
    threshold_on_scale,
)

Verdict = Literal["holds", "fails", "inconclusive", "not measurable"]
VERDICTS: tuple[Verdict, ...] = ("holds", "fails", "inconclusive", "not measurable")
Kind = Literal["claim", "implementation check"]
CLAIM: Kind = "claim"
CHECK: Kind = "implementation check"

#: a claim about the method needs at least this many seeds to be decided
MIN_SEEDS = 3
#: one-sided level of each direction of a comparison (the whole 95% interval beyond the criterion)
TAIL = 0.025
#: level of the "must matter" gate and of the confidence sets of a where-is-the-best claim
WHERE_ALPHA = 0.05
#: the smallest relative change of a positive metric any comparison claim counts as an effect,
#: and the margin of every "as good as" claim: the same 1% on both sides, so a difference the
#: project would call an effect in one claim is never called negligible in another. Fixed once
#: for every claim (the convention for a relative change of a loss), not chosen per claim or
#: after any result.
MIN_EFFECT = 0.01
#: where-is-the-best claims enumerate every choice of bests up to this many, else inconclusive
MAX_PATHS = 200_000


@dataclass(frozen=True)
class Claim:
    #: what the claim is measured on: a task name, or "" for the whole sweep
    scope: str
    #: the expectation, in words
    claim: str
    #: the measured quantity, formatted (or why it could not be measured)
    measured: str
    #: the test the measurement must pass
    criterion: str
    verdict: Verdict
    #: the headline number of `measured` (nan when not measurable)
    value: float = math.nan
    kind: Kind = CLAIM
    #: why the verdict is inconclusive or not measurable, in words ("" otherwise)
    why: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        object.__setattr__(self, "value", float(self.value))

    @property
    def holds(self) -> bool:
        return self.verdict == "holds"


def unmeasured(scope: str, claim: str, criterion: str, why: str, *, kind: Kind = CLAIM) -> Claim:
    return Claim(scope, claim, f"not measurable: {why}", criterion, "not measurable", kind=kind,
                 why=why)


def verdict_of(holds: bool) -> Verdict:
    return "holds" if holds else "fails"


def interval_verdict(low: float, high: float, threshold: float, *, above: bool) -> Verdict:
    """The effect is claimed to be above (`above`) or below `threshold`: holds when the whole
    interval [low, high] is on that side, fails when it is wholly on the other side, else (or
    without an interval) inconclusive."""
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if above:
        return "holds" if low > threshold else "fails" if high < threshold else "inconclusive"
    return "holds" if high < threshold else "fails" if low > threshold else "inconclusive"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """A claim 'for every X': fails if any part fails, holds if all hold, else inconclusive."""
    if any(v == "fails" for v in verdicts):
        return "fails"
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    return "inconclusive"


@dataclass(frozen=True)
class Part:
    """One part of a comparison claim: the one-sided p-values of "beyond the criterion"
    (`p_holds`) and of "short of it" (`p_fails`). A deterministic part (a diverged run counted
    worse) has p 0 or 1."""

    label: str
    p_holds: float
    p_fails: float


def parts_verdict(parts: Sequence[Part], *, tail: float = TAIL) -> Verdict:
    """Holm across the parts, in each direction: holds when every adjusted p_holds < tail,
    fails when some adjusted p_fails < tail, else inconclusive."""
    if not parts:
        return "inconclusive"
    holding = holm([p.p_holds for p in parts])
    failing = holm([p.p_fails for p in parts])
    if any(p < tail for p in failing):
        return "fails"
    if all(p < tail for p in holding):
        return "holds"
    return "inconclusive"


def comparison_part(label: str, mine: Mapping[int, float], theirs: Mapping[int, float], *,
                    scale: Scale, threshold: float, above: bool) -> Part:
    """A paired comparison of `mine` with `theirs` claimed above (`above`) or below `threshold`
    (a ratio on the ratio scale, a difference on the difference scale)."""
    diffs = paired_diffs(mine, theirs, scale=scale)
    p_above, p_below = p_beyond(diffs, threshold_on_scale(threshold, scale))
    return Part(label, p_above, p_below) if above else Part(label, p_below, p_above)


@dataclass(frozen=True)
class WhereLevel:
    """One level of a where-is-the-best claim (an lr, a (β1, β2)): its candidates' grid
    positions, per-seed values of the selection metric (ok seeds), whether each candidate is
    stable (no seed diverged or failed), and the index of the observed best (by the one
    selection rule)."""

    label: str
    positions: tuple[int, ...]
    seed_values: tuple[Mapping[int, float], ...]
    stable: tuple[bool, ...]
    best: int


@dataclass(frozen=True)
class WhereDecision:
    verdict: Verdict
    #: per level, the grid positions that may be its best (95% confidence set)
    sets: tuple[tuple[int, ...], ...]
    #: levels where the hyperparameter matters, and levels judged
    mattering: int
    judged: int
    #: contrasts tested, and unstable candidates counted worse than a stable best
    contrasts: int
    unstable: int
    why: str = ""


def _log_scale(levels: Sequence[WhereLevel]) -> bool:
    return all(v > 0 for level in levels for seeds in level.seed_values for v in seeds.values())


def matters_p(level: WhereLevel, *, log: bool) -> float:
    """p of "the candidates of this level are all alike": 0 when some diverged where another did
    not, else the repeated-measures F-test on the seeds every stable candidate finished."""
    if len(level.positions) < 2:
        return math.nan
    if any(level.stable) and not all(level.stable):
        return 0.0
    if not any(level.stable):
        return math.nan
    shared = sorted(set.intersection(*(set(v) for v in level.seed_values)))
    f = math.log if log else float
    table = [[f(values[s]) for values in level.seed_values] for s in shared]
    return repeated_measures_p(table) if len(table) >= 2 else math.nan


def gate(levels: Sequence[WhereLevel], *, alpha: float = WHERE_ALPHA) -> int:
    """At how many levels the hyperparameter matters (`matters_p`, Holm over the levels)."""
    log = _log_scale(levels)
    adjusted = holm([matters_p(level, log=log) for level in levels])
    return sum(p < alpha for p in adjusted if not math.isnan(p))


def plausible_bests(levels: Sequence[WhereLevel], *, goal: str = "min",
                    alpha: float = WHERE_ALPHA) -> tuple[tuple[tuple[int, ...], ...], int, int]:
    """(per level the positions that may be its best, contrasts tested, unstable candidates
    counted worse): a candidate leaves its level's set when a one-sided paired t-test shows it
    worse than the level's observed best, Holm over every contrast of the claim (on log values
    when every value is > 0)."""
    log = _log_scale(levels)
    f = math.log if log else float
    sign = 1.0 if goal == "min" else -1.0  # positive difference: the candidate is worse
    tests: list[tuple[int, int, float]] = []
    unstable = 0
    for i, level in enumerate(levels):
        best = level.seed_values[level.best]
        for j, values in enumerate(level.seed_values):
            if j == level.best:
                continue
            if level.stable[level.best] and not level.stable[j]:
                tests.append((i, j, 0.0))
                unstable += 1
                continue
            diffs = [sign * (f(values[s]) - f(best[s])) for s in sorted(set(values) & set(best))]
            tests.append((i, j, p_beyond(diffs, 0.0)[0]))
    adjusted = holm([p for _, _, p in tests])
    excluded = {(i, j) for (i, j, _), p in zip(tests, adjusted, strict=True) if p < alpha}
    sets = tuple(
        tuple(sorted({pos for j, pos in enumerate(level.positions) if (i, j) not in excluded}))
        for i, level in enumerate(levels))
    return sets, len(tests), unstable


def path_verdict(sets: Sequence[Sequence[int]],
                 holds: Callable[[tuple[int, ...]], bool]) -> tuple[Verdict, str]:
    """holds / fails when `holds` says so for every choice of one position per set, else
    inconclusive (with why)."""
    if math.prod(len(s) for s in sets) > MAX_PATHS:
        return "inconclusive", "too many plausible bests to judge"
    outcomes = {bool(holds(path)) for path in itertools.product(*sets)}
    if outcomes == {True}:
        return "holds", ""
    if outcomes == {False}:
        return "fails", ""
    return "inconclusive", "it holds for some of the plausible bests and fails for others"


def where_decision(
    levels: Sequence[WhereLevel],
    holds: Callable[[tuple[int, ...]], bool],
    *,
    goal: str = "min",
    levels_that_must_matter: int | None = None,
    alpha: float = WHERE_ALPHA,
    what: str = "the hyperparameter",
    levels_name: str = "levels",
) -> WhereDecision:
    """The verdict of a where-is-the-best claim (see the module docstring): `holds(path)` says
    whether the claim holds for one choice of best position per level (aligned with `levels`);
    the hyperparameter must matter at `levels_that_must_matter` levels (default: every one)."""
    need = len(levels) if levels_that_must_matter is None else levels_that_must_matter
    mattering = gate(levels, alpha=alpha)
    sets, contrasts, unstable = plausible_bests(levels, goal=goal, alpha=alpha)
    decision = dict(sets=sets, mattering=mattering, judged=len(levels), contrasts=contrasts,
                    unstable=unstable)
    if mattering < need:
        return WhereDecision("inconclusive", **decision,
                             why=f"{what} changes the selection metric beyond seed noise at "
                                 f"{mattering} of {len(levels)} {levels_name} (needs {need}): "
                                 "where its best lies would be noise")
    verdict, why = path_verdict(sets, holds)
    return WhereDecision(verdict, **decision, why=why)


def sets_text(levels: Sequence[WhereLevel], decision: WhereDecision,
              name: Callable[[int], str]) -> str:
    """'plausible bests (95%): lr=0.001 {1e-3, 1e-2}; ...' with the gate and the contrasts."""
    parts = [f"{level.label} {{{', '.join(name(p) for p in positions)}}}"
             for level, positions in zip(levels, decision.sets, strict=True)]
    text = (f"plausible bests (one-sided paired tests against each level's best, Holm over "
            f"{decision.contrasts} contrasts, 5%): " + "; ".join(parts))
    if decision.unstable:
        text += f"; {decision.unstable} candidate(s) with a diverged seed counted worse"
    return text


def guard(
    claim: Claim,
    *,
    n_seeds: int,
    unbracketed_against: Sequence[str] = (),
    unbracketed_for: Sequence[str] = (),
    unbracketed_any: Sequence[str] = (),
) -> Claim:
    """Downgrade `claim` to inconclusive where its verdict could not stand: fewer than
    MIN_SEEDS seeds; a holding verdict resting on an unbracketed config the claim measures
    against (`unbracketed_against`: a better-tuned one could only shrink the lead); a failing
    verdict resting on an unbracketed config the claim favours (`unbracketed_for`); any
    verdict on an unbracketed best (`unbracketed_any`). Each entry says which config and
    hyperparameter, e.g. "sgd: lr=10 is the top of the grid: widen it"."""
    if claim.kind == CHECK or claim.verdict == "not measurable":
        return claim
    if claim.verdict == "inconclusive":  # say when too few seeds could not have decided it
        unbracketed_against = unbracketed_for = unbracketed_any = ()
    reasons = []
    if n_seeds < MIN_SEEDS:
        reasons.append(f"{n_seeds} seed{'s' if n_seeds != 1 else ''} (< {MIN_SEEDS})")
    if claim.verdict == "holds" and unbracketed_against:
        reasons.append("the reference's best is not bracketed, so the lead is an upper bound: "
                       + "; ".join(unbracketed_against))
    if claim.verdict == "fails" and unbracketed_for:
        reasons.append("the favoured config's best is not bracketed, so its lead is a lower "
                       "bound: " + "; ".join(unbracketed_for))
    if unbracketed_any:
        reasons.append("the best is not bracketed: " + "; ".join(unbracketed_any))
    if not reasons:
        return claim
    if claim.verdict == "inconclusive":
        return Claim(claim.scope, claim.claim, claim.measured, claim.criterion, "inconclusive",
                     claim.value, claim.kind, "; ".join([*reasons, claim.why]))
    why = f"would {'hold' if claim.verdict == 'holds' else 'fail'}, but " + "; ".join(reasons)
    return Claim(claim.scope, claim.claim, claim.measured, claim.criterion, "inconclusive",
                 claim.value, claim.kind, why)


def times(value: float) -> str:
    """A ratio to 3 significant digits, '9.96×', '1.00×', '1,234×'; a diverged run's as '∞'."""
    if math.isinf(value):
        return "∞"
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}×"
    return f"{value:#.3g}×"


def number(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "diverged"
    return f"{value:.{digits}g}"


def percent(value: float) -> str:
    """A share as '84.1%', '5.0%', '0.37%', '0.0062%' (2 significant digits below 10%)."""
    if math.isnan(value):
        return "n/a"
    share = 100 * value
    return f"{share:.1f}%" if abs(share) >= 10 else f"{share:#.2g}%"


def interval_text(low: float, high: float, fmt: Callable[[float], str] = times) -> str:
    """' [low, high]' (95% t), or ' (no interval)' without one."""
    if math.isnan(low):
        return " (no interval)"
    return f" [{fmt(low)}, {fmt(high)}]"
