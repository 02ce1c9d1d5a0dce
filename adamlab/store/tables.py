"""A sweep's results folder as two tables: one row per trial, and the long metric log.

Layout version 1 (see the README, "Results on disk"):

    <results>/adamlab-results.json   {"layout_version": 1, "adamlab_version": ..., "sweep": ...}
    <results>/sweep.yaml             the resolved sweep
    <results>/provenance.json        versions, device, git commit, argv, start/end times
    <results>/trials/<trial_id>.json one TrialRecord per ended trial (the source of truth)
    <results>/trials.csv             derived: one row per trial (+ trials.parquet with pyarrow)
    <results>/metrics.csv            derived: trial_id, step, wall_time, metric, value (+ .parquet)

Trials table columns: trial_id, sweep, task, variant, optimizer, status, seed, steps, steps_run,
batch_size, device, wall_time_s (the trial's share of its stack's time), stack_size,
stack_wall_time_s (the stack's time to the trial's end), error, then `hp.<name>` per
hyperparameter (optional ones the trial left at their default, e.g. schedule, written out as
that default), `task.<name>` per task parameter (lists and mappings as JSON text),
`final.<metric>` and `best.<metric>` per metric.

`load_results` always reads the trial records, not the derived tables, so a summary of a sweep
that is still running (or was interrupted before its tables were rebuilt) is complete. When the
manifest lists the current sweep's `trial_ids`, only those records are loaded: records left by an
earlier version of the sweep (the YAML changed since) stay on disk but are not part of the
results (they are counted in `Results.records_not_in_sweep`). A command that reads a few
metrics' logged values names them (`needed_metrics`): only those are held
(`adamlab.store.metric_logs`).
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from adamlab.entry_points import OPTIMIZER_GROUP, registered
from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec
from adamlab.optimizers.schedules import SCHEDULE_DEFAULTS
from adamlab.store.atomic import write_bytes_atomic, write_text_atomic
from adamlab.store.entries import check_folder
from adamlab.store.json_files import read_json_object
from adamlab.store.manifest_checks import check_layout_version, check_manifest_tasks
from adamlab.store.metric_logs import METRIC_COLUMNS as METRIC_COLUMNS
from adamlab.store.metric_logs import MetricLogBuilder, MetricLogs
from adamlab.store.names import MANIFEST as MANIFEST_FILE
from adamlab.store.names import PROVENANCE as PROVENANCE_FILE
from adamlab.store.names import RECORD_NAME, TRIALS_DIR
from adamlab.store.read_cache import (
    CachedRecord,
    ReadCache,
    UnusableCache,
    signature,
    write_read_cache,
)
from adamlab.store.records import TrialRecord, read_record, record_of_fields

TRIALS_TABLE = "trials"
METRICS_TABLE = "metrics"

TRIAL_COLUMNS = (
    "trial_id", "sweep", "task", "variant", "optimizer", "status", "seed", "steps", "steps_run",
    "batch_size", "device", "wall_time_s", "stack_size", "stack_wall_time_s", "error",
)
INT_COLUMNS = ("seed", "steps", "steps_run", "batch_size", "stack_size")
FLOAT_COLUMNS = ("wall_time_s", "stack_wall_time_s")
HP_PREFIX = "hp."
TASK_PREFIX = "task."
FINAL_PREFIX = "final."
BEST_PREFIX = "best."



@dataclass(frozen=True)
class Results:
    """Everything a results folder holds, loaded and checked."""

    root: Path
    layout_version: int
    #: the contents of adamlab-results.json
    manifest: dict[str, Any]
    #: the contents of provenance.json
    provenance: dict[str, Any]
    #: one row per ended trial, columns as in the module docstring
    trials: pd.DataFrame
    #: every trial's metric log, compact (see `metrics` and `metric_log`)
    logs: MetricLogs
    #: trials in the current sweep (the manifest's trial_ids), ended or not; None if not recorded
    planned_trials: int | None = None
    #: records on disk that belong to an earlier version of the sweep (not loaded)
    records_not_in_sweep: int = 0
    #: the folders read, when several were merged (adamlab.store.merge); () for one folder
    folders: tuple[Path, ...] = ()

    @property
    def sweep(self) -> str:
        return str(self.manifest.get("sweep") or self.root.name)

    @property
    def metrics(self) -> pd.DataFrame:
        """The long metric log of every trial: trial_id, step, wall_time, metric, value (built
        on first use: what draws curves or reads every metric asks for it)."""
        return self.logs.frame()

    def metric_log(self, metrics: Iterable[str]) -> pd.DataFrame:
        """The rows of these metrics only, in the order and with the columns of the whole log
        (`.metrics`), a fresh index: what a command that needs a few metrics' values asks for."""
        return self.logs.frame(set(metrics))

    def __repr__(self) -> str:
        tasks = ", ".join(dict.fromkeys(self.trials["task"])) if "task" in self.trials else ""
        return (f"Results({self.sweep}: {len(self.trials)} trials, {len(self.logs)} metric rows"
                f"{'; tasks ' + tasks if tasks else ''} <- {self.root})")

    def metric_names(self, task: str | None = None) -> list[str]:
        """Metrics recorded for `task` (all tasks when None), train_loss first."""
        if task is None:
            return _ordered_metric_names(self.logs.names())
        ids = set(self.trials.loc[self.trials["task"] == task, "trial_id"])
        return _ordered_metric_names(self.logs.names(ids))


