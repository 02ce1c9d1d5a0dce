"""What a sweep may use: cores and memory within cgroup limits, one memory budget for jobs x
stacks, and --jobs/--threads capped at what the machine allows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adamlab import host
from adamlab.host import Host
from adamlab.sweep import resources

GB = 2**30


def machine(root: Path, *, cgroup: str, files: dict[str, str], meminfo_kb: int = 16 * 2**20,
            cpus: int = 8) -> Host:
    """A machine under `root`: /proc/self/cgroup, /proc/meminfo, /proc/cpuinfo and the cgroup files."""
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/meminfo").write_text(f"MemTotal: {2 * meminfo_kb} kB\nMemAvailable: {meminfo_kb} kB\n")
    (root / "proc/cpuinfo").write_text("processor\t: 0\nmodel name\t: Test CPU @ 3GHz\n")
    (root / "proc/loadavg").write_text("1.40 0.50 0.20 2/300 1234\n")
    (root / "proc/self/status").write_text(f"Name:\tpython\nCpus_allowed_list:\t0-{cpus - 2},{cpus - 1}\n")
    for name, text in files.items():
        path = root / "sys/fs/cgroup" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return Host(root)


def test_cgroup_v2_limits_cap_memory_and_cores(tmp_path):
    box = machine(tmp_path, cgroup="0::/job/step\n", files={
        "cgroup.controllers": "cpu memory\n",
        "job/memory.max": f"{4 * GB}\n",
        "job/memory.current": f"{1 * GB}\n",
        "job/memory.stat": f"anon 1\ninactive_file {GB // 2}\n",
        "job/cpu.max": "150000 100000\n",
        "job/step/memory.max": "max\n",
        "job/step/memory.current": "0\n",
        "job/step/cpu.max": "max 100000\n",
    })
    assert box.cgroup_memory_left() == 3 * GB + GB // 2  # limit - usage + droppable page cache
    assert box.ram_available() == 3 * GB + GB // 2  # below MemAvailable's 16 GB
    assert box.cgroup_cpu_limit() == 1.5
    assert box.cores() == 2  # 1.5 cores of quota: two may run, each part of the time
    assert box.cpu_model() == "Test CPU @ 3GHz"
    assert box.load() == 1.0  # 2 runnable, the reader one of them


def test_cgroup_v1_limits_and_a_path_not_mounted_in_the_container(tmp_path):
    box = machine(tmp_path, cgroup="4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n", files={
        # inside a container only the container's own cgroup is mounted, at the hierarchy's root
        "memory/memory.limit_in_bytes": f"{2 * GB}\n",
        "memory/memory.usage_in_bytes": f"{GB // 4}\n",
        "memory/memory.stat": "total_inactive_file 0\n",
        "cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
        "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
    })
    assert box.ram_available() == 2 * GB - GB // 4
    assert box.cores() == 3


def test_no_limits_leave_meminfo_and_the_cpu_count(tmp_path):
    box = machine(tmp_path, cgroup="4:memory:/\n1:cpu:/\n0::/\n", files={
        "memory/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit"
        "memory/memory.usage_in_bytes": f"{GB}\n",
        "cpu/cpu.cfs_quota_us": "-1\n",
        "cpu/cpu.cfs_period_us": "100000\n",
    })
    assert box.cgroup_memory_left() is None and box.cgroup_cpu_limit() is None
    assert box.ram_available() == 16 * GB
    assert box.cores() == 8


def test_this_machine_is_read():
    assert host.available_cores() >= 1
    assert host.available_memory("cpu") > 2**20
    assert 1 <= host.idle_cores() <= host.available_cores()
    assert host.cpu_model()


def test_the_host_module_imports_no_torch():
    code = "import sys, adamlab.host, adamlab.sweep.resources; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_stacks_in_flight_share_one_memory_budget(monkeypatch):
    from adamlab.sweep.stacking import MEMORY_SHARE, auto_stack_size

    monkeypatch.setattr(host, "available_memory", lambda spec: 16 * GB)
    member = 100 * 2**20
    alone = auto_stack_size(member, "cpu", jobs=1)
    assert alone == int(16 * GB * MEMORY_SHARE) // member
    assert auto_stack_size(member, "cpu", jobs=8) == int(16 * GB * MEMORY_SHARE / 8) // member
    assert 8 * auto_stack_size(member, "cpu", jobs=8) * member <= 16 * GB * MEMORY_SHARE


def test_jobs_are_capped_by_the_cores_and_by_the_workers_memory(monkeypatch):
    monkeypatch.setattr(host, "available_cores", lambda: 16)
    monkeypatch.setattr(host, "available_memory", lambda spec: 2 * GB)
    monkeypatch.setattr(resources, "worker_bytes", lambda: 320 * 2**20)
    jobs, threads, notes = resources.limit_jobs_and_threads(16, 8)
    assert (jobs, threads) == (3, 8)  # 50% of 2 GB holds 3 workers of 320 MB
    assert notes == ["--jobs 16: capped at 3, what the workers' memory allows (320 MB each, "
                     "50% of the 2.0 GB available)"]
    monkeypatch.setattr(host, "available_memory", lambda spec: 64 * GB)
    assert resources.limit_jobs_and_threads(16, 16) == (16, 16, [])
    assert resources.limit_jobs_and_threads(None, None) == (None, None, [])
    jobs, threads, notes = resources.limit_jobs_and_threads(20, 500)
    assert (jobs, threads) == (16, 16) and len(notes) == 2


def test_a_measured_start_up_is_taken_where_torch_is_not_loaded_yet():
    code = ("from adamlab.sweep.resources import measure_worker_startup as m; "
            "first = m(); print(first > 0, m() is None)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True"]


def test_load_is_the_work_running_now_not_the_last_minutes_average(tmp_path):
    box = machine(tmp_path, cgroup="0::/\n", files={})
    # a sweep that just ended leaves a one-minute average of 1.9; only the reader runs now
    (tmp_path / "proc/loadavg").write_text("1.90 0.80 0.30 1/300 1234\n")
    assert box.load() == 0.0
    (tmp_path / "proc/loadavg").write_text("0.10 0.10 0.10 3/300 1234\n")
    assert box.load() == 2.0
    (tmp_path / "proc/loadavg").write_text("garbled\n")
    assert box.load() is None


@pytest.mark.parametrize("load, idle", [(0.2, 2), (0.9, 1), (5.0, 1)])
def test_idle_cores_leave_out_what_other_work_keeps_busy(monkeypatch, load, idle):
    monkeypatch.setattr(host.THIS_MACHINE.__class__, "cores", lambda self: 2)
    monkeypatch.setattr(host.THIS_MACHINE.__class__, "load", lambda self: load)
    assert host.idle_cores() == idle
