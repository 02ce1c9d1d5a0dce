"""From trials to configs: one value per trial, then seeds grouped into configs and ranked.

Definitions (the summary prints them):
- A task instance is a task with its parameters, steps and batch size: tables and plots are per
  instance, so two presets of one task are never ranked together.
- A config is a task instance + variant + optimizer + every hyperparameter: everything in a trial
  but its seed. Its trials are its seeds.
- A trial's value (for a metric and a rule): `final` is the last logged value, `best` the best
  logged value (min, or max for metrics whose goal is "max"); `at_step=N` looks only at logged
  steps <= N, so `final` becomes the value at the logged step nearest <= N.
- A trial is ok when it finished with a value for the metric. A diverged trial is bad, except that
  with `at_step=N` one that ran past step N before diverging is judged by its value at N. A failed
  trial is always bad. A finished trial without the metric is "missing" (neither ok nor bad).
- Selection on validation data: a config is ranked by a selection metric, which for a `test_X`
  metric is `val_X` when the task logged one (the MNIST validation split), and the metric itself
  otherwise. Under rule `best` each trial's step is the one with the best selection value, and
  the reported value is the metric at that step. The test metric is reported, never selected on.
- A config's value is the mean over its ok seeds (what it is ranked by), with a 95% interval when
  2+ seeds are ok (none with one seed) that stays in the metric's range: for a metric whose
  values are all > 0 (a loss, an error, a norm) the Student-t interval of the mean log, shown as
  the geometric mean [low, high]; for an accuracy the Student-t interval clipped to [0, 1];
  otherwise the plain Student-t interval (`interval_kind`).
- Ranking: first by the share of bad seeds (so a config with any diverged or failed seed ranks
  after every config with none), then by the mean of the selection metric (lower first, or
  higher for "max" metrics); configs with no ok seed come last within their share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from adamlab.analysis.goals import Goal
from adamlab.analysis.stats import clipped_t_interval, log_t_interval, t_interval
from adamlab.store.tables import HP_PREFIX, TASK_PREFIX, hparam_columns, task_param_columns

Rule = Literal["final", "best"]
RULES: tuple[Rule, ...] = ("final", "best")

#: the prefixes of a held-out evaluation metric and of the validation metric it is selected on
TEST_PREFIX, VALIDATION_PREFIX = "test_", "val_"

#: columns that, with the task parameters, make a task instance
INSTANCE_COLUMNS = ("task", "steps", "batch_size", "device")
#: columns that, with the hyperparameters, make a config within a task instance
CONFIG_COLUMNS = ("variant", "optimizer")

OK, DIVERGED, FAILED, MISSING = "ok", "diverged", "failed", "missing"

Interval = Literal["log t", "t, clipped to [0, 1]", "t"]
#: an accuracy lies in [0, 1]: its interval is clipped there and it is compared by differences
BOUNDED_SUFFIX = "accuracy"


def interval_kind(metric: str, values: Sequence[float]) -> Interval:
    """How a config's interval is made for `metric` (see the module docstring)."""
    if metric.endswith(BOUNDED_SUFFIX):
        return "t, clipped to [0, 1]"
    finite = [v for v in values if math.isfinite(v)]
    if finite and all(v > 0 for v in finite):
        return "log t"
    return "t"


def config_interval(values: Sequence[float], kind: Interval) -> tuple[float, float, float]:
    """(centre, low, high) of one config's ok values: the geometric mean on "log t", else the
    mean; NaN bounds below 2 values."""
    if kind == "log t":
        return log_t_interval(values)
    low, high = (clipped_t_interval(values, 0.0, 1.0) if kind != "t" else t_interval(values))
    return exact_mean(values), low, high


def exact_mean(values: Sequence[float]) -> float:
    """Mean with a correctly rounded sum: the same bits whatever the order of the values."""
    values = list(values)
    return math.fsum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class TaskInstance:
    #: e.g. "quadratic", or "quadratic (preset=deepobs)" when the sweep has several of them
    label: str
    #: file-name-safe form of the label, e.g. "quadratic" or "quadratic_preset-deepobs"
    slug: str
    task: str
    #: the instance's trials (a slice of the trials table, original index kept)
    trials: pd.DataFrame


