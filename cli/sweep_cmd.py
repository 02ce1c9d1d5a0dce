"""`adamlab sweep CONFIG.yaml`: validate a sweep, then run its trials with a progress bar.

Thin: the library validates (adamlab.sweep.schema), plans and runs (adamlab.sweep.execute); this
module parses options and prints. No torch at import time (imports happen in the command body).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from adamlab.cli.console import Interrupted, print_error, stderr, stdout
from adamlab.sweep.values import DEFAULT_MAX_TRIALS

#: trials listed by --dry-run (a table of 10^5 rows takes minutes to draw); the count is exact
DRY_RUN_ROWS = 500


class Backend(str, Enum):
    local = "local"
    ray = "ray"


def sweep(
    config: Annotated[Path, typer.Argument(metavar="CONFIG.yaml", help="The sweep YAML file.")],
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", show_default=False,
        help="Change one key of the file (repeatable): a dotted path, a number indexes a list, "
        "the value is YAML, e.g. --set steps=60 --set seeds=3 --set optimizers.0.lr=[1e-3,1e-2]. "
        "Checked like the file; the effective sweep is saved as RESULTS_DIR/sweep.yaml.",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Results folder (default: the file's output:, else results/<name>)."
    )] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, show_default=False, metavar="N",
        help="Stacks run at once, each in its own worker process (default: 1 for sweeps too "
        "small to repay a worker's measured start-up, else one per core; capped at the cores and "
        "at what the workers' memory allows; with --backend ray, as many as the cluster's CPUs take).",
    )] = None,
    stack_size: Annotated[str | None, typer.Option(
        "--stack-size", metavar="auto|K",
        help="The most trials per stack: trials that differ only in optimizer hyperparameters "
        "train together as one stack (default: the file's stack_size:, else auto = as many as "
        "fit in the device's memory; 1 = one trial at a time).",
    )] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, metavar="T",
        help="Torch threads per trial (default: the cores other work leaves idle // jobs, 1 for "
        "small stacks; 1 with --backend ray; capped at the cores). Pin it to compare runs bit for bit.",
    )] = None,
    device: Annotated[str | None, typer.Option(
        "--device", metavar="cpu|cuda|cuda:N|auto", help="cpu, cuda, cuda:N or auto; overrides the file's device:."
    )] = None,
    backend: Annotated[Backend, typer.Option(
        "--backend", metavar="local|ray", help="Where trials run: local processes, or a Ray cluster "
        "(needs pip install 'adamlab[ray]').",
    )] = Backend.local,
    address: Annotated[str | None, typer.Option(
        "--address", metavar="ADDR",
        help="With --backend ray: the cluster's HOST:PORT, ray://HOST:PORT or auto "
        "(default: $RAY_ADDRESS, else a local Ray instance).",
    )] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the expanded trials and their count; run nothing."
    )] = False,
    retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="Run failed trials again (finished and diverged ones stay done)."
    )] = False,
    rerun_stale: Annotated[bool, typer.Option(
        "--rerun-stale", help="Run again the recorded trials made with another adamlab source, "
        "adamlab version or torch version (without this or --accept-stale such records are an error).",
    )] = False,
    accept_stale: Annotated[bool, typer.Option(
        "--accept-stale", help="Keep recorded trials made with another adamlab source, adamlab "
        "version or torch version beside this run's (noted in provenance.json).",
    )] = False,
    max_trials: Annotated[int, typer.Option(
        "--max-trials", min=1, metavar="N", help="Refuse a sweep that expands to more trials than this.",
    )] = DEFAULT_MAX_TRIALS,
    max_steps: Annotated[int | None, typer.Option(
        "--max-steps", metavar="N", min=1, show_default=False,
        help="Allow trials of up to this many steps (default: a trial may ask for at most a "
        "week of estimated work).",
    )] = None,
    trust_folder: Annotated[bool, typer.Option(
        "--trust-folder", help="Write into a results folder owned by another user or writable "
        "by every user (refused without it: links planted there could redirect the writes).",
    )] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only errors and one final line (for CI logs)."
    )] = False,
    tensorboard: Annotated[Path | None, typer.Option(
        "--tensorboard", metavar="DIR", show_default=False,
        help="Also write each trial run as a TensorBoard run under DIR (its metrics as scalars, "
        "its configuration in the HParams tab); needs pip install 'adamlab[tensorboard]'.",
    )] = None,
) -> None:
    """Run every trial of a sweep YAML (skipping those already done), then summarise.

    Example: adamlab sweep configs/quickstart.yaml --set steps=100 --set seeds=3 --jobs 2
    """
    from adamlab.sweep.schema import SweepConfigError, load_sweep

    try:
        # the optimizers are built and stepped once (preflight) only when something will run:
        # --dry-run and a sweep whose trials are all done never import torch
        sweep = load_sweep(config, device=device, max_trials=max_trials, preflight=False,
                           max_steps=max_steps, overrides=tuple(overrides or ()))
    except SweepConfigError as exc:
        for line in exc.lines:
            print_error(line)
        raise typer.Exit(1) from None
    if out is not None:
        sweep = sweep.with_output(out)
    stack_size = _stack_size_option(stack_size)
    if dry_run:
        _dry_run(sweep, retry_failed)
        return
    if backend == Backend.local:
        jobs, threads = _capped(jobs, threads)
    extra = []
    if tensorboard is not None:
        from adamlab.sweep.tensorboard_log import TensorBoardLog

        extra.append(TensorBoardLog(tensorboard))
    _run(sweep, jobs=jobs, threads=threads, retry_failed=retry_failed, quiet=quiet,
         stack_size=stack_size, backend=backend.value, address=address,
         rerun_stale=rerun_stale, accept_stale=accept_stale, trust_folder=trust_folder,
         listeners=extra)


def _stack_size_option(stack_size: str | None) -> int | str | None:
    """--stack-size as run_sweep takes it."""
    if stack_size is None or stack_size == "auto":
        return stack_size
    # str.isdigit() also takes '²' and other digits int() cannot read
    if not (stack_size.isascii() and stack_size.isdigit()) or int(stack_size) < 1:
        print_error(f"--stack-size: must be auto or an integer >= 1, got {stack_size!r}")
        raise typer.Exit(2)
    return int(stack_size)


def _capped(jobs: int | None, threads: int | None) -> tuple[int | None, int | None]:
    """--jobs and --threads within what this machine allows, each cap said in one line."""
    from adamlab.sweep.resources import limit_jobs_and_threads

    jobs, threads, notes = limit_jobs_and_threads(jobs, threads)
    for note in notes:
        stderr.print(f"warning: {note}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    return jobs, threads


# ---------------------------------------------------------------- dry run


def _dry_run(sweep, retry_failed: bool) -> None:
    from adamlab.sweep.execute import plan_sweep
    from adamlab.sweep.trials import format_value, shown_hparams

    plan = plan_sweep(sweep, retry_failed=retry_failed)
    shown = shown_hparams(sweep, plan.trials)
    task_keys = _varying_task_params(plan.trials)
    steps = sorted({t.steps for t in plan.trials})
    title = f"sweep {sweep.name}: {len(plan.trials)} trials"
    if len(steps) == 1:
        title += f" of {steps[0]} steps"

    def build(level: int):
        from adamlab.analysis.table_fit import Fitted

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

    from adamlab.analysis.table_fit import fit_table, print_fitted

    print_fitted(stdout, fit_table(stdout, build, 2))
    done, todo = len(plan.done), len(plan.trials) - len(plan.done)
    stale = (f", {len(plan.stale)} of the done made in another environment (a run needs "
             f"--rerun-stale or --accept-stale)") if plan.stale else ""
    stdout.print(f"{len(plan.trials)} trials: {done} done{stale}, {todo} to run -> {plan.results_dir}  (dry run: nothing was run)",
                 markup=False, highlight=False, soft_wrap=True)


def _varying_task_params(trials) -> dict[str, list[str]]:
    from adamlab.sweep.trials import canonical_json

    seen: dict[str, dict[str, set[str]]] = {}
    for trial in trials:
        per = seen.setdefault(trial.task, {})
        for key, value in trial.task_params.items():
            per.setdefault(key, set()).add(canonical_json(value))
    return {task: [k for k, values in per.items() if len(values) > 1] for task, per in seen.items()}


# ---------------------------------------------------------------- run


class _Progress:
    """Progress of a running sweep on stderr: a Rich bar (trials done/total, the trial(s)
    running, elapsed and ETA) on a terminal; elsewhere (a pipe, a file, nohup, a batch
    scheduler's log) plain lines from `ProgressLines`."""

    def __init__(self, quiet: bool, *, live: bool | None = None, clock=time.monotonic):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        self.quiet = quiet
        live = stderr.is_terminal if live is None else live
        # the counts and times never shrink; the sweep's name and the running trial give way
        self.progress = None if quiet or not live else Progress(
            TextColumn("[bold]{task.description}", table_column=Column(
                no_wrap=True, overflow="ellipsis", max_width=24)),
            BarColumn(bar_width=20),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(table_column=Column(no_wrap=True)),
            TextColumn("eta", table_column=Column(no_wrap=True)),
            TimeRemainingColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[current]}", style="dim", table_column=Column(
                no_wrap=True, overflow="ellipsis", ratio=1)),
            console=stderr,
            transient=False,
            expand=True,  # the running trial takes what the counts and times leave
        )
        self.lines = None if quiet or live else ProgressLines(stderr, clock=clock)
        self.task_id = None
        self.running: dict[str, str] = {}
        self.shown: dict[str, list[str]] = {}

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.lines is not None:
            self.lines.stop()

    def sweep_started(self, plan) -> None:
        from adamlab.sweep.trials import shown_hparams

        self.shown = shown_hparams(plan.sweep, plan.trials)
        if self.progress is not None:
            self.task_id = self.progress.add_task(
                plan.sweep.name, total=len(plan.trials), completed=len(plan.done), current=""
            )
        if self.lines is not None:
            self.lines.start(plan.sweep.name, total=len(plan.trials), done=len(plan.done))

    def _show_running(self) -> None:
        if self.progress is None or self.task_id is None:
            return
        labels = list(self.running.values())
        current = labels[-1] if labels else ""
        if len(labels) > 1:
            current += f" (+{len(labels) - 1} more)"
        self.progress.update(self.task_id, current=current)

    def trial_started(self, trial) -> None:
        self.running[trial.trial_id] = trial.label(self.shown)
        self._show_running()

    def trial_ended(self, trial, record) -> None:
        label = self.running.pop(trial.trial_id, trial.label(self.shown))
        if record.status == "failed":
            print_error(f"trial {trial.trial_id} ({label}) failed at step {record.steps_run}: {record.error}")
        elif record.status == "diverged" and self.progress is not None:
            self.progress.console.print(
                f"diverged: {label} at step {record.steps_run}", style="yellow", markup=False, highlight=False
            )
        if self.progress is not None and self.task_id is not None:
            self.progress.advance(self.task_id)
        if self.lines is not None:
            self.lines.ended(record.status)
        self._show_running()


