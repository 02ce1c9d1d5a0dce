"""Running whole sweeps: resume, kill -9, Ctrl-C, parallel workers, the results folder's rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import replace

import pytest
from sweep_testing import (
    failing_sweep,
    fast_then_slow_sweep,
    manifest,
    quick_sweep,
    records,
    start_cli,
    wait_for_records,
    wait_until_dead,
)

from adamlab.cli.app import main
from adamlab.errors import AdamlabError
from adamlab.store.layout import ResultsFolder
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.sweep_plan import plan_sweep
from adamlab.sweep.trials import expand_trials


def _sweep(tmp_path, out="out", **kwargs):
    return load_sweep(quick_sweep(tmp_path, **kwargs)).with_output(tmp_path / out)


def _values_by_trial(results_dir):
    """Everything a trial recorded except timings."""
    out = {}
    for tid, r in records(results_dir).items():
        m = r.metrics
        out[tid] = (r.status, r.steps_run, r.final, r.best, m["step"], m["metric"], m["value"])
    return out


def test_rerun_skips_finished_trials_and_changed_yaml_adds_only_new_ones(tmp_path):
    sweep = _sweep(tmp_path)
    first = run_sweep(sweep)
    assert len(first.records) == 12 and first.counts()["finished"] == 12
    files = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "trials").iterdir()}

    again = run_sweep(sweep)
    assert again.records == [] and len(again.plan.done) == 12
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out" / "trials").iterdir()} == files

    # one more seed: only its 6 trials run; the manifest lists the current sweep's 18 ids
    grown = _sweep(tmp_path, seeds="[0, 1, 2]")
    third = run_sweep(grown)
    assert len(third.records) == 6 and {r.seed for r in third.records} == {2}
    assert manifest(tmp_path / "out")["trial_ids"] == [t.trial_id for t in expand_trials(grown)]
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert [run["trials_run"] for run in provenance["runs"]] == [12, 0, 6]
    assert all(run["outcome"] == "completed" for run in provenance["runs"])
    assert provenance["torch_version"] and provenance["device_name"]


def test_jobs_2_gives_exactly_the_results_of_jobs_1(tmp_path):
    run_sweep(_sweep(tmp_path, out="one"), SweepOptions(jobs=1))
    run_sweep(_sweep(tmp_path, out="two"), SweepOptions(jobs=2))
    one, two = _values_by_trial(tmp_path / "one"), _values_by_trial(tmp_path / "two")
    assert len(one) == 12 and one == two
    drop_times = ("wall_time", "wall_time_s", "stack_wall_time_s", "stack_size")  # how it ran
    for name in ("metrics.csv", "trials.csv"):
        import pandas as pd

        a, b = (pd.read_csv(tmp_path / d / name) for d in ("one", "two"))
        a, b = (f.drop(columns=[c for c in drop_times if c in f.columns]) for f in (a, b))
        pd.testing.assert_frame_equal(a, b)


def test_sigkill_mid_sweep_then_rerun_runs_every_trial_exactly_once(tmp_path, capsys):
    config = fast_then_slow_sweep(tmp_path, fast_seeds=3)
    out = tmp_path / "out"
    process = start_cli("sweep", str(config), "--out", str(out), "--quiet", cwd=tmp_path)
    wait_for_records(out, 3, process)
    process.kill()  # SIGKILL: no cleanup of any kind
    process.wait()
    trials_dir = out / "trials"
    before = {p.name: p.read_bytes() for p in trials_dir.glob("*.json")}
    assert len(before) == 3  # the fourth trial takes minutes

    sweep = load_sweep(config).with_output(out)
    plan = plan_sweep(sweep)
    assert {t.trial_id for t in plan.pending} == {t.trial_id for t in plan.trials} - {n[:-5] for n in before}
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["runs"][-1]["outcome"] == "running"  # nobody could say otherwise ...
    # ... until the next run into the folder: here the same sweep without its slow task (whose
    # trials would take minutes), so there is nothing left to run
    fast = [t for t in plan.trials if t.steps == 100]
    assert run_sweep(replace(sweep, tasks=sweep.tasks[:1])).records == []
    runs = json.loads((out / "provenance.json").read_text())["runs"]
    assert [r["outcome"] for r in runs] == ["killed", "completed"]
    after = {p.name: p.read_bytes() for p in trials_dir.glob("*.json")}
    assert after == before and {n[:-5] for n in after} == {t.trial_id for t in fast}
    assert not list(trials_dir.glob(".*")) and not list(out.glob(".*.tmp"))


def _check_interrupted(out, stderr, done):
    assert len(list((out / "trials").glob("*.json"))) == done
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: ") and "run the same command again to resume" in last
    assert "Traceback" not in stderr
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["runs"][-1]["outcome"] == "interrupted"
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + done


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_stops_cleanly_keeps_finished_trials_and_exits_130(tmp_path, jobs):
    config = fast_then_slow_sweep(tmp_path, fast_seeds=3)
    out = tmp_path / "out"
    process = start_cli("sweep", str(config), "--out", str(out), "--jobs", jobs, cwd=tmp_path)
    wait_for_records(out, 3, process)
    workers = _children(process.pid)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    _check_interrupted(out, stderr, done=3)
    assert wait_until_dead(workers) == []  # no worker outlives the sweep


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def test_kill_9_of_the_sweep_ends_its_workers(tmp_path):
    """The workers of --jobs 2 exit when their parent is killed with SIGKILL."""
    config = fast_then_slow_sweep(tmp_path, fast_seeds=2)
    out = tmp_path / "out"
    process = start_cli("sweep", str(config), "--out", str(out), "--jobs", "2", "-q", cwd=tmp_path)
    wait_for_records(out, 2, process)
    workers = [p for p in _children(process.pid) if "spawn_main" in _cmdline(p)]
    assert len(workers) == 2
    process.kill()
    process.wait()
    assert wait_until_dead(workers) == []


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline") as cmdline:
            return cmdline.read().replace("\0", " ")
    except FileNotFoundError:
        return ""


def test_retry_failed_reruns_only_failed_trials(tmp_path):
    path = failing_sweep(tmp_path)
    sweep = load_sweep(path).with_output(tmp_path / "out")
    assert [r.status for r in run_sweep(sweep).records] == ["finished", "failed"]
    assert run_sweep(sweep).records == []
    again = run_sweep(sweep, SweepOptions(retry_failed=True))
    assert [(r.task, r.status) for r in again.records] == [("mnist_mlp", "failed")]


def test_a_newer_layout_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "adamlab-results.json").write_text(json.dumps({"layout_version": 7, "adamlab_version": "9.0"}))
    config = quick_sweep(tmp_path)
    for args in (["sweep", str(config), "--out", str(out)], ["sweep", str(config), "--out", str(out), "--dry-run"]):
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert err == (
            f"error: {out}: written with results layout version 7 (adamlab 9.0); this adamlab 0.1.0 "
            f"reads layout version 1 and older: upgrade adamlab"
        )


def test_refuses_a_folder_that_is_not_a_results_folder(tmp_path):
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(AdamlabError, match="exists, is not empty and is not an adamlab results folder"):
        run_sweep(_sweep(tmp_path, out="home"))
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_two_sweeps_cannot_write_one_folder_at_once(tmp_path):
    holder = ResultsFolder(tmp_path / "out").open(sweep_name="quick", trial_ids=[], sweep_yaml="")
    try:
        with pytest.raises(AdamlabError, match=f"in use by another adamlab sweep \\(pid {os.getpid()}\\)"):
            run_sweep(_sweep(tmp_path))
    finally:
        holder.close()
    assert len(run_sweep(_sweep(tmp_path)).records) == 12


def test_dry_run_lists_trials_and_what_is_done(tmp_path, capsys):
    config = quick_sweep(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1] == f"12 trials: 0 done, 12 to run -> {out}  (dry run: nothing was run)"
    ids = [t.trial_id for t in plan_sweep(load_sweep(config)).trials]
    assert all(tid in text for tid in ids)
    assert not out.exists()

    run_sweep(load_sweep(config).with_output(out))
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"12 trials: 12 done, 0 to run -> {out}  (dry run: nothing was run)")


def test_quiet_prints_one_final_line(tmp_path, capsys):
    config = quick_sweep(tmp_path, steps=5)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sweep quick: 12 trials, 12 run (12 finished) in ")
    assert lines[0].endswith(f" s -> {out}")
