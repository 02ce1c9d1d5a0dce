"""The `adamlab` console script: kept free of imports, so a Ctrl-C while the CLI is still
loading (Typer and Rich take a few tenths of a second) is said like any other interrupt."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import NoReturn


def run() -> None:  # pragma: no cover - exercised through the console script
    try:
        from adamlab.cli.app import main  # here, so a Ctrl-C while it loads is caught
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted before the command started: nothing was run or written\n")
        sys.exit(130)
    exit_with(main)


def exit_with(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s status, also when a second Ctrl-C follows the one it answered."""
    try:
        status = main()
    except KeyboardInterrupt:  # a further Ctrl-C while the command was saying where things stand
        status = 130
    # The command has ended and said so: a late Ctrl-C changes nothing. Ignored rather than left
    # to the interpreter's shutdown, which restores the default action (a kill by SIGINT).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)
