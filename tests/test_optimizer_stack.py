"""OptimizerStack: K instances of any torch.optim optimizer over per-member views equal K lone
runs of that optimizer, step by step, with a schedule, diagnostics and members dropped."""

from __future__ import annotations

import pytest
import torch
from plain_optimizers import Lion

from adamlab.optimizers.adam import Adam, AdamW
from adamlab.optimizers.diagnostics import params_snapshot, step_diagnostics
from adamlab.optimizers.optimizer_stack import OptimizerStack

SHAPES = [(5, 3), (3,), ()]
STEPS = 10
#: the schedule's multiplier before step t (1-based): warm up, hold, decay to 0
ETAS = [0.25, 0.5, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0.0]

FAMILIES = {
    "torch-adam": (torch.optim.Adam, [
        {"lr": 1e-3}, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1},
        {"lr": 0.01, "amsgrad": True, "eps": 1e-3}]),
    "torch-adamw": (torch.optim.AdamW, [
        {"lr": 1e-3, "weight_decay": 0.0}, {"lr": 0.05, "weight_decay": 0.5}]),
    "torch-sgd": (torch.optim.SGD, [
        {"lr": 0.01}, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.05},
        {"lr": 0.05, "momentum": 0.5, "nesterov": True}]),
    "adamlab-adam": (Adam, [
        {"lr": 1e-3}, {"lr": 0.05, "betas": (0.0, 0.9), "weight_decay": 0.1},
        {"lr": 0.01, "bias_correction": False, "amsgrad": True}]),
    "adamlab-adamw": (AdamW, [
        {"lr": 1e-3}, {"lr": 0.05, "weight_decay": 0.5, "weight_decay_scaling": "schedule"},
        {"lr": 0.02, "weight_decay": 0.1, "implementation": "plain"}]),
    "user-lion": (Lion, [{"lr": 1e-3}, {"lr": 0.01, "betas": (0.95, 0.98), "weight_decay": 0.1}]),
}


def gradient(theta: torch.Tensor, step: int, index: int) -> torch.Tensor:
    """A gradient that depends on the parameters (a quadratic's) plus step noise shared by all
    members: members that drift apart get different gradients."""
    noise = torch.randn(SHAPES[index], generator=torch.Generator().manual_seed(100 * step + index),
                        dtype=torch.float64)
    return (1.0 + index) * theta + noise


def initial() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in SHAPES]


def lone_runs(factory, members, *, steps=STEPS):
    """Per member: parameters after each step and the step's diagnostics (a LambdaLR schedule)."""
    runs = []
    for hparams in members:
        params = [torch.nn.Parameter(t.clone()) for t in initial()]
        optimizer = factory(params, **hparams)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: ETAS[epoch])
        trajectory = []
        for step in range(1, steps + 1):
            for i, p in enumerate(params):
                p.grad = gradient(p.detach(), step, i)
            snapshot = params_snapshot(optimizer)
            optimizer.step()
            trajectory.append(([p.detach().clone() for p in params],
                               step_diagnostics(optimizer, snapshot)))
            if step < steps:
                scheduler.step()
        runs.append(trajectory)
    return runs


def stacked_leaves(members: int) -> list[torch.Tensor]:
    return [t.unsqueeze(0).repeat(members, *[1] * t.dim()).requires_grad_() for t in initial()]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_member_steps_like_its_lone_run(family):
    factory, members = FAMILIES[family]
    expected = lone_runs(factory, members)
    leaves = stacked_leaves(len(members))
    stack = OptimizerStack(factory, leaves, members)
    for step in range(1, STEPS + 1):
        for i, leaf in enumerate(leaves):
            leaf.grad = gradient(leaf.detach(), step, i)
        stack.set_lr_multiplier(ETAS[step - 1])
        diagnostics = stack.step_and_diagnose() if step % 2 else (stack.step() or None)
        for k, trajectory in enumerate(expected):
            params, lone_diagnostics = trajectory[step - 1]
            for leaf, lone in zip(leaves, params, strict=True):
                torch.testing.assert_close(leaf[k].detach(), lone, rtol=1e-12, atol=1e-14)
            if diagnostics is not None:
                assert diagnostics[k].keys() == lone_diagnostics.keys()
                for name, value in lone_diagnostics.items():
                    assert diagnostics[k][name] == pytest.approx(value, rel=1e-10), (k, step, name)
    # not vacuous: the members' hyperparameters took them apart
    assert not torch.allclose(leaves[0][0], leaves[0][1])


