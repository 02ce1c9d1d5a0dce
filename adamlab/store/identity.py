"""A trial's id: the first 16 hex digits of the sha256 of the canonical JSON of its identity fields.

The sweep computes it when it expands trials (adamlab.sweep.trials); the store recomputes it from
a record's own fields when the record is read, so a record edited by hand (an lr changed from
0.01 to 0.5) is refused instead of standing in for a configuration that never ran.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

ID_LENGTH = 16
#: exactly the fields the id hashes, in a trial and in a record
IDENTITY_FIELDS = (
    "task", "task_params", "optimizer", "hparams", "seed", "steps", "batch_size", "log_every",
    "eval_every", "divergence_factor", "device",
)
#: "module:attribute" of a plug-in optimizer / task: hashed only when set, so the ids of
#: registered optimizers and tasks do not depend on them
TARGET_FIELDS = ("optimizer_target", "task_target")


def identity_of(fields: dict[str, Any]) -> dict[str, Any]:
    """The identity to hash from IDENTITY_FIELDS and TARGET_FIELDS' values (empty targets left out)."""
    return {
        **{name: fields[name] for name in TARGET_FIELDS if fields.get(name)},
        **{name: fields[name] for name in IDENTITY_FIELDS},
    }


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, floats as Python's shortest repr (1e-3 -> 0.001)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def trial_id_of(identity: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(identity).encode("utf-8")).hexdigest()[:ID_LENGTH]


def device_type(device: str) -> str:
    """'cuda:1' -> 'cuda': the id holds the device type, a record the device it ran on."""
    return device.split(":")[0]