def load_results(
    results_dir: str | Path,
    *,
    needed_metrics: Callable[[str, Mapping[str, Any]], Collection[str]] | None = None,
) -> Results:
    """Read and check a results folder; every problem is an AdamlabError naming the file.

    `needed_metrics(task, manifest)`: the metrics whose logged values a command will ask for,
    for a trial of `task`; only their rows are held (every metric's name is known still), and
    a table of any other metric reads the records again, and records unchanged since the
    tables were last rebuilt come from the folder's read cache (`adamlab.store.read_cache`).
    None: every row is held, every record read from its file."""
    return _load_results(results_dir, needed_metrics, write_cache=False)


def _load_results(results_dir: str | Path,
                  needed_metrics: Callable[[str, Mapping[str, Any]], Collection[str]] | None,
                  *, write_cache: bool) -> Results:
    root = Path(results_dir)
    if not root.exists():
        raise AdamlabError(f"{root}: no such results folder")
    if not root.is_dir():
        raise AdamlabError(f"{root}: not a folder (expected a sweep's results folder)")
    manifest_path = root / MANIFEST_FILE
    if not manifest_path.is_file():
        raise AdamlabError(
            f"{root}: not an adamlab results folder ({MANIFEST_FILE} is missing)"
        )
    manifest = read_json_object(manifest_path)
    layout_version = check_layout_version(manifest_path, manifest)
    check_manifest_tasks(manifest_path, manifest)
    provenance_path = root / PROVENANCE_FILE
    if not provenance_path.is_file():
        raise AdamlabError(
            f"{provenance_path}: missing; every results folder has one (was the folder copied "
            "only in part?)"
        )
    provenance = read_json_object(provenance_path)
    planned = manifest.get("trial_ids")
    if planned is not None and not (
        isinstance(planned, list) and all(isinstance(t, str) for t in planned)
    ):
        raise AdamlabError(f"{manifest_path}: trial_ids: expected a list of trial ids")
    paths = record_paths(root)
    not_in_sweep = 0
    if planned is not None:
        current = set(planned)
        kept = [p for p in paths if p.stem in current]
        not_in_sweep = len(paths) - len(kept)
        paths = kept
    keep: dict[str, frozenset[str] | None] = {}

    def kept(task: str) -> frozenset[str] | None:
        if task not in keep:
            keep[task] = None if needed_metrics is None else frozenset(needed_metrics(task, manifest))
        return keep[task]

    # a command that needs a few metrics takes unchanged records from the read cache; the
    # tables' rebuild reads every record and writes the cache
    cache = ReadCache.open(root) if needed_metrics is not None else None
    try:
        records, builder = _read_records(paths, kept, cache, write_cache_to=root if write_cache else None)
    except UnusableCache:
        records, builder = _read_records(paths, kept, None)
    records.sort(key=_record_order)
    return Results(
        root=root,
        layout_version=layout_version,
        manifest=manifest,
        provenance=provenance,
        trials=_trials_frame_of_sorted(records),
        logs=builder.logs((r.trial_id for r in records),
                          reread=lambda: load_results(root).logs),
        planned_trials=None if planned is None else len(planned),
        records_not_in_sweep=not_in_sweep,
    )


