"""What the runner relies on, checked for every registered task."""

from __future__ import annotations

import math
import re

import pytest
import torch
from task_testing import parameters_of, tiny_mnist_arrays, train, write_mnist

from adamlab.tasks.base import Task, TaskParams
from adamlab.tasks.registry import load_task, task_names

#: small parameters per task so the contract runs in moments
SMALL_PARAMS = {
    "quadratic": {"dim": 5},
    "mnist_mlp": {"widths": [16], "download": False},
    "embedding_sparsity": {"vocab_size": 200, "dim": 4},
}


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, tiny_mnist_arrays(n_train=64, n_test=32), gz=False)
    return str(folder)


def build(name: str, mnist_dir: str, seed: int = 0, members: int = 1) -> Task:
    cls = load_task(name)
    params = dict(SMALL_PARAMS[name])
    if name == "mnist_mlp":
        params["data_dir"] = mnist_dir
    return cls(cls.Params(**params), seed=seed, device=torch.device("cpu"), batch_size=16,
               members=members)


def test_every_registered_task_has_small_params():
    assert set(SMALL_PARAMS) == set(task_names())


@pytest.mark.parametrize("name", task_names())
def test_class_attributes(name):
    cls = load_task(name)
    assert issubclass(cls, Task) and cls.name == name
    assert cls.summary.strip() and "\n" not in cls.summary
    assert issubclass(cls.Params, TaskParams)
    cls.Params()  # every parameter has a default
    assert set(cls.metric_goals.values()) <= {"min", "max"}
    assert cls.metric_goals["train_loss"] == "min"
    assert cls.primary_metric in cls.metric_goals


@pytest.mark.parametrize("members", [1, 3])
@pytest.mark.parametrize("name", task_names())
def test_loss_gradients_and_metrics(name, members, mnist_dir):
    rng_state = torch.get_rng_state()
    task = build(name, mnist_dir, members=members)
    assert task.members == members
    parameters = parameters_of(task)
    assert all(p.grad is None for p in parameters)
    loss = task.loss_and_grad(1)
    assert loss.shape == (members,) and not loss.requires_grad and loss.dtype == torch.float32
    assert all(math.isfinite(value) for value in loss.tolist())
    assert loss.tolist() == [loss[0].item()] * members  # the members start alike
    for p in parameters:
        assert p.grad is not None and p.grad.shape == p.shape and p.shape[0] == members
    for p in parameters:
        p.grad = None

    sgd = lambda params: torch.optim.SGD(params, lr=0.01)  # noqa: E731
    losses = train(task, sgd, 5, first_step=2) if members == 1 else [
        value for step in range(2, 7) for value in _step(task, sgd, step)]
    assert all(math.isfinite(value) for value in losses)
    step_metrics, evaluation = task.step_metrics(), task.evaluate()
    assert len(step_metrics) == len(evaluation) == members
    step_metrics, evaluation = step_metrics[-1], evaluation[-1]
    for metrics in (step_metrics, evaluation):
        for metric, value in metrics.items():
            assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", metric), metric
            assert type(value) is float and math.isfinite(value), (metric, value)
    # one name, one meaning: the runner merges these per step
    assert not set(step_metrics) & set(evaluation)
    assert "train_loss" not in set(step_metrics) | set(evaluation)
    assert set(task.metric_goals) <= set(step_metrics) | set(evaluation) | {"train_loss"}
    assert task.steps_per_epoch is None or task.steps_per_epoch >= 1
    # no task draws from (or reseeds) torch's global generator
    assert torch.equal(torch.get_rng_state(), rng_state)


def _step(task, make_optimizer, step: int) -> list[float]:
    optimizer = make_optimizer(task.param_groups())
    losses = task.loss_and_grad(step).tolist()
    optimizer.step()
    return losses


@pytest.mark.parametrize("name", task_names())
def test_a_dropped_member_leaves_the_others_as_they_were(name, mnist_dir):
    task = build(name, mnist_dir, members=3)
    task.loss_and_grad(1)
    with torch.no_grad():
        for p in parameters_of(task):
            p.view(3, -1)[1] += 1.0  # member 1 moves away from the others
    before = [p.detach().view(3, -1)[[0, 2]].clone() for p in parameters_of(task)]
    task.keep([0, 2])
    assert task.members == 2
    for p, kept in zip(parameters_of(task), before, strict=True):
        assert torch.equal(p.detach().view(2, -1), kept) and p.is_leaf and p.requires_grad
    losses = task.loss_and_grad(2)
    assert losses.shape == (2,) and losses[0].item() == losses[1].item()
    assert len(task.evaluate()) == len(task.step_metrics()) == 2


@pytest.mark.parametrize("name", task_names())
def test_same_seed_same_start_other_seed_other_start(name, mnist_dir):
    def start(seed):
        task = build(name, mnist_dir, seed)
        return [p.detach().clone() for p in parameters_of(task)], float(task.loss_and_grad(1))

    (a, loss_a), (b, loss_b), (_, loss_c) = start(3), start(3), start(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True)) and loss_a == loss_b
    # quadratic starts at theta0 for every seed; its seed changes the noise (and the problem)
    assert loss_a != loss_c or name == "quadratic"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("quadratic", {}),
        ("quadratic", {"preset": "deepobs"}),
        ("quadratic", {"preset": "theta_squared", "noise": 0.5}),
        ("quadratic", {"dim": 3, "rotated": True, "problem_seed": 7}),
        ("mnist_mlp", {"widths": [128, 64], "data_dir": "somewhere"}),
        ("embedding_sparsity", {"sparse": True, "vocab_size": 500}),
    ],
)
def test_params_survive_the_json_round_trip_the_sweep_makes(name, params):
    """Trials carry params as model_dump(mode='json'); validating that again changes nothing."""
    cls = load_task(name)
    validated = cls.Params.model_validate(params)
    dumped = validated.model_dump(mode="json")
    assert cls.Params.model_validate(dumped) == validated
    assert cls.Params.model_validate(dumped).model_dump(mode="json") == dumped