def task_instances(trials: pd.DataFrame) -> list[TaskInstance]:
    """Split the trials table by task instance, in table order."""
    if trials.empty:
        return []
    task_params = task_param_columns(trials)
    keys = _row_keys(trials, [*INSTANCE_COLUMNS, *task_params])
    instances: dict[str, pd.DataFrame] = {
        key: trials[keys == key] for key in dict.fromkeys(keys)
    }
    per_task: dict[str, list[pd.DataFrame]] = {}
    for frame in instances.values():
        per_task.setdefault(frame["task"].iloc[0], []).append(frame)
    out = []
    for task, frames in per_task.items():
        differing = _differing_columns(
            pd.concat([f.iloc[:1] for f in frames]),
            [*INSTANCE_COLUMNS[1:], *task_params],
        )
        for frame in frames:
            first = frame.iloc[0]
            parts = [f"{param_name(c)}={_format_value(first[c])}" for c in differing]
            label = f"{task} ({', '.join(parts)})" if parts else task
            slug = "_".join([task, *(p.replace("=", "-") for p in parts)])
            out.append(TaskInstance(label, _slugify(slug), task, frame))
    return out


def selection_metric(metric: str, recorded: Sequence[str]) -> str:
    """What configs are ranked by when `metric` is reported: `val_X` for `test_X` when recorded."""
    if metric.startswith(TEST_PREFIX):
        validation = VALIDATION_PREFIX + metric.removeprefix(TEST_PREFIX)
        if validation in recorded:
            return validation
    return metric


def _per_trial(log: pd.DataFrame, rule: Rule, goal: Goal) -> pd.DataFrame:
    """Each trial's (value, step) of a sorted metric log under `rule`."""
    if log.empty:
        return pd.DataFrame(columns=["value", "step"], index=pd.Index([], name="trial_id"))
    if rule == "final":
        chosen = log.drop_duplicates("trial_id", keep="last")
    else:
        oriented = log["value"] if goal == "min" else -log["value"]
        chosen = log.loc[oriented.groupby(log["trial_id"], sort=False).idxmin().dropna()]
    return chosen.set_index("trial_id")[["value", "step"]]


def trial_values(
    trials: pd.DataFrame,
    metrics: pd.DataFrame,
    metric: str,
    *,
    goal: Goal,
    rule: Rule = "final",
    at_step: int | None = None,
    select_metric: str | None = None,
    select_goal: Goal | None = None,
) -> pd.DataFrame:
    """Each trial's value for `metric` under `rule` (and `at_step`), and its state.

    Returns a frame aligned with `trials` (same index): columns `value`, `select_value` (the
    trial's value of `select_metric`, by which configs are ranked; the same as `value` when no
    other selection metric is given) and `state` (ok | diverged | failed | missing), as defined
    in the module docstring. Under rule `best` with a selection metric, `value` is `metric` at
    the step where `select_metric` was best.
    """
    select_metric = select_metric or metric
    names = {metric, select_metric}
    log = metrics[metrics["metric"].isin(names) & metrics["trial_id"].isin(trials["trial_id"])]
    if at_step is not None:
        log = log[log["step"] <= at_step]
    log = log.sort_values(["trial_id", "step"], kind="stable")
    own = _per_trial(log[log["metric"] == metric], rule, goal)
    if select_metric == metric:
        values = trials["trial_id"].map(own["value"]).astype("float64")
        selected = values
    else:
        chosen = _per_trial(log[log["metric"] == select_metric], rule, select_goal or goal)
        selected = trials["trial_id"].map(chosen["value"]).astype("float64")
        at = log[log["metric"] == metric].drop_duplicates(["trial_id", "step"], keep="last")
        at = at.set_index(["trial_id", "step"])["value"]
        keys = [
            (t, chosen["step"].get(t)) for t in trials["trial_id"]
        ]
        values = pd.Series(
            [at.get(k, math.nan) if k[1] is not None and not pd.isna(k[1]) else math.nan
             for k in keys],
            index=trials.index, dtype="float64",
        )
    if at_step is None and select_metric == metric:
        # a trial without a log of this metric may still carry its final/best value
        column = f"{rule}.{metric}"
        if column in trials.columns:
            values = values.fillna(trials[column].astype("float64"))
            selected = values
    status = trials["status"]
    diverged = status == "diverged"
    if at_step is not None:
        diverged &= trials["steps_run"] <= at_step
    missing = values.isna() | selected.isna()
    state = np.where(
        status == "failed", FAILED,
        np.where(diverged, DIVERGED, np.where(missing, MISSING, OK)),
    )
    return pd.DataFrame(
        {"value": values, "select_value": selected, "state": state}, index=trials.index
    )


