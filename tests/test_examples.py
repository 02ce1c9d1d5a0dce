"""The examples of the README's "Bring your own optimizer and model", run end to end, cut down:
the files in examples/ copied as a user would have them, the sweep's grids and steps shortened."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.cli.app import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _cut_down(tmp_path: Path, config: str, **task_params) -> Path:
    for name in ("my_optimizers.py", "my_tasks.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    sweep = yaml.safe_load((EXAMPLES / config).read_text())
    sweep.update(seeds=[0], steps=12, eval_every=6, log_every=4)
    for entry in sweep["optimizers"]:
        if isinstance(entry, dict) and isinstance(entry.get("lr"), list):
            entry["lr"] = entry["lr"][:2]
    sweep["tasks"][0].setdefault("params", {}).update(task_params)
    path = tmp_path / config
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def _run_and_summarise(config: Path, out: Path, capsys) -> list[dict]:
    assert main(["sweep", str(config), "--out", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_mnist_example_runs_on_tiny_idx_files(tmp_path, capsys):
    data = tmp_path / "mnist"
    write_mnist(data, tiny_mnist_arrays(n_train=600, n_test=200), gz=True)
    config = _cut_down(tmp_path, "lion_mnist.yaml", data_dir=str(data), validation=200, batch_size=32)
    rows = _run_and_summarise(config, tmp_path / "out", capsys)
    assert {"lion", "adam", "sgd", "momentum"} <= {row["variant"] for row in rows}
    assert {row["metric"] for row in rows} == {"test_loss"}
    assert {row["select_metric"] for row in rows} == {"val_loss"}


def test_the_no_data_example_runs(tmp_path, capsys):
    config = _cut_down(tmp_path, "lion_teacher.yaml")
    rows = _run_and_summarise(config, tmp_path / "out", capsys)
    lion = [row for row in rows if row["variant"] == "lion"]
    assert lion and lion[0]["metric"] == "test_loss" and lion[0]["select_metric"] == "val_loss"


def test_the_readme_shows_the_example_files_as_they_are():
    readme = (EXAMPLES.parent / "README.md").read_text()
    section = readme.split("## Bring your own optimizer and model", 1)[1].split("\n## ", 1)[0]
    for name in ("my_optimizers.py", "my_tasks.py", "lion_mnist.yaml"):
        assert (EXAMPLES / name).read_text().rstrip() in section, name
