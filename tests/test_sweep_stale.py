"""Records made in another environment: captured per trial, refused when mixed,
re-run or accepted on request, and every run's environment kept in provenance."""

from __future__ import annotations

import json

import pytest
import torch
from sweep_testing import quick_sweep, records

from adamlab import __version__
from adamlab.cli.app import main
from adamlab.errors import AdamlabError
from adamlab.sweep import environment
from adamlab.sweep.environment import hash_modules, source_hash
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions, stale_policy
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.sweep_plan import plan_sweep


@pytest.fixture
def ran(tmp_path):
    """A 12-trial sweep run once into tmp_path/out."""
    config = quick_sweep(tmp_path, steps=5)
    run_sweep(load_sweep(config).with_output(tmp_path / "out"))
    return config, tmp_path / "out"


def _other_source(monkeypatch):
    """As if optimizers/adam.py had been edited since the records were made."""
    monkeypatch.setattr(environment, "source_hash", lambda: "f" * 16)


def test_every_record_says_where_it_ran(ran):
    _, out = ran
    by_optimizer = {}
    for record in records(out).values():
        env = record.environment
        assert env.source_hash == source_hash() and len(env.source_hash) == 16
        assert (env.adamlab_version, env.torch_version) == (__version__, torch.__version__)
        by_optimizer.setdefault(record.optimizer, set()).add(env.implementation)
    assert by_optimizer["sgd"] == {"stacked tensor ops"}  # adamlab's per-member SGD
    (adam,) = by_optimizer["adam"]
    assert adam == "fused kernel" or adam.startswith("foreach (kernel unavailable: ")


def test_source_hash_follows_every_byte_of_the_source(tmp_path):
    (tmp_path / "optimizers").mkdir()
    adam = tmp_path / "optimizers" / "adam.py"
    adam.write_text("m_hat = m / bc1\n")
    modules = {"adamlab.optimizers.adam": adam}
    before = hash_modules(modules)
    assert hash_modules(modules) == before
    adam.write_text("m_hat = m / bc2\n")
    assert hash_modules(modules) != before


def test_stale_records_are_refused_in_one_line_naming_both_environments(ran, monkeypatch, capsys):
    config, out = ran
    files = {p.name: p.read_bytes() for p in (out / "trials").iterdir()}
    provenance = (out / "provenance.json").read_text()
    _other_source(monkeypatch)
    assert main(["sweep", str(config), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: {out}: 12 trial record(s) were made with adamlab {__version__} (source "
        f"{source_hash()[:8]}), torch {torch.__version__}, this run has adamlab {__version__} "
        f"(source ffffffff), torch {torch.__version__}: re-run them with --rerun-stale, or keep "
        f"them beside new results with --accept-stale"
    )
    assert {p.name: p.read_bytes() for p in (out / "trials").iterdir()} == files
    assert (out / "provenance.json").read_text() == provenance  # refused before anything was written


def test_dry_run_counts_the_stale(ran, monkeypatch, capsys):
    config, out = ran
    _other_source(monkeypatch)
    assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    assert "12 done, 12 of the done made in another environment" in capsys.readouterr().out


def test_rerun_stale_runs_them_again(ran, monkeypatch):
    config, out = ran
    _other_source(monkeypatch)
    result = run_sweep(load_sweep(config).with_output(out), SweepOptions(stale="rerun"))
    assert len(result.records) == 12
    assert {r.environment.source_hash for r in records(out).values()} == {"f" * 16}
    last = json.loads((out / "provenance.json").read_text())["runs"][-1]
    assert last["stale_rerun"] == 12 and last["environment"]["source_hash"] == "f" * 16
    assert plan_sweep(load_sweep(config).with_output(out)).stale == {}


def test_accept_stale_keeps_them_and_says_so_in_provenance(ran, monkeypatch):
    config, out = ran
    old = source_hash()
    _other_source(monkeypatch)
    assert run_sweep(load_sweep(config).with_output(out), SweepOptions(stale="accept")).records == []
    provenance = json.loads((out / "provenance.json").read_text())
    first, last = provenance["runs"]
    assert first["environment"]["source_hash"] == old and last["environment"]["source_hash"] == "f" * 16
    accepted = last["stale_accepted"]
    assert accepted["count"] == 12 and accepted["environments"] == [
        f"adamlab {__version__} (source {old[:8]}), torch {torch.__version__}"
    ]


def test_records_without_an_environment_count_as_stale(ran):
    config, out = ran
    path = sorted((out / "trials").glob("*.json"))[0]
    data = json.loads(path.read_text())
    del data["environment"]
    path.write_text(json.dumps(data))
    with pytest.raises(AdamlabError, match="1 trial record.* made with an adamlab that did not record its environment"):
        run_sweep(load_sweep(config).with_output(out))


def test_both_options_at_once_are_an_error(ran, capsys):
    config, out = ran
    with pytest.raises(AdamlabError, match="--rerun-stale and --accept-stale: give one of them"):
        stale_policy(rerun_stale=True, accept_stale=True)
    assert main(["sweep", str(config), "--out", str(out), "--rerun-stale", "--accept-stale"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --rerun-stale and --accept-stale: give one of them, not both")


def test_the_fingerprint_of_a_wheel_equals_the_editable_installs(tmp_path):
    """A wheel of the same code, unpacked as pip installs it, hashes as this editable install."""
    import shutil
    import subprocess
    import sys
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    for package in ("adamlab", "cli", "optimizers", "tasks"):
        shutil.copytree(root / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("adamlab-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import adamlab, json; from adamlab.sweep.environment import source_hash; "
             "print(json.dumps([adamlab.__file__, source_hash()]))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path,
                          env={**__import__("os").environ, "PYTHONPATH": str(site)})
    where, wheel_hash = json.loads(done.stdout)
    assert Path(where).is_relative_to(site)  # the wheel's code ran, not the editable checkout's
    assert wheel_hash == source_hash()


def test_the_fingerprint_leaves_out_analysis_plots_and_cli():
    names = set(environment.engine_sources())
    assert {"adamlab.sweep.runner", "adamlab.optimizers.adam", "adamlab.tasks.quadratic"} <= names
    assert not any(n.startswith(("adamlab.analysis", "adamlab.cli", "adamlab.experiments")) for n in names)
