"""A small results folder with hand-chosen numbers, written as the sweep engine writes it.

Every trial is a real TrialRecord. Task `quadratic` (train_loss logged at steps 10, 20, 30, 40):

  config                        seeds' train_loss curves (steps 10/20/30/40)       final mean
  sgd lr=0.1                    [1,.7,.5,.4] [1,.8,.6,.5] [1,.9,.7,.6]              0.5   <- best SGD
  sgd lr=1                      [1,.5,.3,.2] [1,.5,.3,.2] + 1 diverged at step 15   0.2  (1 bad seed)
  momentum lr=0.01              [1,.6,.4,.2] [1,.6,.4,.3] [1,.6,.4,.25]             0.25  <- best momentum
  momentum lr=0.1               [1,.2,.3,.3] [1,.2,.3,.4] [1,.2,.3,.35]             0.35 (best-ever 0.2)
  adam lr=0.01 beta2=0.99       [1,.5,.3,.1] [1,.5,.3,.3]                           0.2   (2 seeds)
  adam lr=0.01 beta2=0.999      [1,.5,.3,.1] [1,.5,.3,.2] [1,.5,.3,.15]             0.15
  adam lr=0.1  beta2=0.99       [1,.1,.05,.01] [1,.1,.05,.01] + 1 diverged at 35    0.01 (1 bad seed)
  adam lr=0.1  beta2=0.999      [1,.4,.2,.05] [1,.5,.2,.1] [1,.45,.2,.15]           0.1   <- best adam
  adam-nobc (adam, bias_correction=false) lr=0.1
                                [1,.6,.4,.3] [1,.6,.4,.3] + 1 failed                0.3  (1 bad seed)

The diverged trials log [1, 5] (steps 10, 20 / 10, 20, 30) before diverging: the one at step 35
is fine at step 20 ([1, .3, .2] -> 0.3 at step 20).

Task `mnist_mlp` (train_loss at 10..40, test_accuracy at 20 and 40, 2 seeds each): adamw over
lr {0.001, 0.01} x weight_decay {0, 0.1}, and sgd lr=0.1.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from adamlab.store.records import TrialRecord

STEPS = [10, 20, 30, 40]
NAN = float("nan")

ADAM_DEFAULTS = {
    "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
    "amsgrad": False, "bias_correction": True,
}
DEFAULTS = {
    "sgd": {"lr": 1e-2, "weight_decay": 0.0},
    "momentum": {"lr": 1e-2, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0},
    "adam": ADAM_DEFAULTS,
    "adamw": {**ADAM_DEFAULTS, "weight_decay": 1e-2},
}
QUADRATIC_PARAMS = {"preset": "deepobs", "dim": 100, "noise": 0.1}
MNIST_PARAMS = {"widths": [256], "data_dir": "data/mnist"}

MANIFEST = {
    "layout_version": 1,
    "adamlab_version": "0.1.0",
    "sweep": "hand",
    "created": "2025-01-01T00:00:00+00:00",
    "tasks": {
        "quadratic": {
            "primary_metric": "train_loss",
            "metric_goals": {"train_loss": "min", "distance_to_opt": "min"},
        },
        "mnist_mlp": {
            "primary_metric": "test_accuracy",
            "metric_goals": {"train_loss": "min", "test_loss": "min", "test_accuracy": "max"},
        },
    },
}

# (variant, optimizer, hyperparameters, [per-seed curve | "diverged@STEP" | "failed"])
QUADRATIC = [
    ("sgd", "sgd", {"lr": 0.1}, [[1, .7, .5, .4], [1, .8, .6, .5], [1, .9, .7, .6]]),
    ("sgd", "sgd", {"lr": 1.0}, [[1, .5, .3, .2], [1, .5, .3, .2], "diverged@15"]),
    ("momentum", "momentum", {"lr": 0.01},
     [[1, .6, .4, .2], [1, .6, .4, .3], [1, .6, .4, .25]]),
    ("momentum", "momentum", {"lr": 0.1},
     [[1, .2, .3, .3], [1, .2, .3, .4], [1, .2, .3, .35]]),
    ("adam", "adam", {"lr": 0.01, "beta2": 0.99}, [[1, .5, .3, .1], [1, .5, .3, .3]]),
    ("adam", "adam", {"lr": 0.01, "beta2": 0.999},
     [[1, .5, .3, .1], [1, .5, .3, .2], [1, .5, .3, .15]]),
    ("adam", "adam", {"lr": 0.1, "beta2": 0.99},
     [[1, .1, .05, .01], [1, .1, .05, .01], "diverged@35"]),
    ("adam", "adam", {"lr": 0.1, "beta2": 0.999},
     [[1, .4, .2, .05], [1, .5, .2, .1], [1, .45, .2, .15]]),
    ("adam-nobc", "adam", {"lr": 0.1, "bias_correction": False},
     [[1, .6, .4, .3], [1, .6, .4, .3], "failed"]),
]

# mnist: (variant, optimizer, hyperparameters, per-seed (train_loss curve, test_accuracy@20, @40))
MNIST = [
    ("adamw", "adamw", {"lr": 0.001, "weight_decay": 0.0},
     [([2.3, 1.0, .6, .4], .90, .93), ([2.3, 1.1, .7, .5], .89, .92)]),
    ("adamw", "adamw", {"lr": 0.001, "weight_decay": 0.1},
     [([2.3, 1.0, .6, .35], .91, .95), ([2.3, 1.0, .6, .45], .90, .94)]),
    ("adamw", "adamw", {"lr": 0.01, "weight_decay": 0.0},
     [([2.3, .8, .5, .3], .92, .94), ([2.3, .9, .5, .3], .92, .93)]),
    ("adamw", "adamw", {"lr": 0.01, "weight_decay": 0.1},
     [([2.3, .8, .5, .3], .93, .96), ([2.3, .8, .5, .3], .93, .97)]),
    ("sgd", "sgd", {"lr": 0.1},
     [([2.3, 1.5, 1.0, .8], .80, .88), ([2.3, 1.6, 1.1, .9], .79, .86)]),
]


def trial_id(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _record(task, task_params, variant, optimizer, hparams, seed, *, status, steps_run, log,
            error=None) -> TrialRecord:
    final: dict[str, float] = {}
    best: dict[str, float] = {}
    for metric, value in zip(log["metric"], log["value"], strict=True):
        final[metric] = value
        better = max if metric.endswith("accuracy") else min
        best[metric] = value if metric not in best else better(best[metric], value)
    full_hparams = {**DEFAULTS[optimizer], **hparams}
    return TrialRecord(
        trial_id=trial_id(task, task_params, optimizer, full_hparams, seed),
        sweep="hand", task=task, task_params=task_params, optimizer=optimizer, variant=variant,
        hparams=full_hparams, seed=seed, steps=40, batch_size=128, device="cpu",
        status=status, steps_run=steps_run, wall_time_s=1.5 + seed, final=final, best=best,
        error=error, metrics=log, adamlab_version="0.1.0",
    )


def _log(points: list[tuple[int, str, float]]) -> dict[str, list]:
    return {
        "step": [p[0] for p in points],
        "wall_time": [p[0] / 100 for p in points],
        "metric": [p[1] for p in points],
        "value": [p[2] for p in points],
    }


def quadratic_records() -> list[TrialRecord]:
    records = []
    for variant, optimizer, hparams, seeds in QUADRATIC:
        for seed, curve in enumerate(seeds):
            if curve == "failed":
                records.append(_record(
                    "quadratic", QUADRATIC_PARAMS, variant, optimizer, hparams, seed,
                    status="failed", steps_run=0, log=_log([]),
                    error="RuntimeError: out of cheese",
                ))
            elif isinstance(curve, str):
                at = int(curve.split("@")[1])
                values = [1.0, 0.3, 0.2] if at == 35 else [1.0]
                logged = [(s, "train_loss", v) for s, v in zip(STEPS, values, strict=False)]
                logged.append((at, "train_loss", NAN))
                records.append(_record(
                    "quadratic", QUADRATIC_PARAMS, variant, optimizer, hparams, seed,
                    status="diverged", steps_run=at, log=_log(logged),
                ))
            else:
                logged = [(s, "train_loss", float(v)) for s, v in zip(STEPS, curve, strict=True)]
                records.append(_record(
                    "quadratic", QUADRATIC_PARAMS, variant, optimizer, hparams, seed,
                    status="finished", steps_run=40, log=_log(logged),
                ))
    return records


def mnist_records() -> list[TrialRecord]:
    records = []
    for variant, optimizer, hparams, seeds in MNIST:
        for seed, (curve, acc20, acc40) in enumerate(seeds):
            logged = []
            for step, loss in zip(STEPS, curve, strict=True):
                logged.append((step, "train_loss", float(loss)))
                if step == 20:
                    logged.append((step, "test_accuracy", acc20))
            logged.append((40, "test_accuracy", acc40))
            records.append(_record(
                "mnist_mlp", MNIST_PARAMS, variant, optimizer, hparams, seed,
                status="finished", steps_run=40, log=_log(logged),
            ))
    return records


def write_results(root: Path, records: list[TrialRecord] | None = None,
                  manifest: dict | None = None) -> Path:
    """A results folder as layout version 1 describes it (tables not yet built)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "adamlab-results.json").write_text(json.dumps(manifest or MANIFEST))
    (root / "sweep.yaml").write_text("name: hand\n")
    (root / "provenance.json").write_text(json.dumps({
        "adamlab": "0.1.0", "torch": "2.14.1", "python": "3.11", "device": "cpu",
        "started": "2025-01-01T00:00:00+00:00", "ended": "2025-01-01T00:01:00+00:00",
    }))
    for record in records if records is not None else quadratic_records() + mnist_records():
        record.write(root / "trials")
    return root
