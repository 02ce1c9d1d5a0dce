"""Which trials stack together: only those differing in per-member optimizer
hyperparameters; everything else (task params, seed, steps, cadence, device, optimizer and its
discrete flags) keeps trials apart. Trials of tasks or optimizers without a stacked form run alone."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from stacking_testing import trials_for

from adamlab.sweep.options import parse_stack_size
from adamlab.sweep.stacking import plan_stacks, stack_key
from adamlab.sweep.trials import Trial

QUADRATIC = {"dim": 3, "noise": 0.0}


def _ids(stacks) -> list[list[str]]:
    return [[t.trial_id for t in stack] for stack in stacks]


def _copy(trial: Trial, **changes) -> Trial:
    fields = {name: getattr(trial, name) for name in trial.identity()} | {"variant": trial.variant}
    return Trial(**(fields | changes))


def test_one_trial_per_unit_without_batching():
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2, 0.3])
    assert _ids(plan_stacks(trials, 1).stacks) == [[t.trial_id] for t in trials]


def test_configs_differing_only_in_hyperparameters_stack_in_sweep_order():
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2], beta2=[0.9, 0.99],
                        eps=[1e-8, 1e-6], weight_decay=[0.0, 0.1], beta1=[0.0, 0.9])
    plan = plan_stacks(trials, 64)
    assert _ids(plan.stacks) == [[t.trial_id for t in trials]] and plan.notes == []


@pytest.mark.parametrize("change", [
    {"task_params": {**QUADRATIC, "dim": 4}},
    {"seed": 1},
    {"steps": 31},
    {"batch_size": 8},
    {"log_every": 3},
    {"eval_every": 11},
    {"divergence_factor": 10.0},
])
def test_trials_differing_in_anything_but_hyperparameters_never_stack(change):
    base = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2])
    other = [_copy(t, **change) for t in base]
    stacks = plan_stacks([base[0], other[0], base[1], other[1]], 8).stacks
    assert _ids(stacks) == [[base[0].trial_id, base[1].trial_id], [other[0].trial_id, other[1].trial_id]]


def test_discrete_flags_and_the_optimizer_split_stacks():
    adam = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2], amsgrad=[False, True],
                      bias_correction=[True, False])
    adamw = trials_for("quadratic", QUADRATIC, "adamw", lr=[0.1, 0.2])
    stacks = plan_stacks(adam + adamw, 8).stacks
    groups = sorted(
        tuple(sorted((t.optimizer, t.hparams.get("amsgrad"), t.hparams.get("bias_correction")) for t in u))
        for u in stacks
    )
    assert len(stacks) == 5 and all(len(u) == 2 for u in stacks)
    assert all(len(set(group)) == 1 for group in groups)  # each stack: one optimizer, one flag set


def test_momentum_and_dampening_vary_within_a_stack_nesterov_is_its_own():
    momentum = trials_for("quadratic", QUADRATIC, "momentum", lr=[0.1], momentum=[0.0, 0.9],
                          dampening=[0.0, 0.5])
    nesterov = trials_for("quadratic", QUADRATIC, "nesterov", lr=[0.1, 0.2])
    assert sorted(map(len, plan_stacks(momentum + nesterov, 8).stacks)) == [2, 4]


def test_groups_split_into_near_equal_stacks_of_at_most_k():
    trials = trials_for("quadratic", QUADRATIC, "sgd", lr=[0.01 * i for i in range(1, 12)])
    assert [len(u) for u in plan_stacks(trials, 4).stacks] == [4, 4, 3]
    assert [len(u) for u in plan_stacks(trials, 10).stacks] == [6, 5]
    flat = [t.trial_id for u in plan_stacks(trials, 4).stacks for t in u]
    assert flat == [t.trial_id for t in trials]


def test_jobs_get_a_unit_each_when_there_are_enough_trials():
    trials = trials_for("quadratic", QUADRATIC, "sgd", lr=[0.01 * i for i in range(1, 8)])
    assert [len(u) for u in plan_stacks(trials, 32, jobs=2).stacks] == [4, 3]
    assert [len(u) for u in plan_stacks(trials, 32, jobs=4).stacks] == [2, 2, 2, 1]
    assert [len(u) for u in plan_stacks(trials[:1], 32, jobs=4).stacks] == [1]


def test_sparse_trials_run_alone_and_say_why_and_any_optimizer_stacks(caplog):
    torch_adam = trials_for("quadratic", QUADRATIC, "torch_adam", lr=[0.1, 0.2])
    sparse = trials_for("embedding_sparsity", {"vocab_size": 20, "dim": 2, "sparse": True},
                        "sparse_adam", lr=[0.1, 0.2])
    sparse_sgd = trials_for("embedding_sparsity", {"vocab_size": 20, "dim": 2, "sparse": True},
                            "sgd", lr=[0.1, 0.2])
    with caplog.at_level(logging.WARNING, logger="adamlab.sweep"):
        plan = plan_stacks(torch_adam + sparse + sparse_sgd, 8)
    # torch's Adam has no hand-stacked form: it stacks as one instance per member
    assert [len(u) for u in plan.stacks] == [2, 1, 1, 1, 1]
    assert plan.notes == [
        "embedding_sparsity with sparse gradients runs one trial at a time (no optimizer takes "
        "sparse gradients per member)",
    ]
    assert caplog.text.count("stack_size: ") == 1


def test_stack_key_ignores_the_label_and_the_per_member_hyperparameters():
    a, b = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2])
    shared = {"amsgrad": False, "bias_correction": True}
    assert stack_key(a, shared) == stack_key(replace(b, variant="other"), shared)


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "4", "many", None])
def test_a_stack_size_is_auto_or_an_integer_of_at_least_one(value):
    with pytest.raises(ValueError, match=f"must be auto or an integer >= 1, got {value!r}"):
        parse_stack_size(value)


def test_a_flags_digits_are_a_stack_size_and_auto_is_none():
    assert parse_stack_size("auto") is None
    assert parse_stack_size(3) == 3
    assert parse_stack_size("12", text=True) == 12
    with pytest.raises(ValueError):
        parse_stack_size("\u00b2", text=True)


def test_automatic_stacks_take_every_trial_that_can_share_one():
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2, 0.3], beta2=[0.9, 0.99])
    plan = plan_stacks(trials)
    assert [len(s) for s in plan.stacks] == [6] and plan.notes == []


def test_automatic_stacks_are_capped_by_the_devices_memory(monkeypatch):
    from adamlab import host
    from adamlab.sweep import stacking
    from adamlab.tasks.quadratic import QuadraticParams, QuadraticTask

    member = QuadraticTask.member_bytes(QuadraticParams(**QUADRATIC), 16)
    # room for 2 members in the share of free memory a stack may take
    monkeypatch.setattr(host, "available_memory",
                        lambda device: int(2.5 * member / stacking.MEMORY_SHARE))
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2, 0.3, 0.4, 0.5])
    assert [len(s) for s in plan_stacks(trials).stacks] == [2, 2, 1]
    # two stacks in flight share the budget: 1.25 members' room each
    assert [len(s) for s in plan_stacks(trials, jobs=2).stacks] == [1] * 5
    assert [len(s) for s in plan_stacks(trials, 1).stacks] == [1] * 5
