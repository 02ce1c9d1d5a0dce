"""Rich tables of a summary: one per task instance, the rules printed under each."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
from rich.console import Console
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
from adamlab.analysis.table_fit import print_fitted
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
        print_fitted(console, fitted_summary_table(console, summary, show_all=show_all))
        for warning in summary.warnings:
            console.print(Text(f"warning: {warning}", style="bold yellow"))
        for line in ranking_rule_text(summary):
            console.print(Text(line, style="dim"))
    console.print()
    for line in GENERAL_RULES:
        console.print(Text(line, style="dim"))
    return summaries


def _header(results: Results) -> Text:
    counts = results.trials["status"].value_counts()
    parts = [f"{counts.get(s, 0)} {s}" for s in ("finished", "diverged", "failed")]
    text = Text()
    text.append(f"Sweep {results.sweep}", style="bold")
    where = ", ".join(str(f) for f in results.folders) if results.folders else str(results.root)
    text.append(f"  {where}  ·  {len(results.trials)} trials ended: {', '.join(parts)}")
    pending = (results.planned_trials or 0) - len(results.trials)
    if pending > 0:
        text.append(f"  ·  {pending} of {results.planned_trials} not ended yet", style="yellow")
    if results.records_not_in_sweep:
        text.append(
            f"  ·  {results.records_not_in_sweep} record(s) of an earlier version of the sweep not shown",
            style="dim",
        )
    return text


#: what the summary table gives up, in this order, to fit the width (see `summary_table`)
FIT_STEPS = (
    "intervals on their own line",
    "steps to target left out",
    "grid edge left out",
    "comparison intervals left out",
    "comparisons beyond the first left out",
    "hyperparameters under the variant",
)


def summary_table(summary: TaskSummary, *, show_all: bool = False, level: int = 0) -> Table:
    """The summary's table at compaction `level` (0 = everything on one line per row; each
    level also applies the FIT_STEPS before it). Number cells never wrap."""
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
    own_line = level >= 1
    with_steps = summary.target is not None and level < 2
    with_edges = level < 3
    with_intervals = level < 4
    baselines = list(summary.baselines.values())
    if level >= 5:
        baselines = baselines[:1]
    hp_under_variant = level >= 6
    folders = _has_folders(summary)
    sign = "÷" if summary.comparison_scale == "ratio" else "−"
    header: list[tuple[str, str]] = [("#", "right"), ("variant", "left")]
    if folders:
        header.append(("folder", "left"))
    if not hp_under_variant:
        header += [(c.split(".", 1)[1], "right") for c in summary.varying]
    points = summary.metric.endswith(BOUNDED_SUFFIX)
    centre = {"log t": "geo. mean [log-t 95%]", "t": "mean [t 95%]"}.get(
        summary.interval, "mean [t 95%, clipped to [0, 1]]")
    if own_line:  # the header breaks where the cells do
        centre = centre.replace(" [", "\n[", 1).replace(", clipped", ",\nclipped")
    header.append((centre, "right"))
    for baseline in baselines:
        title = f"{sign}{baseline.title}" + (" [95%]" if with_intervals else "")
        if not baseline.bracketed:
            title += "\n(≤ lead: not\nbracketed)"
        header.append((title, "right"))
    if with_steps:
        header.append(("steps to\ntarget (÷SGD)", "right"))
    if with_edges:
        header.append(("grid edge", "left"))
    header.append(("seeds\nok/div/fail", "right"))
    for i, (name, justify) in enumerate(header):
        title = Text(name)  # not markup: "[t 95%]" is text
        if i == 1:  # names and hyperparameter values are never cut either
            table.add_column(title, style="bold cyan", no_wrap=True)
        elif name == "grid edge":
            table.add_column(title, justify=justify)  # words wrap at spaces; no numbers here
        else:
            table.add_column(title, justify=justify, no_wrap=True)
    for _, row in rows.iterrows():
        rank = row["rank"] if show_all else row["variant_rank"]
        variant = _variant_cell(row)
        if hp_under_variant:
            hps = "\n".join(f"{c.split('.', 1)[1]}={_format_hparam(row[c])}"
                            for c in summary.varying if _format_hparam(row[c]))
            if hps:
                variant.append("\n" + hps, style="none")
        cells: list[Text | str] = [str(int(rank)), variant]
        if folders:
            cells.append(_folders_cell(summary, row))
        if not hp_under_variant:
            cells += [_format_hparam(row[c]) for c in summary.varying]
        cells.append(_format_mean(row, own_line=own_line))
        for baseline in baselines:
            cells.append(_format_comparison(row, baseline.kind, summary.comparison_scale,
                                            own_line=own_line, interval=with_intervals,
                                            points=points))
        if with_steps:
            cells.append(_format_steps(row))
        if with_edges:
            cells.append(_format_edges(row))
        cells.append(_format_seeds(row))
        table.add_row(*cells, style="on grey15" if row["baseline"] else None)
    return table


def fitted_summary_table(console: Console, summary: TaskSummary, *, show_all: bool = False):
    """The summary table at the first compaction level that fits `console.width`."""
    from adamlab.analysis.table_fit import Fitted, fit_table

    def build(level: int) -> Fitted:
        steps = [step for step in FIT_STEPS[:level]
                 if not (step.startswith("steps") and summary.target is None)]
        return Fitted(summary_table(summary, show_all=show_all, level=level), steps)

    return fit_table(console, build, len(FIT_STEPS) + 1)


def _has_folders(summary: TaskSummary) -> bool:
    """Several folders were read as one: each row names the folders its seeds came from."""
    return bool(summary.folder_of)


def _folders_cell(summary: TaskSummary, row: pd.Series) -> str:
    names = dict.fromkeys(summary.folder_of.get(t, "") for t in row.get("trial_ids", ()))
    return ", ".join(n for n in names if n)


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


def _format_mean(row: pd.Series, *, own_line: bool = False) -> str:
    if math.isnan(row["mean"]):
        return "—"
    text = format_number(row.get("centre", row["mean"]))
    if not math.isnan(row["ci_low"]):
        text += ("\n" if own_line else " ")
        text += f"[{format_number(row['ci_low'])}, {format_number(row['ci_high'])}]"
    return text


def _format_comparison(row: pd.Series, kind: str, scale: str, *, own_line: bool = False,
                       interval: bool = True, points: bool = False) -> Text:
    estimate = row.get(f"ratio_vs_{kind}", math.nan)
    if is_missing(estimate):
        return Text("—")
    unit = "×" if scale == "ratio" else " pp" if points else ""
    digits = ((lambda v: f"{v:.3g}") if scale == "ratio"
              else (lambda v: f"{100 * v:+.3g}") if points else format_number)
    text = Text(f"{digits(estimate)}{unit}")
    if row.get(f"significant_vs_{kind}", False):
        text.append(" ★", style="bold yellow")
    low, high = row[f"low_vs_{kind}"], row[f"high_vs_{kind}"]
    if interval and not is_missing(low):
        text.append("\n" if own_line else " ")
        text.append(f"[{digits(low)}, {digits(high)}]", style="dim")
    gap = "\n" if own_line else " "  # at narrow widths the notes go under the numbers
    if row[f"method_vs_{kind}"] == "welch":
        text.append(f"{gap}welch", style="yellow")
    if row[f"left_out_vs_{kind}"]:
        seeds = "" if own_line else " seed(s)"
        text.append(f"{gap}({row[f'left_out_vs_{kind}']}{seeds} left out)", style="yellow")
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
