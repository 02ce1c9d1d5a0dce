"""`adamlab plot`: PNG figures of a results folder, named after what they show.

Per task instance and metric (default: the task's primary metric and train_loss):
- `<task>__curves__<metric>.png`: the metric over steps for each variant's best config (ranked
  as the summary ranks, by the final value of that metric): seed mean, band = min..max over the
  ok seeds; SGD/momentum/nesterov dashed. Log y when the values are positive and span a decade.
- `<task>__lr_sensitivity__<metric>.png` (when lr is swept): final value against lr for each
  variant, the best config at each lr (over its other hyperparameters, by the selection rule of
  `adamlab.analysis.selection`), bars = the summary's 95% interval about its centre (log scale
  for a positive metric, clipped to [0, 1] for an accuracy);
  hollow marker: some seeds diverged/failed; x on the top edge: every seed did.
- `<task>__tuning_curve__<metric>.png`: each variant's tuning curve (`adamlab.analysis.tuning_plot`).
- `<task>__<variant>__<a>_x_<b>__<metric>.png` for every two hyperparameters swept together in a
  variant: mean final value of the best config in each cell, shared colour scale across the
  variants of a task (brighter is better), best cell outlined, cells without an ok seed marked.

Figures are drawn on matplotlib's Agg canvas (no pyplot, no display, no global backend switch).
"""

from __future__ import annotations

import io
import itertools
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from adamlab.analysis.goals import task_metrics
from adamlab.analysis.grouping import (
    curve_table,
    exact_mean,
    param_name,
    seed_curves,
    task_instances,
)
from adamlab.analysis.references import BASELINE_OPTIMIZERS
from adamlab.analysis.selection import best, best_of_each
from adamlab.analysis.summary import SummaryOptions, TaskSummary, summarize_instance
from adamlab.analysis.tuning_curve import instance_curves
from adamlab.analysis.tuning_plot import draw_tuning_curves
from adamlab.errors import AdamlabError
from adamlab.store.atomic import write_bytes_atomic
from adamlab.store.entries import check_folder
from adamlab.store.tables import HP_PREFIX, Results

PLOTS_DIR = "plots"
DPI = 120
_BASELINE_NAMES = {name for names in BASELINE_OPTIMIZERS.values() for name in names}


def write_plots(
    results: Results, out_dir: str | Path | None = None, *, metric: str | None = None
) -> list[Path]:
    """Write every figure for `results` into `out_dir` (default <results>/plots/); returns the
    paths written, sorted."""
    out = Path(out_dir) if out_dir is not None else results.root / PLOTS_DIR
    if out_dir is None:
        check_folder(out)  # the results folder's own plots/, not a link to a folder elsewhere
    if out.exists() and not out.is_dir():
        raise AdamlabError(f"--out: {out} is a file; give a folder")
    drawn = figures(results, metric=metric)
    out.mkdir(parents=True, exist_ok=True)
    return sorted(_save(figure, out / name) for name, figure in drawn)


def figures(results: Results, *, metric: str | None = None) -> list[tuple[str, Figure]]:
    """Every figure of `results` as (file name, Figure), in drawing order: for each task
    instance and metric, each of FIGURE_KINDS."""
    if metric is not None and metric not in set(results.metrics["metric"]):
        raise AdamlabError(
            f"--metric: {metric!r} is not recorded in {results.root}; recorded: "
            + ", ".join(results.metric_names())
        )
    drawn: list[tuple[str, Figure]] = []
    for instance in task_instances(results.trials):
        recorded = results.metric_names(instance.task)
        if metric is not None:
            names = [metric] if metric in recorded else []
        else:
            primary = task_metrics(instance.task, results.manifest).primary_metric
            names = [m for m in dict.fromkeys([primary, "train_loss"]) if m in recorded]
        for name in names:
            summary = summarize_instance(
                results, instance, SummaryOptions(metric=name), steps_to_target=False
            )
            for kind in FIGURE_KINDS:
                drawn.extend(kind(results, summary))
    return drawn


# ------------------------------------------------------------------------------------ curves


