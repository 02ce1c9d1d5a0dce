"""Stacked optimizer updates against the one-trial optimizers of the registry.

Every member of a stack gets the gradients its one-trial twin gets; after each step the member's
parameters and its opt.* diagnostics must be those of the twin (diagnostics.py's definitions).
"""

from __future__ import annotations

import pytest
import torch

from adamlab.optimizers.adam_kernel import load_kernel
from adamlab.optimizers.diagnostics import params_snapshot, step_diagnostics
from adamlab.optimizers.registry import build_optimizer, get_spec
from adamlab.optimizers.stacked import StackedAdam, build_stacked_optimizer

SHAPES = [(6, 3), (3,)]
STEPS = 12


def _grid(name: str, **axes) -> list[dict]:
    import itertools

    keys = list(axes)
    return [
        {**get_spec(name).defaults, **dict(zip(keys, combo, strict=True))}
        for combo in itertools.product(*axes.values())
    ]


FAMILIES = {
    "adam": _grid("adam", lr=[1e-3, 0.1], beta2=[0.9, 0.999], weight_decay=[0.0, 0.1]),
    "adam-amsgrad-nobc": [
        {**m, "amsgrad": True, "bias_correction": False}
        for m in _grid("adam", lr=[1e-2, 0.3], beta1=[0.0, 0.9], eps=[1e-8, 1e-2])
    ],
    "adamw": _grid("adamw", lr=[1e-3, 0.1], beta2=[0.99, 0.999], weight_decay=[0.0, 0.5]),
    "sgd": _grid("sgd", lr=[0.0, 0.01, 0.1], weight_decay=[0.0, 0.2]),
    "momentum": _grid("momentum", lr=[0.01, 0.1], momentum=[0.0, 0.9], dampening=[0.0, 0.5],
                      weight_decay=[0.0, 0.1]),
    "nesterov": _grid("nesterov", lr=[0.01, 0.1], momentum=[0.5, 0.9], weight_decay=[0.0, 0.1]),
}


def _registry_name(family: str) -> str:
    return family.split("-")[0]


def _one_trial_runs(name, members, initial, gradients):
    """Parameters and last diagnostics of each member's one-trial optimizer."""
    finals, diagnostics = [], []
    for hparams in members:
        params = [torch.nn.Parameter(t.clone()) for t in initial]
        optimizer = build_optimizer(name, params, **hparams)
        for grads in gradients:
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            snapshot = params_snapshot(optimizer)
            optimizer.step()
            metrics = step_diagnostics(optimizer, snapshot)
        finals.append([p.detach() for p in params])
        diagnostics.append(metrics)
    return finals, diagnostics


def _stacked(members: int, tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t.unsqueeze(0).repeat(members, *[1] * t.dim()).requires_grad_() for t in tensors]


def _implementations(family: str) -> list[str]:
    if _registry_name(family) in ("adam", "adamw"):
        return ["foreach", "fused"] if load_kernel(torch.float32) else ["foreach"]
    return ["default"]


@pytest.mark.parametrize(
    "family,implementation",
    [(f, i) for f in FAMILIES for i in _implementations(f)],
)
def test_each_member_steps_like_its_one_trial_optimizer(family, implementation):
    name, members = _registry_name(family), FAMILIES[family]
    generator = torch.Generator().manual_seed(1)
    initial = [torch.randn(*s, generator=generator) for s in SHAPES]
    gradients = [[torch.randn(*s, generator=generator) for s in SHAPES] for _ in range(STEPS)]
    expected, expected_diagnostics = _one_trial_runs(name, members, initial, gradients)

    params = _stacked(len(members), initial)
    options = {} if implementation == "default" else {"implementation": implementation}
    optimizer = build_stacked_optimizer(name, params, members, **options)
    for grads in gradients:
        for p, g in zip(params, grads, strict=True):
            p.grad = g.unsqueeze(0).expand_as(p).clone()
        diagnostics = optimizer.step_and_diagnose()

    for k in range(len(members)):
        for stacked, one in zip(params, expected[k], strict=True):
            torch.testing.assert_close(stacked[k].detach(), one, rtol=1e-6, atol=1e-7)
        assert diagnostics[k].keys() == expected_diagnostics[k].keys()  # lr 0: no effective_step
        for metric, value in expected_diagnostics[k].items():
            assert diagnostics[k][metric] == pytest.approx(value, rel=1e-5, abs=1e-9), (k, metric)


