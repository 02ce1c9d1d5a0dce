"""Run a sweep's pending trials into its results folder: in this process or in a pool of workers.

- Trials already recorded in the folder are skipped; the rest run in sweep order
  (adamlab.sweep.sweep_plan says which, and settles records made in another environment).
- Every trial runs in a stack (adamlab.sweep.stacking): pending trials that differ only in
  optimizer hyperparameters share one training of K members, K chosen automatically to fit the
  device's memory unless `stack_size` caps it (1: every trial alone). A stack is what is handed out,
  and still ends in one record per trial.
- `jobs`: by default one process for sweeps whose estimated work would not repay a worker's
  start-up, else one worker per core (adamlab.sweep.resources, which also caps `jobs` and
  `threads` at what the cores and the memory allow). `jobs > 1` runs stacks in that many worker
  processes (adamlab.sweep.executors), each with torch threads = idle cores // jobs by default,
  so the workers together do not oversubscribe the machine. Every trial seeds everything from
  its own seed, so results do not depend on which worker ran it or in what order (`--jobs 2` ==
  `--jobs 1`). One caveat: torch's CPU reductions over large tensors (>= 32k elements) split the
  work by thread count, so a trial run with 1 thread and with 2 may differ in the last bits of
  such sums (seen on mnist_mlp in the optimizer diagnostics only). `threads=` pins the count for
  bit-identical runs across `jobs`.
- Workers return records; the parent writes each one atomically as soon as it arrives. So a
  record exists only for a trial that ended, and killing the sweep at any moment (Ctrl-C, kill -9)
  loses nothing finished and duplicates nothing: the next run re-runs exactly the missing trials.
- Ctrl-C: workers ignore SIGINT; the parent stops them, keeps what finished, rebuilds the tables
  and raises `SweepInterrupted`.
- One executor loop (adamlab.sweep.executors.drive) hands stacks out and collects their
  outcomes, whichever backend runs them: this process, a local process pool, or Ray
  (adamlab.sweep.ray_backend).
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from adamlab.experiments.registry import store_criteria
from adamlab.host import available_cores
from adamlab.store import layout
from adamlab.store.layout import ResultsFolder
from adamlab.store.records import TrialRecord
from adamlab.sweep import provenance
from adamlab.sweep.executors import InProcess, ProcessPool, drive
from adamlab.sweep.interrupts import interrupts_deferred
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.preflight import Prefetch, check_task_data, prefetch_task_data
from adamlab.sweep.ray_backend import RayBackend, import_ray
from adamlab.sweep.resolved import Sweep
from adamlab.sweep.resources import (
    auto_jobs,
    auto_threads,
    limit_jobs_and_threads,
    measure_worker_startup,
)
from adamlab.sweep.runner import TrialOutcome
from adamlab.sweep.schema import check_optimizers
from adamlab.sweep.stacking import plan_stacks
from adamlab.sweep.sweep_plan import (
    SweepPlan,
    done_ids,
    plan_sweep,
    settle_stale,
    survey_newcomers,
)
from adamlab.sweep.tensorboard_log import TensorBoardLog
from adamlab.sweep.trials import Trial
from adamlab.tasks.registry import task_spec

logger = logging.getLogger("adamlab.sweep")


class SweepListener(Protocol):
    """What a front end (the CLI's progress bar) hears while a sweep runs."""

    def sweep_started(self, plan: SweepPlan) -> None: ...

    def trial_started(self, trial: Trial) -> None: ...

    def trial_ended(self, trial: Trial, record: TrialRecord) -> None: ...


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


class _Listeners:
    """Several sweep listeners as one, called in order."""

    def __init__(self, listeners: list[SweepListener]):
        self.listeners = listeners

    def sweep_started(self, plan: SweepPlan) -> None:
        for listener in self.listeners:
            listener.sweep_started(plan)

    def trial_started(self, trial: Trial) -> None:
        for listener in self.listeners:
            listener.trial_started(trial)

    def trial_ended(self, trial: Trial, record: TrialRecord) -> None:
        for listener in self.listeners:
            listener.trial_ended(trial, record)


def task_metadata(plan: SweepPlan) -> dict[str, dict[str, Any]]:
    """What the results folder records of each task: its goals, primary metric, which validation
    metric selects each reported one, its loss, where it came from (the analysis reads these)."""
    out = {}
    for trial in plan.trials:
        if trial.task not in out:
            spec = task_spec(trial.task, trial.task_target, trial.folder)
            out[trial.task] = {**spec.describe(), **({"target": trial.task_target} if trial.task_target else {})}
    return out


def run_sweep(sweep: Sweep, options: SweepOptions | None = None, *,
              listener: SweepListener | None = None) -> SweepResult:
    """Run every pending trial of `sweep` into `sweep.output` as `options` say (see
    adamlab.sweep.options.SweepOptions, and the module docstring); `listener` hears the run's
    progress (before the TensorBoard writer, when the options ask for one)."""
    options = options or SweepOptions()
    listeners = [listener] if listener is not None else []
    if options.tensorboard is not None:
        listeners.append(TensorBoardLog(options.tensorboard))
    heard = _Listeners(listeners)
    jobs, threads = options.jobs, options.threads
    stack_size = options.stack_size_for(sweep.stack_size)
    if options.backend == "local":
        jobs, threads, notes = limit_jobs_and_threads(jobs, threads)
        for note in notes:
            logger.warning("%s", note)
    # before the folder opens: stale records (or no Ray, or a bad address) leave no trace
    plan = plan_sweep(sweep, retry_failed=options.retry_failed)
    stale_note = settle_stale(plan, options.stale)
    # trials that may run in this process: their data files are read meanwhile, in a thread
    prefetch = (prefetch_task_data(plan.pending)
                if plan.pending and options.backend == "local" and options.jobs in (None, 1)
                else Prefetch())
    # a run imports torch here (a sweep with nothing left to run never does): timing that import
    # tells automatic jobs what a worker's start-up costs on this machine now
    worker_startup_s = measure_worker_startup() if plan.pending else None
    if plan.pending and not sweep.optimizers_checked:
        check_optimizers(sweep)  # before anything runs or is written
    if plan.pending:
        check_task_data(sweep)  # missing data: refused here, so no trial fails for it
    result = SweepResult(plan)
    cluster = None
    if options.backend == "ray":
        import_ray()
        if plan.pending:  # else no cluster to start
            cluster = RayBackend.connect(options.address, jobs=jobs, threads=threads,
                                         device_type=sweep.device_type)
            jobs, threads = cluster.jobs, cluster.threads
    auto = jobs is None
    started = time.perf_counter()
    with cluster or nullcontext(), ResultsFolder(sweep.output, trust_folder=options.trust_folder) as folder:
        with interrupts_deferred() as early:  # a Ctrl-C here is raised in the try below
            folder.open(
                sweep_name=sweep.name,
                trial_ids=[t.trial_id for t in plan.trials],
                sweep_yaml=sweep.to_yaml(),
                extra={"tasks": task_metadata(plan)},
                before_writing=lambda: survey_newcomers(plan, folder, options, stale_note),
            )
            store_criteria(folder.path, sweep.name)
        run_info: dict[str, Any] | None = None
        outcome_name = "crashed"
        argv = list(options.argv) if options.argv is not None else None
        try:
            if early:
                raise KeyboardInterrupt
            plan.done = done_ids(folder, plan.trials, options.retry_failed)
            if options.stale == "rerun":
                plan.done -= set(plan.stale)
            pending = plan.pending
            work = plan_stacks(pending, stack_size, jobs=jobs or 1)
            if auto:
                jobs = auto_jobs(work, available_cores(), worker_startup_s)
                if jobs > 1:
                    work = plan_stacks(pending, stack_size, jobs=jobs)
            if jobs > 1:
                prefetch.discard()
            if not threads:
                prefetch.wait()  # its thread would count as work running now
                threads = auto_threads(work, jobs)
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
            heard.sweep_started(plan)

            def ended_trial(trial: Trial, outcome: TrialOutcome) -> None:
                # a Ctrl-C waits until the record is written and counted
                with interrupts_deferred() as came:
                    folder.write_record(outcome.record, outcome.traceback)
                    result.records.append(outcome.record)
                    # kept current, so a run killed with kill -9 still says how many trials it ran
                    run_info["runs"][-1]["trials_run"] = len(result.records)
                    folder.write_provenance(run_info, sync=False)
                if came:
                    raise KeyboardInterrupt
                heard.trial_ended(trial, outcome.record)

            if cluster is not None:
                executor = cluster.executor(sweep.name, threads)
            elif jobs == 1:
                executor = InProcess(sweep.name, threads)
            else:
                executor = ProcessPool(sweep.name, jobs, threads)
            if work.stacks:  # nothing to run: no executor, so no torch
                with executor:
                    drive(work.stacks, jobs, executor, heard.trial_started, ended_trial)
            outcome_name = "completed"
        except KeyboardInterrupt:
            outcome_name = "interrupted"
            result.interrupted = True
        finally:
            # however often Ctrl-C is pressed now, the run's end is recorded and the tables rebuilt
            with interrupts_deferred():
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
                    # every run ends by deriving the tables from its folder's records
                    result.tables = layout.rebuild_tables(folder.path)
    if result.interrupted:
        raise SweepInterrupted(result)
    return result
