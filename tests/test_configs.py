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

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
#: negative controls: configs whose effect is absent by construction
CONTROLS = sorted((ROOT / "configs" / "controls").glob("*.yaml"))
#: "# 504 trials = 2 tasks x ..." in the comment header
STATED_COUNT = re.compile(r"^# ([\d,]+) trials = ", re.MULTILINE)


@functools.cache
def sweep_of(path: Path):
    return load_sweep(path)


def test_the_shipped_experiments_are_all_there():
    assert {p.stem for p in CONFIGS} == {
        "quickstart", "bias_correction", "weight_decay", "embedding_sparsity", "embedding_sparse",
    }


def test_the_negative_controls_are_there():
    assert {p.stem for p in CONTROLS} == {"weight_decay_null"}


@pytest.mark.parametrize("path", CONFIGS + CONTROLS, ids=lambda p: p.stem)
def test_config_validates_and_expands_to_the_count_its_header_states(path: Path):
    text = path.read_text()
    header = text.split("\nname:")[0]
    assert header.startswith("# ") and ("Expect" in header or "NEGATIVE CONTROL" in header), (
        "a comment header says what to expect"
    )
    stated = STATED_COUNT.findall(header)
    assert len(stated) == 1, "the header states the trial count once"
    sweep = sweep_of(path)
    assert sweep.name == path.stem
    assert len(expand_trials(sweep)) == int(stated[0].replace(",", ""))


@pytest.mark.parametrize("path", CONFIGS + CONTROLS, ids=lambda p: p.stem)
def test_config_is_a_registered_experiment_pointing_back_at_it(path: Path):
    experiment = EXPERIMENTS[path.stem]
    assert experiment.config == str(path.relative_to(ROOT))


def test_configs_leave_the_mnist_folder_to_the_environment():
    # a path in a config would tie the results (and trial ids) to one machine's layout
    for path in CONFIGS + CONTROLS:
        sweep = sweep_of(path)
        for task in sweep.tasks:
            if task.name == "mnist_mlp":
                assert task.params["data_dir"] is None, path
