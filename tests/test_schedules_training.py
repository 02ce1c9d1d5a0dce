"""Schedules and AdamW's weight_decay_scaling in training: AdamW against steps computed by hand,
the stacked optimizers against torch's optimizers under a torch lr scheduler, and the training
loop's opt.lr at log steps (in stacks and with epochs)."""

from __future__ import annotations

import math

import pytest
import torch
from stacking_testing import assert_same_record, trials_for
from sweep_testing import write_yaml

from adamlab.optimizers.adam import AdamW
from adamlab.optimizers.schedules import Schedule
from adamlab.optimizers.stacked import build_stacked_optimizer
from adamlab.sweep.runner import run_stack, run_trial
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trials import expand_trials

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def adam_step_by_hand(theta, g, m, v, t, lr, shrink):
    """One AdamW step on a float: theta *= shrink, then Algorithm 1."""
    theta *= shrink
    m = BETA1 * m + (1 - BETA1) * g
    v = BETA2 * v + (1 - BETA2) * g * g
    m_hat, v_hat = m / (1 - BETA1**t), v / (1 - BETA2**t)
    return theta - lr * m_hat / (math.sqrt(v_hat) + EPS), m, v


@pytest.mark.parametrize("implementation", ["plain", "foreach", "auto"])
@pytest.mark.parametrize("scaling", ["lr", "schedule"])
def test_adamw_decay_by_hand_with_a_torch_scheduler(implementation, scaling):
    """lr 0.1, wd 0.5; a LambdaLR halves the lr after step 1 and quarters it after step 2.
    'lr' shrinks theta by lr_t * wd (0.05, 0.025, 0.0125); 'schedule' by eta_t * wd
    (0.5, 0.25, 0.125), eta_t = lr_t / initial_lr."""
    theta0, grads, lr, wd = 2.0, [0.3, -0.2, 0.1], 0.1, 0.5
    etas = [1.0, 0.5, 0.25]
    param = torch.nn.Parameter(torch.tensor([theta0], dtype=torch.float64))
    optimizer = AdamW([param], lr=lr, weight_decay=wd, weight_decay_scaling=scaling,
                      implementation=implementation)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: etas[min(epoch, 2)])
    theta, m, v = theta0, 0.0, 0.0
    for t, (g, eta) in enumerate(zip(grads, etas, strict=True), start=1):
        param.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
        scheduler.step()
        lr_t = lr * eta
        shrink = 1 - (lr_t * wd if scaling == "lr" else eta * wd)
        theta, m, v = adam_step_by_hand(theta, g, m, v, t, lr_t, shrink)
        assert param.item() == pytest.approx(theta, rel=1e-12, abs=0), (t, scaling)


def test_adamw_schedule_scaling_without_a_scheduler_is_a_fixed_fraction():
    """eta = 1 without a scheduler: theta *= 1 - wd, whatever lr is."""
    for lr in (1e-3, 1.0):
        param = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
        optimizer = AdamW([param], lr=lr, weight_decay=0.25, weight_decay_scaling="schedule")
        param.grad = torch.tensor([0.3], dtype=torch.float64)
        optimizer.step()
        expected, _, _ = adam_step_by_hand(2.0, 0.3, 0.0, 0.0, 1, lr, 0.75)
        assert param.item() == pytest.approx(expected, rel=1e-12)


def test_adamw_refuses_an_unknown_scaling_and_keeps_it_in_its_state():
    param = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="weight_decay_scaling must be one of 'lr', 'schedule'"):
        AdamW([param], weight_decay_scaling="eta")
    optimizer = AdamW([param], weight_decay_scaling="schedule")
    assert optimizer.param_groups[0]["weight_decay_scaling"] == "schedule"
    again = AdamW([param])
    again.load_state_dict(optimizer.state_dict())
    assert again.param_groups[0]["weight_decay_scaling"] == "schedule"
    # a torch.optim.AdamW state dict (no such key) loads as torch's scaling
    reference = torch.optim.AdamW([param])
    again.load_state_dict(reference.state_dict())
    assert again.param_groups[0]["weight_decay_scaling"] == "lr"


