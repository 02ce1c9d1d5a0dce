"""The numbers behind `adamlab summary`: per task instance, every config ranked, the best config
of each variant, the SGD and momentum baselines and each config's ratios to them.

Pure pandas; rendering is in `adamlab.analysis.render`. The definitions are in
`adamlab.analysis.grouping` (configs, values, ranking) and `adamlab.analysis.baselines`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from adamlab.analysis.baselines import (
    BASELINE_OPTIMIZERS,
    BASELINE_TITLES,
    Baseline,
    best_baseline,
    compare,
    comparison_scale,
    step_ratio,
)
from adamlab.analysis.goals import Goal, task_metrics
from adamlab.analysis.grid_edges import bracketed, grid_edges
from adamlab.analysis.grouping import (
    BOUNDED_SUFFIX,
    RULES,
    TEST_PREFIX,
    VALIDATION_PREFIX,
    Rule,
    TaskInstance,
    config_label,
    curve_table,
    mean_curve,
    swept_by_variant,
    swept_hparams,
    task_instances,
)
from adamlab.analysis.selection import best_per_variant, rank
from adamlab.analysis.stats import CONFIDENCE, holm
from adamlab.analysis.steps import steps_to_target
from adamlab.errors import AdamlabError
from adamlab.store.tables import Results

#: a comparison is marked when its Holm-adjusted p-value is below this ...
ALPHA = 1.0 - CONFIDENCE
#: ... and it rests on at least this many pairs (seeds): the report's threshold for any claim
MIN_PAIRS = 3
#: a finished run whose final train_loss is above its first logged one "did not learn"
LEARNING_METRIC = "train_loss"


@dataclass(frozen=True)
class SummaryOptions:
    #: rank by this metric; None: each task's primary metric
    metric: str | None = None
    rule: Rule = "final"
    #: judge every trial at the logged step nearest <= this step
    at_step: int | None = None
    #: steps-to-target threshold; None: the best SGD config's value
    target: float | None = None
    #: only this task
    task: str | None = None
    #: compare against this variant's best config instead of the best SGD and momentum
    against: str | None = None
    #: the comparisons of every config form the table's family (Holm), not only variant bests
    all_configs: bool = False


@dataclass
class TaskSummary:
    label: str
    slug: str
    task: str
    metric: str
    goal: Goal
    rule: Rule
    at_step: int | None
    #: every config, ranked; columns of `group_configs` plus variant_best, variant_rank,
    #: baseline (the reference key or ""), grid_edge (dict hparam -> flag, variant bests only),
    #: grid_edge_detail, n_no_learn, per reference key K: ratio_vs_K, low_vs_K, high_vs_K,
    #: p_vs_K, p_holm_vs_K, method_vs_K, pairs_vs_K, left_out_vs_K; steps_to_target,
    #: steps_text, steps_ratio_vs_sgd
    configs: pd.DataFrame
    #: the swept hyperparameter columns (`hp.*`)
    varying: list[str]
    #: per variant, the hyperparameter columns swept within it (what tells its configs apart)
    varying_by_variant: dict[str, list[str]] = field(default_factory=dict)
    #: the references comparisons are made against: "sgd", "momentum", or the --against variant
    baselines: dict[str, Baseline] = field(default_factory=dict)
    #: what configs were ranked by (the validation counterpart of `metric`, or `metric`)
    select_metric: str = ""
    #: "ratio" (per-seed log-ratios) or "difference" (values can be <= 0)
    comparison_scale: str = "ratio"
    target: float | None = None
    #: how the target was chosen, in words
    target_source: str | None = None
    #: metrics recorded for this task (to say what exists when `metric` does not)
    available_metrics: list[str] = field(default_factory=list)
    n_trials: int = 0
    #: things the reader must know (e.g. selection on the test set)
    warnings: list[str] = field(default_factory=list)
    #: per variant, how many configs it was tuned over (its grid's size)
    budgets: dict[str, int] = field(default_factory=dict)
    #: how each config's interval was made ("log t", "t, clipped to [0, 1]", "t")
    interval: str = "t"
    #: trial id -> the results folder it came from, when several folders were merged
    folder_of: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        best = ", ".join(str(v) for v in self.variant_best["variant"]) if not self.configs.empty else ""
        return (f"TaskSummary({self.label}: {self.metric} ({self.goal}), {len(self.configs)} configs"
                f"{'; best per variant: ' + best if best else ''})")

    @property
    def has_metric(self) -> bool:
        return self.metric in self.available_metrics

    @property
    def variant_best(self) -> pd.DataFrame:
        return self.configs[self.configs["variant_best"]]

    def config_label(self, row: pd.Series) -> str:
        """e.g. "sgd (lr=0.1)": the variant and the hyperparameters swept within it."""
        return config_label(row, self.varying_by_variant.get(str(row["variant"]), []))


def needed_metrics(metric: str | None = None) -> Callable[[str, Mapping[str, Any]], set[str]]:
    """For `load_results`: the metrics whose logged values `summarize` and the tuning curves read
    for a trial of a task (ranking by `metric`, default the task's primary metric): that metric,
    the validation metric it may be selected on, and train_loss."""

    def needed(task: str, manifest: Mapping[str, Any]) -> set[str]:
        goals = task_metrics(task, manifest)
        reported = metric or goals.primary_metric
        names = {reported, LEARNING_METRIC}
        if goals.select_metrics is not None and reported in goals.select_metrics:
            names.add(goals.select_metrics[reported])
        if reported.startswith(TEST_PREFIX):
            names.add(VALIDATION_PREFIX + reported.removeprefix(TEST_PREFIX))
        return names

    return needed


def summarize(results: Results, options: SummaryOptions | None = None) -> list[TaskSummary]:
    options = options or SummaryOptions()
    if options.rule not in RULES:
        raise AdamlabError(f"--rule: got {options.rule!r}; allowed: {', '.join(RULES)}")
    if options.at_step is not None and options.at_step < 0:
        raise AdamlabError(f"--at-step: must be >= 0, got {options.at_step}")
    instances = task_instances(results.trials)
    if options.task is not None:
        tasks = sorted({i.task for i in instances})
        instances = [i for i in instances if i.task == options.task]
        if not instances:
            raise AdamlabError(
                f"--task: no trials of task {options.task!r} in {results.root}; "
                f"tasks there: {', '.join(tasks) or 'none'}"
            )
    if options.metric is not None and instances:
        if options.metric not in results.metric_names():
            raise AdamlabError(
                f"--metric: {options.metric!r} is not recorded in {results.root}; recorded: "
                + ", ".join(results.metric_names())
            )
    if options.against is not None and instances:
        variants = sorted({str(v) for i in instances for v in i.trials["variant"]})
        if options.against not in variants:
            raise AdamlabError(
                f"--against: no variant {options.against!r} in {results.root}; "
                f"variants there: {', '.join(variants)}"
            )
    return [summarize_instance(results, instance, options) for instance in instances]


def summarize_instance(
    results: Results, instance: TaskInstance, options: SummaryOptions, *,
    steps_to_target: bool = True,
) -> TaskSummary:
    """The summary of one task instance (see `summarize`); `steps_to_target=False` skips the
    steps-to-target columns (left NaN), which need every config's curve."""
    from adamlab.analysis.goals import task_metrics

    goals = task_metrics(instance.task, results.manifest)
    metric = options.metric or goals.primary_metric
    trials = instance.trials
    available = results.metric_names(instance.task)
    ranking = rank(
        results, trials, metric, goal=goals.goal(metric), rule=options.rule,
        at_step=options.at_step,
    )
    configs = ranking.configs
    summary = TaskSummary(
        label=instance.label,
        slug=instance.slug,
        task=instance.task,
        metric=metric,
        goal=ranking.goal,
        rule=options.rule,
        at_step=options.at_step,
        configs=configs,
        varying=swept_hparams(trials),
        varying_by_variant=swept_by_variant(trials),
        select_metric=ranking.select_metric,
        available_metrics=available,
        n_trials=len(trials),
        folder_of=dict(zip(trials["trial_id"], trials["folder"], strict=True))
        if "folder" in trials.columns else {},
    )
    if configs.empty:
        return summary
    summary.warnings.extend(_selection_warnings(summary, trials, goals))
    summary.interval = str(configs["interval"].iloc[0])
    summary.budgets = {str(v): int(n) for v, n in configs.groupby("variant", sort=False).size().items()}
    configs["variant_best"] = best_per_variant(configs)
    best = configs["variant_best"]
    configs["variant_rank"] = pd.Series(range(1, int(best.sum()) + 1), index=configs.index[best])
    _mark_grid_edges(configs)
    configs["n_no_learn"] = _did_not_learn(results, configs)
    _set_references(summary, options)
    _compare(summary, options)
    summary.warnings.extend(budget_warnings(summary))
    if steps_to_target:
        _steps_to_target(summary, results, options)
    else:
        configs["steps_to_target"] = math.nan
        configs["steps_text"] = ""
        configs["steps_ratio_vs_sgd"] = math.nan
    return summary


def _selection_warnings(summary: TaskSummary, trials: pd.DataFrame, goals) -> list[str]:
    metric = summary.metric
    if not metric.startswith(TEST_PREFIX) or summary.select_metric != metric:
        return []
    validation = VALIDATION_PREFIX + metric.removeprefix(TEST_PREFIX)
    # the task declares a validation metric it did not record: its split is off, or the results
    # predate it
    if validation in _declared_metrics(summary.task, goals):
        return [
            f"no {validation} recorded (the task's validation split is off?): configs are "
            f"selected on {metric}, the metric they report, so the reported {metric} is optimistic"
        ]
    return []


def _declared_metrics(task: str, goals) -> set[str]:
    """The metrics the task declares (in the results folder or, as now, in its torch-free spec)."""
    from adamlab.analysis.goals import registered_spec

    declared = set(goals.metric_goals)
    spec = registered_spec(task)
    if spec is not None:
        declared |= set(spec.metric_goals)
    return declared


def _mark_grid_edges(configs: pd.DataFrame) -> None:
    edges: list[dict] = [{} for _ in range(len(configs))]
    details = [""] * len(configs)
    for position, (_, row) in enumerate(configs.iterrows()):
        if not row["variant_best"] or row["n_ok"] == 0:
            continue
        found = grid_edges(configs[configs["variant"] == row["variant"]], row)
        edges[position] = {hp.removeprefix("hp."): edge.flag for hp, edge in found.items()}
        details[position] = "; ".join(edge.detail for edge in found.values())
    configs["grid_edge"] = edges
    configs["grid_edge_detail"] = details


def _did_not_learn(results: Results, configs: pd.DataFrame) -> list[int]:
    """Per config: its ok seeds whose final train_loss is above their first logged one."""
    log = results.metric_log([LEARNING_METRIC])
    ids = {t for ids in configs["ok_trial_ids"] for t in ids}
    log = log[log["trial_id"].isin(ids)].sort_values(["trial_id", "step"], kind="stable")
    first = log.drop_duplicates("trial_id", keep="first").set_index("trial_id")["value"]
    last = log.drop_duplicates("trial_id", keep="last").set_index("trial_id")["value"]
    worse = set((last > first.reindex(last.index)).pipe(lambda s: s[s].index))
    return [sum(t in worse for t in ids) for ids in configs["ok_trial_ids"]]


def _set_references(summary: TaskSummary, options: SummaryOptions) -> None:
    configs = summary.configs
    if options.against is not None:
        kinds = {options.against: configs[configs["variant"] == options.against]}
    else:
        kinds = {
            kind: configs[configs["optimizer"].isin(names)]
            for kind, names in BASELINE_OPTIMIZERS.items()
        }
    for kind, candidates in kinds.items():
        row = best_baseline(candidates)
        if row is None:
            continue
        variant_configs = configs[configs["variant"] == row["variant"]]
        edges = grid_edges(variant_configs, row)
        summary.baselines[kind] = Baseline(
            kind=kind,
            config_id=int(row["config_id"]),
            label=summary.config_label(row),
            mean=float(row["mean"]),
            title=BASELINE_TITLES.get(kind, kind),
            edges=edges,
            bracketed=bracketed(edges),
            tuned="hp.lr" not in edges or edges["hp.lr"].flag != "untuned",
        )
    configs["baseline"] = ""
    for kind, baseline in summary.baselines.items():
        configs.loc[configs["config_id"] == baseline.config_id, "baseline"] = kind


def _compare(summary: TaskSummary, options: SummaryOptions) -> None:
    configs = summary.configs
    summary.comparison_scale = comparison_scale(configs, summary.metric)
    bounded = summary.metric.endswith(BOUNDED_SUFFIX)
    family = configs.index if options.all_configs else configs.index[configs["variant_best"]]
    for kind, baseline in summary.baselines.items():
        reference = configs.loc[configs["config_id"] == baseline.config_id].iloc[0]
        results = {
            index: compare(row, reference, scale=summary.comparison_scale, bounded=bounded)
            if row["config_id"] != baseline.config_id else None
            for index, row in configs.iterrows()
        }
        for column, attribute in (("ratio", "estimate"), ("low", "low"), ("high", "high"),
                                  ("p", "p")):
            configs[f"{column}_vs_{kind}"] = [
                getattr(c, attribute) if c is not None else math.nan for c in results.values()
            ]
        configs[f"method_vs_{kind}"] = [c.method if c else "" for c in results.values()]
        configs[f"pairs_vs_{kind}"] = [c.n if c else 0 for c in results.values()]
        configs[f"left_out_vs_{kind}"] = [c.left_out if c else 0 for c in results.values()]
        in_family = [i for i in family if results[i] is not None]
        adjusted = holm([results[i].p for i in in_family])
        holm_column = pd.Series(math.nan, index=configs.index, dtype="float64")
        for i, p in zip(in_family, adjusted, strict=True):
            holm_column[i] = p
        configs[f"p_holm_vs_{kind}"] = holm_column
        configs[f"significant_vs_{kind}"] = [
            significant(p, n) for p, n in zip(holm_column, configs[f"pairs_vs_{kind}"], strict=True)
        ]
        budget = summary.budgets.get(str(reference["variant"]), 0)
        configs[f"unequal_budget_vs_{kind}"] = [
            summary.budgets.get(str(v), 0) != budget for v in configs["variant"]
        ]


def significant(p_holm: float, pairs: int) -> bool:
    """★: Holm-adjusted p < ALPHA on at least MIN_PAIRS pairs."""
    return not math.isnan(p_holm) and p_holm < ALPHA and pairs >= MIN_PAIRS


def budget_warnings(summary: TaskSummary) -> list[str]:
    """One line when the variants shown were tuned over grids of different sizes."""
    shown = summary.variant_best
    unequal = any(bool(v) for kind in summary.baselines
                  for v in shown.get(f"unequal_budget_vs_{kind}", []))
    if not unequal:
        return []
    sizes = ", ".join(f"{variant} {n}" for variant, n in summary.budgets.items())
    return [f"unequal tuning budgets (configs tried per variant: {sizes}): a variant tuned over "
            "more configs had more chances to look good; compare them at equal budgets with "
            "--tuning-curve"]


def _steps_to_target(summary: TaskSummary, results: Results, options: SummaryOptions) -> None:
    configs = summary.configs
    sgd = summary.baselines.get("sgd")
    if options.target is not None:
        summary.target = float(options.target)
        summary.target_source = "--target"
    elif sgd is not None:
        summary.target = sgd.mean
        at = f" at step {options.at_step}" if options.at_step is not None else ""
        summary.target_source = (
            f"best SGD config's {options.rule} {summary.metric}{at} (seed mean)"
        )
    if summary.target is None:
        configs["steps_to_target"] = math.nan
        configs["steps_text"] = ""
        configs["steps_ratio_vs_sgd"] = math.nan
        return
    table = curve_table(
        results.metric_log([summary.metric]), trial_ids_of(summary), summary.metric,
        at_step=summary.at_step,
    )
    training_steps = _training_steps(results, trial_ids_of(summary))
    reached = [
        steps_to_target(
            mean_curve(table, trial_ids, goal=summary.goal, rule=summary.rule),
            summary.target, goal=summary.goal, training_steps=training_steps,
        )
        for trial_ids in configs["ok_trial_ids"]
    ]
    configs["steps_to_target"] = [r.step for r in reached]
    configs["steps_text"] = [r.text for r in reached]
    reference = next(
        (r for r, cid in zip(reached, configs["config_id"], strict=True)
         if sgd is not None and cid == sgd.config_id),
        None,
    )
    configs["steps_ratio_vs_sgd"] = [
        step_ratio(r.step, reference.step)
        if reference is not None and r.interpolated and reference.interpolated else math.nan
        for r in reached
    ]


def _training_steps(results: Results, trial_ids: list[str]) -> set[int]:
    log = results.metric_log([LEARNING_METRIC])
    steps = log.loc[log["trial_id"].isin(trial_ids), "step"]
    return {int(s) for s in steps.unique()}


#: the rules every table follows (printed once under the tables)
GENERAL_RULES = (
    "A config is a task + variant + all hyperparameters; its seeds are grouped: ranked by the "
    f"mean over ok seeds; shown with a Student-t {CONFIDENCE:.0%} interval when 2+ seeds are ok "
    "(none with one seed; at 2-3 seeds it is wide: t = 12.7 at 2, 4.3 at 3) that stays in the "
    "metric's range: a metric whose values are all > 0 as the geometric mean [low, high] (the "
    "interval of the mean log), an accuracy clipped to [0, 1].",
    "Selection on validation data: a test_X metric is ranked by val_X when the task logs it "
    "(MNIST holds out the last 10,000 training images); the selected config's test_X is "
    "reported. Best config of a variant = best by that ranking; a config with any diverged or "
    "failed seed ranks after every config with none. With --at-step N, a trial that diverged "
    "after step N counts by its value at N.",
    "Comparisons (÷ columns): per-seed ratio config/reference (mean of per-seed log-ratios, "
    "or differences where values can be <= 0) with its t-interval, on the seeds both finished "
    "ok; an accuracy by its difference in percentage points; ★ = Holm-adjusted p < 0.05 "
    f"within the table on >= {MIN_PAIRS} pairs; 'welch' = the seeds differ, compared "
    "unpaired. References: best sgd, and best momentum or nesterov, by registry optimizer "
    "(or --against VARIANT).",
    "Grid edges: open = best at the first/last grid value (widen the grid); stability limit = "
    "the next value diverged; refine = it diverged and is > 2x away (the optimum may lie "
    "between); untuned = one lr tried. A lead over an unbracketed reference is an upper bound.",
)


def trial_ids_of(summary: TaskSummary) -> list[str]:
    return [t for ids in summary.configs["ok_trial_ids"] for t in ids]


def ranking_rule_text(summary: TaskSummary) -> list[str]:
    """The rules behind one task's table, in words (printed under it)."""
    better = "lower" if summary.goal == "min" else "higher"
    at = f" at the logged step nearest <= {summary.at_step}" if summary.at_step is not None else ""
    kind = "final (last logged)" if summary.rule == "final" else "best (best-ever)"
    selected = (
        f" selected on {summary.select_metric} (validation), {summary.metric} reported"
        if summary.select_metric and summary.select_metric != summary.metric else ""
    )
    lines = [
        f"Ranked by rule {kind} {summary.metric}{at}{selected}, {better} is better; "
        f"mean over each config's ok seeds."
    ]
    if summary.baselines:
        refs = []
        for b in summary.baselines.values():
            tuned = "best-tuned " if b.tuned else ""
            text = f"{tuned}{b.title} = {b.label}"
            if not b.bracketed:
                text += (
                    f" (not bracketed: {'; '.join(e.detail for e in b.edges.values())}; "
                    "a lead over it is an upper bound)"
                )
            refs.append(text)
        scale = (
            "per-seed ratio config/reference" if summary.comparison_scale == "ratio"
            else "per-seed difference config - reference"
        )
        lines.append(f"Comparisons: {scale} [t 95%] ({'; '.join(refs)}).")
    else:
        lines.append("No sgd, momentum or nesterov config with an ok seed: no comparisons.")
    if summary.target is not None:
        lines.append(
            f"Steps to target: first step where the seed-mean curve reaches "
            f"{summary.target:.6g} ({summary.target_source}); interpolated between logged "
            "steps for a training metric, else the eval step with the eval cadence."
        )
    return lines