class _Listeners:
    """Several sweep listeners as one, called in order."""

    def __init__(self, listeners):
        self.listeners = list(listeners)

    def sweep_started(self, plan) -> None:
        for listener in self.listeners:
            listener.sweep_started(plan)

    def trial_started(self, trial) -> None:
        for listener in self.listeners:
            listener.trial_started(trial)

    def trial_ended(self, trial, record) -> None:
        for listener in self.listeners:
            listener.trial_ended(trial, record)


class ProgressLines:
    """Plain progress lines for logs: one at every tenth of the sweep and, between those, at
    most one every `every_s` seconds: when a trial ends, or from a heartbeat while a long stack
    runs (so a log shows the sweep is alive), e.g.
    `sweep quickstart: 40/100 trials done (0 failed, 5 diverged), 0:00:37 elapsed, eta 0:00:55`.
    `clock` is injectable so tests need no waiting; `tick` is the heartbeat's one step."""

    def __init__(self, console, *, every_s: float = 10.0, clock=time.monotonic):
        import threading

        self.console = console
        self.every_s = every_s
        self.clock = clock
        self.name, self.total, self.done, self.ran = "", 0, 0, 0
        self.failed = self.diverged = 0
        self.started = self.last_line = 0.0
        self.tenth = 0
        self.running = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heart = None

    def start(self, name: str, *, total: int, done: int) -> None:
        import threading

        with self._lock:
            self.name, self.total, self.done = name, total, done
            self.started = self.last_line = self.clock()
            self.tenth = self._tenth()
            self.running = True
            self._print()
        self._heart = threading.Thread(target=self._beat, name="adamlab-progress", daemon=True)
        self._heart.start()

    def stop(self) -> None:
        self._stop.set()
        if self._heart is not None:
            self._heart.join()

    def ended(self, status: str) -> None:
        with self._lock:
            self.done += 1
            self.ran += 1
            self.failed += status == "failed"
            self.diverged += status == "diverged"
            now = self.clock()
            tenth = self._tenth()
            if tenth > self.tenth or now - self.last_line >= self.every_s or self.done == self.total:
                self.tenth = tenth
                self.last_line = now
                self._print()
            self.running = self.done < self.total

    def tick(self) -> None:
        """A line when none came for `every_s` while trials still run."""
        with self._lock:
            now = self.clock()
            if self.running and now - self.last_line >= self.every_s:
                self.last_line = now
                self._print()

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self.every_s)):
            self.tick()

    def _tenth(self) -> int:
        return 10 * self.done // self.total if self.total else 10

    def line(self) -> str:
        elapsed = self.clock() - self.started
        left = self.total - self.done
        eta = _clock_text(elapsed / self.ran * left) if self.ran else "?"
        return (f"sweep {self.name}: {self.done}/{self.total} trials done ({self.failed} failed, "
                f"{self.diverged} diverged), {_clock_text(elapsed)} elapsed, eta {eta}")

    def _print(self) -> None:
        self.console.print(self.line(), markup=False, highlight=False, soft_wrap=True)
        self.console.file.flush()


