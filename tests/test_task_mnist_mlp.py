"""The MNIST MLP task on tiny IDX files the tests write, and (slow) one epoch on the real files."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import NO_REAL_MNIST, REAL_MNIST, real_mnist_missing
from pydantic import ValidationError
from task_testing import tiny_mnist_arrays, train, write_mnist

from adamlab.errors import AdamlabError
from adamlab.tasks.mnist_mlp import MnistMlpParams, MnistMlpTask

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("mnist")
    write_mnist(folder, tiny_mnist_arrays(n_train=200, n_test=100), gz=True)
    return str(folder)


def make(data_dir, seed: int = 0, batch_size: int = 32, device=CPU, **params) -> MnistMlpTask:
    params = MnistMlpParams(data_dir=data_dir, download=False, **params)
    return MnistMlpTask(params, seed=seed, device=device, batch_size=batch_size)


def adam(lr: float = 1e-2):
    return lambda params: torch.optim.Adam(params, lr=lr)


def test_adam_lowers_the_loss_and_learns(data_dir):
    task = make(data_dir, widths=[64])
    [before] = task.evaluate()
    losses = train(task, adam(), 60)
    [after] = task.evaluate()
    assert sum(losses[-6:]) / 6 < 0.3 * sum(losses[:6]) / 6
    assert after["test_loss"] < 0.3 * before["test_loss"]
    assert after["test_accuracy"] > 0.9 > before["test_accuracy"]


def test_epochs_are_permutations_cut_into_full_batches(data_dir):
    task = make(data_dir, batch_size=32, validation_fraction=0)
    assert task.steps_per_epoch == 6  # floor(200 / 32): the last 8 of each epoch are dropped
    epochs = [
        torch.cat([task.batches.indices(step) for step in range(1 + e * 6, 7 + e * 6)])
        for e in range(2)
    ]
    for seen in epochs:
        assert len(seen) == 192 and len(set(seen.tolist())) == 192
    assert not torch.equal(epochs[0], epochs[1])


def test_batches_are_index_slices_of_the_dataset(data_dir):
    task = make(data_dir, widths=[], batch_size=16)
    indices = task.batches.indices(3)
    inputs = task.data.train_images[indices]
    labels = task.data.train_labels[indices]
    expected = F.cross_entropy(inputs @ task.tensors[0][0].T + task.tensors[1][0], labels)
    assert task.loss_and_grad(3).item() == pytest.approx(expected.item(), rel=1e-6)


def test_forward_and_init_match_torch_nn(data_dir):
    task = make(data_dir, widths=[64, 32], activation="tanh")
    layers = [torch.nn.Linear(784, 64), torch.nn.Tanh(), torch.nn.Linear(64, 32), torch.nn.Tanh(),
              torch.nn.Linear(32, 10)]
    reference = torch.nn.Sequential(*layers)
    linears = [layer for layer in layers if isinstance(layer, torch.nn.Linear)]
    for i, linear in enumerate(linears):
        weight, bias = task.tensors[2 * i][0], task.tensors[2 * i + 1][0]
        bound = 1 / math.sqrt(weight.shape[1])
        assert weight.shape == linear.weight.shape and bias.shape == linear.bias.shape
        assert weight.abs().max() <= bound and bias.abs().max() <= bound
        assert weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(bias)
    with torch.no_grad():
        logits = reference(task.data.test_images)
    labels = task.data.test_labels
    [evaluation] = task.evaluate()
    assert evaluation["test_loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    assert evaluation["test_accuracy"] == pytest.approx(accuracy)


def test_same_seed_same_trajectory(data_dir):
    run = lambda seed: train(make(data_dir, seed=seed, widths=[32]), adam(), 15)  # noqa: E731
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_every_optimizer_sees_the_same_batches(data_dir):
    a, b = make(data_dir, seed=1, widths=[32]), make(data_dir, seed=1, widths=[32])
    for x, y in zip(a.tensors, b.tensors, strict=True):
        assert torch.equal(x, y)
    train(a, adam(), 9)
    train(b, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), 9)
    with torch.no_grad():
        for x, y in zip(a.tensors, b.tensors, strict=True):
            y.copy_(x)
            x.grad = y.grad = None
    assert a.loss_and_grad(10).item() == b.loss_and_grad(10).item()
    for x, y in zip(a.tensors, b.tensors, strict=True):
        assert torch.equal(x.grad, y.grad)


def test_batch_size_larger_than_the_training_set(data_dir):
    with pytest.raises(AdamlabError, match=r"batch_size must be in \[1, 167\].*got 200"):
        make(data_dir, batch_size=200)  # 200 images, the last 33 held out for validation
    with pytest.raises(AdamlabError, match=r"batch_size must be in \[1, 200\].*got 500"):
        make(data_dir, batch_size=500, validation_fraction=0)


def test_the_last_sixth_is_held_out_and_never_trained_on(data_dir):
    task = make(data_dir, batch_size=32, widths=[16])
    assert task.train_images.shape[0] == 167 and task.val_images.shape[0] == 33
    assert torch.equal(task.val_images, task.data.train_images[167:])
    assert torch.equal(task.val_labels, task.data.train_labels[167:])
    assert task.steps_per_epoch == 5  # floor(167 / 32)
    seen = torch.cat([task.batches.indices(step) for step in range(1, 3 * 5 + 1)])
    assert int(seen.max()) < 167  # no batch ever reaches a validation image


def test_validation_metrics_are_the_held_out_images(data_dir):
    task = make(data_dir, widths=[16])
    [evaluation] = task.evaluate()
    assert list(evaluation) == ["val_loss", "val_accuracy", "test_loss", "test_accuracy"]
    with torch.no_grad():
        [logits] = task.logits(task.data.train_images[167:])
    labels = task.data.train_labels[167:]
    assert evaluation["val_loss"] == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)
    assert evaluation["val_accuracy"] == pytest.approx(
        (logits.argmax(1) == labels).float().mean().item()
    )


def test_train_size_trains_on_a_fixed_subset_and_keeps_the_validation_set(data_dir):
    task = make(data_dir, batch_size=16, widths=[16], train_size=50)
    assert task.train_images.shape[0] == 50 and task.val_images.shape[0] == 33
    assert torch.equal(task.train_images, task.data.train_images[:50])
    assert torch.equal(task.val_images, task.data.train_images[167:])
    assert task.steps_per_epoch == 3  # floor(50 / 16)
    seen = torch.cat([task.batches.indices(step) for step in range(1, 4 * 3 + 1)])
    assert int(seen.max()) < 50
    # the same subset for every seed
    assert torch.equal(make(data_dir, seed=7, batch_size=16, train_size=50).train_images,
                       task.train_images)
    with pytest.raises(AdamlabError, match=r"train_size must be <= 167 .*got 168"):
        make(data_dir, train_size=168)
    with pytest.raises(AdamlabError, match=r"batch_size must be in \[1, 20\].*got 32"):
        make(data_dir, batch_size=32, train_size=20)


def test_validation_fraction_zero_turns_the_split_off(data_dir):
    task = make(data_dir, validation_fraction=0)
    assert task.train_images.shape[0] == 200 and task.val_images.shape[0] == 0
    assert set(task.evaluate()[0]) == {"test_loss", "test_accuracy"}


def test_the_default_split_of_real_mnist_is_the_last_10000():
    from adamlab.tasks.mnist_mlp import VALIDATION_FRACTION, validation_size

    assert validation_size(60_000, VALIDATION_FRACTION) == 10_000


def test_data_dir_defaults_to_the_environment(data_dir, monkeypatch):
    monkeypatch.setenv("ADAMLAB_DATA", data_dir)
    task = MnistMlpTask(MnistMlpParams(), seed=0, device=CPU, batch_size=8)
    assert task.data_dir == Path(data_dir)
    assert task.data.train_images.shape == (200, 784)


def test_missing_data_is_an_adamlab_error(tmp_path):
    with pytest.raises(AdamlabError, match="MNIST not found"):
        make(str(tmp_path))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"widths": [0]}, "greater than or equal to 1"),
        ({"activation": "swish"}, "'relu', 'tanh', 'gelu' or 'sigmoid'"),
        ({"depth": 3}, "Extra inputs are not permitted"),
        ({"validation_fraction": 1.0}, "less than 1"),
        ({"validation_fraction": -0.1}, "greater than or equal to 0"),
        ({"train_size": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_params_are_rejected(params, message):
    with pytest.raises(ValidationError, match=message):
        MnistMlpParams(**params)


def test_params_dump_is_plain(data_dir):
    assert MnistMlpParams(widths=[128, 64]).model_dump(mode="json") == {
        "widths": [128, 64], "activation": "relu", "data_dir": None, "download": True,
        "validation_fraction": 1 / 6, "train_size": None,
    }


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_the_cpu_run(data_dir):
    cpu, cuda = make(data_dir, seed=2), make(data_dir, seed=2, device=torch.device("cuda"))
    for x, y in zip(cpu.tensors, cuda.tensors, strict=True):
        assert torch.equal(x, y.cpu())
    assert torch.equal(cpu.batches.indices(9), cuda.batches.indices(9).cpu())
    cpu_losses, cuda_losses = train(cpu, adam(), 20), train(cuda, adam(), 20)
    assert cuda_losses == pytest.approx(cpu_losses, rel=1e-3)


@pytest.mark.slow
def test_one_epoch_on_real_mnist():
    if real_mnist_missing():
        pytest.skip(NO_REAL_MNIST)
    task = MnistMlpTask(
        MnistMlpParams(data_dir=str(REAL_MNIST), download=False), seed=0, device=CPU, batch_size=128
    )
    assert task.steps_per_epoch == 390  # floor(50,000 / 128): the last 10,000 are validation
    started = time.perf_counter()
    losses = train(task, adam(1e-3), task.steps_per_epoch)
    seconds = time.perf_counter() - started
    [evaluation] = task.evaluate()
    print(f"one epoch of mnist_mlp with Adam: {seconds:.2f} s, {evaluation}")
    assert losses[-1] < 0.5 < losses[0]
    assert evaluation["test_accuracy"] > 0.93
    assert evaluation["val_accuracy"] > 0.93
