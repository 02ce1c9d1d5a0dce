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

    @property
    def status(self) -> Status:
        if self.holds is None:
            return "unmeasured"
        return "holds" if self.holds else "fails"


def unmeasured(scope: str, claim: str, criterion: str, why: str) -> Claim:
    return Claim(scope, claim, f"not measurable: {why}", criterion, None)


def times(value: float, digits: int = 3) -> str:
    """A ratio as '9.96×'; infinity (a diverged run) as '∞'."""
    if math.isinf(value):
        return "∞"
    if math.isnan(value):
        return "n/a"
    return f"{value:.{digits}g}×"


def number(value: float, digits: int = 3) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "diverged"
    return f"{value:.{digits}g}"


def percent(value: float, digits: int = 2) -> str:
    return f"{100 * value:.{digits}g}%"
