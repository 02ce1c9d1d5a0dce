"""The embedding task: Zipf sampling, teacher regression, sparse gradients, bucket metrics."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from task_testing import train

from adamlab.tasks.embedding_sparsity import (
    EmbeddingSparsityParams,
    EmbeddingSparsityTask,
    bucket_slices,
    zipf_probabilities,
)

CPU = torch.device("cpu")


def make(seed: int = 0, batch_size: int = 32, device=CPU, **params) -> EmbeddingSparsityTask:
    return EmbeddingSparsityTask(
        EmbeddingSparsityParams(**params), seed=seed, device=device, batch_size=batch_size
    )


def sgd(lr: float):
    return lambda params: torch.optim.SGD(params, lr=lr)


def table(task) -> torch.Tensor:
    """The one member's table, [vocab_size, dim] (a detached view of the leaf)."""
    return task.weights()[0]


def set_rows(task, weight: torch.Tensor, teacher: torch.Tensor) -> None:
    with torch.no_grad():
        table(task).copy_(weight)
    task.teacher = teacher.clone()
    task._weight_at_last_log.copy_(weight)


def test_bucket_sizes():
    assert bucket_slices(10_000, 0.01, 0.5) == {
        "frequent": slice(0, 100), "middle": slice(100, 5000), "rare": slice(5000, 10_000),
    }
    assert bucket_slices(10, 0.01, 0.5) == {
        "frequent": slice(0, 1), "middle": slice(1, 5), "rare": slice(5, 10),
    }


def test_bucket_metrics_on_a_tiny_table():
    """10 rows: frequent = row 0, middle = rows 1-4, rare = rows 5-9; every answer is known."""
    # exponent 60: p(row 1)/p(row 0) = 2^-60, so every token is row 0
    task = make(vocab_size=10, dim=3, zipf_exponent=60.0, frequent_fraction=0.1, rare_fraction=0.5)
    rows = torch.arange(10, dtype=torch.float32)
    teacher = torch.zeros(10, 3)
    teacher[:, 1] = 1.0  # every teacher row is e1
    weight = teacher.clone()
    weight[:, 0] = rows  # row k sits at distance k from its teacher row, with norm sqrt(1 + k^2)
    weight[0, 0] = 2.0  # except row 0: distance 2
    set_rows(task, weight, teacher)

    metrics = task.step_metrics()[0]
    norms = torch.sqrt(1 + weight[:, 0] ** 2)
    assert metrics == pytest.approx({
        "frequent.error": 2.0, "middle.error": 2.5, "rare.error": 7.0,
        "frequent.touched": 0.0, "middle.touched": 0.0, "rare.touched": 0.0,
        "frequent.update": 0.0, "middle.update": 0.0, "rare.update": 0.0,
        "frequent.norm": float(norms[0]), "middle.norm": float(norms[1:5].mean()),
        "rare.norm": float(norms[5:].mean()),
    })

    # one SGD step (lr 0.25): the batch is all row 0, whose gradient is E_0 - T_0 = 2 e0
    losses = train(task, sgd(0.25), 1)
    assert losses == [pytest.approx(0.5 * 2.0**2)]
    metrics = task.step_metrics()[0]
    assert metrics["frequent.update"] == pytest.approx(0.5)
    assert metrics["frequent.error"] == pytest.approx(1.5)
    assert metrics["frequent.touched"] == 1.0
    assert metrics["middle.touched"] == metrics["rare.touched"] == 0.0
    assert metrics["middle.update"] == metrics["rare.update"] == 0.0
    # "update" is movement since the previous log step
    assert task.step_metrics()[0]["frequent.update"] == 0.0


def test_touched_counts_rows_that_were_in_a_batch():
    task = make(vocab_size=50, dim=2, batch_size=8)
    seen = set()
    for step in range(1, 21):
        task.loss_and_grad(step)
        task.tensors[0].grad = None
        seen.update(task.tokens.at(step).tolist())
    metrics = task.step_metrics()[0]
    for bucket, rows in task.buckets.items():
        expected = sum(1 for row in range(rows.start, rows.stop) if row in seen) / (rows.stop - rows.start)
        assert metrics[f"{bucket}.touched"] == pytest.approx(expected)


def test_tokens_follow_the_zipf_distribution():
    task = make(vocab_size=5, zipf_exponent=1.0, batch_size=100)
    counts = torch.bincount(torch.cat([task.tokens.at(s) for s in range(1, 401)]), minlength=5)
    p = zipf_probabilities(5, 1.0)
    n = counts.sum().item()
    for k in range(5):
        sigma = math.sqrt(n * p[k] * (1 - p[k]))
        assert abs(counts[k].item() - n * p[k].item()) < 4 * sigma
    assert torch.allclose(p, torch.tensor([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], dtype=torch.float64) / (137 / 60))


def test_test_loss_is_the_expected_training_loss():
    task = make(vocab_size=20, dim=4, batch_size=64)
    squared = (table(task) - task.teacher).square().sum(dim=1)
    exact = 0.5 * float((zipf_probabilities(20, 1.0) * squared.double()).sum())
    evaluation = task.evaluate()[0]
    assert evaluation["test_loss"] == pytest.approx(exact, rel=1e-5)
    assert evaluation["error"] == pytest.approx(float(squared.sqrt().mean()), rel=1e-6)
    # without updates, the mean of many batch losses estimates the same expectation
    losses = []
    for step in range(1, 801):
        losses.append(task.loss_and_grad(step).item())
        task.tensors[0].grad = None
    assert sum(losses) / len(losses) == pytest.approx(exact, rel=0.03)