def _gradients(shape, steps, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(steps)]


@pytest.mark.parametrize("optimizer,hparams", [
    ("adamw", {"lr": [0.01, 0.1], "weight_decay": [0.3, 0.05], "weight_decay_scaling": "schedule"}),
    ("adamw", {"lr": [0.01, 0.1], "weight_decay": [0.3, 0.05], "weight_decay_scaling": "lr"}),
    ("adam", {"lr": [0.01, 0.1], "weight_decay": [0.3, 0.05]}),
    ("momentum", {"lr": [0.01, 0.1], "momentum": [0.9, 0.5], "dampening": [0.0, 0.1],
                  "weight_decay": [0.0, 0.01]}),
    ("sgd", {"lr": [0.01, 0.1], "weight_decay": [0.0, 0.01]}),
])
def test_a_stack_under_a_schedule_equals_each_optimizer_under_a_torch_scheduler(optimizer, hparams):
    """Member k of a stack with multiplier eta_t set before each step = the one-trial optimizer
    (the public AdamW/Adam, torch's SGD) driven by a LambdaLR with the same eta_t."""
    from adamlab.optimizers.registry import build_optimizer, get_spec

    schedule = Schedule("cosine", 3, 12)
    members = []
    for k in range(2):
        member = dict(get_spec(optimizer).defaults)
        member.update({key: (values[k] if isinstance(values, list) else values)
                       for key, values in hparams.items()})
        members.append(member)
    start = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    stacked_param = start.clone().requires_grad_(True)
    stack = build_stacked_optimizer(optimizer, [stacked_param], members)
    singles = [start[k].clone().requires_grad_(True) for k in range(2)]
    references = [build_optimizer(optimizer, [p], **members[k]) for k, p in enumerate(singles)]
    schedulers = [torch.optim.lr_scheduler.LambdaLR(r, lambda e: schedule.multiplier(e + 1))
                  for r in references]
    for step, g in enumerate(_gradients((2, 3, 4), 12), start=1):
        stack.set_lr_multiplier(schedule.multiplier(step))
        stacked_param.grad = g.clone()
        stack.step()
        for k, (p, reference, scheduler) in enumerate(zip(singles, references, schedulers,
                                                          strict=True)):
            p.grad = g[k].clone()
            reference.step()
            scheduler.step()
    for k, p in enumerate(singles):
        torch.testing.assert_close(stacked_param.detach()[k], p.detach(), rtol=1e-12, atol=1e-14)


QUADRATIC = {"dim": 10, "rotated": True, "condition": 50.0, "noise": 0.5}


@pytest.mark.parametrize("optimizer,grid", [
    ("adamw", {"lr": [1e-3, 0.03], "weight_decay": [0.0, 0.1], "weight_decay_scaling": ["schedule"]}),
    ("momentum", {"lr": [0.005, 0.02], "momentum": [0.0, 0.9]}),
])
@pytest.mark.parametrize("schedule,warmup", [("cosine", 5), ("linear", 0), ("constant", 7)])
def test_a_stack_under_a_schedule_equals_its_members_run_alone(optimizer, grid, schedule, warmup):
    trials = trials_for("quadratic", QUADRATIC, optimizer, steps=30, schedule=[schedule],
                        warmup_steps=[warmup], **grid)
    for trial, outcome in zip(trials, run_stack(trials, "s"), strict=True):
        assert outcome.record.status == "finished"
        assert_same_record(outcome.record, run_trial(trial, "s").record)


def _series(record, metric):
    m = record.metrics
    return {s: v for s, name, v in zip(m["step"], m["metric"], m["value"], strict=True) if name == metric}


