"""adamlab.testing: check_optimizer and check_task pass on good plug-ins and fail, saying why,
on broken ones."""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from plain_optimizers import CachedLrSGD, ClassMomentumSGD, Lion, SharedStepSGD
from plain_tasks import BatchNormTask, BranchingTask, MlpTask

from adamlab.optimizers import factories
from adamlab.optimizers.adam import Adam, AdamW
from adamlab.testing import TaskCheck, check_optimizer, check_task


@pytest.mark.parametrize("optimizer,settings", [
    (torch.optim.Adam, [{"lr": 1e-3}, {"lr": 0.05, "betas": (0.8, 0.99), "amsgrad": True}]),
    (torch.optim.SGD, [{"lr": 0.01}, {"lr": 0.1, "momentum": 0.9, "nesterov": True}]),
    (Adam, [{"lr": 1e-3}, {"lr": 0.01, "bias_correction": False}]),
    (AdamW, [{"lr": 1e-3, "weight_decay": 0.1}, {"lr": 0.01, "weight_decay_scaling": "schedule"}]),
    (factories.adam, [{"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
                       "amsgrad": False, "bias_correction": True}]),
    (Lion, [{"lr": 1e-4}, {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}]),
])
def test_check_optimizer_passes_working_optimizers(optimizer, settings):
    assert check_optimizer(optimizer, settings) is None


def test_check_optimizer_fails_an_optimizer_that_ignores_its_groups_lr():
    with pytest.raises(AssertionError, match=r"CachedLrSGD \(\{'lr': 0.1\}\): a step with its "
                                             r"group's lr set to 0 .* still changed the parameters"):
        check_optimizer(CachedLrSGD, [{"lr": 0.1}, {"lr": 0.01}])


def test_check_optimizer_fails_instances_that_share_state():
    with pytest.raises(AssertionError, match=r"SharedStepSGD: member 1 \(\{'lr': 0.01\}\) of a stack "
                                             r"of 2 instances differs from its lone run at step 1"):
        check_optimizer(SharedStepSGD, [{"lr": 0.1}, {"lr": 0.01}])


def test_check_optimizer_fails_an_optimizer_that_ignores_a_members_own_hyperparameters():
    with pytest.raises(AssertionError, match=r"ClassMomentumSGD: member 0 \(\{'lr': 0.1, 'momentum': "
                                             r"0.0\}\) of a stack of 2 instances differs from its "
                                             r"lone run at step 2"):
        check_optimizer(ClassMomentumSGD, [{"lr": 0.1, "momentum": 0.0}, {"lr": 0.1, "momentum": 0.9}])


def test_check_optimizer_fails_what_is_not_an_optimizer():
    with pytest.raises(AssertionError, match="made a list, not a torch.optim.Optimizer"):
        check_optimizer(lambda params, lr: list(params), [{"lr": 0.1}])
    with pytest.raises(AssertionError, match=r"raised TypeError: .*unexpected keyword argument 'beta'"):
        check_optimizer(torch.optim.SGD, [{"lr": 0.1, "beta": 0.9}])


@pytest.mark.parametrize("task_cls,path", [
    (MlpTask, "vmap"), (BatchNormTask, "vmap"), (BranchingTask, "one at a time"),
])
def test_check_task_passes_working_tasks_and_reports_the_path(task_cls, path):
    result = check_task(task_cls, {"width": 8}, rtol=1e-9, atol=1e-12)
    assert isinstance(result, TaskCheck) and result.path == path
    if path == "vmap":
        assert repr(result) == f"TaskCheck({task_cls.__name__}: stacks by vmap)"
    else:
        assert "data-dependent control flow" in result.path_reason


class UnseededModelTask(MlpTask):
    """Broken: initial weights from the operating system's entropy, not the seed."""

    def model(self):
        model = super().model()
        generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        with torch.no_grad():
            model[0].weight.normal_(generator=generator)
        return model


class UnseededBatchTask(MlpTask):
    def batch(self, step):
        generator = torch.Generator().manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)
        index = torch.randint(0, self.x.shape[0], (8,), generator=generator)
        return self.x[index], self.y[index]


class NoEvaluateTask:
    def __init__(self, *, seed, device):
        pass

    def model(self):
        return torch.nn.Linear(2, 1)

    def batch(self, step):
        return torch.ones(2)

    def loss(self, model, batch):
        return model(batch).sum()


class VectorLossTask(MlpTask):
    def loss(self, model, batch):
        x, y = batch
        return F.cross_entropy(model(x), y, reduction="none")


class ListMetricsTask(MlpTask):
    def evaluate(self, model):
        return [0.5]


class CountingTask(MlpTask):
    """Broken for stacking: loss() changes the task's own state, so its value at step t depends
    on how many times loss() ran before (once per step alone; a stack calls it once more to try
    vmap, and K times a step one at a time)."""

    calls = 0

    def loss(self, model, batch):
        self.calls += 1
        return super().loss(model, batch) * (1.0 + 0.1 * self.calls)


@pytest.mark.parametrize("task_cls,message", [
    (UnseededModelTask, r"UnseededModelTask.model\(\) is not deterministic under a seed: two "
                        r"builds with seed 0 differ in '0.weight'"),
    (UnseededBatchTask, r"UnseededBatchTask.batch\(1\) is not deterministic under a seed"),
    (NoEvaluateTask, r"NoEvaluateTask is not a task: it has no evaluate \(a task needs model, "
                     r"batch, loss, evaluate\)"),
    (VectorLossTask, r"VectorLossTask.loss\(\) must return a scalar tensor, got \(16,\)"),
    (ListMetricsTask, r"ListMetricsTask.evaluate\(\) must return a dict of metric name -> number"),
    (CountingTask, r"CountingTask: member 0 \(\{'lr': 0.001\}\) of a stack of 2 \(vmap\) has "
                   r"train loss .* at step 1, its lone run .* \(does loss\(\) change state outside"),
])
def test_check_task_fails_broken_tasks_saying_why(task_cls, message):
    with pytest.raises(AssertionError, match=message):
        check_task(task_cls)


def test_check_task_names_a_constructor_that_refuses_the_params():
    with pytest.raises(AssertionError, match=r"MlpTask\(seed=0, device='cpu', \*\*\{'depth': 3\}\) "
                                             r"raised TypeError"):
        check_task(MlpTask, {"depth": 3})
