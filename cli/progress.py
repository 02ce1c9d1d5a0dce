"""Progress of a running sweep on stderr: a Rich bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import threading
import time

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

from adamlab.cli.console import print_error, stderr
from adamlab.sweep.trials import shown_hparams


class SweepProgress:
    """Progress of a running sweep on stderr: a Rich bar (trials done/total, the trial(s)
    running, elapsed and ETA) on a terminal; elsewhere (a pipe, a file, nohup, a batch
    scheduler's log) plain lines from `ProgressLines`."""

    def __init__(self, quiet: bool, *, live: bool | None = None, clock=time.monotonic):
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



class ProgressLines:
    """Plain progress lines for logs: one at every tenth of the sweep and, between those, at
    most one every `every_s` seconds: when a trial ends, or from a heartbeat while a long stack
    runs (so a log shows the sweep is alive), e.g.
    `sweep quickstart: 40/100 trials done (0 failed, 5 diverged), 0:00:37 elapsed, eta 0:00:55`.
    `clock` is injectable so tests need no waiting; `tick` is the heartbeat's one step."""

    def __init__(self, console, *, every_s: float = 10.0, clock=time.monotonic):
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
