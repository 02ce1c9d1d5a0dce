"""Small-sample statistics and grid edges against hand computation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from adamlab.analysis.grid_edges import grid_edges
from adamlab.analysis.stats import (
    clipped_t_interval,
    f_sf,
    holm,
    incomplete_beta,
    log_t_interval,
    p_beyond,
    paired_comparison,
    repeated_measures_p,
    t_cdf,
    welch_comparison,
)
from adamlab.experiments.claims import (
    Part,
    combine,
    comparison_part,
    interval_verdict,
    parts_verdict,
)

approx = pytest.approx
T2 = 4.30265272974946  # t(0.975, 2)


def test_incomplete_beta_and_distributions_by_closed_form():
    # I_x(1, 1) = x; I_x(a, 1) = x^a
    assert incomplete_beta(1, 1, 0.3) == approx(0.3)
    assert incomplete_beta(2.5, 1, 0.4) == approx(0.4**2.5)
    # t with 1 df is Cauchy: P(T <= t) = 1/2 + atan(t)/pi
    assert t_cdf(1.7, 1) == approx(0.5 + math.atan(1.7) / math.pi)
    # t with 2 df: P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2))
    assert t_cdf(-0.8, 2) == approx(0.5 - 0.8 / (2 * math.sqrt(2 + 0.64)))
    # F(2, d2): P(F > f) = (1 + 2f/d2)^(-d2/2)
    assert f_sf(3.0, 2, 6) == approx((1 + 1.0) ** -3)


def test_paired_log_ratio_by_hand():
    config = {0: 0.5, 1: 0.4, 2: 0.9}
    reference = {0: 1.0, 1: 1.0, 2: 1.5, 3: 2.0}
    logs = [math.log(0.5), math.log(0.4), math.log(0.6)]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    c = paired_comparison(config, reference, scale="ratio", left_out=1)
    assert (c.method, c.n, c.left_out) == ("paired", 3, 1)
    assert c.estimate == approx(math.exp(mean))
    assert (c.low, c.high) == approx((math.exp(mean - T2 * sd / math.sqrt(3)),
                                      math.exp(mean + T2 * sd / math.sqrt(3))))
    t = mean / (sd / math.sqrt(3))
    assert c.p == approx(2 * (1 - t_cdf(abs(t), 2)))


def test_paired_difference_and_one_pair():
    c = paired_comparison({0: -1.0, 1: 0.0}, {0: 0.0, 1: 0.0}, scale="difference")
    assert c.estimate == approx(-0.5) and c.no_difference == 0.0
    half = 12.7062047361747 * math.sqrt(0.5) / math.sqrt(2)
    assert (c.low, c.high) == approx((-0.5 - half, -0.5 + half))
    one = paired_comparison({0: 2.0}, {0: 1.0}, scale="ratio")
    assert one.estimate == approx(2.0) and not one.has_interval and math.isnan(one.p)
    assert paired_comparison({0: 1.0}, {1: 1.0}, scale="ratio") is None


def test_welch_by_hand():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0]
    c = welch_comparison(a, b, scale="difference")
    va, vb = 1.0 / 3, 2.0 / 2
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 1)
    assert c.method == "welch" and c.estimate == approx(-1.0)
    t = -1.0 / math.sqrt(va + vb)
    assert c.p == approx(2 * (1 - t_cdf(abs(t), df)))


def test_holm_step_down():
    # sorted 0.01, 0.03, 0.04 with m = 3: 0.03, 0.06, max(0.06, 0.04) = 0.06
    assert holm([0.04, 0.01, 0.03]) == approx([0.06, 0.03, 0.06])
    assert math.isnan(holm([0.2, math.nan])[1]) and holm([0.2, math.nan])[0] == approx(0.2)


def test_repeated_measures_f_by_hand():
    # 3 seeds x 2 treatments: treatment differences 1, 2, 3 -> the paired t-test, F = t^2
    table = [[0.0, 1.0], [5.0, 7.0], [2.0, 5.0]]
    diffs = [b - a for a, b in table]  # 1, 2, 3: mean 2, sd 1
    mean = sum(diffs) / 3
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2)
    t = mean / (sd / math.sqrt(3))
    assert repeated_measures_p(table) == approx(2 * (1 - t_cdf(t, 2)))
    assert repeated_measures_p([[1.0, 1.0], [2.0, 2.0]]) == 1.0  # no effect, no noise
    assert math.isnan(repeated_measures_p([[1.0, 2.0]]))


def test_verdict_rules():
    assert interval_verdict(5.5, 9.0, 5.0, above=True) == "holds"
    assert interval_verdict(2.0, 4.9, 5.0, above=True) == "fails"
    assert interval_verdict(4.0, 6.0, 5.0, above=True) == "inconclusive"
    assert interval_verdict(math.nan, math.nan, 5.0, above=True) == "inconclusive"
    assert interval_verdict(0.8, 0.9, 0.95, above=False) == "holds"
    assert combine(["holds", "holds"]) == "holds"
    assert combine(["holds", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "fails"]) == "fails"


def test_one_sided_tests_against_a_threshold_by_hand():
    diffs = [0.1, 0.2, 0.3]  # mean 0.2, sd 0.1, se 0.1/sqrt(3)
    above, below = p_beyond(diffs, 0.0)
    assert above == approx(1 - t_cdf(0.2 / (0.1 / math.sqrt(3)), 2)) and below == approx(1 - above)
    assert p_beyond([0.0, 0.0, 0.0], math.log(0.99)) == (0.0, 1.0)  # no spread: the sign decides
    assert p_beyond([0.5], 0.0) == (1.0, 1.0)  # one pair decides nothing


def test_a_minimum_effect_a_consistent_tiny_difference_does_not_hold():
    # 1e-7 relative on every seed: beyond "no difference" but not beyond a 1% effect
    mine, theirs = {s: 1.0 + 1e-7 for s in range(5)}, {s: 1.0 for s in range(5)}
    part = comparison_part("x", mine, theirs, scale="ratio", threshold=1.01, above=True)
    assert parts_verdict([part]) == "fails"
    assert parts_verdict([comparison_part("x", mine, theirs, scale="ratio", threshold=1.0,
                                          above=True)]) == "holds"


def test_parts_are_holm_adjusted_in_each_direction():
    # one part fails at p = 0.02 unadjusted, 0.06 after Holm over 3: not a failure
    parts = [Part("a", 0.0, 1.0), Part("b", 0.5, 0.02), Part("c", 0.0, 1.0)]
    assert parts_verdict(parts) == "inconclusive"
    assert parts_verdict([Part("b", 0.5, 0.02)]) == "fails"
    assert parts_verdict([Part("a", 0.01, 0.99), Part("c", 0.012, 0.99)]) == "holds"
    assert parts_verdict([Part("a", 0.01, 0.99), Part("c", 0.03, 0.97)]) == "inconclusive"


def test_intervals_stay_in_the_metric_range():
    centre, low, high = log_t_interval([0.001, 0.02, 0.03])
    assert 0 < low < centre < high and centre == approx((0.001 * 0.02 * 0.03) ** (1 / 3))
    assert log_t_interval([0.5]) == (0.5, *[math.nan] * 2) or math.isnan(log_t_interval([0.5])[1])
    low, high = clipped_t_interval([0.2, 0.9, 0.99], 0.0, 1.0)
    assert 0.0 <= low and high == 1.0


def line(lrs, diverged=()):
    return pd.DataFrame({
        "config_id": range(len(lrs)),
        "hp.lr": lrs,
        "hp.beta1": [0.9] * len(lrs),
        "n_diverged": [1 if lr in diverged else 0 for lr in lrs],
    })


@pytest.mark.parametrize(
    ("lrs", "best", "diverged", "expected"),
    [
        ([0.01, 0.1, 1.0], 0.1, (), {}),  # bracketed on both sides
        ([0.01, 0.1, 1.0], 1.0, (), {"hp.lr": "open"}),  # top of the grid
        ([0.01, 0.1, 1.0], 0.01, (), {"hp.lr": "open"}),  # bottom
        ([0.01, 0.1, 0.2], 0.1, (0.2,), {"hp.lr": "stability limit"}),  # 2x away: bracketed
        ([0.01, 0.1, 1.0], 0.1, (1.0,), {"hp.lr": "refine"}),  # 10x away: refine between
        ([0.1], 0.1, (), {"hp.lr": "untuned"}),
    ],
)
def test_grid_edge_cases(lrs, best, diverged, expected):
    configs = line(lrs, diverged)
    row = configs[configs["hp.lr"] == best].iloc[0]
    edges = grid_edges(configs, row)
    assert {hp: e.flag for hp, e in edges.items()} == expected
    if expected.get("hp.lr") == "refine":
        assert edges["hp.lr"].detail == "lr=1 diverged: refine between 0.1 and 1"
        assert not edges["hp.lr"].bracketed
    if expected.get("hp.lr") == "stability limit":
        assert edges["hp.lr"].bracketed


@pytest.mark.parametrize(
    ("hparam", "grid", "best", "expected"),
    [
        ("weight_decay", [0.0, 0.001, 0.01], 0.0, {}),  # 0 is the domain's lower limit
        ("beta1", [0.0, 0.5, 0.9], 0.0, {}),
        ("weight_decay", [0.0001, 0.001, 0.01], 0.0001, {"hp.weight_decay": "open"}),
        ("weight_decay", [0.0, 0.001, 0.01], 0.01, {"hp.weight_decay": "open"}),  # top still open
    ],
)
def test_a_best_at_a_zero_lower_limit_is_not_an_open_edge(hparam, grid, best, expected):
    configs = pd.DataFrame({
        "config_id": range(len(grid)),
        "hp.lr": [0.1] * len(grid),
        f"hp.{hparam}": grid,
        "n_diverged": [0] * len(grid),
    })
    row = configs[configs[f"hp.{hparam}"] == best].iloc[0]
    edges = grid_edges(configs, row, [f"hp.{hparam}"])
    assert {hp: e.flag for hp, e in edges.items()} == expected


def test_grid_edges_judge_the_line_through_the_best():
    # lr=1 diverged only at beta1=0.5, not on the best's line (beta1=0.9)
    configs = pd.DataFrame({
        "config_id": range(6),
        "hp.lr": [0.01, 0.1, 1.0] * 2,
        "hp.beta1": [0.9] * 3 + [0.5] * 3,
        "n_diverged": [0, 0, 0, 0, 0, 1],
    })
    edges = grid_edges(configs, configs.iloc[1])
    assert edges == {"hp.beta1": edges["hp.beta1"]} and edges["hp.beta1"].flag == "open"
