"""Scheduling and start-up choices change nothing a sweep records.

tests/data/saved_results holds the records of tests/data/saved_sweep.yaml (adam, adamw with a
cosine schedule, sgd, momentum, nesterov, torch_adam on the DeepOBS quadratic and a small
embedding table; two seeds), written by the code before the jobs/threads heuristics, the host
module and the lean start-up were changed. Re-running the sweep, in this process or in workers,
with one thread or two, must give the same trial ids and the same records (the wall times and the
environment they ran in aside). tests/data/quickstart_trial_ids.txt holds the quickstart's ids.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from sweep_testing import records

from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trials import expand_trials

DATA = Path(__file__).resolve().parent / "data"
#: a record's fields that say when and where it ran, not what it computed
CIRCUMSTANTIAL = {"wall_time_s", "environment", "adamlab_version"}


def _same_values(a: list[float], b: list[float]) -> bool:
    # the kernel is built with the local compiler: another machine may round the last bit apart
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-6, abs=1e-12)
        for x, y in zip(a, b, strict=True)
    )


def _assert_same_records(saved: dict, ran: dict) -> None:
    assert sorted(ran) == sorted(saved)
    for trial_id, record in ran.items():
        mine, theirs = record.model_dump(), saved[trial_id].model_dump()
        # fields the record model gained since the folder was saved are new information, not a change
        for key in saved[trial_id].model_fields_set - CIRCUMSTANTIAL - {"metrics", "final", "best"}:
            assert mine[key] == theirs[key], (trial_id, key)
        for key in ("final", "best"):
            assert sorted(mine[key]) == sorted(theirs[key]), (trial_id, key)
            assert _same_values([mine[key][m] for m in sorted(mine[key])],
                                [theirs[key][m] for m in sorted(mine[key])]), (trial_id, key)
        for column in ("step", "metric"):
            assert mine["metrics"][column] == theirs["metrics"][column], (trial_id, column)
        assert _same_values(mine["metrics"]["value"], theirs["metrics"]["value"]), trial_id


def test_quickstart_trial_ids_are_unchanged():
    saved = (DATA / "quickstart_trial_ids.txt").read_text().split()
    sweep = load_sweep(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")
    assert [t.trial_id for t in expand_trials(sweep)] == saved


@pytest.mark.parametrize(("jobs", "threads", "stack_size"), [
    (None, None, None),  # every choice automatic
    (1, 2, 1),           # one process, one trial at a time, two threads
    (2, 1, None),        # two workers
])
def test_a_saved_folder_is_reproduced_whatever_the_jobs_and_threads(tmp_path, jobs, threads, stack_size):
    saved = records(DATA / "saved_results")
    sweep = load_sweep(DATA / "saved_sweep.yaml").with_output(tmp_path / "again")
    assert sorted(t.trial_id for t in expand_trials(sweep)) == sorted(saved)
    result = run_sweep(sweep, SweepOptions(jobs=jobs, threads=threads, stack_size=stack_size))
    assert len(result.records) == len(saved)
    _assert_same_records(saved, records(tmp_path / "again"))
