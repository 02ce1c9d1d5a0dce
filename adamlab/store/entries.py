"""The entries of a results folder are its own: regular files and folders inside it, never links.

A link planted in a results folder (`.adamlab.lock` -> a file elsewhere, `trials` -> another
folder, `provenance.json` -> a private file) would make a sweep write, delete or read outside the
folder; each entry is opened without following links and checked for its kind first.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from adamlab.errors import AdamlabError

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# a FIFO planted under a record's name would block a plain open() forever
_NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)


def not_own(path: Path, what: str) -> AdamlabError:
    return AdamlabError(
        f"{path}: {what}, not a regular entry of the results folder; adamlab reads and writes only "
        f"the folder's own files: remove it, or use another --out"
    )


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    return "a special file"


def open_regular(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644, *, single_link: bool = False) -> int:
    """A descriptor of `path`, which must be a regular file; with os.O_CREAT it is created when
    missing. `single_link`: for a file about to be overwritten, a hard link to a file elsewhere
    counts as elsewhere (a hard-linked copy of a folder is still readable)."""
    try:
        fd = os.open(path, flags | _NO_FOLLOW | _CLOEXEC | _NON_BLOCKING, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise not_own(path, "a symbolic link") from None
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = _kind(info.st_mode)
    elif single_link and info.st_nlink > 1:
        problem = f"a file with {info.st_nlink} hard links"
    if problem:
        os.close(fd)
        raise not_own(path, problem)
    if _NON_BLOCKING:
        os.set_blocking(fd, True)
    return fd


def read_regular(path: Path) -> bytes:
    """The bytes of `path`, a regular file of the folder (OSError as open() raises it)."""
    with os.fdopen(open_regular(Path(path)), "rb") as handle:
        return handle.read()


def check_folder(path: Path) -> bool:
    """Whether `path` exists; when it does it must be a real folder, not a link to one."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISREG(info.st_mode):
        raise AdamlabError(f"{path}: a file where the results folder has a folder; remove it, or use another --out")
    if not stat.S_ISDIR(info.st_mode):
        raise not_own(path, _kind(info.st_mode))
    return True
