"""The noisy quadratic: closed-form loss and gradient, spectra, presets, noise model, seeding."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from task_testing import train

from adamlab.tasks.quadratic import QuadraticParams, QuadraticTask

CPU = torch.device("cpu")


def make(seed: int = 0, batch_size: int = 16, device=CPU, **params) -> QuadraticTask:
    return QuadraticTask(QuadraticParams(**params), seed=seed, device=device, batch_size=batch_size)


def adam(lr: float = 0.1):
    return lambda params: torch.optim.Adam(params, lr=lr)


def test_theta_squared_matches_the_reference_adam_loop():
    """The concept page's loop: Adam (lr 0.1) on theta^2 from theta = 3, printed at t = 1, 5, 10, 50."""
    alpha, beta1, beta2, eps = 0.1, 0.9, 0.999, 1e-8
    theta = torch.tensor([3.0], requires_grad=True)
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    reference = {}
    for t in range(1, 51):
        loss = (theta**2).sum()
        loss.backward()
        g = theta.grad.detach()
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * (g * g)
        mhat = m / (1 - beta1**t)
        vhat = v / (1 - beta2**t)
        theta = (theta - alpha * mhat / (vhat.sqrt() + eps)).detach().requires_grad_(True)
        reference[t] = (theta.item(), loss.item())

    task = make(preset="theta_squared")
    optimizer = torch.optim.Adam(task.param_groups(), lr=alpha, betas=(beta1, beta2), eps=eps)
    for t in range(1, 51):
        optimizer.zero_grad(set_to_none=True)
        loss = task.loss_and_grad(t)
        optimizer.step()
        if t in (1, 5, 10, 50):
            ref_theta, ref_loss = reference[t]
            assert task.theta.item() == pytest.approx(ref_theta, rel=1e-5)
            assert loss.item() == pytest.approx(ref_loss, rel=1e-5)
    assert task.step_metrics()[0]["distance_to_opt"] == pytest.approx(abs(reference[50][0]), rel=1e-5)


def test_theta_squared_preset_is_f_equals_theta_squared():
    params = QuadraticParams(preset="theta_squared")
    assert (params.dim, params.condition, params.max_curvature, params.theta0, params.noise) == (
        1, 1.0, 2.0, 3.0, 0.0,
    )
    task = make(preset="theta_squared")
    loss = task.loss_and_grad(1)
    assert loss.item() == 9.0 and task.theta.grad.tolist() == [[6.0]]
    assert task.evaluate() == [{"loss": 9.0}]


@pytest.mark.parametrize(
    "params",
    [
        {"dim": 7, "condition": 50.0, "noise": 0.0},
        {"dim": 7, "condition": 50.0, "rotated": True, "noise": 0.0},
        {"preset": "deepobs", "noise": 0.0},
    ],
    ids=["diagonal", "rotated", "deepobs"],
)
def test_loss_and_gradient_match_autograd(params):
    task = make(seed=3, **{**params, "theta0": 0.7})
    with torch.no_grad():
        task.theta.copy_(torch.randn(task.params.dim, generator=torch.Generator().manual_seed(1)))
    hessian = task.hessian if task.hessian is not None else torch.diag(task.eigenvalues)
    theta = task.theta.detach()[0].double().requires_grad_(True)
    reference = 0.5 * theta @ hessian.double() @ theta
    reference.backward()
    loss = task.loss_and_grad(1)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    torch.testing.assert_close(task.theta.grad[0].double(), theta.grad, rtol=1e-5, atol=1e-6)
    assert task.evaluate()[0]["loss"] == pytest.approx(reference.item(), rel=1e-5)


def test_noisy_gradient_is_true_gradient_plus_the_steps_noise():
    task = make(dim=5, noise=2.0, rotated=True)
    loss = task.loss_and_grad(4)
    expected = torch.mv(task.hessian, task.theta.detach()[0]) + task.gradient_noise(4)
    torch.testing.assert_close(task.theta.grad[0], expected)
    # train_loss is the true objective, untouched by the noise
    assert loss.item() == pytest.approx(task.objectives()[0], rel=1e-6)


def test_geometric_spectrum():
    task = make(dim=6, condition=1000.0, max_curvature=4.0)
    values = task.eigenvalues.double()
    assert values.max().item() == pytest.approx(4.0)
    assert (values.max() / values.min()).item() == pytest.approx(1000.0, rel=1e-5)
    ratios = values[:-1] / values[1:]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 1000.0 ** (1 / 5)))


def test_rotated_hessian_has_the_spectrum_and_is_symmetric():
    task = make(dim=8, condition=10.0, rotated=True)
    hessian = task.hessian
    torch.testing.assert_close(hessian, hessian.T)
    torch.testing.assert_close(
        torch.linalg.eigvalsh(hessian.double()).flip(0), task.eigenvalues.double(), rtol=1e-5, atol=1e-6
    )
    assert not torch.allclose(hessian, torch.diag(torch.diagonal(hessian)))


def test_deepobs_preset_spectrum_and_fixed_problem():
    params = QuadraticParams(preset="deepobs")
    assert (params.dim, params.rotated, params.noise, params.noise_shape, params.theta0) == (
        100, True, 0.6, "hessian", 1.0,
    )
    assert params.condition is None and params.max_curvature is None
    a, b = make(seed=0, preset="deepobs"), make(seed=1, preset="deepobs")
    values = torch.sort(a.eigenvalues).values
    assert ((values[:90] > 0) & (values[:90] < 1)).all()
    assert ((values[90:] > 30) & (values[90:] < 60)).all()
    # the problem is fixed across trial seeds, as in DeepOBS; the noise is not
    assert torch.equal(a.hessian, b.hessian)
    assert not torch.equal(a.gradient_noise(1), b.gradient_noise(1))
    # a problem_seed of None makes every trial seed its own problem
    c, d = (make(seed=s, preset="deepobs", problem_seed=None) for s in (0, 1))
    assert not torch.equal(c.hessian, d.hessian)


