"""The numbers behind `adamlab summary`: per task instance, every config ranked, the best config
of each variant, the references (the best SGD and momentum configs) and each config's
comparisons with them.

Pure pandas; rendering is in `adamlab.analysis.render`. The definitions are in
`adamlab.analysis.grouping` (configs, values, ranking), `adamlab.analysis.selection` (the best)
and `adamlab.analysis.references` (references and comparisons).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import pandas as pd

from adamlab.analysis.goals import Goal, registered_spec, task_metrics
from adamlab.analysis.grid_edges import LR, UNTUNED, bracketed, grid_edges
from adamlab.analysis.grouping import (
    RULES,
    TEST_PREFIX,
    VALIDATION_PREFIX,
    Rule,
    TaskInstance,
    config_label,
    curve_table,
    mean_curves,
    param_name,
    swept_by_variant,
    swept_hparams,
    task_instances,
)
from adamlab.analysis.references import (
    BASELINE_OPTIMIZERS,
    BASELINE_TITLES,
    ConfigComparison,
    Reference,
    compare_with_reference,
    comparison_scale,
    step_ratio,
)
from adamlab.analysis.selection import best, best_per_variant, rank
from adamlab.analysis.stats import Scale
from adamlab.analysis.steps import steps_to_target
from adamlab.errors import AdamlabError
from adamlab.store.tables import Results

#: a finished run whose final train_loss is above its first logged one "did not learn"
LEARNING_METRIC = "train_loss"

#: where the steps-to-target threshold came from: --target, or the best SGD config's seed mean
TargetSource = Literal["--target", "best sgd"]


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
    #: reference (the reference key or ""), grid_edge (dict hparam -> flag, variant bests only),
    #: grid_edge_detail, n_no_learn, steps_to_target, steps_text, steps_ratio_vs_sgd
    configs: pd.DataFrame
    #: the swept hyperparameter columns (`hp.*`)
    varying: list[str]
    #: per variant, the hyperparameter columns swept within it (what tells its configs apart)
    varying_by_variant: dict[str, list[str]] = field(default_factory=dict)
    #: the references comparisons are made against: "sgd", "momentum", or the --against variant
    references: dict[str, Reference] = field(default_factory=dict)
    #: per reference key, each compared config's comparison by config id (see `comparison`)
    comparisons: dict[str, dict[int, ConfigComparison]] = field(default_factory=dict)
    #: what configs were ranked by (the validation counterpart of `metric`, or `metric`)
    select_metric: str = ""
    #: "ratio" (per-seed log-ratios) or "difference" (values can be <= 0)
    comparison_scale: Scale = "ratio"
    target: float | None = None
    target_source: TargetSource | None = None
    #: metrics recorded for this task (to say what exists when `metric` does not)
    available_metrics: list[str] = field(default_factory=list)
    n_trials: int = 0
    #: the validation metric the task declares but did not record (its split is off, or the
    #: results predate it): configs were selected on the test metric they report
    unrecorded_validation: str | None = None
    #: a variant shown was tuned over a grid of another size than a reference's
    unequal_budgets: bool = False
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

    def comparison(self, row: pd.Series, reference: str) -> ConfigComparison | None:
        """The config of `row` against the reference `reference` ("sgd", "momentum" or the
        --against variant); None for the reference itself, a config without an ok seed, or a
        reference the table does not have."""
        return self.comparisons.get(reference, {}).get(int(row["config_id"]))

    def comparison_table(self) -> pd.DataFrame:
        """Every comparison as a row with the fields of `ConfigComparison` as columns (the
        tidy form of `comparisons`, for pandas), by reference then rank."""
        return pd.DataFrame(
            [asdict(c) for by_config in self.comparisons.values() for c in by_config.values()],
            columns=[f.name for f in fields(ConfigComparison)],
        )


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
    summary.unrecorded_validation = _unrecorded_validation(summary, goals)
    summary.interval = str(configs["interval"].iloc[0])
    summary.budgets = {str(v): int(n) for v, n in configs.groupby("variant", sort=False).size().items()}
    configs["variant_best"] = best_per_variant(configs)
    best = configs["variant_best"]
    configs["variant_rank"] = pd.Series(range(1, int(best.sum()) + 1), index=configs.index[best])
    _mark_grid_edges(configs)
    configs["n_no_learn"] = _did_not_learn(results, configs)
    _set_references(summary, options)
    _compare(summary, options)
    summary.unequal_budgets = _unequal_budgets(summary)
    if steps_to_target:
        _steps_to_target(summary, results, options)
    else:
        configs["steps_to_target"] = math.nan
        configs["steps_text"] = ""
        configs["steps_ratio_vs_sgd"] = math.nan
    return summary


def _unrecorded_validation(summary: TaskSummary, goals) -> str | None:
    metric = summary.metric
    if not metric.startswith(TEST_PREFIX) or summary.select_metric != metric:
        return None
    validation = VALIDATION_PREFIX + metric.removeprefix(TEST_PREFIX)
    return validation if validation in _declared_metrics(summary.task, goals) else None


def _declared_metrics(task: str, goals) -> set[str]:
    """The metrics the task declares (in the results folder or, as now, in its torch-free spec)."""
    declared = set(goals.metric_goals)
    spec = registered_spec(task)
    if spec is not None:
        declared |= set(spec.metric_goals)
    return declared


def _mark_grid_edges(configs: pd.DataFrame) -> None:
    edges: list[dict] = [{} for _ in range(len(configs))]
    details = [""] * len(configs)
    judged = (configs["variant_best"] & (configs["n_ok"] > 0)).to_numpy()
    for position in judged.nonzero()[0]:
        row = configs.iloc[position]
        found = grid_edges(configs[configs["variant"] == row["variant"]], row)
        edges[position] = {param_name(hp): edge.flag for hp, edge in found.items()}
        details[position] = "; ".join(edge.detail for edge in found.values())
    configs["grid_edge"] = edges
    configs["grid_edge_detail"] = details


def _did_not_learn(results: Results, configs: pd.DataFrame) -> list[int]:
    """Per config: its ok seeds whose final train_loss is above their first logged one."""
    log = results.metric_log([LEARNING_METRIC])
    ids = {t for ids in configs["ok_trial_ids"] for t in ids}
    # by step alone: drop_duplicates then keeps each trial's first and last row in step order
    # (a tie in logged order), as sorting by trial first would, without sorting the ids' text
    log = log[log["trial_id"].isin(ids)].sort_values("step", kind="stable")
    first = log.drop_duplicates("trial_id", keep="first").set_index("trial_id")["value"]
    last = log.drop_duplicates("trial_id", keep="last").set_index("trial_id")["value"]
    worse = set((last > first.reindex(last.index)).pipe(lambda s: s[s].index))
    return [sum(t in worse for t in ids) for ids in configs["ok_trial_ids"]]


def _set_references(summary: TaskSummary, options: SummaryOptions) -> None:
    configs = summary.configs
    if options.against is not None:
        candidates_of = {options.against: configs[configs["variant"] == options.against]}
    else:
        candidates_of = {
            key: configs[configs["optimizer"].isin(names)]
            for key, names in BASELINE_OPTIMIZERS.items()
        }
    for key, candidates in candidates_of.items():
        row = best(candidates)
        if row is None:
            continue
        variant_configs = configs[configs["variant"] == row["variant"]]
        edges = grid_edges(variant_configs, row)
        summary.references[key] = Reference(
            key=key,
            config_id=int(row["config_id"]),
            variant=str(row["variant"]),
            label=summary.config_label(row),
            mean=float(row["mean"]),
            title=BASELINE_TITLES.get(key, key),
            edges=edges,
            bracketed=bracketed(edges),
            tuned=LR not in edges or edges[LR].flag != UNTUNED,
        )
    configs["reference"] = ""
    for key, reference in summary.references.items():
        configs.loc[configs["config_id"] == reference.config_id, "reference"] = key


def _compare(summary: TaskSummary, options: SummaryOptions) -> None:
    configs = summary.configs
    summary.comparison_scale = comparison_scale(configs, summary.metric)
    family = configs.index if options.all_configs else configs.index[configs["variant_best"]]
    for key, reference in summary.references.items():
        summary.comparisons[key] = compare_with_reference(
            configs, reference, metric=summary.metric, scale=summary.comparison_scale,
            family=family, budgets=summary.budgets,
        )


def _unequal_budgets(summary: TaskSummary) -> bool:
    """Whether a variant shown was tuned over a grid of another size than a reference's."""
    shown = {str(v) for v in summary.variant_best["variant"]}
    return any(summary.budgets.get(variant, 0) != summary.budgets.get(r.variant, 0)
               for r in summary.references.values() for variant in shown)


def _steps_to_target(summary: TaskSummary, results: Results, options: SummaryOptions) -> None:
    configs = summary.configs
    sgd = summary.references.get("sgd")
    if options.target is not None:
        summary.target = float(options.target)
        summary.target_source = "--target"
    elif sgd is not None:
        summary.target = sgd.mean
        summary.target_source = "best sgd"
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
        steps_to_target(curve, summary.target, goal=summary.goal, training_steps=training_steps)
        for curve in mean_curves(table, configs["ok_trial_ids"], goal=summary.goal,
                                 rule=summary.rule)
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


def trial_ids_of(summary: TaskSummary) -> list[str]:
    return [t for ids in summary.configs["ok_trial_ids"] for t in ids]
