"""ModuleTask: a plain-PyTorch task run as K members equals K lone runs of the user's own loop,
on the vmap path and one member at a time, for every kind of model the two paths must handle."""

from __future__ import annotations

import pytest
import torch
from plain_tasks import (
    BatchNormTask,
    BranchingTask,
    CumulativeBatchNormTask,
    LateBranchingTask,
    MlpTask,
    WeightPenaltyTask,
    lone_run,
)

from adamlab.optimizers.optimizer_stack import OptimizerStack
from adamlab.tasks.module_task import ONE_AT_A_TIME, VMAP, ModuleTask, default_goal

LRS = [0.01, 0.05, 0.2]
STEPS = 6
TOL = {"rtol": 1e-10, "atol": 1e-12}


def _sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def stacked_run(task_cls, stacking: str, *, lrs=LRS, steps=STEPS, seed=0, keep_after=None):
    """The training loop's use of a ModuleTask: (task, losses [steps, K], grads per step,
    evaluate()). keep_after=(step, members) drops members after that step."""
    torch.manual_seed(seed)
    task = ModuleTask(task_cls(seed=seed, device="cpu"), members=len(lrs), stacking=stacking)
    optimizer = OptimizerStack(_sgd, task.tensors, [{"lr": lr} for lr in lrs])
    losses, grads = [], []
    for step in range(1, steps + 1):
        losses.append(task.loss_and_grad(step).tolist())
        grads.append([t.grad.clone() for t in task.tensors])
        optimizer.step()
        if keep_after is not None and step == keep_after[0]:
            task.keep(keep_after[1])
            optimizer.keep(keep_after[1], task.tensors)
    return task, losses, grads, task.evaluate()


def assert_members_equal_lone_runs(task_cls, task, losses, grads, evaluations):
    """Every member's losses and gradients at every step, and its evaluation, are its lone run's."""
    for k, lr in enumerate(LRS):
        lone_losses, lone_grads, lone_eval, _ = lone_run(task_cls, lambda p, lr=lr: _sgd(p, lr),
                                                         steps=len(losses))
        torch.testing.assert_close(torch.tensor([row[k] for row in losses]),
                                   torch.tensor(lone_losses), **TOL)
        for step_grads, lone_step in zip(grads, lone_grads, strict=True):
            for stacked, lone in zip(step_grads, lone_step, strict=True):
                torch.testing.assert_close(stacked[k], lone, **TOL)
        assert evaluations[k].keys() == lone_eval.keys()
        for name, value in lone_eval.items():
            assert evaluations[k][name] == pytest.approx(value, rel=1e-10, abs=1e-12), name


@pytest.mark.parametrize("task_cls", [MlpTask, WeightPenaltyTask, BatchNormTask])
@pytest.mark.parametrize("stacking", ["auto", "loop"])
def test_members_equal_their_lone_runs(task_cls, stacking):
    task, losses, grads, evaluations = stacked_run(task_cls, stacking)
    assert task.path == (VMAP if stacking == "auto" else ONE_AT_A_TIME)
    assert_members_equal_lone_runs(task_cls, task, losses, grads, evaluations)


def test_members_differ_from_one_another():
    """The comparison above is not vacuous: different lrs take members apart."""
    _, losses, _, evaluations = stacked_run(MlpTask, "auto")
    assert len({round(e["val_loss"], 9) for e in evaluations}) == len(LRS)
    assert losses[-1][0] != losses[-1][-1]


def test_batchnorm_running_statistics_are_per_member():
    task, *_ = stacked_run(BatchNormTask, "auto")
    names = task._fixed_names
    mean = task.fixed[names.index("model.1.running_mean")]
    for k, lr in enumerate(LRS):
        *_, model = lone_run(BatchNormTask, lambda p, lr=lr: _sgd(p, lr), steps=STEPS)
        torch.testing.assert_close(mean[k], model[1].running_mean, **TOL)
        assert task.fixed[names.index("model.1.num_batches_tracked")][k] == STEPS
    assert not torch.equal(mean[0], mean[-1])


