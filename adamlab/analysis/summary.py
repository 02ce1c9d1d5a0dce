"""The numbers behind `adamlab summary`: per task instance, every config ranked, the best config
of each variant, the SGD and momentum baselines and each config's ratios to them.

Pure pandas; rendering is in `adamlab.analysis.render`. The definitions are in
`adamlab.analysis.grouping` (configs, values, ranking) and `adamlab.analysis.baselines`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from adamlab.analysis.baselines import (
    BASELINE_OPTIMIZERS,
    BASELINE_TITLES,
    Baseline,
    best_baseline,
    metric_ratio,
    step_ratio,
)
from adamlab.analysis.goals import Goal, task_metrics
from adamlab.analysis.grouping import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    RULES,
    Rule,
    TaskInstance,
    config_label,
    curve_table,
    first_step_reaching,
    group_configs,
    mean_curve,
    swept_by_variant,
    swept_hparams,
    task_instances,
    trial_values,
)
from adamlab.errors import AdamlabError
from adamlab.store.tables import Results


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
    #: baseline ("sgd" | "momentum" | ""), ratio_vs_sgd, ratio_vs_momentum, steps_to_target,
    #: steps_ratio_vs_sgd
    configs: pd.DataFrame
    #: the swept hyperparameter columns (`hp.*`)
    varying: list[str]
    #: per variant, the hyperparameter columns swept within it (what tells its configs apart)
    varying_by_variant: dict[str, list[str]] = field(default_factory=dict)
    baselines: dict[str, Baseline] = field(default_factory=dict)
    target: float | None = None
    #: how the target was chosen, in words
    target_source: str | None = None
    #: metrics recorded for this task (to say what exists when `metric` does not)
    available_metrics: list[str] = field(default_factory=list)
    n_trials: int = 0

    @property
    def has_metric(self) -> bool:
        return self.metric in self.available_metrics

    @property
    def variant_best(self) -> pd.DataFrame:
        return self.configs[self.configs["variant_best"]]

    def config_label(self, row: pd.Series) -> str:
        """e.g. "sgd (lr=0.1)": the variant and the hyperparameters swept within it."""
        return config_label(row, self.varying_by_variant.get(str(row["variant"]), []))


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
        recorded = set(results.metrics["metric"].unique())
        if options.metric not in recorded:
            raise AdamlabError(
                f"--metric: {options.metric!r} is not recorded in {results.root}; recorded: "
                + ", ".join(results.metric_names())
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
    goal = goals.goal(metric)
    trials = instance.trials
    available = results.metric_names(instance.task)
    values = trial_values(
        trials, results.metrics, metric, goal=goal, rule=options.rule, at_step=options.at_step
    )
    configs = group_configs(trials, values, goal=goal)
    varying = swept_hparams(trials)
    by_variant = swept_by_variant(trials)
    summary = TaskSummary(
        label=instance.label,
        slug=instance.slug,
        task=instance.task,
        metric=metric,
        goal=goal,
        rule=options.rule,
        at_step=options.at_step,
        configs=configs,
        varying=varying,
        varying_by_variant=by_variant,
        available_metrics=available,
        n_trials=len(trials),
    )
    _mark_variant_best(configs)
    for kind in BASELINE_OPTIMIZERS:
        row = best_baseline(configs, kind)
        if row is not None:
            summary.baselines[kind] = Baseline(
                kind, int(row["config_id"]), summary.config_label(row), float(row["mean"])
            )
    configs["baseline"] = ""
    for kind, baseline in summary.baselines.items():
        configs.loc[configs["config_id"] == baseline.config_id, "baseline"] = kind
    for kind in BASELINE_OPTIMIZERS:
        reference = summary.baselines[kind].mean if kind in summary.baselines else math.nan
        configs[f"ratio_vs_{kind}"] = [metric_ratio(m, reference) for m in configs["mean"]]
    if steps_to_target:
        _steps_to_target(summary, results, options)
    else:
        configs["steps_to_target"] = math.nan
        configs["steps_ratio_vs_sgd"] = math.nan
    return summary


def _mark_variant_best(configs: pd.DataFrame) -> None:
    best = ~configs["variant"].duplicated(keep="first")  # configs are ranked
    configs["variant_best"] = best
    configs["variant_rank"] = pd.Series(range(1, int(best.sum()) + 1), index=configs.index[best])


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
        configs["steps_ratio_vs_sgd"] = math.nan
        return
    table = curve_table(
        results.metrics, trial_ids_of(summary), summary.metric, at_step=summary.at_step
    )
    steps = [
        first_step_reaching(
            mean_curve(table, trial_ids, goal=summary.goal, rule=summary.rule),
            summary.target, goal=summary.goal,
        )
        for trial_ids in configs["ok_trial_ids"]
    ]
    configs["steps_to_target"] = steps
    reference = math.nan
    if sgd is not None:
        reference = float(
            configs.loc[configs["config_id"] == sgd.config_id, "steps_to_target"].iloc[0]
        )
    configs["steps_ratio_vs_sgd"] = [step_ratio(s, reference) for s in configs["steps_to_target"]]


#: the rules every table follows (printed once under the tables)
GENERAL_RULES = (
    "A config is a task + variant + all hyperparameters; its seeds are grouped: mean over ok "
    f"seeds, and a {CONFIDENCE:.0%} percentile-bootstrap interval of that mean "
    f"({BOOTSTRAP_RESAMPLES:,} resamples, RNG seed {BOOTSTRAP_SEED}) when 2+ seeds are ok.",
    "Best config of a variant = best mean by the ranking rule; a config with any diverged or "
    "failed seed ranks after every config with none (then fewer bad seeds first). With "
    "--at-step N, a trial that diverged after step N counts by its value at N.",
    "References: best-tuned sgd, and best-tuned momentum or nesterov, by registry optimizer.",
)


def trial_ids_of(summary: TaskSummary) -> list[str]:
    return [t for ids in summary.configs["ok_trial_ids"] for t in ids]


def ranking_rule_text(summary: TaskSummary) -> list[str]:
    """The rules behind one task's table, in words (printed under it)."""
    better = "lower" if summary.goal == "min" else "higher"
    at = f" at the logged step nearest <= {summary.at_step}" if summary.at_step is not None else ""
    kind = "final (last logged)" if summary.rule == "final" else "best (best-ever)"
    lines = [
        f"Ranked by rule {kind} {summary.metric}{at}, {better} is better; "
        f"mean over each config's ok seeds."
    ]
    if summary.baselines:
        refs = "; ".join(
            f"best {BASELINE_TITLES[b.kind]} = {b.label}" for b in summary.baselines.values()
        )
        ratio_better = "below" if summary.goal == "min" else "above"
        lines.append(
            f"Ratios: config mean / reference mean, {ratio_better} 1 is better ({refs})."
        )
    else:
        lines.append("No sgd, momentum or nesterov config with an ok seed: no reference ratios.")
    if summary.target is not None:
        lines.append(
            f"Steps to target: first logged step where the seed-mean curve reaches "
            f"{summary.target:.6g} ({summary.target_source}); ratio to the best SGD config's."
        )
    return lines
