"""How large a sweep may be: its trial count (`--max-trials`), each trial's estimated work
(a week, or `--max-steps`), and each trial's memory on the device it would run on. Each limit
found exceeded is a problem of one line saying by how much and how to lift it.
"""

from __future__ import annotations

import math

from adamlab import host
from adamlab.sweep.problems import Problem
from adamlab.sweep.resources import SECONDS_PER_MEMBER_BYTE, STEP_OVERHEAD_S
from adamlab.tasks.registry import task_spec

#: per logged value a trial keeps in memory until its record is written (lists of Python
#: objects, then the JSON text): a budget, measured at ~150 bytes
LOGGED_VALUE_BYTES = 200
#: values logged per log or evaluation step, a generous bound over the tasks and optimizers
VALUES_PER_LOG_STEP = 40
#: the most estimated work one trial may ask for without --max-steps: a week (steps x the
#: estimated seconds of one step of one member, adamlab.sweep.resources' work model)
MAX_TRIAL_WORK_S = 7 * 24 * 3600.0


def size_problems(tasks, optimizers, seeds: int, max_trials: int) -> list[Problem]:
    """A sweep above `max_trials` trials, counted without expanding anything."""
    configurations = sum(math.prod(len(values) for values in plan.grid.values()) for _, plan in optimizers)
    total = len(tasks) * configurations * seeds
    if total <= max_trials:
        return []
    return [Problem("optimizers", (
        f"the sweep expands to {total:,} trials ({len(tasks)} task(s) x {configurations:,} "
        f"optimizer configuration(s) x {seeds} seed(s)), more than the limit of {max_trials:,}; "
        f"shrink the grids, or raise the limit with --max-trials"
    ))]


def work_problems(tasks, max_steps: int | None, folder: str | None) -> list[Problem]:
    """Trials that would run for more than a week (estimated), or more than `max_steps` steps
    when given: a mistyped steps: must not run until it is killed."""
    problems = []
    for i, task in tasks:
        if max_steps is not None:
            if task.steps > max_steps:
                problems.append(Problem(f"tasks[{i}]", (
                    f"{task.name} runs {task.steps:,} steps, more than --max-steps {max_steps:,}"
                )))
            continue
        spec = task_spec(task.name, task.target, folder)
        member = spec.member_bytes(spec.Params.model_validate(task.params), task.batch_size)
        per_step = STEP_OVERHEAD_S + member * SECONDS_PER_MEMBER_BYTE
        if task.steps * per_step > MAX_TRIAL_WORK_S:
            problems.append(Problem(f"tasks[{i}]", (
                f"{task.steps:,} steps of {task.name} would take about "
                f"{_duration(task.steps * per_step)} per trial (estimated {per_step * 1e3:.2g} ms "
                f"a step), more than the {_duration(MAX_TRIAL_WORK_S)} a sweep may ask for; lower "
                f"its steps, or allow them with --max-steps {task.steps}"
            )))
    return problems


def _duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600)):
        if seconds >= size:
            return f"{seconds / size:,.0f} {unit}" if unit == "years" else f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def memory_problems(tasks, device: str, folder: str | None) -> list[Problem]:
    """Tasks whose one trial cannot fit in the memory of the device it would run on (the task's
    model, data and optimizer state, and the metric log a trial keeps until it ends)."""
    available = host.available_memory(device)
    problems = []
    for i, task in tasks:
        spec = task_spec(task.name, task.target, folder)
        model = spec.memory_bytes(spec.Params.model_validate(task.params), task.batch_size)
        logged = (task.steps // task.log_every + task.steps // task.eval_every + 2) * VALUES_PER_LOG_STEP
        need = model + logged * LOGGED_VALUE_BYTES
        if available is not None and need > available:
            problems.append(Problem(f"tasks[{i}]", (
                f"one trial of {task.name} needs about {_bytes(need)} of memory (model, data and "
                f"optimizer state: {_bytes(model)}; log of {task.steps:,} steps every "
                f"{task.log_every:,}: {_bytes(logged * LOGGED_VALUE_BYTES)}), more than the "
                f"{_bytes(available)} {device} has available; lower its sizes or steps"
            )))
    return problems


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit in ("B", "PB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"
