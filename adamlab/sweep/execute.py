"""Run a sweep's pending trials into its results folder: in this process or in a pool of workers.

- Trials already recorded in the folder are skipped; the rest run in sweep order.
- Every trial runs in a stack (adamlab.sweep.stacking): pending trials that differ only in
  optimizer hyperparameters share one training of K members, K chosen automatically to fit the
  device's memory unless `stack_size` caps it (1: every trial alone). A stack is what is handed out,
  and still ends in one record per trial.
- `jobs`: by default one process for sweeps whose estimated work would not repay a worker's
  start-up, else one worker per core (adamlab.sweep.resources, which also caps `jobs` and
  `threads` at what the cores and the memory allow). `jobs > 1` runs stacks in that many worker
  processes ('spawn': forking a process that has
  loaded torch is unsafe), each with torch threads = idle cores // jobs by default, so the
  workers together do not oversubscribe the machine. Every trial seeds everything from its own seed, so results do not
  depend on which worker ran it or in what order (`--jobs 2` == `--jobs 1`). One caveat: torch's
  CPU reductions over large tensors (>= 32k elements) split the work by thread count, so a trial
  run with 1 thread and with 2 may differ in the last bits of such sums (seen on mnist_mlp in the
  optimizer diagnostics only). `threads=` pins the count for bit-identical runs across `jobs`.
- Workers return records; the parent writes each one atomically as soon as it arrives. So a
  record exists only for a trial that ended, and killing the sweep at any moment (Ctrl-C, kill -9)
  loses nothing finished and duplicates nothing: the next run re-runs exactly the missing trials.
- Ctrl-C: workers ignore SIGINT; the parent stops them, keeps what finished, rebuilds the tables
  and raises `SweepInterrupted`.
- One executor loop (`drive`) hands stacks out and collects their outcomes, whichever backend
  runs them: this process, a local process pool, or Ray (adamlab.sweep.ray_backend).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adamlab.errors import AdamlabError
from adamlab.experiments.registry import store_criteria
from adamlab.host import available_cores
from adamlab.store import layout
from adamlab.store.layout import ResultsFolder
from adamlab.store.records import TrialRecord
from adamlab.sweep import provenance
from adamlab.sweep.resources import (
    auto_jobs,
    auto_threads,
    limit_jobs_and_threads,
    measure_worker_startup,
)
from adamlab.sweep.runner import TrialOutcome, run_stack
from adamlab.sweep.schema import Sweep
from adamlab.sweep.stacking import plan_stacks
from adamlab.sweep.trials import Trial, expand_trials

logger = logging.getLogger("adamlab.sweep")

class SweepListener(Protocol):
    """What a front end (the CLI's progress bar) hears while a sweep runs."""

    def sweep_started(self, plan: SweepPlan) -> None: ...

    def trial_started(self, trial: Trial) -> None: ...

    def trial_ended(self, trial: Trial, record: TrialRecord) -> None: ...


@dataclass
class SweepPlan:
    sweep: Sweep
    #: every trial of the sweep, in order
    trials: list[Trial]
    #: ids that already have a record (and will be skipped)
    done: set[str]
    #: recorded trials made in another environment: {trial id: that environment, described}
    stale: dict[str, str] = field(default_factory=dict)
    #: of `done`, the failed ones (skipped unless --retry-failed)
    failed: set[str] = field(default_factory=set)
    #: the recorded ids whose records were read and checked (identity, environment, data)
    surveyed: set[str] = field(default_factory=set)

    @property
    def pending(self) -> list[Trial]:
        return [t for t in self.trials if t.trial_id not in self.done]

    @property
    def results_dir(self) -> Path:
        return self.sweep.output


@dataclass
class SweepResult:
    plan: SweepPlan
    #: records of the trials this run ran, in the order they ended
    records: list[TrialRecord] = field(default_factory=list)
    wall_time_s: float = 0.0
    interrupted: bool = False
    #: what the tables step returned (adamlab.store.tables.Results), for the summary
    tables: Any = None
    #: what the user should hear about the folder (an unreadable provenance.json moved aside)
    notices: list[str] = field(default_factory=list)

    @property
    def results_dir(self) -> Path:
        return self.plan.results_dir

    def counts(self) -> dict[str, int]:
        counts = {"finished": 0, "diverged": 0, "failed": 0}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def __repr__(self) -> str:
        ran = ", ".join(f"{n} {status}" for status, n in self.counts().items() if n) or "none"
        return (f"SweepResult({self.plan.sweep.name}: {len(self.plan.trials)} trials, "
                f"{len(self.records)} run ({ran}), {len(self.plan.done)} already done -> "
                f"{self.results_dir})")


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: what finished is on disk; `result` says how far it got."""

    def __init__(self, result: SweepResult):
        super().__init__()
        self.result = result


def _done_ids(folder: ResultsFolder, trials: list[Trial], retry_failed: bool) -> set[str]:
    done = folder.finished_ids() & {t.trial_id for t in trials}
    if retry_failed:
        done -= folder.failed_ids(done)
    return done


def plan_sweep(sweep: Sweep, *, retry_failed: bool = False) -> SweepPlan:
    """The sweep's trials, which are already done and which of those are stale (made in another
    environment), without writing anything (for --dry-run, and before a run opens the folder)."""
    trials = expand_trials(sweep)
    plan = SweepPlan(sweep, trials, set())
    if (sweep.output / layout.MANIFEST).exists():
        # a folder from a newer adamlab, or another sweep's, is an error here too
        layout.check_owner(sweep.output, layout.read_manifest(sweep.output), sweep.name)
        folder = ResultsFolder(sweep.output)
        recorded = folder.finished_ids() & {t.trial_id for t in trials}
        _survey(plan, folder, recorded)
        plan.done = recorded - plan.failed if retry_failed else recorded
        plan.stale = {tid: env for tid, env in plan.stale.items() if tid in plan.done}
    return plan


def _survey(plan: SweepPlan, folder: ResultsFolder, ids: set[str]) -> dict[str, str]:
    """Read and check the records of `ids` (adamlab.store.staleness.survey) into the plan; the
    stale ones among them."""
    from adamlab.store.staleness import survey
    from adamlab.sweep.environment import capture_environment, data_hash_of

    by_id = {t.trial_id: t for t in plan.trials}
    stale, failed = survey(
        folder, ids, capture_environment(),
        identities={tid: by_id[tid].identity() for tid in ids if tid in by_id},
        data_hash=lambda record: data_hash_of(
            record.task, record.task_params, record.task_target,
            by_id[record.trial_id].folder if record.trial_id in by_id else None,
        ),
    )
    plan.stale.update(stale)
    plan.failed |= failed
    plan.surveyed |= ids
    return stale


def _survey_newcomers(plan: SweepPlan, folder: ResultsFolder, retry_failed: bool,
                      rerun_stale: bool, accept_stale: bool, stale_note: dict[str, Any]) -> None:
    """With the folder locked: check the records that appeared since the plan was made (another
    sweep wrote them meanwhile) as the plan's were, and settle their staleness the same way."""
    recorded = folder.finished_ids() & {t.trial_id for t in plan.trials}
    new = _survey(plan, folder, recorded - plan.surveyed)
    if retry_failed:  # failed records run again: their environment does not matter
        plan.stale = {tid: env for tid, env in plan.stale.items() if tid not in plan.failed}
        new = {tid: env for tid, env in new.items() if tid not in plan.failed}
    if new:
        stale_note.clear()
        stale_note.update(_settle_stale(plan, rerun_stale, accept_stale))


