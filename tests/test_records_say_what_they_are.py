"""Records that say what they are: a stacked trial's share of its stack's time beside the stack's
time and size; optional hyperparameters left at their default written out in the tables."""

from __future__ import annotations

import pandas as pd
from sweep_testing import quick_sweep, records, write_yaml

from adamlab.cli.app import main
from adamlab.store.tables import load_results
from adamlab.sweep.schema import load_sweep
from adamlab.sweep.trials import expand_trials


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


def test_a_default_schedule_is_written_out_and_trial_ids_do_not_move(tmp_path):
    config = write_yaml(tmp_path, """\
        name: schedules
        steps: 10
        tasks: [quadratic]
        optimizers:
          - name: sgd
            lr: [0.01, 0.1]
          - name: sgd-cosine
            optimizer: sgd
            lr: 0.01
            schedule: cosine
          - name: adamw
            lr: 0.001
        """)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "-q"]) == 0
    for table in (pd.read_csv(out / "trials.csv"), load_results(out).trials):
        assert table["hp.schedule"].notna().all()
        assert set(table.loc[table["variant"] != "sgd-cosine", "hp.schedule"]) == {"constant"}
        assert set(table.loc[table["variant"] == "sgd-cosine", "hp.schedule"]) == {"cosine"}
        assert (table["hp.warmup_steps"] == 0).all()
        # adamw's own optional hyperparameter, and none of it on the optimizers without it
        assert set(table.loc[table["optimizer"] == "adamw", "hp.weight_decay_scaling"]) == {"lr"}
        assert table.loc[table["optimizer"] == "sgd", "hp.weight_decay_scaling"].isna().all()
    # the records keep leaving the defaults out: the trial ids are those of the sweep as before
    assert all("schedule" not in r.hparams for r in records(out).values() if r.variant != "sgd-cosine")
    assert set(pd.read_csv(out / "trials.csv")["trial_id"]) == {
        t.trial_id for t in expand_trials(load_sweep(config))}
