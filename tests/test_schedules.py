"""Learning-rate schedules: eta_t against the formulas, computed by hand."""

from __future__ import annotations

import math

import pytest

from adamlab.optimizers.schedules import Schedule, split_schedule


def test_constant_is_one_everywhere():
    schedule = Schedule("constant", 0, 10)
    assert schedule.constant
    assert [schedule.multiplier(t) for t in range(1, 11)] == [1.0] * 10


def test_warmup_rises_linearly_to_one_then_holds():
    schedule = Schedule("constant", 4, 10)
    assert not schedule.constant
    assert [schedule.multiplier(t) for t in range(1, 8)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_cosine_from_one_to_zero_after_the_warmup():
    schedule = Schedule("cosine", 2, 10)
    # t <= 2: warmup; then (1 + cos(pi (t - 2) / 8)) / 2
    assert schedule.multiplier(1) == 0.5 and schedule.multiplier(2) == 1.0
    assert schedule.multiplier(3) == pytest.approx((1 + math.cos(math.pi / 8)) / 2)
    assert schedule.multiplier(6) == pytest.approx(0.5)
    assert schedule.multiplier(10) == pytest.approx(0.0, abs=1e-16)
    no_warmup = Schedule("cosine", 0, 4)
    assert [no_warmup.multiplier(t) for t in range(1, 5)] == pytest.approx(
        [(1 + math.cos(math.pi * t / 4)) / 2 for t in range(1, 5)]
    )


def test_linear_from_one_to_zero_after_the_warmup():
    schedule = Schedule("linear", 2, 6)
    assert [schedule.multiplier(t) for t in range(1, 7)] == pytest.approx(
        [0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    )


def test_a_warmup_as_long_as_the_run_never_decays():
    assert Schedule("cosine", 5, 5).multiplier(5) == 1.0


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine, linear"):
        Schedule("step", 0, 10)
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 0"):
        Schedule("constant", -1, 10)


def test_a_trials_hyperparameters_split_into_the_optimizers_and_the_schedules():
    own, schedule = split_schedule({"lr": 0.1, "schedule": "cosine", "warmup_steps": 3})
    assert own == {"lr": 0.1} and schedule == {"schedule": "cosine", "warmup_steps": 3}
    assert Schedule.of(schedule, 10) == Schedule("cosine", 3, 10)
    assert Schedule.of(own, 10).constant
