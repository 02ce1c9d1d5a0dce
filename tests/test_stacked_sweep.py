"""Stacks in whole sweeps: automatic by default, `stack_size:` in the YAML, `--stack-size` on the
command line (which wins), the old names `batch_trials:` / `--batch-trials` refused, resume with stacks,
stacks as the unit of work of `--jobs`. The results folder is the one a one-trial-at-a-time run
writes: one record per trial, same ids, same values."""

from __future__ import annotations

import pytest
from stacking_testing import assert_same_record
from sweep_testing import quick_sweep, records

from adamlab.cli.app import main
from adamlab.store.tables import load_results
from adamlab.sweep import executors
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep


@pytest.fixture
def stacks(monkeypatch) -> list[list[str]]:
    """The trial ids of every stack run in this process, in order."""
    seen: list[list[str]] = []
    real = executors.run_stack

    def spy(trials, sweep_name):
        seen.append([t.trial_id for t in trials])
        return real(trials, sweep_name)

    monkeypatch.setattr(executors, "run_stack", spy)
    return seen


def _assert_same_folders(stacked_dir, sequential_dir) -> None:
    mine, theirs = records(stacked_dir), records(sequential_dir)
    assert mine.keys() == theirs.keys()
    for trial_id, record in theirs.items():
        assert_same_record(mine[trial_id], record)


def test_default_stacks_automatically_and_matches_the_sequential_run(tmp_path, stacks):
    sweep = load_sweep(quick_sweep(tmp_path))
    assert sweep.stack_size is None
    stacked = run_sweep(sweep.with_output(tmp_path / "stacked"))
    # per seed: one stack of the 4 adam configs and one of the 2 sgd configs
    assert sorted(map(len, stacks)) == [2, 2, 4, 4]
    assert len(stacked.records) == 12 and stacked.counts()["finished"] == 12
    stacks.clear()
    run_sweep(sweep.with_output(tmp_path / "sequential"), SweepOptions(stack_size=1))
    assert sorted(map(len, stacks)) == [1] * 12  # stack_size=1 stacked nothing
    _assert_same_folders(tmp_path / "stacked", tmp_path / "sequential")
    table = load_results(tmp_path / "stacked").trials
    assert len(table) == 12 and set(table["status"]) == {"finished"}


def test_resume_stacks_only_the_unfinished_trials(tmp_path, stacks):
    out = tmp_path / "out"
    first = run_sweep(load_sweep(quick_sweep(tmp_path, lrs="[0.01, 0.1]")).with_output(out))
    done = {r.trial_id for r in first.records}
    grown = load_sweep(quick_sweep(tmp_path, lrs="[0.01, 0.03, 0.1]")).with_output(out)
    stacks.clear()
    second = run_sweep(grown, SweepOptions(stack_size=8))
    ran = {r.trial_id for r in second.records}
    assert len(done) == 12 and len(ran) == 6 and not ran & done
    assert sorted(map(len, stacks)) == [1, 1, 2, 2]  # sgd's new lr is alone per seed
    again = run_sweep(grown, SweepOptions(stack_size=8))
    assert again.records == [] and len(stacks) == 4

    reference = tmp_path / "reference"
    run_sweep(grown.with_output(reference))
    _assert_same_folders(out, reference)


def test_command_line_stack_size_overrides_the_yaml(tmp_path, stacks):
    config = quick_sweep(tmp_path, seeds="[0]", extra="stack_size: 1")
    assert load_sweep(config).stack_size == 1
    assert main(["sweep", str(config), "--out", str(tmp_path / "a"), "--stack-size", "auto",
                 "--quiet"]) == 0
    assert sorted(map(len, stacks)) == [2, 4]

    stacks.clear()
    config = quick_sweep(tmp_path, seeds="[0]", extra="stack_size: 4")
    assert main(["sweep", str(config), "--out", str(tmp_path / "b"), "--stack-size", "1",
                 "--quiet"]) == 0
    assert sorted(map(len, stacks)) == [1] * 6
    _assert_same_folders(tmp_path / "a", tmp_path / "b")


def test_the_old_names_are_refused_like_any_unknown_key_or_option(tmp_path, stacks, capsys):
    config = quick_sweep(tmp_path, seeds="[0]", extra="batch_trials: 1")
    assert main(["sweep", str(config), "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert "batch_trials: unknown key; allowed:" in err and "stack_size" in err
    assert len(err.strip().splitlines()) == 1
    good = quick_sweep(tmp_path, seeds="[0]", extra="stack_size: 2")
    assert main(["sweep", str(good), "--out", str(tmp_path / "b"), "--batch-trials", "4"]) == 2
    assert "--batch-trials" in capsys.readouterr().err
    assert stacks == [] and not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_stack_size_on_the_command_line(tmp_path, capsys, value):
    config = quick_sweep(tmp_path)
    assert main(["sweep", str(config), "--out", str(tmp_path / "x"), "--stack-size", value]) != 0
    assert f"--stack-size: must be auto or an integer >= 1, got '{value}'" in capsys.readouterr().err


def test_stacks_are_the_unit_of_work_of_parallel_workers(tmp_path):
    sweep = load_sweep(quick_sweep(tmp_path, steps=30))
    parallel = run_sweep(sweep.with_output(tmp_path / "parallel"), SweepOptions(jobs=2, threads=1, stack_size=4))
    assert len(parallel.records) == 12
    run_sweep(sweep.with_output(tmp_path / "sequential"), SweepOptions(threads=1, stack_size=1))
    _assert_same_folders(tmp_path / "parallel", tmp_path / "sequential")


def test_default_jobs_and_threads_follow_the_sweeps_size(tmp_path, monkeypatch):
    from adamlab import host
    from adamlab.sweep import resources
    from adamlab.sweep.stacking import plan_stacks
    from adamlab.sweep.trials import expand_trials

    monkeypatch.setattr(host, "available_cores", lambda: 4)
    plan = plan_stacks(expand_trials(load_sweep(quick_sweep(tmp_path))))
    work = resources.estimated_work_s(plan)
    # a pool starts when each worker's share repays POOL_REPAYS x the measured start-up
    assert resources.auto_jobs(plan, cores=2, startup_s=work) == 1
    assert resources.auto_jobs(plan, cores=2, startup_s=work / 2 / resources.POOL_REPAYS * 1.01) == 1
    assert resources.auto_jobs(plan, cores=2, startup_s=work / 2 / resources.POOL_REPAYS * 0.99) == 2
    assert resources.auto_jobs(plan, cores=1, startup_s=0.0) == 1
    assert resources.auto_jobs(plan, cores=2) == 1  # small: one process at the default start-up
    assert resources.auto_threads(plan, jobs=1) == 1  # 5-d quadratic stacks: one thread
    monkeypatch.setattr(resources, "SMALL_STACK_BYTES", 0)
    monkeypatch.setattr(host, "idle_cores", lambda: 4)
    assert resources.auto_threads(plan, jobs=1) == 4
    assert resources.auto_threads(plan, jobs=2) == 2
    monkeypatch.setattr(host, "idle_cores", lambda: 1)  # the other cores are busy
    assert resources.auto_threads(plan, jobs=1) == 1
    one_stack = plan_stacks(expand_trials(load_sweep(quick_sweep(tmp_path, seeds="[0]")))[:4])
    assert len(one_stack.stacks) == 1 and resources.auto_jobs(one_stack, cores=4, startup_s=0.0) == 4  # split
    one_trial = plan_stacks(expand_trials(load_sweep(quick_sweep(tmp_path, seeds="[0]")))[:1])
    assert resources.auto_jobs(one_trial, cores=2, startup_s=0.0) == 1
