"""`adamlab report RESULTS_DIR`: an experiment's expected claims, measured on its results.

The claims are computed by `adamlab.experiments` (pure functions of the loaded results) and
formatted by `adamlab.experiments.report`; this module prints them. pandas and the experiments
are imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from adamlab.cli.console import print_error, printable, stdout

STYLES = {"holds": "green", "fails": "bold red", "inconclusive": "yellow", "not measurable": "dim"}


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
        "--check", help="Exit with status 1 unless every claim and check holds.",
    )] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the claims as a JSON list instead of tables.",
    )] = False,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="Print the claims as Markdown tables (as EXPERIMENTS.md quotes them).",
    )] = False,
    current_criteria: Annotated[bool, typer.Option(
        "--current-criteria", help="Judge claims whose criterion changed after the folder's "
        "first sweep with today's criterion (default: leave them unjudged).",
    )] = False,
) -> None:
    """State each claim of the experiment as a measured quantity and its verdict."""
    from adamlab.experiments.registry import judge
    from adamlab.experiments.report import (
        SECTIONS,
        all_hold,
        claims_json,
        claims_markdown,
        count_line,
        measured_cell,
        verdict_cell,
    )
    from adamlab.store.tables import load_results

    if as_json and markdown:
        raise typer.BadParameter("give one of --json and --markdown", param_hint="--json")
    from adamlab.experiments.criteria import apply_registration, registration

    results = load_results(results_dir)
    chosen, claims = judge(results, experiment)
    claims, notes = apply_registration(
        claims, chosen.criteria, registration(results.root, chosen.name, chosen.criteria),
        current=current_criteria)
    if as_json:
        typer.echo(printable(claims_json(claims)))
    elif markdown:
        typer.echo(printable(claims_markdown(claims) + "".join(f"\n{note}\n" for note in notes)), nl=False)
    else:
        stdout.print(
            f"[bold]{chosen.name}[/]: {chosen.title}\n"
            f"results {results.root} (sweep {results.sweep}, {_trial_count(results)}); "
            f"{_reproduce_with(results, chosen.config)}",
            highlight=False, soft_wrap=True,
        )
        with_scope = any(claim.scope for claim in claims)
        for kind, title in SECTIONS:
            chosen_claims = [c for c in claims if c.kind == kind]
            if not chosen_claims:
                continue
            table = Table(show_lines=True, title=title, title_justify="left", title_style="bold")
            if with_scope:
                table.add_column("task", style="cyan", overflow="fold")
            table.add_column("claim", ratio=3, overflow="fold")
            table.add_column("measured", ratio=4, overflow="fold")
            table.add_column("criterion", ratio=3, overflow="fold")
            table.add_column("verdict", no_wrap=True)
            for claim in chosen_claims:
                cells = [claim.claim, measured_cell(claim), claim.criterion]
                if with_scope:
                    cells.insert(0, claim.scope or "all")
                # claims and measurements quote values like [0.99, 0.999]: not Rich markup
                table.add_row(*(_plain(cell) for cell in cells),
                              _plain(verdict_cell(claim), STYLES[claim.verdict]))
            stdout.print(table)
        stdout.print(count_line(claims), highlight=False)
        for note in notes:
            stdout.print(note, highlight=False, soft_wrap=True)
    if check and not all_hold(claims):
        failing = sum(c.verdict != "holds" for c in claims)
        print_error(f"--check: {failing} of {len(claims)} claims and checks do not hold")
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


def _plain(text: str, style: str = ""):
    from rich.text import Text

    return Text(text, style=style)
