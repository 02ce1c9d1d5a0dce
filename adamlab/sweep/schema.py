"""The sweep YAML schema: validate a file into a resolved `Sweep`, reporting every problem at once.

Each problem is one line naming the file, the key path and what is allowed, e.g.
``configs/x.yaml: optimizers[1].beta2[2]: must be in [0, 1), got 1.0 (line 14)``.
All of them are collected before anything runs; `SweepConfigError.lines` holds them in file order.

The static shape (top-level keys, task entries) is checked with pydantic models
(adamlab.sweep.file_model); the parts that depend on the registries (task parameters, optimizer
hyperparameters, sparse-gradient support) entry by entry (adamlab.sweep.entries); the sweep's
size, work and memory against their limits (adamlab.sweep.limits). The result is the resolved
`Sweep` (adamlab.sweep.resolved).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from adamlab.errors import AdamlabError
from adamlab.optimizers.registry import get_spec
from adamlab.sweep.entries import (
    optimizer_entry,
    resolve_device,
    sparse_problems,
    task_entry,
    warmup_problems,
)
from adamlab.sweep.file_model import SweepFile, kind_of, pydantic_problems
from adamlab.sweep.limits import memory_problems, size_problems, work_problems
from adamlab.sweep.options import parse_stack_size
from adamlab.sweep.overrides import apply_overrides
from adamlab.sweep.preflight import preflight_problems
from adamlab.sweep.problems import Problem
from adamlab.sweep.resolved import Sweep
from adamlab.sweep.values import DEFAULT_MAX_TRIALS
from adamlab.sweep.yaml_source import YamlDocument, load_yaml

DEFAULT_RESULTS_ROOT = Path("results")


class SweepConfigError(AdamlabError):
    """Every problem found in one sweep file; `lines` has one message per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def validate_sweep(doc: YamlDocument, *, device: str | None = None,
                   max_trials: int = DEFAULT_MAX_TRIALS, preflight: bool = True,
                   folder: str | Path | None = None, max_steps: int | None = None) -> Sweep:
    """Validate loaded YAML into a Sweep; `device` overrides the file's (the --device option).

    A sweep of more than `max_trials` trials (counted from its grid sizes, before anything is
    expanded), a task too large for the memory of the device it would run on, and a trial of
    more than `max_steps` steps (when None: of more than MAX_TRIAL_WORK_S estimated seconds)
    are refused.
    """
    source, data = doc.source, doc.data
    if data is None:
        raise SweepConfigError([f"{source}: the file is empty; a sweep needs at least name, tasks and optimizers"])
    if not isinstance(data, dict):
        raise SweepConfigError([f"{source}: must be a mapping of keys (name, tasks, optimizers, ...), got {kind_of(data)}"])

    problems: list[Problem] = []
    data = _seed_count(data, problems)
    top: SweepFile | None = None
    try:
        top = SweepFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, (), SweepFile))
    if top is not None and top.steps is not None and top.epochs is not None:
        problems.append(Problem("steps", "give steps or epochs, not both"))
        top = None  # the step count is unknown: skip the checks that need it
    stack_size = None
    if top is not None:
        try:
            stack_size = parse_stack_size(top.stack_size)
        except ValueError as exc:
            problems.append(Problem("stack_size", str(exc)))

    seeds = data.get("seeds")
    seen_seeds: set[int] = set()
    for k, seed in enumerate(seeds if isinstance(seeds, list) else []):
        if isinstance(seed, int) and seed in seen_seeds:
            problems.append(Problem(f"seeds[{k}]", f"seed {seed} is given twice"))
        elif isinstance(seed, int):
            seen_seeds.add(seed)

    device_spec = device if device is not None else (top.device if top else data.get("device", "cpu"))
    resolved_device = None
    if isinstance(device_spec, str):
        resolved_device = resolve_device(device_spec, "--device" if device is not None else "device", problems)

    raw_tasks = data.get("tasks") if isinstance(data.get("tasks"), list) else []
    raw_optimizers = data.get("optimizers") if isinstance(data.get("optimizers"), list) else []
    if folder is None and source and Path(source).is_file():
        folder = Path(source).resolve().parent
    folder = str(folder) if folder is not None else None
    tasks = [(i, plan) for i, raw in enumerate(raw_tasks) if (plan := task_entry(i, raw, top, problems, folder))]
    entries = [(j, got) for j, raw in enumerate(raw_optimizers) if (got := optimizer_entry(j, raw, problems, max_trials, folder))]
    optimizers = [(j, plan) for j, (plan, _) in entries]
    specs = {j: get_spec(plan.optimizer, plan.target, folder) for j, plan in optimizers}
    sparse_problems(tasks, optimizers, specs, problems)
    warmup_problems(tasks, optimizers, problems)
    if not problems and top is not None:
        problems.extend(size_problems(tasks, optimizers, len(top.seeds), max_trials))
        too_big = memory_problems(tasks, resolved_device, folder) if resolved_device is not None else []
        problems.extend(too_big)
        # a task that cannot fit is not also said to take too long
        problems.extend(p for p in work_problems(tasks, max_steps, folder) if p.path not in {q.path for q in too_big})
    if problems:
        raise SweepConfigError(_format(doc, problems))
    assert top is not None and resolved_device is not None
    sweep = Sweep(
        name=top.name,
        description=top.description,
        source=source,
        output=Path(top.output) if top.output is not None else DEFAULT_RESULTS_ROOT / top.name,
        seeds=tuple(top.seeds),
        device=resolved_device,
        divergence_factor=top.divergence_factor,
        stack_size=stack_size,
        tasks=tuple(plan for _, plan in tasks),
        optimizers=tuple(plan for _, plan in optimizers),
        explicit_hparams=tuple(explicit for _, (_, explicit) in entries),
        folder=folder,
        document=doc,
    )
    if preflight:
        check_optimizers(sweep)
        sweep = replace(sweep, optimizers_checked=True)
    return sweep


