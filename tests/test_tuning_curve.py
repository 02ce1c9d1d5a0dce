"""Tuning curves: exact order statistics against brute force, monotone curves, bands that hold
their median, the JSON points, and the "A beats B at every budget" claim present and absent."""

from __future__ import annotations

import itertools
import json
import math
import statistics

import numpy as np
import pytest
from experiments_testing import record, results_of, write_folder

from adamlab.analysis.tuning_curve import curve, tuning_curves
from adamlab.analysis.tuning_render import tuning_json
from adamlab.experiments.tuning import beats_at_every_budget_claim
from cli.app import main


def brute_force(values, k, goal):
    """Expected and median best of k drawn without replacement, over every k-subset."""
    pick = min if goal == "min" else max
    bests = sorted(pick(c) for c in itertools.combinations(values, k))
    median = bests[math.ceil(len(bests) / 2) - 1] if goal == "max" else None
    return statistics.fmean(bests), bests, median


@pytest.mark.parametrize("goal", ["min", "max"])
def test_expected_best_is_exact_and_k1_is_the_mean_of_the_config_means(goal):
    values = [0.31, 0.12, 0.57, 0.12, 0.9, 0.44]
    points = curve(values, goal=goal)
    assert points[0][1] == pytest.approx(statistics.fmean(values), abs=1e-6)
    for k, expected, median, _, _ in points:
        mean, bests, _ = brute_force(values, k, goal)
        assert expected == pytest.approx(mean, abs=1e-12)
        # the median: half the k-subsets have a best at least as good
        better = [b for b in bests if (b <= median if goal == "min" else b >= median)]
        assert len(better) * 2 >= len(bests)
    assert points[-1][1] == (min(values) if goal == "min" else max(values))


def test_curves_never_get_worse_with_k_and_bands_hold_their_median():
    rng = np.random.default_rng(3)
    for trial in range(300):
        n = int(rng.integers(1, 25))
        values = list(rng.lognormal(0.0, 1.0, size=n))
        diverged = int(rng.integers(0, n + 1)) if trial % 3 == 0 else 0
        values[:diverged] = [math.inf] * diverged  # diverged configs: the worst draws
        points = curve(values, goal="min", limits=(0.0, math.inf))
        expected = [p[1] for p in points]
        medians = [p[2] for p in points]
        assert all(b <= a for a, b in zip(expected, expected[1:], strict=False))
        assert all(b <= a for a, b in zip(medians, medians[1:], strict=False))
        for _, _, median, low, high in points:
            assert 0.0 <= low <= median <= high
        if diverged:
            assert math.isinf(points[0][1]) == (diverged >= 1)


def results_with(a_values, b_values, *, task="quadratic"):
    records = [record(task, "adam", {"lr": 1e-4 * (i + 1)}, 0, {100: {"loss": v}}, variant="a")
               for i, v in enumerate(a_values)]
    records += [record(task, "sgd", {"lr": 1e-4 * (i + 1)}, 0, {100: {"loss": v}}, variant="b")
                for i, v in enumerate(b_values)]
    return records


def test_json_points_per_variant_and_k(tmp_path, capsys):
    records = results_with([0.3, 0.1, 0.2], [1.0, 2.0])
    points = tuning_curves(results_of(records))
    assert [(p.variant, p.k) for p in points] == [("a", 1), ("a", 2), ("a", 3), ("b", 1),
                                                   ("b", 2)]
    first = json.loads(tuning_json(points))[0]
    assert set(first) == {"task", "variant", "metric", "k", "expected", "median", "low", "high"}
    assert first["expected"] == pytest.approx(0.2, abs=1e-6) and first["metric"] == "loss"
    folder = write_folder(tmp_path / "r", records, "hand")
    assert main(["summary", str(folder), "--tuning-curve", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(tuning_json(points))


def test_beats_at_every_budget_present_absent_reversed():
    rng = np.random.default_rng(11)
    good, bad = list(rng.uniform(0.1, 0.2, 20)), list(rng.uniform(1.0, 2.0, 20))
    results = results_of(results_with(good, bad))
    a = results.trials[results.trials["variant"] == "a"]
    b = results.trials[results.trials["variant"] == "b"]
    assert beats_at_every_budget_claim(results, a, "a", b, "b", "loss", 1).verdict == "holds"
    assert beats_at_every_budget_claim(results, b, "b", a, "a", "loss", 1).verdict == "fails"
    same = results_of(results_with(good, list(rng.permutation(good))))
    a = same.trials[same.trials["variant"] == "a"]
    b = same.trials[same.trials["variant"] == "b"]
    claim = beats_at_every_budget_claim(same, a, "a", b, "b", "loss", 1)
    assert claim.verdict == "inconclusive"
    assert beats_at_every_budget_claim(same, a, "a", b, "b", "loss", 30).verdict == "not measurable"
