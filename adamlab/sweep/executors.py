"""Where a sweep's stacks run, behind one protocol (`Executor`), and the one loop that feeds
them (`drive`): this process (`InProcess`), a pool of spawned worker processes (`ProcessPool`),
or Ray (adamlab.sweep.ray_backend.RayExecutor).

Workers are started with 'spawn' (forking a process that has loaded torch is unsafe), ignore
Ctrl-C (the sweep's process stops them) and exit when the sweep's process dies, even by kill -9
(adamlab.sweep.parent_watch).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any, Protocol

from adamlab.errors import AdamlabError
from adamlab.sweep.parent_watch import exit_with_parent
from adamlab.sweep.runner import TrialOutcome, run_stack
from adamlab.sweep.trials import Trial

Started = Callable[[Trial], None]
Ended = Callable[[Trial, TrialOutcome], None]


class Executor(Protocol):
    """Where stacks run: `submit` starts one, `wait` returns the handles of those that ended
    (possibly none, after a while), `result` their outcomes (or raises AdamlabError naming the
    `lost` trials), `stop` drops what is in flight. A context manager."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc) -> None: ...

    def submit(self, stack: list[Trial]) -> Any: ...

    def wait(self, handles: list[Any]) -> list[Any]: ...

    def result(self, handle: Any, lost: list[Trial]) -> list[TrialOutcome]: ...

    def stop(self, handles: list[Any]) -> None: ...


def drive(stacks: list[list[Trial]], jobs: int, executor: Executor, started: Started, ended: Ended) -> None:
    """The one executor loop: `jobs` stacks in flight ("started" means running), the next one
    submitted as each returns; `ended` hears each trial, in its stack's order, as its stack
    returns. On any error or Ctrl-C, what is in flight is stopped and leaves nothing."""
    queue = iter(stacks)
    running: dict[Any, list[Trial]] = {}

    def submit_next() -> None:
        stack = next(queue, None)
        if stack is not None:
            for trial in stack:
                started(trial)
            running[executor.submit(stack)] = stack

    try:
        for _ in range(min(jobs, len(stacks))):
            submit_next()
        while running:
            for handle in executor.wait(list(running)):
                stack = running.pop(handle)
                lost = [t for s in (stack, *running.values()) for t in s]
                outcomes = executor.result(handle, lost)
                for trial, outcome in zip(stack, outcomes, strict=True):
                    ended(trial, outcome)
                submit_next()
    except BaseException:
        executor.stop(list(running))
        raise


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    # lazy: a sweep with nothing left to run builds an executor but never imports torch
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class InProcess:
    """Stacks run in this process, one at a time, with `threads` torch threads."""

    def __init__(self, sweep_name: str, threads: int):
        self.sweep_name, self.threads = sweep_name, threads
        self._pending: dict[int, list[Trial]] = {}
        self._threads = None

    def __enter__(self) -> InProcess:
        self._threads = _torch_threads(self.threads)
        self._threads.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._threads.__exit__(*exc)

    def submit(self, stack: list[Trial]) -> int:
        handle = len(self._pending)
        self._pending[handle] = stack
        return handle

    def wait(self, handles: list[int]) -> list[int]:
        return handles[:1]

    def result(self, handle: int, lost: list[Trial]) -> list[TrialOutcome]:
        return run_stack(self._pending.pop(handle), self.sweep_name)

    def stop(self, handles: list[int]) -> None:
        self._pending.clear()


def _init_worker(threads: int, sweep_pid: int) -> None:
    exit_with_parent(sweep_pid)  # kill -9 of the sweep must not leave its workers behind
    # Ctrl-C reaches the whole process group; only the parent handles it (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # lazy: the worker sets its threads before its first stack imports the training loop
    import torch

    torch.set_num_threads(threads)


def _stop_workers(pool) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


class ProcessPool:
    """Stacks run in `jobs` spawned worker processes with `threads` torch threads each; a worker
    exits when the sweep's process dies, even by kill -9 (adamlab.sweep.parent_watch)."""

    def __init__(self, sweep_name: str, jobs: int, threads: int):
        self.sweep_name, self.jobs, self.threads = sweep_name, jobs, threads
        self._pool = None

    def __enter__(self) -> ProcessPool:
        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads, os.getpid()),
        )
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            # every stack's outcome is in: a worker's own exit would tear down its interpreter
            # (0.6-0.8 s with torch loaded, on the sweep's critical path), so it is ended now
            _stop_workers(self._pool)
            self._pool.shutdown(wait=True)

    def submit(self, stack: list[Trial]):
        return self._pool.submit(run_stack, stack, self.sweep_name)

    def wait(self, handles: list) -> list:
        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle, lost: list[Trial]) -> list[TrialOutcome]:
        try:
            return handle.result()
        except BrokenProcessPool:
            raise AdamlabError(
                f"a worker process died (killed, out of memory, or a crash in native code) "
                f"while running trial(s) {', '.join(t.trial_id for t in lost)}; finished trials "
                f"are kept: re-run to resume, or run with --jobs 1 to see the error"
            ) from None

    def stop(self, handles: list) -> None:
        _stop_workers(self._pool)
        self._pool.shutdown(wait=False, cancel_futures=True)
