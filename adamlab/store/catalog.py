"""`adamlab runs [ROOT]`: the results folders under a folder, what each holds, at a glance.

A results folder is one with an adamlab-results.json; folders inside one are not searched (its
trials/ and errors/ are not folders of runs), nor are symbolic links followed. Per folder: the
sweep's name, its trials (the manifest's current trial ids) and how many of those ended
finished, diverged or failed, the last run's time (the manifest's `updated`), and how many of
its records are stale, i.e. were made with another adamlab source, adamlab version or torch
version than the one installed here (`adamlab sweep` refuses to mix those without
--rerun-stale or --accept-stale). Reading it imports no torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store.layout import MANIFEST, TRIALS_DIR, read_manifest
from adamlab.sweep.environment import source_hash

_RECORD_NAME = re.compile(r"^[0-9a-f]{16}\.json$")


@dataclass(frozen=True)
class RunFolder:
    path: Path
    sweep: str
    planned: int | None
    finished: int
    diverged: int
    failed: int
    updated: str
    #: records made in another environment than the installed one
    stale: int
    #: the folder could not be read as a whole (the reason), else ""
    problem: str = ""

    @property
    def ended(self) -> int:
        return self.finished + self.diverged + self.failed


def find_results_folders(root: str | Path) -> list[Path]:
    """Every results folder at or under `root`, sorted."""
    found = []
    for here, dirs, files in os.walk(root, followlinks=False):
        if MANIFEST in files:
            found.append(Path(here))
            dirs[:] = []  # a results folder's subfolders are its own
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


def survey_folder(path: Path, current_key: tuple[str, str, str]) -> RunFolder:
    try:
        manifest = read_manifest(path)
    except AdamlabError as exc:
        return RunFolder(path, "?", None, 0, 0, 0, "", 0, problem=str(exc))
    planned = manifest.get("trial_ids")
    current = set(planned) if isinstance(planned, list) else None
    counts = {"finished": 0, "diverged": 0, "failed": 0}
    stale = 0
    unreadable = 0
    trials = path / TRIALS_DIR
    names = sorted(p for p in os.listdir(trials) if _RECORD_NAME.match(p)) if trials.is_dir() else []
    for name in names:
        if current is not None and name[:-5] not in current:
            continue
        try:
            record = json.loads((trials / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            unreadable += 1
            continue
        status = record.get("status") if isinstance(record, dict) else None
        if status in counts:
            counts[status] += 1
        environment = record.get("environment") if isinstance(record, dict) else None
        if not isinstance(environment, dict) or (
            environment.get("source_hash"), environment.get("adamlab_version"),
            environment.get("torch_version"),
        ) != current_key:
            stale += 1
    return RunFolder(
        path=path,
        sweep=str(manifest.get("sweep") or path.name),
        planned=len(current) if current is not None else None,
        updated=str(manifest.get("updated") or ""),
        stale=stale,
        problem=f"{unreadable} unreadable record(s)" if unreadable else "",
        **counts,
    )


def installed_environment_key() -> tuple[str, str, str]:
    """(source hash, adamlab version, torch version) of this installation, as a record's
    environment names them, without importing torch."""
    return (source_hash(), __version__, _torch_version())


def _torch_version() -> str:
    # torch.__version__ carries the local build tag (2.4.1+cpu) that the package metadata
    # drops; torch/version.py states it without importing torch
    spec = importlib.util.find_spec("torch")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        try:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
        except OSError:
            continue
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
        if match:
            return match.group(1)
    return ""
