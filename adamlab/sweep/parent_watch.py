"""Worker processes end when the sweep that started them dies, even by kill -9.

A sweep's workers (the `--jobs N` pool, the tasks of a local Ray instance) compute and return
records to the sweep process; without it they have nothing to do, yet a worker blocked in a
trial or waiting for work would hold its memory (a GB with MNIST) until killed by hand.
`exit_with_parent(pid)` is called first thing in each worker, by any executor:

- on Linux, when `pid` is the worker's parent, the kernel sends it SIGKILL the moment the parent
  dies (prctl PR_SET_PDEATHSIG);
- everywhere, a daemon thread checks every `WATCH_INTERVAL_S` seconds that `pid` is still alive
  (and, when it was the parent, that the worker has not been re-parented), and ends the process
  when not: this covers workers whose parent is not the sweep (Ray's, started by its raylet) and
  systems without prctl.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time

#: seconds between two checks of the watched process
WATCH_INTERVAL_S = 0.5
_PR_SET_PDEATHSIG = 1
_watched: set[int] = set()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z"  # a zombie (dead, not yet reaped) is gone for us


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...), or None when it
    cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _kill_with_parent() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def exit_with_parent(pid: int) -> None:
    """End this process as soon as process `pid` (the sweep) is gone; idempotent per pid."""
    if pid in _watched:
        return
    _watched.add(pid)
    is_parent = os.getppid() == pid
    if is_parent:
        _kill_with_parent()

    def gone() -> bool:
        return (is_parent and os.getppid() != pid) or not _alive(pid)

    if gone():  # it died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while not gone():
            time.sleep(WATCH_INTERVAL_S)
        os._exit(1)  # no cleanup to do: the records of unfinished trials were never written

    threading.Thread(target=watch, name="adamlab-parent-watch", daemon=True).start()


# ---------------------------------------------------------------- a local Ray instance
#
# A local Ray instance's processes are the sweep's descendants (gcs_server, raylet, and the
# raylet's workers and agents). Ray ends the first ones with the sweep, but its agents outlive
# it, re-parented away, beyond the reach of anything the sweep can arm in them. So a reaper
# process, started in its own session, records the sweep's descendants while the sweep lives and
# kills those still running once it is gone.


def _descendants(root: int) -> dict[int, str]:
    """{pid: start time} of every process below `root`, from /proc."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        fields = _stat_fields(int(entry)) if entry.isdigit() else None
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        started[int(entry)] = fields[19]
    found: dict[int, str] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found[child] = started[child]
                stack.append(child)
    return found


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields is not None else None


def reap_when_gone(pid: int) -> None:
    """Record `pid`'s descendants until it is gone, then kill those still running (the same
    processes: pid and start time)."""
    reaper = os.getpid()
    seen: dict[int, str] = {}
    while _alive(pid):
        seen.update({p: t for p, t in _descendants(pid).items() if p != reaper})
        time.sleep(WATCH_INTERVAL_S)
    for victim, started in seen.items():
        if _start_time(victim) == started:
            with contextlib.suppress(OSError):
                os.kill(victim, signal.SIGKILL)


def start_reaper():
    """A reaper (see `reap_when_gone`) for this process; returns its Popen (terminate it once the
    descendants have been stopped the ordinary way), or None where /proc is not there."""

    if not os.path.isdir("/proc"):
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "adamlab.sweep.parent_watch", str(os.getpid())],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


if __name__ == "__main__":
    reap_when_gone(int(sys.argv[1]))