def test_the_kernel_and_the_tensor_ops_agree():
    if load_kernel(torch.float32) is None:
        pytest.skip("no C compiler: the kernel is not built here")
    members = FAMILIES["adamw"]
    generator = torch.Generator().manual_seed(2)
    initial = torch.randn(len(members), 50, generator=generator)
    runs = {}
    for implementation in ("foreach", "fused"):
        theta = initial.clone().requires_grad_()
        optimizer = StackedAdam([theta], members, decoupled_weight_decay=True,
                                implementation=implementation)
        assert optimizer.uses_kernel() == (implementation == "fused")
        for step in range(20):
            theta.grad = torch.randn(len(members), 50, generator=torch.Generator().manual_seed(step))
            optimizer.step()
        runs[implementation] = theta.detach()
    torch.testing.assert_close(runs["foreach"], runs["fused"], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["adam", "momentum"])
def test_dropping_members_keeps_the_others_on_course(name):
    members = FAMILIES[name][:4]
    generator = torch.Generator().manual_seed(3)
    initial = [torch.randn(*s, generator=generator) for s in SHAPES]
    gradients = [[torch.randn(*s, generator=generator) for s in SHAPES] for _ in range(STEPS)]
    expected, _ = _one_trial_runs(name, members, initial, gradients)

    params = _stacked(len(members), initial)
    optimizer = build_stacked_optimizer(name, params, members)
    kept = [0, 2, 3]
    for step, grads in enumerate(gradients):
        if step == 5:  # member 1 leaves (as a diverged one does): poison it first
            with torch.no_grad():
                params[0][1] = float("nan")
            index = torch.tensor(kept)
            params = [p.detach().index_select(0, index).requires_grad_() for p in params]
            optimizer.keep(kept, params)
        members_now = params[0].shape[0]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.unsqueeze(0).expand(members_now, *g.shape).clone()
        optimizer.step()
    for position, k in enumerate(kept):
        for stacked, one in zip(params, expected[k], strict=True):
            torch.testing.assert_close(stacked[position].detach(), one, rtol=1e-6, atol=1e-7)


def test_members_must_share_the_discrete_flags():
    theta = torch.zeros(2, 3, requires_grad=True)
    members = [dict(get_spec("adam").defaults), {**get_spec("adam").defaults, "amsgrad": True}]
    with pytest.raises(ValueError, match="must share amsgrad, bias_correction"):
        build_stacked_optimizer("adam", [theta], members)
    # torch's own Adam has no hand-stacked form: it stacks as one instance per member
    generic = [{k: v for k, v in m.items() if k != "bias_correction"} for m in members]
    assert "x 2 (per-member views)" in build_stacked_optimizer("torch_adam", [theta], generic).code_path()
    with pytest.raises(ValueError, match="needs 3 members"):
        build_stacked_optimizer("sgd", [theta], [{"lr": 0.1, "weight_decay": 0.0}] * 3)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_kernel_sums_each_members_movement_in_coordinate_order(threads):
    """A diagnosed kernel step's sum of |theta_new - theta| per member is the serial double sum of
    each slab in coordinate order (one thread: exactly; two: up to how the threads' partial sums
    meet). The slabs differ in size, so one thread may start the next, smaller slab while the
    other still sums this one: neither may read what the other wrote."""
    if load_kernel(torch.float32) is None:
        pytest.skip("no C compiler: the kernel is not built here")
    from adamlab.optimizers import fast_adam

    members, sizes = 3, (70_000, 700, 5)
    generator = torch.Generator().manual_seed(4)
    params = [torch.randn(members, n, generator=generator) for n in sizes]
    grads = [torch.randn(members, n, generator=generator) for n in sizes]
    before = [p.clone() for p in params]
    tensors = fast_adam.SlabTensors(
        params, grads, [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params],
        [], [members] * len(sizes), [0] * len(sizes),
    )
    coefficients = fast_adam.Coefficients(
        lr=[1e-3, 1e-2, 0.1], beta1=[0.9] * members, beta2=[0.999] * members,
        eps=[1e-8] * members, weight_decay=[0.0] * members, t=[1.0] * members,
    )
    flags = fast_adam.AdamFlags(decoupled_weight_decay=False, amsgrad=False, bias_correction=True)
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        sums = fast_adam.adam_step(tensors, coefficients, flags, diagnose=True)
    finally:
        torch.set_num_threads(saved)
    for k in range(members):
        expected = 0.0
        for new, old in zip(params, before, strict=True):
            part = 0.0
            for moved in (new[k] - old[k]).abs().tolist():
                part += moved
            expected += part
        if threads == 1:
            assert sums.moved[k] == expected
        else:
            assert sums.moved[k] == pytest.approx(expected, rel=1e-12)
