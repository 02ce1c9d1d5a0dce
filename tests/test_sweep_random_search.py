"""Random search values: drawn from the spec's seed, so the same file gives the same trial ids."""

from __future__ import annotations

import math

import pytest

from adamlab.sweep.schema import SweepConfigError, load_sweep
from adamlab.sweep.trials import expand_trials
from adamlab.sweep.values import ValueSpecError, expand_values

HEAD = "name: t\nsteps: 5\ntasks:\n  - name: quadratic\n    params: {dim: 2}\noptimizers:\n"


def test_loguniform_draws_in_range_log_spread_sorted_and_repeatable():
    values, paths = expand_values({"loguniform": [1.0e-5, 1.0], "samples": 20})
    assert len(values) == 20 and values == sorted(values) and paths == [".loguniform"] * 20
    assert all(1e-5 <= v <= 1.0 for v in values)
    assert min(values) < 1e-3 < max(values)  # spread over decades, not bunched near 1
    assert expand_values({"loguniform": [1.0e-5, 1.0], "samples": 20})[0] == values
    assert expand_values({"loguniform": [1.0e-5, 1.0], "samples": 20, "seed": 0})[0] == values
    other = expand_values({"loguniform": [1.0e-5, 1.0], "samples": 20, "seed": 1})[0]
    assert other != values
    uniform = expand_values({"uniform": [0.0, 0.1], "samples": 5, "seed": 3})[0]
    assert all(0.0 <= v <= 0.1 for v in uniform) and len(set(uniform)) == 5
    assert all(v == float(f"{v:.12g}") for v in values + uniform)  # 12 significant digits


def test_the_draws_are_pinned():
    """The values (hence trial ids) of a file never change: pinned for seed 0."""
    assert expand_values({"uniform": [0.0, 1.0], "samples": 3})[0] == [
        0.420571580831, 0.75795440294, 0.844421851525]


def test_same_file_same_trial_ids(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "  - name: adam\n    lr: {loguniform: [1.0e-5, 1.0], samples: 4, "
                           "seed: 7}\n    beta2: {uniform: [0.9, 0.999], samples: 2, seed: 8}\n")
    first = [t.trial_id for t in expand_trials(load_sweep(path))]
    again = [t.trial_id for t in expand_trials(load_sweep(path))]
    assert len(first) == 8 and first == again


@pytest.mark.parametrize(("spec", "where", "message"), [
    ({"loguniform": [0.0, 1.0], "samples": 3}, ".loguniform[0]", "must be > 0"),
    ({"uniform": [1.0, 0.5], "samples": 3}, ".uniform", "low must be below high"),
    ({"uniform": [0.0, 1.0]}, ".samples", "required with uniform"),
    ({"uniform": [0.0, 1.0], "samples": 0}, ".samples", "integer >= 1"),
    ({"uniform": [0.0, 1.0], "samples": 2, "seed": -1}, ".seed", "integer >= 0"),
    ({"uniform": [0.0, 1.0], "samples": 2, "sed": 1}, ".sed", "allowed with uniform: samples, seed"),
    ({"uniform": [0.0, math.inf], "samples": 2}, ".uniform[1]", "finite number"),
])
def test_bad_random_specs_are_one_line_errors(spec, where, message):
    with pytest.raises(ValueSpecError) as raised:
        expand_values(spec, max_count=100)
    assert raised.value.path == where and message in raised.value.message


def test_a_bad_random_spec_in_a_file_names_the_key_and_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(HEAD + "  - name: sgd\n    lr: {loguniform: [1.0e-5, 1.0], samples: 0}\n")
    with pytest.raises(SweepConfigError) as raised:
        load_sweep(path)
    assert "optimizers[0].lr.samples: must be an integer >= 1, got 0" in str(raised.value)
