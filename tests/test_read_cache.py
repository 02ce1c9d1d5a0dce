"""The read cache (adamlab.store.read_cache): a folder read through it is the folder read from
its records, value for value; a record that changed since, or a cache that is damaged, from
another version or edited, is read from the record or refused as the record itself would be."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from adamlab.analysis.summary import needed_metrics
from adamlab.errors import AdamlabError
from adamlab.store import read_cache
from adamlab.store.layout import rebuild_tables
from adamlab.store.names import READ_CACHE
from adamlab.store.tables import load_results

DATA = Path(__file__).parent / "data"


@pytest.fixture
def cached(tmp_path, monkeypatch):
    """Copies of two saved folders (a real sweep; embedding-sparsity records with many metrics)
    with their read caches written, as the tables' rebuild writes them (any size of folder)."""
    monkeypatch.setattr(read_cache, "MIN_RECORDS", 1)
    folders = []
    for name in ("saved_results", "saved_claims"):
        folder = tmp_path / name
        shutil.copytree(DATA / name, folder)
        rebuild_tables(folder)
        assert (folder / READ_CACHE).is_file()
        folders.append(folder)
    return folders


@pytest.fixture
def swept(tmp_path, monkeypatch):
    """A fresh 12-trial sweep's folder (its records name every identity field) and its cache."""
    from sweep_testing import quick_sweep

    from adamlab.cli.app import main

    monkeypatch.setattr(read_cache, "MIN_RECORDS", 1)
    out = tmp_path / "out"
    assert main(["sweep", str(quick_sweep(tmp_path, steps=5)), "--out", str(out), "-q"]) == 0
    assert (out / READ_CACHE).is_file()
    return out


@pytest.fixture
def used(monkeypatch) -> list:
    """One entry per record a read took from a cache."""
    taken = []
    real_add_log = read_cache.ReadCache.add_log
    monkeypatch.setattr(read_cache.ReadCache, "add_log",
                        lambda self, *args, **kwargs: taken.append(1) or real_add_log(self, *args, **kwargs))
    return taken


def _read(folder: Path, metric: str | None = None):
    return load_results(folder, needed_metrics=needed_metrics(metric))


def _without_cache(folder: Path, metric: str | None = None):
    cache = folder / READ_CACHE
    kept = cache.read_bytes()
    cache.unlink()
    try:
        return _read(folder, metric)
    finally:
        cache.write_bytes(kept)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.trials, b.trials, check_exact=True)
    for names in (["train_loss"], sorted(a.logs.names()), sorted(a.logs.names())[:2]):
        pd.testing.assert_frame_equal(a.metric_log(names), b.metric_log(names), check_exact=True)
    pd.testing.assert_frame_equal(a.metrics, b.metrics, check_exact=True)
    assert a.metric_names() == b.metric_names()
    assert a.logs.last_step() == b.logs.last_step() and len(a.logs) == len(b.logs)


def test_a_folder_read_through_its_cache_equals_its_records(cached, swept, used):
    for folder in [*cached, swept]:
        for metric in (None, "train_loss"):
            used.clear()
            through_cache = _read(folder, metric)
            assert len(used) == len(through_cache.trials), "every record came from the cache"
            used.clear()
            _same(through_cache, _without_cache(folder, metric))
            assert used == []


def test_summary_output_is_the_same_with_and_without_the_cache(cached, capsys):
    from adamlab.cli.app import main

    for folder in cached:
        for args in ([], ["--json"], ["--all", "--rule", "best"]):
            assert main(["summary", str(folder), *args]) == 0
            with_cache = capsys.readouterr().out
            kept = (folder / READ_CACHE).read_bytes()
            (folder / READ_CACHE).unlink()
            assert main(["summary", str(folder), *args]) == 0
            assert capsys.readouterr().out == with_cache
            (folder / READ_CACHE).write_bytes(kept)


def _rewrite(record: Path, change) -> None:
    data = json.loads(record.read_text())
    change(data)
    replacement = record.with_suffix(".tmp")
    replacement.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(replacement, record)


def test_a_record_rewritten_after_the_cache_is_read_from_its_file(swept):
    folder = swept
    record = sorted((folder / "trials").glob("*.json"))[0]

    def halve_losses(data):
        data["metrics"]["value"] = [v / 2 for v in data["metrics"]["value"]]

    _rewrite(record, halve_losses)
    results = _read(folder)
    log = results.metric_log(["train_loss"])
    mine = log[log["trial_id"] == record.stem]["value"].tolist()
    data = json.loads(record.read_text())
    expected = [v for v, m in zip(data["metrics"]["value"], data["metrics"]["metric"], strict=True)
                if m == "train_loss"]
    assert mine == expected and mine
    _same(results, _without_cache(folder))


def test_a_record_edited_by_hand_is_refused_with_or_without_the_cache(swept):
    folder = swept
    record = sorted((folder / "trials").glob("*.json"))[0]
    _rewrite(record, lambda data: data["hparams"].update(lr=0.5))
    with pytest.raises(AdamlabError, match="does not hash to its trial_id"):
        _read(folder)


def test_edited_fields_in_the_cache_are_refused_as_an_edited_record_would_be(swept):
    folder = swept
    path = folder / READ_CACHE
    archive = dict(np.load(path, allow_pickle=False))
    fields = json.loads(archive["fields"].tobytes())
    fields[0]["hparams"]["lr"] = 0.5
    archive["fields"] = np.frombuffer(json.dumps(fields).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **archive)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(AdamlabError, match="does not hash to its trial_id"):
        _read(folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other version", "other format",
                                    "member missing"])
def test_a_cache_that_cannot_be_used_is_ignored(cached, damage, monkeypatch):
    folder = cached[1]
    path = folder / READ_CACHE
    expected = _without_cache(folder)
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "other version":
        monkeypatch.setattr(read_cache, "__version__", "0.0.0-other")
    elif damage == "other format":
        monkeypatch.setattr(read_cache, "FORMAT", read_cache.FORMAT + 1)
    else:
        with zipfile.ZipFile(path) as archive:
            kept = {n: archive.read(n) for n in archive.namelist() if not n.startswith("value_")}
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in kept.items():
                archive.writestr(name, data)
    _same(_read(folder), expected)


def test_a_small_folder_keeps_no_cache_and_a_failed_write_loses_nothing(cached, monkeypatch):
    folder = cached[0]
    monkeypatch.setattr(read_cache, "MIN_RECORDS", 10**6)
    rebuild_tables(folder)
    assert not (folder / READ_CACHE).exists()
    monkeypatch.setattr(read_cache, "MIN_RECORDS", 1)

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(read_cache, "write_bytes_atomic", refuse)
    rebuilt = rebuild_tables(folder)
    assert not (folder / READ_CACHE).exists()
    _same(_read(folder), rebuilt)


def test_a_copy_that_keeps_the_files_times_keeps_its_cache(swept, tmp_path, used):
    copy = tmp_path / "copy"
    shutil.copytree(swept, copy)  # copy2: times kept, as rsync -a and cp -p keep them
    results = _read(copy)
    assert len(used) == len(results.trials) == 12
    _same(results, _without_cache(copy))
