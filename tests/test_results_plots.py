"""`adamlab plot`: every figure written, non-empty, named after what it shows."""

from __future__ import annotations

import pytest
from results_fixture import write_results

from adamlab.analysis.plots import write_plots
from adamlab.errors import AdamlabError
from adamlab.store.tables import load_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return load_results(write_results(tmp_path_factory.mktemp("hand") / "hand"))


def test_default_plots_land_in_the_results_folder(results):
    paths = write_plots(results)
    assert [p.name for p in paths] == [
        "mnist_mlp__adamw__lr_x_weight_decay__test_accuracy.png",
        "mnist_mlp__adamw__lr_x_weight_decay__train_loss.png",
        "mnist_mlp__curves__test_accuracy.png",
        "mnist_mlp__curves__train_loss.png",
        "mnist_mlp__lr_sensitivity__test_accuracy.png",
        "mnist_mlp__lr_sensitivity__train_loss.png",
        "mnist_mlp__tuning_curve__test_accuracy.png",
        "mnist_mlp__tuning_curve__train_loss.png",
        "quadratic__adam__lr_x_beta2__train_loss.png",
        "quadratic__curves__train_loss.png",
        "quadratic__lr_sensitivity__train_loss.png",
        "quadratic__tuning_curve__train_loss.png",
    ]
    for path in paths:
        assert path.parent == results.root / "plots"
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, path.name


def test_metric_and_out_options(results, tmp_path):
    paths = write_plots(results, tmp_path / "figs", metric="test_accuracy")
    assert sorted(p.name for p in paths) == [
        "mnist_mlp__adamw__lr_x_weight_decay__test_accuracy.png",
        "mnist_mlp__curves__test_accuracy.png",
        "mnist_mlp__lr_sensitivity__test_accuracy.png",
        "mnist_mlp__tuning_curve__test_accuracy.png",
    ]
    assert all(p.parent == tmp_path / "figs" and p.stat().st_size > 0 for p in paths)


def test_unknown_metric_is_refused(results, tmp_path):
    with pytest.raises(AdamlabError, match="--metric: 'loss' is not recorded"):
        write_plots(results, tmp_path, metric="loss")


def test_no_lr_sweep_no_heatmap_only_curves(tmp_path):
    from results_fixture import quadratic_records

    records = [r for r in quadratic_records() if r.variant == "sgd" and r.hparams["lr"] == 0.1]
    paths = write_plots(load_results(write_results(tmp_path / "one", records)))
    assert [p.name for p in paths] == ["quadratic__curves__train_loss.png",
                                       "quadratic__tuning_curve__train_loss.png"]