def _read_records(paths: list[Path], kept: Callable[[str], frozenset[str] | None],
                  cache: ReadCache | None, *, write_cache_to: Path | None = None,
                  ) -> tuple[list[TrialRecord], MetricLogBuilder]:
    """The records at `paths` (from `cache` where it holds them) and their metric logs (only
    the rows of the metrics `kept(task)` names, every row when None); `write_cache_to`: the
    results folder to write the read cache of what was read to."""
    # one record at a time: its metric log becomes compact arrays at once, so a folder of
    # thousands of trials never holds every log as Python objects
    records = []
    builder = MetricLogBuilder()
    read: list[CachedRecord] = []
    for path in paths:
        found = cache.find(path) if cache is not None else None
        if found is not None:
            record = record_of_fields(path, cache.fields(found))
            cache.add_log(builder, found, record.trial_id, kept(record.task))
        else:
            stamp = signature(path) if write_cache_to is not None else None
            record, log, fields = read_record(path)
            if stamp is not None:
                read.append(CachedRecord(path.stem, stamp, fields))
            builder.add(record.trial_id, log["step"], log["wall_time"], log["metric"],
                        log["value"], keep=kept(record.task))
        records.append(record)
    if write_cache_to is not None and len(read) == len(records):
        write_read_cache(write_cache_to, read, *builder.block())
    return records, builder


def rebuild_tables(results_dir: str | Path) -> Results:
    """Rewrite trials.csv and metrics.csv (and .parquet when pyarrow is importable) from the
    trial records, atomically, and return what was written.

    Without pyarrow, Parquet files left by an earlier run are removed so no table on disk
    disagrees with the records.
    """
    results = _load_results(results_dir, None, write_cache=True)
    root = results.root
    tables = {TRIALS_TABLE: results.trials, METRICS_TABLE: results.metrics}
    for name, frame in tables.items():
        write_text_atomic(root / f"{name}.csv", frame.to_csv(index=False, lineterminator="\n"))
    if parquet_available():
        for name, frame in tables.items():
            buffer = io.BytesIO()
            _arrow_safe(frame).to_parquet(buffer, index=False)
            write_bytes_atomic(root / f"{name}.parquet", buffer.getvalue())
    else:
        for name in tables:
            (root / f"{name}.parquet").unlink(missing_ok=True)
    return results


def parquet_available() -> bool:
    return importlib.util.find_spec("pyarrow") is not None


def record_paths(results_dir: str | Path) -> list[Path]:
    """Every trials/<trial_id>.json, sorted (temporary files of a write in progress excluded)."""
    trials_dir = Path(results_dir) / TRIALS_DIR
    if not check_folder(trials_dir):  # a link to a folder elsewhere is refused
        return []  # the sweep has not ended a trial yet
    return sorted(p for p in trials_dir.iterdir() if RECORD_NAME.match(p.name))


