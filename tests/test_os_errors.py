"""OS errors and the smaller rules (exit codes, odd options, declared imports): one line, exit 1,
nothing lost."""

from __future__ import annotations

import ast
import errno
import fcntl
import json
import os
import re
import sys

import pytest
import tomllib
from sweep_testing import REPO_ROOT, failing_sweep, quick_sweep, records

from adamlab.cli.app import main
from adamlab.store import atomic

not_as_root = pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders"
)


@pytest.fixture
def done(tmp_path):
    """A finished 12-trial sweep in tmp_path/out, and a file where folders will be asked for."""
    config = quick_sweep(tmp_path, steps=5)
    assert main(["sweep", str(config), "--out", str(tmp_path / "out"), "-q"]) == 0
    (tmp_path / "afile.txt").write_text("not a folder\n")
    return config, tmp_path / "out"


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("command, expected", [
    (["sweep", "{config}", "--out", "{tmp}/afile.txt/res"], "error: cannot create {tmp}/afile.txt/res: Not a directory"),
    (["export", "{out}", "--out", "{tmp}/afile.txt/x.csv"], "error: cannot write {tmp}/afile.txt/x.csv: Not a directory"),
    (["plot", "{out}", "--out", "{tmp}/afile.txt/plots"], "error: cannot write {tmp}/afile.txt/plots: Not a directory"),
])
def test_a_file_where_a_folder_should_be_is_one_line(done, tmp_path, capsys, command, expected):
    config, out = done
    values = {"config": config, "out": out, "tmp": tmp_path}
    assert main([part.format(**values) for part in command]) == 1
    assert _one_line(capsys) == expected.format(**values)


def test_disk_full_during_a_sweep_is_one_line_and_loses_nothing(done, monkeypatch, capsys):
    config, out = done
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    grown = quick_sweep(out.parent, steps=5, seeds="[0, 1, 2]")
    assert main(["sweep", str(grown), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == f"error: cannot write {out}/adamlab-results.json: No space left on device"
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the temporary files were removed, everything else is as it was


@not_as_root
def test_a_read_only_results_folder_is_one_line(done, capsys):
    config, out = done
    for folder in (out, out / "trials"):
        folder.chmod(0o555)
    try:
        assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
        assert _one_line(capsys).startswith("error: cannot write ")
        assert main(["plot", str(out)]) == 1
        assert _one_line(capsys) == f"error: cannot write {out}/plots: Permission denied"
    finally:
        for folder in (out, out / "trials"):
            folder.chmod(0o755)
    assert len(records(out)) == 12


def test_temporary_table_files_of_a_killed_rebuild_are_cleaned(done):
    config, out = done
    leftovers = [out / ".metrics.csv.x1y2.tmp", out / ".trials.csv.a1b2.tmp", out / "trials" / ".0123456789abcdef.json.q.tmp"]
    for path in leftovers:
        path.write_text("half")
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    assert not any(path.exists() for path in leftovers)


def test_a_new_folder_being_opened_by_another_sweep_is_in_use_not_foreign(tmp_path, capsys):
    """The other sweep has made the folder and trials/ and holds the lock, but has not written
    its manifest yet: the second one must say "in use"."""
    out = tmp_path / "out"
    (out / "trials").mkdir(parents=True)
    with open(out / ".adamlab.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("pid 4242")
        lock.flush()
        assert main(["sweep", str(quick_sweep(tmp_path, steps=5)), "--out", str(out), "-q"]) == 1
    assert _one_line(capsys) == (
        f"error: {out}: in use by another adamlab sweep (pid 4242); wait for it to end or use another --out"
    )


def test_a_foreign_folder_is_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["sweep", str(quick_sweep(tmp_path, steps=5)), "--out", str(out), "-q"]) == 1
    assert "is not an adamlab results folder" in _one_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


# ---------------------------------------------------------------- smaller rules



def test_a_sweep_with_failed_trials_exits_1_and_says_how_to_retry(tmp_path, capsys):
    config = failing_sweep(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.search(r"2 trials, 2 run \(1 finished, 1 failed\) in .* s -> .*; 1 failed: see errors/, "
                     r"fix, then run again with --retry-failed$", last), last
    # a re-run runs nothing, so nothing of it failed; it still says what is left to do
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "2 already done" in last and last.endswith("1 failed: see errors/, fix, then run again with --retry-failed")


def test_at_step_beyond_every_trial_is_refused(done, capsys):
    _, out = done
    assert main(["summary", str(out), "--at-step", "5"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), "--at-step", "6"]) == 1
    assert _one_line(capsys) == (
        f"error: --at-step 6: beyond every trial's last logged step in {out} (the latest is 5); "
        f"give a step <= 5, or leave --at-step out for final values"
    )


def test_more_jobs_or_threads_than_cores_are_capped(tmp_path, capsys, monkeypatch):
    from adamlab import host

    monkeypatch.setattr(host, "available_cores", lambda: 2)
    config = quick_sweep(tmp_path, steps=5)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "--out", str(out), "--jobs", "16", "--threads", "500", "-q"]) == 0
    err = capsys.readouterr().err
    assert "--jobs 16: capped at 2, the 2 core(s) this process may use" in err
    assert "--threads 500: capped at 2, the core(s) this process may use" in err
    run = json.loads((out / "provenance.json").read_text())["runs"][-1]
    assert (run["jobs"], run["threads_per_job"]) == (2, 2)


def test_every_third_party_import_is_a_declared_dependency():
    """Every third-party module the shipped code imports is declared (a fresh install has it)."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!\[ ]", spec)[0].lower() for spec in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= {re.split(r"[<>=!\[ ]", spec)[0].lower() for spec in extra}
    distribution = {"yaml": "pyyaml"}
    imported = set()
    for folder in ("adamlab", "cli", "optimizers", "tasks"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    imported.add(node.module.split(".")[0])

    third_party = {name for name in imported if name not in sys.stdlib_module_names and name not in ("adamlab", "__future__")}
    missing = sorted(n for n in third_party if distribution.get(n, n).lower() not in declared)
    assert missing == []


def test_no_stray_sweep_files_at_the_top_of_the_repository():
    assert sorted(p.name for p in REPO_ROOT.glob("*.yaml")) == []


def test_provenance_of_a_refused_run_is_unchanged(done, capsys):
    config, out = done
    provenance = json.loads((out / "provenance.json").read_text())
    assert [r["outcome"] for r in provenance["runs"]] == ["completed"]
    assert provenance["runs"][0]["environment"]["torch_version"]
