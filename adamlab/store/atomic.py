"""Atomic file writes: a reader (or a crash) never sees a half-written file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from adamlab.errors import AdamlabError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def cannot(verb: str, path: str | Path, exc: OSError) -> AdamlabError:
    """An OSError as the one line the CLI prints: `cannot write results/x: Read-only file system`."""
    return AdamlabError(f"cannot {verb} {path}: {exc.strerror or exc}")


def write_bytes_atomic(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Write `data` to `path` via a temporary file and a rename; an OSError (read-only folder,
    disk full, a file where a folder should be) is an AdamlabError naming `path`, and whatever
    was at `path` before is left as it was. `sync=False` skips the fsync (~10 ms on a busy disk):
    still whole after a kill, possibly the older version after a power cut."""
    path = Path(path)
    try:
        _write_bytes_atomic(path, data, sync)
    except OSError as exc:
        raise cannot("write", path, exc) from None


def _write_bytes_atomic(path: Path, data: bytes, sync: bool) -> None:
    try:
        path.parent.mkdir(mode=0o775, parents=True, exist_ok=True)
    except FileExistsError:  # the parent is a file: say so as the OS would for a deeper path
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)) from None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600 files; results are meant to be shared like any other file
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str, *, sync: bool = True) -> None:
    write_bytes_atomic(path, text.encode("utf-8"), sync=sync)
