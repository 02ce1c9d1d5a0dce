"""`adamlab summary | export | plot` through the CLI: output, files, one-line errors."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from results_fixture import write_results

from adamlab.cli.app import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_results(tmp_path_factory.mktemp("hand") / "hand")


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_summary_prints_tables_counts_and_the_rules(capsys, folder):
    code, out, err = run_cli(capsys, "summary", folder, "--task", "quadratic")
    assert code == 0, err
    assert "36 trials ended: 33 finished, 2 diverged, 1 failed" in " ".join(out.split())
    flat = " ".join(out.split())
    assert "Ranked by rule final (last logged) train_loss, lower is better" in flat
    assert "best-tuned SGD = sgd (lr=0.1) (not bracketed: lr=0.1 is the bottom of the grid" in flat
    assert "best-tuned momentum = momentum (lr=0.01)" in flat
    assert "a config with any diverged or failed seed ranks after every config with none" in flat
    assert "Student-t 95% interval" in flat and "geo. mean [log-t 95%]" in flat
    # adam [.05 .1 .15]: geometric mean and log-scale interval, inside (0, inf); paired ratio
    # to SGD, marked; interpolated steps
    assert "0.09086 [0.02286, 0.3612]" in out and "0.184× ★ [0.0765, 0.444]" in out
    assert "unequal tuning budgets (configs tried per variant: adam 4" in flat
    assert "19 (0.477×)" in out and "lr: open, beta2: open" in out and "lr: untuned" in out
    assert "2/0/1" in out  # adam-nobc: one failed seed, visible
    assert "mnist_mlp" not in out


def test_summary_all_and_at_step(capsys, folder):
    _, out, _ = run_cli(capsys, "summary", folder, "--task", "quadratic", "--all")
    assert "every config" in out and "2/1/0" in out  # the configs with a diverged seed
    _, out, _ = run_cli(capsys, "summary", folder, "--task", "quadratic", "--at-step", "20",
                        "--rule", "best")
    flat = " ".join(out.split())
    assert "best train_loss at step 20" in flat
    assert "best (best-ever) train_loss at the logged step nearest <= 20" in flat


def test_summary_json_has_one_object_per_row(capsys, folder):
    code, out, err = run_cli(capsys, "summary", folder, "--task", "quadratic", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["variant"] for r in rows] == ["adam", "momentum", "sgd", "adam-nobc"]
    adam = rows[0]
    assert adam["hparams"]["lr"] == 0.1 and adam["metric"] == "train_loss"
    assert adam["rule"] == "final" and adam["seeds"] == 3 and adam["interval"] == "log t"
    assert 0 < adam["ci_low"] < adam["centre"] < adam["ci_high"] and adam["tuning_budget"] == 4
    assert adam["mean"] == pytest.approx(0.1) and adam["best"] is True
    assert adam["grid_edge"] == {"lr": "open", "beta2": "open"}
    sgd = adam["comparisons"]["sgd"]
    assert sgd["method"] == "paired" and sgd["pairs"] == 3 and sgd["significant"] is True
    assert sgd["estimate"] == pytest.approx(0.00625 ** (1 / 3))
    assert rows[2]["reference"] == "sgd" and "sgd" not in rows[2]["comparisons"]
    code, out, _ = run_cli(capsys, "summary", folder, "--task", "quadratic", "--json", "--all")
    assert len(json.loads(out)) == 9
    code, out, _ = run_cli(capsys, "summary", folder, "--json", "--task", "mnist_mlp")
    one = json.loads(out)[0]
    assert one["select_metric"] == "test_accuracy"


def test_summary_against_a_variant(capsys, folder):
    code, out, err = run_cli(capsys, "summary", folder, "--task", "quadratic", "--against", "adam")
    assert code == 0, err
    assert "÷adam [95%]" in out
    code, out, err = run_cli(capsys, "summary", folder, "--against", "lion")
    assert code == 1 and err.startswith("error: --against: no variant 'lion'")


def test_summary_bad_rule_is_a_usage_error(capsys, folder):
    code, out, err = run_cli(capsys, "summary", folder, "--rule", "last")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "'final', 'best'" in err


def test_export_to_stdout_and_to_a_file(capsys, folder, tmp_path):
    code, out, _ = run_cli(capsys, "export", folder, "--task", "mnist_mlp")
    assert code == 0
    wide = pd.read_csv(io.StringIO(out))
    assert len(wide) == 10 and set(wide["task"]) == {"mnist_mlp"}
    code, out, _ = run_cli(capsys, "export", folder, "--long", "--optimizer", "sgd", "--out",
                           tmp_path / "sgd.csv")
    assert code == 0 and "wrote" in out and "sgd.csv" in out
    long = pd.read_csv(tmp_path / "sgd.csv")
    assert set(long["optimizer"]) == {"sgd"} and {"step", "metric", "value"} <= set(long.columns)


def test_plot_lists_the_files_it_wrote(capsys, folder, tmp_path):
    code, out, _ = run_cli(capsys, "plot", folder, "--metric", "train_loss", "--out", tmp_path)
    assert code == 0
    listed = out.split()
    assert str(tmp_path / "quadratic__curves__train_loss.png") in listed
    assert str(tmp_path / "quadratic__tuning_curve__train_loss.png") in listed
    assert all(p.endswith(".png") for p in listed) and len(listed) == 8


def test_damaged_folder_is_one_line_naming_the_file(capsys, tmp_path):
    folder = write_results(tmp_path / "bad")
    record = sorted((folder / "trials").glob("*.json"))[0]
    record.write_text(record.read_text()[:100])
    for command in ("summary", "export", "plot"):
        code, out, err = run_cli(capsys, command, folder)
        assert code == 1 and out == ""
        assert err.count("\n") == 1, err
        assert err.startswith(f"error: {record}: not valid JSON")


def test_a_task_without_the_chosen_metric_says_what_it_has(capsys, folder):
    code, out, _ = run_cli(capsys, "summary", folder, "--metric", "test_accuracy")
    assert code == 0
    assert "quadratic: no test_accuracy recorded; recorded: train_loss" in " ".join(out.split())
    # mnist_mlp's table is there: t interval at 2 seeds, clipped to what an accuracy can be
    assert "0.965 [0.9015, 1]" in out


def test_a_folder_with_no_ended_trial(capsys, tmp_path):
    folder = write_results(tmp_path / "empty", [])
    code, out, _ = run_cli(capsys, "summary", folder)
    assert code == 0 and "No trial has ended yet" in out
    code, out, _ = run_cli(capsys, "plot", folder)
    assert code == 0 and "nothing to plot" in out


def test_a_sweep_whose_trials_all_failed_still_shows_them(capsys, tmp_path):
    from results_fixture import quadratic_records

    records = quadratic_records()
    for record in records:
        record.status, record.steps_run, record.final, record.best = "failed", 0, {}, {}
        record.metrics = {"step": [], "wall_time": [], "metric": [], "value": []}
    folder = write_results(tmp_path / "failed", records)
    code, out, _ = run_cli(capsys, "summary", folder, "--task", "quadratic")
    assert code == 0
    assert "quadratic: no train_loss recorded; recorded: none" in out
    # every config ranks equal (all seeds bad, no value): the first of each variant is shown
    assert out.count("0/0/3") == 3 and out.count("0/0/2") == 1  # adam lr=0.01 beta2=0.99
    code, out, _ = run_cli(capsys, "plot", folder)
    assert code == 0 and "Nothing to plot: no trial logged a metric" in out
