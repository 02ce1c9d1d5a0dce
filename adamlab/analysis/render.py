"""Rich tables of a summary: one per task instance, the rules printed under each."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from adamlab.analysis.grouping import BOUNDED_SUFFIX, is_missing
from adamlab.analysis.summary import (
    GENERAL_RULES,
    MIN_PAIRS,
    SummaryOptions,
    TaskSummary,
    ranking_rule_text,
    summarize,
)
from adamlab.store.tables import Results, load_results


def print_summary(
    results_dir: str | Path,
    console: Console,
    *,
    options: SummaryOptions | None = None,
    show_all: bool = False,
    results: Results | None = None,
) -> list[TaskSummary]:
    """Print the summary of a results folder; returns what it printed.

    `results`, when given (e.g. what `rebuild_tables` returned), saves reading the folder again.
    """
    results = results if results is not None else load_results(results_dir)
    options = replace(options or SummaryOptions(), all_configs=show_all)
    summaries = summarize(results, options)
    console.print(_header(results))
    if not summaries:
        console.print("No trial has ended yet: nothing to summarise.")
        return summaries
    for summary in summaries:
        console.print()
        if not summary.has_metric:
            console.print(
                Text(
                    f"{summary.label}: no {summary.metric} recorded; recorded: "
                    + (", ".join(summary.available_metrics) or "none"),
                    style="yellow",
                )
            )
            if summary.configs["n_missing"].sum():
                continue  # finished trials without the metric: a table of dashes says nothing
        _print_wide(console, summary_table(summary, show_all=show_all))
        for warning in summary.warnings:
            console.print(Text(f"warning: {warning}", style="bold yellow"))
        for line in ranking_rule_text(summary):
            console.print(Text(line, style="dim"))
    console.print()
    for line in GENERAL_RULES:
        console.print(Text(line, style="dim"))
    return summaries


def _print_wide(console: Console, table: Table) -> None:
    """In a terminal the table fits the window; into a file or a pipe (CI logs, `| less`) it
    keeps its natural width rather than wrapping every number."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(1000), table).maximum
    options = console.options.update_width(max(console.width, natural))
    lines = console.render_lines(table, options, new_lines=True)
    console.print(Segments([segment for line in lines for segment in line]), crop=False,
                  soft_wrap=True)


def _header(results: Results) -> Text:
    counts = results.trials["status"].value_counts()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("finished", "diverged", "failed")]
    text = Text()
    text.append(f"Sweep {results.sweep}", style="bold")
    text.append(f"  {results.root}  ·  {len(results.trials)} trials ended: {', '.join(parts)}")
    pending = (results.planned_trials or 0) - len(results.trials)
    if pending > 0:
        text.append(f"  ·  {pending} of {results.planned_trials} not ended yet", style="yellow")
    if results.stale_records:
        text.append(
            f"  ·  {results.stale_records} record(s) of an earlier version of the sweep not shown",
            style="dim",
        )
    return text


def summary_table(summary: TaskSummary, *, show_all: bool = False) -> Table:
    rows = summary.configs if show_all else summary.variant_best
    what = "every config" if show_all else "best config per variant (--all: every config)"
    at = f" at step {summary.at_step}" if summary.at_step is not None else ""
    arrow = "↓" if summary.goal == "min" else "↑"
    selected = (
        f" (selected on {summary.select_metric})" if summary.select_metric != summary.metric else ""
    )
    table = Table(
        title=f"{summary.label}: {summary.rule} {summary.metric}{at} {arrow}{selected} · {what}",
        title_justify="left",
        title_style="bold",
        caption=(f"◆ reference config; ★ Holm-adjusted p < 0.05 on ≥ {MIN_PAIRS} pairs"
                 if summary.baselines else None),
        caption_justify="left",
    )
    sign = "÷" if summary.comparison_scale == "ratio" else "−"
    points = summary.metric.endswith(BOUNDED_SUFFIX)
    centre = escape({"log t": "geo. mean [log-t 95%]", "t": "mean [t 95%]"}.get(
        summary.interval, "mean [t 95%, clipped to [0, 1]]"))  # brackets are not Rich markup
    header = ["#", "variant", *(c.split(".", 1)[1] for c in summary.varying), centre]
    for baseline in summary.baselines.values():
        bound = "" if baseline.bracketed else " (≤ lead: not bracketed)"
        header.append(f"{sign}{baseline.title} [95%]{bound}")
    if summary.target is not None:
        header.append("steps to target (÷SGD)")
    header += ["grid edge", "seeds ok/div/fail"]
    body = []
    for _, row in rows.iterrows():
        rank = row["rank"] if show_all else row["variant_rank"]
        cells: list[Text | str] = [str(int(rank)), _variant_cell(row)]
        cells += [_format_hparam(row[c]) for c in summary.varying]
        cells.append(_format_mean(row))
        for kind in summary.baselines:
            cells.append(_format_comparison(row, kind, summary.comparison_scale, points=points))
        if summary.target is not None:
            cells.append(_format_steps(row))
        cells.append(_format_edges(row))
        cells.append(_format_seeds(row))
        body.append((cells, "on grey15" if row["baseline"] else None))
    for i, name in enumerate(header):
        if i == 1:
            table.add_column(name, style="bold cyan")
        else:
            table.add_column(name, justify="right", overflow="fold")
    for cells, style in body:
        table.add_row(*cells, style=style)
    return table