def group_configs(
    trials: pd.DataFrame, values: pd.DataFrame, *, goal: Goal, interval: Interval = "t"
) -> pd.DataFrame:
    """One row per config, ranked (see the module docstring).

    Columns: config_id, rank, variant, optimizer, every `hp.*` column, n_seeds, n_ok,
    n_diverged, n_failed, n_missing, mean, centre (the geometric mean on a "log t" interval, else
    the mean), ci_low, ci_high (the `interval` kind, NaN below 2 ok seeds), interval,
    select_mean (mean of the selection metric: what the ranking uses), ok_trial_ids and
    trial_ids (tuples: the ok seeds' trials, every trial),
    seeds (tuple), seed_values and seed_select (dict seed -> value over the ok seeds), bad_seeds
    (tuple: the seeds that diverged or failed).
    """
    hp_columns = hparam_columns(trials)
    keys = _row_keys(trials, [*CONFIG_COLUMNS, *hp_columns])
    state = values["state"].to_numpy()
    value = values["value"].to_numpy(dtype=np.float64)
    select = (values["select_value"] if "select_value" in values else values["value"]).to_numpy(
        dtype=np.float64
    )
    trial_ids = trials["trial_id"].to_numpy()
    seeds = trials["seed"].to_numpy()
    rows = []
    groups = pd.Series(np.arange(len(trials))).groupby(keys.to_numpy(), sort=False).indices
    ordered = sorted(groups.values(), key=lambda positions: positions[0])  # table order
    # each config's descriptive cells from its first trial, column by column (a row Series per
    # config was a third of the ranking's time)
    firsts = trials.iloc[[positions[0] for positions in ordered]]
    described = {c: firsts[c].tolist() for c in ["variant", "optimizer", *hp_columns]}
    for config_id, positions in enumerate(ordered):
        member_state = state[positions]
        ok = member_state == OK
        ok_values = value[positions][ok].tolist()
        ok_seeds = [int(x) for x in seeds[positions][ok]]
        bad = np.isin(member_state, (DIVERGED, FAILED))
        centre, low, high = config_interval(ok_values, interval)
        rows.append(
            {
                "config_id": config_id,
                "variant": described["variant"][config_id],
                "optimizer": described["optimizer"][config_id],
                **{c: described[c][config_id] for c in hp_columns},
                "n_seeds": len(positions),
                "n_ok": int(ok.sum()),
                "n_diverged": int((member_state == DIVERGED).sum()),
                "n_failed": int((member_state == FAILED).sum()),
                "n_missing": int((member_state == MISSING).sum()),
                "mean": exact_mean(ok_values),
                "centre": centre,
                "interval": interval,
                "ci_low": low,
                "ci_high": high,
                "select_mean": exact_mean(select[positions][ok].tolist()),
                "ok_trial_ids": tuple(trial_ids[positions][ok]),
                "trial_ids": tuple(trial_ids[positions]),
                "seeds": tuple(int(s) for s in seeds[positions]),
                "seed_values": dict(zip(ok_seeds, ok_values, strict=True)),
                "seed_select": dict(zip(ok_seeds, select[positions][ok].tolist(), strict=True)),
                "bad_seeds": tuple(int(x) for x in seeds[positions][bad]),
            }
        )
    configs = pd.DataFrame(rows)
    return rank_configs(configs, goal=goal) if not configs.empty else configs


def rank_configs(configs: pd.DataFrame, *, goal: Goal) -> pd.DataFrame:
    bad_share = (configs["n_diverged"] + configs["n_failed"]) / configs["n_seeds"]
    by = configs["select_mean"] if "select_mean" in configs else configs["mean"]
    oriented = by if goal == "min" else -by
    order = pd.DataFrame(
        {"bad": bad_share, "value": oriented.fillna(math.inf), "id": configs["config_id"]}
    ).sort_values(["bad", "value", "id"], kind="stable")
    ranked = configs.loc[order.index].reset_index(drop=True)
    ranked.insert(1, "rank", range(1, len(ranked) + 1))
    return ranked


