"""`adamlab sweep --backend ray`: same records as `--jobs 1`, resume, Ctrl-C, and its errors.

The tests that run trials share one local Ray instance (2 CPUs, started once for the module);
the Ctrl-C test runs the CLI in a subprocess that starts and stops its own instance, the way a
user's `--backend ray` without `--address` does.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import NO_REAL_MNIST, REAL_MNIST, real_mnist_missing
from sweep_testing import (
    cli_command,
    fast_then_slow_sweep,
    manifest,
    quick_sweep,
    records,
    start_cli,
    wait_for_records,
    wait_until_dead,
    write_yaml,
)

from adamlab.cli.app import main
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.stacking import plan_stacks
from adamlab.sweep.sweep_plan import plan_sweep
from adamlab.sweep.trials import expand_trials

requires_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed: pip install 'adamlab[ray]' (make venv installs it)",
)

RAY_PROCESS_NAMES = ("raylet", "gcs_server", "ray::", "dashboard", "log_monitor", "monitor.py")


def _descendants(pid: int) -> list[int]:
    """Live (not zombie) processes below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _ray_processes_below(pid: int) -> list[str]:
    found = []
    for child in _descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(name in command for name in RAY_PROCESS_NAMES):
            found.append(f"{child} {command[:120]}")
    return found