def curves(results: Results, summary: TaskSummary) -> list[tuple[str, Figure]]:
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    plotted: list[np.ndarray] = []
    colors = _variant_colors(summary)
    markers = _variant_markers(summary)
    n_seeds = set()
    bests = summary.variant_best
    all_curves = curve_table(
        results.metrics, [t for ids in bests["ok_trial_ids"] for t in ids], summary.metric
    )
    for _, row in bests.iterrows():
        table = seed_curves(all_curves, row["ok_trial_ids"], goal=summary.goal).dropna(how="any")
        if table.empty or table.shape[1] == 0:
            continue
        values = table.to_numpy()
        mean = np.array([exact_mean(r) for r in values])
        steps = table.index.to_numpy()
        style = "--" if row["optimizer"] in _BASELINE_NAMES else "-"
        color = colors[row["variant"]]
        ax.plot(steps, mean, style, color=color, lw=1.8, label=summary.config_label(row),
                marker=markers[row["variant"]], ms=5, markevery=_mark_every(len(steps)),
                markerfacecolor="none")
        if values.shape[1] > 1:
            ax.fill_between(steps, values.min(axis=1), values.max(axis=1), color=color,
                            alpha=0.18, lw=0)
        plotted.append(values)
        n_seeds.add(values.shape[1])
    _maybe_log(ax, "y", np.concatenate([v.ravel() for v in plotted]) if plotted else [])
    seeds = "–".join(str(n) for n in sorted({min(n_seeds), max(n_seeds)})) if n_seeds else "0"
    _set_title(ax, f"{summary.label}: {summary.metric}, best config of each variant",
               f"mean over ok seeds (n={seeds}), band = min–max over seeds")
    ax.set_xlabel("step")
    ax.set_ylabel(summary.metric)
    _accuracy_limits(ax, summary.metric)
    ax.grid(True, which="both", alpha=0.25)
    if plotted:
        ax.legend(fontsize=8, loc="best")
    return [(f"{summary.slug}__curves__{_slug(summary.metric)}.png", fig)]


# -------------------------------------------------------------------------- lr sensitivity


