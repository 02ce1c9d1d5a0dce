"""The `adamlab` command: a thin Typer layer over the library.

Nothing here imports torch at module level: `adamlab --help` must answer instantly. Each command
module imports what it needs inside the command body.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import signal
import sys
import threading
from typing import NoReturn

import typer

from adamlab import __version__
from adamlab.cli import list_cmd, report_cmd, results_cmd, runs_cmd, sweep_cmd
from adamlab.cli.console import Interrupted, print_error
from adamlab.errors import AdamlabError

#: the exit status of an interrupted command, as a shell reports a process ended by SIGINT
INTERRUPTED_EXIT = 130

app = typer.Typer(
    name="adamlab",
    help="Run optimizer sweeps (Adam, AdamW vs SGD and momentum) from YAML and summarise the results.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # plain click help: flags without type placeholders
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"adamlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", help="Print the version and exit.", callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """Run optimizer sweeps (Adam, AdamW vs SGD and momentum) from YAML and summarise the results."""


def _without_cyclic_gc(command):
    """Run a command that reads and prints with the cyclic garbage collector off: it builds
    hundreds of thousands of small objects (records, log columns, frames) that live until the
    process exits, so each of the collector's passes walks them all and frees nothing (a tenth
    of summarising 5,000 trials). Reference counting still frees everything else. Not for
    commands that train or draw, whose objects (autograd graphs, figures) can form cycles."""
    @functools.wraps(command)
    def without_cyclic_gc(*args, **kwargs):
        gc.disable()
        try:
            return command(*args, **kwargs)
        finally:
            gc.enable()
    return without_cyclic_gc


# each command's help is its docstring: a one-line summary, then an example
app.command("list", short_help="Tasks and optimizers, with their parameters and defaults")(_without_cyclic_gc(list_cmd.list_registered))
app.command("sweep", short_help="Run a sweep YAML's trials (skipping those done), then summarise")(sweep_cmd.sweep)
app.command("summary", short_help="Rank configs against the best-tuned SGD and momentum")(_without_cyclic_gc(results_cmd.summary))
app.command("export", short_help="Write trials or metrics as .csv, .parquet or .json")(_without_cyclic_gc(results_cmd.export))
app.command("plot", short_help="Draw curves, lr sensitivity and heatmaps as PNGs")(results_cmd.plot)
app.command("report", short_help="Judge an experiment's claims; --html: a one-page report")(report_cmd.report)
app.command("runs", short_help="List results folders: sweep, trials ended, last run, stale")(_without_cyclic_gc(runs_cmd.runs))


def _is_usage_error(exc: BaseException) -> bool:
    # Typer >= 0.29 vendors click, older releases use click itself: match on the shape instead of
    # the import path so both report usage errors the same way.
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: every error is one line on stderr and a non-zero exit."""
    try:
        result = app(args=argv, prog_name="adamlab", standalone_mode=False)
    except Interrupted as exc:
        print_error(str(exc))
        return INTERRUPTED_EXIT
    except (typer.Abort, KeyboardInterrupt):
        print_error(_interrupted(argv))
        return INTERRUPTED_EXIT
    except AdamlabError as exc:
        print_error(str(exc))
        return 1
    except OSError as exc:  # a write the library did not expect to fail: still one line
        where = f"{exc.filename}: " if exc.filename else ""
        print_error(f"{where}{exc.strerror or exc}")
        return 1
    except Exception as exc:
        if not _is_usage_error(exc):
            raise
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "adamlab"
        print_error(f"{exc.format_message()} (see '{where} --help')")
        return exc.exit_code
    if result == INTERRUPTED_EXIT:  # Typer's own answer to a Ctrl-C, which says nothing
        print_error(_interrupted(argv))
    return result if isinstance(result, int) else 0


def _interrupted(argv: list[str] | None) -> str:
    """Where things stand after a Ctrl-C that no command handled: `sweep` handles every one
    from the moment its results folder is open, and the other commands change no results."""
    words = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")]
    if words[:1] == ["sweep"]:
        return "interrupted before the sweep started: nothing was run or written"
    return "interrupted: no results were changed"


def run() -> None:  # pragma: no cover - exercised through the console script
    code = main()
    if code == INTERRUPTED_EXIT:
        # The interrupt has been handled and said. Python restores SIGINT's default action while
        # it shuts down, so a second Ctrl-C arriving then would kill the process and turn exit
        # 130 into death by signal; an ignored SIGINT stays ignored through shutdown.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    heavy = "torch" in sys.modules or "pandas" in sys.modules
    if heavy and sys.getprofile() is None and sys.gettrace() is None:
        exit_without_teardown(code)
    sys.exit(code)


def exit_without_teardown(code: int) -> NoReturn:
    """End the process as `sys.exit(code)` would, less the interpreter's teardown of its modules,
    which with torch loaded takes 0.6-0.8 s (2-core machine) after the command has finished,
    and with pandas (every read command but `list`) 0.15-0.2 s.
    What an exit does that leaves a trace is done first: threads that are not daemons joined,
    the atexit handlers run (logging flushed, worker pools and Ray stopped, temporary folders
    removed), stdout and stderr flushed. Not under a profiler or a debugger (`run` checks),
    which write what they saw after the program ends."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None without a console (pythonw)
                stream.flush()
        except (OSError, ValueError):  # a reader that went away (`| head`) or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
