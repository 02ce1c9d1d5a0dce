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


def test_titles_fit_accuracy_axes_stay_in_0_1_and_variants_differ(results):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from adamlab.analysis.plots import figures

    for name, figure in figures(results):
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        renderer = canvas.get_renderer()
        width = figure.bbox.width
        for ax in figure.axes:
            box = ax.title.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= width, name  # the title is not cut at an edge
            lines = [line for line in ax.get_lines() if line.get_label()[:1] != "_"]
            if "accuracy" in name and "__curves__" in name or "lr_sensitivity__test_accuracy" in name:
                low, high = ax.get_ylim()
                assert 0 <= low and high <= 1, (name, low, high)
            if "__curves__" in name or "__lr_sensitivity__" in name:
                markers = [line.get_marker() for line in lines]
                assert len(set(markers)) == len(markers) > 1, name  # a marker per variant
