"""`adamlab sweep ... --tensorboard DIR`: one TensorBoard run per trial, read back from its
event file: every logged metric as scalars, the configuration in the HParams plugin."""

from __future__ import annotations

import pytest
from sweep_testing import quick_sweep, records

from adamlab.cli.app import main

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed "
                    "(pip install 'adamlab[tensorboard]')")


def read_run(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)]
               for tag in events.Tags()["scalars"]}
    hparams = {}
    for content in events.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                kind = value.WhichOneof("kind")
                hparams[key] = getattr(value, kind)
    return scalars, hparams


def test_each_trial_is_a_run_with_its_metrics_and_hyperparameters(tmp_path, capsys):
    config = quick_sweep(tmp_path, steps=20, seeds="[0]")
    out, board = tmp_path / "out", tmp_path / "board"
    assert main(["sweep", str(config), "-o", str(out), "-q", "--tensorboard", str(board)]) == 0, \
        capsys.readouterr().err
    trials = records(out)
    runs = sorted(p for p in board.glob("*/*/*") if p.is_dir())
    assert {p.name for p in runs} == set(trials)
    for run in runs:
        record = trials[run.name]
        assert run.parent.name == record.variant and run.parent.parent.name == record.task
        scalars, hparams = read_run(run)
        logged = record.metrics
        for metric in set(logged["metric"]):
            expected = [(s, v) for s, m, v in zip(logged["step"], logged["metric"], logged["value"],
                                                  strict=True) if m == metric]
            assert [s for s, _ in scalars[metric]] == [s for s, _ in expected]
            assert [v for _, v in scalars[metric]] == pytest.approx([v for _, v in expected], rel=1e-6)
        assert hparams["hp.lr"] == pytest.approx(record.hparams["lr"])
        assert hparams["variant"] == record.variant and hparams["seed"] == record.seed
        assert hparams["status"] == "finished"
        assert scalars["final.train_loss"][0][1] == pytest.approx(record.final["train_loss"], rel=1e-6)


def test_a_finished_sweep_writes_its_trials_without_running_them(tmp_path, capsys):
    config = quick_sweep(tmp_path, steps=10, seeds="[0]")
    out, board = tmp_path / "out", tmp_path / "board"
    assert main(["sweep", str(config), "-o", str(out), "-q"]) == 0
    assert main(["sweep", str(config), "-o", str(out), "-q", "--tensorboard", str(board)]) == 0
    assert "0 run, 6 already done" in capsys.readouterr().out
    assert {p.name for p in board.glob("*/*/*")} == set(records(out))
