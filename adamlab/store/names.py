"""The names inside a results folder (see `adamlab.store.layout` for what each holds), in one
place for the folder's writer (`layout`) and its table reader (`tables`)."""

from __future__ import annotations

import re

LAYOUT_VERSION = 1
MANIFEST = "adamlab-results.json"
SWEEP_YAML = "sweep.yaml"
PROVENANCE = "provenance.json"
TRIALS_DIR = "trials"
ERRORS_DIR = "errors"
LOCK = ".adamlab.lock"
#: what reading the records found, for the next read (see adamlab.store.read_cache)
READ_CACHE = ".adamlab-read-cache.npz"

#: what the sweep engine names a record; anything else in trials/ is not one
RECORD_NAME = re.compile(r"^[0-9a-f]{16}\.json$")
