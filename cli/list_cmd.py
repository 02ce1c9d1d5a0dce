"""`adamlab list`: what can be named in a sweep (built-in or installed, and where each comes
from). Torch-free: it reads the specs, not the implementations."""

from __future__ import annotations

import typer
from rich.table import Table

from adamlab.cli.console import stdout
from adamlab.optimizers.schedules import SCHEDULE_DEFAULTS, SCHEDULES, WEIGHT_DECAY_SCALINGS


def _format_default(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def list_registered(
    what: str = typer.Argument("all", metavar="[all|tasks|optimizers]",
                               help="What to list: all, tasks or optimizers."),
) -> None:
    """List the registered tasks and optimizers with their parameters and defaults.

    Example: adamlab list optimizers
    """
    if what not in ("all", "tasks", "optimizers"):
        raise typer.BadParameter(f"got {what!r}; allowed: all, tasks, optimizers", param_hint="WHAT")
    # lazy: the registries build every spec's pydantic model, not needed by `adamlab --help`
    from adamlab.optimizers.registry import get_spec, optimizer_names
    from adamlab.tasks.registry import task_names, task_spec  # lazy: as the line above

    if what in ("all", "optimizers"):
        every = ", ".join(f"{k}={_format_default(v)}" for k, v in SCHEDULE_DEFAULTS.items())
        table = Table(
            title="Optimizers",
            caption=f"every optimizer also takes {every} (schedule: {' | '.join(SCHEDULES)}; "
            f"lr_t = lr x eta_t, with a linear warmup over warmup_steps); weight_decay_scaling: "
            f"{' | '.join(WEIGHT_DECAY_SCALINGS)}",
            show_lines=False,
        )
        table.add_column("name", style="bold cyan")
        table.add_column("hyperparameters (defaults)")
        table.add_column("description")
        table.add_column("from")
        for name in optimizer_names():
            spec = get_spec(name)
            own = {**spec.defaults, **{k: v for k, v in spec.optional.items()
                                       if k not in SCHEDULE_DEFAULTS}}
            params = ", ".join(f"{k}={_format_default(v)}" for k, v in own.items())
            table.add_row(spec.name, params, spec.summary, spec.origin)
        stdout.print(table)
    if what in ("all", "tasks"):
        table = Table(title="Tasks")
        table.add_column("name", style="bold cyan")
        table.add_column("parameters (defaults)")
        table.add_column("metrics")
        table.add_column("description")
        table.add_column("from")
        for name in task_names():
            task = task_spec(name)
            fields = task.Params.model_fields
            params = ", ".join(
                f"{key}={_format_default(field.get_default(call_default_factory=True))}"
                for key, field in fields.items()
            )
            metrics = ", ".join(
                f"{m}{'↑' if goal == 'max' else '↓'}" for m, goal in task.metric_goals.items()
            )
            table.add_row(name, params, metrics, task.summary, task.origin)
        stdout.print(table)
