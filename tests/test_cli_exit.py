"""The command ends without the interpreter's teardown once torch or pandas is loaded (seconds
of a 2-core machine), yet does everything an exit does that leaves a trace."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sweep_testing import REPO_ROOT, quick_sweep, records


def test_exit_without_teardown_keeps_what_an_exit_does(tmp_path):
    script = textwrap.dedent("""\
        import atexit, sys, threading, time
        from adamlab.cli.app import exit_without_teardown
        atexit.register(lambda: print("atexit handler ran", flush=True))
        print("buffered, never flushed by hand")  # stdout is a pipe: held in its buffer
        worker = threading.Thread(target=lambda: (time.sleep(0.2), print("thread finished")))
        worker.start()
        sys.stderr.write("to stderr")
        exit_without_teardown(3)
        """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout.splitlines() == ["buffered, never flushed by hand", "thread finished", "atexit handler ran"]
    assert done.stderr == "to stderr"


def test_a_sweep_run_as_a_command_ends_with_its_exit_status_and_everything_written(tmp_path):
    config, out = quick_sweep(tmp_path, steps=5, seeds="[0]"), tmp_path / "out"
    command = [sys.executable, "-m", "adamlab.cli.app", "sweep", str(config), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("sweep quick:")  # the summary, flushed
    assert len(records(out)) == len(list((out / "trials").glob("*.json"))) > 0
    assert (out / "trials.csv").is_file() and (out / "metrics.csv").is_file()


def test_a_read_command_run_as_a_command_prints_and_writes_everything(tmp_path, capsys):
    from adamlab.cli.app import main

    saved = REPO_ROOT / "tests" / "data" / "saved_results"
    assert main(["summary", str(saved), "--json"]) == 0
    in_process = capsys.readouterr().out
    command = [sys.executable, "-m", "adamlab.cli.app"]
    done = subprocess.run([*command, "summary", str(saved), "--json"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == in_process and len(in_process) > 1000
    exported = subprocess.run([*command, "export", str(saved), "--out", str(tmp_path / "t.csv")],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 41  # header and 40 trials
    missing = subprocess.run([*command, "summary", str(tmp_path / "nowhere")], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
    assert missing.returncode == 1 and "no such results folder" in missing.stderr