def test_presets_fill_only_what_is_not_given():
    assert QuadraticParams(preset="deepobs") == QuadraticParams(preset="deepobs", dim=100)
    overridden = QuadraticParams(preset="deepobs", noise=0.0, dim=20)
    assert (overridden.noise, overridden.dim, overridden.rotated) == (0.0, 20, True)
    plain = QuadraticParams()
    assert (plain.dim, plain.condition, plain.max_curvature, plain.noise) == (10, 100.0, 1.0, 1.0)
    # the dump is fully resolved (what trial ids and the tables see)
    assert QuadraticParams(preset="theta_squared").model_dump()["theta0"] == 3.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"condition": 0.5}, "greater than or equal to 1"),
        ({"dim": 0}, "greater than or equal to 1"),
        ({"noise": -1.0}, "greater than or equal to 0"),
        ({"noise": float("nan")}, "finite number"),
        ({"preset": "deepobs", "condition": 10.0}, "apply to spectrum 'geometric' only"),
        ({"rotated": True, "dim": 5000}, "dim must be <= 4096 when rotated"),
        ({"preset": "nope"}, "'none', 'deepobs' or 'theta_squared'"),
        ({"preset": ["deepobs"]}, "'none', 'deepobs' or 'theta_squared'"),
        ({"lr": 0.1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_rejected(params, message):
    with pytest.raises(ValidationError, match=message):
        QuadraticParams(**params)


@pytest.mark.parametrize("shape", ["isotropic", "hessian"])
def test_noise_has_the_stated_scale(shape):
    batch_size, noise, dim = 16, 2.0, 4
    task = make(dim=dim, condition=9.0, max_curvature=3.0, noise=noise, noise_shape=shape,
                batch_size=batch_size)
    draws = torch.stack([task.gradient_noise(step) for step in range(1, 20001)])
    per_coordinate = noise / math.sqrt(batch_size)
    expected_std = per_coordinate * (task.eigenvalues if shape == "hessian" else torch.ones(dim))
    torch.testing.assert_close(draws.std(dim=0), expected_std, rtol=0.03, atol=0)
    assert draws.mean(dim=0).abs().max() < 4 * per_coordinate * 3.0 / math.sqrt(len(draws))


def test_noise_blocks_are_seamless_and_step_addressed():
    task = make(dim=3000, noise=1.0)  # 21 steps per block
    steps_per_block = task._noise.steps_per_block
    walked = [task.gradient_noise(step).clone() for step in range(1, 3 * steps_per_block + 2)]
    fresh = make(dim=3000, noise=1.0)
    jumped = fresh.gradient_noise(2 * steps_per_block + 5)
    torch.testing.assert_close(jumped, walked[2 * steps_per_block + 4])
    assert len({float(w[0]) for w in walked}) == len(walked)


def test_adam_lowers_the_loss_on_the_deepobs_problem():
    task = make(preset="deepobs", batch_size=32)
    losses = train(task, adam(0.05), 200)
    assert losses[-1] < 0.1 * losses[0]
    assert task.evaluate()[0]["loss"] < 0.1 * losses[0]


def test_same_seed_same_trajectory_other_seed_other_noise():
    run = lambda seed: train(make(seed=seed, dim=10, noise=1.0), adam(0.05), 100)  # noqa: E731
    assert run(5) == run(5)
    assert run(5) != run(6)


def test_every_optimizer_sees_the_same_noise():
    """After different histories, the same parameters get the same gradient at the same step."""
    a, b = make(seed=2, dim=10, noise=1.0, rotated=True), make(seed=2, dim=10, noise=1.0, rotated=True)
    train(a, adam(0.1), 37)
    train(b, lambda p: torch.optim.SGD(p, lr=0.01), 37)
    with torch.no_grad():
        b.theta.copy_(a.theta)
    a.theta.grad = b.theta.grad = None
    assert a.loss_and_grad(38).item() == b.loss_and_grad(38).item()
    assert torch.equal(a.theta.grad, b.theta.grad)


def test_interface_details():
    task = make(dim=3)
    assert task.steps_per_epoch is None
    assert not QuadraticTask.uses_sparse_gradients(task.params)
    loss = task.loss_and_grad(1)
    assert loss.shape == (1,) and not loss.requires_grad
    assert task.step_metrics() == [{"distance_to_opt": pytest.approx(math.sqrt(3.0))}]
    assert set(task.metric_goals) == {"train_loss", "loss", "distance_to_opt"}
    assert task.primary_metric in task.metric_goals


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_matches_the_cpu_run():
    cpu = make(seed=4, preset="deepobs")
    cuda = make(seed=4, preset="deepobs", device=torch.device("cuda"))
    torch.testing.assert_close(cuda.hessian.cpu(), cpu.hessian)
    torch.testing.assert_close(cuda.gradient_noise(3).cpu(), cpu.gradient_noise(3))
    cpu_losses = train(cpu, adam(0.05), 50)
    cuda_losses = train(cuda, adam(0.05), 50)
    assert cuda_losses == pytest.approx(cpu_losses, rel=1e-4)
