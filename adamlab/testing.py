"""Check a plug-in before sweeping it: the contract and equality tests adamlab runs on its own
optimizers and tasks, for yours (as `benchopt test` does).

    from adamlab.testing import check_optimizer, check_task
    check_optimizer(Lion, settings=[{"lr": 1e-4}, {"lr": 3e-4, "weight_decay": 0.1}])
    check_task(MyTask, params={"width": 64})

Each raises AssertionError with a message saying what is wrong, or returns quietly (check_task
returns which stacking path the task takes, and why).

check_optimizer(optimizer, settings): `optimizer` is a torch.optim.Optimizer subclass or a
callable (params, **setting) -> Optimizer. On a small float64 problem (gradients of a quadratic
at the current parameters plus fixed noise, a schedule that warms up, decays and reaches 0):

- each setting builds a torch.optim.Optimizer whose param groups have an lr;
- its steps move the parameters while the lr is above 0, and leave them alone at lr 0 (a step
  must follow `param_groups[i]["lr"]`, which schedules and lr schedulers set);
- K instances stacked over per-member views (OptimizerStack, how adamlab runs K configurations
  at once) equal K lone runs, step by step: no state shared between instances.

check_task(task_cls, params): the plain-PyTorch task contract (model, batch, loss, evaluate,
optional metric_goals), built as adamlab builds it (global RNGs seeded, then
`task_cls(seed=..., device=..., **params)`):

- the methods exist and return the right kinds (an nn.Module, a scalar loss with a gradient, a
  dict of metric name -> number);
- `model()` and `batch(1)` are the same for the same seed;
- a stack of members (ModuleTask: vmap where the model allows it) and the same stack one member
  at a time equal each member's lone run (the user's own loop: seed, build, model(), then
  loss(model, batch(step)), backward, step), losses at every step and the final evaluate().
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from adamlab.optimizers.optimizer_stack import OptimizerStack
from adamlab.sweep.runner import seed_everything
from adamlab.tasks.module_task import (
    CONTRACT,
    GOALS,
    ONE_AT_A_TIME,
    VMAP,
    ModuleTask,
    missing_methods,
)

#: the schedule's multiplier before each step of check_optimizer: warm-up, decay, then 0
ETAS = (0.5, 1.0, 1.0, 0.7, 0.4, 0.2, 0.0, 1.0)
SHAPES = ((4, 3), (3,))


def _describe(factory: Any) -> str:
    return getattr(factory, "__qualname__", None) or repr(factory)


def check_optimizer(
    optimizer: Callable[..., torch.optim.Optimizer], settings: Sequence[dict[str, Any]], *,
    rtol: float = 1e-9, atol: float = 1e-12,
) -> None:
    """Raise AssertionError unless `optimizer` with each of `settings` (keyword dicts) is a
    working torch.optim optimizer that steps by its group's lr and stacks (module docstring)."""
    name = _describe(optimizer)
    settings = [dict(s) for s in settings]
    assert settings, f"check_optimizer({name}): give at least one setting"
    lone = [_lone_optimizer_run(optimizer, name, k, setting) for k, setting in enumerate(settings)]

    leaves = [t.unsqueeze(0).repeat(len(settings), *[1] * t.dim()).requires_grad_()
              for t in _initial_parameters()]
    stack = OptimizerStack(optimizer, leaves, settings)
    for step, eta in enumerate(ETAS, 1):
        for i, leaf in enumerate(leaves):
            leaf.grad = _gradient(leaf.detach(), step, i)
        stack.set_lr_multiplier(eta)
        stack.step()
        for k, trajectory in enumerate(lone):
            for i, (leaf, alone) in enumerate(zip(leaves, trajectory[step - 1], strict=True)):
                if not torch.allclose(leaf[k].detach(), alone, rtol=rtol, atol=atol):
                    difference = (leaf[k].detach() - alone).abs().max().item()
                    raise AssertionError(
                        f"{name}: member {k} ({settings[k]}) of a stack of {len(settings)} "
                        f"instances differs from its lone run at step {step} (parameter {i}, by "
                        f"up to {difference:.3g}): the instances share state (class or module "
                        f"attributes) or one instance's step changes another's parameters")


def _initial_parameters() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(shape, generator=generator, dtype=torch.float64) for shape in SHAPES]


def _gradient(theta: torch.Tensor, step: int, index: int) -> torch.Tensor:
    """A quadratic's gradient at theta ([...] or [K, ...]) plus noise fixed by (step, index)."""
    generator = torch.Generator().manual_seed(1000 * step + index)
    return (1.0 + index) * theta + torch.randn(SHAPES[index], generator=generator, dtype=torch.float64)


