"""A results folder's read cache: what reading its records found, kept so that a summary of
thousands of trials does not parse them all again.

Reading a record is parsing tens of kilobytes of JSON and checking each logged value; for a folder
of 5,000 trials that was over half of `adamlab summary`'s time. When the tables are rebuilt (at
the end of every sweep) from a folder of at least `MIN_RECORDS` records, the records just read
and checked are written to `.adamlab-read-cache.npz` beside them: each record's fields as read,
and the metric logs column-wise and grouped by metric, so that a command that needs two metrics
loads those two.

`load_results(..., needed_metrics=...)` takes from it each record whose file has the size and
modification time (in nanoseconds) it had when the cache was made (a record is written by an
atomic rename, so a rewritten record has a new time) and reads every other record as always. A
cached record's fields are validated and its trial id checked against them exactly as a read
would; what the cache saves is parsing its metric log and checking it value by value, which was
done when the cache was written. A cache of another format or adamlab version, or one that
cannot be read, is ignored. It holds nothing the records do not: deleting it loses nothing.
It is NumPy's .npz (a zip of arrays), read without pickle.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adamlab import __version__
from adamlab.store.atomic import write_bytes_atomic
from adamlab.store.entries import read_regular
from adamlab.store.metric_logs import LogBlock, MetricLogBuilder, Span
from adamlab.store.names import READ_CACHE

FORMAT = 1
#: smaller folders are read in a fraction of a second without one
MIN_RECORDS = 100


def signature(path: Path) -> tuple[int, int] | None:
    """(size, modification time in ns) of a record file; None when it cannot be stat'ed. Not
    the inode: a folder copied with its times kept (rsync -a, cp -p) keeps its cache."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class CachedRecord:
    """A record as read: `fields` (every field but the metric log) and its file's signature."""

    name: str
    signature: tuple[int, int]
    fields: dict[str, Any]


def write_read_cache(root: Path, records: Sequence[CachedRecord], block: LogBlock,
                     spans: Sequence[Span]) -> None:
    """Write the cache of `records` (spans[i] is records[i]'s log in `block`), replacing any;
    a folder that cannot be written to keeps no cache (the records are what counts)."""
    path = Path(root) / READ_CACHE
    if len(records) < MIN_RECORDS:
        path.unlink(missing_ok=True)
        return
    n, vocabulary = len(records), list(block.vocabulary)
    lengths = np.array([s.stop - s.start for s in spans], dtype=np.int64)
    starts = np.array([s.start for s in spans], dtype=np.int64)
    rows = np.concatenate([np.arange(s.start, s.stop, dtype=np.int64) for s in spans]) if n else \
        np.array([], dtype=np.int64)
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    position = rows - np.repeat(starts, lengths)
    # every row, grouped by metric (stable: within a metric, record order then logged order)
    by_metric = np.argsort(block.codes[rows], kind="stable")
    codes, rows, owner, position = block.codes[rows][by_metric], rows[by_metric], \
        owner[by_metric], position[by_metric]
    bounds = np.searchsorted(codes, np.arange(len(vocabulary) + 1))
    arrays: dict[str, np.ndarray] = {
        "format": np.array([FORMAT], dtype=np.int64),
        "adamlab_version": np.array([__version__]),
        "names": np.array([r.name for r in records]),
        "signatures": np.array([r.signature for r in records], dtype=np.int64).reshape(n, 2),
        "fields": np.frombuffer(json.dumps([r.fields for r in records], allow_nan=True,
                                           separators=(",", ":")).encode(), dtype=np.uint8),
        "vocabulary": np.array(vocabulary if vocabulary else [""])[: len(vocabulary)],
        "logged": np.array([s.logged for s in spans], dtype=np.int64),
        "last_step": np.array([-1 if s.last_step is None else s.last_step for s in spans],
                              dtype=np.int64),
        "present": np.array([[name in s.names for name in vocabulary] for s in spans],
                            dtype=bool).reshape(n, len(vocabulary)),
    }
    for code in range(len(vocabulary)):
        mine = slice(bounds[code], bounds[code + 1])
        arrays[f"offsets_{code}"] = np.concatenate(
            [[0], np.cumsum(np.bincount(owner[mine], minlength=n))]).astype(np.int64)
        arrays[f"position_{code}"] = position[mine]
        arrays[f"step_{code}"] = block.step[rows[mine]]
        arrays[f"wall_time_{code}"] = block.wall_time[rows[mine]]
        arrays[f"value_{code}"] = block.value[rows[mine]]
    buffer = io.BytesIO()
    # np.savez_compressed's layout at zlib's fastest level: a third of the time of its default
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    try:
        write_bytes_atomic(path, buffer.getvalue(), sync=False)
    except Exception:  # noqa: BLE001 - a read-only or full disk: no cache, nothing lost
        return


class UnusableCache(Exception):
    """Raised while reading through a cache found damaged part way (a member that does not
    decompress, arrays that do not fit together): the reader starts again without it."""


_COLUMNS = ("offsets", "position", "step", "wall_time", "value")
_DTYPES = {"offsets": np.int64, "position": np.int64, "step": np.int64, "wall_time": np.float64,
           "value": np.float64}
_DAMAGED = (ValueError, KeyError, IndexError, TypeError, OSError, EOFError, zipfile.BadZipFile,
            zlib.error)


