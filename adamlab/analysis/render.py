"""Rich tables of a summary: one per task instance, the rules printed under each, and the
rules every table follows in words."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adamlab.analysis.grouping import BOUNDED_SUFFIX, is_missing, param_name
from adamlab.analysis.references import MIN_PAIRS, ConfigComparison
from adamlab.analysis.stats import CONFIDENCE
from adamlab.analysis.summary import SummaryOptions, TaskSummary, summarize
from adamlab.analysis.table_fit import Fitted, fit_table, print_fitted
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
        for warning in summary_warnings(summary):
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
                 if summary.references else None),
        caption_justify="left",
    )
    own_line = level >= 1
    with_steps = summary.target is not None and level < 2
    with_edges = level < 3
    with_intervals = level < 4
    references = list(summary.references.values())
    if level >= 5:
        references = references[:1]
    hp_under_variant = level >= 6
    folders = _has_folders(summary)
    sign = "÷" if summary.comparison_scale == "ratio" else "−"
    header: list[tuple[str, str]] = [("#", "right"), ("variant", "left")]
    if folders:
        header.append(("folder", "left"))
    if not hp_under_variant:
        header += [(param_name(c), "right") for c in summary.varying]
    points = summary.metric.endswith(BOUNDED_SUFFIX)
    centre = {"log t": "geo. mean [log-t 95%]", "t": "mean [t 95%]"}.get(
        summary.interval, "mean [t 95%, clipped to [0, 1]]")
    if own_line:  # the header breaks where the cells do
        centre = centre.replace(" [", "\n[", 1).replace(", clipped", ",\nclipped")
    header.append((centre, "right"))
    for reference in references:
        title = f"{sign}{reference.title}" + (" [95%]" if with_intervals else "")
        if not reference.bracketed:
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
            hps = "\n".join(f"{param_name(c)}={_format_hparam(row[c])}"
                            for c in summary.varying if _format_hparam(row[c]))
            if hps:
                variant.append("\n" + hps, style="none")
        cells: list[Text | str] = [str(int(rank)), variant]
        if folders:
            cells.append(_folders_cell(summary, row))
        if not hp_under_variant:
            cells += [_format_hparam(row[c]) for c in summary.varying]
        cells.append(_format_mean(row, own_line=own_line))
        for reference in references:
            cells.append(_format_comparison(summary.comparison(row, reference.key),
                                            own_line=own_line, interval=with_intervals,
                                            points=points))
        if with_steps:
            cells.append(_format_steps(row))
        if with_edges:
            cells.append(_format_edges(row))
        cells.append(_format_seeds(row))
        table.add_row(*cells, style="on grey15" if row["reference"] else None)
    return table


def fitted_summary_table(console: Console, summary: TaskSummary, *, show_all: bool = False):
    """The summary table at the first compaction level that fits `console.width`."""
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
    if row["reference"]:
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


def _format_comparison(comparison: ConfigComparison | None, *, own_line: bool = False,
                       interval: bool = True, points: bool = False) -> Text:
    if comparison is None or is_missing(comparison.estimate):
        return Text("—")
    ratio = comparison.scale == "ratio"
    unit = "×" if ratio else " pp" if points else ""
    digits = ((lambda v: f"{v:.3g}") if ratio
              else (lambda v: f"{100 * v:+.3g}") if points else format_number)
    text = Text(f"{digits(comparison.estimate)}{unit}")
    if comparison.significant:
        text.append(" ★", style="bold yellow")
    if interval and not is_missing(comparison.low):
        text.append("\n" if own_line else " ")
        text.append(f"[{digits(comparison.low)}, {digits(comparison.high)}]", style="dim")
    gap = "\n" if own_line else " "  # at narrow widths the notes go under the numbers
    if comparison.method == "welch":
        text.append(f"{gap}welch", style="yellow")
    if comparison.left_out:
        seeds = "" if own_line else " seed(s)"
        text.append(f"{gap}({comparison.left_out}{seeds} left out)", style="yellow")
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


#: the rules every table follows (printed once under the tables)
GENERAL_RULES = (
    "A config is a task + variant + all hyperparameters; its seeds are grouped: ranked by the "
    f"mean over ok seeds; shown with a Student-t {CONFIDENCE:.0%} interval when 2+ seeds are ok "
    "(none with one seed; at 2-3 seeds it is wide: t = 12.7 at 2, 4.3 at 3) that stays in the "
    "metric's range: a metric whose values are all > 0 as the geometric mean [low, high] (the "
    "interval of the mean log), an accuracy clipped to [0, 1].",
    "Selection on validation data: a test_X metric is ranked by val_X when the task logs it "
    "(MNIST holds out the last 10,000 training images); the selected config's test_X is "
    "reported. Best config of a variant = best by that ranking; a config with any diverged or "
    "failed seed ranks after every config with none. With --at-step N, a trial that diverged "
    "after step N counts by its value at N.",
    "Comparisons (÷ columns): per-seed ratio config/reference (mean of per-seed log-ratios, "
    "or differences where values can be <= 0) with its t-interval, on the seeds both finished "
    "ok; an accuracy by its difference in percentage points; ★ = Holm-adjusted p < 0.05 "
    f"within the table on >= {MIN_PAIRS} pairs; 'welch' = the seeds differ, compared "
    "unpaired. References: best sgd, and best momentum or nesterov, by registry optimizer "
    "(or --against VARIANT).",
    "Grid edges: open = best at the first/last grid value (widen the grid); stability limit = "
    "the next value diverged; refine = it diverged and is > 2x away (the optimum may lie "
    "between); untuned = one lr tried. A lead over an unbracketed reference is an upper bound.",
)




def ranking_rule_text(summary: TaskSummary) -> list[str]:
    """The rules behind one task's table, in words (printed under it)."""
    better = "lower" if summary.goal == "min" else "higher"
    at = f" at the logged step nearest <= {summary.at_step}" if summary.at_step is not None else ""
    kind = "final (last logged)" if summary.rule == "final" else "best (best-ever)"
    selected = (
        f" selected on {summary.select_metric} (validation), {summary.metric} reported"
        if summary.select_metric and summary.select_metric != summary.metric else ""
    )
    lines = [
        f"Ranked by rule {kind} {summary.metric}{at}{selected}, {better} is better; "
        f"mean over each config's ok seeds."
    ]
    if summary.references:
        refs = []
        for b in summary.references.values():
            tuned = "best-tuned " if b.tuned else ""
            text = f"{tuned}{b.title} = {b.label}"
            if not b.bracketed:
                text += (
                    f" (not bracketed: {'; '.join(e.detail for e in b.edges.values())}; "
                    "a lead over it is an upper bound)"
                )
            refs.append(text)
        scale = (
            "per-seed ratio config/reference" if summary.comparison_scale == "ratio"
            else "per-seed difference config - reference"
        )
        lines.append(f"Comparisons: {scale} [t 95%] ({'; '.join(refs)}).")
    else:
        lines.append("No sgd, momentum or nesterov config with an ok seed: no comparisons.")
    if summary.target is not None:
        lines.append(
            f"Steps to target: first step where the seed-mean curve reaches "
            f"{summary.target:.6g} ({target_source_text(summary)}); interpolated between logged "
            "steps for a training metric, else the eval step with the eval cadence."
        )
    return lines


def summary_warnings(summary: TaskSummary) -> list[str]:
    """What the reader of one task's table must know, one line each (printed under it)."""
    out = []
    if summary.unrecorded_validation is not None:
        metric = summary.metric
        out.append(
            f"no {summary.unrecorded_validation} recorded (the task's validation split is off?): "
            f"configs are selected on {metric}, the metric they report, so the reported {metric} "
            "is optimistic"
        )
    if summary.unequal_budgets:
        sizes = ", ".join(f"{variant} {n}" for variant, n in summary.budgets.items())
        out.append(
            f"unequal tuning budgets (configs tried per variant: {sizes}): a variant tuned over "
            "more configs had more chances to look good; compare them at equal budgets with "
            "--tuning-curve"
        )
    return out


def target_source_text(summary: TaskSummary) -> str:
    """Where the steps-to-target threshold came from, in words."""
    if summary.target_source == "best sgd":
        at = f" at step {summary.at_step}" if summary.at_step is not None else ""
        return f"best SGD config's {summary.rule} {summary.metric}{at} (seed mean)"
    return str(summary.target_source)
