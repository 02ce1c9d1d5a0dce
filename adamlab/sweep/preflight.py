"""Before any trial runs: build every optimizer configuration of the sweep and take one step.

Each configuration is built as the training loop builds it (`build_stacked_optimizer`, on a
stack of one member): the stacked forms refuse what their one-trial classes refuse, with the
same messages, and building them constructs no torch.optim object, whose first construction
imports torch._dynamo (about a second) that a sweep of the built-in optimizers never uses.

The schema checks names, types and ranges; this catches what only the optimizer itself knows
(e.g. Nesterov momentum needs momentum > 0, SparseAdam refuses dense gradients) so such a sweep is
refused up front instead of failing trial after trial. A step on a 4x2 parameter costs
microseconds, but a grid can hold 10^5 configurations, so each entry is tried on the settings
that can matter: for a numeric hyperparameter its smallest and largest value and zero (what an
optimizer refuses is a sign or a zero, e.g. momentum = 0 with Nesterov; the schema has already
checked every value against its range), for a flag or a string every value. The cost is at most
3^k steps for k varying hyperparameters, whatever the grid's size.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adamlab.errors import AdamlabError
from adamlab.sweep.problems import Problem
from adamlab.tasks.registry import task_spec

if TYPE_CHECKING:
    import threading


def _one_step(spec, hparams: dict, sparse: bool, folder: str | None) -> None:
    # lazy: preflight steps each optimizer once before a run; validating a sweep needs no torch
    import torch

    # lazy: loads torch, as the line above
    from adamlab.optimizers.stacked import build_stacked_optimizer

    if sparse:
        table = torch.nn.Embedding(4, 2, sparse=True)
        optimizer = build_stacked_optimizer(spec, list(table.parameters()), [hparams], sparse=True,
                                            folder=folder)
        table(torch.tensor([0, 2])).sum().backward()
    else:
        weight = torch.nn.Parameter(torch.ones(1, 4, 2))  # a stack of one member
        optimizer = build_stacked_optimizer(spec, [weight], [hparams], folder=folder)
        weight.grad = torch.full_like(weight, 0.5)
    optimizer.step()


def check_task_data(sweep) -> None:
    """Before any trial runs: each task's data is at hand (fetched now where the task may),
    through the task's `check_data(params)` classmethod, which raises AdamlabError saying what is
    missing and how to provide it: a built-in task's spec (TaskSpec's default checks nothing),
    or a task class in plain PyTorch that defines one (given its keywords as a dict)."""

    checked: set[tuple[str, str, str]] = set()
    for i, plan in enumerate(sweep.tasks):
        key = (plan.name, plan.target, repr(sorted(plan.params.items())))
        if key in checked:
            continue
        checked.add(key)
        spec = task_spec(plan.name, plan.target, sweep.folder)
        user_class = getattr(spec, "user_class", None)  # a task class in plain PyTorch
        if user_class is not None:
            check, params = getattr(user_class, "check_data", None), dict(plan.params)
        else:
            check, params = spec.check_data, spec.Params.model_validate(plan.params)
        if check is None:
            continue
        try:
            check(params)
        except AdamlabError as exc:
            raise AdamlabError(f"{sweep.source}: tasks[{i}] ({plan.name}): {exc}; nothing was "
                               "run: run the same command again once the data is there") from None


@dataclass
class Prefetch:
    """What `prefetch_task_data` started: the task specs asked and their readings in flight."""

    specs: list[type] = field(default_factory=list)
    readings: list[threading.Event] = field(default_factory=list)

    def wait(self) -> None:
        """Until every reading is done (a reading that failed is done too: the load says why)."""
        for reading in self.readings:
            reading.wait()

    def discard(self) -> None:
        """Drop what was read ahead and not taken (the trials run in other processes)."""
        for spec in self.specs:
            spec.discard_prefetched_data()


def prefetch_task_data(trials) -> Prefetch:
    """Start reading ahead the data files of the built-in tasks `trials` run (each task's
    `prefetch_data`, once per task and parameters), to overlap the imports before the first
    trial."""
    prefetch, asked = Prefetch(), set()
    for trial in trials:
        key = (trial.task, trial.task_target, trial.folder, json.dumps(trial.task_params, sort_keys=True))
        if key in asked:
            continue
        asked.add(key)
        spec = task_spec(trial.task, trial.task_target, trial.folder)
        if spec.plugin:
            continue
        reading = spec.prefetch_data(spec.Params.model_validate(trial.task_params))
        if spec not in prefetch.specs:
            prefetch.specs.append(spec)
        if reading is not None:
            prefetch.readings.append(reading)
    return prefetch


def representatives(values: list) -> list:
    """The values of one hyperparameter that preflight tries (see the module docstring)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) < len(values) or len(values) <= 3:
        return list(values)
    chosen = {min(numbers), max(numbers), *(v for v in numbers if v == 0)}
    return [v for v in dict.fromkeys(values) if v in chosen]


def _describe(hparams: dict, varying: list[str]) -> str:
    return ", ".join(f"{k}={hparams[k]!r}" for k in varying)


def preflight_problems(entries, *, dense: list[str], sparse: list[str], folder: str | None = None):
    """Problems for `entries` [(path, OptimizerPlan, OptimizerSpec)]: one per distinct failure
    message per entry; `folder`: where plug-in modules are imported from first.

    `dense` / `sparse`: the sweep's tasks (e.g. "tasks[1] (mnist_mlp)") whose gradients are dense
    / sparse; each configuration is tried on each kind that some task has.
    """
    tasks_of = {"dense": dense, "sparse": sparse}
    kinds = [k for k in ("dense", "sparse") if tasks_of[k]]
    problems: list[Problem] = []
    tried: dict[tuple, str | None] = {}
    for path, plan, spec in entries:
        keys = list(plan.grid)
        varying = [k for k in keys if len(plan.grid[k]) > 1]
        seen_messages: set[str] = set()
        for combo in itertools.product(*(representatives(plan.grid[k]) for k in keys)):
            hparams = dict(zip(keys, combo, strict=True))
            for kind in kinds:
                cache_key = (plan.optimizer, plan.target, kind, json.dumps(hparams, sort_keys=True))
                if cache_key not in tried:
                    try:
                        _one_step(spec, hparams, kind == "sparse", folder)
                        tried[cache_key] = None
                    except Exception as exc:
                        tried[cache_key] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                message = tried[cache_key]
                if message is None or message in seen_messages:
                    continue
                seen_messages.add(message)
                at = f" at {_describe(hparams, varying)}" if varying else ""
                name = plan.optimizer if plan.label == plan.optimizer else f"{plan.label} ({plan.optimizer})"
                problems.append(Problem(
                    path, f"{name} fails on the {kind} gradients of {', '.join(tasks_of[kind])}{at}: {message}"
                ))
    return problems
