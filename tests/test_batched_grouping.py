"""Which trials stack together (issue 8): only those differing in per-member optimizer
hyperparameters; everything else (task params, seed, steps, cadence, device, optimizer and its
discrete flags) keeps trials apart. Trials of tasks or optimizers without a stacked form run alone."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from batched_testing import trials_for

from adamlab.sweep.stacking import plan_units, stack_key
from adamlab.sweep.trials import Trial

QUADRATIC = {"dim": 3, "noise": 0.0}


def _ids(units) -> list[list[str]]:
    return [[t.trial_id for t in unit] for unit in units]


def _copy(trial: Trial, **changes) -> Trial:
    fields = {name: getattr(trial, name) for name in trial.identity()} | {"variant": trial.variant}
    return Trial(**(fields | changes))


def test_one_trial_per_unit_without_batching():
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2, 0.3])
    assert _ids(plan_units(trials, 1).units) == [[t.trial_id] for t in trials]


def test_configs_differing_only_in_hyperparameters_stack_in_sweep_order():
    trials = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2], beta2=[0.9, 0.99],
                        eps=[1e-8, 1e-6], weight_decay=[0.0, 0.1], beta1=[0.0, 0.9])
    plan = plan_units(trials, 64)
    assert _ids(plan.units) == [[t.trial_id for t in trials]] and plan.notes == []


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
    units = plan_units([base[0], other[0], base[1], other[1]], 8).units
    assert _ids(units) == [[base[0].trial_id, base[1].trial_id], [other[0].trial_id, other[1].trial_id]]


def test_discrete_flags_and_the_optimizer_split_stacks():
    adam = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2], amsgrad=[False, True],
                      bias_correction=[True, False])
    adamw = trials_for("quadratic", QUADRATIC, "adamw", lr=[0.1, 0.2])
    units = plan_units(adam + adamw, 8).units
    groups = sorted(
        tuple(sorted((t.optimizer, t.hparams.get("amsgrad"), t.hparams.get("bias_correction")) for t in u))
        for u in units
    )
    assert len(units) == 5 and all(len(u) == 2 for u in units)
    assert all(len(set(group)) == 1 for group in groups)  # each stack: one optimizer, one flag set


def test_momentum_and_dampening_vary_within_a_stack_nesterov_is_its_own():
    momentum = trials_for("quadratic", QUADRATIC, "momentum", lr=[0.1], momentum=[0.0, 0.9],
                          dampening=[0.0, 0.5])
    nesterov = trials_for("quadratic", QUADRATIC, "nesterov", lr=[0.1, 0.2])
    assert sorted(map(len, plan_units(momentum + nesterov, 8).units)) == [2, 4]


def test_groups_split_into_near_equal_stacks_of_at_most_k():
    trials = trials_for("quadratic", QUADRATIC, "sgd", lr=[0.01 * i for i in range(1, 12)])
    assert [len(u) for u in plan_units(trials, 4).units] == [4, 4, 3]
    assert [len(u) for u in plan_units(trials, 10).units] == [6, 5]
    flat = [t.trial_id for u in plan_units(trials, 4).units for t in u]
    assert flat == [t.trial_id for t in trials]


def test_jobs_get_a_unit_each_when_there_are_enough_trials():
    trials = trials_for("quadratic", QUADRATIC, "sgd", lr=[0.01 * i for i in range(1, 8)])
    assert [len(u) for u in plan_units(trials, 32, jobs=2).units] == [4, 3]
    assert [len(u) for u in plan_units(trials, 32, jobs=4).units] == [2, 2, 2, 1]
    assert [len(u) for u in plan_units(trials[:1], 32, jobs=4).units] == [1]


def test_unstackable_trials_run_alone_and_say_why(caplog):
    torch_adam = trials_for("quadratic", QUADRATIC, "torch_adam", lr=[0.1, 0.2])
    sparse = trials_for("embedding_sparsity", {"vocab_size": 20, "dim": 2, "sparse": True},
                        "sparse_adam", lr=[0.1, 0.2])
    sparse_sgd = trials_for("embedding_sparsity", {"vocab_size": 20, "dim": 2, "sparse": True},
                            "sgd", lr=[0.1, 0.2])
    with caplog.at_level(logging.WARNING, logger="adamlab.sweep"):
        plan = plan_units(torch_adam + sparse + sparse_sgd, 8)
    assert [len(u) for u in plan.units] == [1] * 6
    assert plan.notes == [
        "optimizer torch_adam has no stacked form (stackable: adam, adamw, sgd, momentum, "
        "nesterov): its trials run one at a time",
        "optimizer sparse_adam has no stacked form (stackable: adam, adamw, sgd, momentum, "
        "nesterov): its trials run one at a time",
        "embedding_sparsity on cpu: sparse gradients (sparse: true) run one trial at a time",
    ]
    assert caplog.text.count("batch_trials: ") == 3


def test_stack_key_ignores_the_label_and_the_per_member_hyperparameters():
    a, b = trials_for("quadratic", QUADRATIC, "adam", lr=[0.1, 0.2])
    shared = {"amsgrad": False, "bias_correction": True}
    assert stack_key(a, shared) == stack_key(replace(b, variant="other"), shared)


def test_bad_batch_trials():
    with pytest.raises(ValueError, match="batch_trials must be >= 1, got 0"):
        plan_units([], 0)