@pytest.mark.parametrize("task_cls,reason", [
    (CumulativeBatchNormTask, "item"),
    (BranchingTask, "data-dependent control flow"),
])
def test_what_vmap_refuses_runs_one_at_a_time_and_says_why(task_cls, reason):
    task, losses, grads, evaluations = stacked_run(task_cls, "auto")
    assert task.path == ONE_AT_A_TIME
    assert task.path_reason.startswith("vmap failed: RuntimeError: vmap: ")
    assert reason in task.path_reason
    assert "\n" not in task.path_reason
    assert_members_equal_lone_runs(task_cls, task, losses, grads, evaluations)


def test_stacking_vmap_refuses_a_model_it_cannot_vmap():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="BranchingTask cannot be vmapped over its members"):
        ModuleTask(BranchingTask(seed=0, device="cpu"), members=2, stacking="vmap")


def test_a_vmap_failure_at_a_later_step_recomputes_that_step_one_at_a_time():
    task, losses, grads, evaluations = stacked_run(LateBranchingTask, "auto")
    assert task.path == ONE_AT_A_TIME
    assert task.path_reason.startswith("vmap failed at step 3: ")
    assert_members_equal_lone_runs(LateBranchingTask, task, losses, grads, evaluations)


def test_one_member_runs_its_lone_run_exactly():
    task, losses, grads, evaluations = stacked_run(MlpTask, "auto", lrs=[0.05])
    assert (task.path, task.path_reason) == (ONE_AT_A_TIME, "a stack of one member")
    lone_losses, _, lone_eval, _ = lone_run(MlpTask, lambda p: _sgd(p, 0.05), steps=STEPS)
    assert [row[0] for row in losses] == lone_losses
    assert evaluations == [lone_eval]


@pytest.mark.parametrize("task_cls", [MlpTask, BatchNormTask, BranchingTask])
def test_keep_drops_members_with_their_parameters_and_buffers(task_cls):
    task, losses, grads, evaluations = stacked_run(task_cls, "auto", keep_after=(3, [0, 2]))
    assert task.members == 2 and all(t.shape[0] == 2 for t in task.tensors + task.fixed)
    losses = losses[:3] + [[row[0], None, row[1]] for row in losses[3:]]
    for position, k in enumerate([0, 2]):
        lone_losses, _, lone_eval, _ = lone_run(task_cls, lambda p, lr=LRS[k]: _sgd(p, lr), steps=STEPS)
        torch.testing.assert_close(torch.tensor([row[k] for row in losses]),
                                   torch.tensor(lone_losses), **TOL)
        for name, value in lone_eval.items():
            assert evaluations[position][name] == pytest.approx(value, rel=1e-10, abs=1e-12)


def test_a_task_missing_a_method_is_refused_naming_it():
    class NoEvaluate:
        def model(self):
            return torch.nn.Linear(2, 1)

        def batch(self, step):
            return torch.zeros(2)

        def loss(self, model, batch):
            return model(batch).sum()

    with pytest.raises(TypeError, match="NoEvaluate is not a task: it has no evaluate"):
        ModuleTask(NoEvaluate(), members=2)


def test_model_must_be_a_module_and_stacking_a_known_word():
    class NotAModel(MlpTask):
        def model(self):
            return "mlp"

    with pytest.raises(TypeError, match=r"model\(\) must return a torch.nn.Module, got str"):
        ModuleTask(NotAModel(seed=0, device="cpu"), members=2)
    with pytest.raises(ValueError, match="stacking must be one of auto, vmap, loop"):
        ModuleTask(MlpTask(seed=0, device="cpu"), members=2, stacking="fast")


