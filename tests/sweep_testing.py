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


def failing_sweep(directory: Path) -> Path:
    """Two trials: sgd on the quadratic (finishes) and on mnist_mlp with damaged data (fails:
    the four files are there, so the sweep is not refused before it runs, but not IDX files)."""
    damaged = Path(directory) / "damaged"
    damaged.mkdir(exist_ok=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (damaged / name).write_bytes(b"not an IDX file")
    return write_yaml(directory, f"""\
        name: r
        steps: 2
        tasks:
          - quadratic
          - name: mnist_mlp
            params: {{data_dir: {damaged}, download: false}}
        optimizers: [sgd]
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


def fast_then_slow_sweep(directory: Path, *, fast_seeds: int = 3) -> Path:
    """`fast_seeds` trials of 100 steps, then as many that take many minutes: a kill or Ctrl-C
    sent once the fast ones have records always lands mid-sweep, with exactly those done and no
    trial about to finish (a Ray cancel racing a task's completion can abort Ray's driver)."""
    return write_yaml(directory, f"""\
        name: interrupted
        log_every: 10000
        tasks:
          - name: quadratic
            params: {{dim: 5, noise: 0.5}}
            steps: 100
          - name: quadratic
            params: {{dim: 6, noise: 0.5}}
            steps: 100000000
        optimizers:
          - name: sgd
            lr: [{', '.join(str(0.01 * (k + 1)) for k in range(fast_seeds))}]
        """)


def wait_for_records(out: Path, n: int, process: subprocess.Popen | None = None, timeout: float = 120.0) -> None:
    """Until `out` holds n trial records (the deadline only turns a hang into a failure)."""
    import time

    deadline = time.monotonic() + timeout
    while len(list((Path(out) / "trials").glob("*.json"))) < n:
        assert time.monotonic() < deadline, "no trial ended in time"
        if process is not None:
            assert process.poll() is None, process.communicate()
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_dead(pids: list[int], timeout: float = 60.0) -> list[int]:
    """The pids still alive once all have died or `timeout` passed (a guard against a hang).
    Those are then killed, so a failing test leaves no orphan burning a core."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while [p for p in pids if alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left
