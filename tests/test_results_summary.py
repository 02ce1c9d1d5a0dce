"""The summary's numbers against the hand-computed table in results_fixture.py."""

from __future__ import annotations

import math
import random

import pytest
from results_fixture import MANIFEST, quadratic_records, write_results

from adamlab.analysis.goals import task_metrics
from adamlab.analysis.grouping import bootstrap_ci, exact_mean
from adamlab.analysis.summary import SummaryOptions, summarize
from adamlab.errors import AdamlabError
from adamlab.store.tables import load_results

approx = pytest.approx


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return load_results(write_results(tmp_path_factory.mktemp("hand") / "hand"))


def by_task(summaries):
    return {s.task: s for s in summaries}


def rows(configs, *columns):
    return [tuple(row) for row in configs[list(columns)].itertuples(index=False)]


# ------------------------------------------------------------------------------ bootstrap


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    # Means of 4 draws from {1, 2, 3, 10}: P(mean <= 1.25) = 5/256 < 2.5% <= P(mean <= 1.5) =
    # 15/256, and P(mean >= 8.25) = 5/256 < 2.5% <= P(mean >= 8) = 9/256: the 95% interval is
    # [1.5, 8.0] (10,000 resamples leave a margin of 4 standard errors on either side).
    assert bootstrap_ci([1, 2, 3, 10]) == (1.5, 8.0)


def test_bootstrap_interval_of_two_or_three_values_is_their_range():
    # all resamples equal to the smallest value have probability 1/4 (1/27) > 2.5%
    assert bootstrap_ci([0.3, 0.1]) == (0.1, 0.3)
    low, high = bootstrap_ci([0.6, 0.4, 0.5])
    assert (low, high) == (approx(0.4, rel=1e-12), approx(0.6, rel=1e-12))


def test_bootstrap_is_reproducible_and_ignores_value_order():
    values = [0.31, 0.12, 0.57, 0.44, 0.29, 0.38, 0.9]
    shuffled = values[:]
    random.Random(1).shuffle(shuffled)
    assert bootstrap_ci(values) == bootstrap_ci(shuffled) == bootstrap_ci(values)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values)
    assert math.isnan(bootstrap_ci([0.5])[0])


def test_exact_mean_does_not_depend_on_order():
    values = [1e16, 1.0, -1e16, 3.0]
    assert exact_mean(values) == exact_mean(values[::-1]) == 1.0


# ------------------------------------------------------------------ default: final train_loss


QUADRATIC_RANKED = [
    # rank, variant, lr, beta2, mean, ci_low, ci_high, ok, diverged, failed
    (1, "adam", 0.1, 0.999, 0.1, 0.05, 0.15, 3, 0, 0),
    (2, "adam", 0.01, 0.999, 0.15, 0.1, 0.2, 3, 0, 0),
    (3, "adam", 0.01, 0.99, 0.2, 0.1, 0.3, 2, 0, 0),
    (4, "momentum", 0.01, None, 0.25, 0.2, 0.3, 3, 0, 0),
    (5, "momentum", 0.1, None, 0.35, 0.3, 0.4, 3, 0, 0),
    (6, "sgd", 0.1, None, 0.5, 0.4, 0.6, 3, 0, 0),
    # any diverged or failed seed ranks after every clean config, whatever its mean
    (7, "adam", 0.1, 0.99, 0.01, 0.01, 0.01, 2, 1, 0),
    (8, "sgd", 1.0, None, 0.2, 0.2, 0.2, 2, 1, 0),
    (9, "adam-nobc", 0.1, 0.999, 0.3, 0.3, 0.3, 2, 0, 1),
]


def test_configs_grouped_over_seeds_and_ranked(results):
    summary = by_task(summarize(results))["quadratic"]
    assert summary.metric == "train_loss" and summary.goal == "min" and summary.rule == "final"
    got = rows(
        summary.configs, "rank", "variant", "hp.lr", "hp.beta2", "mean", "ci_low", "ci_high",
        "n_ok", "n_diverged", "n_failed",
    )
    assert len(got) == len(QUADRATIC_RANKED)
    for row, expected in zip(got, QUADRATIC_RANKED, strict=True):
        rank, variant, lr, beta2, mean, low, high, ok, div, fail = expected
        assert row[:3] == (rank, variant, lr)
        assert (math.isnan(row[3]) if beta2 is None else row[3] == beta2), row
        assert row[4:7] == (approx(mean, rel=1e-12), approx(low, rel=1e-12),
                            approx(high, rel=1e-12)), row
        assert row[7:] == (ok, div, fail)
    assert summary.varying == ["hp.lr", "hp.beta2"]