def lr_sensitivity(results: Results, summary: TaskSummary) -> list[tuple[str, Figure]]:
    """When lr is swept: the final value against lr per variant."""
    if HP_PREFIX + "lr" not in summary.varying:
        return []
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    lr = HP_PREFIX + "lr"
    colors = _variant_colors(summary)
    markers = _variant_markers(summary)
    configs = summary.configs
    # variants that share lrs are drawn side by side (a few percent apart on a log axis) so
    # overlapping points and bars stay apart; the legend says so
    variants = list(dict.fromkeys(configs["variant"]))
    nudge = {v: 1.0 + 0.04 * (i - (len(variants) - 1) / 2) for i, v in enumerate(variants)}
    all_values: list[float] = []
    all_bad: list[tuple[str, float]] = []
    some_bad_seen = False
    for variant, group in configs.groupby("variant", sort=False):
        best_at_lr = best_of_each(group.dropna(subset=[lr]), [lr]).sort_values(lr)
        if best_at_lr.empty:
            continue
        color = colors[variant]
        ok = best_at_lr[best_at_lr["n_ok"] > 0]
        style = "--" if best_at_lr["optimizer"].iloc[0] in _BASELINE_NAMES else "-"
        x_of = nudge[variant]
        ax.plot(ok[lr] * x_of, ok["mean"], style, color=color, lw=1.5, marker=markers[variant],
                ms=6, label=str(variant))
        for _, row in ok.iterrows():
            bad = row["n_diverged"] + row["n_failed"] > 0
            some_bad_seen |= bool(bad)
            if not math.isnan(row["ci_low"]):  # the summary's interval, about its centre
                ax.errorbar([row[lr] * x_of], [row["centre"]],
                            yerr=[[row["centre"] - row["ci_low"]], [row["ci_high"] - row["centre"]]],
                            color=color, capsize=3, lw=1)
            if bad:
                ax.plot([row[lr] * x_of], [row["mean"]], markers[variant], color=color, ms=6,
                        markerfacecolor="white")
        all_values.extend(ok["mean"].tolist())
        all_bad.extend((variant, x) for x in best_at_lr.loc[best_at_lr["n_ok"] == 0, lr])
    _maybe_log(ax, "x", configs[lr].dropna().to_numpy(dtype=float))
    _maybe_log(ax, "y", all_values)
    _accuracy_limits(ax, summary.metric)
    if all_bad:
        top = ax.get_ylim()[1]
        for variant, x in all_bad:
            ax.plot([x], [top], "x", color=colors[variant], ms=9, mew=2, clip_on=False)
    notes = []
    if some_bad_seen:
        notes.append("hollow: some seeds diverged/failed")
    if all_bad:
        notes.append("× on top edge: every seed diverged/failed")
    if len(variants) > 1:
        notes.append("variants drawn a few % apart in lr")
    rule = f"final {summary.metric}, best config at each lr, bars = 95% interval ({summary.interval})"
    _set_title(ax, f"{summary.label}: learning-rate sensitivity", rule, *notes)
    ax.set_xlabel("lr")
    ax.set_ylabel(f"final {summary.metric} (seed mean)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="best")
    return [(f"{summary.slug}__lr_sensitivity__{_slug(summary.metric)}.png", fig)]


# ---------------------------------------------------------------------------------- heatmaps


def heatmaps(results: Results, summary: TaskSummary) -> list[tuple[str, Figure]]:
    """One per variant and pair of hyperparameters it sweeps together."""
    grids = []
    for variant, swept in summary.varying_by_variant.items():
        for a, b in itertools.combinations(swept, 2):
            configs = summary.configs[summary.configs["variant"] == variant]
            grids.append((variant, a, b, _grid(configs, a, b)))
    if not grids:
        return []
    # one colour scale per pair of hyperparameters, shared by the variants that sweep it
    scales = {}
    for _, a, b, grid in grids:
        clean = (grid["diverged"] + grid["failed"]).to_numpy() == 0
        scales.setdefault((a, b), []).extend(grid["mean"].to_numpy()[clean].tolist())
    return [
        _heatmap(summary, variant, a, b, grid, scales[(a, b)])
        for variant, a, b, grid in grids
    ]


def _grid(configs: pd.DataFrame, a: str, b: str) -> dict:
    """Cells (b rows x a columns) of the best config at each (a, b) of ranked `configs`, and
    which cell holds the best config of all."""
    chosen = best_of_each(configs.dropna(subset=[a, b]), [a, b])
    xs = sorted(chosen[a].unique())
    ys = sorted(chosen[b].unique())
    cells = {name: pd.DataFrame(fill, index=ys, columns=xs)
             for name, fill in (("mean", np.nan), ("diverged", 0), ("failed", 0), ("seeds", 0))}
    for _, row in chosen.iterrows():
        cells["mean"].loc[row[b], row[a]] = row["mean"]
        cells["diverged"].loc[row[b], row[a]] = row["n_diverged"]
        cells["failed"].loc[row[b], row[a]] = row["n_failed"]
        cells["seeds"].loc[row[b], row[a]] = row["n_seeds"]
    top = best(chosen)
    cells["best"] = None if top is None else (top[b], top[a])
    return cells


def _heatmap(summary: TaskSummary, variant: str, a: str, b: str, grid: dict,
             scale_values) -> tuple[str, Figure]:
    mean = grid["mean"]
    values = np.asarray(scale_values, dtype=float)
    norm = _color_norm(values)
    cmap = "viridis_r" if summary.goal == "min" else "viridis"
    width = 1.6 + 1.05 * mean.shape[1]
    fig = Figure(figsize=(max(5.0, width), 1.6 + 0.75 * mean.shape[0] + 0.6),
                 layout="constrained")
    ax = fig.add_subplot()
    # cells with a diverged/failed seed stay grey: they rank after every clean cell
    clean = (grid["diverged"] + grid["failed"]).to_numpy() == 0
    masked = np.ma.masked_where(~clean | np.isnan(mean.to_numpy(dtype=float)),
                                mean.to_numpy(dtype=float))
    image = ax.imshow(masked, cmap=cmap, norm=norm, aspect="auto", origin="lower")
    ax.set_facecolor("0.85")
    for i, y in enumerate(mean.index):
        for j, x in enumerate(mean.columns):
            value = mean.loc[y, x]
            counts = [f"{int(grid[k].loc[y, x])} {k}" for k in ("diverged", "failed")
                      if grid[k].loc[y, x]]
            seeds = int(grid["seeds"].loc[y, x])
            if math.isnan(value):
                text, color = "\n".join(counts) + (f"\nof {seeds}" if counts else ""), "black"
            else:
                text = "\n".join([f"{value:.3g}", *(f"{c} of {seeds}" for c in counts)])
                color = _text_color(image, value) if not counts else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
            if grid["best"] == (y, x):
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.5))
    ax.set_xticks(range(mean.shape[1]), [_tick(x) for x in mean.columns])
    ax.set_yticks(range(mean.shape[0]), [_tick(y) for y in mean.index])
    ax.set_xlabel(param_name(a))
    ax.set_ylabel(param_name(b))
    better = "lower" if summary.goal == "min" else "higher"
    selected = (f" (selected on {summary.select_metric})"
                if summary.select_metric and summary.select_metric != summary.metric else "")
    ax.set_title(f"{summary.label}, {variant}: final {summary.metric} ({better} is better)\n"
                 f"seed mean of the best config per cell; red box: best{selected}\n"
                 "grey: some seeds diverged/failed (mean of the others shown)", fontsize=9)
    fig.colorbar(image, ax=ax, label=summary.metric)
    name = f"{summary.slug}__{_slug(variant)}__{_slug(param_name(a))}_x_" \
           f"{_slug(param_name(b))}__{_slug(summary.metric)}.png"
    return name, fig


