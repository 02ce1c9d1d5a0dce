"""Batched trials in whole sweeps (issue 8): `batch_trials:` in the YAML, `--batch-trials` on the
command line (which wins), resume with stacks, stacks as the unit of work of `--jobs`. The results
folder is the one a sequential run writes: one record per trial, same ids, same values."""

from __future__ import annotations

import pytest
from batched_testing import assert_same_record
from sweep_testing import quick_sweep, records

from adamlab.cli.app import main
from adamlab.store.tables import load_results
from adamlab.sweep import stacked_runner
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.schema import load_sweep


@pytest.fixture
def stacks(monkeypatch) -> list[list[str]]:
    """The trial ids of every stack run in this process, in order."""
    seen: list[list[str]] = []
    real = stacked_runner.run_stack

    def spy(trials, sweep_name):
        seen.append([t.trial_id for t in trials])
        return real(trials, sweep_name)

    monkeypatch.setattr(stacked_runner, "run_stack", spy)
    return seen


def _assert_same_folders(batched_dir, sequential_dir) -> None:
    mine, theirs = records(batched_dir), records(sequential_dir)
    assert mine.keys() == theirs.keys()
    for trial_id, record in theirs.items():
        assert_same_record(mine[trial_id], record)


def test_yaml_batch_trials_stacks_and_matches_the_sequential_run(tmp_path, stacks):
    config = quick_sweep(tmp_path, extra="batch_trials: 8")
    sweep = load_sweep(config)
    assert sweep.batch_trials == 8
    batched = run_sweep(sweep.with_output(tmp_path / "batched"))
    # per seed: one stack of the 4 adam configs and one of the 2 sgd configs
    assert sorted(map(len, stacks)) == [2, 2, 4, 4]
    assert len(batched.records) == 12 and batched.counts()["finished"] == 12
    run_sweep(sweep.with_output(tmp_path / "sequential"), batch_trials=1)
    assert len(stacks) == 4  # batch_trials=1 stacked nothing
    _assert_same_folders(tmp_path / "batched", tmp_path / "sequential")
    table = load_results(tmp_path / "batched").trials
    assert len(table) == 12 and set(table["status"]) == {"finished"}


def test_resume_stacks_only_the_unfinished_trials(tmp_path, stacks):
    out = tmp_path / "out"
    first = run_sweep(load_sweep(quick_sweep(tmp_path, lrs="[0.01, 0.1]")).with_output(out))
    done = {r.trial_id for r in first.records}
    grown = load_sweep(quick_sweep(tmp_path, lrs="[0.01, 0.03, 0.1]")).with_output(out)
    second = run_sweep(grown, batch_trials=8)
    ran = {r.trial_id for r in second.records}
    assert len(done) == 12 and len(ran) == 6 and not ran & done
    assert {tid for stack in stacks for tid in stack} == {
        r.trial_id for r in second.records if r.optimizer == "adam"}  # sgd's new lr is alone per seed
    again = run_sweep(grown, batch_trials=8)
    assert again.records == [] and len(stacks) == 2

    reference = tmp_path / "reference"
    run_sweep(grown.with_output(reference))
    _assert_same_folders(out, reference)


def test_command_line_batch_trials_overrides_the_yaml(tmp_path, stacks):
    config = quick_sweep(tmp_path, seeds="[0]", extra="batch_trials: 1")
    assert main(["sweep", str(config), "--out", str(tmp_path / "a"), "--batch-trials", "4",
                 "--quiet"]) == 0
    assert sorted(map(len, stacks)) == [2, 4]

    stacks.clear()
    config = quick_sweep(tmp_path, seeds="[0]", extra="batch_trials: 4")
    assert main(["sweep", str(config), "--out", str(tmp_path / "b"), "--batch-trials", "1",
                 "--quiet"]) == 0
    assert stacks == []
    _assert_same_folders(tmp_path / "a", tmp_path / "b")


def test_bad_batch_trials_on_the_command_line(tmp_path, capsys):
    config = quick_sweep(tmp_path)
    assert main(["sweep", str(config), "--out", str(tmp_path / "x"), "--batch-trials", "0"]) != 0
    assert "--batch-trials" in capsys.readouterr().err


def test_stacks_are_the_unit_of_work_of_parallel_workers(tmp_path):
    sweep = load_sweep(quick_sweep(tmp_path, steps=30))
    parallel = run_sweep(sweep.with_output(tmp_path / "parallel"), jobs=2, threads=1, batch_trials=4)
    assert len(parallel.records) == 12
    run_sweep(sweep.with_output(tmp_path / "sequential"), threads=1)
    _assert_same_folders(tmp_path / "parallel", tmp_path / "sequential")
