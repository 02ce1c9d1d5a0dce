"""`adamlab summary`, `adamlab export`, `adamlab plot`: reading a sweep's results folder.

The library modules these commands call import pandas (and `plot` matplotlib), so they are
imported inside the commands: `adamlab --help` stays instant. None of them imports torch (tasks'
metric goals come from the results folder or their torch-free specs).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from adamlab.cli.console import printable, stdout
from adamlab.errors import AdamlabError
from adamlab.store.atomic import cannot


class Rule(str, Enum):
    final = "final"
    best = "best"


ResultsDir = Annotated[
    Path,
    typer.Argument(
        help="A sweep's results folder (the one holding adamlab-results.json).",
        metavar="RESULTS_DIR",
        show_default=False,
    ),
]
ResultsDirs = Annotated[
    list[Path],
    typer.Argument(
        help="One or more sweeps' results folders (each holding adamlab-results.json); several "
        "are read as one, a trial id found in two counted once.",
        metavar="RESULTS_DIR...",
        show_default=False,
    ),
]
TaskFilter = Annotated[str | None, typer.Option("--task", metavar="NAME", help="Only this task.")]


def summary(
    results_dirs: ResultsDirs,
    metric: Annotated[str | None, typer.Option(
        "--metric", "-m", metavar="NAME", help="Rank by this metric (default: each task's primary metric)."
    )] = None,
    at_step: Annotated[int | None, typer.Option(
        "--at-step", min=0, metavar="N", help="Judge every trial at the logged step nearest <= this step."
    )] = None,
    rule: Annotated[Rule, typer.Option(
        "--rule", metavar="final|best", help="final: the last logged value; best: the best value seen in training."
    )] = Rule.final,
    target: Annotated[float | None, typer.Option(
        "--target", metavar="VALUE", help="Steps-to-target threshold (default: the best SGD config's value)."
    )] = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="Show every config, not only each variant's best."
    )] = False,
    task: TaskFilter = None,
    against: Annotated[str | None, typer.Option(
        "--against", metavar="VARIANT", help="Compare against this variant's best config (default: best SGD and "
        "best momentum).",
    )] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the rows as a JSON list (one object per config row) instead.",
    )] = False,
    tuning_curve: Annotated[bool, typer.Option(
        "--tuning-curve", help="Print each variant's tuning curve instead: the expected and "
        "median best after k configs of its grid, k = 1..n, with a 95% band.",
    )] = False,
) -> None:
    """Rank each task's configs over seeds against the best-tuned SGD and momentum.

    Several folders are read as one (a folder column names each row's; a trial id found in two
    counts once).

    Example: adamlab summary results/first_sweep --all
    """
    # lazy: imports pandas
    from adamlab.analysis.summary import SummaryOptions, needed_metrics, summarize
    from adamlab.store.merge import load_folders  # lazy: imports pandas

    rule = getattr(rule, "value", rule)
    results = load_folders(results_dirs, needed_metrics=needed_metrics(metric))
    results_dir = results.root
    last = results.logs.last_step() if at_step is not None else None
    if last is not None:
        if at_step > last:  # every trial would be judged by its final value, silently
            raise AdamlabError(
                f"--at-step {at_step}: beyond every trial's last logged step in {results_dir} "
                f"(the latest is {last}); give a step <= {last}, or leave --at-step out for final values"
            )
    if tuning_curve:
        from adamlab.analysis.tuning_curve import tuning_curves  # lazy: imports pandas
        from adamlab.analysis.tuning_render import (  # lazy: imports pandas
            print_tuning_curves,
            tuning_json,
        )

        points = tuning_curves(results, metric=metric, task=task)
        if as_json:
            typer.echo(tuning_json(points))
        else:
            print_tuning_curves(points, stdout)
        return
    options = SummaryOptions(
        metric=metric, rule=rule, at_step=at_step, target=target, task=task, against=against,
        all_configs=show_all,
    )
    if as_json:
        from adamlab.analysis.summary_json import summary_json  # lazy: imports pandas

        typer.echo(printable(summary_json(summarize(results, options), show_all=show_all)))
        return
    from adamlab.analysis.render import print_summary  # lazy: imports pandas

    print_summary(results.root, stdout, options=options, show_all=show_all, results=results)


def export(
    results_dirs: ResultsDirs,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="FILE.csv|.parquet|.json",
        help="File to write, in the format its extension names: .csv, .parquet (needs pyarrow) "
        "or .json (a list of records). Default: CSV on standard output.",
    )] = None,
    long: Annotated[bool, typer.Option(
        "--long", help="One row per logged metric value with its trial's config.",
    )] = False,
    wide: Annotated[bool, typer.Option(
        "--wide", help="One row per trial (the default).",
    )] = False,
    task: TaskFilter = None,
    optimizer: Annotated[str | None, typer.Option(
        "--optimizer", metavar="NAME", help="Only this registry optimizer or variant label."
    )] = None,
) -> None:
    """Write the trials (wide) or metrics (long) table as CSV, Parquet or JSON records.

    Example: adamlab export results/first_sweep --long -o metrics.parquet
    """
    if long and wide:
        raise typer.BadParameter("give --long or --wide, not both", param_hint="--long/--wide")
    from adamlab.analysis.export import (  # lazy: imports pandas
        check_extension,
        export_frame,
        write_table,
    )
    from adamlab.store.merge import load_folders  # lazy: imports pandas

    if out is not None and not out.is_dir():
        check_extension(out)  # before reading the folders
    # one row per trial needs no logged values: none is held
    needed = None if long else (lambda task, manifest: ())
    frame = export_frame(load_folders(results_dirs, needed_metrics=needed), long=long, task=task,
                         optimizer=optimizer)
    write_table(frame, out)
    if out is not None:
        stdout.print(f"wrote {out} ({len(frame):,} rows, {len(frame.columns)} columns)",
                     highlight=False, markup=False)


def plot(
    results_dir: ResultsDir,
    metric: Annotated[str | None, typer.Option(
        "--metric", "-m", metavar="NAME",
        help="Plot this metric (default: each task's primary metric and train_loss).",
    )] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", metavar="DIR", help="Folder for the PNGs (default: RESULTS_DIR/plots)."
    )] = None,
) -> None:
    """Draw loss curves, lr sensitivity and hyperparameter heatmaps of a results folder as PNGs.

    Example: adamlab plot results/first_sweep --metric train_loss
    """
    from adamlab.analysis.plots import write_plots  # lazy: imports matplotlib
    from adamlab.store.tables import load_results  # lazy: imports pandas

    results = load_results(results_dir)
    try:
        paths = write_plots(results, out, metric=metric)
    except OSError as exc:  # a read-only folder, a file where the plots folder should be
        raise cannot("write", exc.filename or out or results.root / "plots", exc) from None
    if results.trials.empty:
        stdout.print("No trial has ended yet: nothing to plot.")
    elif not paths:
        stdout.print("Nothing to plot: no trial logged a metric (see `adamlab summary`).")
    for path in paths:
        stdout.print(str(path), highlight=False, markup=False, soft_wrap=True)
