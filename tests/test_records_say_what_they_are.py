"""Records that say what they are: a stacked trial's share of its stack's time beside the stack's
time and size."""

from __future__ import annotations

import pandas as pd
from sweep_testing import quick_sweep, records

from adamlab.cli.app import main


def test_stacked_trials_record_their_share_the_stack_time_and_size(tmp_path):
    config = quick_sweep(tmp_path, steps=30, seeds="[0]", lrs="[0.01, 1.0e+6]")
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "-q", "--stack-size", "4", "--jobs", "1"]) == 0
    adam = [r for r in records(out).values() if r.variant == "adam"]
    assert len(adam) == 4 and {r.stack_size for r in adam} == {4}
    assert {r.status for r in adam} == {"finished", "diverged"}
    shares = sum(r.wall_time_s for r in adam)
    # the shares add up to the stack's time: each is part of it, none is the whole
    assert shares <= max(r.stack_wall_time_s for r in adam)
    assert all(0 < r.wall_time_s < r.stack_wall_time_s for r in adam)
    diverged = [r for r in adam if r.status == "diverged"]
    finished = [r for r in adam if r.status == "finished"]
    # a member that left the stack early was charged for less of it
    assert max(r.wall_time_s for r in diverged) < min(r.wall_time_s for r in finished)
    table = pd.read_csv(out / "trials.csv")
    assert {"wall_time_s", "stack_size", "stack_wall_time_s"} <= set(table.columns)
