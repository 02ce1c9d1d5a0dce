"""Tampered, mismatched or out-of-range records and manifests (ids, data identity,
ranges and provenance): refused in one line naming the file and field, never reused, never a traceback."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from sweep_testing import (
    fast_then_slow_sweep,
    quick_sweep,
    records,
    start_cli,
    wait_for_records,
    write_yaml,
)
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.cli.app import main
from adamlab.store.identity import trial_id_of
from adamlab.sweep import execute


@pytest.fixture
def done(tmp_path):
    config = quick_sweep(tmp_path, steps=5)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "-q"]) == 0
    return config, tmp_path / "out"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _edit(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _a_record(out, optimizer="adam"):
    return next(p for p in sorted((out / "trials").glob("*.json"))
                if json.loads(p.read_text())["optimizer"] == optimizer)


# ---------------------------------------------------------------- the id recomputed on load


def test_a_record_whose_lr_was_edited_is_refused_naming_the_file(done, capsys):
    config, out = done
    record = _a_record(out)
    _edit(record, lambda d: d["hparams"].update(lr=0.5))
    message = (f"error: {record}: the configuration in this record does not hash to its trial_id "
               f"{record.stem} (edited by hand, or copied from another trial?); it is not used: "
               f"move it out of trials/ to run that trial again")
    for command in (["summary", str(out)], ["export", str(out)], ["sweep", str(config), "--out", str(out), "-q"]):
        assert main(command) == 1
        assert _one_line(capsys) == message


def test_an_older_record_without_its_whole_identity_is_checked_against_the_plan(done, capsys):
    config, out = done
    record = _a_record(out)

    def older_and_edited(data):
        for name in ("log_every", "eval_every", "divergence_factor"):
            del data[name]
        data["hparams"]["lr"] = 0.5

    _edit(record, older_and_edited)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == (
        f"error: {record}: holds another configuration than trial {record.stem} (hparams differ: "
        f"edited by hand, or copied from another trial?); it is not used: move it out of trials/ "
        f"to run that trial again"
    )


def test_the_id_is_the_same_function_of_the_same_fields(done):
    _, out = done
    for record in records(out).values():
        identity = record.identity()
        assert identity is not None and trial_id_of(identity) == record.trial_id


# ---------------------------------------------------------------- the data's identity


def _mnist_sweep(tmp_path):
    return write_yaml(tmp_path, """\
        name: m
        steps: 2
        batch_size: 8
        tasks:
          - name: mnist_mlp
            params: {widths: [4], download: false}
        optimizers: [sgd]
        """, name="m.yaml")


def test_records_made_on_other_data_are_stale(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    arrays = tiny_mnist_arrays(n_train=60, n_test=20)
    write_mnist(data, arrays, gz=False)
    monkeypatch.setenv("ADAMLAB_DATA", str(data))  # the data_dir default
    config, out = _mnist_sweep(tmp_path), tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    (record,) = records(out).values()
    assert record.environment.data_hash and len(record.environment.data_hash) == 16
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0  # same data: done
    assert "1 already done" in capsys.readouterr().out
    shifted = {**arrays, "train_labels": ((arrays["train_labels"] + 1) % 10).astype(np.uint8)}
    write_mnist(data, shifted, gz=False)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    err = _one_line(capsys)
    assert f"1 trial record(s) were made with mnist_mlp data {record.environment.data_hash[:8]} (this run reads data " in err
    assert "--rerun-stale" in err
    assert main(["sweep", str(config), "--out", str(out), "-q", "--rerun-stale"]) == 0
    (rerun,) = records(out).values()
    assert rerun.environment.data_hash not in (None, record.environment.data_hash)


def test_a_copy_of_the_same_files_has_the_same_identity_other_files_another(tmp_path):
    from adamlab.tasks.mnist_data import data_fingerprint

    arrays = tiny_mnist_arrays(n_train=60, n_test=20)
    write_mnist(tmp_path / "a", arrays, gz=False)
    write_mnist(tmp_path / "b", arrays, gz=False)
    write_mnist(tmp_path / "gz", arrays, gz=True)
    assert data_fingerprint(tmp_path / "a") == data_fingerprint(tmp_path / "b") is not None
    # the bytes on disk are hashed: gunzipping is conservatively other data (re-run, not reused)
    assert data_fingerprint(tmp_path / "gz") not in (None, data_fingerprint(tmp_path / "a"))
    assert data_fingerprint(tmp_path / "none") is None


def test_tasks_without_data_files_record_none(done):
    _, out = done
    assert {r.environment.data_hash for r in records(out).values()} == {None}


# ---------------------------------------------------------------- records appearing while planning


def test_records_written_between_planning_and_the_lock_are_checked_too(done, monkeypatch, capsys):
    """Another sweep writes a record made elsewhere after this one planned (unlocked) and before
    it takes the lock: the stale check must still see it."""
    config, out = done
    record = _a_record(out)
    made_elsewhere = json.loads(record.read_text())
    made_elsewhere["environment"]["source_hash"] = "0" * 16
    record.unlink()
    real_plan = execute.plan_sweep

    def plan_then_another_sweep_writes(*args, **kwargs):
        plan = real_plan(*args, **kwargs)
        record.write_text(json.dumps(made_elsewhere))
        return plan

    monkeypatch.setattr(execute, "plan_sweep", plan_then_another_sweep_writes)
    manifest = (out / "adamlab-results.json").read_bytes()
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert "1 trial record(s) were made with adamlab" in _one_line(capsys)
    assert (out / "adamlab-results.json").read_bytes() == manifest  # refused before writing
    assert json.loads(record.read_text()) == made_elsewhere  # and not re-run over


# ---------------------------------------------------------------- provenance after kill -9


def test_a_killed_runs_provenance_counts_the_records_it_wrote(tmp_path):
    config = fast_then_slow_sweep(tmp_path, fast_seeds=3)
    out = tmp_path / "out"
    process = start_cli("sweep", str(config), "--out", str(out), "--quiet", "--jobs", "1", cwd=tmp_path)
    wait_for_records(out, 3, process)
    # the count follows each record by one write: kill once it is there (the slow trial runs on)
    deadline = time.monotonic() + 120
    while json.loads((out / "provenance.json").read_text())["runs"][-1]["trials_run"] < 3:
        assert time.monotonic() < deadline and process.poll() is None, "provenance never counted 3"
        time.sleep(0.01)
    process.kill()
    process.wait()
    run = json.loads((out / "provenance.json").read_text())["runs"][-1]
    assert (run["outcome"], run["trials_run"]) == ("running", 3)
    assert len(list((out / "trials").glob("*.json"))) == 3


# ---------------------------------------------------------------- T4: huge integers


def test_a_record_with_an_integer_beyond_int64_does_not_break_the_tables(done, capsys):
    config, out = done
    record = _a_record(out, "sgd")
    _edit(record, lambda d: d["task_params"].update(problem_seed=10**19))  # not an identity check:
    _edit(record, lambda d: [d.pop(k) for k in ("log_every", "eval_every", "divergence_factor")])
    assert main(["summary", str(out)]) == 0
    assert main(["export", str(out), "--out", str(out / "x.csv")]) == 0
    assert "10000000000000000000" in (out / "x.csv").read_text()
    capsys.readouterr()
    # the sweep on that folder: the record is not one of this sweep's (its configuration differs)
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    assert "holds another configuration than trial" in _one_line(capsys)


@pytest.mark.parametrize("yaml_text, expected", [
    ("tasks: [{name: quadratic, params: {problem_seed: 10000000000000000000}}]",
     "tasks[0].params.problem_seed: must be <= 9,223,372,036,854,775,807, got 10000000000000000000"),
    ("tasks: [{name: quadratic, params: {problem_seed: -1}}]", "tasks[0].params.problem_seed: must be >= 0, got -1"),
    ("tasks: [{name: quadratic, params: {problem_seed: -1.0e+26}}]", "tasks[0].params.problem_seed: "),
    ("batch_size: 100000000000000000000\ntasks: [quadratic]", "batch_size: must be <= 9,223,372,036,854,775,807"),
    ("batch_size: 1.0e+20\ntasks: [quadratic]", "batch_size: must be an integer, got 1e+20"),
    ("tasks: [{name: mnist_mlp, params: {widths: [100000000000000000000]}}]",
     "tasks[0].params.widths: must be an integer within int64 (|n| < 2^63), got 100000000000000000000"),
    ("tasks: [quadratic]\nseeds: [100000000000000000000]", "seeds[0]: must be <= 9,223,372,036,854,775,807"),
])
def test_integers_are_bounded_at_validation(tmp_path, capsys, yaml_text, expected):
    path = tmp_path / "big.yaml"
    path.write_text(f"name: big\nsteps: 5\n{yaml_text}\noptimizers: [sgd]\n")
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 1
    assert _one_line(capsys).startswith(f"error: {path}: {expected}")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- T5/T6: bad manifests and records


@pytest.mark.parametrize("change, expected", [
    (lambda m: m.update(tasks=[1]), "tasks: expected a mapping of task name to its metrics, got [1]"),
    (lambda m: m["tasks"]["quadratic"].update(metric_goals="x"),
     "tasks.quadratic.metric_goals: expected a mapping of metric to min or max, got 'x'"),
    (lambda m: m["tasks"]["quadratic"].update(metric_goals={"loss": "up"}),
     "tasks.quadratic.metric_goals.loss: expected min or max, got 'up'"),
    (lambda m: m["tasks"].update(quadratic=3), "tasks.quadratic: expected a mapping with primary_metric and metric_goals, got 3"),
    (lambda m: m["tasks"]["quadratic"].update(primary_metric=[]), "tasks.quadratic.primary_metric: expected a metric name, got []"),
])
@pytest.mark.parametrize("command", ["summary", "plot", "export"])
def test_a_bad_manifest_is_one_line_naming_the_field(done, capsys, change, expected, command):
    _, out = done
    _edit(out / "adamlab-results.json", change)
    assert main([command, str(out)]) == 1
    assert _one_line(capsys) == f"error: {out}/adamlab-results.json: {expected}"


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.update(seed=2**70), "seed: input should be less than or equal to 9223372036854775807, got 1180591620717411303424"),
    (lambda d: d["hparams"].update(lr="abc"), "hparams.lr: must be a number like adam's default 0.001, got 'abc'"),
    (lambda d: d["hparams"].update(amsgrad=1), "hparams.amsgrad: must be true or false like adam's default False, got 1"),
    (lambda d: d["metrics"]["step"].__setitem__(0, 2**64), "metrics: step.0: input should be less than or equal to 9223372036854775807, got 18446744073709551616"),
])
@pytest.mark.parametrize("command", ["summary", "plot"])
def test_a_bad_record_is_one_line_naming_the_file_and_field(done, capsys, change, expected, command):
    _, out = done
    record = _a_record(out)
    _edit(record, change)
    assert main([command, str(out)]) == 1
    assert _one_line(capsys) == f"error: {record}: not a valid trial record: {expected}"
