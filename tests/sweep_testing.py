"""Helpers for the sweep tests: small real sweeps on the quadratic task, written as YAML files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from adamlab.store.records import TrialRecord

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_yaml(directory: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = Path(directory) / name
    path.write_text(textwrap.dedent(text))
    return path


def quick_sweep(directory: Path, *, name: str = "quick", steps: int = 40, seeds: str = "[0, 1]",
                lrs: str = "[0.01, 0.1]", extra: str = "") -> Path:
    """A 12-trial quadratic sweep (2 seeds x (2 adam lr x 2 beta2 + 2 sgd lr)) of `steps` steps."""
    return write_yaml(directory, f"""\
        name: {name}
        seeds: {seeds}
        steps: {steps}
        log_every: 10
        eval_every: 20
        tasks:
          - name: quadratic
            params: {{dim: 5, noise: 0.5}}
            batch_size: 8
        optimizers:
          - name: adam
            lr: {lrs}
            beta2: [0.99, 0.999]
          - name: sgd
            lr: {lrs}
        {extra}
        """)


def sgd_sweep(directory: Path, *, steps: int) -> Path:
    """12 cheap trials (SGD, 6 learning rates x 2 seeds): for tests that kill or interrupt a sweep."""
    return write_yaml(directory, f"""\
        name: cheap
        seeds: [0, 1]
        steps: {steps}
        log_every: 100
        tasks:
          - name: quadratic
            params: {{dim: 5, noise: 0.5}}
        optimizers:
          - name: sgd
            lr: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3]
        """)


def records(results_dir: Path) -> dict[str, TrialRecord]:
    return {
        p.stem: TrialRecord.from_json(p.read_text())
        for p in sorted((Path(results_dir) / "trials").glob("*.json"))
    }


def manifest(results_dir: Path) -> dict:
    return json.loads((Path(results_dir) / "adamlab-results.json").read_text())


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "adamlab.cli.app", *args]


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        cli_command(*args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
