"""Hyperparameter value specs: a scalar, a list, or a log/linear range, expanded to a list.

    lr: 0.001                           -> [0.001]
    beta2: [0.99, 0.999]                -> [0.99, 0.999]
    lr: {logspace: [1.0e-4, 1.0e-1, 4]} -> [0.0001, 0.001, 0.01, 0.1]
    wd: {linspace: [0, 0.1, 3]}         -> [0.0, 0.05, 0.1]
    lr: {loguniform: [1.0e-5, 1.0], samples: 20}         -> 20 values drawn log-uniformly
    wd: {uniform: [0.0, 0.1], samples: 8, seed: 3}       -> 8 values drawn uniformly

Range points are rounded to 12 significant digits so a grid reads as written (0.001, not
0.0010000000000000002) and hashes the same on every platform; the end points are exact.

Random search: `loguniform` / `uniform` draw `samples` values in [low, high] from the spec's own
`seed:` (default 0), with Python's Mersenne Twister (`random.Random(seed).random()`, whose
sequence for an integer seed Python keeps the same across versions and platforms), rounded to 12
significant digits like range points and sorted ascending. The same file therefore always gives
the same values, so the same trial ids, and re-running it resumes. Each hyperparameter is drawn
on its own and, like any list, crossed with the entry's other hyperparameters; give two drawn
hyperparameters different seeds so their draws are independent. Change `seed:` (or `samples:`)
for a new draw.
"""

from __future__ import annotations

import math
import random
from typing import Any

RANGE_KINDS = ("logspace", "linspace")
RANDOM_KINDS = ("loguniform", "uniform")
RANDOM_KEYS = ("samples", "seed")
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
                f"{where}[{bad}]", f"logspace end points must be > 0, got {args[bad]!r} (they "
                f"are the values themselves, not numpy's exponents: np.logspace(-4, -1, 4) is "
                f"logspace: [1.0e-4, 1.0e-1, 4])"
            )
        return logspace(lo, hi, n)
    return linspace(lo, hi, n)


def _random(kind: str, spec: dict, max_count: int | None) -> list[float]:
    bounds = spec[kind]
    where = f".{kind}"
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ValueSpecError(where, f"must be [low, high], got {bounds!r}")
    for i, x in enumerate(bounds):
        if not _is_number(x) or not math.isfinite(x):
            raise ValueSpecError(f"{where}[{i}]", f"must be a finite number, got {x!r}")
    lo, hi = (float(x) for x in bounds)
    if not lo < hi:
        raise ValueSpecError(where, f"low must be below high, got [{lo:g}, {hi:g}]")
    if kind == "loguniform" and lo <= 0:
        raise ValueSpecError(f"{where}[0]", f"loguniform bounds must be > 0, got {bounds[0]!r}")
    unknown = [k for k in spec if k not in (kind, *RANDOM_KEYS)]
    if unknown:
        raise ValueSpecError(f".{unknown[0]}", f"unknown key; allowed with {kind}: "
                                               f"{', '.join(RANDOM_KEYS)}")
    n = spec.get("samples")
    if n is None:
        raise ValueSpecError(".samples", f"required with {kind}: how many values to draw")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueSpecError(".samples", f"must be an integer >= 1, got {n!r}")
    if max_count is not None and n > max_count:
        raise ValueSpecError(
            ".samples", f"{n:,} is more than the limit of {max_count:,} trials (--max-trials)")
    seed = spec.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueSpecError(".seed", f"must be an integer >= 0, got {seed!r}")
    draw = random.Random(seed)
    if kind == "loguniform":
        a, b = math.log10(lo), math.log10(hi)
        values = [_round(10.0 ** (a + (b - a) * draw.random())) for _ in range(n)]
    else:
        values = [_round(lo + (hi - lo) * draw.random()) for _ in range(n)]
    return sorted(values)


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
        drawn = [k for k in RANDOM_KINDS if k in spec]
        if len(drawn) == 1:
            values = _random(drawn[0], spec, max_count)
            return values, [f".{drawn[0]}"] * len(values)
        if len(spec) != 1 or next(iter(spec)) not in RANGE_KINDS:
            keys = ", ".join(map(str, spec)) or "none"
            raise ValueSpecError(
                "",
                f"a mapping must be one of {{logspace: [start, stop, count]}}, "
                f"{{linspace: [start, stop, count]}}, {{loguniform: [low, high], samples: N}} or "
                f"{{uniform: [low, high], samples: N}} (optional seed: S), got keys: {keys}",
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
