"""A sweep's results folder on disk (layout version 1).

    <output>/
      adamlab-results.json   {"layout_version": 1, "adamlab_version", "sweep", "created", "updated",
                              "trial_ids": [the current sweep's trial ids, in sweep order]}
      sweep.yaml             the resolved sweep of the latest run (defaults filled)
      provenance.json        versions, device, git commit, argv, start/end of each run
      trials/<trial_id>.json one TrialRecord per ended trial, written atomically
      errors/<trial_id>.txt  the traceback of a failed trial
      trials.csv, metrics.csv (+ .parquet)   tables rebuilt from trials/*.json

A record's existence is what makes a trial done. Records of trials that are no longer part of the
sweep (the YAML changed) stay on disk; `trial_ids` in the manifest says which belong to the current
sweep, so tables and summaries can show just those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adamlab import __version__
from adamlab.errors import AdamlabError
from adamlab.store.atomic import cannot, write_text_atomic
from adamlab.store.entries import check_folder, open_regular, read_regular
from adamlab.store.json_files import read_json_object
from adamlab.store.names import (
    ERRORS_DIR,
    LAYOUT_VERSION,
    LOCK,
    MANIFEST,
    PROVENANCE,
    RECORD_NAME,
    SWEEP_YAML,
    TRIALS_DIR,
)
from adamlab.store.records import TrialRecord, load_record

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def read_manifest(results_dir: str | Path) -> dict[str, Any]:
    """The folder's manifest, checked: a folder from a newer layout is a clear error."""
    path = Path(results_dir) / MANIFEST
    try:
        manifest = json.loads(read_regular(path).decode("utf-8"))
    except FileNotFoundError:
        raise AdamlabError(f"{results_dir}: not an adamlab results folder (no {MANIFEST})") from None
    except OSError as exc:
        raise cannot("read", path, exc) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AdamlabError(f"{path}: unreadable ({exc}); the folder's manifest is damaged") from None
    version = manifest.get("layout_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int):
        raise AdamlabError(f"{path}: no layout_version; not written by adamlab")
    if version > LAYOUT_VERSION:
        writer = manifest.get("adamlab_version", "unknown")
        raise AdamlabError(
            f"{results_dir}: written with results layout version {version} (adamlab {writer}); "
            f"this adamlab {__version__} reads layout version {LAYOUT_VERSION} and older: upgrade adamlab"
        )
    return manifest


def check_owner(path: str | Path, manifest: dict[str, Any], sweep_name: str) -> None:
    """A results folder belongs to the sweep named in its manifest: another sweep (a copied YAML
    that kept the name's folder) must not mix its trials in, or take the folder over."""
    other = manifest.get("sweep")
    if isinstance(other, str) and other != sweep_name:
        raise AdamlabError(
            f"{path}: holds the results of sweep {other!r}, not of {sweep_name!r}; give this "
            f"sweep its own folder (output: in the YAML, or --out)"
        )


def rebuild_tables(results_dir: str | Path):
    """THE call site that derives trials.csv / metrics.csv from trials/*.json after a sweep run.

    The tables live with the results code (adamlab.store.tables); every sweep run ends here.
    """
    from adamlab.store.tables import rebuild_tables as build  # lazy: pandas, only at the end

    return build(Path(results_dir))


class ResultsFolder:
    """The results folder of one sweep run: created or checked on open, locked while in use."""

    def __init__(self, path: str | Path, *, trust_folder: bool = False):
        self.path = Path(path)
        self.trials_dir = self.path / TRIALS_DIR
        self.errors_dir = self.path / ERRORS_DIR
        #: write into a folder owned by another user or writable by every user (--trust-folder)
        self.trust_folder = trust_folder
        #: what opening the folder had to do that the user should hear (one line each)
        self.notices: list[str] = []
        self._lock_handle = None
        self._created_lock = False

    # -- opening -------------------------------------------------------------------------------

    def open(
        self, *, sweep_name: str, trial_ids: list[str], sweep_yaml: str,
        extra: dict[str, Any] | None = None, before_writing: Callable[[], None] | None = None,
    ) -> ResultsFolder:
        """Create the folder (or check an existing one), lock it, and record the current sweep.

        `extra` adds keys to the manifest (the sweep engine adds "tasks": {name: {"primary_metric",
        "metric_goals"}} so the folder can be summarised without the task's code).
        `before_writing` runs with the folder locked, before anything is written: what it raises
        leaves the folder as it was (the sweep checks records that appeared since it planned).
        """
        # The lock comes before anything is read: two sweeps started at once on a new folder must
        # see "in use", not each other's half-made folder.
        if self.path.exists() and not self.path.is_dir():
            raise AdamlabError(f"{self.path}: exists and is not a folder; choose another output (--out)")
        existed = self.path.is_dir()
        try:
            # never writable by every user, whatever the umask
            self.path.mkdir(mode=0o775, parents=True, exist_ok=True)
        except OSError as exc:
            raise cannot("create", self.path, exc) from None
        self._check_ownership()
        self._lock(created_lock=not os.path.lexists(self.path / LOCK))
        try:
            manifest = self._existing_manifest(existed, sweep_name)
            has_trials = check_folder(self.trials_dir)
            check_folder(self.errors_dir)
            if before_writing is not None:
                before_writing()
            if not has_trials:
                self.trials_dir.mkdir(mode=0o775)
            self._remove_leftover_temporaries()
            stamp = now_iso()
            manifest = {
                "layout_version": LAYOUT_VERSION,
                "adamlab_version": __version__,
                "sweep": sweep_name,
                "created": (manifest or {}).get("created", stamp),
                "updated": stamp,
                "trial_ids": list(trial_ids),
                **(extra or {}),
            }
            write_text_atomic(self.path / MANIFEST, json.dumps(manifest, indent=1) + "\n")
            write_text_atomic(self.path / SWEEP_YAML, sweep_yaml)
        except OSError as exc:
            self.close()
            raise cannot("write", exc.filename or self.path, exc) from None
        except BaseException:
            self.close()
            raise
        return self

    def _existing_manifest(self, existed: bool, sweep_name: str) -> dict[str, Any] | None:
        if (self.path / MANIFEST).exists():
            manifest = read_manifest(self.path)
            try:
                check_owner(self.path, manifest, sweep_name)
            except AdamlabError:
                if self._created_lock:
                    (self.path / LOCK).unlink(missing_ok=True)
                raise
            return manifest
        visible = [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
        if visible:
            if self._created_lock:  # leave a folder that is not ours as we found it
                (self.path / LOCK).unlink(missing_ok=True)
            raise AdamlabError(
                f"{self.path}: exists, is not empty and is not an adamlab results folder "
                f"(no {MANIFEST}); choose another output (--out)"
            )
        return None

    def _check_ownership(self) -> None:
        """A folder another user owns, or any user may write into, could hold links planted to
        make this sweep write elsewhere: refused unless trusted (--trust-folder)."""
        if self.trust_folder or not hasattr(os, "geteuid"):
            return
        for folder in (self.path, self.trials_dir, self.errors_dir):
            try:
                info = os.stat(folder)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise cannot("read", folder, exc) from None
            if info.st_uid != os.geteuid():
                problem = f"owned by another user (uid {info.st_uid})"
            elif info.st_mode & 0o002:  # sticky or not: others could still create links in it
                problem = f"writable by every user (mode {info.st_mode & 0o7777:04o})"
            else:
                continue
            raise AdamlabError(
                f"{folder}: {problem}: someone else could plant links in it to make this sweep "
                f"write elsewhere; use a folder of your own (--out), or pass --trust-folder to write into it anyway"
            )

    def _lock(self, created_lock: bool) -> None:
        self._created_lock = created_lock
        if fcntl is None:  # pragma: no cover - not POSIX: no protection against two writers
            return
        try:
            # a planted link (or hard link) must not make the pid below overwrite another file
            fd = open_regular(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644, single_link=True)
            handle = os.fdopen(fd, "r+")  # held open for the folder's lifetime
        except OSError as exc:
            raise cannot("write", self.path / LOCK, exc) from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise AdamlabError(
                f"{self.path}: in use by another adamlab sweep ({holder}); wait for it to end or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing releases the flock; a killed process releases it too
            self._lock_handle = None

    def __enter__(self) -> ResultsFolder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _remove_leftover_temporaries(self) -> None:
        # A process killed mid-write leaves `.<name>.<random>.tmp` behind; the record itself was never
        # renamed into place, so the trial counts as not done and runs again.
        # The tables and the manifest are written the same way into the folder itself.
        # Only files (or links, which unlink removes, not what they point at) in the folder's
        # own subfolders, checked to be real folders by open().
        for folder in (self.path, self.trials_dir, self.errors_dir):
            for leftover in folder.glob(".*.tmp"):
                if not leftover.is_dir() or leftover.is_symlink():
                    leftover.unlink(missing_ok=True)

    # -- trials --------------------------------------------------------------------------------

    def finished_ids(self) -> set[str]:
        """Ids with a record on disk (finished, diverged or failed)."""
        if not check_folder(self.trials_dir):
            return set()
        return {p.name[:-5] for p in self.trials_dir.iterdir() if RECORD_NAME.match(p.name)}

    def read_record(self, trial_id: str) -> TrialRecord:
        return load_record(self.trials_dir / f"{trial_id}.json")

    def failed_ids(self, among: set[str]) -> set[str]:
        return {tid for tid in among if self.read_record(tid).status == "failed"}

    def write_record(self, record: TrialRecord, traceback_text: str | None = None) -> Path:
        """Write one ended trial. The traceback (failed trials) goes first, the record last: the
        record's appearance is what marks the trial done."""
        error_file = self.errors_dir / f"{record.trial_id}.txt"
        if traceback_text:
            write_text_atomic(error_file, traceback_text)
        else:
            error_file.unlink(missing_ok=True)
        return record.write(self.trials_dir)

    # -- provenance ----------------------------------------------------------------------------

    def read_provenance(self) -> dict[str, Any]:
        """The folder's run history; an unreadable one is moved aside (never overwritten), and
        `notices` says where to."""
        path = self.path / PROVENANCE
        if not os.path.lexists(path):
            return {}
        try:
            return read_json_object(path)
        except AdamlabError as exc:
            return self._move_aside(path, str(exc).removeprefix(f"{path}: "))

    def _move_aside(self, path: Path, problem: str) -> dict[str, Any]:
        aside = path.with_name(f"{path.name}.unreadable-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        n = 1
        while os.path.lexists(aside):
            aside = aside.with_name(f"{aside.name.split('~')[0]}~{n}")
            n += 1
        try:
            os.rename(path, aside)
        except OSError as exc:
            raise cannot("move aside the unreadable", path, exc) from None
        self.notices.append(
            f"warning: {path} was unreadable ({problem}); kept as {aside.name}, and a new run history started"
        )
        return {"previous_provenance_moved_to": aside.name}

    def write_provenance(self, provenance: dict[str, Any], *, sync: bool = True) -> None:
        """`sync=False` for the running count after each trial: a kill cannot tear the file, and
        a trial does not wait for a second fsync besides its record's."""
        write_text_atomic(self.path / PROVENANCE, json.dumps(provenance, indent=1) + "\n", sync=sync)
