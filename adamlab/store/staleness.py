"""Records made in another environment than this run's: found before a sweep mixes them.

A record is stale when the adamlab source hash, the adamlab version or the torch version it was
made with differ from this run's (or it predates environment recording), when a plug-in file
it ran (the user's optimizer or task module) has changed since, or when the data files its task
read differ from those this run would read (`TaskSpec.data_identity`). Its trial id is the same
(the id hashes the configuration, not the code), so without this check a re-run after a fix in
optimizers/adam.py would skip the trial and leave the old number beside the new ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from adamlab.errors import AdamlabError
from adamlab.store.identity import IDENTITY_FIELDS, TARGET_FIELDS, canonical_json, device_type
from adamlab.store.layout import ResultsFolder
from adamlab.store.records import RecordEnvironment, TrialRecord
from adamlab.sweep.environment import file_hash as hash_of


def file_hash(path: str) -> str:
    return hash_of(path)

UNRECORDED = "an adamlab that did not record its environment"


def survey(
    folder: ResultsFolder, ids: set[str], current: RecordEnvironment, *,
    identities: Mapping[str, Mapping[str, Any]] | None = None,
    data_hash: Callable[[TrialRecord], str | None] | None = None,
) -> tuple[dict[str, str], set[str]]:
    """Reading each record among `ids` once: ({trial id: the environment it was made in,
    described} for each stale one, the ids of the failed ones).

    `identities`: {trial id: the identity fields the sweep gave it}; a record that disagrees
    with them is refused, naming the file. `data_hash(record)`: this run's fingerprint of the data
    the record's task (None: no data files, or none found here to compare with); a record made
    on other data is stale.
    """
    stale: dict[str, str] = {}
    failed: set[str] = set()
    data_now: dict[str, str | None] = {}
    for trial_id in sorted(ids):
        record = folder.read_record(trial_id)
        if identities is not None and trial_id in identities:
            _check_planned(folder.trials_dir / f"{trial_id}.json", record, identities[trial_id])
        if record.status == "failed":
            failed.add(trial_id)
        made_in = record.environment
        if made_in is None:
            stale[trial_id] = UNRECORDED
        elif made_in.key() != current.key():
            stale[trial_id] = made_in.describe()
        else:
            changed = [path for path, digest in sorted(made_in.plugins.items())
                       if file_hash(path) != digest]
            if changed:
                stale[trial_id] = f"an earlier version of {changed[0]}"
            elif data_hash is not None:
                key = record.task + record.task_target + canonical_json(record.task_params)
                if key not in data_now:
                    data_now[key] = data_hash(record)
                if data_now[key] is not None and made_in.data_hash != data_now[key]:
                    stale[trial_id] = (
                        f"{record.task} data {(made_in.data_hash or 'unrecorded')[:8]} (this run "
                        f"reads data {data_now[key][:8]})"
                    )
    return stale, failed


def _check_planned(path, record: TrialRecord, planned: Mapping[str, Any]) -> None:
    """The record's identity fields (those it holds: older records lack some) against the
    trial's; any difference means the file does not belong under that id."""
    held = {name: getattr(record, name) for name in (*IDENTITY_FIELDS, *TARGET_FIELDS)}
    held["device"] = device_type(record.device)
    differ = [
        name for name, value in held.items()
        if value is not None and canonical_json(value) != canonical_json(planned.get(name, ""))
    ]
    if differ:
        raise AdamlabError(
            f"{path}: holds another configuration than trial {record.trial_id} ({', '.join(differ)} "
            f"differ: edited by hand, or copied from another trial?); it is not used: move it out "
            f"of trials/ to run that trial again"
        )


def refuse_stale(where: str, stale: dict[str, str], current: RecordEnvironment) -> AdamlabError:
    """The one-line refusal: both environments and the two ways on."""
    counts = Counter(stale.values()).most_common()
    made_in = counts[0][0] + (f" (and {len(counts) - 1} other environment(s))" if len(counts) > 1 else "")
    return AdamlabError(
        f"{where}: {len(stale)} trial record(s) were made with {made_in}, this run has "
        f"{current.describe()}: re-run them with --rerun-stale, or keep them beside new results "
        f"with --accept-stale"
    )
