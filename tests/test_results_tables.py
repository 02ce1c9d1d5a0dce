"""Results on disk: tables rebuilt from the records, read back, and damaged folders named."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from results_fixture import MANIFEST, mnist_records, quadratic_records, write_results

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store import tables
from adamlab.store.tables import TRIAL_COLUMNS, load_results, rebuild_tables


@pytest.fixture
def folder(tmp_path):
    return write_results(tmp_path / "hand")


def test_rebuild_writes_csv_and_parquet_that_read_back_equal(folder):
    results = rebuild_tables(folder)
    for name, frame in (("trials", results.trials), ("metrics", results.metrics)):
        from_parquet = pd.read_parquet(folder / f"{name}.parquet")
        pd.testing.assert_frame_equal(from_parquet, frame, check_dtype=False)
        from_csv = pd.read_csv(folder / f"{name}.csv")
        assert list(from_csv.columns) == list(frame.columns)
        assert len(from_csv) == len(frame)
        numeric = frame.select_dtypes("number").columns
        pd.testing.assert_frame_equal(from_csv[numeric], frame[numeric], check_dtype=False)


def test_trials_table_columns_follow_the_layout(folder):
    trials = load_results(folder).trials
    columns = list(trials.columns)
    assert columns[: len(TRIAL_COLUMNS)] == list(TRIAL_COLUMNS)
    assert {"hp.lr", "hp.beta2", "hp.momentum", "hp.bias_correction"} <= set(columns)
    assert {"task.preset", "task.dim", "task.widths", "final.train_loss", "best.train_loss",
            "final.test_accuracy", "best.test_accuracy"} <= set(columns)
    assert len(trials) == 36
    assert trials["task.dim"].dtype == "Int64"  # an int stays one where mnist leaves it empty
    assert set(trials.loc[trials["task"] == "mnist_mlp", "task.widths"]) == {"[256]"}
    failed = trials[trials["status"] == "failed"].iloc[0]
    assert failed["error"] == "RuntimeError: out of cheese"
    assert pd.isna(failed["final.train_loss"])


def test_metrics_table_is_the_long_log_of_every_record(folder):
    results = load_results(folder)
    records = quadratic_records() + mnist_records()
    assert len(results.metrics) == sum(len(r.metrics["step"]) for r in records)
    assert list(results.metrics.columns) == ["trial_id", "step", "wall_time", "metric", "value"]
    one = records[0]
    logged = results.metrics[results.metrics["trial_id"] == one.trial_id]
    assert logged["step"].tolist() == one.metrics["step"]
    assert logged["value"].tolist() == one.metrics["value"]


def test_rebuild_without_pyarrow_removes_leftover_parquet(folder, monkeypatch):
    rebuild_tables(folder)
    assert (folder / "trials.parquet").exists()
    monkeypatch.setattr(tables, "parquet_available", lambda: False)
    rebuild_tables(folder)
    assert not (folder / "trials.parquet").exists() and not (folder / "metrics.parquet").exists()
    assert (folder / "trials.csv").exists()


def test_only_the_current_sweeps_records_are_loaded(tmp_path):
    records = quadratic_records()
    current = [r.trial_id for r in records[:5]] + ["0123456789abcdef"]  # one not ended yet
    folder = write_results(tmp_path / "r", records, {**MANIFEST, "trial_ids": current})
    results = rebuild_tables(folder)
    assert set(results.trials["trial_id"]) == set(current[:5])
    assert results.records_not_in_sweep == len(records) - 5
    assert results.planned_trials == 6
    assert len(pd.read_csv(folder / "trials.csv")) == 5


def test_a_folder_with_no_ended_trial_loads_empty(tmp_path):
    results = rebuild_tables(write_results(tmp_path / "r", []))
    assert results.trials.empty and results.metrics.empty
    assert list(pd.read_csv(tmp_path / "r" / "trials.csv").columns) == list(TRIAL_COLUMNS)


# ------------------------------------------------------------------------------- damage


def test_missing_folder(tmp_path):
    with pytest.raises(AdamlabError, match=f"^{tmp_path}/nope: no such results folder$"):
        load_results(tmp_path / "nope")


def test_missing_manifest(folder):
    (folder / "adamlab-results.json").unlink()
    with pytest.raises(AdamlabError, match="not an adamlab results folder "
                                            r"\(adamlab-results.json is missing\)"):
        load_results(folder)


def test_missing_provenance(folder):
    (folder / "provenance.json").unlink()
    with pytest.raises(AdamlabError, match=f"^{folder}/provenance.json: missing"):
        load_results(folder)


@pytest.mark.parametrize("name", ["adamlab-results.json", "provenance.json"])
def test_truncated_json_files_are_named(folder, name):
    path = folder / name
    path.write_text(path.read_text()[:25])
    with pytest.raises(AdamlabError, match=f"^{path}: not valid JSON at line 1 column .*truncated"):
        load_results(folder)


def test_truncated_trial_record_is_named(folder):
    path = sorted((folder / "trials").glob("*.json"))[3]
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(AdamlabError, match=f"^{path}: not valid JSON .*truncated"):
        load_results(folder)


def test_empty_trial_record_is_named(folder):
    path = sorted((folder / "trials").glob("*.json"))[0]
    path.write_text("")
    with pytest.raises(AdamlabError, match=f"^{path}: empty file"):
        rebuild_tables(folder)


def test_record_with_missing_field_or_bad_log_is_named(folder):
    path = sorted((folder / "trials").glob("*.json"))[0]
    data = json.loads(path.read_text())
    del data["hparams"]
    path.write_text(json.dumps(data))
    with pytest.raises(AdamlabError, match=f"^{path}: not a valid trial record: hparams: required field is missing$"):
        load_results(folder)
    data["hparams"] = {}
    data["metrics"]["value"].pop()
    path.write_text(json.dumps(data))
    with pytest.raises(AdamlabError, match=f"^{path}: not a valid trial record: metrics: .*columns of unequal length"):
        load_results(folder)


@pytest.mark.parametrize(("field", "bad", "message"), [
    (("final", "loss"), "low", r"final\.loss: input should be a valid number, got 'low'"),
    (("seed",), "x", r"seed: input should be a valid integer, got 'x'"),
    (("metrics", "value", 0), None, r"metrics: .*value\.0: input should be a valid number"),
    (("status",), "done", r"status: input should be 'finished', 'diverged' or 'failed', got 'done'"),
])
def test_records_with_wrong_types_are_one_line_errors_in_every_reader(folder, field, bad, message, capsys):
    """The writer's model validates what the readers load."""
    from adamlab.cli.app import main

    path = sorted((folder / "trials").glob("*.json"))[0]
    data = json.loads(path.read_text())
    target = data
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = bad
    path.write_text(json.dumps(data))
    with pytest.raises(AdamlabError, match=f"^{path}: not a valid trial record: {message}"):
        load_results(folder)
    for command in (["summary", str(folder)], ["export", str(folder)]):
        assert main(command) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert err.startswith(f"error: {path}: not a valid trial record: {field[0]}")