def test_best_config_per_variant_and_baselines(results):
    summary = by_task(summarize(results))["quadratic"]
    best = summary.variant_best
    assert rows(best, "variant_rank", "variant", "hp.lr", "baseline") == [
        (1, "adam", 0.1, ""),
        (2, "momentum", 0.01, "momentum"),
        (3, "sgd", 0.1, "sgd"),  # lr=1 has the better mean but a diverged seed
        (4, "adam-nobc", 0.1, ""),
    ]
    assert summary.baselines["sgd"].mean == approx(0.5)
    assert summary.baselines["sgd"].label == "sgd (lr=0.1)"
    assert summary.baselines["momentum"].mean == approx(0.25)


def test_ratios_to_the_baselines_and_steps_to_target(results):
    summary = by_task(summarize(results))["quadratic"]
    assert summary.target == approx(0.5)
    assert summary.target_source == "best SGD config's final train_loss (seed mean)"
    got = rows(
        summary.configs, "ratio_vs_sgd", "ratio_vs_momentum", "steps_to_target",
        "steps_ratio_vs_sgd",
    )
    # mean / 0.5, mean / 0.25; the seed-mean curve's first step <= 0.5, over SGD's (40)
    expected = [
        (0.2, 0.4, 20, 0.5), (0.3, 0.6, 20, 0.5), (0.4, 0.8, 20, 0.5), (0.5, 1.0, 30, 0.75),
        (0.7, 1.4, 20, 0.5), (1.0, 2.0, 40, 1.0), (0.02, 0.04, 20, 0.5), (0.4, 0.8, 20, 0.5),
        (0.6, 1.2, 30, 0.75),
    ]
    assert got == [tuple(approx(v, rel=1e-12) for v in row) for row in expected]


def test_explicit_target_that_sgd_never_reaches(results):
    summary = by_task(summarize(results, SummaryOptions(target=0.3)))["quadratic"]
    assert summary.target_source == "--target"
    steps = dict(zip(summary.configs["config_id"], summary.configs["steps_to_target"], strict=True))
    sgd = summary.baselines["sgd"].config_id
    assert math.isnan(steps[sgd])  # [1, .8, .6, .5] never reaches 0.3
    best = summary.variant_best.set_index("variant")
    assert best.loc["adam", "steps_to_target"] == 30  # [1, .45, .2, .1]
    assert best.loc["momentum", "steps_to_target"] == 40  # [1, .6, .4, .25]
    assert summary.configs["steps_ratio_vs_sgd"].isna().all()


def test_rule_best_ranks_by_best_ever_value(results):
    summary = by_task(summarize(results, SummaryOptions(rule="best")))["quadratic"]
    momentum = summary.configs[summary.configs["variant"] == "momentum"]
    # lr=0.1 overshoots: final 0.35 but best-ever 0.2, now better than lr=0.01 (0.25)
    assert rows(momentum, "hp.lr", "mean") == [(0.1, approx(0.2)), (0.01, approx(0.25))]
    assert summary.baselines["momentum"].label == "momentum (lr=0.1)"
    adam = summary.variant_best.set_index("variant").loc["adam"]
    assert adam["ratio_vs_momentum"] == approx(0.5)
    # running-best curve [1, .2, .2, .2] reaches SGD's best (0.5) at step 20
    assert summary.configs.set_index("config_id").loc[
        summary.baselines["momentum"].config_id, "steps_to_target"] == 20


def test_at_step_uses_the_logged_value_at_that_step(results):
    summary = by_task(summarize(results, SummaryOptions(at_step=25)))["quadratic"]
    configs = summary.configs
    # values at step 20 (the logged step nearest <= 25); the seed that diverged at step 35 was
    # fine at step 20 and counts, the one that diverged at step 15 does not
    assert rows(configs, "variant", "hp.lr", "mean", "n_ok", "n_diverged") == [
        ("adam", 0.1, approx(0.5 / 3), 3, 0),
        ("momentum", 0.1, approx(0.2), 3, 0),
        ("adam", 0.1, approx(0.45), 3, 0),
        ("adam", 0.01, approx(0.5), 2, 0),  # beta2=0.99: tie with 0.999, first config first
        ("adam", 0.01, approx(0.5), 3, 0),
        ("momentum", 0.01, approx(0.6), 3, 0),
        ("sgd", 0.1, approx(0.8), 3, 0),
        ("sgd", 1.0, approx(0.5), 2, 1),
        ("adam-nobc", 0.1, approx(0.6), 2, 0),
    ]
    assert configs.iloc[0]["ci_low"] == approx(0.1) and configs.iloc[0]["ci_high"] == approx(0.3)
    assert summary.target == approx(0.8)


