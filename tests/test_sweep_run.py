"""One trial end to end on the real quadratic task: what is logged and when, divergence, failure."""

from __future__ import annotations

import math

import pytest
import torch
from sweep_testing import records, write_yaml

from adamlab.store.records import TrialRecord
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.runner import run_trial
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trial_record import MetricLog, metric_goal
from adamlab.sweep.trials import Trial, expand_trials


def _quadratic_trial(**changes) -> Trial:
    fields = dict(
        task="quadratic",
        task_params={"dim": 3, "noise": 0.0, "condition": 100.0, "max_curvature": 1.0},
        optimizer="sgd", hparams={"lr": 0.1, "weight_decay": 0.0}, seed=0, steps=25,
        batch_size=4, log_every=10, eval_every=20, divergence_factor=1e3, device="cpu",
    )
    fields.update(changes)
    return Trial(**fields)


def _series(record: TrialRecord, metric: str) -> list[tuple[int, float]]:
    m = record.metrics
    return [(s, v) for s, name, v in zip(m["step"], m["metric"], m["value"], strict=True) if name == metric]


def test_sgd_on_a_quadratic_logs_the_closed_form_losses():
    record = run_trial(_quadratic_trial(), "s").record
    assert (record.status, record.steps_run, record.error) == ("finished", 25, None)
    # H = diag(1, 0.1, 0.01), theta0 = 1, no noise: theta after k SGD steps is (1 - lr*h)^k,
    # and train_loss at step t is f at the point of step t's gradient (after t-1 updates)
    curvatures = [1.0, 0.1, 0.01]

    def f_after(k):
        return 0.5 * sum(h * (1 - 0.1 * h) ** (2 * k) for h in curvatures)

    train = _series(record, "train_loss")
    assert [s for s, _ in train] == [1, 10, 20, 25]
    for step, value in train:
        assert value == pytest.approx(f_after(step - 1), rel=1e-5)
    evals = _series(record, "loss")  # evaluate(): after the update of that step
    assert [s for s, _ in evals] == [20, 25]
    for step, value in evals:
        assert value == pytest.approx(f_after(step), rel=1e-5)
    distance = _series(record, "distance_to_opt")
    assert [s for s, _ in distance] == [1, 10, 20, 25]
    assert distance[-1][1] == pytest.approx(math.sqrt(sum((1 - 0.1 * h) ** 50 for h in curvatures)), rel=1e-5)
    assert [s for s, _ in _series(record, "opt.effective_step")] == [1, 10, 20, 25]
    assert record.final["train_loss"] == train[-1][1]
    assert record.best["train_loss"] == min(v for _, v in train)
    assert record.final["loss"] == evals[-1][1]
    wall = record.metrics["wall_time"]
    assert wall == sorted(wall) and 0 <= wall[0] <= record.wall_time_s
    assert record.hparams == {"lr": 0.1, "weight_decay": 0.0} and record.device == "cpu"


def test_same_trial_twice_gives_identical_records():
    first, second = (run_trial(_quadratic_trial(task_params={"dim": 4, "noise": 1.0}), "s").record for _ in range(2))
    assert first.metrics["value"] == second.metrics["value"]


def test_best_follows_the_goals():
    log = MetricLog()
    for step, (loss, accuracy, other) in enumerate([(3.0, 0.5, 1.0), (1.0, 0.9, 2.0), (2.0, 0.7, math.nan)], 1):
        log.add(step, 0.0, {"train_loss": loss, "test_accuracy": accuracy, "x": other})
    final, best = log.final_and_best({"train_loss": "min"})
    assert final == {"train_loss": 2.0, "test_accuracy": 0.7, "x": pytest.approx(math.nan, nan_ok=True)}
    assert best == {"train_loss": 1.0, "test_accuracy": 0.9, "x": 1.0}
    assert metric_goal("rare.accuracy", {}) == "max" and metric_goal("rare.error", {}) == "min"


# f = theta^2 from theta = 3 (H = 2); SGD with lr 1e10 multiplies theta by (1 - 2e10) per step:
# loss 9 at step 1, 3.6e21 at step 2, and 1.4e42 -> inf in float32 at step 3.
def _exploding(**changes) -> Trial:
    return _quadratic_trial(task_params={"preset": "theta_squared"}, hparams={"lr": 1e10, "weight_decay": 0.0},
                            steps=50, log_every=100, eval_every=100, **changes)


def test_loss_above_the_factor_stops_at_that_step():
    record = run_trial(_exploding(divergence_factor=1e3), "s").record
    assert (record.status, record.steps_run) == ("diverged", 2)
    assert _series(record, "train_loss") == [(1, 9.0), (2, pytest.approx(3.6e21, rel=1e-5))]
    assert "loss" not in record.final  # a diverged trial is not evaluated


def test_non_finite_loss_stops_at_that_step_even_between_log_steps():
    record = run_trial(_exploding(divergence_factor=math.inf), "s").record
    assert (record.status, record.steps_run) == ("diverged", 3)
    assert _series(record, "train_loss")[-1] == (3, math.inf)
    assert record.best["train_loss"] == 9.0


def test_a_diverging_and_a_failing_trial_do_not_stop_the_sweep(tmp_path):
    damaged = tmp_path / "damaged-mnist"  # the files are there (so the sweep runs), not IDX
    damaged.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (damaged / name).write_bytes(b"not an IDX file")
    path = write_yaml(tmp_path, f"""\
        name: mixed
        steps: 30
        log_every: 10
        tasks:
          - name: quadratic
            params: {{preset: theta_squared}}
          - name: mnist_mlp
            params: {{data_dir: {damaged}, download: false}}
            steps: 2
        optimizers:
          - name: sgd
            lr: [0.1, 1.0e+10]
        """)
    sweep = load_sweep(path).with_output(tmp_path / "out")
    result = run_sweep(sweep)
    assert not result.interrupted
    by_key = {(r.task, r.hparams["lr"]): r for r in records(tmp_path / "out").values()}
    assert len(by_key) == 4
    assert by_key[("quadratic", 0.1)].status == "finished"
    assert by_key[("quadratic", 1e10)].status == "diverged"
    for lr in (0.1, 1e10):
        failed = by_key[("mnist_mlp", lr)]
        assert failed.status == "failed" and failed.steps_run == 0
        assert "damaged-mnist" in failed.error and "\n" not in failed.error
        traceback_text = (tmp_path / "out" / "errors" / f"{failed.trial_id}.txt").read_text()
        assert traceback_text.startswith("Traceback")
    assert result.counts() == {"finished": 1, "diverged": 1, "failed": 2}
    trials_table = (tmp_path / "out" / "trials.csv").read_text().splitlines()
    assert len(trials_table) == 1 + 4
    assert not any("Traceback" in line for line in trials_table)
    assert {t.trial_id for t in expand_trials(sweep)} == set(by_key[k].trial_id for k in by_key)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_loss_is_checked_at_log_steps():
    device = "cuda"
    # no per-step sync on CUDA: the overflow at step 3 is caught at the next log step (10)
    record = run_trial(_quadratic_trial(
        task_params={"preset": "theta_squared"}, hparams={"lr": 1e10, "weight_decay": 0.0},
        steps=50, log_every=10, eval_every=100, divergence_factor=math.inf, device=device,
    ), "s").record
    assert (record.status, record.steps_run) == ("diverged", 10)
    assert record.device.startswith("cuda")
    finished = run_trial(_quadratic_trial(device=device), "s").record
    reference = run_trial(_quadratic_trial(), "s").record
    assert finished.status == "finished"
    assert finished.metrics["value"] == pytest.approx(reference.metrics["value"], rel=1e-5)
