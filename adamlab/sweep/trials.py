"""Trials: the unit a sweep runs, and its id.

A trial is one (task with resolved params, optimizer with every hyperparameter, seed, step counts,
divergence factor, device type). Its id is the first 16 hex digits of the sha256 of the canonical
JSON of exactly those fields, so the same configuration has the same id in any sweep, on any
machine, and a changed configuration never reuses an old result. The entry's label (`variant`)
and the exact device index are not part of the id: two entries that resolve to the same
configuration are one trial.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from adamlab.store.identity import (
    ID_LENGTH,
    IDENTITY_FIELDS,
    TARGET_FIELDS,
    canonical_json,
    identity_of,
    trial_id_of,
)
from adamlab.sweep.resolved import Sweep

__all__ = ["ID_LENGTH", "Trial", "canonical_json", "expand_trials", "shown_hparams", "trial_id_of"]


@dataclass(frozen=True)
class Trial:
    task: str
    task_params: dict[str, Any]
    optimizer: str
    hparams: dict[str, Any]
    seed: int
    steps: int
    batch_size: int
    log_every: int
    eval_every: int
    divergence_factor: float
    #: device type, 'cpu' or 'cuda' (part of the id: results may differ across device types)
    device: str
    #: the entry label this trial came from (e.g. 'adam-nobc'); not part of the id
    variant: str = field(default="", compare=False)
    #: the exact device to run on ('cuda:1'); not part of the id
    device_spec: str = field(default="", compare=False)
    #: "module:attribute" of a plug-in optimizer / task given by target: ("" when registered);
    #: part of the id only when set, so registered optimizers' and tasks' ids are unchanged
    optimizer_target: str = ""
    task_target: str = ""
    #: where plug-in modules are imported from first (the sweep file's folder); not part of the id
    folder: str | None = field(default=None, compare=False)
    trial_id: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trial_id", trial_id_of(self.identity()))
        if not self.device_spec:
            object.__setattr__(self, "device_spec", self.device)
        if not self.variant:
            object.__setattr__(self, "variant", self.optimizer)

    def identity(self) -> dict[str, Any]:
        """Exactly the fields the id hashes (adamlab.store.identity: the targets only when set)."""
        return identity_of({name: getattr(self, name) for name in (*IDENTITY_FIELDS, *TARGET_FIELDS)})

    def label(self, shown: dict[str, list[str]] | None = None) -> str:
        """Short human label: 'adam-nobc lr=0.001 beta2=0.99 seed=0 on quadratic'.

        `shown` maps a variant label to the hyperparameters worth naming (see `shown_hparams`).
        """
        names = (shown or {}).get(self.variant, [])
        hps = " ".join(f"{k}={format_value(self.hparams[k])}" for k in names if k in self.hparams)
        return " ".join(part for part in (self.variant, hps, f"seed={self.seed}", f"on {self.task}") if part)


def format_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def expand_trials(sweep: Sweep) -> list[Trial]:
    """Every trial of the sweep, in order task -> optimizer entry -> grid point -> seed.

    Configurations that resolve identically (e.g. two entries overlapping on one grid point) are
    kept once, under the first entry's label.
    """
    trials: dict[str, Trial] = {}
    for task in sweep.tasks:
        for entry in sweep.optimizers:
            keys = list(entry.grid)
            spec = sweep.optimizer_spec(entry)
            for combo in itertools.product(*(entry.grid[k] for k in keys)):
                hparams = spec.trial_hparams(dict(zip(keys, combo, strict=True)))
                for seed in sweep.seeds:
                    trial = Trial(
                        task=task.name,
                        task_params=dict(task.params),
                        optimizer=entry.optimizer,
                        hparams=hparams,
                        seed=seed,
                        steps=task.steps,
                        batch_size=task.batch_size,
                        log_every=task.log_every,
                        eval_every=task.eval_every,
                        divergence_factor=sweep.divergence_factor,
                        device=sweep.device_type,
                        variant=entry.label,
                        device_spec=sweep.device,
                        optimizer_target=entry.target,
                        task_target=task.target,
                        folder=sweep.folder,
                    )
                    trials.setdefault(trial.trial_id, trial)
    return list(trials.values())


def shown_hparams(sweep: Sweep, trials: list[Trial]) -> dict[str, list[str]]:
    """Per variant label, the hyperparameters worth naming in a trial's label: those its entry
    sets in the YAML and those that vary among its trials (registry defaults left unsaid)."""
    keys: dict[str, set[str]] = {}
    for entry, explicit in zip(sweep.optimizers, sweep.explicit_hparams, strict=False):
        keys.setdefault(entry.label, set()).update(explicit)
    values: dict[str, dict[str, set[str]]] = {}
    for trial in trials:
        per = values.setdefault(trial.variant, {})
        for key, value in trial.hparams.items():
            per.setdefault(key, set()).add(canonical_json(value))
    order: dict[str, dict[str, None]] = {}
    for trial in trials:  # optional hyperparameters at their defaults are absent from some trials
        order.setdefault(trial.variant, {}).update(dict.fromkeys(trial.hparams))
    return {
        variant: [k for k in order[variant] if k in keys.get(variant, set()) or len(per[k]) > 1]
        for variant, per in values.items()
    }