def test_target_noise_adds_its_variance_to_the_training_loss():
    task = make(vocab_size=20, dim=4, batch_size=64, target_noise=0.5)
    losses = []
    for step in range(1, 801):
        losses.append(task.loss_and_grad(step).item())
        task.tensors[0].grad = None
    expected = task.evaluate()[0]["test_loss"] + 0.5 * 4 * 0.5**2
    assert sum(losses) / len(losses) == pytest.approx(expected, rel=0.03)


def test_gradient_is_the_batch_mean_residual():
    task = make(vocab_size=30, dim=3, batch_size=16)
    task.loss_and_grad(1)
    ids = task.tokens.at(1)
    residual = table(task)[ids] - task.teacher[ids]
    expected = torch.zeros(30, 3).index_add_(0, ids, residual / 16)
    torch.testing.assert_close(task.tensors[0].grad[0], expected)


def test_sparse_gradients_and_dense_ones_train_alike_under_sgd():
    assert EmbeddingSparsityTask.uses_sparse_gradients(EmbeddingSparsityParams(sparse=True))
    assert not EmbeddingSparsityTask.uses_sparse_gradients(EmbeddingSparsityParams())
    dense, sparse = make(vocab_size=200, dim=4), make(vocab_size=200, dim=4, sparse=True)
    sparse.loss_and_grad(1)
    assert sparse.tensors[0].grad.is_sparse
    sparse.tensors[0].grad = None
    dense_losses = train(dense, sgd(0.5), 30)
    sparse_losses = train(sparse, sgd(0.5), 30)
    assert sparse_losses == pytest.approx(dense_losses, rel=1e-6)
    torch.testing.assert_close(table(sparse), table(dense))


def test_sparse_adam_lowers_the_loss():
    task = make(vocab_size=200, dim=4, sparse=True)
    before = task.evaluate()[0]["test_loss"]
    train(task, lambda p: torch.optim.SparseAdam(p, lr=0.05), 100)
    assert task.evaluate()[0]["test_loss"] < 0.5 * before


def test_adam_gives_rare_rows_bigger_steps_than_sgd():
    """The claim the task exists for, on a small table: SGD barely moves rarely seen rows."""
    def rare_movement(make_optimizer):
        task = make(vocab_size=1000, dim=8, batch_size=32)
        train(task, make_optimizer, 300)
        return task.step_metrics()[0]

    adam = rare_movement(lambda p: torch.optim.Adam(p, lr=0.05))
    plain = rare_movement(sgd(1.0))
    assert adam["frequent.error"] < 0.5 and plain["frequent.error"] < 0.5
    assert adam["rare.update"] > 5 * plain["rare.update"]
    assert adam["rare.touched"] == plain["rare.touched"]  # same batches, same rows seen


def test_weight_decay_shrinks_untouched_rows():
    task = make(vocab_size=1000, dim=8, batch_size=8, zipf_exponent=2.0)
    before = task.step_metrics()[0]["rare.norm"]
    train(task, lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=1.0), 50)
    metrics = task.step_metrics()[0]
    assert metrics["rare.touched"] < 0.05
    # untouched rows shrink by (1 - lr*wd)^50 (AdamW's decoupled decay), most rare rows untouched
    assert metrics["rare.norm"] == pytest.approx(before * (1 - 0.01) ** 50, rel=0.05)


def test_same_seed_same_trajectory_and_same_batches_for_every_optimizer():
    run = lambda seed: train(make(seed=seed, vocab_size=100), sgd(0.5), 40)  # noqa: E731
    assert run(1) == run(1)
    assert run(1) != run(2)
    a, b = make(seed=3, vocab_size=100), make(seed=3, vocab_size=100)
    assert torch.equal(table(a), table(b)) and torch.equal(a.teacher, b.teacher)
    train(a, lambda p: torch.optim.Adam(p, lr=0.1), 25)
    train(b, sgd(0.1), 25)
    with torch.no_grad():
        table(b).copy_(table(a))
    a.tensors[0].grad = b.tensors[0].grad = None
    assert a.loss_and_grad(26).item() == b.loss_and_grad(26).item()
    assert torch.equal(a.tensors[0].grad, b.tensors[0].grad)


def test_construction_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    make(vocab_size=100, target_noise=0.1).loss_and_grad(1)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"vocab_size": 2}, "greater than or equal to 3"),
        ({"frequent_fraction": 0.0}, "greater than 0"),
        ({"rare_fraction": 1.0}, "less than 1"),
        ({"frequent_fraction": 0.5, "rare_fraction": 0.5}, "leave no rows of 10000 for bucket 'middle'"),
        ({"vocab_size": 3, "frequent_fraction": 0.5, "rare_fraction": 0.4}, "no rows of 3 for bucket 'middle'"),
        ({"zipf_exponent": float("inf")}, "finite number"),
        ({"rows": 5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_rejected(params, message):
    with pytest.raises(ValidationError, match=message):
        EmbeddingSparsityParams(**params)


def test_metric_names():
    task = make(vocab_size=100)
    names = set(task.step_metrics()[0])
    assert names == {f"{b}.{s}" for b in ("frequent", "middle", "rare") for s in ("error", "touched", "update", "norm")}
    assert set(task.evaluate()[0]) == {"test_loss", "error"}
    assert set(task.metric_goals) <= names | set(task.evaluate()[0]) | {"train_loss"}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_the_cpu_run():
    cpu, cuda = make(seed=4), make(seed=4, device=torch.device("cuda"))
    torch.testing.assert_close(table(cuda).cpu(), table(cpu))
    assert torch.equal(cuda.tokens.at(7).cpu(), cpu.tokens.at(7))
    cpu_losses = train(cpu, sgd(0.5), 20)
    cuda_losses = train(cuda, sgd(0.5), 20)
    assert cuda_losses == pytest.approx(cpu_losses, rel=1e-4)