def test_metric_goals_declared_and_defaulted():
    class Plain(MlpTask):
        metric_goals = {"val_loss": "min"}

        def evaluate(self, model):
            return {"val_loss": 1.0, "val_accuracy": 0.5, "test_error": 0.1, "margin": 2.0}

    torch.manual_seed(0)
    task = ModuleTask(Plain(seed=0, device="cpu"), members=2)
    assert task.metric_goals == {"train_loss": "min", "val_loss": "min"}
    task.evaluate()
    assert task.metric_goals == {"train_loss": "min", "val_loss": "min", "val_accuracy": "max",
                                 "test_error": "min", "margin": "min"}
    assert [default_goal(m) for m in ("test_accuracy", "loss", "error")] == ["max", "min", "min"]


def test_bad_metric_goals_and_evaluations_are_refused():
    class BadGoal(MlpTask):
        metric_goals = {"val_loss": "down"}

    with pytest.raises(ValueError, match=r"metric_goals\['val_loss'\] of BadGoal must be 'min' or 'max'"):
        ModuleTask(BadGoal(seed=0, device="cpu"), members=2)

    class ListEvaluation(MlpTask):
        def evaluate(self, model):
            return [1.0]

    torch.manual_seed(0)
    task = ModuleTask(ListEvaluation(seed=0, device="cpu"), members=2)
    with pytest.raises(TypeError, match=r"evaluate\(\) must return a dict"):
        task.evaluate()


def test_sparse_gradients_are_refused_naming_the_parameter():
    class SparseEmbedding(MlpTask):
        def model(self):
            return torch.nn.Embedding(10, 3, sparse=True).double()

        def batch(self, step):
            return torch.tensor([1, 2, 2])

        def loss(self, model, batch):
            return model(batch).square().sum()

    torch.manual_seed(0)
    task = ModuleTask(SparseEmbedding(seed=0, device="cpu"), members=2)
    assert task.path == ONE_AT_A_TIME  # vmap has no rule for the sparse backward
    with pytest.raises(TypeError, match="SparseEmbedding: parameter 'model.weight' has a sparse "
                                        "gradient .* build the model with sparse=False"):
        task.loss_and_grad(1)


class NoisyEvaluationTask(MlpTask):
    """evaluate() draws from the global RNG (a random subsample) and training uses dropout: an
    evaluation in the middle of training must leave every member's later draws as its lone run's."""

    def evaluate(self, model):
        index = torch.randperm(self.x.shape[0])[:32]
        return {"subsample_loss": torch.nn.functional.cross_entropy(model(self.x[index]),
                                                                    self.y[index]).item()}


@pytest.mark.parametrize("stacking", ["auto", "loop"])
def test_random_draws_in_evaluate_leave_each_member_on_its_lone_runs_stream(stacking):
    torch.manual_seed(0)
    task = ModuleTask(NoisyEvaluationTask(seed=0, device="cpu"), members=len(LRS), stacking=stacking)
    optimizer = OptimizerStack(_sgd, task.tensors, [{"lr": lr} for lr in LRS])
    losses, evaluations = [], []
    for step in range(1, STEPS + 1):
        losses.append(task.loss_and_grad(step).tolist())
        optimizer.step()
        if step % 2 == 0:
            evaluations.append(task.evaluate())
    for k, lr in enumerate(LRS):
        torch.manual_seed(0)
        lone = NoisyEvaluationTask(seed=0, device="cpu")
        model = lone.model()
        lone_optimizer = _sgd(model.parameters(), lr)
        for step in range(1, STEPS + 1):
            loss = lone.loss(model, lone.batch(step))
            lone_optimizer.zero_grad()
            loss.backward()
            lone_optimizer.step()
            assert losses[step - 1][k] == pytest.approx(loss.item(), rel=1e-10), (k, step)
            if step % 2 == 0:
                value = lone.evaluate(model)["subsample_loss"]
                assert evaluations[step // 2 - 1][k]["subsample_loss"] == pytest.approx(value, rel=1e-10)
