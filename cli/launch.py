"""The `adamlab` console script: kept free of imports, so a Ctrl-C while the CLI is still
loading (Typer and Rich take a few tenths of a second) is said like any other interrupt."""

from __future__ import annotations

import sys


def run() -> None:  # pragma: no cover - exercised through the console script
    try:
        from adamlab.cli.app import run as run_command
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted before the command started: nothing was run or written\n")
        sys.exit(130)
    run_command()
