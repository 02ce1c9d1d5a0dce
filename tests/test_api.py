"""The Python API: `from adamlab import Adam, AdamW, run_sweep, load_results, summarize`, lazily
(importing adamlab imports no torch), a sweep from a dict or a file, short reprs."""

from __future__ import annotations

import subprocess
import sys

from sweep_testing import quick_sweep


def test_import_adamlab_stays_light():
    probe = "import sys, adamlab; print('torch' in sys.modules, 'pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_api_runs_a_sweep_from_a_dict_and_summarises_it(tmp_path):
    from adamlab import Adam, AdamW, load_results, run_sweep, summarize
    from adamlab.optimizers.adam import Adam as AdamClass

    assert Adam is AdamClass and AdamW.__name__ == "AdamW"
    config = {
        "name": "nb", "steps": 20, "seeds": [0, 1], "log_every": 5,
        "tasks": [{"name": "quadratic", "params": {"dim": 4}}],
        "optimizers": [{"name": "adam", "lr": [0.01, 0.1]}, "sgd"],
    }
    result = run_sweep(config, out=tmp_path / "nb")
    assert repr(result) == f"SweepResult(nb: 6 trials, 6 run (6 finished), 0 already done -> {tmp_path / 'nb'})"
    assert repr(result.records[0]).startswith(f"TrialRecord({result.records[0].trial_id}: ")
    results = load_results(tmp_path / "nb")
    assert repr(results) == f"Results(nb: 6 trials, {len(results.metrics)} metric rows; tasks quadratic <- {tmp_path / 'nb'})"
    (summary,) = summarize(tmp_path / "nb", metric="loss")
    assert repr(summary).startswith("TaskSummary(quadratic: loss (min), 3 configs; best per variant: ")
    # and from a YAML file
    again = run_sweep(quick_sweep(tmp_path, name="nb", steps=20), out=tmp_path / "other")
    assert len(again.records) == 12


def test_a_load_of_some_metrics_holds_their_values_and_reads_the_others_on_request(tmp_path):
    import pandas as pd
    from results_fixture import write_results

    from adamlab import load_results, summarize

    folder = write_results(tmp_path / "hand")
    whole = load_results(folder)
    some = load_results(folder, metrics=["test_accuracy"])
    assert some.metric_names() == whole.metric_names()
    pd.testing.assert_frame_equal(some.metric_log(["test_accuracy"]),
                                  whole.metric_log(["test_accuracy"]))
    pd.testing.assert_frame_equal(some.metrics, whole.metrics)
    for mine, theirs in zip(summarize(folder, metric="train_loss"),
                            summarize(whole, metric="train_loss"), strict=True):
        pd.testing.assert_frame_equal(mine.configs, theirs.configs)
