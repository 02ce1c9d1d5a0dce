"""`adamlab report RESULTS_DIR`: an experiment's expected claims, measured on its results.

The claims are computed by `adamlab.experiments` (pure functions of the loaded results); this
module prints them. pandas and the experiments are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from adamlab.cli.console import print_error, stdout

MARKS = {"holds": "[green]✓[/]", "fails": "[bold red]✗[/]", "unmeasured": "[yellow]?[/]"}


def report(
    results_dir: Annotated[Path, typer.Argument(
        help="A sweep's results folder (the one holding adamlab-results.json).",
        metavar="RESULTS_DIR", show_default=False,
    )],
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e",
        help="Judge the results as this experiment (default: the one named like the sweep).",
    )] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit with status 1 unless every claim holds.",
    )] = False,
) -> None:
    """State each claim of the experiment as a measured quantity and whether it holds."""
    from adamlab.experiments.registry import judge
    from adamlab.store.tables import load_results

    results = load_results(results_dir)
    chosen, claims = judge(results, experiment)
    stdout.print(
        f"[bold]{chosen.name}[/]: {chosen.title}\n"
        f"results {results.root} (sweep {results.sweep}, {_trial_count(results)}); "
        f"{_reproduce_with(results, chosen.config)}",
        highlight=False, soft_wrap=True,
    )
    with_scope = any(claim.scope for claim in claims)
    table = Table(show_lines=True)
    if with_scope:
        table.add_column("task", style="cyan", overflow="fold")
    table.add_column("claim", ratio=3)
    table.add_column("measured", ratio=4)
    table.add_column("criterion", ratio=3)
    table.add_column("", justify="center", no_wrap=True)
    for claim in claims:
        cells = [claim.claim, claim.measured, claim.criterion, MARKS[claim.status]]
        if with_scope:
            cells.insert(0, claim.scope or "all")
        # claims and measurements quote values like [0.99, 0.999]: not Rich markup
        table.add_row(*(_plain(cell) for cell in cells[:-1]), cells[-1])
    stdout.print(table)
    counts = {status: sum(c.status == status for c in claims) for status in MARKS}
    line = f"{counts['holds']} of {len(claims)} claims hold"
    if counts["fails"]:
        line += f"; {counts['fails']} fail (✗)"
    if counts["unmeasured"]:
        line += f"; {counts['unmeasured']} not measurable from these results (?)"
    stdout.print(line + ".", highlight=False)
    if check and counts["holds"] < len(claims):
        print_error(f"--check: {len(claims) - counts['holds']} of {len(claims)} claims do not hold")
        raise typer.Exit(1)


def _reproduce_with(results, config: str) -> str:
    """The experiment's config when the folder holds exactly its trials; else the folder's own
    resolved sweep.yaml (the folder was made from another YAML, or the config is not here)."""
    from adamlab.errors import AdamlabError
    from adamlab.sweep.schema import load_sweep
    from adamlab.sweep.trials import expand_trials

    planned = results.manifest.get("trial_ids")
    try:
        expected = {t.trial_id for t in expand_trials(load_sweep(config))}
    except AdamlabError:
        expected = None
    if planned is not None and expected is not None and set(planned) == expected:
        return f"reproduce with: adamlab sweep {config}"
    return (f"not made from {config} as it stands; reproduce with: adamlab sweep "
            f"{results.root / 'sweep.yaml'}")


def _trial_count(results) -> str:
    ended = len(results.trials)
    planned = results.planned_trials
    if planned is not None and planned != ended:
        return f"{ended} of {planned} trials ended: the sweep is not finished"
    return f"{ended} trials"


def _plain(text: str):
    from rich.text import Text

    return Text(text)