@pytest.mark.parametrize(
    ("version", "advice"),
    [(2, "upgrade adamlab to read them"), (0, "read them with adamlab 0.0.3")],
)
def test_other_layout_versions_say_who_wrote_them(tmp_path, version, advice):
    manifest = {**MANIFEST, "layout_version": version, "adamlab_version": "0.0.3"}
    folder = write_results(tmp_path / "r", quadratic_records()[:1], manifest)
    with pytest.raises(AdamlabError) as error:
        load_results(folder)
    assert str(error.value) == (
        f"{folder}/adamlab-results.json: written by adamlab 0.0.3 with layout version {version}; "
        f"this adamlab ({__version__}) reads layout version 1: " + advice
        + (", or re-run the sweep with this one" if version == 0 else "")
    )


def _frame_of_row_dicts(records) -> pd.DataFrame:
    """The trials table as a frame of one dict per row, cast column by column: how the table
    was first built, kept as the reference its column-wise construction is checked against."""
    import math

    records = sorted(records, key=tables._record_order)
    rows, hp_names, task_names, metric_names = [], {}, {}, set()
    for record in records:
        row = {column: getattr(record, column) for column in TRIAL_COLUMNS}
        left_out = {k: v for k, v in tables.optional_defaults(record.optimizer).items()
                    if k not in record.hparams}
        for name, value in {**record.hparams, **left_out}.items():
            hp_names[name] = None
            row[tables.HP_PREFIX + name] = tables._cell(value)
        for name, value in record.task_params.items():
            task_names[name] = None
            row[tables.TASK_PREFIX + name] = tables._cell(value)
        for prefix, values in ((tables.FINAL_PREFIX, record.final), (tables.BEST_PREFIX, record.best)):
            for name, value in values.items():
                row[prefix + name] = math.nan if value is None else float(value)
        metric_names.update(record.final, record.best)
        rows.append(row)
    metrics = tables._ordered_metric_names(metric_names)
    columns = [*TRIAL_COLUMNS, *(tables.HP_PREFIX + n for n in hp_names),
               *(tables.TASK_PREFIX + n for n in task_names),
               *(tables.FINAL_PREFIX + n for n in metrics), *(tables.BEST_PREFIX + n for n in metrics)]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("seed", "steps", "steps_run", "batch_size", "stack_size"):
        frame[column] = frame[column].astype("int64")
    for column in ("wall_time_s", "stack_wall_time_s"):
        frame[column] = frame[column].astype("float64")
    for column in columns:
        if column.startswith((tables.FINAL_PREFIX, tables.BEST_PREFIX)):
            frame[column] = frame[column].astype("float64")
        elif column.startswith((tables.HP_PREFIX, tables.TASK_PREFIX)):
            kinds = {type(row[column]) for row in rows
                     if column in row and not tables._is_missing(row[column])}
            kind = tables._nullable_dtype(kinds)
            if kind is not None:
                frame[column] = frame[column].astype(kind)
    return frame


@pytest.mark.parametrize("name", ["saved_results", "saved_hand", "saved_claims", "hand"])
def test_the_trials_table_equals_a_frame_of_row_dicts_dtypes_and_all(name, folder):
    from pathlib import Path

    from adamlab.store.records import TrialRecord

    root = folder if name == "hand" else Path(__file__).parent / "data" / name
    records = [TrialRecord.from_json(p.read_text()) for p in sorted((root / "trials").glob("*.json"))]
    for chosen in (records, records[:1], records[::3], []):
        pd.testing.assert_frame_equal(tables.trials_frame(chosen), _frame_of_row_dicts(chosen),
                                      check_exact=True)
