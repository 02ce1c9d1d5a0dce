"""Build a C source into a shared library once per machine, for the fused optimizer kernels.

Compiled with `$CC` (else cc or gcc) at -O3 for this CPU with OpenMP, and cached in
$XDG_CACHE_HOME/adamlab/kernels (default ~/.cache/..., a temporary directory if that is not
writable) under a name keyed by the source, the defines, the flags, the compiler and the CPU.
The library is moved into place atomically, so processes that build it at once do no harm.
Whatever stops a build (no compiler, no OpenMP, a compile error) raises KernelUnavailable,
saying what happened, for the caller to fall back to tensor ops.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fopenmp", "-fPIC", "-shared", "-std=c11")


class KernelUnavailable(RuntimeError):
    """A fused kernel cannot be built here (no C compiler, no OpenMP, or a failed build)."""


def _compiler() -> list[str]:
    if os.environ.get("CC"):  # may carry a launcher or flags: "ccache gcc"
        return shlex.split(os.environ["CC"])
    found = shutil.which("cc") or shutil.which("gcc")
    if not found:
        raise KernelUnavailable("no C compiler found (set CC, or install gcc or clang)")
    return [found]


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adamlab" / "kernels"
    try:
        base.mkdir(parents=True, exist_ok=True)
        return base
    except OSError:  # a read-only home (some CI containers)
        fallback = Path(tempfile.gettempdir()) / "adamlab-kernels"
        fallback.mkdir(exist_ok=True)
        return fallback


def _cpu_fingerprint() -> str:
    # -march=native ties the library to this CPU's instruction set; a cache shared between
    # machines (a network home directory) must not hand one CPU's build to another
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(line for line in lines if line.startswith(("model name", "flags")))[:4096]
    except OSError:
        return platform.processor() + platform.machine()


def build_shared_library(source: str, *, name: str, defines: dict[str, str]) -> Path:
    """The path of `source` compiled with `defines` (-DKEY=VALUE), building it if not cached."""
    try:
        compiler = _compiler()
        version = subprocess.run(
            [*compiler, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
        define_flags = [f"-D{key}={value}" for key, value in sorted(defines.items())]
        key = hashlib.sha256(
            "\0".join([source, *define_flags, *FLAGS, *compiler, version, _cpu_fingerprint()]).encode()
        ).hexdigest()[:16]
        target = _cache_dir() / f"{name}_{key}.so"
        if target.exists():
            return target
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            built = Path(scratch) / target.name
            result = subprocess.run(
                [*compiler, *FLAGS, *define_flags, "-x", "c", "-", "-o", str(built)],
                input=source, capture_output=True, text=True, timeout=300,
            )
            if result.returncode != 0:
                raise KernelUnavailable(
                    f"{shlex.join(compiler)} failed to build {name}: {result.stderr.strip()[:500]}"
                )
            os.replace(built, target)
        return target
    except (OSError, subprocess.SubprocessError) as problem:
        raise KernelUnavailable(f"could not build {name}: {problem}") from problem
