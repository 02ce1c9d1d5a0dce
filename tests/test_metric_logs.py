"""Reading only what a command needs: records' logs checked column-wise, held as compact arrays,
and tables of a few metrics equal to the rows of the whole log."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from results_fixture import mnist_records, quadratic_records, write_results

from adamlab.analysis.summary import SummaryOptions, needed_metrics, summarize
from adamlab.errors import AdamlabError
from adamlab.store import tables
from adamlab.store.merge import load_folders
from adamlab.store.metric_logs import MetricLogs
from adamlab.store.records import load_record, read_record
from adamlab.store.tables import load_results, metrics_frame


@pytest.fixture
def folder(tmp_path):
    return write_results(tmp_path / "hand")


@pytest.fixture
def folder_with_diagnostics(tmp_path):
    """The hand folder with an optimizer diagnostic logged beside every value (what no summary
    reads)."""
    records = []
    for record in quadratic_records() + mnist_records():
        log = {name: list(column) for name, column in record.metrics.items()}
        for step in dict.fromkeys(record.metrics["step"]):
            log["step"].append(step)
            log["wall_time"].append(0.0)
            log["metric"].append("opt.effective_step")
            log["value"].append(1.0)
        records.append(record.model_copy(update={"metrics": log}))
    return write_results(tmp_path / "diagnostics", records)


@pytest.fixture
def loaded(monkeypatch) -> list:
    """What the read commands load (`load_results` through adamlab.store.merge), as they load it."""
    found = []
    real = tables.load_results

    def spy(*args, **kwargs):
        found.append(real(*args, **kwargs))
        return found[-1]

    monkeypatch.setattr("adamlab.store.merge.load_results", spy)
    return found


def _rows_of(frame: pd.DataFrame, metrics: set[str]) -> pd.DataFrame:
    return frame[frame["metric"].isin(metrics)].reset_index(drop=True)


def test_the_whole_log_is_the_records_logs_in_table_order(folder):
    results = load_results(folder)
    expected = metrics_frame(load_record(p) for p in tables.record_paths(folder))
    pd.testing.assert_frame_equal(results.metrics, expected)
    assert len(results.logs) == len(expected)


@pytest.mark.parametrize("metrics", [{"train_loss"}, {"test_accuracy", "train_loss"}, {"nope"}, set()])
def test_a_table_of_some_metrics_is_their_rows_of_the_whole_log(folder, metrics):
    results = load_results(folder)
    some = results.metric_log(metrics)  # built from the arrays: the whole table is not out yet
    pd.testing.assert_frame_equal(some, _rows_of(results.metrics, metrics))


def test_once_the_whole_log_is_out_an_edit_of_it_shows_in_every_table(folder):
    results = load_results(folder)
    before = results.metric_log({"train_loss"})
    results.metrics.loc[results.metrics["metric"] == "train_loss", "value"] = 7.0
    assert set(results.metric_log({"train_loss"})["value"]) == {7.0}
    assert set(before["value"]) != {7.0}


def test_rows_left_out_at_load_are_read_again_when_asked_for(folder, monkeypatch):
    whole = load_results(folder)
    lean = load_results(folder, needed_metrics=lambda task, manifest: {"train_loss"})
    assert lean.metric_names() == whole.metric_names()
    assert lean.metric_names("mnist_mlp") == whole.metric_names("mnist_mlp")
    assert lean.logs.last_step() == whole.logs.last_step()
    assert len(lean.logs) == len(whole.logs)
    reads = []
    real = tables.load_results
    monkeypatch.setattr(tables, "load_results", lambda *a, **k: reads.append(a) or real(*a, **k))
    pd.testing.assert_frame_equal(lean.metric_log({"train_loss"}), whole.metric_log({"train_loss"}))
    assert reads == []  # held
    pd.testing.assert_frame_equal(lean.metric_log({"test_accuracy"}),
                                  whole.metric_log({"test_accuracy"}))
    pd.testing.assert_frame_equal(lean.metrics, whole.metrics)
    assert len(reads) == 1  # read again once, then held


def test_merged_folders_keep_the_rows_of_the_trials_kept(tmp_path):
    first = write_results(tmp_path / "a", quadratic_records())
    second = write_results(tmp_path / "b", quadratic_records()[:3] + mnist_records())
    whole = load_folders([first, second])
    lean = load_folders([first, second], needed_metrics=lambda task, manifest: {"train_loss"})
    assert set(whole.logs.names()) == {"train_loss", "test_accuracy"}
    for metrics in ({"train_loss"}, {"test_accuracy"}):
        pd.testing.assert_frame_equal(lean.metric_log(metrics), _rows_of(whole.metrics, metrics))
    kept = set(whole.trials["trial_id"])
    assert set(whole.metrics["trial_id"]) <= kept and len(kept) == len(whole.trials)


@pytest.mark.parametrize("options", [SummaryOptions(), SummaryOptions(metric="test_accuracy"),
                                     SummaryOptions(rule="best", at_step=30)])
def test_a_summary_finds_every_row_it_reads_among_those_it_asked_for(folder, options, monkeypatch):
    expected = summarize(load_results(folder), options)
    lean = load_results(folder, needed_metrics=needed_metrics(options.metric))
    monkeypatch.setattr(MetricLogs, "_whole", lambda self: pytest.fail("read again"))
    got = summarize(lean, options)
    assert [s.label for s in got] == [s.label for s in expected]
    for mine, theirs in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(mine.configs, theirs.configs)
        assert mine.available_metrics == theirs.available_metrics


def _edited(folder, change) -> tuple:
    path = next(p for p in tables.record_paths(folder))
    data = json.loads(path.read_text())
    change(data["metrics"])
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change", [
    lambda log: log["step"].__setitem__(0, True),
    lambda log: log["step"].__setitem__(0, 1.0),
    lambda log: log["step"].__setitem__(0, -1),
    lambda log: log["step"].__setitem__(0, 2**63),
    lambda log: log["step"].__setitem__(0, "10"),
    lambda log: log["value"].__setitem__(0, None),
    lambda log: log["value"].__setitem__(0, "0.5"),
    lambda log: log["value"].__setitem__(0, False),
    lambda log: log["value"].__setitem__(0, 10**400),
    lambda log: log["value"].__setitem__(0, 3),  # an int is a number: accepted, as the model does
    lambda log: log["wall_time"].__setitem__(0, [1.0]),
    lambda log: log["metric"].__setitem__(0, 7),
    lambda log: log["metric"].pop(),
    lambda log: log.update(extra=[]),
    lambda log: log.pop("wall_time"),
    lambda log: log.update(step={"0": 1}),
], ids=["bool step", "float step", "negative step", "step beyond int64", "text step", "null value",
        "text value", "bool value", "huge int value", "int value", "list wall time", "int metric",
        "short column", "extra column", "missing column", "mapping column"])
def test_the_column_checks_accept_and_refuse_what_the_record_model_does(folder, change):
    path = _edited(folder, change)
    try:
        expected = load_record(path)
    except AdamlabError as exc:
        with pytest.raises(AdamlabError) as raised:
            read_record(path)
        assert str(raised.value) == str(exc)
        return
    record, log, _ = read_record(path)
    assert log == expected.metrics
    assert record.model_copy(update={"metrics": expected.metrics}) == expected


@pytest.mark.parametrize("options", [[], ["--all", "--json"], ["--metric", "test_accuracy"],
                                     ["--rule", "best", "--at-step", "30"], ["--tuning-curve"]])
def test_the_summary_command_holds_only_the_rows_it_reads(folder_with_diagnostics, options,
                                                          loaded, monkeypatch, capsys):
    from adamlab.cli.app import main

    monkeypatch.setattr(MetricLogs, "_whole", lambda self: pytest.fail("read again"))
    assert main(["summary", str(folder_with_diagnostics), *options]) == 0
    assert capsys.readouterr().out
    (results,) = loaded
    assert "opt.effective_step" in results.metric_names()
    assert all(span.held is not None and "opt.effective_step" not in span.held
               for span in results.logs._spans() if span.logged)


def test_a_wide_export_holds_no_logged_value(folder, loaded, capsys):
    from adamlab.cli.app import main

    assert main(["export", str(folder)]) == 0
    (results,) = loaded
    assert results.metric_names() and len(results.logs) > 0  # known, counted ...
    assert all(span.stop == span.start for span in results.logs._spans())  # ... and not held
