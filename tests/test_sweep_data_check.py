"""Data checked before trials: a task whose data is missing (and may not be fetched) refuses the
sweep in one line naming ADAMLAB_DATA and the fix; nothing is stored, so once the data is there
the same command runs every trial (no --retry-failed)."""

from __future__ import annotations

import threading

from sweep_testing import records, write_yaml
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.cli.app import main
from adamlab.tasks import mnist_data
from adamlab.tasks.mnist_data import MNIST_FILES


def mnist_sweep(tmp_path):
    return write_yaml(tmp_path, """\
        name: needs_data
        steps: 3
        tasks:
          - name: mnist_mlp
            params: {download: false, widths: [8]}
          - quadratic
        optimizers:
          - name: sgd
            lr: [0.01, 0.1]
        """)


def test_missing_data_refuses_the_sweep_until_it_is_there(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ADAMLAB_DATA", str(data))
    config, out = mnist_sweep(tmp_path), tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and captured.out == ""
    assert lines[0].startswith(f"error: {config}: tasks[0] (mnist_mlp): MNIST not found")
    assert "Fix: export ADAMLAB_DATA=" in lines[0]
    assert lines[0].endswith("run the same command again once the data is there")
    assert not out.exists()  # nothing stored: not even the quadratic's trials ran

    write_mnist(data, tiny_mnist_arrays(n_train=200, n_test=100), gz=True)
    assert main(["sweep", str(config), "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    assert sorted(r.status for r in records(out).values()) == ["finished"] * 4


PLUGIN_TASK = """
import os
from pathlib import Path

import torch
from torch import nn

from adamlab.errors import AdamlabError


class CorpusTask:
    \"\"\"A plug-in task that reads a corpus file: it checks for it before any trial runs.\"\"\"

    def __init__(self, *, seed, device, corpus="corpus.txt"):
        self.text = (Path(os.environ["ADAMLAB_DATA"]) / corpus).read_text()
        self.device = device

    @classmethod
    def check_data(cls, params):
        path = Path(os.environ.get("ADAMLAB_DATA", "data")) / params["corpus"]
        if not path.is_file():
            raise AdamlabError(f"{path} missing; fix: export ADAMLAB_DATA=<a folder with {params['corpus']}>")

    def model(self):
        return nn.Linear(1, 1)

    def batch(self, step):
        return torch.full((4, 1), 1.0 if self.text else 0.0)

    def loss(self, model, batch):
        return (model(batch) - 1.0).pow(2).mean()

    def evaluate(self, model):
        return {}
"""


def test_a_plug_in_task_checks_its_data_through_the_same_hook(tmp_path, capsys, monkeypatch):
    (tmp_path / "corpus_task.py").write_text(PLUGIN_TASK)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ADAMLAB_DATA", str(data))
    config = write_yaml(tmp_path, """\
        name: corpus
        steps: 3
        tasks:
          - name: corpus
            target: corpus_task:CorpusTask
            params: {corpus: words.txt}
        optimizers:
          - name: sgd
            lr: [0.01, 0.1]
        """)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {config}: tasks[0] (corpus): {data / 'words.txt'} missing; fix: export "
                   "ADAMLAB_DATA=<a folder with words.txt>; nothing was run: run the same command "
                   "again once the data is there")
    assert not out.exists()
    (data / "words.txt").write_text("some words")
    assert main(["sweep", str(config), "-o", str(out), "-q"]) == 0, capsys.readouterr().err
    assert sorted(r.status for r in records(out).values()) == ["finished", "finished"]


def test_a_sweep_in_this_process_reads_its_data_files_once_ahead(tmp_path, monkeypatch):
    """The files are read in a thread while torch is imported, and the task takes what was read
    (read_now would say so if it read a file twice); nothing is held once the trials ran."""
    data = tmp_path / "data"
    write_mnist(data, tiny_mnist_arrays(n_train=200, n_test=20), gz=True)
    monkeypatch.setenv("ADAMLAB_DATA", str(data))
    mnist_data.discard_read_ahead()
    read, read_now = [], mnist_data._read_now
    monkeypatch.setattr(mnist_data, "_read_now", lambda path: read.append(
        (path.name, threading.current_thread() is threading.main_thread())) or read_now(path))
    config, out = mnist_sweep(tmp_path), tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "--jobs", "1", "-q"]) == 0
    assert sorted(read) == sorted((f"{name}.gz", False) for name in MNIST_FILES.values())
    assert not mnist_data._read_ahead
    assert len(records(out)) == 4
