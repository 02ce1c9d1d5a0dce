"""`adamlab sweep --dry-run`: the sweep's trials as a table, which are done, and the counts."""

from __future__ import annotations

from rich.table import Table

from adamlab.analysis.table_fit import Fitted, fit_table, print_fitted
from adamlab.cli.console import stdout
from adamlab.sweep.sweep_plan import plan_sweep
from adamlab.sweep.trials import canonical_json, format_value, shown_hparams

#: trials listed by --dry-run (a table of 10^5 rows takes minutes to draw); the count is exact
DRY_RUN_ROWS = 500


def print_dry_run(sweep, retry_failed: bool) -> None:
    plan = plan_sweep(sweep, retry_failed=retry_failed)
    shown = shown_hparams(sweep, plan.trials)
    task_keys = _varying_task_params(plan.trials)
    steps = sorted({t.steps for t in plan.trials})
    title = f"sweep {sweep.name}: {len(plan.trials)} trials"
    if len(steps) == 1:
        title += f" of {steps[0]} steps"

    def build(level: int):
        with_ids = level < 1
        table = Table(title=title, title_justify="left")
        table.add_column("#", style="dim", justify="right", no_wrap=True)
        table.add_column("task", style="cyan", no_wrap=True)
        table.add_column("variant", style="bold", no_wrap=True)
        table.add_column("hyperparameters")
        table.add_column("seed", justify="right", no_wrap=True)
        if len(steps) > 1:
            table.add_column("steps", justify="right", no_wrap=True)
        if with_ids:
            table.add_column("trial id", style="dim", no_wrap=True)
        table.add_column("done", no_wrap=True)
        for n, trial in enumerate(plan.trials[:DRY_RUN_ROWS], 1):
            task = " ".join([trial.task, *(f"{k}={format_value(trial.task_params[k])}" for k in task_keys.get(trial.task, []))])
            # optional hyperparameters (warmup_steps, schedule) at their default are absent from a trial
            hps = " ".join(f"{k}={format_value(trial.hparams[k])}" for k in shown.get(trial.variant, [])
                           if k in trial.hparams)
            row = [str(n), task, trial.variant, hps or "-", str(trial.seed)]
            if len(steps) > 1:
                row.append(str(trial.steps))
            if with_ids:
                row.append(trial.trial_id)
            row.append("[green]yes[/]" if trial.trial_id in plan.done else "")
            table.add_row(*row)
        if len(plan.trials) > DRY_RUN_ROWS:
            table.add_row("...", f"and {len(plan.trials) - DRY_RUN_ROWS:,} more trials", *[""] * (len(table.columns) - 2))
        return Fitted(table, [] if with_ids else ["trial ids left out"])

    print_fitted(stdout, fit_table(stdout, build, 2))
    done, todo = len(plan.done), len(plan.trials) - len(plan.done)
    stale = (f", {len(plan.stale)} of the done made in another environment (a run needs "
             f"--rerun-stale or --accept-stale)") if plan.stale else ""
    stdout.print(f"{len(plan.trials)} trials: {done} done{stale}, {todo} to run -> {plan.results_dir}  (dry run: nothing was run)",
                 markup=False, highlight=False, soft_wrap=True)


def _varying_task_params(trials) -> dict[str, list[str]]:
    seen: dict[str, dict[str, set[str]]] = {}
    for trial in trials:
        per = seen.setdefault(trial.task, {})
        for key, value in trial.task_params.items():
            per.setdefault(key, set()).add(canonical_json(value))
    return {task: [k for k, values in per.items() if len(values) > 1] for task, per in seen.items()}
