"""Data checked before trials: a task whose data is missing (and may not be fetched) refuses the
sweep in one line naming ADAMLAB_DATA and the fix; nothing is stored, so once the data is there
the same command runs every trial (no --retry-failed)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from sweep_testing import records, write_yaml
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.cli.app import main
from adamlab.errors import AdamlabError
from adamlab.sweep.preflight import check_task_data
from adamlab.sweep.schema import load_sweep


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


class SelfCheckingTask:
    """A plug-in task's hook: the check is all preflight needs from it."""

    checked: ClassVar[list] = []

    class Params:
        @staticmethod
        def model_validate(params):
            return params

    @classmethod
    def check_data(cls, params):
        cls.checked.append(params)
        raise AdamlabError("corpus.txt missing; fix: export ADAMLAB_DATA=<folder with corpus.txt>")


def test_the_check_is_a_task_hook_called_once_per_task_entry(tmp_path, monkeypatch):
    import adamlab.tasks.registry as registry

    sweep = load_sweep(mnist_sweep(tmp_path))
    real = registry.load_task
    monkeypatch.setattr(registry, "load_task", lambda name: SelfCheckingTask
                        if name == "mnist_mlp" else real(name))
    with pytest.raises(AdamlabError) as caught:
        check_task_data(sweep)
    assert str(caught.value).startswith(f"{sweep.source}: tasks[0] (mnist_mlp): corpus.txt missing")
    assert len(SelfCheckingTask.checked) == 1
