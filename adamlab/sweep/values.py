"""Hyperparameter value specs: a scalar, a list, or a log/linear range, expanded to a list.

    lr: 0.001                           -> [0.001]
    beta2: [0.99, 0.999]                -> [0.99, 0.999]
    lr: {logspace: [1.0e-4, 1.0e-1, 4]} -> [0.0001, 0.001, 0.01, 0.1]
    wd: {linspace: [0, 0.1, 3]}         -> [0.0, 0.05, 0.1]

Range points are rounded to 12 significant digits so a grid reads as written (0.001, not
0.0010000000000000002) and hashes the same on every platform; the end points are exact.
"""

from __future__ import annotations

import math
from typing import Any

RANGE_KINDS = ("logspace", "linspace")
#: the default limit on a sweep's trials (--max-trials): a bigger sweep is refused before its
#: trials (or a range's points) are generated
DEFAULT_MAX_TRIALS = 100_000
#: significant digits kept for generated range points
RANGE_DIGITS = 12


class ValueSpecError(ValueError):
    """A malformed value spec; `path` is relative to the spec (e.g. "[2]" or ".logspace")."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _round(x: float) -> float:
    return float(f"{x:.{RANGE_DIGITS}g}")


def logspace(lo: float, hi: float, n: int) -> list[float]:
    """n points from lo to hi (both > 0), evenly spaced in log10."""
    if n == 1:
        return [float(lo)]
    a, b = math.log10(lo), math.log10(hi)
    inner = [_round(10.0 ** (a + (b - a) * i / (n - 1))) for i in range(1, n - 1)]
    return [float(lo), *inner, float(hi)]


def linspace(lo: float, hi: float, n: int) -> list[float]:
    """n points from lo to hi, evenly spaced."""
    if n == 1:
        return [float(lo)]
    inner = [_round(lo + (hi - lo) * i / (n - 1)) for i in range(1, n - 1)]
    return [float(lo), *inner, float(hi)]


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _range(kind: str, args: Any, max_count: int | None) -> list[float]:
    where = f".{kind}"
    if not isinstance(args, list) or len(args) != 3:
        raise ValueSpecError(where, f"must be [start, stop, count], got {args!r}")
    lo, hi, n = args
    for i, x in enumerate((lo, hi)):
        if not _is_number(x) or not math.isfinite(x):
            raise ValueSpecError(f"{where}[{i}]", f"must be a finite number, got {x!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueSpecError(f"{where}[2]", f"count must be an integer >= 1, got {n!r}")
    if max_count is not None and n > max_count:
        raise ValueSpecError(
            f"{where}[2]", f"count {n:,} is more than the limit of {max_count:,} trials (--max-trials)"
        )
    if kind == "logspace":
        if lo <= 0 or hi <= 0:
            bad = 0 if lo <= 0 else 1
            raise ValueSpecError(
                f"{where}[{bad}]", f"logspace end points must be > 0, got {args[bad]!r}"
            )
        return logspace(lo, hi, n)
    return linspace(lo, hi, n)


def expand_values(spec: Any, *, max_count: int | None = None,
                  list_items: bool = False) -> tuple[list[Any], list[str]]:
    """The values a spec stands for, and the key-path suffix each one came from.

    Suffixes let a later check name the exact element (``beta2[2]``, ``lr.logspace``).
    Raises ValueSpecError for malformed specs, and for a range of more than `max_count` points
    (refused before it is generated); the values themselves are checked by the caller.
    `list_items`: a list may hold lists, each one value (a plug-in keyword such as betas:
    [[0.9, 0.99], [0.95, 0.98]] is an axis of two pairs).
    """
    if isinstance(spec, dict):
        if len(spec) != 1 or next(iter(spec)) not in RANGE_KINDS:
            keys = ", ".join(map(str, spec)) or "none"
            raise ValueSpecError(
                "",
                f"a mapping must be one of {{logspace: [start, stop, count]}} or "
                f"{{linspace: [start, stop, count]}}, got keys: {keys}",
            )
        kind, args = next(iter(spec.items()))
        values = _range(kind, args, max_count)
        return values, [f".{kind}"] * len(values)
    if isinstance(spec, list):
        if not spec:
            raise ValueSpecError("", "an empty list sweeps nothing; give at least one value")
        for i, item in enumerate(spec):
            if isinstance(item, dict) or (isinstance(item, list) and not list_items):
                raise ValueSpecError(f"[{i}]", f"list items must be scalars, got {item!r}")
        return list(spec), [f"[{i}]" for i in range(len(spec))]
    return [spec], [""]