def _settle_stale(plan: SweepPlan, rerun_stale: bool, accept_stale: bool) -> dict[str, Any]:
    """Refuse to mix stale records with this run's unless told what to do; what was done, for
    the run's provenance entry."""
    from adamlab.store.staleness import refuse_stale
    from adamlab.sweep.environment import capture_environment

    if not plan.stale:
        return {}
    if rerun_stale:
        plan.done -= set(plan.stale)
        return {"stale_rerun": len(plan.stale)}
    if accept_stale:
        return {"stale_accepted": {
            "count": len(plan.stale), "environments": sorted(set(plan.stale.values())),
            "trial_ids": sorted(plan.stale),
        }}
    raise refuse_stale(str(plan.results_dir), plan.stale, capture_environment())


def _task_metadata(plan: SweepPlan) -> dict[str, dict[str, Any]]:
    """What the results folder records of each task: its goals, primary metric, which validation
    metric selects each reported one, its loss, where it came from (the analysis reads these)."""
    from adamlab.tasks.registry import task_spec

    out = {}
    for trial in plan.trials:
        if trial.task not in out:
            spec = task_spec(trial.task, trial.task_target, trial.folder)
            out[trial.task] = {**spec.describe(), **({"target": trial.task_target} if trial.task_target else {})}
    return out


