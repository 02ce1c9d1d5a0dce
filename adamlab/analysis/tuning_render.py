"""`adamlab summary --tuning-curve`: the tuning curves as Rich tables or JSON."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from adamlab.analysis.tuning_curve import TuningPoint

NOTE = (
    "k = configs drawn at random from the variant's grid, without replacement; expected and "
    "median = the best of those k on the selection metric (diverged configs are the worst "
    "draws); [low, high] = distribution-free 95% band of the median best (DKW band of the CDF, "
    "Lourie et al. 2023); ∞ / −∞ = unbounded."
)


def tuning_json(points: list[TuningPoint]) -> str:
    return json.dumps([p.record() for p in points], indent=2, allow_nan=False)


def _number(value: float) -> str:
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.4g}"


def print_tuning_curves(points: list[TuningPoint], console: Console) -> None:
    if not points:
        console.print("No trial has ended yet: no tuning curve.")
        return
    groups: dict[tuple[str, str], list[TuningPoint]] = {}
    for point in points:
        groups.setdefault((point.task, point.metric), []).append(point)
    for (task, metric), rows in groups.items():
        table = Table(title=f"{task}: tuning curves on {metric}", title_justify="left",
                      title_style="bold")
        for name in ("variant", "k", "expected best", "median best", "95% band"):
            table.add_column(name, justify="left" if name == "variant" else "right")
        for p in rows:
            table.add_row(p.variant, str(p.k), _number(p.expected), _number(p.median),
                          f"[{_number(p.low)}, {_number(p.high)}]")
        console.print(table)
    console.print(NOTE, style="dim")
