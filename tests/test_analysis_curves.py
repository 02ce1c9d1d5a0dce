"""`mean_curves` (every config's seed-mean curve from one array) equals, number for number, the
plain pandas form the summary used before it (`reference_mean_curve`: one config's columns of
the DataFrame, pandas' running best, rows with a gap dropped): gaps in a trial's log, a running
best that skips a gap, ids not in the table, a config with no complete step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from adamlab.analysis.grouping import exact_mean, mean_curves, seed_curves


def reference_mean_curve(table: pd.DataFrame, trial_ids, *, goal, rule) -> pd.Series:
    curves = seed_curves(table, trial_ids, goal=goal, rule=rule).dropna(how="any")
    if curves.empty or curves.shape[1] == 0:
        return pd.Series(dtype="float64")
    return pd.Series([exact_mean(row) for row in curves.to_numpy()], index=curves.index)


def curve_table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(size=(12, 9))
    values[rng.random(values.shape) < 0.15] = np.nan  # trials that logged nothing at a step
    values[:, 8] = np.nan  # a trial that logged nothing at all
    steps = pd.Index(range(10, 130, 10), name="step")
    return pd.DataFrame(values, index=steps, columns=[f"t{i}" for i in range(9)])


CONFIGS = [["t0", "t1", "t2"], ["t3"], ["t4", "t5", "absent"], ["t6", "t7"], ["t8", "t0"],
           ["absent"], []]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("goal", ["min", "max"])
@pytest.mark.parametrize("rule", ["final", "best"])
def test_mean_curves_equal_the_pandas_form_for_each_config(seed, goal, rule):
    table = curve_table(seed)
    fast = mean_curves(table, CONFIGS, goal=goal, rule=rule)
    assert len(fast) == len(CONFIGS)
    for trial_ids, curve in zip(CONFIGS, fast, strict=True):
        expected = reference_mean_curve(table, trial_ids, goal=goal, rule=rule)
        assert list(curve.index) == list(expected.index)
        assert curve.index.name == expected.index.name or expected.empty
        assert curve.dtype == expected.dtype
        # the same bits: both sum each row with math.fsum
        assert all(a == b or (math.isnan(a) and math.isnan(b))
                   for a, b in zip(curve.tolist(), expected.tolist(), strict=True))


def test_a_running_best_skips_a_gap_and_keeps_it_missing():
    table = pd.DataFrame({"a": [3.0, np.nan, 1.0, 2.0], "b": [4.0, 4.0, 4.0, 0.5]},
                         index=pd.Index([1, 2, 3, 4], name="step"))
    (curve,) = mean_curves(table, [["a", "b"]], goal="min", rule="best")
    # step 2 is dropped (a logged nothing there); a's best is 1 from step 3 on
    assert curve.to_dict() == {1: 3.5, 3: 2.5, 4: 0.75}
