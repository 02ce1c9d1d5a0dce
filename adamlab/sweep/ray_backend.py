"""Run a sweep's stacks as Ray tasks (`adamlab sweep --backend ray [--address ADDR]`).

The driver (the `adamlab sweep` process) keeps every duty it has with local workers: it plans
the sweep, skips the trials already recorded in the results folder, submits the pending stacks
(of one trial or more), and writes each record atomically into the results folder when
its stack returns. Workers only compute and return records, so they need no access to the
folder: nodes of a cluster share no filesystem with the driver. Resume, Ctrl-C and the progress
bar are therefore those of the local path: a trial has a record once it ended; on Ctrl-C the
stacks in flight are cancelled (their worker processes killed) and leave nothing, so they run
again next time. A sweep with nothing left to run starts no cluster.

- Where: `address` is a Ray cluster (`HOST:PORT` of its head, `ray://HOST:PORT` for Ray Client,
  or `auto` for one started with `ray start` on this machine); without it, `$RAY_ADDRESS`, else
  a private local instance with `jobs * threads` CPUs (default: this machine's cores), stopped
  when the sweep ends. A process already connected (`ray.init()` called by the caller) is used
  as it is and left connected.
- How many: each stack is a task that reserves `threads` CPUs (default 1) and runs torch with that
  many threads, so Ray never puts more work on a node than it has cores; with a CUDA sweep it
  also reserves one GPU. `jobs` stacks are in flight at once (default: as many as the cluster's
  nodes take), one more submitted as each returns.
- Same results: every trial seeds everything from its own seed, so a record does not depend on
  the node that ran it (the thread-count caveat of adamlab.sweep.execute applies: pin `threads`).
- Paths: each stack runs in the driver's current directory when that directory exists on the
  worker's machine (a shared filesystem, or the same layout on every node), so a relative path in
  task params (mnist_mlp's `data_dir`) means there what it means to the driver, and trial ids stay
  those of the YAML as written. Where the directory does not exist, relative paths resolve against
  the Ray worker's own directory: give absolute paths that exist on every node.
- Every node needs the same adamlab installed (`pip install 'adamlab[ray]'`); a worker with
  another version refuses to run rather than mix results.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.host import available_cores
from adamlab.sweep.parent_watch import start_reaper
from adamlab.sweep.runner import TrialOutcome, run_stack
from adamlab.sweep.trials import Trial

INSTALL_HINT = "pip install 'adamlab[ray]'"
#: seconds to wait for a TCP answer from `--address` before calling it unreachable (Ray itself
#: waits minutes for a cluster that is not there)
PROBE_TIMEOUT_S = 5.0
#: how often the wait for a stack wakes up (Ctrl-C is handled at once either way)
WAIT_SLICE_S = 1.0

def import_ray():
    """The `ray` module, or a one-line error saying how to install it."""
    try:
        # lazy: Ray loads only with --backend ray
        import ray
    except ImportError as exc:
        raise AdamlabError(
            f"--backend ray needs Ray, which is not installed here ({exc}); install it with: {INSTALL_HINT}"
        ) from None
    return ray


class WorkerMismatch(Exception):
    """A Ray worker runs another adamlab version than the driver."""


@dataclass(frozen=True)
class DriverContext:
    """What a worker needs to know about the driver to run a stack as the driver would."""
    cwd: str
    adamlab_version: str


@contextmanager
def _in_directory(path: str) -> Iterator[None]:
    if not os.path.isdir(path):
        yield
        return
    try:
        before = os.getcwd()
    except FileNotFoundError:  # the worker's own directory was removed
        before = None
    os.chdir(path)
    try:
        yield
    finally:
        if before is not None:
            with suppress(OSError):
                os.chdir(before)


def run_stack_on_worker(
    stack: list[Trial], sweep_name: str, threads: int, driver: DriverContext
) -> list[TrialOutcome]:
    """The Ray task: one stack, run with `threads` torch threads in the driver's directory."""
    if driver.adamlab_version != __version__:
        raise WorkerMismatch(
            f"node {socket.gethostname()} has adamlab {__version__}, the driver {driver.adamlab_version}: "
            f"install the same adamlab on every node"
        )
    # lazy: a Ray worker loads torch as it takes its first stack
    import torch

    torch.set_num_threads(threads)
    with _in_directory(driver.cwd):
        return run_stack(stack, sweep_name)


