"""The sweeps in configs/: each validates, expands to the trial count its header states, and is
an experiment `adamlab report` knows."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from adamlab.experiments.registry import EXPERIMENTS
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trials import expand_trials

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
#: "# 504 trials = 2 tasks x ..." in the comment header
STATED_COUNT = re.compile(r"^# ([\d,]+) trials = ", re.MULTILINE)


@functools.cache
def sweep_of(path: Path):
    return load_sweep(path)


def test_the_shipped_experiments_are_all_there():
    assert {p.stem for p in CONFIGS} == {
        "quickstart", "bias_correction", "weight_decay", "embedding_sparsity", "embedding_sparse",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_validates_and_expands_to_the_count_its_header_states(path: Path):
    text = path.read_text()
    header = text.split("\nname:")[0]
    assert header.startswith("# ") and "Expect" in header, "a comment header says what to expect"
    stated = STATED_COUNT.findall(header)
    assert len(stated) == 1, "the header states the trial count once"
    sweep = sweep_of(path)
    assert sweep.name == path.stem
    assert len(expand_trials(sweep)) == int(stated[0].replace(",", ""))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_is_a_registered_experiment_pointing_back_at_it(path: Path):
    experiment = EXPERIMENTS[path.stem]
    assert experiment.config == f"configs/{path.name}"


def test_configs_leave_the_mnist_folder_to_the_environment():
    # a path in a config would tie the results (and trial ids) to one machine's layout
    for path in CONFIGS:
        sweep = sweep_of(path)
        for task in sweep.tasks:
            if task.name == "mnist_mlp":
                assert task.params["data_dir"] is None, path
