"""A claim: what an experiment expects, the quantity measured, the test, and whether it holds."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Status = Literal["holds", "fails", "unmeasured"]


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
    #: None when the results do not hold what the claim needs
    holds: bool | None
    #: the headline number of `measured` (nan when unmeasured)
    value: float = math.nan

    def __post_init__(self) -> None:
        # numpy scalars (np.True_, np.float64) in, plain Python values out
        if self.holds is not None:
            object.__setattr__(self, "holds", bool(self.holds))
        object.__setattr__(self, "value", float(self.value))

    @property
    def status(self) -> Status:
        if self.holds is None:
            return "unmeasured"
        return "holds" if self.holds else "fails"


def unmeasured(scope: str, claim: str, criterion: str, why: str) -> Claim:
    return Claim(scope, claim, f"not measurable: {why}", criterion, None)


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