def curve_table(
    metrics: pd.DataFrame,
    trial_ids: Sequence[str],
    metric: str,
    *,
    at_step: int | None = None,
) -> pd.DataFrame:
    """Step x trial table of the logged values of `metric` (NaN where a trial logged nothing).

    Built once per task instance and metric; the per-config curves are column selections of it.
    """
    log = metrics[metrics["metric"] == metric]
    log = log[log["trial_id"].isin(list(trial_ids))]
    if at_step is not None:
        log = log[log["step"] <= at_step]
    if log.empty:
        return pd.DataFrame(index=pd.Index([], name="step", dtype="int64"))
    return (
        log.drop_duplicates(["trial_id", "step"], keep="last")
        .pivot(index="step", columns="trial_id", values="value")
        .sort_index()
    )


def seed_curves(
    table: pd.DataFrame, trial_ids: Sequence[str], *, goal: Goal, rule: Rule = "final"
) -> pd.DataFrame:
    """The columns of `table` for `trial_ids` (each trial's running best under rule `best`)."""
    curves = table[[t for t in trial_ids if t in table.columns]]
    if rule == "best":
        curves = curves.cummin() if goal == "min" else curves.cummax()
    return curves


def mean_curves(
    table: pd.DataFrame, trial_id_lists: Iterable[Sequence[str]], *, goal: Goal,
    rule: Rule = "final",
) -> list[pd.Series]:
    """The seed-mean at each logged step all of a config's trials share (index: step), for each
    list of trial ids. With rule `best` each trial's curve is its running best, so the last point
    of the curve is the mean of the trials' best values: the same number the config is ranked by.
    The table is read into one array once: selecting DataFrame columns per config cost a third
    of a 5,000-trial summary's ranking time."""
    values = table.to_numpy(dtype="float64")
    position = {trial_id: i for i, trial_id in enumerate(table.columns)}
    steps = table.index
    out = []
    for trial_ids in trial_id_lists:
        columns = [position[t] for t in trial_ids if t in position]
        if not columns:
            out.append(pd.Series(dtype="float64"))
            continue
        curves = values[:, columns]
        if rule == "best":  # a running best that skips a missing value and keeps it missing
            accumulate = np.fmin.accumulate if goal == "min" else np.fmax.accumulate
            missing = np.isnan(curves)
            curves = accumulate(curves, axis=0)
            curves[missing] = np.nan
        complete = ~np.isnan(curves).any(axis=1)
        if not complete.any():
            out.append(pd.Series(dtype="float64"))
            continue
        out.append(pd.Series([exact_mean(row) for row in curves[complete].tolist()],
                             index=steps[complete]))
    return out


def swept_hparams(trials: pd.DataFrame) -> list[str]:
    """`hp.*` columns with two or more values within at least one variant."""
    swept = swept_by_variant(trials)
    return [c for c in trials.columns if any(c in cols for cols in swept.values())]


def swept_by_variant(trials: pd.DataFrame) -> dict[str, list[str]]:
    """For each variant, its `hp.*` columns with two or more values."""
    hp_columns = hparam_columns(trials)
    counts = trials.groupby("variant", sort=False)[hp_columns].nunique(dropna=True)
    return {
        str(variant): [c for c in hp_columns if row[c] > 1] for variant, row in counts.iterrows()
    }


def config_label(row: pd.Series, hp_columns: Sequence[str]) -> str:
    """e.g. "adam (lr=0.001, beta2=0.999)": the variant and the given hyperparameters."""
    parts = [
        f"{param_name(c)}={_format_value(row[c])}" for c in hp_columns if not is_missing(row[c])
    ]
    return f"{row['variant']} ({', '.join(parts)})" if parts else str(row["variant"])


# ----------------------------------------------------------------------------------- helpers


def _row_keys(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One hashable text key per row over `columns` (NaN and None are the same 'absent')."""
    columns = [c for c in columns if c in frame.columns]
    records = frame[columns].astype(object).to_numpy().tolist()
    return pd.Series(
        [json.dumps([None if is_missing(v) else v for v in row], default=str) for row in records],
        index=frame.index,
    )


def _differing_columns(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    present = [c for c in columns if c in frame.columns]
    return [c for c in present if frame[c].astype(object).map(_key).nunique() > 1]


def _key(value) -> str:
    return "" if is_missing(value) else json.dumps(value, default=str)


def is_missing(value) -> bool:
    """None, NaN or pandas' NA (an empty cell of an Int64/boolean column)."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def param_name(column: str) -> str:
    """A parameter's name without its table prefix: hp.lr -> lr, task.dim -> dim."""
    return column.split(".", 1)[1] if column.startswith((HP_PREFIX, TASK_PREFIX)) else column


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _slugify(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
