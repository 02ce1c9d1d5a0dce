"""Calibration of the where-is-the-best decision under no effect, by simulation.

Null fixture: 3 levels (lrs) x 4 candidates (weight decays) x 5 seeds, every candidate equal in
expectation: value = 1 + a per-seed offset shared by every config (paired seeds) + independent
per-(config, seed) noise. The three weight-decay shapes (axis, diagonal, product) are judged on
each draw; a "holds" or a "fails" is a false decision. 1,000 draws from a fixed RNG; the same
decision code the claims use (`gate`, `plausible_bests`, `path_verdict`), only the data frames
are skipped. A second fixture with a clear effect shows the rule can decide at all.
"""

from __future__ import annotations

import numpy as np

from adamlab.experiments.claims import (
    WhereLevel,
    gate,
    path_verdict,
    plausible_bests,
    where_decision,
)

DRAWS = 1000
SEEDS = 5
LEVELS = 3
CANDIDATES = 4
#: the most false decisions per direction the rule may make (<= 5% at 5 seeds: the size a 5% test claims)
LIMIT = 0.05


def axis(path):
    return max(path) - min(path) <= 1


def diagonal(path):
    return all(b <= a for a, b in zip(path[:-1], path[1:], strict=True)) and path[0] - path[-1] >= 2


def product(path):
    shifted = [p + i for i, p in enumerate(path)]
    return max(shifted) - min(shifted) <= 1


SHAPES = {"axis": axis, "diagonal": diagonal, "product": product}


def draw_values(rng, shape_mean):
    """[draws, levels, candidates, seeds] positive values around `shape_mean` [levels, cands]."""
    seed_offset = rng.normal(0.0, 0.05, size=(DRAWS, 1, 1, SEEDS))
    noise = rng.normal(0.0, 0.01, size=(DRAWS, LEVELS, CANDIDATES, SEEDS))
    return np.exp(np.log(shape_mean)[None, :, :, None] + seed_offset + noise)


def levels_of(values):
    """WhereLevels of one draw [levels, candidates, seeds]; the observed best by its mean."""
    means = values.mean(axis=2)
    return [
        WhereLevel(
            label=f"level {i}",
            positions=tuple(range(CANDIDATES)),
            seed_values=tuple({s: float(values[i, j, s]) for s in range(SEEDS)}
                              for j in range(CANDIDATES)),
            stable=(True,) * CANDIDATES,
            best=int(np.argmin(means[i])),
        )
        for i in range(LEVELS)
    ]


def decisions(values, *, need):
    """Per shape: how many draws say holds and fails, with the gate at `need` levels (0: the
    plausible-best sets alone decide)."""
    counts = {name: {"holds": 0, "fails": 0} for name in SHAPES}
    for draw in values:
        levels = levels_of(draw)
        if gate(levels) < need:
            continue
        sets, _, _ = plausible_bests(levels)
        for name, holds in SHAPES.items():
            verdict, _ = path_verdict(sets, holds)
            if verdict in ("holds", "fails"):
                counts[name][verdict] += 1
    return counts


def test_under_no_effect_false_holds_and_false_fails_are_each_at_most_5_percent():
    values = draw_values(np.random.default_rng(20260), np.ones((LEVELS, CANDIDATES)))
    for need in (2, 0):  # as the weight-decay claims run it, and the sets without the gate
        counts = decisions(values, need=need)
        for name, count in counts.items():
            assert count["holds"] / DRAWS <= LIMIT, (need, name, count)
            assert count["fails"] / DRAWS <= LIMIT, (need, name, count)


def test_with_a_clear_effect_the_rule_decides():
    # best candidate 1 at every level: the axis shape holds, the diagonal fails
    bowl = 1.0 + 0.05 * (np.arange(CANDIDATES)[None, :] - 1.0) ** 2 * np.ones((LEVELS, 1))
    values = draw_values(np.random.default_rng(7), bowl)[:200]
    decided = {"axis": 0, "diagonal": 0}
    for draw in values:
        levels = levels_of(draw)
        decided["axis"] += where_decision(levels, axis).verdict == "holds"
        decided["diagonal"] += where_decision(levels, diagonal).verdict == "fails"
    assert decided["axis"] >= 190 and decided["diagonal"] >= 190, decided