def trials_frame(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial, sorted by task, task parameters, variant, hyperparameters, seed."""
    return _trials_frame_of_sorted(sorted(records, key=_record_order))


def _trials_frame_of_sorted(records: list[TrialRecord]) -> pd.DataFrame:
    # column by column: a frame of row dicts, cast column by column after, was a third of
    # reading a folder of thousands of trials
    n = len(records)
    columns: dict[str, list] = {column: [getattr(r, column) for r in records]
                                for column in TRIAL_COLUMNS}
    hp_columns: dict[str, list] = {}
    task_columns: dict[str, list] = {}
    metric_columns: dict[str, list] = {}
    defaults: dict[str, dict[str, Any]] = {}
    #: the types of each hp.*/task.* column's present cells
    kinds: dict[str, set[type]] = {}

    def put(table: dict[str, list], column: str, row: int, cell: Any) -> None:
        values = table.get(column)
        if values is None:  # a row without the column has NaN, as a frame of row dicts has
            values = table[column] = [math.nan] * n
        values[row] = cell

    for row, record in enumerate(records):
        if record.optimizer not in defaults:
            defaults[record.optimizer] = optional_defaults(record.optimizer)
        left_out = {k: v for k, v in defaults[record.optimizer].items() if k not in record.hparams}
        for table, prefix, values in ((hp_columns, HP_PREFIX, {**record.hparams, **left_out}),
                                      (task_columns, TASK_PREFIX, record.task_params)):
            for name, value in values.items():
                cell = _cell(value)
                put(table, prefix + name, row, cell)
                if not _is_missing(cell):
                    kinds.setdefault(prefix + name, set()).add(type(cell))
        for prefix, values in ((FINAL_PREFIX, record.final), (BEST_PREFIX, record.best)):
            for name, value in values.items():
                put(metric_columns, prefix + name, row, _float(value))
    metrics = _ordered_metric_names(name.split(".", 1)[1] for name in metric_columns)
    for column in INT_COLUMNS:
        columns[column] = np.array(columns[column], dtype=np.int64)
    for column in FLOAT_COLUMNS:
        columns[column] = np.array(columns[column], dtype=np.float64)
    if not records:  # the text columns of an empty table hold Python objects, as ever
        columns = {c: pd.Series(v, dtype=object if c not in INT_COLUMNS + FLOAT_COLUMNS else None)
                   for c, v in columns.items()}
    for column, values in [*hp_columns.items(), *task_columns.items()]:
        # ints and bools keep their type where another task or optimizer leaves cells empty
        kind = _nullable_dtype(kinds.get(column, set()))
        columns[column] = values if kind is None else pd.array(values, dtype=kind)
    for column in (prefix + name for prefix in (FINAL_PREFIX, BEST_PREFIX) for name in metrics):
        values = metric_columns.get(column)
        columns[column] = (np.full(n, math.nan) if values is None
                           else np.array(values, dtype=np.float64))
    return pd.DataFrame(columns)


def metrics_frame(records: Iterable[TrialRecord]) -> pd.DataFrame:
    """The long metric log of every trial, in trial order then logged order."""
    return metric_logs(records).frame()


def metric_logs(records: Iterable[TrialRecord]) -> MetricLogs:
    """The records' metric logs, in trial order."""
    records = sorted(records, key=_record_order)
    builder = MetricLogBuilder()
    for r in records:
        builder.add(r.trial_id, r.metrics["step"], r.metrics["wall_time"], r.metrics["metric"],
                    r.metrics["value"])
    return builder.logs(r.trial_id for r in records)


# ----------------------------------------------------------------------------------- helpers


def optional_defaults(optimizer: str) -> dict[str, Any]:
    """The optional hyperparameters `optimizer` takes, at their defaults: a record leaves out
    those the trial did not change (so adding one never moves a trial id), and the trials table
    writes them out so that a default schedule reads `constant`, not blank. An optimizer this
    installation does not register (a plug-in given by `target:`) has the schedule's, which
    every optimizer takes."""
    if optimizer in registered(OPTIMIZER_GROUP):
        return dict(get_spec(optimizer).optional)
    return dict(SCHEDULE_DEFAULTS)


def _ordered_metric_names(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda name: (name != "train_loss", name))


def _cell(value: Any) -> Any:
    """Scalars as they are; lists and mappings as canonical JSON text (one cell each); an
    integer beyond int64 as its digits (the record model refuses those, this is the last guard:
    a uint64 column would not cast back to int64)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _nullable_dtype(kinds: set[type]) -> str | None:
    """"Int64" when every present value of a column is an int, "boolean" when every one is a
    bool (`kinds`: the types of its present values)."""
    if kinds == {bool}:
        return "boolean"
    if kinds == {int}:
        return "Int64"
    return None


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _sortable(value: Any) -> tuple:
    if isinstance(value, (bool, int, float)):
        return (0, float(value), "")
    if isinstance(value, str):
        return (1, 0.0, value)
    return (2, 0.0, json.dumps(value, sort_keys=True, default=str))


def _record_order(record: TrialRecord) -> tuple:
    return (
        record.task,
        json.dumps(record.task_params, sort_keys=True, default=str),
        record.variant,
        tuple((name, _sortable(record.hparams[name])) for name in sorted(record.hparams)),
        record.seed,
        record.trial_id,
    )


def _arrow_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns holding several Python types (e.g. a task parameter that is an int in one task
    and a string in another) as text, which Parquet can store; numbers and bools stay typed."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        kinds = {type(v) for v in out[column] if not _is_missing(v)}
        if len(kinds) <= 1 or kinds <= {int, float}:
            continue
        out[column] = out[column].map(lambda v: None if _is_missing(v) else str(v))
    return out


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def hparam_columns(table: pd.DataFrame) -> list[str]:
    """The `hp.*` columns of a trials or configs table, in table order."""
    return [c for c in table.columns if c.startswith(HP_PREFIX)]


def task_param_columns(table: pd.DataFrame) -> list[str]:
    """The `task.*` columns of a trials table, in table order."""
    return [c for c in table.columns if c.startswith(TASK_PREFIX)]
