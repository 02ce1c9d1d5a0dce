"""Hand-built results for the experiment claims: real TrialRecords with chosen metric values."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from adamlab.store.records import TrialRecord
from adamlab.store.tables import Results, metric_logs, trials_frame

ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
        "amsgrad": False, "bias_correction": True}
DEFAULTS = {
    "adam": ADAM,
    "adamw": {**ADAM, "weight_decay": 1e-2},
    "sgd": {"lr": 1e-2, "weight_decay": 0.0},
    "momentum": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0},
    "sparse_adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


def record(task: str, optimizer: str, hparams: dict, seed: int, log: dict[int, dict[str, float]],
           *, variant: str | None = None, status: str = "finished", sweep: str = "hand",
           task_params: dict | None = None) -> TrialRecord:
    """A trial whose metric log is `log` {step: {metric: value}}; a diverged trial's last logged
    step is where it stopped."""
    full = {**DEFAULTS[optimizer], **hparams}
    steps = sorted(log)
    columns = {"step": [], "wall_time": [], "metric": [], "value": []}
    final: dict[str, float] = {}
    for step in steps:
        for metric, value in log[step].items():
            columns["step"].append(step)
            columns["wall_time"].append(step / 1000)
            columns["metric"].append(metric)
            columns["value"].append(value)
            final[metric] = value
    identity = json.dumps([task, task_params, optimizer, full, seed], sort_keys=True)
    return TrialRecord(
        trial_id=hashlib.sha256(identity.encode()).hexdigest()[:16], sweep=sweep, task=task,
        task_params=dict(task_params or {}), optimizer=optimizer, variant=variant or optimizer,
        hparams=full, seed=seed, steps=steps[-1] if steps else 0, batch_size=128, device="cpu",
        status=status, steps_run=steps[-1] if steps else 0, wall_time_s=1.0, final=final,
        best={k: v for k, v in final.items() if not math.isnan(v)}, metrics=columns,
        adamlab_version="0.1.0",
    )


def results_of(records: list[TrialRecord], sweep: str = "hand") -> Results:
    """The records as `load_results` would return them, without a folder."""
    return Results(
        root=Path(sweep), layout_version=1, manifest={"layout_version": 1, "sweep": sweep},
        provenance={}, trials=trials_frame(records), logs=metric_logs(records),
    )


def write_folder(root: Path, records: list[TrialRecord], sweep: str) -> Path:
    """The records as a results folder on disk (what `adamlab report` reads)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "adamlab-results.json").write_text(json.dumps(
        {"layout_version": 1, "adamlab_version": "0.1.0", "sweep": sweep,
         "created": "2025-01-01T00:00:00+00:00"}))
    (root / "provenance.json").write_text(json.dumps({"adamlab": "0.1.0"}))
    for r in records:
        r.write(root / "trials")
    return root
