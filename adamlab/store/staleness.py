"""Records made in another environment than this run's: found before a sweep mixes them.

A record is stale when the adamlab source hash, the adamlab version or the torch version it was
made with differ from this run's (or it predates environment recording), or when a plug-in file
it ran (the user's optimizer or task module) has changed since. Its trial id is the same
(the id hashes the configuration, not the code), so without this check a re-run after a fix in
optimizers/adam.py would skip the trial and leave the old number beside the new ones.
"""

from __future__ import annotations

from collections import Counter

from adamlab.errors import AdamlabError
from adamlab.store.layout import ResultsFolder
from adamlab.store.records import RecordEnvironment


def file_hash(path: str) -> str:
    from adamlab.sweep.environment import file_hash as hash_of

    return hash_of(path)

UNRECORDED = "an adamlab that did not record its environment"


def survey(folder: ResultsFolder, ids: set[str], current: RecordEnvironment) -> tuple[dict[str, str], set[str]]:
    """Reading each record among `ids` once: ({trial id: the environment it was made in,
    described} for each stale one, the ids of the failed ones)."""
    stale: dict[str, str] = {}
    failed: set[str] = set()
    for trial_id in sorted(ids):
        record = folder.read_record(trial_id)
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
    return stale, failed


def refuse_stale(where: str, stale: dict[str, str], current: RecordEnvironment) -> AdamlabError:
    """The one-line refusal: both environments and the two ways on."""
    counts = Counter(stale.values()).most_common()
    made_in = counts[0][0] + (f" (and {len(counts) - 1} other environment(s))" if len(counts) > 1 else "")
    return AdamlabError(
        f"{where}: {len(stale)} trial record(s) were made with {made_in}, this run has "
        f"{current.describe()}: re-run them with --rerun-stale, or keep them beside new results "
        f"with --accept-stale"
    )