def check_optimizers(sweep: Sweep) -> None:
    """Build every optimizer entry of `sweep` and step it (adamlab.sweep.preflight; imports
    torch); raises SweepConfigError. Commands that run nothing (--dry-run, a sweep whose trials
    are all done) skip it."""
    tasks = list(enumerate(sweep.tasks))
    problems = preflight_problems(
        [(f"optimizers[{j}]", plan, sweep.optimizer_spec(plan)) for j, plan in enumerate(sweep.optimizers)],
        dense=[f"tasks[{i}] ({t.name})" for i, t in tasks if not t.uses_sparse_gradients],
        sparse=[f"tasks[{i}] ({t.name})" for i, t in tasks if t.uses_sparse_gradients],
        folder=sweep.folder,
    )
    if problems:
        if sweep.document is not None:
            raise SweepConfigError(_format(sweep.document, problems))
        raise SweepConfigError([f"{sweep.source}: {p.path}: {p.message}" for p in problems])


#: the most seeds `seeds: N` may name (a list can name more, each explicitly)
MAX_SEED_COUNT = 10_000


def _seed_count(data: dict, problems: list[Problem]) -> dict:
    """`seeds: N` as [0, ..., N-1]; the trial ids are those of the list written out."""
    count = data.get("seeds")
    if not isinstance(count, int) or isinstance(count, bool):
        return data
    if not 1 <= count <= MAX_SEED_COUNT:
        problems.append(Problem("seeds", f"a seed count must be 1 to {MAX_SEED_COUNT:,} "
                                         f"(or give a list of seeds), got {count}"))
        return {**data, "seeds": [0]}
    return {**data, "seeds": list(range(count))}


def _format(doc: YamlDocument, problems: list[Problem]) -> list[str]:
    lines: list[tuple[int, str]] = []
    for problem in dict.fromkeys(problems):  # drop exact repeats, keep order
        line = doc.line_of(problem.path) if not problem.path.startswith("--") else None
        where = f"{doc.source}: {problem.path}: " if problem.path else f"{doc.source}: "
        suffix = doc.where(problem.path) if not problem.path.startswith("--") else ""
        lines.append((line or 0, f"{where}{problem.message}{suffix}"))
    return [text for _, text in sorted(lines, key=lambda item: item[0])]


def load_sweep(path: str | Path, *, device: str | None = None,
               max_trials: int = DEFAULT_MAX_TRIALS, preflight: bool = True,
               max_steps: int | None = None, overrides: tuple[str, ...] = ()) -> Sweep:
    """Read and validate a sweep YAML file, with `overrides` ("KEY=VALUE", see
    `adamlab.sweep.overrides`) applied first; raises AdamlabError (SweepConfigError for schema
    problems). `preflight=False` leaves out building the optimizers (see check_optimizers)."""
    doc = apply_overrides(load_yaml(path), overrides)
    sweep = validate_sweep(doc, device=device, max_trials=max_trials, preflight=preflight,
                           max_steps=max_steps)
    return replace(sweep, overrides=tuple(overrides)) if overrides else sweep