def test_gradients_set_in_place_between_steps_are_seen():
    """A task may keep one gradient tensor and write into it (the embedding task does)."""
    members = [{"lr": 0.1}, {"lr": 0.2}]
    leaves = stacked_leaves(2)
    for leaf in leaves:
        leaf.grad = torch.zeros_like(leaf)
    stack = OptimizerStack(torch.optim.SGD, leaves, members)
    expected = [[t.clone() for t in initial()] for _ in members]
    for step in range(1, 4):
        for i, leaf in enumerate(leaves):
            leaf.grad.copy_(gradient(leaf.detach(), step, i))
            for k, m in enumerate(members):
                expected[k][i] -= m["lr"] * gradient(expected[k][i], step, i)
        stack.step()
    for k in range(2):
        for leaf, lone in zip(leaves, expected[k], strict=True):
            torch.testing.assert_close(leaf[k].detach(), lone, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("family", ["torch-adam", "adamlab-adamw", "user-lion"])
def test_keep_moves_each_kept_members_state_to_the_new_leaves(family):
    factory, members = FAMILIES[family]
    members = [*members, {**members[0], "lr": 3 * members[0]["lr"]}]
    expected = lone_runs(factory, members)
    kept = [1, len(members) - 1]
    leaves = stacked_leaves(len(members))
    stack = OptimizerStack(factory, leaves, members)
    for step in range(1, STEPS + 1):
        for i, leaf in enumerate(leaves):
            leaf.grad = gradient(leaf.detach(), step, i)
        stack.set_lr_multiplier(ETAS[step - 1])
        stack.step()
        if step == 4:
            leaves = [leaf.detach()[kept].requires_grad_() for leaf in leaves]
            stack.keep(kept, leaves)
    assert stack.members == 2 and stack.hparams == [members[k] for k in kept]
    for position, k in enumerate(kept):
        for leaf, lone in zip(leaves, expected[k][-1][0], strict=True):
            torch.testing.assert_close(leaf[position].detach(), lone, rtol=1e-12, atol=1e-14)


def test_code_path_names_the_optimizer():
    leaves = stacked_leaves(3)
    assert OptimizerStack(torch.optim.Adam, leaves, [{}] * 3).code_path() == \
        "torch.optim.Adam x 3 (per-member views)"
    assert OptimizerStack(Lion, leaves, [{}] * 3).code_path() == \
        "plain_optimizers.Lion x 3 (per-member views)"
    assert OptimizerStack(Adam, leaves, [{}] * 3).code_path() == \
        "adamlab.optimizers.adam.Adam x 3 (per-member views)"


def test_a_factory_that_makes_no_optimizer_is_refused():
    with pytest.raises(TypeError, match="not a torch.optim.Optimizer"):
        OptimizerStack(lambda params, lr: list(params), stacked_leaves(2), [{"lr": 1.0}] * 2)


def test_leaves_without_the_member_axis_are_refused():
    with pytest.raises(ValueError, match=r"every stacked tensor needs 3 members along dim 0, got shape \(2, 5, 3\)"):
        OptimizerStack(torch.optim.SGD, stacked_leaves(2), [{"lr": 1.0}] * 3)


def test_sparse_gradients_are_refused_and_run_through_torch_stack():
    from adamlab.optimizers.stacked import TorchStack
    from adamlab.tasks.embedding_sparsity import EmbeddingSparsityTask

    params = EmbeddingSparsityTask.Params(vocab_size=50, dim=4, sparse=True)
    task = EmbeddingSparsityTask(params, seed=0, device=torch.device("cpu"), batch_size=8)
    task.loss_and_grad(1)
    assert task.tensors[0].grad.is_sparse
    leaves = stacked_leaves(2)
    for leaf in leaves:
        leaf.grad = torch.ones_like(leaf).to_sparse()
    with pytest.raises(TypeError, match="dense gradients only; sparse gradients run on one member "
                                        "through adamlab.optimizers.stacked.TorchStack"):
        OptimizerStack(torch.optim.SparseAdam, leaves, [{"lr": 0.1}] * 2).step()
    before = task.tensors[0].detach().clone()
    stack = TorchStack(torch.optim.SparseAdam(task.tensors, lr=0.1), task.tensors)
    stack.step()
    moved = (task.tensors[0].detach() - before).abs().sum(1) > 0
    assert moved.any() and not moved.all()  # only the rows of the batch's tokens
