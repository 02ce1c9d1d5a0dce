"""Any torch.optim optimizer on a stack of K members: K instances, member k over its views.

Member k's instance is built by `factory(views_k, **member_hparams[k])`, where views_k are the slices
`leaf.detach()[k]` of the stacked leaves (they share the leaves' storage, so the instance's
in-place updates are the stack's), with member k's own hyperparameters. Before each step every
view's `.grad` is set to row k of its leaf's gradient (a view too: nothing is copied). Member
k's update is then exactly what its optimizer does to a lone model, whatever the optimizer:
torch.optim's, adamlab's Adam/AdamW, or a user's class. The model's forward and backward run
once for all members (tasks/module_task.py); only the updates run one member at a time. The
fused stacked forms (optimizers/stacked.py) are the fast path of the built-ins and are tested
equal to this.

The schedule's multiplier eta_t sets each instance's group lr to its initial lr * eta_t, as a
torch lr scheduler would (and `initial_lr` is recorded in each group as a scheduler records it,
which AdamW's weight_decay_scaling "schedule" reads). Sparse gradients are refused: a sparse
task's leaf has no member axis (tasks/embedding_sparsity.py), so those run on one member through
`stacked.TorchStack`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from adamlab.optimizers.diagnostics import params_snapshot, step_diagnostics

Factory = Callable[..., torch.optim.Optimizer]


def optimizer_name(cls: type) -> str:
    """torch.optim.Adam for torch's optimizers, else the class's module and qualified name."""
    if getattr(torch.optim, cls.__name__, None) is cls:
        return f"torch.optim.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


class OptimizerStack:
    """K instances of a torch.optim optimizer, member k's over the views `leaf.detach()[k]`."""

    def __init__(self, factory: Factory, params: list[Tensor], member_hparams: list[dict[str, Any]]):
        if not member_hparams:
            raise ValueError("a stack needs at least 1 member")
        for p in params:
            if p.dim() == 0 or p.shape[0] != len(member_hparams):
                raise ValueError(f"every stacked tensor needs {len(member_hparams)} members along dim 0, "
                                 f"got shape {tuple(p.shape)}")
        self.params = list(params)
        self.hparams = [dict(m) for m in member_hparams]
        #: the schedule's multiplier eta_t of every member's lr at this step
        self.lr_multiplier = 1.0
        self.views = self._views(self.params, len(member_hparams))
        self.optimizers: list[torch.optim.Optimizer] = []
        for views, hparams in zip(self.views, self.hparams, strict=True):
            optimizer = factory(views, **hparams)
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise TypeError(f"{getattr(factory, '__qualname__', factory)!r} made a "
                                f"{type(optimizer).__name__}, not a torch.optim.Optimizer")
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
            self.optimizers.append(optimizer)
        self.initial_lrs = [[g["initial_lr"] for g in o.param_groups] for o in self.optimizers]
        self._grads: list[Tensor | None] = [None] * len(self.params)
        self._grad_rows: list[Sequence[Tensor | None]] = [()] * len(self.params)

    @staticmethod
    def _views(params: list[Tensor], members: int) -> list[list[Tensor]]:
        """views[k][i]: member k's slice of params[i], a leaf sharing its storage."""
        detached = [p.detach() for p in params]
        return [
            [d[k].requires_grad_(p.requires_grad) for p, d in zip(params, detached, strict=True)]
            for k in range(members)
        ]

    @property
    def members(self) -> int:
        return len(self.optimizers)

    def code_path(self) -> str:
        """The code that runs the update, in words (recorded with each trial)."""
        return f"{optimizer_name(type(self.optimizers[0]))} x {self.members} (per-member views)"

    def set_lr_multiplier(self, eta: float) -> None:
        """As a torch lr scheduler sets it: each group's lr = its initial lr * eta."""
        self.lr_multiplier = eta
        for optimizer, lrs in zip(self.optimizers, self.initial_lrs, strict=True):
            for group, lr in zip(optimizer.param_groups, lrs, strict=True):
                group["lr"] = lr * eta

    def _attach_grads(self) -> None:
        """Each view's .grad = its row of the leaf's gradient (views, made once per gradient)."""
        for i, p in enumerate(self.params):
            grad = p.grad
            if grad is not self._grads[i]:
                if grad is not None and grad.layout != torch.strided:
                    raise TypeError(
                        "OptimizerStack takes dense gradients only; sparse gradients run on one "
                        "member through adamlab.optimizers.stacked.TorchStack")
                self._grads[i] = grad
                self._grad_rows[i] = [None] * self.members if grad is None else grad.unbind(0)
            rows = self._grad_rows[i]
            for views, row in zip(self.views, rows, strict=True):
                if views[i].grad is not row:
                    views[i].grad = row

    def step(self) -> None:
        """One update of every member, from each leaf's .grad."""
        self._attach_grads()
        for optimizer in self.optimizers:
            optimizer.step()

    def step_and_diagnose(self) -> list[dict[str, float]]:
        """step(), returning each member's opt.* metrics of that step (diagnostics.py)."""
        self._attach_grads()
        metrics = []
        for optimizer in self.optimizers:
            snapshot = params_snapshot(optimizer)
            optimizer.step()
            metrics.append(step_diagnostics(optimizer, snapshot))
        return metrics

    def keep(self, kept: Sequence[int], params: list[Tensor]) -> None:
        """Keep only the members at positions `kept` (ascending); `params` are the task's new
        leaves, whose views take over each kept instance's parameters and state."""
        kept = list(kept)
        old_views = [self.views[k] for k in kept]
        self.optimizers = [self.optimizers[k] for k in kept]
        self.hparams = [self.hparams[k] for k in kept]
        self.initial_lrs = [self.initial_lrs[k] for k in kept]
        self.params = list(params)
        self.views = self._views(self.params, len(kept))
        for optimizer, old, new in zip(self.optimizers, old_views, self.views, strict=True):
            moved = {id(o): n for o, n in zip(old, new, strict=True)}
            for group in optimizer.param_groups:
                group["params"] = [moved.get(id(p), p) for p in group["params"]]
            for tensor in [t for t in optimizer.state if id(t) in moved]:
                optimizer.state[moved[id(tensor)]] = optimizer.state.pop(tensor)
        self._grads = [None] * len(self.params)
        self._grad_rows = [()] * len(self.params)
