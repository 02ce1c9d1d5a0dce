"""The CLI's contract: instant --help, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adamlab import __version__
from adamlab.cli.app import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_importing_the_cli_does_not_import_torch():
    probe = "import sys, adamlab.cli.app; print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_help_lists_every_command_with_a_line_of_help(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    import typer.main

    from adamlab.cli.app import app

    group = typer.main.get_command(app)
    assert group.commands, "no commands registered"
    for name, command in group.commands.items():
        assert name in out
        assert (command.help or "").strip(), f"command {name!r} has no help line"


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"adamlab {__version__}"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["--nonsense"], "No such option: --nonsense"),
        (["list", "bogus"], "allowed: all, tasks, optimizers"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(capsys, args, expected):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def test_console_script_exit_code_and_stderr():
    result = subprocess.run(
        [sys.executable, "-c", "from adamlab.cli.app import run; run()", "frobnicate"],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: No such command")
    assert "Traceback" not in result.stderr


def test_list_optimizers_shows_names_and_defaults(capsys):
    code, out, _ = run_cli(capsys, "list", "optimizers")
    assert code == 0
    for name in ("adam", "adamw", "sgd", "momentum", "nesterov", "torch_adam", "torch_adamw"):
        assert name in out
    assert "beta2=0.999" in out
    assert "weight_decay=0.01" in out  # AdamW's default decay
    flat = " ".join(out.split())  # the table wraps long cells
    assert "weight_decay_scaling=lr" in flat
    assert "every optimizer also takes schedule=constant, warmup_steps=0" in flat
    assert "constant | cosine | linear" in flat and "lr | schedule" in flat


def test_read_commands_run_without_the_cyclic_gc_and_restore_it(capsys, monkeypatch):
    import gc
    from pathlib import Path

    import adamlab.store.merge

    saved = Path(__file__).parent / "data" / "saved_results"
    seen = []
    real = adamlab.store.merge.load_folders

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(adamlab.store.merge, "load_folders", spy)
    assert gc.isenabled()
    code, out, _ = run_cli(capsys, "summary", str(saved))
    assert code == 0 and "quadratic" in out
    assert seen == [False] and gc.isenabled()
    code, _, err = run_cli(capsys, "summary", str(saved / "no-such-folder"))
    assert code == 1 and "no such results folder" in err
    assert seen == [False, False] and gc.isenabled()
