"""`adamlab sweep CONFIG.yaml`: validate a sweep, then run its trials with a progress bar.

Thin: the library validates the file (adamlab.sweep.schema) and the flags
(adamlab.sweep.options.SweepOptions), plans and runs (adamlab.sweep.execute); this module turns
the flags into options and prints (the progress in adamlab.cli.progress, --dry-run's table in
adamlab.cli.dry_run). Importing it imports no torch.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from adamlab.cli.console import Interrupted, print_error, stderr, stdout
from adamlab.sweep.options import OptionsError, SweepOptions, stale_policy
from adamlab.sweep.values import DEFAULT_MAX_TRIALS


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
    # lazy: the sweep engine's pydantic models load for a sweep, not for `adamlab --help`
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
    try:
        options = SweepOptions(
            jobs=jobs, threads=threads, stack_size=stack_size, backend=backend.value,
            address=address, retry_failed=retry_failed,
            stale=stale_policy(rerun_stale, accept_stale), trust_folder=trust_folder,
            tensorboard=tensorboard, argv=tuple(sys.argv),
        )
    except OptionsError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from None
    if dry_run:
        from adamlab.cli.dry_run import print_dry_run  # lazy: the plan's modules, as above

        print_dry_run(sweep, options.retry_failed)
        return
    _run(sweep, _capped(options), quiet=quiet)


def _capped(options: SweepOptions) -> SweepOptions:
    """Local --jobs and --threads within what this machine allows, each cap said in one line."""
    if options.backend != "local":
        return options
    from adamlab.sweep.resources import limit_jobs_and_threads  # lazy: the engine, as in sweep()

    jobs, threads, notes = limit_jobs_and_threads(options.jobs, options.threads)
    for note in notes:
        stderr.print(f"warning: {note}", style="yellow", markup=False, highlight=False, soft_wrap=True)
    return replace(options, jobs=jobs, threads=threads)


def _run(sweep, options: SweepOptions, *, quiet: bool) -> None:
    from adamlab.cli.progress import SweepProgress  # lazy: the engine, as in sweep()
    from adamlab.sweep.execute import SweepInterrupted, run_sweep  # lazy: as in sweep()
    from adamlab.sweep.schema import SweepConfigError  # lazy: as in sweep()

    started = time.perf_counter()
    try:
        with SweepProgress(quiet) as progress, _terminate_like_ctrl_c():
            result = run_sweep(sweep, options, listener=progress)
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
    # lazy: the summary's tables need pandas, which a sweep loads only once its trials ended
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