def _lone_optimizer_run(factory, name: str, k: int, setting: dict) -> list[list[torch.Tensor]]:
    params = [nn.Parameter(t) for t in _initial_parameters()]
    try:
        optimizer = factory(params, **setting)
    except Exception as exc:
        raise AssertionError(f"{name}(params, **{setting}) raised {type(exc).__name__}: {exc}") from exc
    assert isinstance(optimizer, torch.optim.Optimizer), (
        f"{name}(params, **{setting}) made a {type(optimizer).__name__}, not a torch.optim.Optimizer")
    assert all("lr" in group for group in optimizer.param_groups), (
        f"{name}: every param group needs an 'lr' (schedules set it)")
    initial_lrs = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:  # as an lr scheduler records it
        group.setdefault("initial_lr", group["lr"])
    trajectory = []
    moved = False
    for step, eta in enumerate(ETAS, 1):
        for group, lr in zip(optimizer.param_groups, initial_lrs, strict=True):
            group["lr"] = lr * eta
        for i, p in enumerate(params):
            p.grad = _gradient(p.detach(), step, i)
        before = [p.detach().clone() for p in params]
        optimizer.step()
        changed = any(not torch.equal(p.detach(), b) for p, b in zip(params, before, strict=True))
        if eta == 0 and changed:
            raise AssertionError(
                f"{name} ({setting}): a step with its group's lr set to 0 (as a schedule does) "
                f"still changed the parameters: step() must use param_groups[i]['lr'], not an lr "
                f"kept from construction")
        moved = moved or changed
        for p in params:
            if not torch.isfinite(p).all():
                raise AssertionError(f"{name} ({setting}): parameters not finite after step {step}")
        trajectory.append([p.detach().clone() for p in params])
    if any(lr > 0 for lr in initial_lrs):
        assert moved, f"{name} ({setting}): {len(ETAS)} steps with lr > 0 never moved the parameters"
    return trajectory


@dataclass(frozen=True)
class TaskCheck:
    """What check_task found: the stacking path a stack of this task takes, and why."""

    task: str
    path: str
    path_reason: str | None

    def __repr__(self) -> str:
        why = f" ({self.path_reason})" if self.path_reason else ""
        return f"TaskCheck({self.task}: stacks by {self.path}{why})"


def check_task(
    task_cls: type, params: dict[str, Any] | None = None, *, seed: int = 0, device: str = "cpu",
    steps: int = 3, optimizer: Callable[..., torch.optim.Optimizer] = torch.optim.SGD,
    settings: Sequence[dict[str, Any]] = ({"lr": 1e-3}, {"lr": 1e-2, "momentum": 0.9}),
    rtol: float = 1e-4, atol: float = 1e-6,
) -> TaskCheck:
    """Raise AssertionError unless `task_cls` built with `params` follows the plain-PyTorch task
    contract and its stacks equal its lone runs (module docstring); tolerances are for the
    task's own float type (float32: vmap's batched products round differently)."""
    name = getattr(task_cls, "__name__", repr(task_cls))
    params = dict(params or {})
    missing = missing_methods(task_cls)
    assert not missing, (f"{name} is not a task: it has no {', '.join(missing)} "
                         f"(a task needs {', '.join(CONTRACT)})")
    goals = getattr(task_cls, "metric_goals", None) or {}
    assert isinstance(goals, dict) and all(g in GOALS for g in goals.values()), (
        f"{name}.metric_goals must map metric names to 'min' or 'max', got {goals!r}")

    # built as a lone run starts: seed, build, model(), batch(1); twice
    first = _build(task_cls, name, params, seed, device)
    model, batch = _model(first, name), first.batch(1)
    second = _build(task_cls, name, params, seed, device)
    other_model, other_batch = _model(second, name), second.batch(1)
    _same_tensors(model.state_dict(), other_model.state_dict(),
                  f"{name}.model() is not deterministic under a seed: two builds with seed {seed} "
                  f"differ in")
    _same_tensors(_leaves(batch), _leaves(other_batch),
                  f"{name}.batch(1) is not deterministic under a seed: two builds with seed {seed} "
                  f"differ in")
    loss = first.loss(model, batch)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, (
        f"{name}.loss() must return a scalar tensor, got "
        f"{tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__}")
    assert loss.requires_grad, f"{name}.loss() has no gradient with respect to the model's parameters"
    _check_metrics(first.evaluate(model), name)

    lone = [_lone_task_run(task_cls, params, seed, device, optimizer, s, steps) for s in settings]
    auto = _stacked_task_run(task_cls, params, seed, device, optimizer, settings, steps, "auto")
    runs = [auto] if auto[0].path == ONE_AT_A_TIME else [
        auto, _stacked_task_run(task_cls, params, seed, device, optimizer, settings, steps, "loop")]
    for task, losses, evaluations in runs:
        where = f"a stack of {len(settings)} ({'vmap' if task.path == VMAP else 'one at a time'})"
        for k, (setting, (lone_losses, lone_metrics)) in enumerate(zip(settings, lone, strict=True)):
            for step, (mine, alone) in enumerate(zip(losses, lone_losses, strict=True), 1):
                assert _close(mine[k], alone, rtol, atol), (
                    f"{name}: member {k} ({setting}) of {where} has train loss {mine[k]!r} at step "
                    f"{step}, its lone run {alone!r} (does loss() change state outside the model's "
                    f"tensors, or draw random numbers that depend on the parameters' values?)")
            assert evaluations[k].keys() == lone_metrics.keys(), (
                f"{name}: member {k} of {where} evaluates to metrics {sorted(evaluations[k])}, "
                f"its lone run to {sorted(lone_metrics)}")
            for metric, alone in lone_metrics.items():
                assert _close(evaluations[k][metric], alone, rtol, atol), (
                    f"{name}: member {k} ({setting}) of {where} has {metric} "
                    f"{evaluations[k][metric]!r} after {steps} steps, its lone run {alone!r}")
    return TaskCheck(name, auto[0].path, auto[0].path_reason)