def _for_worker(trial: Trial) -> Trial:
    # Ray hides all but the GPU it assigned a task, so that one is always cuda:0 on the worker.
    if trial.device == "cuda" and trial.device_spec != "cuda":
        return replace(trial, device_spec="cuda")
    return trial


# ---------------------------------------------------------------- addresses


def _host_and_port(address: str) -> tuple[str, int]:
    """(host, port) of `HOST:PORT`, `ray://HOST:PORT` or `[IPV6]:PORT`, else a one-line error."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AdamlabError(
            f"--address {address}: not a Ray cluster address (expected HOST:PORT of the head node, "
            f"ray://HOST:PORT, or auto)"
        )
    return host, int(port)


def _probe(address: str) -> None:
    """A one-line error now when nothing answers at `address` (ray.init would wait minutes)."""
    host, port = _host_and_port(address)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        raise AdamlabError(
            f"--address {address}: no Ray cluster answers there ({reason}); start one with "
            f"`ray start --head`, or leave --address out to run on a local Ray instance"
        ) from None


@contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """ray.init installs its own SIGTERM handler (exit at once); the CLI's (stop like Ctrl-C) stays."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


def _one_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc  # a RayTaskError carries the worker's exception
    lines = str(cause).strip().splitlines()
    text = lines[0] if lines else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


# ---------------------------------------------------------------- the backend


class RayBackend:
    """One sweep run's connection to Ray; a context manager that disconnects on exit (and stops
    the local instance it started). `jobs`/`threads`: stacks in flight and torch threads per stack."""

    def __init__(self, ray, *, address: str, connected_here: bool, jobs: int, threads: int,
                 gpus_per_stack: int, nodes: int, cpus: float):
        self._ray = ray
        self.address = address
        self.connected_here = connected_here
        self.jobs = jobs
        self.threads = threads
        self.gpus_per_stack = gpus_per_stack
        self.nodes = nodes
        self.cpus = cpus
        self._remote = ray.remote(run_stack_on_worker).options(
            num_cpus=threads, num_gpus=gpus_per_stack
        )
        #: kills the local instance's processes if this one dies without stopping them (kill -9)
        self.reaper = None

    @classmethod
    def connect(cls, address: str | None = None, *, jobs: int | None = None,
                threads: int | None = None, device_type: str = "cpu") -> RayBackend:
        """Connect to `address` (see the module docstring), or start a local instance."""
        threads = threads or 1
        gpus = 1 if device_type == "cuda" else 0
        ray = import_ray()
        connected_here = not ray.is_initialized()
        reaper = None
        if connected_here:
            address = address or os.environ.get("RAY_ADDRESS") or None
        if address not in (None, "auto", "local"):
            _probe(address)
        if not connected_here:
            if address is not None:
                raise AdamlabError(
                    f"--address {address}: this process is already connected to a Ray cluster "
                    f"(ray.init was called); leave the address out to use that one"
                )
            shown = "this process's Ray connection"
        else:
            options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
            if address in (None, "local"):
                cpus = jobs * threads if jobs else max(available_cores(), threads)
                options.update(address="local", num_cpus=cpus, include_dashboard=False)
            else:
                options.update(address=address)
            shown = "a local Ray instance" if address in (None, "local") else address
            if address in (None, "local"):
                reaper = start_reaper()
            try:
                with _keep_signal_handlers():
                    ray.init(**options)
            except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
                with suppress(Exception):
                    ray.shutdown()
                _stop_reaper(reaper)
                raise AdamlabError(f"--backend ray: could not connect to {shown}: {_one_line(exc)}") from None
        try:
            nodes = [node for node in ray.nodes() if node.get("Alive")]
            capacity = sum(_stacks_on(node.get("Resources", {}), threads, gpus) for node in nodes)
            if not jobs and capacity == 0:
                raise AdamlabError(_no_room_message(shown, nodes, threads, gpus))
            backend = cls(
                ray, address=shown, connected_here=connected_here, jobs=jobs or capacity,
                threads=threads, gpus_per_stack=gpus, nodes=len(nodes),
                cpus=sum(node.get("Resources", {}).get("CPU", 0) for node in nodes),
            )
            backend.reaper = reaper if connected_here else None
            return backend
        except BaseException:
            if connected_here:
                ray.shutdown()
                _stop_reaper(reaper)
            raise

    def provenance(self) -> dict[str, Any]:
        """What this run's entry in provenance.json says about where it ran."""
        return {"backend": "ray", "ray_address": self.address, "ray_nodes": self.nodes,
                "ray_cpus": self.cpus}

    def close(self) -> None:
        if self.connected_here and self._ray.is_initialized():
            self._ray.shutdown()
        _stop_reaper(self.reaper)
        self.reaper = None

    def __enter__(self) -> RayBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def executor(self, sweep_name: str, threads: int) -> RayExecutor:
        """The executor adamlab.sweep.executors.drive feeds: stacks as Ray tasks."""
        return RayExecutor(self, sweep_name, threads)


