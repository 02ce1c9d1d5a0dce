"""The experiments `adamlab report` knows, by the sweep name their config gives.

A results folder names its sweep (`adamlab-results.json` -> "sweep"); the experiment of that
name judges it. `--experiment NAME` judges a folder whose sweep was renamed (a cut-down copy of a
config, say).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from adamlab.errors import AdamlabError
from adamlab.experiments import preregistered
from adamlab.experiments.criteria import CRITERIA_FILE, Criterion, criteria_record
from adamlab.store.atomic import write_text_atomic

if TYPE_CHECKING:
    from adamlab.experiments.claims import Claim
    from adamlab.store.tables import Results


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    #: the sweep that produces the results, relative to the repository root
    config: str
    #: "module:function" of its `claims(results) -> list[Claim]`
    claims_function: str
    #: what decides each claim, stored in a results folder by its first sweep
    criteria: tuple[Criterion, ...] = ()

    @property
    def claims(self) -> Callable[[Results], list[Claim]]:
        """The function that measures its claims (its module needs pandas: imported on use)."""
        module, name = self.claims_function.split(":")
        return getattr(importlib.import_module(module), name)  # lazy: pandas, only to judge


EXPERIMENTS: dict[str, Experiment] = {
    experiment.name: experiment
    for experiment in [
        Experiment(
            "quickstart",
            "Adam/AdamW vs SGD and momentum on a quadratic and a Zipf embedding table",
            "configs/quickstart.yaml",
            "adamlab.experiments.quickstart:claims",
            preregistered.QUICKSTART,
        ),
        Experiment(
            "bias_correction",
            "Adam with and without bias correction, and warmup instead (Kingma & Ba 2014, section 6.4)",
            "configs/bias_correction.yaml",
            "adamlab.experiments.bias_correction:claims",
            preregistered.BIAS_CORRECTION,
        ),
        Experiment(
            "bias_correction_mnist",
            "Adam with and without bias correction on MNIST, β2 0.99 and 0.999 (Kingma & Ba 2014, 6.4)",
            "configs/bias_correction_mnist.yaml",
            "adamlab.experiments.bias_correction:claims",
            preregistered.BIAS_CORRECTION,
        ),
        Experiment(
            "weight_decay",
            "weight decay in three parametrisations: Adam-L2, AdamW wd×lr, AdamW wd×schedule (Loshchilov & Hutter 2019)",
            "configs/weight_decay.yaml",
            "adamlab.experiments.weight_decay:claims",
            preregistered.WEIGHT_DECAY,
        ),
        Experiment(
            "weight_decay_null",
            "negative control: weight_decay's claims on weight decays too small to matter",
            "configs/controls/weight_decay_null.yaml",
            "adamlab.experiments.weight_decay:claims",
            preregistered.WEIGHT_DECAY,
        ),
        Experiment(
            "embedding_sparsity",
            "rare rows of a Zipf embedding table: SGD and momentum vs Adam and AdamW",
            "configs/embedding_sparsity.yaml",
            "adamlab.experiments.embedding_sparsity:claims",
            preregistered.EMBEDDING_SPARSITY,
        ),
        Experiment(
            "embedding_sparse",
            "rare rows of a Zipf embedding table with sparse gradients: SGD vs SparseAdam",
            "configs/embedding_sparse.yaml",
            "adamlab.experiments.embedding_sparse:claims",
            preregistered.EMBEDDING_SPARSE,
        ),
    ]
}


def store_criteria(results_dir: Path, sweep_name: str) -> None:
    """Write criteria.json into `results_dir` unless it is there already (the first sweep's
    criteria stay) or the sweep is not a registered experiment."""
    path = Path(results_dir) / CRITERIA_FILE
    experiment = EXPERIMENTS.get(sweep_name)
    if experiment is None or not experiment.criteria or os.path.lexists(path):
        return
    record = criteria_record(experiment.name, experiment.criteria)
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def experiment_names() -> list[str]:
    return list(EXPERIMENTS)


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise AdamlabError(
            f"--experiment: unknown experiment {name!r}; allowed: {', '.join(experiment_names())}"
        ) from None


def experiment_for(results: Results, name: str | None = None) -> Experiment:
    """The experiment named `name`, else the one named like the results' sweep."""
    if name is not None:
        return get_experiment(name)
    if results.sweep in EXPERIMENTS:
        return EXPERIMENTS[results.sweep]
    raise AdamlabError(
        f"{results.root}: sweep {results.sweep!r} is not one of the experiments "
        f"({', '.join(experiment_names())}); name one with --experiment NAME"
    )


def judge(results: Results, name: str | None = None) -> tuple[Experiment, list[Claim]]:
    """The experiment for `results` and its claims measured on them."""
    experiment = experiment_for(results, name)
    return experiment, experiment.claims(results)
