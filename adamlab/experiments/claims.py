"""A claim: what an experiment expects, the quantity measured, the test, and its verdict.

Verdicts are three-valued, plus "not measurable" (the results lack what the claim needs):
- a comparison (an effect at least / at most some size) holds when the whole 95% paired
  interval of the effect is on the claimed side of the criterion, fails when the whole
  interval is on the other side, and is inconclusive when it straddles the criterion;
- an "as good as" claim has a margin fixed in advance in the claim: it holds when the paired
  interval lies inside the margin, fails when it lies wholly beyond it, else inconclusive;
- a where-is-the-best claim (the best lr moves, the best weight decay shifts) is recomputed on
  every bootstrap resample of the seeds (exact enumeration up to 6 seeds, else 1,000 draws with
  RNG seed 0): it holds if it holds in >= 95% of the resamples, fails if it fails in >= 95%,
  else inconclusive;
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
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Verdict = Literal["holds", "fails", "inconclusive", "not measurable"]
VERDICTS: tuple[Verdict, ...] = ("holds", "fails", "inconclusive", "not measurable")
Kind = Literal["claim", "implementation check"]
CLAIM: Kind = "claim"
CHECK: Kind = "implementation check"

#: a claim about the method needs at least this many seeds to be decided
MIN_SEEDS = 3
#: share of seed resamples a where-is-the-best claim must hold (or fail) in
RESAMPLED_SHARE = 0.95
#: above this many seeds the resamples are drawn, not enumerated
EXACT_RESAMPLE_SEEDS = 6
RESAMPLES = 1000
RESAMPLE_SEED = 0


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
    def status(self) -> Verdict:
        return self.verdict

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


def resampled_verdict(share_holding: float) -> Verdict:
    if share_holding >= RESAMPLED_SHARE:
        return "holds"
    if share_holding <= 1.0 - RESAMPLED_SHARE:
        return "fails"
    return "inconclusive"


def seed_resamples(seeds: Sequence[int]) -> list[tuple[tuple[int, ...], float]]:
    """Bootstrap resamples of `seeds` with their probabilities: every multiset of len(seeds)
    draws (multinomial weights) up to EXACT_RESAMPLE_SEEDS seeds, else RESAMPLES random draws."""
    seeds = sorted(seeds)
    n = len(seeds)
    if n == 0:
        return []
    if n <= EXACT_RESAMPLE_SEEDS:
        out = []
        for combo in itertools.combinations_with_replacement(seeds, n):
            ways = math.factorial(n)
            for count in Counter(combo).values():
                ways //= math.factorial(count)
            out.append((combo, ways / n**n))
        return out
    rng = np.random.default_rng(RESAMPLE_SEED)
    draws = rng.choice(np.asarray(seeds), size=(RESAMPLES, n), replace=True)
    return [(tuple(int(s) for s in row), 1.0 / RESAMPLES) for row in draws]


def share_holding(
    seeds: Sequence[int], predicate: Callable[[tuple[int, ...]], bool | None]
) -> float:
    """Probability-weighted share of the seed resamples on which `predicate` is True (a
    resample where it cannot be judged, None, counts as not holding)."""
    return math.fsum(w for drawn, w in seed_resamples(seeds) if predicate(drawn))


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
    if claim.kind == CHECK or claim.verdict in ("not measurable", "inconclusive"):
        return claim
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
