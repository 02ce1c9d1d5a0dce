"""A stack's members equal their one-at-a-time runs, per task and optimizer family.

Each case runs the same trials once with `run_trial` and once as one stack with `run_stack`,
and compares every record: status, steps run, and every logged metric (train_loss, the task's
step metrics and evaluations, the opt.* diagnostics) at every step, to float32 rounding.
"""

from __future__ import annotations

import pytest
import torch
from stacking_testing import assert_same_record, trials_for
from task_testing import tiny_mnist_arrays, write_mnist

from adamlab.sweep.runner import run_stack, run_trial

QUADRATIC = {"dim": 20, "rotated": True, "condition": 50.0, "noise": 0.5}
EMBEDDING = {"vocab_size": 300, "dim": 8, "target_noise": 0.1}

#: optimizer family -> (registry name, grid); every family stacks several configurations
FAMILIES = {
    "adam": ("adam", {"lr": [1e-3, 0.03], "beta2": [0.99, 0.999], "weight_decay": [0.0, 0.01]}),
    "adam-nobc-amsgrad": ("adam", {"lr": [0.01, 0.03], "bias_correction": [False], "amsgrad": [True]}),
    "adamw": ("adamw", {"lr": [1e-3, 0.03], "weight_decay": [0.0, 0.1]}),
    "sgd": ("sgd", {"lr": [0.01, 0.05], "weight_decay": [0.0, 0.01]}),
    "momentum": ("momentum", {"lr": [0.005, 0.02], "momentum": [0.0, 0.9], "dampening": [0.0, 0.1]}),
    "nesterov": ("nesterov", {"lr": [0.005, 0.02], "momentum": [0.5, 0.9]}),
}


@pytest.fixture(scope="module")
def mnist_params(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, tiny_mnist_arrays(), gz=True)
    return {"widths": [24, 12], "activation": "tanh", "data_dir": str(folder), "download": False}


def _check(trials) -> None:
    stacked = run_stack(trials, "s")
    assert len(stacked) == len(trials)
    for trial, outcome in zip(trials, stacked, strict=True):
        assert outcome.record.status == "finished"
        assert_same_record(outcome.record, run_trial(trial, "s").record)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_quadratic(family):
    optimizer, grid = FAMILIES[family]
    _check(trials_for("quadratic", QUADRATIC, optimizer, steps=40, **grid))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_embedding_sparsity(family):
    optimizer, grid = FAMILIES[family]
    # SGD moves a row by lr * its share of the batch: larger rates to see the rows move
    if optimizer != "adam" and optimizer != "adamw":
        grid = {**grid, "lr": [10 * lr for lr in grid["lr"]]}
    _check(trials_for("embedding_sparsity", EMBEDDING, optimizer, steps=30, **grid))


@pytest.mark.parametrize("family", ["adam", "adamw", "sgd", "momentum"])
def test_mnist_mlp(family, mnist_params):
    optimizer, grid = FAMILIES[family]
    _check(trials_for("mnist_mlp", mnist_params, optimizer, steps=20, batch_size=32, **grid))


def test_logistic_regression_stack(mnist_params):
    """widths [] is multinomial logistic regression: the first layer is the last."""
    params = {**mnist_params, "widths": []}
    _check(trials_for("mnist_mlp", params, "adam", steps=12, batch_size=32, lr=[1e-3, 1e-2]))


def test_every_member_starts_from_the_one_trial_weights():
    trials = trials_for("quadratic", {"preset": "deepobs"}, "sgd", steps=1, log_every=1,
                        eval_every=1, lr=[0.0, 0.1])
    # step 1's train_loss is f(theta0): the same initial point as the one-trial runs
    first = [o.record.metrics["value"][0] for o in run_stack(trials, "s")]
    alone = run_trial(trials[0], "s").record.metrics["value"][0]
    assert first == [pytest.approx(alone, rel=1e-6)] * 2


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("task,params,optimizer,grid", [
    ("quadratic", QUADRATIC, "adam", {"lr": [1e-3, 0.03], "beta2": [0.99, 0.999]}),
    ("embedding_sparsity", EMBEDDING, "momentum", {"lr": [0.05, 0.2], "momentum": [0.0, 0.9]}),
    ("quadratic", {"preset": "theta_squared"}, "sgd", {"lr": [0.1, 1e10]}),
])
def test_cuda_stack_matches_cuda_trials(task, params, optimizer, grid):
    """On CUDA the stack takes the tensor-op update and checks divergence at log steps."""
    trials = trials_for(task, params, optimizer, steps=30, device="cuda", **grid)
    for trial, outcome in zip(trials, run_stack(trials, "s"), strict=True):
        assert_same_record(outcome.record, run_trial(trial, "s").record)


@pytest.mark.parametrize("optimizer", ["sparse_adam", "sgd"])
def test_sparse_gradients_run_in_stacks_of_one_as_torch_runs_them(optimizer):
    """Sparse gradients (a [K * V, dim] leaf) go to torch's optimizer itself, one member a stack."""
    from adamlab.optimizers.stacked import build_stacked_optimizer

    sparse = trials_for("embedding_sparsity", {**EMBEDDING, "sparse": True}, optimizer, steps=20,
                        lr=[0.05])[0]
    record = run_trial(sparse, "s").record
    assert record.status == "finished" and record.error is None
    if optimizer == "sgd":  # plain SGD moves the batch's rows alike on sparse and dense gradients
        dense = trials_for("embedding_sparsity", EMBEDDING, "sgd", steps=20, lr=[0.05])[0]
        reference = run_trial(dense, "s").record
        assert record.final["test_loss"] == pytest.approx(reference.final["test_loss"], rel=1e-5)
    with pytest.raises(ValueError, match="no stacked form for sparse gradients"):
        build_stacked_optimizer(optimizer, [torch.zeros(6, 2, requires_grad=True)],
                                [sparse.hparams] * 2, sparse=True)