def test_opt_lr_is_the_lr_in_force_at_each_log_step():
    trials = trials_for("quadratic", QUADRATIC, "adam", steps=40, log_every=10, lr=[0.01, 0.1],
                        schedule=["cosine"], warmup_steps=[10])
    schedule = Schedule("cosine", 10, 40)
    for trial, outcome in zip(trials, run_stack(trials, "s"), strict=True):
        logged = _series(outcome.record, "opt.lr")
        assert sorted(logged) == [1, 10, 20, 30, 40]
        for step, value in logged.items():
            assert value == pytest.approx(trial.hparams["lr"] * schedule.multiplier(step), abs=1e-15)
    constant = trials_for("quadratic", QUADRATIC, "sgd", steps=20, log_every=10, lr=[0.05])[0]
    assert set(_series(run_trial(constant, "s").record, "opt.lr").values()) == {0.05}


def test_the_schedule_changes_training_and_a_warmup_shrinks_the_first_step():
    (plain,) = trials_for("quadratic", QUADRATIC, "adam", steps=20, log_every=1, lr=[0.05])
    (warm,) = trials_for("quadratic", QUADRATIC, "adam", steps=20, log_every=1, lr=[0.05],
                         warmup_steps=[10])
    plain_record, warm_record = run_trial(plain, "s").record, run_trial(warm, "s").record
    # the first update is lr/10 in force; Adam's first step moves each coordinate by that lr
    assert _series(warm_record, "opt.lr")[1] == pytest.approx(0.005)
    assert _series(warm_record, "opt.effective_step")[1] == pytest.approx(1.0, rel=1e-3)
    assert warm_record.final["loss"] != plain_record.final["loss"]


def test_schedules_run_with_epochs_the_horizon_being_the_epochs_steps(tmp_path):
    from task_testing import tiny_mnist_arrays, write_mnist

    folder = tmp_path / "mnist"
    write_mnist(folder, tiny_mnist_arrays(), gz=True)
    path = write_yaml(tmp_path, f"""\
        name: e
        epochs: 2
        batch_size: 32
        log_every: 1
        tasks:
          - name: mnist_mlp
            params: {{widths: [8], data_dir: {folder}, download: false}}
        optimizers:
          - name: adamw
            schedule: linear
            weight_decay_scaling: schedule
            lr: [0.01, 0.02]
        """)
    trials = expand_trials(load_sweep(path))
    steps = trials[0].steps
    assert all(t.hparams["schedule"] == "linear" for t in trials)
    for trial, outcome in zip(trials, run_stack(trials, "e"), strict=True):
        logged = _series(outcome.record, "opt.lr")
        assert logged[steps] == pytest.approx(0.0, abs=1e-15)  # linear: down to 0 at step T
        assert logged[1] == pytest.approx(trial.hparams["lr"] * (1 - 1 / steps))


def test_flushing_subnormals_leaves_metrics_unchanged_where_there_are_none(monkeypatch):
    """The runner flushes subnormal floats while training; on a trial whose numbers never get
    that small, its metrics are those of a run without the flush."""
    import contextlib

    import adamlab.sweep.runner as runner

    (trial,) = trials_for("quadratic", QUADRATIC, "adamw", steps=30, lr=[0.03],
                          weight_decay=[0.1])
    flushed = run_trial(trial, "s").record
    monkeypatch.setattr(runner, "flush_denormals", contextlib.nullcontext)
    plain = run_trial(trial, "s").record
    assert_same_record(flushed, plain)


def test_subnormals_are_flushed_while_a_stack_trains_and_restored_after():
    from adamlab.sweep.runner import flush_denormals

    tiny = torch.tensor([1e-39], dtype=torch.float32)  # subnormal in float32
    with flush_denormals():
        assert (tiny * 1.0).item() == 0.0
        param = torch.nn.Parameter(torch.ones(100_000))
        optimizer = AdamW([param], weight_decay=0.0)
        param.grad = torch.full_like(param, 1e-19)  # v = (1 - beta2) g^2 = 1e-41: subnormal
        optimizer.step()
        assert not optimizer.state[param]["exp_avg_sq"].any()
    assert (tiny * 1.0).item() != 0.0