class RayExecutor:
    """Stacks as Ray tasks of `backend` (the Executor protocol of adamlab.sweep.executors)."""
    def __init__(self, backend: RayBackend, sweep_name: str, threads: int):
        self._backend, self.sweep_name, self.threads = backend, sweep_name, threads
        self._driver = DriverContext(cwd=os.getcwd(), adamlab_version=__version__)

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def submit(self, stack: list[Trial]):
        return self._backend._remote.remote(
            [_for_worker(t) for t in stack], self.sweep_name, self.threads, self._driver
        )

    def wait(self, handles: list) -> list:
        done, _ = self._backend._ray.wait(handles, num_returns=1, timeout=WAIT_SLICE_S)
        return done

    def result(self, handle, lost: list[Trial]) -> list[TrialOutcome]:
        ray = self._backend._ray
        try:
            return ray.get(handle)
        except ray.exceptions.RayError as exc:
            raise AdamlabError(
                f"Ray could not run trial(s) {', '.join(t.trial_id for t in lost)}: "
                f"{_one_line(exc)}; finished trials are kept: re-run to resume"
            ) from None

    def stop(self, handles: list) -> None:
        """Ctrl-C or an error: what has not returned is dropped, not kept. Only the tasks still
        running are cancelled: Ray's core worker can abort the whole driver when a cancel races
        with a task's completion (a RAY_CHECK in its task manager, ray-project/ray#54798)."""
        ray = self._backend._ray
        running = list(handles)
        with suppress(Exception):
            _, running = ray.wait(running, num_returns=len(running), timeout=0)
        for ref in running:
            with suppress(Exception):
                ray.cancel(ref, force=True)


def _stop_reaper(reaper) -> None:
    if reaper is not None:
        reaper.terminate()
        reaper.wait()


def _stacks_on(resources: dict[str, float], threads: int, gpus: int) -> int:
    stacks = math.floor(resources.get("CPU", 0) / threads)
    if gpus:
        stacks = min(stacks, math.floor(resources.get("GPU", 0) / gpus))
    return stacks


def _no_room_message(shown: str, nodes: list[dict], threads: int, gpus: int) -> str:
    def largest(resource: str) -> float:
        return max((node.get("Resources", {}).get(resource, 0) for node in nodes), default=0)

    need, has = f"{threads} CPU(s)", f"{largest('CPU'):g} CPUs"
    if gpus:
        need, has = f"{need} and {gpus} GPU", f"{has}, {largest('GPU'):g} GPUs"
    return (
        f"--backend ray: no node of {shown} has room for one stack ({need}; the largest has {has}); "
        f"lower --threads, or give --jobs N to submit anyway (an autoscaling cluster adds nodes)"
    )
