"""Several results folders read as one (`adamlab summary A B`, `adamlab export A B`).

The trials of every folder go into one table with a `folder` column naming where each row came
from; a trial id found in more than one folder (the same configuration, seed and steps, run
twice) is counted once, from the first folder that has it. The metric log keeps the rows of the
trials kept. The manifests' task metadata are merged (the first folder wins on a conflict).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from adamlab.errors import AdamlabError
from adamlab.store.metric_logs import MetricLogs
from adamlab.store.tables import Results, load_results

FOLDER_COLUMN = "folder"


def folder_names(roots: Sequence[Path]) -> list[str]:
    """Short names that tell the folders apart: the last path part, or more where two share it."""
    parts = [Path(r).resolve().parts for r in roots]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(r) for r in roots]


def load_folders(
    results_dirs: Sequence[str | Path],
    *,
    needed_metrics: Callable[[str, Mapping[str, Any]], Collection[str]] | None = None,
) -> Results:
    """One folder: `load_results` as it is. Several: merged (see the module docstring).
    `needed_metrics`: as `load_results` takes it, for each folder."""
    dirs = [Path(d) for d in results_dirs]
    if not dirs:
        raise AdamlabError("give at least one results folder")
    if len(dirs) == 1:
        return load_results(dirs[0], needed_metrics=needed_metrics)
    resolved = [d.resolve() for d in dirs]
    repeated = {str(d) for d in dirs if resolved.count(d.resolve()) > 1}
    if repeated:
        raise AdamlabError(f"{', '.join(sorted(repeated))}: given more than once")
    loaded = [load_results(d, needed_metrics=needed_metrics) for d in dirs]
    names = folder_names(dirs)
    frames = []
    for name, results in zip(names, loaded, strict=True):
        trials = results.trials.copy()
        trials.insert(0, FOLDER_COLUMN, name)
        frames.append(trials)
    trials = pd.concat(frames, ignore_index=True, sort=False)
    trials = trials.drop_duplicates("trial_id", keep="first").reset_index(drop=True)
    logs = MetricLogs.joined(
        r.logs.only(set(trials.loc[trials[FOLDER_COLUMN] == name, "trial_id"]))
        for name, r in zip(names, loaded, strict=True)
    )
    tasks: dict = {}
    for results in reversed(loaded):
        tasks.update(results.manifest.get("tasks") or {})
    sweeps = list(dict.fromkeys(r.sweep for r in loaded))
    manifest = {**loaded[0].manifest, "sweep": " + ".join(sweeps), "tasks": tasks}
    manifest.pop("trial_ids", None)
    planned = [r.planned_trials for r in loaded]
    return Results(
        root=dirs[0],
        layout_version=loaded[0].layout_version,
        manifest=manifest,
        provenance=loaded[0].provenance,
        trials=trials,
        logs=logs,
        planned_trials=None if None in planned else _planned(loaded),
        records_not_in_sweep=sum(r.records_not_in_sweep for r in loaded),
        folders=tuple(dirs),
    )


def _planned(loaded: list[Results]) -> int:
    ids: set[str] = set()
    for results in loaded:
        ids.update(results.manifest.get("trial_ids") or [])
    return len(ids)
