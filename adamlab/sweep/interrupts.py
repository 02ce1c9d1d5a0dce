"""Ctrl-C and SIGTERM held back while a block writes, so what it writes is written whole."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_deferred() -> Iterator[list[int]]:
    """Ctrl-C (and SIGTERM) during the block are noted in the list it yields, not raised, so
    what the block writes is written whole."""
    came: list[int] = []

    def note(signum, frame) -> None:
        came.append(signum)

    try:
        previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not ours to handle
        yield came
        return
    try:
        yield came
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