def _build(task_cls, name: str, params: dict, seed: int, device: str):
    seed_everything(seed)
    try:
        return task_cls(seed=seed, device=torch.device(device), **params)
    except Exception as exc:
        raise AssertionError(f"{name}(seed={seed}, device={device!r}, **{params}) raised "
                             f"{type(exc).__name__}: {exc}") from exc


def _model(task, name: str) -> nn.Module:
    model = task.model()
    assert isinstance(model, nn.Module), (
        f"{name}.model() must return a torch.nn.Module, got {type(model).__name__}")
    return model


def _leaves(batch: Any) -> dict[str, Any]:
    """The tensors and numbers of a batch (any nesting of tuples, lists and dicts), by position."""
    flat, _ = torch.utils._pytree.tree_flatten(batch)
    return {f"element {i}": value for i, value in enumerate(flat)}


def _same_tensors(mine: dict[str, Any], theirs: dict[str, Any], message: str) -> None:
    assert mine.keys() == theirs.keys(), f"{message} their structure"
    for key, value in mine.items():
        other = theirs[key]
        if isinstance(value, torch.Tensor):
            same = isinstance(other, torch.Tensor) and torch.equal(value, other)
        else:
            same = value == other
        assert same, f"{message} {key!r}"


def _check_metrics(metrics: Any, name: str) -> None:
    assert isinstance(metrics, dict), (
        f"{name}.evaluate() must return a dict of metric name -> number, got {type(metrics).__name__}")
    for metric, value in metrics.items():
        assert isinstance(metric, str), f"{name}.evaluate(): metric names must be strings, got {metric!r}"
        try:
            float(value)
        except (TypeError, ValueError, RuntimeError):
            raise AssertionError(f"{name}.evaluate(): metric {metric!r} must be a number, got "
                                 f"{type(value).__name__}") from None


def _close(mine: float, theirs: float, rtol: float, atol: float) -> bool:
    if math.isnan(theirs):
        return math.isnan(mine)
    return math.isclose(mine, theirs, rel_tol=rtol, abs_tol=atol)


def _lone_task_run(task_cls, params, seed, device, factory, setting, steps):
    """The user's own loop for one setting: per-step losses and the final evaluate()."""
    seed_everything(seed)
    task = task_cls(seed=seed, device=torch.device(device), **params)
    model = task.model()
    optimizer = factory(model.parameters(), **setting)
    losses = []
    for step in range(1, steps + 1):
        loss = task.loss(model, task.batch(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {k: float(v) for k, v in task.evaluate(model).items()}


def _stacked_task_run(task_cls, params, seed, device, factory, settings, steps, stacking):
    seed_everything(seed)
    task = ModuleTask(task_cls(seed=seed, device=torch.device(device), **params),
                      members=len(settings), stacking=stacking)
    stack = OptimizerStack(factory, task.tensors, [dict(s) for s in settings])
    losses = []
    for step in range(1, steps + 1):
        losses.append(task.loss_and_grad(step).tolist())
        stack.step()
    return task, losses, task.evaluate()