def _clock_text(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _run(sweep, *, jobs: int | None, threads: int | None, retry_failed: bool, quiet: bool,
         stack_size: int | str | None = None, backend: str = "local", address: str | None = None,
         rerun_stale: bool = False, accept_stale: bool = False, trust_folder: bool = False,
         listeners=()) -> None:
    from adamlab.sweep.execute import SweepInterrupted, run_sweep
    from adamlab.sweep.schema import SweepConfigError

    started = time.perf_counter()
    try:
        with _Progress(quiet) as progress, _terminate_like_ctrl_c():
            result = run_sweep(sweep, jobs=jobs, threads=threads, retry_failed=retry_failed,
                               listener=_Listeners([progress, *listeners]), argv=sys.argv, stack_size=stack_size,
                               backend=backend, address=address, rerun_stale=rerun_stale,
                               accept_stale=accept_stale, trust_folder=trust_folder)
    except SweepConfigError as exc:  # an optimizer entry that fails its one step (preflight)
        for line in exc.lines:
            print_error(line)
        raise typer.Exit(1) from None
    except SweepInterrupted as exc:
        partial = exc.result
        _print_notices(partial)
        raise Interrupted(
            f"interrupted: {len(partial.records)} trial(s) ended this run, "
            f"{len(partial.plan.done) + len(partial.records)} of {len(partial.plan.trials)} done in all; "
            f"kept in {partial.results_dir} (tables rebuilt): run the same command again to resume"
        ) from None
    try:
        _print_notices(result)
        if not quiet:
            _print_summary(result)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted while printing the summary; the sweep had ended, its "
                          f"results are complete in {result.results_dir}") from None
    stdout.print(_final_line(result, time.perf_counter() - started), markup=False, highlight=False, soft_wrap=True)
    if result.counts()["failed"]:  # a failed trial is a failed sweep, for scripts and CI
        raise typer.Exit(1)


@contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (a job scheduler's stop, `kill`) stops the sweep as cleanly as Ctrl-C."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (the CLI called from a library thread)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_notices(result) -> None:
    for notice in result.notices:
        stderr.print(notice, style="yellow", markup=False, highlight=False, soft_wrap=True)


def _print_summary(result) -> None:
    """THE single call site of the results summary after a sweep (issue 6's code)."""
    from adamlab.analysis.render import print_summary

    print_summary(result.results_dir, stdout, results=result.tables)


def _final_line(result, seconds: float) -> str:
    counts = result.counts()
    ran = len(result.records)
    detail = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    parts = [f"{ran} run" + (f" ({detail})" if detail else "")]
    if result.plan.done:
        parts.append(f"{len(result.plan.done)} already done")
    line = (
        f"sweep {result.plan.sweep.name}: {len(result.plan.trials)} trials, {', '.join(parts)} "
        f"in {seconds:.1f} s -> {result.results_dir}"
    )
    failed = counts["failed"] + len(result.plan.failed & result.plan.done)
    if failed:
        line += f"; {failed} failed: see errors/, fix, then run again with --retry-failed"
    return line
