"""The fused stacked forms of the built-ins (StackedAdam, StackedSGD in optimizers/stacked.py) equal
the generic form any optimizer stacks with: OptimizerStack over the same registry factory
(adamlab's Adam/AdamW, torch.optim.SGD), member by member, step by step, under a schedule."""

from __future__ import annotations

import itertools

import pytest
import torch

from adamlab.optimizers import factories
from adamlab.optimizers.optimizer_stack import OptimizerStack
from adamlab.optimizers.registry import get_spec
from adamlab.optimizers.stacked import StackedAdam, StackedSGD, build_stacked_optimizer

SHAPES = [(7, 4), (4,)]
STEPS = 12
ETAS = [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0]


def grid(name: str, **axes) -> list[dict]:
    keys = list(axes)
    return [{**get_spec(name).defaults, **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*axes.values())]


CASES = {
    "adam": grid("adam", lr=[1e-3, 0.05], beta1=[0.0, 0.9], beta2=[0.99, 0.999],
                 weight_decay=[0.0, 0.1]),
    "adam-amsgrad-nobc": [{**m, "amsgrad": True, "bias_correction": False}
                          for m in grid("adam", lr=[0.01, 0.1], eps=[1e-8, 1e-3])],
    "adamw": grid("adamw", lr=[1e-3, 0.05], weight_decay=[0.0, 0.3]),
    "adamw-schedule-scaling": [{**m, "weight_decay_scaling": "schedule"}
                               for m in grid("adamw", lr=[1e-3, 0.05], weight_decay=[0.01, 0.3])],
    "sgd": grid("sgd", lr=[0.0, 0.01, 0.1], weight_decay=[0.0, 0.2]),
    "momentum": grid("momentum", lr=[0.01, 0.1], momentum=[0.0, 0.9], dampening=[0.0, 0.5],
                     weight_decay=[0.0, 0.1]),
    "nesterov": grid("nesterov", lr=[0.01, 0.1], momentum=[0.5, 0.9], weight_decay=[0.0, 0.1]),
}


def registry_name(case: str) -> str:
    return case.split("-")[0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_fused_stack_equals_the_generic_stack(case, dtype):
    name, members = registry_name(case), CASES[case]
    generator = torch.Generator().manual_seed(3)
    initial = [torch.randn(len(members), *s, generator=generator, dtype=dtype) for s in SHAPES]
    fused_leaves = [t.clone().requires_grad_() for t in initial]
    generic_leaves = [t.clone().requires_grad_() for t in initial]
    fused = build_stacked_optimizer(name, fused_leaves, members)
    assert isinstance(fused, StackedAdam if name.startswith("adam") else StackedSGD)
    generic = OptimizerStack(getattr(factories, name), generic_leaves, members)
    # float32: the fused SGD scales lr by eta in the tensor op, torch in Python: an ulp apart
    tolerance = {"rtol": 1e-12, "atol": 1e-14} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for step in range(1, STEPS + 1):
        # gradients of a quadratic at each stack's own parameters, plus shared noise
        noise = [torch.randn(s, generator=generator, dtype=dtype) for s in SHAPES]
        for fused_leaf, generic_leaf, n in zip(fused_leaves, generic_leaves, noise, strict=True):
            fused_leaf.grad = 2.0 * fused_leaf.detach() + n
            generic_leaf.grad = 2.0 * generic_leaf.detach() + n
        for optimizer in (fused, generic):
            optimizer.set_lr_multiplier(ETAS[step - 1])
        if step % 3:
            fused.step()
            generic.step()
        else:
            fused_metrics, generic_metrics = fused.step_and_diagnose(), generic.step_and_diagnose()
            for k, (mine, theirs) in enumerate(zip(fused_metrics, generic_metrics, strict=True)):
                assert mine.keys() == theirs.keys(), (k, step)
                for metric, value in theirs.items():
                    assert mine[metric] == pytest.approx(value, rel=1e-5, abs=1e-12), (k, step, metric)
        for fused_leaf, generic_leaf in zip(fused_leaves, generic_leaves, strict=True):
            torch.testing.assert_close(fused_leaf.detach(), generic_leaf.detach(), **tolerance)
    moved = [(leaf.detach() - t).abs().flatten(1).sum(1) for leaf, t in zip(fused_leaves, initial, strict=True)]
    # not vacuous: every member with lr > 0 moved
    assert ((sum(moved) > 0) == torch.tensor([m["lr"] > 0 for m in members])).all()