class ReadCache:
    """An open cache: which records it holds, their fields and their logs' rows."""

    def __init__(self, archive: Mapping[str, np.ndarray]) -> None:
        self._archive = archive
        names = archive["names"].tolist()
        signatures = [tuple(s) for s in archive["signatures"].tolist()]
        self._index = {name: (i, sig) for i, (name, sig) in enumerate(zip(names, signatures, strict=True))}
        self._fields: list[dict[str, Any]] | None = None
        self.vocabulary: list[str] = archive["vocabulary"].tolist()
        self._logged = archive["logged"]
        self._last_step = archive["last_step"]
        self._present = archive["present"]
        self._columns: dict[int, tuple[np.ndarray, ...]] = {}
        self._names: dict[bytes, frozenset[str]] = {}
        self._builder: MetricLogBuilder | None = None
        self._translate = np.array([], dtype=np.intc)

    @staticmethod
    def open(root: Path) -> ReadCache | None:
        """The folder's cache, or None when it has none this adamlab can use."""
        try:
            data = read_regular(Path(root) / READ_CACHE)
        except OSError:
            return None
        try:
            archive = np.load(io.BytesIO(data), allow_pickle=False)
            if (archive["format"].tolist() != [FORMAT]
                    or archive["adamlab_version"].tolist() != [__version__]):
                return None
            cache = ReadCache(archive)
        except _DAMAGED:
            return None
        return cache if cache._complete() else None

    def _complete(self) -> bool:
        """Whether every array it lists is there, each record described once."""
        n, members = len(self._index), set(self._archive.files)
        return (self._archive["signatures"].shape == (n, 2)
                and self._logged.shape == (n,) and self._last_step.shape == (n,)
                and self._present.shape == (n, len(self.vocabulary))
                and all(f"{column}_{code}" in members for code in range(len(self.vocabulary))
                        for column in _COLUMNS))

    def find(self, path: Path) -> int | None:
        """The cache's index of record file `path` when it holds that very file, else None."""
        found = self._index.get(path.stem)
        if found is None or signature(path) != found[1]:
            return None
        return found[0]

    def fields(self, index: int) -> dict[str, Any]:
        """The record's fields as they were read (its metric log left out)."""
        if self._fields is None:
            # lazy: pydantic_core, only when a cache is read
            from pydantic_core import from_json

            try:
                fields = from_json(self._archive["fields"].tobytes())
            except _DAMAGED as exc:
                raise UnusableCache(str(exc)) from None
            if not (isinstance(fields, list) and len(fields) == len(self._index)
                    and all(isinstance(f, dict) for f in fields)):
                raise UnusableCache("its records' fields do not match its names")
            self._fields = fields
        return self._fields[index]

    def add_log(self, builder: MetricLogBuilder, index: int, trial_id: str,
                keep: frozenset[str] | None) -> None:
        """The record's rows of the metrics in `keep` (every row when None) into `builder`."""
        present = self._present[index]
        names_key = present.tobytes()
        if names_key not in self._names:
            self._names[names_key] = frozenset(np.array(self.vocabulary, dtype=object)[present])
        names = self._names[names_key]
        every_row = keep is None or keep.issuperset(names)
        wanted = [code for code, name in enumerate(self.vocabulary)
                  if present[code] and (every_row or name in keep)]
        pieces = [self._rows(code, index) for code in wanted]
        if len(pieces) == 1:
            position, step, wall_time, value, codes = pieces[0]
        else:
            position, step, wall_time, value, codes = (
                np.concatenate([piece[k] for piece in pieces]) if pieces else np.array([])
                for k in range(5))
            order = np.argsort(position, kind="stable")
            step, wall_time, value, codes = step[order], wall_time[order], value[order], codes[order]
        last = int(self._last_step[index])
        if self._builder is not builder:  # this cache's metric codes as the builder's
            self._builder, self._translate = builder, builder.codes_of(self.vocabulary)
        builder.add_columns(trial_id, step, wall_time, self._translate[codes.astype(np.intp)],
                            value, names=names, logged=int(self._logged[index]),
                            last_step=None if last < 0 else last,
                            held=None if every_row else keep)

    def _rows(self, code: int, index: int) -> tuple[np.ndarray, ...]:
        if code not in self._columns:
            self._columns[code] = self._metric_columns(code)
        offsets, position, step, wall_time, value = self._columns[code]
        start, stop = offsets[index], offsets[index + 1]
        return (position[start:stop], step[start:stop], wall_time[start:stop],
                value[start:stop], np.full(stop - start, code, dtype=np.intp))

    def _metric_columns(self, code: int) -> tuple[np.ndarray, ...]:
        """The arrays of one metric, checked to fit together (else UnusableCache)."""
        try:
            columns = tuple(self._archive[f"{column}_{code}"] for column in _COLUMNS)
        except _DAMAGED as exc:
            raise UnusableCache(str(exc)) from None
        offsets, rows = columns[0], columns[1:]
        fits = (all(c.dtype == _DTYPES[name] and c.ndim == 1 for name, c in zip(_COLUMNS, columns, strict=True))
                and len(offsets) == len(self._index) + 1 and offsets[0] == 0
                and bool(np.all(np.diff(offsets) >= 0))
                and all(len(c) == offsets[-1] for c in rows))
        if not fits:
            raise UnusableCache(f"the arrays of metric {code} do not fit together")
        return columns
