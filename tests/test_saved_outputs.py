"""Every read command prints what it printed before, byte for byte, on saved folders.

tests/data holds three results folders: `saved_results` (a real sweep of tests/data/saved_sweep.yaml),
`saved_hand` (tests/results_fixture.py's hand-chosen numbers: diverged and failed trials, two
tasks) and `saved_claims` (tests/test_experiments_embedding.py's embedding-sparsity records, whose
claims `report` judges). tests/data/saved_outputs holds what each command below printed on them
(standard output, then standard error after a `--- stderr` line; each command runs in a
folder holding copies of the three, named by relative paths, so nothing depends on where that
folder is). A refactor must leave them equal; a change meant to alter an output
regenerates them with `python tests/test_saved_outputs.py` and its commit says why.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
GOLDEN = DATA / "saved_outputs"
FOLDERS = ("saved_results", "saved_hand", "saved_claims")

#: name -> (console width, arguments); <folder> names a copied folder
COMMANDS: dict[str, tuple[int, list[str]]] = {
    "summary_80": (80, ["summary", "<saved_results>"]),
    "summary_120": (120, ["summary", "<saved_results>"]),
    "summary_all_120": (120, ["summary", "<saved_results>", "--all"]),
    "summary_json": (120, ["summary", "<saved_results>", "--json"]),
    "summary_tuning_curve_100": (100, ["summary", "<saved_results>", "--tuning-curve"]),
    "summary_hand_100": (100, ["summary", "<saved_hand>"]),
    "summary_hand_best_all_120": (120, ["summary", "<saved_hand>", "--rule", "best", "--all"]),
    "summary_hand_against_80": (80, ["summary", "<saved_hand>", "--task", "quadratic",
                                     "--against", "momentum"]),
    "summary_hand_at_step_100": (100, ["summary", "<saved_hand>", "--at-step", "20"]),
    "summary_hand_json": (120, ["summary", "<saved_hand>", "--json"]),
    "summary_two_folders_120": (120, ["summary", "<saved_results>", "<saved_hand>"]),
    "report_claims_80": (80, ["report", "<saved_claims>"]),
    "report_claims_json": (120, ["report", "<saved_claims>", "--json"]),
    "report_hand_bias_correction_80": (80, ["report", "<saved_hand>", "--experiment", "bias_correction"]),
    "report_results_quickstart_100": (100, ["report", "<saved_results>", "--experiment", "quickstart"]),
    "export_csv": (120, ["export", "<saved_results>"]),
    "export_long_csv": (120, ["export", "<saved_hand>", "--long", "--task", "quadratic"]),
    "dry_run_80": (80, ["sweep", "saved_sweep.yaml", "--dry-run", "-o", "out"]),
    "list_100": (100, ["list"]),
}


def run_command(args: list[str], width: int, root: Path) -> str:
    """The command's stdout and stderr, run in `root` (which holds copies of the folders)."""
    import io
    import os
    from contextlib import redirect_stderr, redirect_stdout

    from adamlab.cli import console
    from adamlab.cli.app import main

    argv = [a.replace("<", "").replace(">", "") for a in args]
    out, err = io.StringIO(), io.StringIO()
    # the private fields, not the properties: `file` reads back sys.stdout when unset
    saved = {c: (c._file, c._width) for c in (console.stdout, console.stderr)}
    here = Path.cwd()
    try:
        os.chdir(root)
        console.stdout.file, console.stderr.file = out, err
        console.stdout._width = console.stderr._width = width
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(here)
        for c, (file, w) in saved.items():
            c._file, c._width = file, w
    return f"exit {code}\n{out.getvalue()}--- stderr\n{err.getvalue()}"


def copied_folders(root: Path) -> Path:
    for name in FOLDERS:
        shutil.copytree(DATA / name, root / name)
    shutil.copy(DATA / "saved_sweep.yaml", root)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return copied_folders(tmp_path_factory.mktemp("saved"))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_read_command_prints_what_it_printed_before(folders, name):
    width, args = COMMANDS[name]
    expected = (GOLDEN / f"{name}.txt").read_text()
    assert run_command(args, width, folders) == expected


if __name__ == "__main__":  # regenerate the golden files (say why in the commit)
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        copies = copied_folders(Path(tmp))
        for command, (columns, arguments) in sorted(COMMANDS.items()):
            (GOLDEN / f"{command}.txt").write_text(run_command(arguments, columns, copies))
            print("wrote", command)
