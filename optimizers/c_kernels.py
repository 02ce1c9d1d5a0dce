"""Build a C source into a shared library once per machine, for the fused optimizer kernels.

Compiled with `$CC` (else cc or gcc) at -O3 for this CPU with OpenMP, and cached in
$XDG_CACHE_HOME/adamlab/kernels (default ~/.cache/...) under a name keyed by the source, the
defines, the flags, the compiler and the CPU. The library is moved into place atomically, so
processes that build it at once do no harm.

A shared library is code this process will run, so the cache must be this user's alone: the
folder is created 0700, and before anything is loaded from it the folder must be a real folder
owned by this user and closed to others (a looser mode on a folder of ours is tightened), and the
library a regular file owned by this user that no one else can write. When the home cache is not
usable (read-only, or failing those checks) the fallback is a per-user folder under the system
temp directory, checked the same way (someone else may have made it first: then it is refused);
when that is refused too, the kernel is built without a cache, in a fresh private folder removed
at exit.
Whatever stops a build (no compiler, no OpenMP, a compile error) raises KernelUnavailable,
saying what happened, for the caller to fall back to tensor ops.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import os
import platform
import shlex
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger("adamlab.optimizers")

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


def _private_folder(path: Path) -> Path | None:
    """`path`, created 0700 when missing, if it is a folder of this user's closed to others."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return None  # a link, a file, or someone else's folder
        if info.st_mode & 0o077:
            os.chmod(path, 0o700)  # ours but open to others: close it before trusting it
        return path
    except OSError:  # a read-only home (some CI containers), a file in the way
        return None


def _trusted_library(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


def cache_dir() -> Path | None:
    """The private cache folder (see the module docstring), or None: build without caching."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adamlab" / "kernels"
    per_user_temp = Path(tempfile.gettempdir()) / f"adamlab-kernels-{os.getuid()}"
    for candidate in (home, per_user_temp):
        if (folder := _private_folder(candidate)) is not None:
            return folder
    _warn_uncached_once(home, per_user_temp)
    return None


@functools.cache
def _warn_uncached_once(home: Path, per_user_temp: Path) -> None:
    logger.warning(
        "adamlab: neither %s nor %s is a private folder of this user's; compiled kernels are "
        "built without a cache", home, per_user_temp,
    )


@functools.cache
def _uncached_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="adamlab-kernels-"))  # 0700, an unpredictable name
    atexit.register(shutil.rmtree, folder, True)
    return folder


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
        target = (cache_dir() or _uncached_dir()) / f"{name}_{key}.so"
        if _trusted_library(target):
            return target
        if target.exists() or target.is_symlink():  # planted, or opened to others: never loaded
            raise KernelUnavailable(
                f"{target} is not a library of this user's that only it can write; remove it"
            )
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
