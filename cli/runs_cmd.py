"""`adamlab runs [ROOT]`: the results folders under ROOT, one row each (see adamlab.store.catalog)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from adamlab.analysis.table_fit import Fitted, fit_table, print_fitted
from adamlab.cli.console import stdout
from adamlab.errors import AdamlabError


def runs(
    root: Annotated[Path, typer.Argument(
        help="Where to look for results folders (searched recursively).", metavar="ROOT",
    )] = Path("results"),
) -> None:
    """List the results folders under ROOT: sweep, trials done/diverged/failed, last run, stale.

    Example: adamlab runs results
    """
    from adamlab.store.catalog import (  # lazy: imports pydantic
        find_results_folders,
        installed_environment_key,
        survey_folder,
    )

    if not root.is_dir():
        raise AdamlabError(f"{root}: no such folder (give the folder that holds results folders)")
    folders = find_results_folders(root)
    if not folders:
        stdout.print(f"No results folder under {root} (a results folder holds adamlab-results.json).",
                     markup=False, highlight=False)
        return
    key = installed_environment_key()
    surveyed = [survey_folder(path, key) for path in folders]

    def build(level: int) -> Fitted:
        # level 1: the sweep's name under its folder, names folding, the last run without its
        # year; the numbers never fold
        table = Table(title=f"Results folders under {root}", title_justify="left",
                      title_style="bold")
        if level == 0:
            table.add_column("folder", style="cyan", no_wrap=True)
            table.add_column("sweep", style="bold", no_wrap=True)
        else:
            table.add_column("folder (sweep)", style="cyan", overflow="fold", max_width=28)
        table.add_column(Text("ended"), justify="right", no_wrap=True)
        table.add_column(Text("fin/div/fail"), justify="right", no_wrap=True)
        table.add_column("last run", no_wrap=True)
        table.add_column("stale", justify="right", no_wrap=True)
        for run in surveyed:
            where = str(run.path.relative_to(root)) if run.path != root else "."
            planned = "?" if run.planned is None else str(run.planned)
            updated = run.updated.replace("T", " ")[:16]
            stale = Text(str(run.stale) if run.stale else "no",
                         style="yellow" if run.stale else "green")
            if run.problem:
                stale.append(f" ({run.problem})", style="red")
            names = [where, run.sweep] if level == 0 else [
                Text(where).append(f"\n({run.sweep})", style="bold")]
            table.add_row(*names, f"{run.ended}/{planned}",
                          f"{run.finished}/{run.diverged}/{run.failed}",
                          updated if level == 0 else updated[5:], stale)
        return Fitted(table, ["the sweep under its folder, the last run without its year"]
                      if level else [])

    print_fitted(stdout, fit_table(stdout, build, 2))
    stdout.print(Text(
        "ended: trials with a record, of the sweep's; fin/div/fail: finished, diverged, failed; "
        "stale: records made with another adamlab source, adamlab version or torch version than "
        "this installation's (adamlab sweep --rerun-stale runs them again)", style="dim"))
