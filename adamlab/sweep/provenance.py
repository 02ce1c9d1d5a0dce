"""Where and with what a sweep ran: versions, device, git commit, command line, run times.

`provenance.json` keeps the environment of the latest run at the top level and one entry per run
(start, end, how it ended, how many trials it ran) under "runs", so a folder resumed on another
day or machine shows every session that wrote into it.
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from adamlab import __version__
from adamlab.host import available_cores, device_name
from adamlab.sweep import environment as code_environment


def environment(device: str) -> dict[str, Any]:
    return {
        "adamlab_version": __version__,
        "source_hash": code_environment.source_hash(),
        "torch_version": code_environment.torch_version(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name(device),
        "cpu_count": available_cores(),
        "git": code_environment.git_commit(),
    }


def start_run(previous: dict[str, Any], *, device: str, started: str, argv: list[str] | None = None,
              jobs: int, threads: int, to_run: int, skipped: int) -> dict[str, Any]:
    """The provenance with a new run appended (its end filled in by `end_run`), each run with
    its own environment. Called with the folder locked, so a run still marked "running" is one
    that was killed (kill -9, a crash of the machine) before it could record its end."""
    runs = [
        {**run, "outcome": "killed"} if isinstance(run, dict) and run.get("outcome") == "running" else run
        for run in previous.get("runs", [])
    ]
    here = environment(device)
    runs.append({
        "started": started,
        "ended": None,
        "outcome": "running",
        "argv": list(sys.argv if argv is None else argv),
        "jobs": jobs,
        "threads_per_job": threads,
        "trials_to_run": to_run,
        "trials_skipped": skipped,
        "trials_run": 0,
        "environment": here,
    })
    return {**here, "runs": runs}


def end_run(provenance: dict[str, Any], *, ended: str, outcome: str, trials_run: int) -> dict[str, Any]:
    runs = [dict(run) for run in provenance.get("runs", [])]
    if runs:
        runs[-1].update(ended=ended, outcome=outcome, trials_run=trials_run)
    return {**provenance, "runs": runs}
