"""`adamlab report DIR --html FILE`: one self-contained page of a results folder.

The page needs nothing but itself (no network, no files beside it): styles inline, figures as
data: PNGs. Sections, in order: the claims and their verdicts (when an experiment applies to the
folder: see adamlab.experiments.registry), the summary tables (the same tables `adamlab
summary` prints, every column), the figures (every kind `adamlab plot` draws, see
`adamlab.analysis.plots.FIGURE_KINDS`), the sweep file as run (sweep.yaml) and the provenance.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from rich.table import Table
from rich.text import Text

from adamlab.analysis.plots import figures
from adamlab.analysis.render import (
    GENERAL_RULES,
    ranking_rule_text,
    summary_table,
    summary_warnings,
)
from adamlab.analysis.summary import summarize
from adamlab.errors import AdamlabError
from adamlab.experiments.criteria import apply_registration, registration
from adamlab.experiments.registry import EXPERIMENTS, judge
from adamlab.experiments.report import SECTIONS, count_line, measured_cell, verdict_cell
from adamlab.store.layout import SWEEP_YAML
from adamlab.store.tables import Results

#: a verdict's colour class (see STYLE)
VERDICT_CLASSES = {
    "holds": "holds", "fails": "fails", "inconclusive": "inconclusive",
    "not measurable": "unmeasured",
}
FIGURE_DPI = 90

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       color: #1d2330; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #d8dce3;
     padding-bottom: 4px; } h3 { margin: 26px 0 8px; font-size: 17px; }
.meta { color: #586174; margin: 0 0 12px; } nav a { margin-right: 16px; }
table { border-collapse: collapse; background: white; margin: 8px 0; font-size: 13.5px;
        box-shadow: 0 1px 2px rgba(0,0,0,.06); }
table.summary { display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #dde1e8; padding: 5px 9px; vertical-align: top; }
th { background: #eef1f5; text-align: left; white-space: pre-line; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td { white-space: pre-line; }
.verdict { font-weight: 600; white-space: nowrap; border-radius: 4px; padding: 2px 8px; }
.holds { background: #dff3e4; color: #17692f; } .fails { background: #fbe0e0; color: #a11d1d; }
.inconclusive { background: #fff2cc; color: #7a5b00; } .unmeasured { background: #eceef2;
  color: #5b6270; }
.rules { color: #586174; font-size: 13px; max-width: 900px; }
figure { display: inline-block; margin: 10px 12px 10px 0; background: white; padding: 8px;
         box-shadow: 0 1px 2px rgba(0,0,0,.08); }
figure img { display: block; width: 540px; max-width: 100%; height: auto; }
figcaption { font-size: 12px; color: #586174; margin-top: 4px; }
pre { background: white; border: 1px solid #dde1e8; padding: 12px; overflow-x: auto;
      font-size: 12.5px; }
"""


def build_html(results: Results, *, experiment: str | None = None,
               current_criteria: bool = False) -> str:
    """The page for `results` (see the module docstring). `experiment` names the experiment
    whose claims to judge; None: the one named like the sweep, if any. The claims are judged
    as `adamlab report` judges them (criteria registered with the folder's first sweep)."""
    chosen, claims, notes = _claims(results, experiment, current_criteria)
    summaries = summarize(results)
    drawn = figures(results)
    counts = results.trials["status"].value_counts()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("finished", "diverged", "failed")]
    where = ", ".join(str(f) for f in results.folders) if results.folders else str(results.root)
    out = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>adamlab report: {_e(results.sweep)}</title><style>{STYLE}</style></head>",
        "<body><main>",
        f'<h1 id="title">Sweep {_e(results.sweep)}</h1>',
        f'<p class="meta">{_e(where)} · {len(results.trials)} trials ended: {_e(", ".join(parts))}'
        + (f" · {results.planned_trials - len(results.trials)} of {results.planned_trials} not "
           "ended yet" if (results.planned_trials or 0) > len(results.trials) else "") + "</p>",
        "<nav>" + "".join(
            f'<a href="#{anchor}">{title}</a>' for anchor, title in (
                ("claims", "Claims"), ("summary", "Summary"), ("figures", "Figures"),
                ("sweep", "Sweep file"), ("provenance", "Provenance"))
            if anchor != "claims" or claims is not None
        ) + "</nav>",
    ]
    if claims is not None:
        out.append(_claims_section(chosen, claims, notes))
    out.append('<section id="summary"><h2>Summary</h2>')
    if not summaries:
        out.append("<p>No trial has ended yet: nothing to summarise.</p>")
    for summary in summaries:
        out.append(f"<h3>{_e(summary.label)}</h3>")
        if summary.has_metric:
            out.append(table_html(summary_table(summary), css_class="summary"))
        for warning in summary_warnings(summary):
            out.append(f'<p class="rules"><b>warning:</b> {_e(warning)}</p>')
        out.append('<div class="rules">' + "".join(
            f"<p>{_e(line)}</p>" for line in ranking_rule_text(summary)) + "</div>")
    out.append('<div class="rules">' + "".join(f"<p>{_e(line)}</p>" for line in GENERAL_RULES)
               + "</div></section>")
    out.append('<section id="figures"><h2>Figures</h2>')
    if not drawn:
        out.append("<p>No figure: no trial logged a metric.</p>")
    for name, figure in drawn:
        out.append(f'<figure><img alt="{_e(name)}" src="{png_data_uri(figure)}">'
                   f"<figcaption>{_e(name)}</figcaption></figure>")
    out.append("</section>")
    sweep_file = _read(results.root / SWEEP_YAML)
    out.append(f'<section id="sweep"><h2>Sweep file</h2><p class="meta">{_e(SWEEP_YAML)}, as '
               f"run (every default written out)</p><pre>{_e(sweep_file)}</pre></section>")
    out.append('<section id="provenance"><h2>Provenance</h2>'
               f"<pre>{_e(json.dumps(results.provenance, indent=1))}</pre></section>")
    out.append("</main></body></html>\n")
    return "\n".join(out)


