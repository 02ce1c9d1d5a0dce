"""Start-up: what a researcher waits for at each command, against `import torch` and a hand loop
measured in the same run (whole processes, rounds interleaved and rotated, medians).

    python -m benchmarks.startup                 # 5 rounds
    python -m benchmarks.startup --repeats 7 --quick   # --quick: leave out the 5,000-trial folder
    python -m benchmarks.startup --reference ../main/.venv/bin/python   # before/after, interleaved

Printed, each as a ratio with its target:
- `adamlab summary` of a 200-trial, two-task folder / `python -c "import torch"`   (<= 0.5)
- `adamlab list` / `import torch`                                                   (<= 0.3)
- `adamlab summary` of a 5,000-trial folder / `import torch`                        (<= 2)
  as a sweep leaves it (with its read cache, adamlab.store.read_cache), and the same
  records without the cache (a folder whose tables this adamlab has not rebuilt)
- peak RSS of those summaries                                                       (< 300 MB)
- a hand-written torch loop / `adamlab sweep` (default flags) of the 32-config DeepOBS quadratic
  sweep of benchmarks.end_to_end: the loop computes the gradient analytically and steps
  torch.optim.Adam, one process                                                     (>= 1.5)
(benchmarks.end_to_end compares the embedding and MNIST sweeps with their hand loops, and the
default --jobs/--threads with the best explicit ones.)

adamlab's modules are compiled to bytecode first, as an installed package's are
(benchmarks.bytecode: where PYTHONDONTWRITEBYTECODE is set every process would compile them).

The folders are made here, through adamlab's own record model and store: a short real run of
one trial per task and optimizer gives each record's metric log (names, steps); every trial of
the folder's sweep (real trial ids and hyperparameters) gets that log with values scaled by a
factor drawn from its id, and is written with `ResultsFolder.write_record`; the tables (and the
read cache) are built as a sweep builds them.

Start-up budget of `adamlab sweep` (the quadratic sweep above, `python -X importtime`, one
process on the 2 shared cores, load ~4; seconds): interpreter 0.02; typer, rich, pydantic and
the CLI 0.25; yaml and the sweep schema 0.05; torch 1.7 (the bulk, paid by every process that
trains); the project's optimizers, stacks and tasks 0.05; pandas 0.65, only when the tables are
written at the end; no torch._dynamo (1.9 s before: the first torch.optim.Optimizer a process
builds imports it through torch.optim's dynamo hooks, and preflight built one per optimizer
entry; it now builds the stacked forms that run, and only sweeps with torch's own optimizers
pay it); no Ray unless --backend ray; no matplotlib.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from adamlab.store.names import READ_CACHE
from benchmarks.bytecode import compile_bytecode
from benchmarks.end_to_end import SWEEPS

FOLDER_SWEEP = """\
    name: {name}
    seeds: {seeds}
    steps: 500
    log_every: 10
    eval_every: 100
    tasks:
      - name: quadratic
      - name: embedding_sparsity
        batch_size: 1024
    optimizers:
      - name: sgd
        lr: {{logspace: [0.01, 10, {n}]}}
      - name: momentum
        lr: {{logspace: [0.001, 1, {n}]}}
      - name: adam
        lr: {{logspace: [0.0001, 1, {n}]}}
      - name: adamw
        lr: {{logspace: [0.0001, 1, {n}]}}
      - name: adam-nobc
        optimizer: adam
        bias_correction: false
        lr: {{logspace: [0.0001, 1, {n}]}}
    """

#: the quadratic sweep of benchmarks.end_to_end, by hand: the DeepOBS quadratic's gradient
#: H (theta - centre) written out, torch.optim.Adam, the loss logged every 10 steps
ANALYTIC_HAND_LOOP = """\
    import csv, math, sys, torch
    torch.manual_seed(42)
    dim, steps, batch = 100, 1000, 128
    eigenvalues = torch.cat([torch.rand(90), 30 + 30 * torch.rand(10)])
    q, _ = torch.linalg.qr(torch.randn(dim, dim))
    hessian = (q * eigenvalues) @ q.T
    rows = []
    for lr in torch.logspace(-4, 0, 8).tolist():
        for beta2 in (0.9, 0.99, 0.999, 0.9999):
            generator = torch.Generator().manual_seed(0)
            theta = torch.ones(dim)
            theta.grad = torch.zeros(dim)
            optimizer = torch.optim.Adam([theta], lr=lr, betas=(0.9, beta2))
            for step in range(1, steps + 1):
                centre = torch.randn(dim, generator=generator) * (0.6 / math.sqrt(batch))
                residual = theta - centre
                gradient = hessian @ residual
                theta.grad.copy_(gradient)
                optimizer.step()
                if step == 1 or step % 10 == 0:
                    rows.append((lr, beta2, step, float(0.5 * residual @ gradient)))
            rows.append((lr, beta2, steps, float(0.5 * theta @ hessian @ theta)))
    with open(sys.argv[1], "w", newline="") as f:
        csv.writer(f).writerows(rows)
    """


def make_folder(out: Path, scratch: Path, *, seeds: int, per_optimizer: int) -> int:
    """A results folder of tasks x 5 optimizers x `per_optimizer` lrs x `seeds` trials (see the
    module docstring); returns its number of trials."""
    from adamlab.store import layout
    from adamlab.store.layout import ResultsFolder
    from adamlab.store.records import TrialRecord
    from adamlab.sweep import provenance
    from adamlab.sweep.execute import run_sweep, task_metadata
    from adamlab.sweep.options import SweepOptions
    from adamlab.sweep.schema import load_sweep
    from adamlab.sweep.sweep_plan import plan_sweep
    from adamlab.sweep.trial_record import MetricLog, trial_record
    from adamlab.tasks.registry import load_task

    def sweep_of(name: str, seeds_: list[int], n: int, where: Path):
        path = scratch / f"{name}.yaml"
        path.write_text(textwrap.dedent(FOLDER_SWEEP.format(name=name, seeds=seeds_, n=n)))
        return load_sweep(path, max_trials=10**6).with_output(where)

    templates = {}
    run_sweep(sweep_of("templates", [0], 1, scratch / "templates"), SweepOptions(jobs=1, stack_size=1))
    for path in (scratch / "templates" / "trials").glob("*.json"):
        record = TrialRecord.from_json(path.read_text())
        templates[(record.task, record.variant)] = record
    sweep = sweep_of(out.name, list(range(seeds)), per_optimizer, out)
    plan = plan_sweep(sweep)
    with ResultsFolder(out) as folder:
        folder.open(sweep_name=sweep.name, trial_ids=[t.trial_id for t in plan.trials],
                    sweep_yaml=sweep.to_yaml(), extra={"tasks": task_metadata(plan)})
        run = provenance.start_run(
            folder.read_provenance(), device="cpu", started=layout.now_iso(),
            argv=["benchmarks.startup"], jobs=1, threads=1, to_run=len(plan.trials), skipped=0,
        )
        for trial in plan.trials:
            template = templates[(trial.task, trial.variant)]
            digest = hashlib.sha256(trial.trial_id.encode()).digest()
            factor = math.exp((digest[0] - 128) / 256)  # 0.6 to 1.6, fixed per trial
            log = MetricLog()
            columns = template.metrics
            log.step, log.wall_time = list(columns["step"]), list(columns["wall_time"])
            log.metric = list(columns["metric"])
            log.value = [v * factor for v in columns["value"]]
            goals = dict(load_task(trial.task).metric_goals)
            folder.write_record(trial_record(
                trial, sweep.name, device="cpu", status="finished", steps_run=trial.steps,
                wall_time_s=template.wall_time_s, log=log, goals=goals, error=None,
            ))
        folder.write_provenance(provenance.end_run(
            run, ended=layout.now_iso(), outcome="completed", trials_run=len(plan.trials),
        ))
        layout.rebuild_tables(out)
    return len(plan.trials)


def _make_folder_elsewhere(out: Path, scratch: Path, *, seeds: int, per_optimizer: int) -> int:
    """make_folder in a process of its own: a child's peak RSS counts the memory of the parent
    it was forked from, so this process stays small."""
    code = (f"from pathlib import Path; from benchmarks.startup import make_folder; "
            f"print(make_folder(Path({str(out)!r}), Path({str(scratch)!r}), seeds={seeds}, "
            f"per_optimizer={per_optimizer}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one whole process, run in `cwd` (not a checkout, whose
    adamlab/ `python -m` would import in place of the interpreter's own)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    return seconds, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds (median reported)")
    parser.add_argument("--quick", action="store_true", help="leave out the 5,000-trial folder")
    parser.add_argument("--reference", metavar="PYTHON", help="an interpreter with another "
                        "adamlab installed (e.g. a checkout of main's .venv/bin/python): its list "
                        "and summaries run in the same rounds, and their ratios are printed too")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    python = sys.executable
    adamlab = [python, "-m", "adamlab.cli.app"]
    compile_bytecode(python)
    if args.reference:
        compile_bytecode(args.reference)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        started = time.perf_counter()
        small = _make_folder_elsewhere(scratch / "folder-200", scratch, seeds=2, per_optimizer=10)
        big = 0 if args.quick else _make_folder_elsewhere(scratch / "folder-5000", scratch, seeds=10,
                                                          per_optimizer=50)
        print(f"folders: {small} and {big or '-'} trials, made in {time.perf_counter() - started:.0f} s",
              flush=True)
        config = scratch / "quadratic.yaml"
        config.write_text(textwrap.dedent(SWEEPS["quadratic"]))
        hand = scratch / "quadratic_hand.py"
        hand.write_text(textwrap.dedent(ANALYTIC_HAND_LOOP))
        commands = {
            "python -c 'import torch'": [python, "-c", "import torch"],
            "adamlab list": [*adamlab, "list"],
            "adamlab summary (200 trials)": [*adamlab, "summary", str(scratch / "folder-200")],
            "hand loop, quadratic (analytic gradient, torch.optim.Adam)":
                [python, str(hand), str(scratch / "hand.csv")],
            "adamlab sweep quadratic (defaults)": None,
        }
        if big:
            commands["adamlab summary (5,000 trials)"] = [*adamlab, "summary", str(scratch / "folder-5000")]
            # the same records (hard links: same sizes and times) without the read cache
            cold = scratch / "folder-5000-no-cache"
            shutil.copytree(scratch / "folder-5000", cold, copy_function=os.link)
            (cold / READ_CACHE).unlink(missing_ok=True)
            commands["adamlab summary (5,000 trials, no read cache)"] = [*adamlab, "summary", str(cold)]
        if args.reference:
            for name in [n for n in commands if n.startswith(("adamlab list", "adamlab summary"))]:
                commands[f"{name}, reference"] = [args.reference, *commands[name][1:]]
        times: dict[str, list[float]] = {name: [] for name in commands}
        peak: dict[str, float] = {}
        names = list(commands)
        for round_ in range(args.repeats):
            # each round starts one further along, so no command always follows the same one
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                command = commands[name]
                if command is None:
                    command = [*adamlab, "sweep", str(config), "--out", str(scratch / f"q{round_}"), "--quiet"]
                seconds, rss = _run(command, env, scratch)
                times[name].append(seconds)
                peak[name] = max(peak.get(name, 0.0), rss)
            print(f"round {round_ + 1}/{args.repeats} done (load {os.getloadavg()[0]:.1f})", flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nwhole processes, median of {args.repeats} interleaved rounds; machine load "
          f"{os.getloadavg()[0]:.1f} / {os.cpu_count()} cores at the end")
    for name, values in times.items():
        print(f"  {name:<62} {median[name]:6.2f} s  (best {min(values):.2f}, peak RSS {peak[name]:.0f} MB)")
    torch_s = median["python -c 'import torch'"]
    rows = [
        ("summary (200 trials) / import torch", "adamlab summary (200 trials)", "<= 0.5"),
        ("list / import torch", "adamlab list", "<= 0.3"),
    ]
    if big:
        rows.append(("summary (5,000 trials) / import torch", "adamlab summary (5,000 trials)", "<= 2"))
        rows.append(("  the same, no read cache", "adamlab summary (5,000 trials, no read cache)",
                     "<= 2"))
    print()
    for label, name, target in rows:
        reference = (f"   (reference {median[name + ', reference'] / torch_s:5.2f}x)"
                     if args.reference else "")
        print(f"  {label:<45} {median[name] / torch_s:5.2f}x   target {target}{reference}")
    loop = (median["hand loop, quadratic (analytic gradient, torch.optim.Adam)"]
            / median["adamlab sweep quadratic (defaults)"])
    print(f"  {'hand loop / sweep (quadratic, defaults)':<45} {loop:5.2f}x   target >= 1.5")
    if big:
        for label, name in (("summary (5,000 trials) peak RSS", "adamlab summary (5,000 trials)"),
                            ("  the same, no read cache",
                             "adamlab summary (5,000 trials, no read cache)")):
            reference = (f"   (reference {peak[name + ', reference']:5.0f} MB)" if args.reference
                         else "")
            print(f"  {label:<45} {peak[name]:5.0f} MB  target < 300 MB{reference}")


if __name__ == "__main__":
    main()
