"""Where the CLI prints: results to stdout through Rich, errors as one line on stderr."""

from __future__ import annotations

from rich.console import Console

stdout = Console()
stderr = Console(stderr=True)


def print_error(message: str) -> None:
    # markup off: messages quote user input (YAML keys, paths) that may contain brackets
    stderr.print("error: " + message, style="bold red", markup=False, highlight=False, soft_wrap=True)


class Interrupted(Exception):
    """Ctrl-C, handled by a command: the message says where things stand (exit 130)."""