def table_html(table: Table, *, css_class: str = "") -> str:
    """A Rich table as an HTML table (text only: cell styles are the page's)."""
    columns = table.columns
    cells_of = [list(c.cells) for c in columns]
    rows = max((len(cells) for cells in cells_of), default=0)
    head = "".join(f"<th>{_e(_plain(c.header))}</th>" for c in columns)
    body = []
    for i in range(rows):
        cells = []
        for column, column_cells in zip(columns, cells_of, strict=True):
            text = _plain(column_cells[i]) if i < len(column_cells) else ""
            numeric = column.justify == "right"
            cells.append(f'<td{" class=num" if numeric else ""}>{_e(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    title = f"<caption>{_e(_plain(table.title))}</caption>" if table.title else ""
    return (f'<table class="{css_class}">{title}<thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table>")


def png_data_uri(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def registered_claims(results: Results, experiment: str | None, current_criteria: bool = False):
    """(experiment, claims, notes) as `adamlab report` judges them."""
    chosen, claims = judge(results, experiment)
    claims, notes = apply_registration(
        claims, chosen.criteria, registration(results.root, chosen.name, chosen.criteria),
        current=current_criteria)
    return chosen, claims, notes


def _claims(results: Results, experiment: str | None, current_criteria: bool):
    if experiment is None and results.sweep not in EXPERIMENTS:
        return None, None, []  # no experiment applies: no claims section
    try:
        return registered_claims(results, experiment, current_criteria)
    except AdamlabError:
        if experiment is not None:
            raise
        return None, None, []


def _claims_section(chosen, claims, notes) -> str:
    out = ['<section id="claims"><h2>Claims</h2>',
           f'<p class="meta">{_e(chosen.name)}: {_e(chosen.title)}</p>']
    for kind, title in SECTIONS:
        chosen_claims = [c for c in claims if c.kind == kind]
        if not chosen_claims:
            continue
        out.append(f"<h3>{_e(title)}</h3><table class=claims><thead><tr><th>task</th>"
                   "<th>claim</th><th>measured</th><th>criterion</th><th>verdict</th></tr>"
                   "</thead><tbody>")
        for claim in chosen_claims:
            css = VERDICT_CLASSES.get(claim.verdict, "unmeasured")
            out.append(
                f"<tr><td>{_e(claim.scope or 'all')}</td><td>{_e(claim.claim)}</td>"
                f"<td>{_e(measured_cell(claim))}</td><td>{_e(claim.criterion)}</td>"
                f'<td><span class="verdict {css}" data-verdict="{_e(claim.verdict)}">'
                f"{_e(verdict_cell(claim))}</span></td></tr>"
            )
        out.append("</tbody></table>")
    out.append(f'<p class="meta">{_e(count_line(claims))}</p>')
    out.extend(f'<p class="meta">{_e(note)}</p>' for note in notes)
    out.append("</section>")
    return "".join(out)


def _plain(value) -> str:
    if isinstance(value, Text):
        return value.plain
    return str(value) if value is not None else ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"({path.name} could not be read: {exc})"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)
