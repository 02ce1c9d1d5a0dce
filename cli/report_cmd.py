"""`adamlab report RESULTS_DIR`: an experiment's expected claims, measured on its results.

The claims are computed by `adamlab.experiments` (pure functions of the loaded results) and
formatted by `adamlab.experiments.report`; this module prints them. The experiments, the results
tables and the HTML page import pandas (the page also matplotlib), and the sweep schema
pydantic: they are imported inside the command, so `adamlab --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from adamlab.analysis.table_fit import Fitted, fit_table, print_fitted
from adamlab.cli.console import print_error, printable, stdout
from adamlab.errors import AdamlabError
from adamlab.experiments.criteria import apply_registration, registration
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
from adamlab.store.atomic import cannot, write_text_atomic

STYLES = {"holds": "green", "fails": "bold red", "inconclusive": "yellow", "not measurable": "dim"}


def report(
    results_dir: Annotated[Path, typer.Argument(
        help="A sweep's results folder (the one holding adamlab-results.json).",
        metavar="RESULTS_DIR", show_default=False,
    )],
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", metavar="NAME",
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
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE.html", show_default=False,
        help="Write one self-contained HTML page instead (works offline): the claims coloured by "
        "verdict (when an experiment applies), the summary tables, every figure, the sweep file "
        "and the provenance.",
    )] = None,
) -> None:
    """Measure an experiment's expected claims on its results folder and say which hold.

    With --html: one self-contained page of any results folder (claims only when an
    experiment applies).

    Example: adamlab report results/quickstart --html quickstart.html
    """
    if html is not None:
        _write_html(results_dir, html, experiment, current_criteria)
        if check:
            # lazy: imports pandas, matplotlib
            from adamlab.analysis.html_report import registered_claims
            from adamlab.store.tables import load_results  # lazy: imports pandas

            _, claims, _ = registered_claims(load_results(results_dir), experiment, current_criteria)
            if not all_hold(claims):
                print_error("--check: some claims and checks do not hold (see the page)")
                raise typer.Exit(1)
        return
    if as_json and markdown:
        raise typer.BadParameter("give one of --json and --markdown", param_hint="--json")
    from adamlab.store.tables import load_results  # lazy: imports pandas

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
            highlight=False,  # wrapped at spaces to the width, as the tables are
        )
        with_scope = any(claim.scope for claim in claims)
        for kind, title in SECTIONS:
            chosen_claims = [c for c in claims if c.kind == kind]
            if chosen_claims:
                print_fitted(stdout, fit_table(
                    stdout, lambda level, cs=chosen_claims, t=title: _claims_table(
                        cs, t, with_scope, level),
                    len(REPORT_FIT_STEPS) + 1,
                ))
        stdout.print(count_line(claims), highlight=False)
        for note in notes:
            stdout.print(note, highlight=False, soft_wrap=True)
    if check and not all_hold(claims):
        failing = sum(c.verdict != "holds" for c in claims)
        print_error(f"--check: {failing} of {len(claims)} claims and checks do not hold")
        raise typer.Exit(1)


def _write_html(results_dir: Path, out: Path, experiment: str | None,
                current_criteria: bool = False) -> None:
    from adamlab.analysis.html_report import build_html  # lazy: imports pandas, matplotlib
    from adamlab.store.tables import load_results  # lazy: imports pandas

    if out.suffix.lower() not in (".html", ".htm"):
        raise AdamlabError(f"--html {out}: name the page *.html")
    if out.is_dir():
        raise AdamlabError(f"--html {out}: is a folder; give a file name such as {out}/report.html")
    page = build_html(load_results(results_dir), experiment=experiment,
                      current_criteria=current_criteria)
    try:
        write_text_atomic(out, page)
    except OSError as exc:
        raise cannot("write", out, exc) from None
    stdout.print(f"wrote {out} ({len(page) / 2**20:.1f} MB, self-contained: open it in a browser)",
                 markup=False, highlight=False, soft_wrap=True)


#: what the claims tables give up, in this order, to fit the width
REPORT_FIT_STEPS = ("the task above its claim", "the criterion under its claim")
#: a text column narrower than this reads a word a line
TEXT_MIN_WIDTH = 16


def _claims_table(claims, title: str, with_scope: bool, level: int) -> Fitted:
    table = Table(show_lines=True, title=title, title_justify="left", title_style="bold")
    # text wraps at spaces only: a column is never narrower than its longest word, so no number
    # or name is cut
    task_column = with_scope and level < 1
    criterion_column = level < 2
    if task_column:
        table.add_column("task", style="cyan", no_wrap=True)
    table.add_column("claim", min_width=TEXT_MIN_WIDTH)
    table.add_column("measured", min_width=TEXT_MIN_WIDTH)
    if criterion_column:
        table.add_column("criterion", min_width=TEXT_MIN_WIDTH)
    table.add_column("verdict", no_wrap=True)
    for claim in claims:
        # claims and measurements quote values like [0.99, 0.999]: not Rich markup
        first = Text()
        if with_scope and not task_column:
            first.append(f"{claim.scope or 'all'}\n", style="cyan")
        first.append(claim.claim)
        if not criterion_column:
            first.append(f"\ncriterion: {claim.criterion}", style="dim")
        cells = [first, _plain(measured_cell(claim))]
        if criterion_column:
            cells.append(_plain(claim.criterion))
        if task_column:
            cells.insert(0, _plain(claim.scope or "all"))
        table.add_row(*cells, _plain(verdict_cell(claim), STYLES[claim.verdict]))
    return Fitted(table, list(REPORT_FIT_STEPS[:level]))


def _reproduce_with(results, config: str) -> str:
    """The experiment's config when the folder holds exactly its trials; else the folder's own
    resolved sweep.yaml (the folder was made from another YAML, or the config is not here)."""
    from adamlab.sweep.schema import load_sweep  # lazy: imports pydantic and yaml
    from adamlab.sweep.trials import expand_trials  # lazy: imports pydantic and yaml

    planned = results.manifest.get("trial_ids")
    try:
        expected = {t.trial_id for t in expand_trials(load_sweep(config, preflight=False))}
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


def _plain(text: str, style: str = "") -> Text:
    return Text(text, style=style)
