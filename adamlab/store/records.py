"""One finished trial, as the runner hands it to the store and the store writes it to disk.

A sweep's results folder holds one `trials/<trial_id>.json` per trial that ended (finished,
diverged or failed); its presence is what makes a re-run skip that trial. The sweep-wide tables
(trials.csv, metrics.csv) are derived from these files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from adamlab.store.atomic import write_text_atomic

TrialStatus = Literal["finished", "diverged", "failed"]


@dataclass
class TrialRecord:
    trial_id: str
    sweep: str
    task: str
    task_params: dict[str, Any]
    #: registry name of the optimizer (e.g. "adam")
    optimizer: str
    #: display name of the configured entry (e.g. "adam-nobc"); equals optimizer when unnamed
    variant: str
    #: every hyperparameter the optimizer was built with, defaults included
    hparams: dict[str, Any]
    seed: int
    steps: int
    batch_size: int
    device: str
    status: TrialStatus
    steps_run: int
    wall_time_s: float
    #: last recorded value of each metric
    final: dict[str, float] = field(default_factory=dict)
    #: best recorded value of each metric (min, or max for metrics whose goal is "max")
    best: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    #: long-format metric log, column-wise: step, wall_time, metric, value (equal lengths)
    metrics: dict[str, list] = field(
        default_factory=lambda: {"step": [], "wall_time": [], "metric": [], "value": []}
    )
    adamlab_version: str = ""

    def to_json(self) -> str:
        # the fields as they are: asdict() would deep-copy every metric value first (~10x slower)
        fields_ = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(fields_, allow_nan=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrialRecord:
        return cls(**json.loads(text))

    def write(self, trials_dir: Path) -> Path:
        path = Path(trials_dir) / f"{self.trial_id}.json"
        write_text_atomic(path, self.to_json())
        return path
