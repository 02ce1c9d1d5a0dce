"""`<task>__tuning_curve__<metric>.png`: each variant's expected best (solid) and median best
(dashed) after k configs of its grid, with the 95% band of the median (shaded; an unbounded end
is drawn to the edge of the axes). See `adamlab.analysis.tuning_curve`."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from adamlab.analysis.tuning_curve import TuningPoint


def draw_tuning_curves(points: list[TuningPoint]) -> Figure | None:
    """The tuning-curve figure of `points`; None when no variant has a finite point to draw."""
    variants: dict[str, list[TuningPoint]] = {}
    for point in points:
        variants.setdefault(point.variant, []).append(point)
    finite = [v for p in points for v in (p.expected, p.median) if math.isfinite(v)]
    if not finite:
        return None
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.add_subplot()
    lo_edge, hi_edge = min(finite), max(finite)
    span = (hi_edge - lo_edge) or abs(hi_edge) or 1.0
    bottom, top = lo_edge - 0.5 * span, hi_edge + 0.5 * span
    if lo_edge >= 0:  # a positive metric: nothing below 0 to show
        bottom = max(bottom, 0.0)
    for index, (variant, rows) in enumerate(variants.items()):
        color = f"C{index % 10}"
        k = np.array([p.k for p in rows])
        expected = np.array([p.expected for p in rows], dtype=float)
        median = np.array([p.median for p in rows], dtype=float)
        low = np.clip(np.array([p.low for p in rows], dtype=float), bottom, top)
        high = np.clip(np.array([p.high for p in rows], dtype=float), bottom, top)
        ax.fill_between(k, low, high, color=color, alpha=0.12, lw=0)
        shown = np.isfinite(expected)
        ax.plot(k[shown], expected[shown], "-o", color=color, ms=3, label=f"{variant}: expected")
        ax.plot(k, median, "--", color=color, lw=1.2, label=f"{variant}: median")
    ax.set_ylim(bottom, top)
    ax.set_xlabel("k = configs drawn from the grid (without replacement)")
    ax.set_ylabel(points[0].metric)
    ax.set_title(f"{points[0].task}: tuning curves on {points[0].metric}\n"
                 "best of k configs: expected (solid), median (dashed), 95% band of the median "
                 "(DKW)", fontsize=10)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    return fig
