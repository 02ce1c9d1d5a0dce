"""opt.* diagnostics: numbers from known first steps, for adamlab's and torch's optimizers."""

from __future__ import annotations

import math

import pytest
import torch

from adamlab.optimizers.adam import Adam, AdamW
from adamlab.optimizers.diagnostics import params_snapshot, step_diagnostics


def one_step(optimizer, grads):
    for group in optimizer.param_groups:
        for p, g in zip(group["params"], grads.pop(0), strict=True):
            p.grad = g
    snapshot = params_snapshot(optimizer)
    optimizer.step()
    return step_diagnostics(optimizer, snapshot)


def large_grads(n: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    signs = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    return (signs * (0.5 + torch.rand(n, generator=gen))).double()


@pytest.mark.parametrize("implementation", ["plain", "fused"])
def test_first_step_without_bias_correction(implementation):
    beta1, beta2 = 0.9, 0.999
    theta = torch.zeros(500, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], lr=1e-3, betas=(beta1, beta2), bias_correction=False,
                     implementation=implementation)
    metrics = one_step(optimizer, [[large_grads(500)]])
    # m = (1-beta1) g, v = (1-beta2) g^2 uncorrected: each coordinate moves lr (1-beta1)/sqrt(1-beta2)
    assert metrics["opt.effective_step"] == pytest.approx((1 - beta1) / math.sqrt(1 - beta2), rel=1e-6)
    # the factors the run goes without are still reported
    assert metrics["opt.bc1"] == pytest.approx(1 - beta1, rel=1e-12)
    assert metrics["opt.bc2"] == pytest.approx(1 - beta2, rel=1e-12)
    assert metrics["opt.eps_dominated"] == 0.0


def test_first_step_with_bias_correction_moves_lr_per_coordinate():
    theta = torch.zeros(500, dtype=torch.float64, requires_grad=True)
    metrics = one_step(AdamW([theta], lr=1e-3, weight_decay=0.0), [[large_grads(500)]])
    assert metrics["opt.effective_step"] == pytest.approx(1.0, rel=1e-6)


def test_bias_correction_factors_after_t_steps_match_torch_adam():
    ours_theta = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    torch_theta = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    ours = Adam([ours_theta], betas=(0.8, 0.99))
    reference = torch.optim.Adam([torch_theta], betas=(0.8, 0.99))
    for _ in range(3):
        ours_metrics = one_step(ours, [[large_grads(4)]])
        torch_metrics = one_step(reference, [[large_grads(4)]])
    assert ours_metrics["opt.bc1"] == pytest.approx(1 - 0.8**3, rel=1e-12)
    assert ours_metrics["opt.bc2"] == pytest.approx(1 - 0.99**3, rel=1e-12)
    assert ours_metrics == pytest.approx(torch_metrics, rel=1e-9)


@pytest.mark.parametrize("bias_correction, expected_share", [(True, 0.5), (False, 0.75)])
def test_eps_dominated_uses_the_v_hat_the_optimizer_divides_by(bias_correction, expected_share):
    # |g| = 1e-12: sqrt(v_hat) << eps either way. |g| = 1e-7: corrected sqrt(v_hat) = 1e-7 > eps,
    # uncorrected sqrt(v) = sqrt(1 - beta2) * 1e-7 = 3.2e-9 < eps. |g| = 1: never dominated.
    g = torch.tensor([1e-12, 1e-12, 1e-7, 1.0], dtype=torch.float64)
    theta = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], eps=1e-8, bias_correction=bias_correction)
    metrics = one_step(optimizer, [[g]])
    assert metrics["opt.eps_dominated"] == expected_share


@pytest.mark.parametrize("amsgrad, expected_share", [(True, 0.5), (False, 1.0)])
def test_eps_dominated_with_amsgrad_uses_the_running_max(amsgrad, expected_share):
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = Adam([theta], betas=(0.9, 0.1), eps=1e-8, amsgrad=amsgrad)
    one_step(optimizer, [[torch.tensor([1.0, 1e-12], dtype=torch.float64)]])
    # 20 steps of |g| = 1e-12 take v down to ~1e-20 < eps^2; AMSGrad's max still holds ~0.9
    for _ in range(20):
        metrics = one_step(optimizer, [[torch.tensor([1e-12, 1e-12], dtype=torch.float64)]])
    assert metrics["opt.eps_dominated"] == expected_share


def test_sgd_gets_only_the_effective_step_per_group_lr():
    a = torch.zeros(3, requires_grad=True)
    b = torch.zeros(2, requires_grad=True)
    frozen = torch.zeros(7, requires_grad=True)  # no gradient: not a coordinate of this step
    optimizer = torch.optim.SGD([{"params": [a, frozen]}, {"params": [b], "lr": 0.5}], lr=0.1)
    g_a, g_b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([-4.0, 5.0])
    metrics = one_step(optimizer, [[g_a, None], [g_b]])
    # SGD moves lr * g, so |delta theta| / lr is |g|, whatever each group's lr
    assert metrics == {"opt.effective_step": pytest.approx((1 + 2 + 3 + 4 + 5) / 5)}


def test_sparse_adam_on_an_embedding_counts_untouched_rows_as_eps_dominated():
    table = torch.nn.Embedding(10, 4, sparse=True)
    optimizer = torch.optim.SparseAdam(table.parameters(), lr=1e-2)
    table(torch.tensor([1, 3])).sum().backward()
    snapshot = params_snapshot(optimizer)
    optimizer.step()
    metrics = step_diagnostics(optimizer, snapshot)
    assert metrics["opt.eps_dominated"] == pytest.approx(8 / 10)  # 8 of 10 rows never seen
    assert metrics["opt.bc1"] == pytest.approx(0.1)
    # the two rows seen move lr each (first corrected step), the other eight not at all
    assert metrics["opt.effective_step"] == pytest.approx(2 / 10, rel=1e-5)


def test_a_group_with_lr_zero_adds_no_coordinates():
    theta = torch.zeros(3, requires_grad=True)
    metrics = one_step(torch.optim.SGD([theta], lr=0.0), [[torch.ones(3)]])
    assert "opt.effective_step" not in metrics
