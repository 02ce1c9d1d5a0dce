"""The metric logs of a results folder's trials, held compactly until a table of them is asked for.

A folder of thousands of trials holds millions of logged values, and most commands need a few
metrics of them (the summary: the metric it ranks by and train_loss). The logs are laid end to
end in one array per column (steps, wall times, values, and each row's metric as a code into the
folder's list of metric names); `frame(metrics)` builds the long table of the named metrics
only, and `frame()` the whole log, row for row what `adamlab.store.tables` has always built.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress

import numpy as np
import pandas as pd

METRIC_COLUMNS = ("trial_id", "step", "wall_time", "metric", "value")


@dataclass(frozen=True)
class LogBlock:
    """Trials' logs end to end: row i is (step[i], wall_time[i], vocabulary[codes[i]], value[i])."""

    step: np.ndarray
    wall_time: np.ndarray
    codes: np.ndarray
    value: np.ndarray
    vocabulary: tuple[str, ...]


@dataclass(frozen=True)
class Span:
    """One trial's rows of a LogBlock, and the metrics among them."""

    trial_id: str
    start: int
    stop: int
    #: every metric the trial logged
    names: frozenset[str]
    #: rows the trial logged, and its largest logged step (None: it logged nothing)
    logged: int
    last_step: int | None
    #: the metrics whose rows the block holds (None: all of them)
    held: frozenset[str] | None = None

    def holds(self, metrics: frozenset[str] | None) -> bool:
        """Whether the block holds every row of `metrics` (None: of every metric) of this trial."""
        if self.held is None:
            return True
        return metrics is not None and (metrics & self.names) <= self.held


class MetricLogBuilder:
    """Collects checked log columns trial by trial into growing arrays (one allocation per column,
    not one per trial: a folder read leaves no scattered small arrays behind)."""

    def __init__(self) -> None:
        self._step, self._wall_time, self._value = array("q"), array("d"), array("d")
        self._codes = array("i")
        self._vocabulary: dict[str, int] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self._spans: dict[str, Span] = {}

    def add(self, trial_id: str, step: Sequence[int], wall_time: Sequence[float],
            metric: Sequence[str], value: Sequence[float], *,
            keep: frozenset[str] | None = None) -> None:
        """One trial's log; `keep`: hold only the rows of these metrics (None: every row)."""
        start = len(self._step)
        names = list(dict.fromkeys(metric))
        vocabulary = self._vocabulary
        for name in names:
            vocabulary.setdefault(name, len(vocabulary))
        held = None
        if keep is None or keep.issuperset(names):
            self._codes.extend(map(vocabulary.__getitem__, metric))
            self._step.extend(step)
            self._wall_time.extend(wall_time)
            self._value.extend(value)
        else:
            held = self._shared(keep)
            rows = list(map(held.__contains__, metric))
            self._codes.extend(map(vocabulary.__getitem__, compress(metric, rows)))
            self._step.extend(compress(step, rows))
            self._wall_time.extend(compress(wall_time, rows))
            self._value.extend(compress(value, rows))
        present = frozenset(names)
        self._spans[trial_id] = Span(trial_id, start, len(self._step), self._shared(present),
                                     len(step), max(step) if len(step) else None, held)

    def codes_of(self, metrics: Sequence[str]) -> np.ndarray:
        """The codes of these metric names, for `add_columns`."""
        return np.array([self._vocabulary.setdefault(name, len(self._vocabulary))
                         for name in metrics], dtype=np.intc)

    def add_columns(self, trial_id: str, step: np.ndarray, wall_time: np.ndarray,
                    codes: np.ndarray, value: np.ndarray, *,
                    names: frozenset[str], logged: int, last_step: int | None,
                    held: frozenset[str] | None) -> None:
        """One trial's rows as arrays (already checked; `codes` from `codes_of`): every row of
        its log (`held` None) or the rows of the metrics `held`; `names`, `logged` and
        `last_step` describe its whole log."""
        start = len(self._step)
        self._step.frombytes(np.ascontiguousarray(step, dtype=np.int64).tobytes())
        self._wall_time.frombytes(np.ascontiguousarray(wall_time, dtype=np.float64).tobytes())
        self._value.frombytes(np.ascontiguousarray(value, dtype=np.float64).tobytes())
        self._codes.frombytes(np.ascontiguousarray(codes, dtype=np.intc).tobytes())
        self._spans[trial_id] = Span(trial_id, start, len(self._step), self._shared(names),
                                     logged, last_step, None if held is None else self._shared(held))

    def block(self) -> tuple[LogBlock, list[Span]]:
        """What was collected, and each trial's span, in the order they were added."""
        return self._block(), list(self._spans.values())

    def _shared(self, names: frozenset[str]) -> frozenset[str]:
        return self._sets.setdefault(names, names)

    def logs(self, order: Iterable[str], reread: Callable[[], MetricLogs] | None = None) -> MetricLogs:
        """The logs collected, trials in `order` (trial ids); `reread` gives every row of every
        trial, for a table of rows that were not held."""
        return MetricLogs([_Part(self._block(), [self._spans[t] for t in order], reread)])

    def _block(self) -> LogBlock:
        return LogBlock(
            step=_as_array(self._step, np.int64),
            wall_time=_as_array(self._wall_time, np.float64),
            codes=_as_array(self._codes, np.intc),
            value=_as_array(self._value, np.float64),
            vocabulary=tuple(self._vocabulary),
        )


