"""Installed plug-ins: a real (tiny) distribution on sys.path whose entry_points.txt registers an
optimizer and a task under adamlab's groups, read by importlib.metadata as pip would leave it.
`adamlab list` shows where each comes from; a sweep names them like built-ins; a plug-in that
takes a built-in's name is refused in one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _install(site: Path, *, name: str, entry_points: str) -> None:
    """What `pip install` leaves for a distribution: its modules and a .dist-info folder."""
    site.mkdir(parents=True, exist_ok=True)
    package = site / "lion_plugin"
    package.mkdir(exist_ok=True)
    shutil.copy(EXAMPLES / "my_optimizers.py", package / "optimizers.py")
    shutil.copy(EXAMPLES / "my_tasks.py", package / "tasks.py")
    (package / "__init__.py").write_text("")
    info = site / f"{name.replace('-', '_')}-0.3.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (info / "RECORD").write_text("")


def _adamlab(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "adamlab.cli.app", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_an_installed_plugin_is_listed_and_runs_by_name(tmp_path):
    site = tmp_path / "site"
    _install(site, name="adamlab-lion", entry_points="""\
        [adamlab.optimizers]
        lion = lion_plugin.optimizers:Lion

        [adamlab.tasks]
        teacher = lion_plugin.tasks:TeacherRegression
        """)
    listed = _adamlab(site, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert "installed: adamlab-lion 0.3" in rows["lion"] and "betas=[0.9, 0.99]" in rows["lion"]
    assert "installed: adamlab-lion 0.3" in rows["teacher"]
    assert "built-in" in rows["adam"] and "built-in" in rows["quadratic"]

    (tmp_path / "sweep.yaml").write_text(textwrap.dedent("""\
        name: installed
        steps: 10
        tasks: [teacher]
        optimizers:
          - name: lion
            lr: [1.0e-3, 3.0e-3]
          - sgd
        """))
    ran = _adamlab(site, tmp_path, "sweep", "sweep.yaml", "--out", "out", "-q")
    assert ran.returncode == 0, ran.stderr
    records = [json.loads(p.read_text()) for p in (tmp_path / "out" / "trials").glob("*.json")]
    assert sorted(r["variant"] for r in records) == ["lion", "lion", "sgd"]
    lion = next(r for r in records if r["variant"] == "lion")
    assert lion["status"] == "finished" and lion["optimizer"] == "lion" and lion["task"] == "teacher"
    assert any(path.endswith("lion_plugin/optimizers.py") for path in lion["environment"]["plugins"])


def test_a_plugin_named_like_a_builtin_is_refused_in_one_line(tmp_path):
    site = tmp_path / "site"
    _install(site, name="adamlab-impostor", entry_points="""\
        [adamlab.optimizers]
        adam = lion_plugin.optimizers:Lion
        """)
    listed = _adamlab(site, tmp_path, "list", "optimizers")
    assert listed.returncode == 1
    assert listed.stderr.strip().splitlines() == [
        "error: optimizer plug-in 'adam' (lion_plugin.optimizers:Lion, installed: adamlab-impostor 0.3) clashes "
        "with the built-in optimizer 'adam'; rename it in its package's "
        "[project.entry-points.\"adamlab.optimizers\"]"
    ]
    shutil.rmtree(site)
