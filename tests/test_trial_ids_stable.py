"""Trial ids of the built-in optimizers and tasks are what they were before plug-ins came through
the same door (digests of every id of each config, in order, computed on main before the change)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trials import expand_trials

ROOT = Path(__file__).resolve().parents[1]

#: config -> (trial count, sha256[:16] of the comma-joined ids), recorded on main at 7d66203
IDS_ON_MAIN = {
    "configs/quickstart.yaml": (100, "7b9da85c7022c6b9"),
    "configs/embedding_sparsity.yaml": (265, "0744b633039de727"),
    "configs/bias_correction.yaml": (810, "c521a5767648f5a7"),
    "configs/embedding_sparse.yaml": (75, "ea5d6b5feda373e7"),
}
#: these count epochs on MNIST (the data is read to learn an epoch's length)
MNIST_IDS_ON_MAIN = {
    "configs/controls/weight_decay_null.yaml": (90, "0b717145b9bfc4f4"),
    "configs/weight_decay.yaml": (385, "83abf88bcc93bfa5"),
    "configs/bias_correction_mnist.yaml": (150, "f0e70889c57a6419"),
}


def _digest(config: str) -> tuple[int, str]:
    trials = expand_trials(load_sweep(ROOT / config, preflight=False))
    joined = ",".join(t.trial_id for t in trials)
    return len(trials), hashlib.sha256(joined.encode()).hexdigest()[:16]


@pytest.mark.parametrize("config", sorted(IDS_ON_MAIN))
def test_builtin_trial_ids_unchanged(config):
    assert _digest(config) == IDS_ON_MAIN[config]


@pytest.mark.parametrize("config", sorted(MNIST_IDS_ON_MAIN))
def test_mnist_trial_ids_unchanged(config, monkeypatch):
    import os

    if not os.environ.get("ADAMLAB_DATA"):
        pytest.skip("ADAMLAB_DATA is not set: these configs count epochs of MNIST")
    assert _digest(config) == MNIST_IDS_ON_MAIN[config]
