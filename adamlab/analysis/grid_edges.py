"""Is a best config bracketed by its grid? One verdict per hyperparameter of a variant's best.

Judged on the variant's own grid in the sweep, along the line through the best config (every
other hyperparameter held at the best's value), for each numeric hyperparameter:
- "open": the best is the first or last value of the grid: nothing was tried beyond it, and a
  better value may lie there ("open edge: widen the grid");
- "stability limit": the neighbour beyond the best diverged on some seed; the best is as far as
  the grid could go, and that neighbour is at most 2x away;
- "refine": as "stability limit", but the diverging neighbour is more than 2x away: the
  optimum may lie in between ("refine between X and Y");
- "untuned": the variant tried a single lr: never called best-tuned.
A best at the bottom of its grid is not open when that value is the hyperparameter's own lower
limit (weight_decay = 0, momentum or beta1 = 0): no smaller value exists to try.
"open", "refine" and "untuned" leave the best unbracketed: a lead measured against such a
reference is an upper bound of the true lead (a better-tuned reference can only do better).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from adamlab.analysis.grouping import is_missing
from adamlab.store.tables import HP_PREFIX

OPEN, STABILITY_LIMIT, REFINE, UNTUNED = "open", "stability limit", "refine", "untuned"
UNBRACKETED = frozenset({OPEN, REFINE, UNTUNED})
#: a diverging neighbour further than this factor from the best leaves room for a better value
REFINE_FACTOR = 2.0
LR = HP_PREFIX + "lr"
#: hyperparameters whose domain starts at 0: a best at 0, the bottom of its grid, is bracketed
LOWER_LIMIT_ZERO = frozenset({"weight_decay", "momentum", "beta1", "dampening"})


@dataclass(frozen=True)
class GridEdge:
    hparam: str
    #: open | stability limit | refine | untuned
    flag: str
    #: in words, e.g. "lr=10 is the top of the grid: widen it"
    detail: str

    @property
    def bracketed(self) -> bool:
        return self.flag not in UNBRACKETED


def _numeric(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value)
    )


def _same(a, b) -> bool:
    missing_a, missing_b = is_missing(a), is_missing(b)
    return (missing_a and missing_b) or (not missing_a and not missing_b and a == b)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def grid_edges(
    configs: pd.DataFrame, best: pd.Series, hparams: Sequence[str] | None = None
) -> dict[str, GridEdge]:
    """The flagged hyperparameters of `best` among `configs` (one variant's configs, with the
    `hp.*` and `n_diverged` columns of `group_configs`). `hparams`: the ones to judge (default:
    every `hp.*` column with 2+ numeric values, and lr always, for "untuned"). Unflagged
    hyperparameters are left out of the result."""
    hp_columns = [c for c in configs.columns if c.startswith(HP_PREFIX)]
    if hparams is None:
        hparams = [c for c in hp_columns if _grid(configs, c) and len(_grid(configs, c)) > 1]
        if LR in configs.columns and LR not in hparams:
            hparams = [LR, *hparams]
    out: dict[str, GridEdge] = {}
    for hp in hparams:
        edge = _judge(configs, best, hp, hp_columns)
        if edge is not None:
            out[hp] = edge
    return out


def _grid(configs: pd.DataFrame, hp: str) -> list[float]:
    values = [v for v in configs[hp].tolist() if _numeric(v)]
    return sorted(set(float(v) for v in values))


def _judge(configs: pd.DataFrame, best: pd.Series, hp: str, hp_columns: list[str]) -> GridEdge | None:
    name = hp.removeprefix(HP_PREFIX)
    if hp not in configs.columns or not _numeric(best.get(hp)):
        return None
    grid = _grid(configs, hp)
    value = float(best[hp])
    if len(grid) == 1:
        if hp == LR:
            return GridEdge(hp, UNTUNED, f"one lr tried ({_fmt(value)}): untuned")
        return None
    others = [c for c in hp_columns if c != hp]
    line = configs[[all(_same(row[c], best[c]) for c in others) for _, row in configs.iterrows()]]
    position = grid.index(value)
    flags: list[GridEdge] = []
    for side, step in (("bottom", -1), ("top", 1)):
        beyond = position + step
        if not 0 <= beyond < len(grid):
            if side == "bottom" and value == 0 and name in LOWER_LIMIT_ZERO:
                continue  # nothing below 0 to try
            flags.append(GridEdge(
                hp, OPEN, f"{name}={_fmt(value)} is the {side} of the grid: widen it"
            ))
            continue
        neighbour = line[line[hp].map(lambda v, x=grid[beyond]: _numeric(v) and float(v) == x)]
        if neighbour.empty or int(neighbour["n_diverged"].sum()) == 0:
            continue
        far = _factor(value, grid[beyond]) > REFINE_FACTOR
        low, high = sorted((value, grid[beyond]))
        if far:
            flags.append(GridEdge(
                hp, REFINE,
                f"{name}={_fmt(grid[beyond])} diverged: refine between {_fmt(low)} and {_fmt(high)}",
            ))
        else:
            flags.append(GridEdge(
                hp, STABILITY_LIMIT, f"{name}={_fmt(grid[beyond])} diverged: stability limit"
            ))
    if not flags:
        return None
    order = {OPEN: 0, REFINE: 1, STABILITY_LIMIT: 2}
    return min(flags, key=lambda edge: order[edge.flag])


def _factor(a: float, b: float) -> float:
    if a <= 0 or b <= 0:
        return math.inf
    return max(a, b) / min(a, b)


def bracketed(edges: dict[str, GridEdge]) -> bool:
    return all(edge.bracketed for edge in edges.values())
