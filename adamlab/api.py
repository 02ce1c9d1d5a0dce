"""The Python API for notebooks: run a sweep from a file or a dict, load a results folder, and
summarise it, with the same validation, records and rules as the CLI.

    from adamlab import Adam, AdamW, run_sweep, load_results, summarize

    result = run_sweep({"name": "nb", "steps": 200, "tasks": ["quadratic"],
                        "optimizers": [{"name": "adam", "lr": [1e-3, 1e-2]}, "sgd"]},
                       out="results/nb")
    summaries = summarize(result.results_dir, metric="loss")

Importing `adamlab` imports none of this (nor torch): each name is resolved on first use.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from adamlab.sweep.execute import run_sweep as execute
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep, validate_sweep
from adamlab.sweep.yaml_source import YamlDocument


def run_sweep(config: str | Path | dict[str, Any], *, out: str | Path | None = None,
              device: str | None = None, **options: Any):
    """Run every pending trial of a sweep given as a YAML file or as the mapping such a file
    holds (plug-in targets of a mapping are imported from the current folder first); returns the
    `SweepResult` (records of this run, counts, the tables). `options` are the fields of
    `adamlab.sweep.options.SweepOptions` (jobs, threads, stack_size, retry_failed, stale, ...),
    checked before the file is read."""
    options = SweepOptions.from_keywords(**options)
    if isinstance(config, dict):
        sweep = validate_sweep(YamlDocument("<dict>", config, {}), device=device, folder=Path.cwd())
    else:
        sweep = load_sweep(config, device=device)
    if out is not None:
        sweep = sweep.with_output(out)
    return execute(sweep, options)


def load_results(results_dir: str | Path, *, metrics: Collection[str] | None = None):
    """A results folder's tables (trials, metrics), manifest and provenance, checked.

    `metrics`: hold the logged values of these metrics only (`results.metric_log(names)`), a
    lighter load of a large folder; a table of any other (`results.metrics` among them) reads
    the records again. None: every value is held."""
    # lazy: the tables are pandas; `import adamlab` loads no pandas
    from adamlab.store.tables import load_results as load

    kept = None if metrics is None else frozenset(metrics)
    return load(results_dir, needed_metrics=None if kept is None else lambda task, manifest: kept)


def summarize(results, **options: Any):
    """Each task's ranked configs and comparisons (`TaskSummary` list), as `adamlab summary`
    shows them; `results` is a folder or loaded Results, `options` those of SummaryOptions
    (metric, rule, at_step, target, task, against, all_configs)."""
    # lazy: the summary computes on pandas tables; `import adamlab` loads no pandas
    from adamlab.analysis import summary

    chosen = summary.SummaryOptions(**options)
    if isinstance(results, (str, Path)):
        # lazy: the tables are pandas
        from adamlab.store.tables import load_results as load

        results = load(results, needed_metrics=summary.needed_metrics(chosen.metric))
    return summary.summarize(results, chosen)