def test_at_step_before_any_log_leaves_every_trial_without_a_value(results):
    summary = by_task(summarize(results, SummaryOptions(at_step=5)))["quadratic"]
    assert summary.configs["mean"].isna().all()
    assert summary.configs["n_ok"].sum() == 0
    # every trial but the failed one: both diverged trials ran past step 5 and count as missing
    assert summary.configs["n_missing"].sum() == 25
    assert summary.configs["n_failed"].sum() == 1 and summary.configs["n_diverged"].sum() == 0


def test_max_goal_metric_from_the_manifest(results):
    summary = by_task(summarize(results))["mnist_mlp"]
    assert (summary.metric, summary.goal) == ("test_accuracy", "max")
    assert rows(summary.configs, "variant", "hp.lr", "hp.weight_decay", "mean") == [
        ("adamw", 0.01, 0.1, approx(0.965)),
        ("adamw", 0.001, 0.1, approx(0.945)),
        ("adamw", 0.01, 0.0, approx(0.935)),
        ("adamw", 0.001, 0.0, approx(0.925)),
        ("sgd", 0.1, 0.0, approx(0.87)),
    ]
    best = summary.configs.iloc[0]
    assert (best["ci_low"], best["ci_high"]) == (approx(0.96), approx(0.97))
    assert best["ratio_vs_sgd"] == approx(0.965 / 0.87)
    assert math.isnan(best["ratio_vs_momentum"]) and "momentum" not in summary.baselines
    # seed-mean accuracy reaches SGD's 0.87 at step 20 (0.93); SGD itself at step 40
    assert (best["steps_to_target"], best["steps_ratio_vs_sgd"]) == (20, approx(0.5))


def test_metric_option_and_unknown_metric(results):
    summary = by_task(summarize(results, SummaryOptions(metric="train_loss")))["mnist_mlp"]
    assert summary.goal == "min"
    assert summary.configs.iloc[0]["mean"] == approx(0.3)  # adamw lr=0.01, wd in {0, 0.1} tie
    with pytest.raises(AdamlabError, match="--metric: 'nope' is not recorded .* recorded: "
                                            "train_loss, test_accuracy"):
        summarize(results, SummaryOptions(metric="nope"))


def test_task_filter_and_bad_options(results):
    assert [s.task for s in summarize(results, SummaryOptions(task="quadratic"))] == ["quadratic"]
    with pytest.raises(AdamlabError, match="--task: no trials of task 'mlp'.*mnist_mlp, quadratic"):
        summarize(results, SummaryOptions(task="mlp"))
    with pytest.raises(AdamlabError, match="--rule: got 'last'; allowed: final, best"):
        summarize(results, SummaryOptions(rule="last"))


# ------------------------------------------------------------------------------ metric goals


def test_goals_fall_back_to_the_naming_rule_for_unregistered_tasks():
    goals = task_metrics("toy", {"layout_version": 1})
    assert goals.source == "naming rule" and goals.primary_metric == "train_loss"
    assert goals.goal("val_accuracy") == "max" and goals.goal("rare.error") == "min"


def test_goals_come_from_the_task_registry_when_the_folder_does_not_say():
    from adamlab.tasks.registry import load_task

    goals = task_metrics("quadratic", {"layout_version": 1})
    task = load_task("quadratic")
    assert goals.source == "task registry"
    assert goals.primary_metric == task.primary_metric
    assert dict(goals.metric_goals) == dict(task.metric_goals)


def test_bad_goal_in_the_manifest_is_named():
    manifest = {**MANIFEST, "tasks": {"quadratic": {"metric_goals": {"train_loss": "down"}}}}
    with pytest.raises(AdamlabError, match="tasks.quadratic.metric_goals.train_loss: got 'down'"):
        task_metrics("quadratic", manifest)


def test_two_presets_of_one_task_are_ranked_apart(tmp_path):
    records = quadratic_records()
    other = quadratic_records()
    for record in other:
        record.task_params = {**record.task_params, "preset": "seeds"}
        record.trial_id = record.trial_id[::-1]
    summaries = summarize(load_results(write_results(tmp_path / "two", records + other)))
    assert [s.label for s in summaries] == [
        "quadratic (preset=deepobs)", "quadratic (preset=seeds)"
    ]
    assert [s.slug for s in summaries] == ["quadratic_preset-deepobs", "quadratic_preset-seeds"]
    assert all(len(s.configs) == 9 for s in summaries)
