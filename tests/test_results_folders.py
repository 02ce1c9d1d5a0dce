"""Several results folders at once (`summary A B`, `export A B`), `adamlab runs [ROOT]`, and
exports in the format the file's extension names."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from experiments_testing import write_folder
from results_fixture import quadratic_records, write_results

from adamlab.cli.app import main


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def two_folders(tmp_path):
    """`a` holds every quadratic trial; `b` a copy of `a` plus one more seed of adam."""
    a = write_results(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    extra = [r.model_copy(update={"seed": 9, "trial_id": "f" * 16}) for r in quadratic_records()
             if r.variant == "adam" and r.seed == 0 and r.hparams["lr"] == 0.1 and r.hparams["beta2"] == 0.999]
    for record in extra:
        record.write(b / "trials")
    manifest = json.loads((b / "adamlab-results.json").read_text())
    manifest.pop("trial_ids", None)
    (b / "adamlab-results.json").write_text(json.dumps(manifest))
    return a, b


def test_export_merges_folders_with_a_folder_column_counting_a_trial_once(capsys, two_folders, tmp_path):
    a, b = two_folders
    code, _, err = run_cli(capsys, "export", a, b, "-o", tmp_path / "both.csv")
    assert code == 0, err
    both = pd.read_csv(tmp_path / "both.csv")
    run_cli(capsys, "export", a, "-o", tmp_path / "a.csv")
    alone = pd.read_csv(tmp_path / "a.csv")
    assert "folder" not in alone.columns  # one folder: the table as it was
    assert len(both) == len(alone) + 1 and both["trial_id"].is_unique
    assert both.loc[both["trial_id"] == "f" * 16, "folder"].tolist() == ["b"]
    assert set(both["folder"]) == {"a", "b"}
    assert (both.loc[both["trial_id"].isin(alone["trial_id"]), "folder"] == "a").all()
    run_cli(capsys, "export", a, b, "--long", "-o", tmp_path / "long.csv")
    long = pd.read_csv(tmp_path / "long.csv")
    assert long.columns[0] == "folder" and set(long["folder"]) == {"a", "b"}


def test_summary_of_two_folders_pools_their_seeds_and_names_the_folders(capsys, two_folders):
    a, b = two_folders
    code, out, err = run_cli(capsys, "summary", a, b, "--task", "quadratic", "--all")
    assert code == 0, err
    assert f"{a}, {b}" in out and "37 trials ended" in " ".join(out.split())
    assert "│ folder" in out or "┃ folder" in out
    assert "a, b" in out  # adam lr=0.1: three seeds from a, one more from b


def test_the_same_folder_twice_is_refused(capsys, two_folders):
    a, _ = two_folders
    code, _, err = run_cli(capsys, "summary", a, a)
    assert code == 1 and err.strip() == f"error: {a}: given more than once"


def test_exports_in_the_format_the_extension_names(capsys, tmp_path):
    folder = write_results(tmp_path / "hand")
    frames = {}
    for name in ("t.csv", "t.parquet", "t.json"):
        code, out, err = run_cli(capsys, "export", folder, "-o", tmp_path / name)
        assert code == 0, err
    frames["csv"] = pd.read_csv(tmp_path / "t.csv")
    frames["parquet"] = pd.read_parquet(tmp_path / "t.parquet")
    frames["json"] = pd.DataFrame(json.loads((tmp_path / "t.json").read_text()))
    assert not (tmp_path / "t.parquet").read_bytes().startswith(b"trial_id")  # not CSV
    for frame in frames.values():
        assert list(frame.columns) == list(frames["csv"].columns)
        assert frame["trial_id"].tolist() == frames["csv"]["trial_id"].tolist()
        assert frame["final.train_loss"].tolist() == pytest.approx(
            frames["csv"]["final.train_loss"].tolist(), nan_ok=True)
    code, out, err = run_cli(capsys, "export", folder, "-o", tmp_path / "t.xlsx")
    assert code == 1 and not (tmp_path / "t.xlsx").exists()
    assert err.strip() == (f"error: --out {tmp_path / 't.xlsx'}: cannot tell the format from "
                           "'.xlsx'; name the file *.csv, *.parquet or *.json")


def test_runs_lists_every_results_folder_under_root(capsys, tmp_path, two_folders):
    root = tmp_path
    write_folder(root / "deep" / "embedding_sparsity", quadratic_records()[:3], "embedding_sparsity")
    (root / "not_results").mkdir()
    code, out, err = run_cli(capsys, "runs", root)
    assert code == 0, err
    lines = out.splitlines()
    row = {name: next(line for line in lines if f" {name} " in line) for name in ("a", "b")}
    assert "36/?" in row["a"] and "33/2/1" in row["a"]  # "?": no trial_ids in this manifest
    assert "37/?" in row["b"] and "34/2/1" in row["b"]
    deep = next(line for line in lines if "deep/embedding_sparsity" in line)
    assert "3/?" in deep
    # the hand-made records carry no environment: they were not made by this installation
    assert row["a"].rstrip(" │").endswith("36")
    assert "not_results" not in out
    code, out, err = run_cli(capsys, "runs", root / "nowhere")
    assert code == 1 and "no such folder" in err