def _variant_cell(row: pd.Series) -> Text:
    text = Text(str(row["variant"]))
    if row["variant"] != row["optimizer"]:
        text.append(f" ({row['optimizer']})", style="dim")
    if row["baseline"]:
        text.append(" ◆", style="yellow")
    return text


def format_number(value: float) -> str:
    if is_missing(value):
        return "—"
    return f"{value:.4g}"


def _format_hparam(value) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _format_mean(row: pd.Series) -> str:
    if math.isnan(row["mean"]):
        return "—"
    text = format_number(row.get("centre", row["mean"]))
    if not math.isnan(row["ci_low"]):
        text += f" [{format_number(row['ci_low'])}, {format_number(row['ci_high'])}]"
    return text


def _format_comparison(row: pd.Series, kind: str, scale: str, *, points: bool = False) -> Text:
    estimate = row.get(f"ratio_vs_{kind}", math.nan)
    if is_missing(estimate):
        return Text("—")
    unit = "×" if scale == "ratio" else " pp" if points else ""
    digits = ((lambda v: f"{v:.3g}") if scale == "ratio"
              else (lambda v: f"{100 * v:+.3g}") if points else format_number)
    text = Text(f"{digits(estimate)}{unit}")
    low, high = row[f"low_vs_{kind}"], row[f"high_vs_{kind}"]
    if not is_missing(low):
        text.append(f" [{digits(low)}, {digits(high)}]", style="dim")
    if row.get(f"significant_vs_{kind}", False):
        text.append(" ★", style="bold yellow")
    if row[f"method_vs_{kind}"] == "welch":
        text.append(" welch", style="yellow")
    if row[f"left_out_vs_{kind}"]:
        text.append(f" ({row[f'left_out_vs_{kind}']} seed(s) left out)", style="yellow")
    return text


def _format_steps(row: pd.Series) -> str:
    if row["n_ok"] == 0:
        return "—"
    text = row["steps_text"] or "—"
    if not math.isnan(row["steps_ratio_vs_sgd"]):
        text += f" ({row['steps_ratio_vs_sgd']:.3g}×)"
    return text


def _format_edges(row: pd.Series) -> Text:
    edges = row.get("grid_edge") or {}
    text = Text()
    for i, (hp, flag) in enumerate(edges.items()):
        if i:
            text.append(", ")
        text.append(f"{hp}: {flag}", style="yellow" if flag != "stability limit" else "dim")
    return text


def _format_seeds(row: pd.Series) -> Text:
    text = Text(str(row["n_ok"]))
    text.append("/")
    text.append(str(row["n_diverged"]), style="bold red" if row["n_diverged"] else None)
    text.append("/")
    text.append(str(row["n_failed"]), style="bold red" if row["n_failed"] else None)
    if row["n_missing"]:
        text.append(f" ({row['n_missing']} without metric)", style="yellow")
    if row.get("n_no_learn", 0):
        text.append(f" ({row['n_no_learn']} did not learn)", style="bold red")
    return text
