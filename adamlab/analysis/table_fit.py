"""Tables that fit the console's width without ever splitting a number.

Every command draws its tables through `fit_table`: the caller builds the table at increasing
"levels" of compaction (its own, stated priority: e.g. intervals on their own line, then the
least important column left out, ...), each column of numbers `no_wrap`, and the first level
whose natural width fits is printed. The width is the console's, on a terminal and piped alike
(Rich takes $COLUMNS when set, else 80 off a terminal), so a CI log reads as the terminal did.
What a level leaves out is said under the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


@dataclass
class Fitted:
    table: Table
    #: what was left out or shortened to fit (empty at full width)
    left_out: list[str] = field(default_factory=list)


def natural_width(console: Console, table: Table) -> int:
    """The least width at which `table` shows every `no_wrap` cell whole (other columns count at
    their longest word, since they wrap at spaces, or at their max_width when they fold)."""
    options = console.options.update_width(10_000)
    total = 0
    for column in table.columns:
        widest = 0
        for cell in [column.header, *column.cells]:
            measured = Measurement.get(console, options, cell)
            widest = max(widest, measured.maximum if column.no_wrap else measured.minimum)
        if column.max_width is not None and not column.no_wrap:
            widest = min(widest, column.max_width)  # a folding text column is cut to this
        total += max(widest, column.min_width or 0) + table.padding[1] + table.padding[3]
    edges = 2 if table.box is not None and table.show_edge else 0
    inner = len(table.columns) - 1 if table.box is not None else 0
    return total + edges + inner


def fit_table(console: Console, build: Callable[[int], Fitted], levels: int) -> Fitted:
    """`build(level)` for level 0..levels-1; the first that fits `console.width`, else the last
    (whose text columns may then wrap at spaces; number columns never split)."""
    width = console.width
    fitted = build(0)
    for level in range(1, levels):
        if natural_width(console, fitted.table) <= width:
            return fitted
        fitted = build(level)
    return fitted


def print_fitted(console: Console, fitted: Fitted) -> None:
    console.print(fitted.table)
    if fitted.left_out:
        console.print(Text(
            f"To fit {console.width} columns: {'; '.join(fitted.left_out)} (a wider terminal, "
            "or COLUMNS=200, shows everything)", style="dim",
        ))
