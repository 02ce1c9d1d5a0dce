"""A task written in plain PyTorch, run as the K members of a stack.

The user's task object follows this contract, nothing more:

    model() -> torch.nn.Module          a fresh model (called once, after the seed is set)
    batch(step) -> any tensors          the training batch of step 1, 2, ...
    loss(model, batch) -> scalar        the training loss
    evaluate(model) -> {name: float}    at eval steps and the last step
    metric_goals = {name: "min"|"max"}  optional

`ModuleTask` calls `model()` once and stacks that model's parameters and buffers K times (every
member starts from the weights a lone run builds), calls `batch(step)` once per step for all
members, and runs the user's own `loss(model, batch)` and `evaluate(model)` unmodified with
member k's tensors swapped in (`torch.func.functional_call` over a module whose forward calls
them, so even `model.fc.weight` read inside `loss` is member k's).

Two paths compute the members' losses and gradients:

- "vmap": one call for all members, `torch.func.vmap` over the member axis of the parameters and
  buffers with the batch shared, then one backward through it into each stacked leaf's [K, ...]
  gradient. Buffers are stacked per member, so in-place buffer updates that vmap can batch
  (BatchNorm's running statistics with a momentum) happen per member.
- "one at a time": member after member, each over its slices `leaf.detach()[k]` of the same
  stacked leaves and buffers (its gradient written into row k of the leaf's gradient). This is
  the fallback for what vmap refuses: `.item()`/`float()` of a tensor and data-dependent
  Python control flow (`if loss > 0:`, BatchNorm with momentum=None reading its batch count),
  in-place updates of tensors that are not stacked (a plain tensor attribute of the model or the
  task), random ops vmap has no batching rule for. A stack of one member takes this path too.

`stacking="auto"` (the default) tries vmap on the batch of step 1 when the task is built (on
copies of the parameters and buffers, the random state restored afterwards) and takes the
fallback if it raises; should vmap raise at a later step, that step is recomputed one at a time
(random state and buffers restored first) and the rest of the run stays on that path. `path`
and `path_reason` say which path runs and why.

Randomness: a lone run seeds the global RNGs, builds the task, calls `model()`, then per step
`batch(step)` and `loss(model, batch)` (and `evaluate(model)` at eval steps). Every lone run of
a stack's trials starts from the same seed and draws the same random numbers whatever its
optimizer (when its draws do not depend on parameter values), so member k must see those same
numbers: vmap runs with `randomness="same"` (one draw shared by all members, exactly the lone
run's draw: dropout masks included), and the one-at-a-time path restores the global random
state (torch's CPU and CUDA generators, Python's `random`, NumPy's global generator) before each
member's `loss` and `evaluate`, so each member draws what a lone run draws. The batch of step 1
is drawn when the task is built (right after `model()`, as in a lone run) and used at step 1.
Side effects of `loss` outside tensors (a Python counter on the task) happen once per step on
the vmap path and once per member on the other, and once more when the task is built (the vmap
try): a loss whose value depends on such state cannot be stacked (adamlab.testing.check_task
says so).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy
import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from adamlab.tasks.base import Task, TaskParams

STACKINGS = ("auto", "vmap", "loop")
VMAP = "vmap"
ONE_AT_A_TIME = "one at a time"
#: the methods a plain-PyTorch task must have
CONTRACT = ("model", "batch", "loss", "evaluate")
GOALS = ("min", "max")


def missing_methods(user_task: Any) -> list[str]:
    """The contract methods `user_task` (an object or a class) lacks, in contract order."""
    return [name for name in CONTRACT if not callable(getattr(user_task, name, None))]


def default_goal(metric: str) -> str:
    """'max' for *accuracy, else 'min' (*loss, *error and anything else)."""
    return "max" if metric.endswith("accuracy") else "min"


def declared_goals(user_task: Any) -> dict[str, str]:
    """The task's own `metric_goals` (optional), checked: names to 'min' or 'max'."""
    goals = getattr(user_task, "metric_goals", None) or {}
    if not isinstance(goals, dict):
        raise TypeError(f"metric_goals of {type(user_task).__name__} must be a dict, got "
                        f"{type(goals).__name__}")
    for name, goal in goals.items():
        if goal not in GOALS:
            raise ValueError(f"metric_goals[{name!r}] of {type(user_task).__name__} must be "
                             f"'min' or 'max', got {goal!r}")
    return dict(goals)