def _wait_until_gone(pid: int, timeout: float = 30.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := _ray_processes_below(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module's tests; `--backend ray` uses this connection."""
    import ray

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=80 * 2**20, logging_level=logging.ERROR)
    for sig, handler in saved.items():  # ray.init replaces pytest's SIGTERM handling
        signal.signal(sig, handler)
    yield ray
    ray.shutdown()
    assert _wait_until_gone(os.getpid()) == [], "Ray processes outlived ray.shutdown()"


def _values_by_trial(results_dir):
    """Everything a trial recorded except timings."""
    out = {}
    for tid, r in records(results_dir).items():
        fields = {k: v for k, v in vars(r).items()
                  if k not in ("wall_time_s", "stack_wall_time_s", "stack_size", "metrics")}
        metrics = {k: v for k, v in r.metrics.items() if k != "wall_time"}
        out[tid] = (fields, metrics)
    return out


def _tables_without_times(results_dir):
    frames = {}
    for name in ("trials.csv", "metrics.csv"):
        frame = pd.read_csv(results_dir / name)
        frames[name] = frame.drop(columns=[c for c in ("wall_time", "wall_time_s", "stack_wall_time_s", "stack_size")
                                           if c in frame.columns])
    return frames


@requires_ray
@pytest.mark.parametrize("stack_size", [1, 4])
def test_ray_backend_records_equal_jobs_1(ray_instance, tmp_path, capsys, stack_size):
    config = quick_sweep(tmp_path)
    sweep = load_sweep(config)
    if stack_size > 1:  # what is sent to Ray are stacks of several trials
        assert max(map(len, plan_stacks(expand_trials(sweep), stack_size, jobs=2).stacks)) > 1
    run_sweep(sweep.with_output(tmp_path / "local"), SweepOptions(jobs=1, stack_size=stack_size))
    code = main(["sweep", str(config), "--out", str(tmp_path / "ray"), "--backend", "ray",
                 "--stack-size", str(stack_size), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "sweep quick: 12 trials, 12 run (12 finished)" in capsys.readouterr().out

    local, remote = _values_by_trial(tmp_path / "local"), _values_by_trial(tmp_path / "ray")
    assert len(local) == 12 and local == remote
    for name, frame in _tables_without_times(tmp_path / "local").items():
        pd.testing.assert_frame_equal(frame, _tables_without_times(tmp_path / "ray")[name])
    run = json.loads((tmp_path / "ray" / "provenance.json").read_text())["runs"][-1]
    assert run["backend"] == "ray" and run["outcome"] == "completed"
    assert run["jobs"] == 2 and run["threads_per_job"] == 1 and run["ray_cpus"] == 2


@requires_ray
def test_ray_backend_skips_finished_trials_and_runs_each_once(ray_instance, tmp_path):
    out = tmp_path / "out"
    first = run_sweep(load_sweep(quick_sweep(tmp_path, seeds="[0]")).with_output(out))
    before = {p.name: p.read_bytes() for p in (out / "trials").glob("*.json")}
    assert len(before) == 6

    full = load_sweep(quick_sweep(tmp_path, seeds="[0, 1]")).with_output(out)
    result = run_sweep(full, SweepOptions(backend="ray"))
    assert result.plan.done == {r.trial_id for r in first.records}
    assert sorted(r.seed for r in result.records) == [1] * 6  # only the missing trials ran
    after = {p.name: p.read_bytes() for p in (out / "trials").glob("*.json")}
    assert {name[:-5] for name in after} == {t.trial_id for t in expand_trials(full)}
    assert all(after[name] == data for name, data in before.items())  # finished ones untouched
    assert not list((out / "trials").glob(".*"))
    assert manifest(out)["trial_ids"] == [t.trial_id for t in expand_trials(full)]
    rows = pd.read_csv(out / "trials.csv")
    assert sorted(rows["trial_id"]) == sorted(name[:-5] for name in after)

    again = run_sweep(full, SweepOptions(backend="ray"))  # nothing left: no cluster is even needed
    assert again.records == [] and len(again.plan.done) == 12


@requires_ray
def test_a_node_with_another_adamlab_refuses_and_the_sweep_stops_with_one_line(
    ray_instance, tmp_path, capsys, monkeypatch
):
    from adamlab.sweep import ray_backend

    # the driver claims another version; the workers import the real module and refuse
    monkeypatch.setattr(ray_backend, "__version__", "9.9.9")
    out = tmp_path / "out"
    assert main(["sweep", str(quick_sweep(tmp_path)), "--out", str(out), "--backend", "ray", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: Ray could not run trial(s) "), err
    assert "WorkerMismatch: node " in err and "the driver 9.9.9: install the same adamlab on every node" in err
    assert records(out) == {}
    assert json.loads((out / "provenance.json").read_text())["runs"][-1]["outcome"] == "crashed"


@requires_ray
def test_relative_paths_in_task_params_mean_what_they_mean_to_the_driver(
    ray_instance, tmp_path, monkeypatch, capsys
):
    if real_mnist_missing():
        pytest.skip(NO_REAL_MNIST)
    # the Ray workers started in another directory; `data_dir: mnist-here` is the driver's
    (tmp_path / "mnist-here").symlink_to(REAL_MNIST, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    config = write_yaml(tmp_path, """\
        name: relative
        steps: 3
        batch_size: 64
        tasks:
          - name: mnist_mlp
            params: {data_dir: mnist-here, download: false, widths: [8]}
        optimizers: [sgd]
        """)
    assert main(["sweep", str(config), "--out", "out", "--backend", "ray", "-q"]) == 0, capsys.readouterr().err
    (record,) = records(tmp_path / "out").values()
    assert record.status == "finished", record.error
    assert record.task_params["data_dir"] == "mnist-here"  # as written: the trial id is the YAML's


@requires_ray
def test_ctrl_c_cancels_ray_tasks_keeps_finished_ones_and_exits_130(tmp_path):
    config = fast_then_slow_sweep(tmp_path, fast_seeds=1)
    out = tmp_path / "out"
    # no --address: the CLI starts a local Ray instance of its own, and must stop it
    process = start_cli("sweep", str(config), "--out", str(out), "--backend", "ray", cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not list((out / "trials").glob("*.json")):
        assert time.monotonic() < deadline, "no trial ended in time"
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    assert _ray_processes_below(process.pid), "the CLI did not start its own Ray instance"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: interrupted: ") and "run the same command again to resume" in last
    assert "Traceback" not in stderr
    assert _wait_until_gone(process.pid) == []  # the instance it started is stopped
    sweep = load_sweep(config).with_output(out)
    trials = expand_trials(sweep)
    done = records(out)
    assert done and set(done) <= {t.trial_id for t in trials if t.steps == 100}  # the cancelled left nothing
    assert all(r.status == "finished" for r in done.values())
    assert not list((out / "trials").glob(".*"))
    assert sorted(pd.read_csv(out / "trials.csv")["trial_id"]) == sorted(done)
    assert json.loads((out / "provenance.json").read_text())["runs"][-1]["outcome"] == "interrupted"
    assert [t.trial_id for t in plan_sweep(sweep).pending] == [t.trial_id for t in trials if t.trial_id not in done]


CONNECTED_CALLER = """
import logging, signal, sys, time
import ray
saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
         object_store_memory=80 * 2**20, logging_level=logging.ERROR)
for sig, handler in saved.items():
    signal.signal(sig, handler)
from adamlab.cli.app import main
code = main(["sweep", sys.argv[1], "--out", sys.argv[2], "--backend", "ray", "-q"])
print("exit", code, "connected", ray.is_initialized(), flush=True)
while ray.available_resources().get("CPU", 0) < 2:  # the test's timeout ends a hang
    time.sleep(0.1)
print("freed", flush=True)
ray.shutdown()
"""


@requires_ray
def test_ctrl_c_frees_the_cluster_it_is_connected_to(tmp_path):
    """On a cluster the sweep does not own (here: its caller's connection) nothing is shut
    down, so the running tasks must be cancelled or they would hold its CPUs for minutes."""
    config = fast_then_slow_sweep(tmp_path, fast_seeds=1)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", CONNECTED_CALLER, str(config), str(out)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for_records(out, 1, process, timeout=180)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stdout.split() == ["exit", "130", "connected", "True", "freed"]
    assert records(out) and set(records(out)) <= {t.trial_id for t in expand_trials(load_sweep(config)) if t.steps == 100}


@requires_ray
@pytest.mark.slow
def test_kill_9_of_the_sweep_stops_its_local_ray_instance(tmp_path):
    """kill -9 of the sweep leaves no Ray process of its local instance."""
    config = fast_then_slow_sweep(tmp_path, fast_seeds=1)
    out = tmp_path / "out"
    process = start_cli("sweep", str(config), "--out", str(out), "--backend", "ray", "-q", cwd=tmp_path)
    wait_for_records(out, 1, process, timeout=180)
    below = _descendants(process.pid)
    assert _ray_processes_below(process.pid)
    process.kill()
    process.wait()
    assert wait_until_dead(below, timeout=60) == []


def test_backend_ray_without_ray_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    out = tmp_path / "out"
    assert main(["sweep", str(quick_sweep(tmp_path)), "--out", str(out), "--backend", "ray"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("error: --backend ray needs Ray, which is not installed here")
    assert err.endswith("install it with: pip install 'adamlab[ray]'")
    assert not out.exists()


@requires_ray
@pytest.mark.parametrize("address, message", [
    ("127.0.0.1:1", "error: --address 127.0.0.1:1: no Ray cluster answers there (Connection refused); "
                    "start one with `ray start --head`, or leave --address out to run on a local Ray instance"),
    ("headnode", "error: --address headnode: not a Ray cluster address (expected HOST:PORT of the head "
                 "node, ray://HOST:PORT, or auto)"),
])
def test_bad_address_is_a_one_line_error(tmp_path, capsys, address, message):
    out = tmp_path / "out"
    config = quick_sweep(tmp_path)
    # Ray itself would wait minutes for a missing cluster: the probe answers at once
    assert main(["sweep", str(config), "--out", str(out), "--backend", "ray", "--address", address]) == 1
    assert capsys.readouterr().err.strip() == message
    assert not out.exists()


def test_address_without_backend_ray_is_an_error(tmp_path, capsys):
    config = quick_sweep(tmp_path)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "--address", "10.0.0.1:6379"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --address 10.0.0.1:6379: a Ray cluster address; it needs --backend ray"
    )


def test_help_and_the_local_path_never_import_ray(tmp_path):
    config = quick_sweep(tmp_path, steps=5)
    probe = (
        "import sys; from adamlab.cli.app import main; "
        f"assert main(['--help']) == 0; assert main(['sweep', {str(config)!r}, '--out', {str(tmp_path / 'out')!r}, '-q']) == 0; "
        "print('ray' in sys.modules)"
    )
    result = subprocess.run(cli_command()[:1] + ["-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
