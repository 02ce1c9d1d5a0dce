"""One selection rule: selected on validation metrics, test metrics reported, and the same best
config named by `summary`, `plot` and `report` for the same metric and rule."""

from __future__ import annotations

import pytest
from experiments_testing import record, results_of, write_folder

from adamlab.analysis.plots import write_plots
from adamlab.analysis.render import summary_warnings
from adamlab.analysis.summary import SummaryOptions, summarize
from adamlab.experiments.measures import best_row, config_values
from adamlab.store.tables import load_results

approx = pytest.approx


def mnist(lr: float, seed: int, *, val: list[float], test: list[float], params=None):
    """An mnist_mlp trial evaluated at steps 100 and 200."""
    log = {
        1: {"train_loss": 2.3},
        100: {"train_loss": 1.0, "val_loss": val[0], "test_loss": test[0]},
        200: {"train_loss": 0.5, "val_loss": val[1], "test_loss": test[1]},
    }
    return record("mnist_mlp", "adam", {"lr": lr}, seed, log, task_params=params)


def disagreeing(params=None, *, with_val: bool = True):
    """lr=1e-3 is better on validation, lr=1e-2 on test."""
    records = []
    for seed in (0, 1, 2):
        wobble = 0.01 * seed
        for lr, val, test in ((1e-3, [0.5, 0.3], [0.6, 0.5]), (1e-2, [0.6, 0.4], [0.3, 0.2])):
            trial = mnist(lr, seed, val=[v + wobble for v in val], test=[t + wobble for t in test],
                          params=params)
            if not with_val:
                keep = [i for i, m in enumerate(trial.metrics["metric"]) if m != "val_loss"]
                trial.metrics = {k: [v[i] for i in keep] for k, v in trial.metrics.items()}
            records.append(trial)
    return records


def test_summary_selects_on_validation_and_reports_test():
    (summary,) = summarize(results_of(disagreeing()), SummaryOptions(metric="test_loss"))
    assert summary.select_metric == "val_loss" and summary.unrecorded_validation is None
    assert summary_warnings(summary) == []
    best = summary.variant_best.iloc[0]
    assert best["hp.lr"] == 1e-3  # better val_loss, worse test_loss
    assert best["mean"] == approx(0.51)  # its test_loss (0.5, 0.51, 0.52)
    assert best["select_mean"] == approx(0.31)


def test_rule_best_picks_the_step_on_validation_and_reports_test_there():
    (summary,) = summarize(results_of(disagreeing()), SummaryOptions(metric="test_loss", rule="best"))
    configs = summary.configs.set_index("hp.lr")
    # lr=1e-2: val is best at step 200 (0.4 < 0.6); test there is 0.2
    assert configs.loc[1e-2, "mean"] == approx(0.21)
    assert configs.loc[1e-3, "mean"] == approx(0.51)


def test_summary_plot_and_report_name_the_same_best_config(tmp_path):
    records = disagreeing()
    folder = write_folder(tmp_path / "r", records, "mine")
    results = load_results(folder)
    (summary,) = summarize(results, SummaryOptions(metric="test_loss"))
    chosen = best_row(config_values(results, results.trials, "test_loss"))
    assert chosen["config_id"] == summary.variant_best.iloc[0]["config_id"]
    assert chosen["value"] == approx(summary.variant_best.iloc[0]["mean"])
    # the plots rank through the same summary: the curves figure exists for test_loss and the
    # lr-sensitivity one marks lr=1e-3 (drawn from summary.configs)
    paths = write_plots(results, tmp_path / "plots", metric="test_loss")
    assert any(p.name == "mnist_mlp__curves__test_loss.png" for p in paths)


def test_without_a_validation_split_the_summary_warns():
    (summary,) = summarize(
        results_of(disagreeing({"validation_fraction": 0.0}, with_val=False)),
        SummaryOptions(metric="test_loss"),
    )
    assert summary.select_metric == "test_loss"
    assert summary.variant_best.iloc[0]["hp.lr"] == 1e-2
    assert summary.unrecorded_validation == "val_loss"
    assert summary_warnings(summary) == [
        "no val_loss recorded (the task's validation split is off?): configs are selected on "
        "test_loss, the metric they report, so the reported test_loss is optimistic"]


def test_a_config_without_an_ok_seed_is_never_a_variants_best(tmp_path):
    """lr=1e-3 finished on every seed without logging the metric: it ranks first (no bad
    seed) but has nothing to select on, so each variant's best, its reference and the claims'
    best_row are all lr=1e-2, whose three seeds include one that diverged."""
    records = []
    for optimizer in ("adam", "sgd"):
        for seed in (0, 1, 2):
            records.append(record("mnist_mlp", optimizer, {"lr": 1e-3}, seed,
                                  {1: {"train_loss": 2.3}, 200: {"train_loss": 0.5}}))
            log = {1: {"train_loss": 2.3},
                   200: {"train_loss": 0.4, "val_loss": 0.3 + 0.01 * seed, "test_loss": 0.35}}
            if seed == 2:
                log = {1: {"train_loss": 2.3}, 50: {"train_loss": float("nan")}}
            trial = record("mnist_mlp", optimizer, {"lr": 1e-2}, seed, log,
                           status="diverged" if seed == 2 else "finished")
            records.append(trial.model_copy(update={"steps": 200}))  # planned as the others
    results = load_results(write_folder(tmp_path / "r", records, "mine"))
    (summary,) = summarize(results, SummaryOptions(metric="test_loss"))
    ranked = summary.configs.set_index(["optimizer", "hp.lr"])["rank"]
    assert ranked[("adam", 1e-3)] < ranked[("adam", 1e-2)]  # ranked first, nothing measured
    bests = summary.variant_best.set_index("variant")
    assert list(bests["hp.lr"]) == [1e-2, 1e-2]
    assert summary.references["sgd"].config_id == bests.loc["sgd", "config_id"]
    for optimizer in ("adam", "sgd"):
        trials = results.trials[results.trials["optimizer"] == optimizer]
        chosen = best_row(config_values(results, trials, "test_loss"))
        assert chosen["hp.lr"] == 1e-2 and chosen["n_ok"] == 2
    # a variant with no ok seed anywhere still shows, by its top-ranked config
    failing = [r for r in records if r.hparams["lr"] == 1e-3 or r.optimizer == "sgd"]
    (summary,) = summarize(results_of(failing), SummaryOptions(metric="test_loss"))
    adam = summary.variant_best.set_index("variant").loc["adam"]
    assert (adam["hp.lr"], adam["n_ok"]) == (1e-3, 0)
