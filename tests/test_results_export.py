"""`adamlab export`: CSV that reads back into pandas as the same table."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from results_fixture import write_results

from adamlab.analysis.export import export_frame, write_table
from adamlab.errors import AdamlabError
from adamlab.store.tables import load_results


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return load_results(write_results(tmp_path_factory.mktemp("hand") / "hand"))


def round_trip(frame: pd.DataFrame, path) -> pd.DataFrame:
    write_table(frame, path)
    return pd.read_csv(path)


def assert_same_table(read: pd.DataFrame, frame: pd.DataFrame) -> None:
    assert list(read.columns) == list(frame.columns)
    assert len(read) == len(frame)
    for column in frame.columns:
        expected = frame[column].astype(object).where(frame[column].notna(), None).tolist()
        got = read[column].astype(object).where(read[column].notna(), None).tolist()
        if frame[column].dtype.kind in "fiu" or str(frame[column].dtype) in ("Int64", "boolean"):
            assert got == expected, column
        else:
            assert [None if v is None else str(v) for v in got] == \
                   [None if v is None else str(v) for v in expected], column


def test_wide_export_round_trips(results, tmp_path):
    frame = export_frame(results)
    assert frame.equals(results.trials)
    assert_same_table(round_trip(frame, tmp_path / "wide.csv"), frame)


def test_long_export_carries_each_trials_config_and_round_trips(results, tmp_path):
    frame = export_frame(results, long=True)
    assert list(frame.columns[:6]) == ["trial_id", "task", "variant", "optimizer", "seed", "status"]
    assert list(frame.columns[-4:]) == ["step", "wall_time", "metric", "value"]
    assert "hp.lr" in frame.columns and "task.preset" in frame.columns
    assert len(frame) == len(results.metrics)
    # every row's config is its trial's
    merged = frame.merge(results.trials[["trial_id", "hp.lr", "seed"]], on="trial_id",
                         suffixes=("", "_trial"))
    assert (merged["hp.lr"] == merged["hp.lr_trial"]).all()
    assert (merged["seed"] == merged["seed_trial"]).all()
    assert_same_table(round_trip(frame, tmp_path / "long.csv"), frame)


def test_filters_keep_matching_trials_and_drop_empty_columns(results):
    frame = export_frame(results, task="quadratic", optimizer="adam")
    assert set(frame["task"]) == {"quadratic"}
    assert set(frame["variant"]) == {"adam", "adam-nobc"}  # by registry name: both are adam
    assert "hp.momentum" not in frame.columns and "task.widths" not in frame.columns
    assert "final.test_accuracy" not in frame.columns
    by_label = export_frame(results, optimizer="adam-nobc", long=True)
    assert set(by_label["variant"]) == {"adam-nobc"}


def test_unknown_filter_values_list_the_allowed_ones(results):
    with pytest.raises(AdamlabError, match="--task: no trials match 'cifar'; allowed: mnist_mlp, "
                                            "quadratic"):
        export_frame(results, task="cifar")
    with pytest.raises(AdamlabError, match="--optimizer: no trials match 'momentum'; allowed: "
                                            "adamw, sgd"):
        export_frame(results, task="mnist_mlp", optimizer="momentum")


def test_without_out_the_csv_goes_to_the_stream(results):
    stream = io.StringIO()
    frame = export_frame(results, task="mnist_mlp")
    write_table(frame, None, stream=stream)
    assert_same_table(pd.read_csv(io.StringIO(stream.getvalue())), frame)


def test_out_pointing_at_a_folder_is_refused(results, tmp_path):
    with pytest.raises(AdamlabError, match="--out: .* is a folder"):
        write_table(export_frame(results), tmp_path)
