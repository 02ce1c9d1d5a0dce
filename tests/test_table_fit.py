"""Tables that fit: at 80, 100 and 120 columns no line is wider than the console and no number is
split; columns give way in the stated order and the output says so; piped and on a terminal the
same. For summary, report, sweep --dry-run and runs."""

from __future__ import annotations

import re

import pytest
from experiments_testing import write_folder
from results_fixture import write_results
from sweep_testing import quick_sweep
from test_experiments_embedding import embedding_records

from adamlab.analysis.render import FIT_STEPS
from adamlab.cli import console
from adamlab.cli.app import main

WIDTHS = (80, 100, 120)
NUMBER = re.compile(r"^[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?[×%]?$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    hand = write_results(root / "hand")
    claims = write_folder(root / "a_results_folder_with_a_long_name" / "embedding_sparsity",
                          embedding_records(), "embedding_sparsity")
    return {"hand": hand, "claims": claims, "root": root}


def commands(folders, tmp_path):
    return {
        "summary": ["summary", folders["hand"]],
        "summary --all": ["summary", folders["hand"], "--all", "--task", "quadratic"],
        "report": ["report", folders["claims"]],
        "dry-run": ["sweep", quick_sweep(tmp_path), "--dry-run", "-o", tmp_path / "out"],
        "runs": ["runs", folders["root"]],
        "list": ["list", "optimizers"],
    }


def output(capsys, args) -> str:
    main([str(a) for a in args])
    return capsys.readouterr().out


def tokens(text: str) -> set[str]:
    return {t.strip("[](),;:") for t in re.split(r"[\s│┃┆|]+", text) if t}


@pytest.mark.parametrize("width", WIDTHS)
def test_no_line_is_wider_than_the_console_and_no_number_is_split(capsys, console_width, folders,
                                                                  tmp_path, width):
    for name, args in commands(folders, tmp_path).items():
        console_width(1000)
        whole = tokens(output(capsys, args))
        console_width(width)
        text = output(capsys, args)
        table_lines = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└"]
        assert table_lines, name
        too_wide = [line for line in table_lines if len(line) > width]
        assert not too_wide, (name, too_wide[:2])
        # every number printed at this width is one of the numbers printed in full
        split = [t for t in tokens("\n".join(table_lines)) if NUMBER.match(t) and t not in whole]
        assert not split, (name, split)
        assert not any("…" in line for line in table_lines), name  # nothing cut short


def test_columns_give_way_in_the_stated_order(capsys, console_width, folders):
    seen = []
    for width in (250, *reversed(WIDTHS)):
        console_width(width)
        text = " ".join(output(capsys, ["summary", folders["hand"], "--task", "quadratic"]).split())
        note = re.search(r"To fit \d+ columns: (.*?) \(a wider terminal", text)
        seen.append(note.group(1).split("; ") if note else [])
    assert seen[0] == []  # 250 columns: everything, one line a row
    for steps in seen[1:]:
        assert steps == list(FIT_STEPS[:len(steps)])  # a prefix of the stated order
    assert len(seen[-1]) >= len(seen[1])
    console_width(80)
    text = output(capsys, ["summary", folders["hand"], "--task", "quadratic"])
    assert "0.09086" in text and "[0.02286, 0.3612]" in text  # the interval on its own line


def test_piped_and_on_a_terminal_the_same(capsys, console_width, folders, tmp_path, monkeypatch):
    for name, args in commands(folders, tmp_path).items():
        console_width(100)
        piped = output(capsys, args)
        monkeypatch.setattr(console.stdout, "_force_terminal", True)
        terminal = ANSI.sub("", output(capsys, args))
        monkeypatch.setattr(console.stdout, "_force_terminal", False)
        assert terminal == piped, name