def run_sweep(
    sweep: Sweep,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    listener: SweepListener | None = None,
    argv: list[str] | None = None,
    stack_size: int | str | None = None,
    backend: str = "local",
    address: str | None = None,
    rerun_stale: bool = False,
    accept_stale: bool = False,
    trust_folder: bool = False,
) -> SweepResult:
    """Run every pending trial of `sweep` into `sweep.output`; see the module docstring.

    `threads`: torch threads per stack (default `auto_threads`: idle cores // jobs, at least 1; 1
    for sweeps of small stacks).
    `stack_size`: the most trials per stack, or "auto" (default: the sweep's stack_size).
    `backend`: "local" (this process, or `jobs` worker processes; `jobs` default `auto_jobs`) or "ray"
    (stacks as Ray tasks on the cluster at `address`, default a local instance; `jobs` default:
    what the cluster takes; see adamlab.sweep.ray_backend).
    `rerun_stale` / `accept_stale`: what to do with records made in another environment
    (adamlab.store.staleness); without either such records are an error and nothing runs.
    `trust_folder`: write into a results folder owned by another user or writable by all.
    """
    if jobs is not None and jobs < 1:
        raise AdamlabError(f"--jobs: must be >= 1, got {jobs}")
    if stack_size == "auto":
        stack_size = None
    elif stack_size is None:
        stack_size = sweep.stack_size
    elif not isinstance(stack_size, int) or stack_size < 1:
        raise AdamlabError(f"--stack-size: must be auto or an integer >= 1, got {stack_size!r}")
    if threads is not None and threads < 1:
        raise AdamlabError(f"--threads: must be >= 1, got {threads}")
    if backend not in ("local", "ray"):
        raise AdamlabError(f"--backend: must be local or ray, got {backend!r}")
    if address is not None and backend != "ray":
        raise AdamlabError(f"--address {address}: a Ray cluster address; it needs --backend ray")
    if rerun_stale and accept_stale:
        raise AdamlabError("--rerun-stale and --accept-stale: give one of them, not both")
    if backend == "local":
        jobs, threads, notes = limit_jobs_and_threads(jobs, threads)
        for note in notes:
            logger.warning("%s", note)
    # before the folder opens: stale records (or no Ray, or a bad address) leave no trace
    plan = plan_sweep(sweep, retry_failed=retry_failed)
    stale_note = _settle_stale(plan, rerun_stale, accept_stale)
    # a run imports torch here (a sweep with nothing left to run never does): timing that import
    # tells automatic jobs what a worker's start-up costs on this machine now
    worker_startup_s = measure_worker_startup() if plan.pending else None
    if plan.pending and not sweep.optimizers_checked:
        from adamlab.sweep.schema import check_optimizers

        check_optimizers(sweep)  # before anything runs or is written
    if plan.pending:
        from adamlab.sweep.preflight import check_task_data

        check_task_data(sweep)  # missing data: refused here, so no trial fails for it
    result = SweepResult(plan)
    cluster = None
    if backend == "ray":
        from adamlab.sweep.ray_backend import RayBackend, import_ray

        import_ray()
        if plan.pending:  # else no cluster to start
            cluster = RayBackend.connect(address, jobs=jobs, threads=threads, device_type=sweep.device_type)
            jobs, threads = cluster.jobs, cluster.threads
    auto = jobs is None
    started = time.perf_counter()
    with cluster or nullcontext(), ResultsFolder(sweep.output, trust_folder=trust_folder) as folder:
        with _interrupts_deferred() as early:  # a Ctrl-C here is raised in the try below
            folder.open(
                sweep_name=sweep.name,
                trial_ids=[t.trial_id for t in plan.trials],
                sweep_yaml=sweep.to_yaml(),
                extra={"tasks": _task_metadata(plan)},
                before_writing=lambda: _survey_newcomers(
                    plan, folder, retry_failed, rerun_stale, accept_stale, stale_note),
            )
            store_criteria(folder.path, sweep.name)
        run_info: dict[str, Any] | None = None
        outcome_name = "crashed"
        try:
            if early:
                raise KeyboardInterrupt
            plan.done = _done_ids(folder, plan.trials, retry_failed)
            if rerun_stale:
                plan.done -= set(plan.stale)
            pending = plan.pending
            work = plan_stacks(pending, stack_size, jobs=jobs or 1)
            if auto:
                jobs = auto_jobs(work, available_cores(), worker_startup_s)
                if jobs > 1:
                    work = plan_stacks(pending, stack_size, jobs=jobs)
            threads = threads or auto_threads(work, jobs)
            history = folder.read_provenance()
            result.notices.extend(folder.notices)
            run_info = provenance.start_run(
                history, device=sweep.device, started=layout.now_iso(), argv=argv,
                jobs=jobs, threads=threads, to_run=len(pending), skipped=len(plan.done),
            )
            run_info["runs"][-1].update(stale_note)
            if "previous_provenance_moved_to" in history:  # an unreadable history, kept aside
                run_info["runs"][-1]["previous_provenance_moved_to"] = history["previous_provenance_moved_to"]
            if cluster is not None:
                run_info["runs"][-1].update(cluster.provenance())
            folder.write_provenance(run_info)
            if listener is not None:
                listener.sweep_started(plan)

            def started_trial(trial: Trial) -> None:
                if listener is not None:
                    listener.trial_started(trial)

            def ended_trial(trial: Trial, outcome: TrialOutcome) -> None:
                # a Ctrl-C waits until the record is written and counted
                with _interrupts_deferred() as came:
                    folder.write_record(outcome.record, outcome.traceback)
                    result.records.append(outcome.record)
                    # kept current, so a run killed with kill -9 still says how many trials it ran
                    run_info["runs"][-1]["trials_run"] = len(result.records)
                    folder.write_provenance(run_info, sync=False)
                if came:
                    raise KeyboardInterrupt
                if listener is not None:
                    listener.trial_ended(trial, outcome.record)

            if cluster is not None:
                backend_here = cluster.executor(sweep.name, threads)
            elif jobs == 1:
                backend_here = InProcess(sweep.name, threads)
            else:
                backend_here = ProcessPool(sweep.name, jobs, threads)
            if work.stacks:  # nothing to run: no executor, so no torch
                with backend_here:
                    drive(work.stacks, jobs, backend_here, started_trial, ended_trial)
            outcome_name = "completed"
        except KeyboardInterrupt:
            outcome_name = "interrupted"
            result.interrupted = True
        finally:
            # however often Ctrl-C is pressed now, the run's end is recorded and the tables rebuilt
            with _interrupts_deferred():
                result.wall_time_s = time.perf_counter() - started
                if run_info is None and outcome_name == "interrupted":  # stopped before its entry was written
                    run_info = provenance.start_run(
                        folder.read_provenance(), device=sweep.device, started=layout.now_iso(),
                        argv=argv, jobs=jobs, threads=threads, to_run=len(plan.pending),
                        skipped=len(plan.done),
                    )
                    result.notices.extend(n for n in folder.notices if n not in result.notices)
                if run_info is not None:
                    folder.write_provenance(provenance.end_run(
                        run_info, ended=layout.now_iso(), outcome=outcome_name,
                        trials_run=len(result.records),
                    ))
                if outcome_name == "crashed":  # keep the tables true to the records, but never mask the error
                    with suppress(Exception):
                        layout.rebuild_tables(folder.path)
                else:
                    # Every run ends by deriving the tables from the records (layout.rebuild_tables,
                    # the one hook into issue 6's adamlab.store.tables).
                    result.tables = layout.rebuild_tables(folder.path)
    if result.interrupted:
        raise SweepInterrupted(result)
    return result


@contextmanager
def _interrupts_deferred() -> Iterator[list[int]]:
    """Ctrl-C (and SIGTERM) during the block are noted in the list it yields, not raised, so
    what the block writes is written whole."""
    came: list[int] = []

    def note(signum, frame) -> None:
        came.append(signum)

    try:
        previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not ours to handle
        yield came
        return
    try:
        yield came
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- executors

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
    from adamlab.sweep.parent_watch import exit_with_parent

    exit_with_parent(sweep_pid)  # kill -9 of the sweep must not leave its workers behind
    # Ctrl-C reaches the whole process group; only the parent handles it (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(
            max_workers=self.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads, os.getpid()),
        )
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self._pool.shutdown(wait=True)

    def submit(self, stack: list[Trial]):
        return self._pool.submit(run_stack, stack, self.sweep_name)

    def wait(self, handles: list) -> list:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, return_when=FIRST_COMPLETED)
        return [h for h in handles if h in done]

    def result(self, handle, lost: list[Trial]) -> list[TrialOutcome]:
        from concurrent.futures.process import BrokenProcessPool

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
