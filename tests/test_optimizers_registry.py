"""Every registry name builds its optimizer with the flat hyperparameters mapped as torch wants."""

from __future__ import annotations

import pytest
import torch

from adamlab.optimizers.adam import Adam, AdamW
from adamlab.optimizers.registry import build_optimizer, get_spec, optimizer_names

EXPECTED_TYPES = {
    "adam": Adam,
    "adamw": AdamW,
    "sgd": torch.optim.SGD,
    "momentum": torch.optim.SGD,
    "nesterov": torch.optim.SGD,
    "torch_adam": torch.optim.Adam,
    "torch_adamw": torch.optim.AdamW,
    "sparse_adam": torch.optim.SparseAdam,
}


def test_every_registered_name_has_a_factory():
    assert set(optimizer_names()) == set(EXPECTED_TYPES)


@pytest.mark.parametrize("name", sorted(EXPECTED_TYPES))
def test_builds_with_registry_defaults_and_takes_a_step(name):
    if name == "sparse_adam":
        table = torch.nn.Embedding(5, 3, sparse=True)
        optimizer = build_optimizer(name, table.parameters())
        table(torch.tensor([0, 2])).sum().backward()
        params = [table.weight]
    else:
        params = [torch.nn.Parameter(torch.ones(4, 2))]
        optimizer = build_optimizer(name, params)
        params[0].grad = torch.full_like(params[0], 0.5)
    before = params[0].detach().clone()
    optimizer.step()
    assert type(optimizer) is EXPECTED_TYPES[name]
    assert not torch.equal(params[0].detach(), before)
    group = optimizer.param_groups[0]
    for key, value in get_spec(name).defaults.items():
        if key in ("beta1", "beta2"):
            assert group["betas"][key == "beta2"] == value
        else:
            assert group[key] == value


@pytest.mark.parametrize("name", ["adam", "adamw", "torch_adam", "torch_adamw"])
def test_flat_betas_become_the_betas_pair_even_as_ints(name):
    optimizer = build_optimizer(name, [torch.nn.Parameter(torch.ones(2))], beta1=0, beta2=0.5)
    assert optimizer.param_groups[0]["betas"] == (0.0, 0.5)


def test_momentum_and_nesterov_are_sgd_flavours():
    param = [torch.nn.Parameter(torch.ones(2))]
    momentum = build_optimizer("momentum", param, momentum=0.8, dampening=0.1)
    nesterov = build_optimizer("nesterov", param, momentum=0.7)
    assert (momentum.defaults["momentum"], momentum.defaults["dampening"]) == (0.8, 0.1)
    assert not momentum.defaults["nesterov"]
    assert nesterov.defaults["nesterov"] and nesterov.defaults["momentum"] == 0.7


def test_bias_correction_reaches_adamlab_adam():
    optimizer = build_optimizer("adam", [torch.nn.Parameter(torch.ones(2))], bias_correction=False)
    assert optimizer.param_groups[0]["bias_correction"] is False


def test_a_bad_value_is_the_optimizers_value_error():
    with pytest.raises(ValueError, match=r"weight_decay must be >= 0, got -1"):
        build_optimizer("adamw", [torch.nn.Parameter(torch.ones(2))], weight_decay=-1)
