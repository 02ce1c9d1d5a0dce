"""`adamlab export`: the trials table (wide) or the metric log joined with each trial's config
(long), filtered, written in the format the file's extension names: .csv (opens in a
spreadsheet, reads back with `pandas.read_csv`), .parquet (typed columns, `pandas.read_parquet`;
needs pyarrow) or .json (a list of records, one object per row, `pandas.read_json`). Standard
output gets CSV."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TextIO

import pandas as pd

from adamlab.errors import AdamlabError
from adamlab.store.atomic import write_bytes_atomic, write_text_atomic
from adamlab.store.tables import (
    BEST_PREFIX,
    FINAL_PREFIX,
    HP_PREFIX,
    METRIC_COLUMNS,
    TASK_PREFIX,
    Results,
    _arrow_safe,
    parquet_available,
)

#: trial columns repeated on every row of the long table, before the hyperparameters
LONG_TRIAL_COLUMNS = ("trial_id", "task", "variant", "optimizer", "seed", "status")
#: with several folders, the column naming each row's (adamlab.store.merge)
FOLDER_COLUMN = "folder"
_OPTIONAL_PREFIXES = (HP_PREFIX, TASK_PREFIX, FINAL_PREFIX, BEST_PREFIX)


def export_frame(
    results: Results,
    *,
    long: bool = False,
    task: str | None = None,
    optimizer: str | None = None,
) -> pd.DataFrame:
    """The table `adamlab export` writes.

    wide: the trials table, one row per trial. long: one row per logged value (trial_id, task,
    variant, optimizer, seed, status, hp.*, task.*, step, wall_time, metric, value).
    `task` keeps one task; `optimizer` keeps trials whose registry optimizer or variant label is
    that name. Hyperparameter/parameter/metric columns left empty by the filter are dropped.
    """
    trials = results.trials
    if task is not None:
        _check_choice("--task", task, trials["task"])
        trials = trials[trials["task"] == task]
    if optimizer is not None:
        _check_choice("--optimizer", optimizer, pd.concat([trials["optimizer"], trials["variant"]]))
        trials = trials[(trials["optimizer"] == optimizer) | (trials["variant"] == optimizer)]
    empty = [
        c for c in trials.columns if c.startswith(_OPTIONAL_PREFIXES) and trials[c].isna().all()
    ]
    trials = trials.drop(columns=empty).reset_index(drop=True)
    if not long:
        return trials
    config_columns = [
        *([FOLDER_COLUMN] if FOLDER_COLUMN in trials.columns else []),
        *LONG_TRIAL_COLUMNS,
        *(c for c in trials.columns if c.startswith((HP_PREFIX, TASK_PREFIX))),
    ]
    metrics = results.metrics[results.metrics["trial_id"].isin(trials["trial_id"])]
    joined = metrics.merge(trials[config_columns], on="trial_id", how="left", sort=False)
    return joined[[*config_columns, *METRIC_COLUMNS[1:]]].reset_index(drop=True)


#: extension -> format of `write_table`
FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".json": "JSON records"}


def check_extension(out: Path) -> str:
    """`out`'s extension, when it names a format (else a one-line error)."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise AdamlabError(
            f"--out {out}: cannot tell the format from {suffix or 'no extension'!r}; "
            f"name the file *.csv, *.parquet or *.json"
        )
    return suffix


def write_table(frame: pd.DataFrame, out: Path | None, *, stream: TextIO | None = None) -> None:
    """To `out` (atomically) in the format its extension names, or as CSV to `stream` (stdout)
    when `out` is None."""
    if out is None:
        (stream or sys.stdout).write(frame.to_csv(index=False, lineterminator="\n"))
        return
    if out.is_dir():
        raise AdamlabError(f"--out: {out} is a folder; give a file name such as {out}/trials.csv")
    suffix = check_extension(out)
    if suffix == ".csv":
        write_text_atomic(out, frame.to_csv(index=False, lineterminator="\n"))
    elif suffix == ".json":
        write_text_atomic(out, frame.to_json(orient="records", indent=1) + "\n")
    else:
        if not parquet_available():
            raise AdamlabError(f"--out {out}: Parquet needs pyarrow: pip install 'adamlab[parquet]'"
                               f" (or write .csv or .json)")
        buffer = io.BytesIO()
        _arrow_safe(frame).to_parquet(buffer, index=False)
        write_bytes_atomic(out, buffer.getvalue())



def _check_choice(option: str, value: str, column: pd.Series) -> None:
    allowed = sorted(set(column))
    if value not in allowed:
        raise AdamlabError(
            f"{option}: no trials match {value!r}; allowed: {', '.join(allowed) or 'none'}"
        )