# ----------------------------------------------------------------------------- tuning curves


def tuning_curves(results: Results, summary: TaskSummary) -> list[tuple[str, Figure]]:
    """Each variant's tuning curve (adamlab.analysis.tuning_curve), when there are points."""
    instance = next((i for i in task_instances(results.trials) if i.slug == summary.slug), None)
    points = instance_curves(results, instance, summary.metric) if instance is not None else []
    figure = draw_tuning_curves(points) if points else None
    return [] if figure is None else [
        (f"{summary.slug}__tuning_curve__{_slug(summary.metric)}.png", figure)]


# ----------------------------------------------------------------------------------- helpers


def _variant_colors(summary: TaskSummary) -> dict[str, tuple]:
    palette = colormaps["tab10"].colors
    variants = list(dict.fromkeys(summary.configs["variant"]))
    return {v: palette[i % len(palette)] for i, v in enumerate(variants)}


#: one marker per variant (in the order the summary ranks them), after its colour
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
#: characters of a title line at the figures' width and font size (longer lines wrap)
TITLE_CHARS = 95


def _variant_markers(summary: TaskSummary) -> dict[str, str]:
    variants = list(dict.fromkeys(summary.configs["variant"]))
    return {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(variants)}


def _mark_every(points: int) -> int:
    return max(1, points // 10)


def _set_title(ax, headline: str, *details: str) -> None:
    """The title, each line wrapped to fit the figure's width."""
    lines = textwrap.wrap(headline, TITLE_CHARS) + textwrap.wrap("; ".join(details), TITLE_CHARS)
    ax.set_title("\n".join(lines), fontsize=9)


def _accuracy_limits(ax, metric: str) -> None:
    """An accuracy is in [0, 1]: its axis is never stretched past that by an interval."""
    if metric.endswith("accuracy") and ax.get_yscale() == "linear":
        low, high = ax.get_ylim()
        ax.set_ylim(max(low, 0.0), min(high, 1.0))


def _maybe_log(ax, axis: str, values: Sequence[float] | np.ndarray) -> None:
    """Log scale when every value is positive and they span at least a decade."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size and (data > 0).all() and data.max() / data.min() >= 10:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _color_norm(values: np.ndarray):
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Normalize(0, 1)
    lo, hi = float(values.min()), float(values.max())
    if lo > 0 and hi / lo >= 10:
        return LogNorm(lo, hi)
    if lo == hi:
        lo, hi = lo - 0.5 * abs(lo or 1), hi + 0.5 * abs(hi or 1)
    return Normalize(lo, hi)


def _text_color(image, value: float) -> str:
    r, g, b, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _tick(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(text))


#: what `figures` draws per task instance and metric, in order; a kind takes (results, summary)
#: and returns [(file name, Figure)], [] when it does not apply
FIGURE_KINDS = (curves, lr_sensitivity, heatmaps, tuning_curves)


def _save(fig: Figure, path: Path) -> Path:
    # written whole and by rename: a link planted under a plot's name is replaced, not followed
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    write_bytes_atomic(path, buffer.getvalue())
    return path