def first_sentence(exc: BaseException) -> str:
    """`Type: first sentence of the message` (vmap's messages go on with advice), one line."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    sentence = lines[0].split(". ")[0].rstrip(".")
    return f"{type(exc).__name__}: {sentence}"


class GlobalRandomState:
    """Save and restore the global random streams a user's code may draw from: torch's CPU
    generator, the CUDA generator of `device` (when it is a CUDA device), Python's `random` and
    NumPy's global generator."""

    def __init__(self, device: torch.device):
        self.cuda = device if device.type == "cuda" else None

    def save(self) -> tuple:
        cuda = torch.cuda.get_rng_state(self.cuda) if self.cuda is not None else None
        return torch.get_rng_state(), cuda, random.getstate(), numpy.random.get_state()

    def restore(self, state: tuple) -> None:
        cpu, cuda, python, numpy_state = state
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state(cuda, self.cuda)
        random.setstate(python)
        numpy.random.set_state(numpy_state)


class _Bound(nn.Module):
    """The user's model as the one submodule `model`, whose forward calls `function(model, ...)`:
    under functional_call, everything that function reads of the model is the tensors passed in."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, function, *args):
        return function(self.model, *args)


class ModuleTask(Task):
    """A plain-PyTorch task object (see the module docstring) as a stack of `members`."""

    name = "module"
    summary = "a plain-PyTorch task (model, batch, loss, evaluate) run as a stack of members"
    Params = TaskParams

    def __init__(self, user_task: Any, *, members: int, stacking: str = "auto"):
        missing = missing_methods(user_task)
        if missing:
            raise TypeError(f"{type(user_task).__name__} is not a task: it has no "
                            f"{', '.join(missing)} (a task needs {', '.join(CONTRACT)})")
        if stacking not in STACKINGS:
            raise ValueError(f"stacking must be one of {', '.join(STACKINGS)}, got {stacking!r}")
        model = user_task.model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"{type(user_task).__name__}.model() must return a "
                            f"torch.nn.Module, got {type(model).__name__}")
        super().__init__(TaskParams(), seed=getattr(user_task, "seed", None),
                         device=_device_of(model, user_task), batch_size=None, members=members)
        self.user_task = user_task
        self.model = model
        self.stacking = stacking
        #: metric -> 'min'/'max': train_loss, the task's declared goals, and (default_goal) every
        #: metric evaluate() has returned so far
        self.metric_goals = {"train_loss": "min", **declared_goals(user_task)}
        self._bound = _Bound(model)
        trained = [(f"model.{n}", p) for n, p in model.named_parameters() if p.requires_grad]
        fixed = [(f"model.{n}", p) for n, p in model.named_parameters() if not p.requires_grad]
        fixed += [(f"model.{n}", b) for n, b in model.named_buffers()]
        self._trained_names = [n for n, _ in trained]
        self._fixed_names = [n for n, _ in fixed]
        #: the trained parameters, each [K, ...] (a leaf); frozen parameters and buffers, [K, ...]
        self.tensors = [self.stack(p, members) for _, p in trained]
        self.fixed = [t.detach().unsqueeze(0).repeat(members, *[1] * t.dim()) for _, t in fixed]
        self._random = GlobalRandomState(self.device)
        #: (step, batch) drawn ahead of its step (step 1's, drawn to try vmap on)
        self._drawn: tuple[int, Any] | None = None
        self._vmapped = vmap(self._member_loss, in_dims=(0, 0, None), randomness="same")
        self.path, self.path_reason = self._choose_path()

    @property
    def steps_per_epoch(self) -> int | None:
        return getattr(self.user_task, "steps_per_epoch", None)

    # -- choosing the path ------------------------------------------------------------------

    def _choose_path(self) -> tuple[str, str | None]:
        if self.stacking == "loop":
            return ONE_AT_A_TIME, "stacking: loop asked for"
        if self.stacking == "auto" and self.members == 1:
            return ONE_AT_A_TIME, "a stack of one member"
        problem = self._vmap_problem()
        if problem is None:
            return VMAP, None
        if self.stacking == "vmap":
            raise ValueError(f"{type(self.user_task).__name__} cannot be vmapped over its "
                             f"members: {problem}")
        return ONE_AT_A_TIME, f"vmap failed: {problem}"

    def _vmap_problem(self) -> str | None:
        """Why vmap cannot run the loss of step 1 forward and backward, or None if it can
        (tried on copies, the global random state restored)."""
        batch = self.user_task.batch(1)
        self._drawn = (1, batch)
        saved = self._random.save()
        try:
            trained = [t.detach().clone().requires_grad_() for t in self.tensors]
            fixed = [t.clone() for t in self.fixed]
            losses = self._vmapped(trained, fixed, batch)
            if losses.shape != (self.members,):
                return f"loss() must return a scalar, got shape {tuple(losses.shape[1:])}"
            if losses.requires_grad:
                losses.sum().backward()
        except Exception as exc:  # whatever vmap refuses; a real bug shows on the fallback path
            return first_sentence(exc)
        finally:
            self._random.restore(saved)
        return None

    # -- training -----------------------------------------------------------------------------

    def _batch(self, step: int) -> Any:
        if self._drawn is not None:
            drawn_step, batch = self._drawn
            self._drawn = None
            if drawn_step == step:
                return batch
        return self.user_task.batch(step)

    def _member_loss(self, trained: Sequence[Tensor], fixed: Sequence[Tensor], batch: Any) -> Tensor:
        state = dict(zip(self._trained_names, trained, strict=True))
        state.update(zip(self._fixed_names, fixed, strict=True))
        return functional_call(self._bound, state, (self.user_task.loss, batch))

    def loss_and_grad(self, step: int) -> Tensor:
        batch = self._batch(step)
        if self.path == VMAP:
            return self._vmap_or_fall_back(step, batch)
        return self._one_at_a_time(batch)

    def _vmap_or_fall_back(self, step: int, batch: Any) -> Tensor:
        if self.stacking == "vmap":
            return self._vmap_step(batch)
        saved = self._random.save()
        buffers = [t.clone() for t in self.fixed]
        try:
            return self._vmap_step(batch)
        except Exception as exc:
            self._random.restore(saved)
            for t, copy in zip(self.fixed, buffers, strict=True):
                t.copy_(copy)
            self.path, self.path_reason = ONE_AT_A_TIME, f"vmap failed at step {step}: {first_sentence(exc)}"
            return self._one_at_a_time(batch)

    def _vmap_step(self, batch: Any) -> Tensor:
        for t in self.tensors:
            t.grad = None
        losses = self._vmapped(self.tensors, self.fixed, batch)
        # each member's loss depends on its own rows only: the sum's gradient is each one's
        if losses.requires_grad:
            losses.sum().backward()
        return losses.detach()

    def _one_at_a_time(self, batch: Any) -> Tensor:
        saved = self._random.save() if self.members > 1 else None
        grads: list[Tensor | None] = [None] * len(self.tensors)
        losses = []
        for k in range(self.members):
            if k:  # each member draws what its lone run draws
                self._random.restore(saved)
            trained = [t.detach()[k].requires_grad_() for t in self.tensors]
            loss = self._member_loss(trained, [t[k] for t in self.fixed], batch)
            if loss.dim() != 0:
                raise ValueError(f"{type(self.user_task).__name__}.loss() must return a "
                                 f"scalar, got shape {tuple(loss.shape)}")
            member_grads = torch.autograd.grad(loss, trained, allow_unused=True) if trained else ()
            for i, grad in enumerate(member_grads):
                if grad is None:
                    continue
                if grad.layout != torch.strided:
                    raise TypeError(
                        f"{type(self.user_task).__name__}: parameter {self._trained_names[i]!r} "
                        f"has a sparse gradient (nn.Embedding(sparse=True)?); a stack's members "
                        f"need dense gradients: build the model with sparse=False")
                if grads[i] is None:
                    grads[i] = torch.zeros_like(self.tensors[i])
                grads[i][k] = grad
            losses.append(loss.detach())
        for t, grad in zip(self.tensors, grads, strict=True):
            t.grad = grad
        return torch.stack(losses)

    # -- evaluation and membership --------------------------------------------------------------

    def evaluate(self) -> list[dict[str, float]]:
        saved = self._random.save() if self.members > 1 else None
        results = []
        with torch.no_grad():
            for k in range(self.members):
                if k:
                    self._random.restore(saved)
                state = dict(zip(self._trained_names, (t.detach()[k] for t in self.tensors), strict=True))
                state.update(zip(self._fixed_names, (t[k] for t in self.fixed), strict=True))
                metrics = functional_call(self._bound, state, (self.user_task.evaluate,))
                results.append(self._as_floats(metrics))
        for metrics in results:
            for name in metrics:
                self.metric_goals.setdefault(name, default_goal(name))
        return results

    def _as_floats(self, metrics: Any) -> dict[str, float]:
        if not isinstance(metrics, dict):
            raise TypeError(f"{type(self.user_task).__name__}.evaluate() must return a dict "
                            f"of metric name -> float, got {type(metrics).__name__}")
        out = {}
        for name, value in metrics.items():
            try:
                out[str(name)] = float(value)
            except (TypeError, ValueError, RuntimeError):
                raise TypeError(f"{type(self.user_task).__name__}.evaluate() metric "
                                f"{name!r} must be a number, got {type(value).__name__}") from None
        return out

    def keep(self, kept: Sequence[int]) -> None:
        index = torch.tensor(list(kept), dtype=torch.long, device=self.device)
        self.fixed = [t.index_select(0, index) for t in self.fixed]
        super().keep(kept)


def _device_of(model: nn.Module, user_task: Any) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device(getattr(user_task, "device", "cpu"))