def _as_array(buffer: array, dtype) -> np.ndarray:
    return np.frombuffer(buffer, dtype=dtype) if len(buffer) else np.array([], dtype=dtype)


@dataclass(frozen=True)
class _Part:
    block: LogBlock
    spans: list[Span]
    reread: Callable[[], MetricLogs] | None = None


class MetricLogs:
    """Every trial's log, in table order (see `adamlab.store.tables`); long tables on request."""

    def __init__(self, parts: Iterable[_Part]) -> None:
        self._parts = list(parts)
        self._frames: dict[frozenset[str] | None, pd.DataFrame] = {}

    def _spans(self) -> list[Span]:
        return [span for part in self._parts for span in part.spans]

    def __len__(self) -> int:
        """Rows of the whole long table."""
        return sum(span.logged for span in self._spans())

    def names(self, trial_ids: Collection[str] | None = None) -> set[str]:
        """The metrics logged by `trial_ids` (every trial when None)."""
        return {name for span in self._spans()
                if trial_ids is None or span.trial_id in trial_ids for name in span.names}

    def last_step(self) -> int | None:
        """The largest logged step, None when nothing was logged."""
        steps = [span.last_step for span in self._spans() if span.last_step is not None]
        return int(max(steps)) if steps else None

    def only(self, trial_ids: Collection[str]) -> MetricLogs:
        """The logs of `trial_ids`, in this order."""
        return MetricLogs(_Part(part.block, [s for s in part.spans if s.trial_id in trial_ids],
                                part.reread) for part in self._parts)

    @staticmethod
    def joined(parts: Iterable[MetricLogs]) -> MetricLogs:
        return MetricLogs(part for logs in parts for part in logs._parts)

    def frame(self, metrics: Collection[str] | None = None) -> pd.DataFrame:
        """The long table (columns METRIC_COLUMNS, a fresh 0..n-1 index) of the rows of `metrics`,
        or of every row when None: trials in table order, each trial's rows as logged."""
        key = None if metrics is None else frozenset(metrics)
        whole = self._frames.get(None)
        if whole is not None and key is not None:
            # once the whole table is out, every table is cut from it (a caller may edit it)
            return whole[whole["metric"].isin(key)].reset_index(drop=True)
        if key not in self._frames:
            if self._missing(key):
                self._whole()
            self._frames[key] = self._build(key)
            if key is None:
                self._frames = {None: self._frames[None]}
        return self._frames[key]

    def _missing(self, metrics: frozenset[str] | None) -> bool:
        return not all(span.holds(metrics) for span in self._spans())

    def _whole(self) -> MetricLogs:
        """These logs with every row, read again where rows were left out (once)."""
        parts = []
        for part in self._parts:
            if all(span.holds(None) for span in part.spans):
                parts.append(part)
                continue
            if part.reread is None:
                raise ValueError("metric rows were left out and there is no way to read them again")
            ids = {span.trial_id for span in part.spans}
            parts.extend(p for p in part.reread().only(ids)._parts)
        self._parts = parts
        return self

    def _build(self, metrics: frozenset[str] | None) -> pd.DataFrame:
        owners, steps, walls, names, values = [], [], [], [], []
        trial_ids: list[str] = []  # every part's spans' trial ids, end to end
        vocabulary: list[str] = []  # every part's vocabulary, end to end
        for part in self._parts:
            block, spans = part.block, part.spans
            starts = np.array([s.start for s in spans], dtype=np.int64)
            lengths = np.array([s.stop - s.start for s in spans], dtype=np.int64)
            # every span's rows, spans in table order: start + 0, 1, ... of each span
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(spans) else starts
            rows = np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - offsets, lengths)
            owner = np.repeat(np.arange(len(spans)), lengths)
            if metrics is not None:
                wanted = [code for code, name in enumerate(block.vocabulary) if name in metrics]
                kept = np.isin(block.codes[rows], wanted)
                rows, owner = rows[kept], owner[kept]
            owners.append(owner + len(trial_ids))
            trial_ids.extend(s.trial_id for s in spans)
            steps.append(block.step[rows])
            walls.append(block.wall_time[rows])
            names.append(block.codes[rows].astype(np.int64) + len(vocabulary))
            vocabulary.extend(block.vocabulary)
            values.append(block.value[rows])

        def joined(parts: list[np.ndarray], dtype) -> np.ndarray:
            return np.concatenate(parts) if parts else np.array([], dtype=dtype)

        return pd.DataFrame(
            {
                "trial_id": _text_column(trial_ids, joined(owners, np.int64)),
                "step": joined(steps, np.int64),
                "wall_time": joined(walls, np.float64),
                "metric": _text_column(vocabulary, joined(names, np.int64)),
                "value": joined(values, np.float64),
            },
            columns=list(METRIC_COLUMNS),
        )


def _text_column(labels: list[str], codes: np.ndarray) -> pd.Series:
    """`labels[codes]` as a text ("str") column: one take over the few labels, where building it
    from one Python string per row converted each of them."""
    return pd.Series(pd.Series(labels, dtype="str").array.take(codes))
