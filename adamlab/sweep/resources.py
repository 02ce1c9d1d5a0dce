"""How many processes and threads a sweep runs with, within what the machine allows.

- One memory budget: the stacks in flight share MEMORY_SHARE of the memory available
  (adamlab.sweep.stacking sizes each to its part), and the worker processes, each holding what
  this process holds once torch and the training loop are loaded (~300 MB), share
  WORKERS_MEMORY_SHARE of it. Memory and cores are the process's own: cgroup limits included
  (adamlab.host).
- `--jobs` above the cores, or above what the workers' memory allows, and `--threads` above the
  cores are capped, with a one-line note each (`limit_jobs_and_threads`): more workers or
  threads than cores only take turns on them.
- Left automatic, a sweep runs in one process unless the work a worker would get is
  POOL_REPAYS x a worker's start-up: measured in this process (what importing torch and the
  training loop took, `measure_worker_startup`, which run_sweep calls where a run first needs
  torch), else WORKER_STARTUP_S. Start-up is paid again by
  every worker of a 'spawn' pool, while the work only divides. `--threads` left automatic gives a
  stack the cores no other work keeps busy now (adamlab.host.idle_cores), one for small stacks.
"""

from __future__ import annotations

import sys
import time

from adamlab import host
from adamlab.sweep.stacking import WorkPlan
from adamlab.sweep.trials import Trial
from adamlab.tasks.registry import task_spec

#: a worker's start-up when this process could not measure it: the median of 5 runs of `python -c
#: "import torch, adamlab.sweep.runner, adamlab.optimizers.stacked"` (2.4-5.1 s) on the 2-core
#: development machine at load 3-4, plus the spawn of the interpreter
WORKER_STARTUP_S = 3.0
#: a pool starts when each worker's share of the estimated work is this many times its start-up:
#: the estimate can be 5x high (the end-to-end benchmark's embedding sweep: 11.4 s estimated, 2.4 s
#: measured in one process), a worker pays more than the import measured here (spawn, the task,
#: two workers starting at once), and at 3x the default lost to --jobs 1 by 1.7x on that sweep
POOL_REPAYS = 10.0
#: the work model of `estimated_work_s`: a step's fixed cost, and seconds per byte of a member
STEP_OVERHEAD_S = 2e-4
SECONDS_PER_MEMBER_BYTE = 5e-10
#: stacks whose members hold fewer bytes than this in all run with one torch thread: their
#: tensor ops are too small to split, and an idle second thread only adds synchronisation (on a
#: busy machine a 2-thread 32 x 100 x 100 product took 4x longer than a 1-thread one)
SMALL_STACK_BYTES = 1 << 20
#: the share of the memory available that the worker processes may take together
WORKERS_MEMORY_SHARE = 0.5
#: one worker's memory when this process cannot tell its own (no /proc): torch and the training
#: loop loaded, as measured on Linux (294 MB private in a worker; 2.9 GB for 8 workers)
WORKER_BYTES = 320 * 2**20


def measure_worker_startup() -> float | None:
    """Seconds this process takes to import what a worker imports (torch and the training loop),
    timed now; None when they are loaded already (then nothing can be measured). Call it before
    anything imports torch, where torch is going to be imported anyway."""
    if "torch" in sys.modules:
        return None
    started = time.perf_counter()
    # the training loop a worker also loads (adamlab.sweep.runner) came with the sweep's driver
    # lazy: this import is what is timed: a worker's start-up
    import torch  # noqa: F401

    # lazy: the stacked optimizers load with torch, in a worker as here
    import adamlab.optimizers.stacked  # noqa: F401

    return time.perf_counter() - started


def _stack_bytes(stack: list[Trial]) -> int:
    first = stack[0]
    task_cls = task_spec(first.task, first.task_target, first.folder)
    params = task_cls.Params.model_validate(first.task_params)
    return len(stack) * task_cls.member_bytes(params, first.batch_size)


def estimated_work_s(plan: WorkPlan) -> float:
    """A rough estimate of the plan's seconds in one process: per stack, steps x (a fixed cost
    per step + the stack's bytes (members x the task's bytes per member) x seconds per byte)."""
    return sum(
        stack[0].steps * (STEP_OVERHEAD_S + _stack_bytes(stack) * SECONDS_PER_MEMBER_BYTE)
        for stack in plan.stacks
    )


def worker_bytes() -> int:
    """What one worker process costs in memory: what this one holds alone, torch loaded."""
    return host.THIS_MACHINE.private_bytes() or WORKER_BYTES


def max_jobs(device_spec: str = "cpu") -> tuple[int, str]:
    """The most worker processes the cores and the workers' memory allow, and which one binds."""
    cores = host.available_cores()
    memory = host.available_memory("cpu")
    if memory is None:
        return cores, "cores"
    by_memory = max(1, int(memory * WORKERS_MEMORY_SHARE) // worker_bytes())
    if by_memory < cores:
        return by_memory, "memory"
    return cores, "cores"


def limit_jobs_and_threads(jobs: int | None, threads: int | None) -> tuple[int | None, int | None, list[str]]:
    """`jobs` and `threads` capped at what this machine allows (None: automatic, left so), with
    a one-line note for each cap."""
    notes = []
    cores = host.available_cores()
    if jobs is not None:
        most, reason = max_jobs()
        if jobs > most:
            why = (f"the {cores} core(s) this process may use: more workers only take turns on them"
                   if reason == "cores" else
                   f"what the workers' memory allows ({_gb(worker_bytes())} each, "
                   f"{WORKERS_MEMORY_SHARE:.0%} of the {_gb(host.available_memory('cpu') or 0)} available)")
            notes.append(f"--jobs {jobs}: capped at {most}, {why}")
            jobs = most
    if threads is not None and threads > cores:
        notes.append(f"--threads {threads}: capped at {cores}, the core(s) this process may use")
        threads = cores
    return jobs, threads, notes


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def auto_jobs(plan: WorkPlan, cores: int, startup_s: float | None = None) -> int:
    """The default --jobs: a worker per core (stacks are then split so that every worker gets
    one, see stacking.plan_stacks) when each worker's share of the estimated work is
    POOL_REPAYS x a worker's start-up (`startup_s`, measured; default WORKER_STARTUP_S); else 1."""
    members = sum(len(stack) for stack in plan.stacks)
    workers = min(cores, members, max_jobs()[0])
    if workers < 2:
        return 1
    startup = WORKER_STARTUP_S if startup_s is None else startup_s
    if estimated_work_s(plan) / workers < POOL_REPAYS * startup:
        return 1
    return workers


def auto_threads(plan: WorkPlan, jobs: int) -> int:
    """The default --threads: the idle cores (adamlab.host.idle_cores) // jobs, at least 1; 1
    when every stack is small (SMALL_STACK_BYTES)."""
    if all(_stack_bytes(stack) < SMALL_STACK_BYTES for stack in plan.stacks):
        return 1
    return max(1, host.idle_cores() // jobs)
