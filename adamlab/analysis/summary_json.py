"""`adamlab summary --json`: the summary's rows as plain JSON objects, one per config row shown.

Each object: task, instance, variant, optimizer, hparams, metric, select_metric, rule, at_step,
seeds (ok), seeds_diverged, seeds_failed, seeds_did_not_learn, mean (arithmetic: what configs are
ranked by), centre, ci_low, ci_high, interval ("log t": centre is the geometric mean and the
interval that of the mean log, always > 0; "t, clipped to [0, 1]" for an accuracy; "t"; null
with one ok seed), tuning_budget (configs its variant tried), best (each variant's selected config), grid_edge (hparam ->
"open" | "stability limit" | "refine" | "untuned", flagged ones only), reference (the reference
key this row is, or null), comparisons (reference key -> estimate, low, high, p, p_holm,
significant (Holm p < 0.05 on >= 3 pairs), unequal_budget (the two variants tried different
numbers of configs), method "paired" | "welch", scale "ratio" | "difference" (an accuracy: a
difference of proportions, its interval clipped to [-1, 1]), pairs, left_out,
reference_label, reference_bracketed) and steps_to_target / steps_text when a target is set.
NaN is written as null.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from adamlab.analysis.grouping import is_missing, param_name
from adamlab.analysis.references import ConfigComparison, Reference
from adamlab.analysis.summary import TaskSummary
from adamlab.store.tables import hparam_columns


def _plain(value: Any) -> Any:
    if is_missing(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


def summary_records(summaries: list[TaskSummary], *, show_all: bool = False) -> list[dict]:
    out = []
    for summary in summaries:
        if summary.configs.empty:
            continue
        rows = summary.configs if show_all else summary.variant_best
        hp_columns = hparam_columns(summary.configs)
        for _, row in rows.iterrows():
            out.append(_record(summary, row, hp_columns))
    return out


def _record(summary: TaskSummary, row: pd.Series, hp_columns: list[str]) -> dict:
    record: dict[str, Any] = {
        "task": summary.task,
        "instance": summary.label,
        "variant": str(row["variant"]),
        "optimizer": str(row["optimizer"]),
        "hparams": {
            param_name(c): _plain(row[c]) for c in hp_columns if not is_missing(row[c])
        },
        "metric": summary.metric,
        "select_metric": summary.select_metric,
        "rule": summary.rule,
        "at_step": summary.at_step,
        "seeds": int(row["n_ok"]),
        "seeds_diverged": int(row["n_diverged"]),
        "seeds_failed": int(row["n_failed"]),
        "seeds_did_not_learn": int(row.get("n_no_learn", 0)),
        "mean": _plain(row["mean"]),
        "centre": _plain(row.get("centre", row["mean"])),
        "ci_low": _plain(row["ci_low"]),
        "ci_high": _plain(row["ci_high"]),
        "interval": None if is_missing(row["ci_low"]) else str(row.get("interval", "t")),
        "tuning_budget": summary.budgets.get(str(row["variant"])),
        "best": bool(row["variant_best"]),
        "grid_edge": dict(row.get("grid_edge") or {}),
        "reference": row["reference"] or None,
        "comparisons": {},
    }
    for key, reference in summary.references.items():
        comparison = summary.comparison(row, key)
        if comparison is not None and not is_missing(comparison.estimate):
            record["comparisons"][key] = _comparison_record(comparison, reference)
    if summary.target is not None:
        record["target"] = summary.target
        record["steps_to_target"] = _plain(row["steps_to_target"])
        record["steps_text"] = row["steps_text"]
    return record


def _comparison_record(comparison: ConfigComparison, reference: Reference) -> dict:
    return {
        "estimate": _plain(comparison.estimate),
        "low": _plain(comparison.low),
        "high": _plain(comparison.high),
        "p": _plain(comparison.p),
        "p_holm": _plain(comparison.p_holm),
        "significant": comparison.significant,
        "unequal_budget": comparison.unequal_budget,
        "method": comparison.method,
        "scale": comparison.scale,
        "pairs": comparison.pairs,
        "left_out": comparison.left_out,
        "reference_label": reference.label,
        "reference_bracketed": reference.bracketed,
    }


def summary_json(summaries: list[TaskSummary], *, show_all: bool = False) -> str:
    return json.dumps(summary_records(summaries, show_all=show_all), indent=2, allow_nan=False)
