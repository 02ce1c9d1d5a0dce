"""Divergence and failures inside a stack: a diverging member is marked at the step its
one-trial run would be and leaves the stack; the others go on untouched. A stack that cannot be
built, or fails while training, runs its trials one at a time instead of failing them."""

from __future__ import annotations

import logging
import math

import pytest
from stacking_testing import assert_same_record, trials_for

from adamlab.sweep.runner import run_stack, run_trial
from adamlab.tasks.quadratic import QuadraticTask

# f = theta^2 from theta = 3 (H = 2): SGD multiplies theta by (1 - 2 lr) per step, so lr 1e10
# passes 1e3 x f(theta0) at step 2 (3.6e21) and lr 1.1 (theta x -1.2, f x 1.44 per step) at
# step 20, f(theta0) 1.44^19 ~ 1.0e3 f(theta0)
THETA_SQUARED = {"preset": "theta_squared"}


def _by_lr(outcomes):
    return {o.record.hparams["lr"]: o.record for o in outcomes}


def test_diverging_members_leave_at_their_one_trial_step_and_the_rest_go_on():
    trials = trials_for("quadratic", THETA_SQUARED, "sgd", steps=40, log_every=4, eval_every=8,
                        lr=[0.1, 1e10, 1.1, 0.3])
    stacked = _by_lr(run_stack(trials, "s"))
    alone = _by_lr(run_trial(t, "s") for t in trials)
    assert {lr: (r.status, r.steps_run) for lr, r in alone.items()} == {
        0.1: ("finished", 40), 1e10: ("diverged", 2), 1.1: ("diverged", 20), 0.3: ("finished", 40),
    }
    for lr, record in stacked.items():
        assert_same_record(record, alone[lr])
    # the diverged loss is the member's last row; nothing of it reached the others
    assert stacked[1e10].metrics["value"][-1] > 1e21
    for lr in (0.1, 0.3):
        assert all(math.isfinite(v) for v in stacked[lr].metrics["value"])


def test_an_overflowing_adam_member_leaves_alone():
    # lr 1e30 throws theta to ~1e30: f overflows to inf at step 2 (grads and moments would follow)
    trials = trials_for("quadratic", {"dim": 4, "noise": 0.0}, "adam", steps=12, log_every=3,
                        eval_every=6, lr=[0.01, 1e30, 0.3], beta1=[0.0, 0.9])
    stacked = {(o.record.hparams["lr"], o.record.hparams["beta1"]): o.record
               for o in run_stack(trials, "s")}
    for trial in trials:
        record = stacked[(trial.hparams["lr"], trial.hparams["beta1"])]
        assert_same_record(record, run_trial(trial, "s").record)
        if trial.hparams["lr"] == 1e30:
            assert (record.status, record.steps_run) == ("diverged", 2)
            assert math.isinf(record.metrics["value"][-1])
        else:
            assert record.status == "finished"
            assert all(math.isfinite(v) for v in record.metrics["value"])


def test_every_member_diverging_ends_the_stack():
    trials = trials_for("quadratic", THETA_SQUARED, "sgd", steps=30, lr=[1e10, 2e10])
    outcomes = run_stack(trials, "s")
    assert [(o.record.status, o.record.steps_run) for o in outcomes] == [("diverged", 2)] * 2


def test_a_stack_that_cannot_be_built_runs_its_trials_one_at_a_time(monkeypatch, caplog):
    real = QuadraticTask.__init__

    def broken(self, *args, members=1, **kwargs):
        if members > 1:
            raise MemoryError("no room for the stack")
        real(self, *args, members=members, **kwargs)

    monkeypatch.setattr(QuadraticTask, "__init__", broken)
    trials = trials_for("quadratic", THETA_SQUARED, "sgd", steps=10, lr=[0.1, 0.2, 1e10])
    with caplog.at_level(logging.WARNING, logger="adamlab.sweep"):
        outcomes = run_stack(trials, "s")
    assert "could not stack 3 trials of quadratic (MemoryError: no room for the stack); " \
           "running them one at a time" in caplog.text
    for trial, outcome in zip(trials, outcomes, strict=True):
        assert_same_record(outcome.record, run_trial(trial, "s").record)
    assert [o.record.status for o in outcomes] == ["finished", "finished", "diverged"]


def test_a_stack_failing_mid_run_reruns_its_unfinished_trials_alone(monkeypatch, caplog):
    real = QuadraticTask.loss_and_grad

    def failing_at_step_6(self, step):
        if step == 6 and self.members > 1:
            raise RuntimeError("simulated fault")
        return real(self, step)

    monkeypatch.setattr(QuadraticTask, "loss_and_grad", failing_at_step_6)
    trials = trials_for("quadratic", THETA_SQUARED, "sgd", steps=10, lr=[0.1, 1e10, 0.2])
    with caplog.at_level(logging.WARNING, logger="adamlab.sweep"):
        outcomes = run_stack(trials, "s")
    assert ("a stack of 3 quadratic trials failed at step 6 (RuntimeError: simulated fault); "
            "running its 2 unfinished trial(s) one at a time") in caplog.text
    # the member that diverged at step 2 keeps the record the stack gave it
    assert [(o.record.status, o.record.steps_run) for o in outcomes] == [
        ("finished", 10), ("diverged", 2), ("finished", 10)]
    for trial, outcome in zip(trials, outcomes, strict=True):
        assert_same_record(outcome.record, run_trial(trial, "s").record)


@pytest.mark.parametrize("task,params,grid", [
    ("embedding_sparsity", {"vocab_size": 200, "dim": 4}, {"lr": [1.0, 400.0, 5.0]}),
    ("quadratic", {"dim": 6, "rotated": True, "noise": 0.3}, {"lr": [0.5, 3.0, 40.0, 0.05]}),
])
def test_divergence_step_matches_on_other_tasks(task, params, grid):
    trials = trials_for(task, params, "momentum", steps=40, log_every=7, eval_every=13, **grid)
    alone = [run_trial(t, "s").record for t in trials]
    assert {r.status for r in alone} == {"finished", "diverged"}
    for record, outcome in zip(alone, run_stack(trials, "s"), strict=True):
        assert_same_record(outcome.record, record)
