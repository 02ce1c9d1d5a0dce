"""Help that reads: no type placeholders on flags, choices listed, an example per command,
shell completion on; the README and tests name no machine's paths."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adamlab.cli.app import main

COMMANDS = ("list", "sweep", "summary", "export", "plot", "report", "runs")
REPO_ROOT = Path(__file__).resolve().parents[1]


def help_text(capsys, *args) -> str:
    assert main([*args, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_shows_an_example_and_no_placeholder_noise(capsys, command):
    text = help_text(capsys, command)
    assert re.search(rf"Example: adamlab {command}\b", text)
    options = text.split("Options:", 1)[1]
    assert not re.search(r"<(bool|str|int|float|path)\b", options), options


def test_choices_are_listed_and_completion_is_on(capsys):
    assert "--rule final|best" in help_text(capsys, "summary")
    assert "--backend local|ray" in help_text(capsys, "sweep")
    assert "FILE.csv|.parquet|.json" in help_text(capsys, "export")
    root = help_text(capsys)
    assert "--install-completion" in root and "--show-completion" in root
    assert all(re.search(rf"^  {c} ", root, re.M) for c in COMMANDS)


def test_a_flag_given_a_value_is_an_error(capsys):
    assert main(["sweep", "x.yaml", "--dry-run", "true"]) != 0
    assert "error:" in capsys.readouterr().err


def test_no_machine_specific_path_in_readme_or_tests():
    texts = {"README.md": (REPO_ROOT / "README.md").read_text()}
    texts.update({p.name: p.read_text() for p in (REPO_ROOT / "tests").glob("*.py")})
    pattern = re.compile(r"(/work/|/home/\w|/Users/\w|shared/data|/tmp/(?!pytest))")
    found = {name: pattern.findall(text) for name, text in texts.items()
             if name != Path(__file__).name}
    assert not {name: hits for name, hits in found.items() if hits}


def test_readme_starts_with_the_tutorial_then_the_schema():
    headings = re.findall(r"^## (.+)$", (REPO_ROOT / "README.md").read_text(), re.M)
    setup = next(i for i, h in enumerate(headings) if h.lower().startswith("set-up"))
    assert headings[setup + 1].lower().startswith("your first sweep")
    assert "schema" in headings[setup + 2].lower()
