"""The summary's numbers against the hand-computed table in results_fixture.py."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from results_fixture import MANIFEST, quadratic_records, write_results

from adamlab.analysis.goals import task_metrics
from adamlab.analysis.references import significant
from adamlab.analysis.render import summary_warnings, target_source_text
from adamlab.analysis.stats import t_interval, t_quantile
from adamlab.analysis.summary import SummaryOptions, summarize
from adamlab.analysis.summary_json import summary_records
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


# ------------------------------------------------------------------------------ intervals

#: two-sided 95% Student-t quantiles from the tables: t(0.975, df)
T975 = {1: 12.7062047361747, 2: 4.30265272974946, 4: 2.77644510519779, 30: 2.04227245630124}


def t_bounds(mean: float, sd: float, n: int) -> tuple[float, float]:
    half = T975[n - 1] * sd / math.sqrt(n)
    return mean - half, mean + half


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantiles_match_the_tables(df):
    assert t_quantile(0.975, df) == approx(T975[df], rel=1e-9)


def test_t_interval_by_hand():
    # mean 2, sd 1, n 3: 2 ± 4.3027 / sqrt(3)
    assert t_interval([1, 2, 3]) == approx(t_bounds(2.0, 1.0, 3), rel=1e-12)
    # two seeds: t = 12.7, the interval is 9x the range of the two values
    low, high = t_interval([0.3, 0.1])
    assert (low, high) == approx((0.2 - 12.7062047361747 * 0.1, 0.2 + 12.7062047361747 * 0.1))
    assert all(math.isnan(v) for v in t_interval([0.5]))


def test_t_interval_covers_the_mean_95_percent_of_the_time_at_three_seeds():
    rng = random.Random(0)
    trials, covered = 4000, 0
    for _ in range(trials):
        low, high = t_interval([rng.gauss(1.0, 0.3) for _ in range(3)])
        covered += low <= 1.0 <= high
    assert covered / trials == approx(0.95, abs=0.012)  # 3.5 binomial standard errors


# ------------------------------------------------------------------ default: final train_loss


def log_bounds(values) -> tuple[float, float]:
    """The log-scale t-interval by hand: exp(mean log ± t·sd(log)/√n)."""
    logs = [math.log(v) for v in values]
    n = len(logs)
    mean = sum(logs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    low, high = t_bounds(mean, sd, n)
    return math.exp(low), math.exp(high)


QUADRATIC_RANKED = [
    # rank, variant, lr, beta2, mean, the ok seeds' final values, ok, diverged, failed;
    # train_loss is positive: the interval is the log-scale one, about the geometric mean
    (1, "adam", 0.1, 0.999, 0.1, (.05, .1, .15), 3, 0, 0),
    (2, "adam", 0.01, 0.999, 0.15, (.1, .2, .15), 3, 0, 0),
    (3, "adam", 0.01, 0.99, 0.2, (.1, .3), 2, 0, 0),
    (4, "momentum", 0.01, None, 0.25, (.2, .3, .25), 3, 0, 0),
    (5, "momentum", 0.1, None, 0.35, (.3, .4, .35), 3, 0, 0),
    (6, "sgd", 0.1, None, 0.5, (.4, .5, .6), 3, 0, 0),
    # any diverged or failed seed ranks after every clean config, whatever its mean
    (7, "adam", 0.1, 0.99, 0.01, (.01, .01), 2, 1, 0),
    (8, "sgd", 1.0, None, 0.2, (.2, .2), 2, 1, 0),
    (9, "adam-nobc", 0.1, 0.999, 0.3, (.3, .3), 2, 0, 1),
]


def test_configs_grouped_over_seeds_and_ranked(results):
    summary = by_task(summarize(results))["quadratic"]
    assert summary.metric == "train_loss" and summary.goal == "min" and summary.rule == "final"
    assert summary.interval == "log t"
    got = rows(
        summary.configs, "rank", "variant", "hp.lr", "hp.beta2", "mean", "centre", "ci_low",
        "ci_high", "n_ok", "n_diverged", "n_failed",
    )
    assert len(got) == len(QUADRATIC_RANKED)
    for row, expected in zip(got, QUADRATIC_RANKED, strict=True):
        rank, variant, lr, beta2, mean, values, ok, div, fail = expected
        assert row[:3] == (rank, variant, lr)
        assert (math.isnan(row[3]) if beta2 is None else row[3] == beta2), row
        low, high = log_bounds(values)
        centre = math.exp(sum(math.log(v) for v in values) / len(values))
        assert row[4:8] == (approx(mean, rel=1e-12), approx(centre, rel=1e-12),
                            approx(low, rel=1e-9), approx(high, rel=1e-9)), row
        assert 0 < row[6] <= row[5] <= row[7]  # inside (0, inf), about its centre
        assert row[8:] == (ok, div, fail)
    assert summary.varying == ["hp.lr", "hp.beta2"]


def test_best_config_per_variant_and_references(results):
    summary = by_task(summarize(results))["quadratic"]
    best = summary.variant_best
    assert rows(best, "variant_rank", "variant", "hp.lr", "reference") == [
        (1, "adam", 0.1, ""),
        (2, "momentum", 0.01, "momentum"),
        (3, "sgd", 0.1, "sgd"),  # lr=1 has the better mean but a diverged seed
        (4, "adam-nobc", 0.1, ""),
    ]
    assert summary.references["sgd"].mean == approx(0.5)
    assert summary.references["sgd"].label == "sgd (lr=0.1)"
    assert summary.references["momentum"].mean == approx(0.25)


def test_paired_comparisons_against_the_references(results):
    summary = by_task(summarize(results))["quadratic"]
    assert summary.comparison_scale == "ratio"
    configs = summary.configs.set_index(["variant", "hp.lr", "hp.beta2"], drop=False)
    best = summary.variant_best.set_index("variant")
    # adam lr=.1 b2=.999 [.05 .1 .15] vs sgd lr=.1 [.4 .5 .6], seed by seed: .125, .2, .25
    logs = [math.log(0.125), math.log(0.2), math.log(0.25)]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    low, high = t_bounds(mean, sd, 3)
    adam = summary.comparison(best.loc["adam"], "sgd")
    sgd = summary.references["sgd"].config_id
    assert (adam.reference, adam.reference_config_id, adam.metric) == ("sgd", sgd, "train_loss")
    assert adam.config_id == best.loc["adam", "config_id"]
    assert (adam.method, adam.scale, adam.pairs, adam.confidence) == ("paired", "ratio", 3, 0.95)
    assert adam.estimate == approx(math.exp(mean))
    assert (adam.low, adam.high) == approx((math.exp(low), math.exp(high)))
    # momentum lr=.01 [.2 .3 .25] vs sgd: .5, .6, .41667
    ratios = [0.5, 0.6, 0.25 / 0.6]
    momentum = summary.comparison(best.loc["momentum"], "sgd")
    assert momentum.estimate == approx(math.prod(ratios) ** (1 / 3))
    # the failed seed of adam-nobc is left out of the pair and counted
    nobc = summary.comparison(best.loc["adam-nobc"], "sgd")
    assert (nobc.pairs, nobc.left_out) == (2, 1)
    assert nobc.estimate == approx(math.sqrt(0.3 / 0.4 * 0.3 / 0.5))
    # adam lr=.01 b2=.99 ran seeds 0, 1 only: Welch on the logs, said so
    two = summary.comparison(configs.loc[("adam", 0.01, 0.99)], "sgd")
    assert two.method == "welch"
    assert two.estimate == approx(
        math.exp((math.log(0.1) + math.log(0.3)) / 2 - sum(map(math.log, (0.4, 0.5, 0.6))) / 3)
    )
    # Holm within the table (the variant bests): adam's p is adjusted by the family size
    family = [summary.comparison(row, "sgd") for _, row in summary.variant_best.iterrows()]
    family = [c for c in family if c is not None and not math.isnan(c.p)]
    ranked = sorted(c.p for c in family)
    assert sorted(c.p_holm for c in family) == approx(
        [min(1.0, max((len(ranked) - i) * p for i, p in enumerate(ranked[: k + 1])))
         for k in range(len(ranked))]
    )
    # outside the family (not a variant's best): compared, never adjusted nor marked
    assert math.isnan(two.p_holm) and not two.significant
    assert summary.comparison(best.loc["sgd"], "sgd") is None  # the reference itself


def test_steps_to_target_interpolates_the_training_curve(results):
    summary = by_task(summarize(results))["quadratic"]
    assert summary.target == approx(0.5)
    assert summary.target_source == "best sgd"
    assert target_source_text(summary) == "best SGD config's final train_loss (seed mean)"
    best = summary.variant_best.set_index("variant")
    # adam's seed-mean curve [1, .45, .2, .1]: 0.5 is crossed between steps 10 and 20
    assert best.loc["adam", "steps_to_target"] == approx(10 + 10 * 0.5 / 0.55)
    assert best.loc["adam", "steps_text"] == "19"
    # momentum [1, .6, .4, .25]: between 20 and 30, halfway
    assert best.loc["momentum", "steps_to_target"] == approx(25)
    assert best.loc["sgd", "steps_to_target"] == approx(40)  # [1, .8, .6, .5]
    assert best.loc["adam", "steps_ratio_vs_sgd"] == approx((10 + 10 * 0.5 / 0.55) / 40)


def test_steps_to_an_eval_metric_show_the_eval_cadence(results):
    summary = by_task(summarize(results))["mnist_mlp"]
    best = summary.variant_best.set_index("variant")
    # test_accuracy is evaluated at steps 20 and 40 only: no interpolation, no ratio
    assert best.loc["adamw", "steps_text"] == "≤ 20 (first eval)"
    assert best.loc["sgd", "steps_text"] == "≤ 40 (eval every 20)"
    assert summary.configs["steps_ratio_vs_sgd"].isna().all()


def test_grid_edges_of_the_variant_bests(results):
    summary = by_task(summarize(results))["quadratic"]
    edges = dict(zip(summary.variant_best["variant"], summary.variant_best["grid_edge"],
                     strict=True))
    # adam's best lr=0.1 is the top of its grid {0.01, 0.1}; beta2=0.999 the top of {0.99, 0.999}
    assert edges["adam"] == {"lr": "open", "beta2": "open"}
    assert edges["sgd"] == {"lr": "open"}  # 0.1 is the bottom of {0.1, 1}
    assert edges["adam-nobc"] == {"lr": "untuned"}
    assert not summary.references["sgd"].bracketed and summary.references["sgd"].tuned


def test_did_not_learn_is_flagged(tmp_path):
    records = quadratic_records()
    flat = records[0]  # sgd lr=0.1 seed 0: make its final train_loss exceed the first
    flat.metrics["value"][-1] = 1.5
    summary = by_task(summarize(load_results(write_results(tmp_path / "f", records))))["quadratic"]
    sgd = summary.configs.set_index(["variant", "hp.lr"]).loc[("sgd", 0.1)]
    assert sgd["n_no_learn"] == 1
    assert summary.configs["n_no_learn"].sum() == 1


def test_against_compares_with_the_named_variant(results):
    summary = by_task(summarize(results, SummaryOptions(against="momentum")))["quadratic"]
    assert list(summary.references) == ["momentum"]
    adam = summary.variant_best.set_index("variant").loc["adam"]
    # [.05 .1 .15] / [.2 .3 .25]
    assert summary.comparison(adam, "momentum").estimate == approx(
        (0.25 * (0.1 / 0.3) * 0.6) ** (1 / 3))
    assert summary.comparison(adam, "sgd") is None  # not a reference here
    with pytest.raises(AdamlabError, match="--against: no variant 'lion'.*adam, adam-nobc"):
        summarize(results, SummaryOptions(against="lion"))


def test_explicit_target_that_sgd_never_reaches(results):
    summary = by_task(summarize(results, SummaryOptions(target=0.3)))["quadratic"]
    assert summary.target_source == "--target"
    steps = dict(zip(summary.configs["config_id"], summary.configs["steps_to_target"], strict=True))
    sgd = summary.references["sgd"].config_id
    assert math.isnan(steps[sgd])  # [1, .8, .6, .5] never reaches 0.3
    best = summary.variant_best.set_index("variant")
    assert best.loc["adam", "steps_to_target"] == approx(20 + 10 * 0.15 / 0.25)  # [1, .45, .2, .1]
    assert best.loc["momentum", "steps_to_target"] == approx(30 + 10 * 0.1 / 0.15)  # [.., .4, .25]
    assert summary.configs["steps_ratio_vs_sgd"].isna().all()


def test_rule_best_ranks_by_best_ever_value(results):
    summary = by_task(summarize(results, SummaryOptions(rule="best")))["quadratic"]
    momentum = summary.configs[summary.configs["variant"] == "momentum"]
    # lr=0.1 overshoots: final 0.35 but best-ever 0.2, now better than lr=0.01 (0.25)
    assert rows(momentum, "hp.lr", "mean") == [(0.1, approx(0.2)), (0.01, approx(0.25))]
    assert summary.references["momentum"].label == "momentum (lr=0.1)"
    adam = summary.variant_best.set_index("variant").loc["adam"]
    # best-ever [.05 .1 .15] against momentum's best-ever [.2 .2 .2], seed by seed
    assert summary.comparison(adam, "momentum").estimate == approx((0.25 * 0.5 * 0.75) ** (1 / 3))
    # running-best curve [1, .2, .2, .2] crosses SGD's best (0.5) between 10 and 20
    assert summary.configs.set_index("config_id").loc[
        summary.references["momentum"].config_id, "steps_to_target"] == approx(10 + 10 * 0.5 / 0.8)


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
    # adam lr=.1 b2=.99 at step 20: [.1 .1 .3], its log-scale interval
    assert (configs.iloc[0]["ci_low"], configs.iloc[0]["ci_high"]) == approx(
        log_bounds((.1, .1, .3))
    )
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
    # an accuracy: the t-interval clipped to [0, 1] (0.965 ± 12.7 x 0.005 reaches past 1)
    assert summary.interval == "t, clipped to [0, 1]"
    assert (best["ci_low"], best["ci_high"]) == approx(
        (t_bounds(0.965, math.sqrt(0.00005), 2)[0], 1.0))
    # compared by the difference, paired seed by seed: .96 - .88, .97 - .86; on 2 pairs no ★
    assert summary.comparison_scale == "difference"
    against_sgd = summary.comparison(best, "sgd")
    assert against_sgd.scale == "difference" and against_sgd.estimate == approx(0.095)
    assert -1.0 <= against_sgd.low and against_sgd.high <= 1.0
    assert against_sgd.pairs == 2 and not against_sgd.significant
    assert "momentum" not in summary.references
    # no val_accuracy in these results: selected on the test metric, and the summary says so
    assert summary.select_metric == "test_accuracy"
    assert summary.unrecorded_validation == "val_accuracy"
    assert "no val_accuracy recorded" in summary_warnings(summary)[0]


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


def test_json_intervals_of_positive_metrics_stay_positive_and_no_star_under_three_pairs(results):
    records = summary_records(summarize(results), show_all=True)
    positive = [r for r in records if r["interval"] == "log t"]
    assert positive and all(0 < r["ci_low"] <= r["centre"] <= r["ci_high"] for r in positive)
    accuracies = [r for r in records if r["metric"].endswith("accuracy") and r["ci_low"] is not None]
    assert accuracies and all(0 <= r["ci_low"] <= r["ci_high"] <= 1 for r in accuracies)
    marked = [c for r in records for c in r["comparisons"].values() if c["significant"]]
    assert marked and all(c["pairs"] >= 3 for c in marked)
    assert not significant(0.001, 2) and significant(0.001, 3) and not significant(0.2, 5)


def test_unequal_tuning_budgets_are_flagged(results):
    summary = by_task(summarize(results))["quadratic"]
    # adam tried 4 configs, sgd 2, momentum 2
    assert summary.budgets["adam"] == 4 and summary.budgets["sgd"] == 2
    assert summary.unequal_budgets
    assert summary_warnings(summary) == [
        "unequal tuning budgets (configs tried per variant: adam 4, momentum 2, sgd 2, adam-nobc "
        "1): a variant tuned over more configs had more chances to look good; compare them at "
        "equal budgets with --tuning-curve"]
    best = summary.variant_best.set_index("variant")
    assert summary.comparison(best.loc["adam"], "sgd").unequal_budget
    assert not summary.comparison(best.loc["momentum"], "sgd").unequal_budget


def test_json_comparisons_are_the_summary_comparisons(results):
    """--json writes each shown row's comparison objects field by field, the reference's own
    row and configs without an ok seed having none."""
    summaries = summarize(results, SummaryOptions(all_configs=True))
    records = iter(summary_records(summaries, show_all=True))
    seen = 0
    for summary in summaries:
        for _, row in summary.configs.iterrows():
            record = next(records)
            assert (record["variant"], record["mean"]) == (row["variant"], approx(row["mean"],
                                                                                  nan_ok=True))
            expected = {}
            for key, reference in summary.references.items():
                found = summary.comparison(row, key)
                if found is None:
                    continue
                expected[key] = {
                    "estimate": found.estimate, "low": found.low, "high": found.high,
                    "p": found.p, "p_holm": None if math.isnan(found.p_holm) else found.p_holm,
                    "significant": found.significant, "unequal_budget": found.unequal_budget,
                    "method": found.method, "scale": found.scale, "pairs": found.pairs,
                    "left_out": found.left_out, "reference_label": reference.label,
                    "reference_bracketed": reference.bracketed,
                }
                expected[key] = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                                  for k, v in expected[key].items()}
                seen += 1
            assert record["comparisons"] == expected
    assert seen > 10


def test_comparison_table_is_one_row_per_comparison(results):
    summary = by_task(summarize(results))["quadratic"]
    table = summary.comparison_table()
    # 9 configs: each compared with both references but itself
    assert list(table.groupby("reference", sort=False).size().items()) == [("sgd", 8),
                                                                          ("momentum", 8)]
    adam = summary.variant_best.set_index("variant").loc["adam"]
    row = table[(table["reference"] == "sgd") & (table["config_id"] == adam["config_id"])]
    assert row.iloc[0].to_dict() == approx(vars(summary.comparison(adam, "sgd")), nan_ok=True)
    ranks = summary.configs.set_index("config_id")["rank"]
    assert list(ranks[table.loc[table["reference"] == "sgd", "config_id"]]) == sorted(
        ranks[table.loc[table["reference"] == "sgd", "config_id"]])
    no_references = replace(summary, references={}, comparisons={})
    assert no_references.comparison_table().empty
    assert list(no_references.comparison_table().columns) == list(table.columns)
