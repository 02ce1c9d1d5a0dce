"""Run a sweep's pending trials into its results folder: in this process or in a pool of workers.

- Trials already recorded in the folder are skipped; the rest run in sweep order.
- With `batch_trials` K > 1 (issue 8), pending trials that differ only in optimizer
  hyperparameters run as stacks of up to K members in one training (adamlab.sweep.stacking);
  a stack is a unit of work like a single trial, and still ends in one record per trial.
- `jobs > 1` runs trials in that many worker processes ('spawn': forking a process that has
  loaded torch is unsafe), each with torch threads = cores // jobs so the workers together never
  oversubscribe the machine. Every trial seeds everything from its own seed, so results do not
  depend on which worker ran it or in what order (`--jobs 2` == `--jobs 1`). One caveat: torch's
  CPU reductions over large tensors (>= 32k elements) split the work by thread count, so a trial
  run with 1 thread and with 2 may differ in the last bits of such sums (seen on mnist_mlp in the
  optimizer diagnostics only). `threads=` pins the count for bit-identical runs across `jobs`.
- Workers return records; the parent writes each one atomically as soon as it arrives. So a
  record exists only for a trial that ended, and killing the sweep at any moment (Ctrl-C, kill -9)
  loses nothing finished and duplicates nothing: the next run re-runs exactly the missing trials.
- Ctrl-C: workers ignore SIGINT; the parent stops them, keeps what finished, rebuilds the tables
  and raises `SweepInterrupted`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adamlab.errors import AdamlabError
from adamlab.store import layout
from adamlab.store.layout import ResultsFolder
from adamlab.store.records import TrialRecord
from adamlab.sweep import provenance
from adamlab.sweep.runner import TrialOutcome
from adamlab.sweep.schema import Sweep
from adamlab.sweep.stacking import plan_units, run_unit
from adamlab.sweep.trials import Trial, expand_trials


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    return max(1, available_cores() // jobs)


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

    @property
    def results_dir(self) -> Path:
        return self.plan.results_dir

    def counts(self) -> dict[str, int]:
        counts = {"finished": 0, "diverged": 0, "failed": 0}
        for record in self.records:
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts


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
    from adamlab.store.staleness import survey
    from adamlab.sweep.environment import capture_environment

    trials = expand_trials(sweep)
    plan = SweepPlan(sweep, trials, set())
    if (sweep.output / layout.MANIFEST).exists():
        layout.read_manifest(sweep.output)  # a folder from a newer adamlab is an error here too
        folder = ResultsFolder(sweep.output)
        recorded = folder.finished_ids() & {t.trial_id for t in trials}
        plan.stale, plan.failed = survey(folder, recorded, capture_environment())
        plan.done = recorded - plan.failed if retry_failed else recorded
        plan.stale = {tid: env for tid, env in plan.stale.items() if tid in plan.done}
    return plan


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
    from adamlab.tasks.registry import load_task

    out = {}
    for name in dict.fromkeys(t.task for t in plan.trials):
        cls = load_task(name)
        out[name] = {"primary_metric": cls.primary_metric, "metric_goals": dict(cls.metric_goals)}
    return out


def run_sweep(
    sweep: Sweep,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    retry_failed: bool = False,
    listener: SweepListener | None = None,
    argv: list[str] | None = None,
    batch_trials: int | None = None,
    backend: str = "local",
    address: str | None = None,
    rerun_stale: bool = False,
    accept_stale: bool = False,
) -> SweepResult:
    """Run every pending trial of `sweep` into `sweep.output`; see the module docstring.

    `threads`: torch threads per trial (default: cores // jobs, at least 1).
    `batch_trials`: trials stacked in one training (issue 8; default: the sweep's batch_trials).
    Stacks are units of work like single trials (see adamlab.sweep.stacking).
    `backend`: "local" (this process, or `jobs` worker processes; `jobs` default 1) or "ray"
    (units as Ray tasks on the cluster at `address`, default a local instance; `jobs` default:
    what the cluster takes; see adamlab.sweep.ray_backend).
    `rerun_stale` / `accept_stale`: what to do with records made in another environment
    (adamlab.store.staleness); without either such records are an error and nothing runs.
    """
    if jobs is not None and jobs < 1:
        raise AdamlabError(f"--jobs: must be >= 1, got {jobs}")
    batch_trials = sweep.batch_trials if batch_trials is None else batch_trials
    if batch_trials < 1:
        raise AdamlabError(f"--batch-trials: must be >= 1, got {batch_trials}")
    if threads is not None and threads < 1:
        raise AdamlabError(f"--threads: must be >= 1, got {threads}")
    if backend not in ("local", "ray"):
        raise AdamlabError(f"--backend: must be local or ray, got {backend!r}")
    if address is not None and backend != "ray":
        raise AdamlabError(f"--address {address}: a Ray cluster address; it needs --backend ray")
    if rerun_stale and accept_stale:
        raise AdamlabError("--rerun-stale and --accept-stale: give one of them, not both")
    # before the folder opens: stale records (or no Ray, or a bad address) leave no trace
    plan = plan_sweep(sweep, retry_failed=retry_failed)
    stale_note = _settle_stale(plan, rerun_stale, accept_stale)
    result = SweepResult(plan)
    cluster = None
    if backend == "ray":
        from adamlab.sweep.ray_backend import RayBackend, import_ray

        import_ray()
        if plan.pending:  # else no cluster to start
            cluster = RayBackend.connect(address, jobs=jobs, threads=threads, device_type=sweep.device_type)
            jobs, threads = cluster.jobs, cluster.threads
    jobs = jobs or 1
    threads = threads or threads_per_job(jobs)
    started = time.perf_counter()
    with cluster or nullcontext(), ResultsFolder(sweep.output) as folder:
        folder.open(
            sweep_name=sweep.name,
            trial_ids=[t.trial_id for t in plan.trials],
            sweep_yaml=sweep.to_yaml(),
            extra={"tasks": _task_metadata(plan)},
        )
        plan.done = _done_ids(folder, plan.trials, retry_failed)
        if rerun_stale:
            plan.done -= set(plan.stale)
        pending = plan.pending
        run_info = provenance.start_run(
            folder.read_provenance(), device=sweep.device, started=layout.now_iso(), argv=argv,
            jobs=jobs, threads=threads, to_run=len(pending), skipped=len(plan.done),
        )
        run_info["runs"][-1].update(stale_note)
        if cluster is not None:
            run_info["runs"][-1].update(cluster.provenance())
        folder.write_provenance(run_info)
        if listener is not None:
            listener.sweep_started(plan)

        def started_trial(trial: Trial) -> None:
            if listener is not None:
                listener.trial_started(trial)

        def ended_trial(trial: Trial, outcome: TrialOutcome) -> None:
            folder.write_record(outcome.record, outcome.traceback)
            result.records.append(outcome.record)
            if listener is not None:
                listener.trial_ended(trial, outcome.record)

        outcome_name = "crashed"
        try:
            work = plan_units(pending, batch_trials, jobs=jobs)
            if cluster is not None:
                execute = cluster.run_units
            else:
                execute = _run_in_process if jobs == 1 else _run_in_pool
            execute(work.units, sweep.name, jobs, threads, started_trial, ended_trial)
            outcome_name = "completed"
        except KeyboardInterrupt:
            outcome_name = "interrupted"
            result.interrupted = True
        finally:
            result.wall_time_s = time.perf_counter() - started
            folder.write_provenance(provenance.end_run(
                run_info, ended=layout.now_iso(), outcome=outcome_name, trials_run=len(result.records),
            ))
            if outcome_name == "crashed":  # keep the tables true to the records, but never mask the error
                with suppress(Exception):
                    layout.rebuild_tables(folder.path)
        # Every run ends by deriving the tables from the records (layout.rebuild_tables, the one
        # hook into issue 6's adamlab.store.tables).
        result.tables = layout.rebuild_tables(folder.path)
    if result.interrupted:
        raise SweepInterrupted(result)
    return result


# ---------------------------------------------------------------- executors

Started = Callable[[Trial], None]
Ended = Callable[[Trial, TrialOutcome], None]


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_in_process(
    units: list[list[Trial]], sweep_name: str, jobs: int, threads: int, started: Started, ended: Ended
) -> None:
    with _torch_threads(threads):
        for unit in units:
            for trial in unit:
                started(trial)
            for trial, outcome in zip(unit, run_unit(unit, sweep_name), strict=True):
                ended(trial, outcome)


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


def _run_in_pool(
    units: list[list[Trial]], sweep_name: str, jobs: int, threads: int, started: Started, ended: Ended
) -> None:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    if not units:
        return
    jobs = min(jobs, len(units))
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    )
    queue = iter(units)
    running: dict = {}

    def submit_next() -> None:
        unit = next(queue, None)
        if unit is not None:
            running[pool.submit(run_unit, unit, sweep_name)] = unit
            for trial in unit:
                started(trial)

    try:
        for _ in range(jobs):  # one unit per worker in flight: "started" means running
            submit_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                unit = running.pop(future)
                try:
                    outcomes = future.result()
                except BrokenProcessPool:
                    lost = ", ".join(t.trial_id for u in (unit, *running.values()) for t in u)
                    raise AdamlabError(
                        f"a worker process died (killed, out of memory, or a crash in native code) "
                        f"while running trial(s) {lost}; finished trials are kept: re-run to resume, "
                        f"or run with --jobs 1 to see the error"
                    ) from None
                for trial, outcome in zip(unit, outcomes, strict=True):
                    ended(trial, outcome)
                submit_next()
    except BaseException:
        _stop_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
