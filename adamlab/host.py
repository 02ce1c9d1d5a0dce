"""The machine this process runs on: its cores, its memory, its CPU model and devices.

What the process may use, not what the hardware has: cores are those of the CPU affinity mask,
capped by a cgroup CPU quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`);
memory is the RAM available now (`MemAvailable`), capped by what the cgroup's memory limit
leaves (v2 `memory.max` - `memory.current`, v1 `memory.limit_in_bytes` -
`memory.usage_in_bytes`, page cache that can be dropped counted as free, as MemAvailable does).
A container or a batch job's slice is therefore sized by its own limits. Every limit on the
path from the process's cgroup up to the root applies; the smallest wins.

Torch-free (read commands and the CLI import it): only a CUDA device's memory and name ask torch,
imported then. `Host(root)` reads `root`/proc and `root`/sys, so a test can give it a machine.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

#: readings of the runnable count whose median `Host.load` takes, and the pause between them: one
#: reading catches a moment (another process between two bursts of work); 5 over 40 ms cost less
#: than a thread count that is wrong for a whole sweep
LOAD_READINGS = 5
LOAD_READING_GAP_S = 0.01

#: cgroup v1 writes "no limit" as a huge number (2^63 rounded down to a page)
_V1_UNLIMITED = 1 << 62


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def _number(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Host:
    """The machine as seen from `root` ("/" for this one)."""
    root: Path = Path("/")

    # ------------------------------------------------------------ cgroups
    def _cgroup_paths(self) -> dict[str, str]:
        """{controller ("" for the v2 hierarchy): this process's cgroup path} from /proc/self/cgroup."""
        paths: dict[str, str] = {}
        for line in (_read(self.root / "proc/self/cgroup") or "").splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            if not controllers:
                paths[""] = path
            for controller in controllers.split(","):
                if controller:
                    paths[controller] = path
            if "," in controllers:
                paths[controllers] = path
        return paths

    def _chain(self, mount: Path, path: str) -> list[Path]:
        """The cgroup folders from this process's up to the hierarchy's root, those that exist
        (in a container the path may name the host's folder, which is not mounted there)."""
        parts = [p for p in path.strip("/").split("/") if p and p != ".."]
        folders = [mount.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
        return [f for f in folders if f.is_dir()]

    def _v2_folders(self) -> list[Path]:
        path = self._cgroup_paths().get("")
        if path is None:
            return []
        for mount in (self.root / "sys/fs/cgroup", self.root / "sys/fs/cgroup/unified"):
            if (mount / "cgroup.controllers").exists():
                return self._chain(mount, path)
        return []

    def _v1_folders(self, controller: str) -> list[Path]:
        paths = self._cgroup_paths()
        path = paths.get(controller)
        if path is None:
            return []
        names = [name for name in paths if controller in name.split(",")]
        for name in sorted(names, key=len):
            mount = self.root / "sys/fs/cgroup" / name
            if mount.is_dir():
                return self._chain(mount, path)
        return []

    def cgroup_cpu_limit(self) -> float | None:
        """The cgroup's CPU quota in cores (e.g. 1.5), None without one."""
        limits = []
        for folder in self._v2_folders():
            fields = (_read(folder / "cpu.max") or "").split()
            if len(fields) == 2 and fields[0] != "max":
                quota, period = _number(fields[0]), _number(fields[1])
                if quota and period and quota > 0 and period > 0:
                    limits.append(quota / period)
        for folder in self._v1_folders("cpu"):
            quota = _number(_read(folder / "cpu.cfs_quota_us"))
            period = _number(_read(folder / "cpu.cfs_period_us"))
            if quota and period and quota > 0 and period > 0:
                limits.append(quota / period)
        return min(limits) if limits else None

    def cgroup_memory_left(self) -> int | None:
        """Bytes the cgroup's memory limit still leaves this process, None without a limit."""
        left = []
        for folder in self._v2_folders():
            limit = _number(_read(folder / "memory.max"))  # "max": no limit
            used = _number(_read(folder / "memory.current"))
            if limit is not None and used is not None:
                left.append(limit - used + self._stat(folder / "memory.stat", "inactive_file"))
        for folder in self._v1_folders("memory"):
            limit = _number(_read(folder / "memory.limit_in_bytes"))
            used = _number(_read(folder / "memory.usage_in_bytes"))
            if limit is not None and used is not None and limit < _V1_UNLIMITED:
                left.append(limit - used + self._stat(folder / "memory.stat", "total_inactive_file"))
        return max(0, min(left)) if left else None

    @staticmethod
    def _stat(path: Path, key: str) -> int:
        for line in (_read(path) or "").splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return _number(value) or 0
        return 0

    # ------------------------------------------------------------ what the process may use
    def cores(self) -> int:
        """Cores this process may use: its CPU affinity, capped by a cgroup quota (at least 1)."""
        try:
            cores = len(os.sched_getaffinity(0)) if self.root == Path("/") else self._allowed_cpus()
        except AttributeError:  # pragma: no cover - not Linux
            cores = None
        if cores is None:
            cores = os.cpu_count() or 1
        quota = self.cgroup_cpu_limit()
        if quota is not None:
            cores = min(cores, math.ceil(quota))
        return max(1, cores)

    def _allowed_cpus(self) -> int | None:
        """The CPUs of the affinity mask as /proc/self/status lists them ("0-3,6")."""
        for line in (_read(self.root / "proc/self/status") or "").splitlines():
            if line.startswith("Cpus_allowed_list:"):
                count = 0
                for part in line.split(":", 1)[1].strip().split(","):
                    low, _, high = part.partition("-")
                    first, last = _number(low), _number(high or low)
                    if first is None or last is None:
                        return None
                    count += last - first + 1
                return count
        return None

    def ram_available(self) -> int | None:
        """Bytes of RAM this process may take now: MemAvailable, capped by the cgroup's limit."""
        available = None
        for line in (_read(self.root / "proc/meminfo") or "").splitlines():
            if line.startswith("MemAvailable:"):
                available = _number(line.split()[1])
                available = available * 1024 if available is not None else None
                break
        if available is None and self.root == Path("/"):
            try:
                available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            except (ValueError, OSError, AttributeError):
                available = None
        left = self.cgroup_memory_left()
        if left is not None:
            available = left if available is None else min(available, left)
        return available

    def load(self) -> float | None:
        """Tasks running or waiting to run on the machine now, other than the one reading: the
        median of LOAD_READINGS readings of /proc/loadavg's runnable count (its fourth field,
        which counts the reader), LOAD_READING_GAP_S apart. A host-wide figure, also inside a
        container. Not the one-minute load average (the first field): that still counts, for a
        minute after it ended, work that is over, such as the sweep run just before this one,
        and then kept a sweep on a quiet machine to one thread."""
        readings = []
        for reading in range(LOAD_READINGS):
            if reading:
                time.sleep(LOAD_READING_GAP_S)
            fields = (_read(self.root / "proc/loadavg") or "").split()
            try:
                readings.append(int(fields[3].split("/")[0]) - 1)
            except (IndexError, ValueError):
                return None
        return float(max(0, statistics.median(readings)))

    def private_bytes(self) -> int | None:
        """Memory this process holds alone (private pages of /proc/self/smaps_rollup): what one more
        process with the same modules loaded costs."""
        total = None
        for line in (_read(self.root / "proc/self/smaps_rollup") or "").splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total = (total or 0) + (_number(line.split()[1]) or 0) * 1024
        return total

    def cpu_model(self) -> str:
        for line in (_read(self.root / "proc/cpuinfo") or "").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
        return platform.processor() or platform.machine()


THIS_MACHINE = Host()


def available_cores() -> int:
    """Cores this process may use (see Host.cores)."""
    return THIS_MACHINE.cores()


def available_memory(device_spec: str = "cpu") -> int | None:
    """Bytes a sweep on `device_spec` may use: a CUDA device's total memory, or for the CPU the RAM
    available now within the cgroup's limit; None where it cannot be told."""
    if device_spec.startswith("cuda"):
        # lazy: only a CUDA device needs torch; the CPU's memory and name are read without it
        import torch

        return torch.cuda.get_device_properties(torch.device(device_spec)).total_memory
    return THIS_MACHINE.ram_available()


def idle_cores() -> int:
    """Cores this process may use that other work does not keep busy (at least 1): a second
    thread or worker on a core that is busy only takes turns with what runs there, and torch's
    threads, which spin while they wait for each other, lose most of their time to it."""
    cores = THIS_MACHINE.cores()
    load = THIS_MACHINE.load()
    if load is None:
        return cores
    return max(1, min(cores, math.floor(cores - load + 0.5)))


def cpu_model() -> str:
    return THIS_MACHINE.cpu_model()


def device_name(device: str) -> str:
    """A CUDA device's name, else the CPU model."""
    if device.startswith("cuda"):
        # lazy: only a CUDA device needs torch; the CPU's memory and name are read without it
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()
