"""Sweep throughput: trials/second of the same sweeps run one by one, with --jobs 2, and stacked
(--stack-size K), printed as ratios to one by one, all measured in one run.

    python -m benchmarks.sweep_throughput [--sweeps quadratic,embedding,mnist] [--repeats R]
                                          [--stack-size K] [--threads T] [--mnist-dir DIR]

Each sweep runs through `run_sweep` into a fresh results folder per measurement, so the figures
include everything a user waits for: building tasks, training, evaluation, writing records and
rebuilding the tables (`--jobs 2` also pays for starting its worker processes). Modes:

- sequential: --jobs 1 --stack-size 1 (the reference);
- jobs 2: --jobs 2, one trial per worker;
- stacked: --stack-size K in this process;
- stacked + jobs 2: stacks handed to 2 workers.

The modes of one repeat run back to back and every ratio pairs a mode with the sequential run
of the same repeat; the best ratio and the range over repeats are printed, so a busy spell on a
shared machine shows as spread instead of hiding in one number. Torch threads per process are
pinned (--threads, default 1): on a 2-core machine shared with other processes, two OpenMP
threads stall whenever another process holds a core. Each stacked run is also checked against
the sequential one: the largest relative difference of any final metric, and how many trials
differ beyond 1e-4 (runs that do not converge, e.g. Adam at lr 1 on the quadratic, are chaotic:
rounding differences grow in them as they would with another thread count).

The sweeps (all Adam, lr x beta2 grids, one seed):
- quadratic: 32 configs (8 lr x 4 beta2) on the DeepOBS quadratic (100-d, rotated), 1000 steps;
- embedding: 32 configs (8 lr x 4 beta2) on embedding_sparsity (10000 x 16 table), 200 steps;
- mnist: 8 configs (4 lr x 2 beta2) on mnist_mlp (784-256-10), 100 steps, batch 128, evaluated
  at the end on the 10000 test images; needs the MNIST files (--mnist-dir, default
  ../shared/data/mnist or $ADAMLAB_DATA), skipped when they are not there.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

from adamlab.store.records import TrialRecord
from adamlab.sweep.execute import run_sweep
from adamlab.sweep.options import SweepOptions
from adamlab.sweep.schema import load_sweep

REPO_ROOT = Path(__file__).resolve().parents[1]

SWEEPS = {
    "quadratic": """\
name: throughput-quadratic
seeds: [0]
steps: 1000
tasks:
  - name: quadratic
    params: {preset: deepobs}
optimizers:
  - name: adam
    lr: {logspace: [1.0e-4, 1.0, 8]}
    beta2: [0.9, 0.99, 0.999, 0.9999]
""",
    "embedding": """\
name: throughput-embedding
seeds: [0]
steps: 200
tasks:
  - name: embedding_sparsity
optimizers:
  - name: adam
    lr: {logspace: [1.0e-4, 1.0, 8]}
    beta2: [0.9, 0.99, 0.999, 0.9999]
""",
    "mnist": """\
name: throughput-mnist
seeds: [0]
steps: 100
batch_size: 128
tasks:
  - name: mnist_mlp
    params: {data_dir: "MNIST_DIR", download: false}
optimizers:
  - name: adam
    lr: [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3]
    beta2: [0.99, 0.999]
""",
}


def modes(stack_size: int) -> list[tuple[str, dict]]:
    return [
        ("sequential", {"jobs": 1, "stack_size": 1}),
        ("jobs 2", {"jobs": 2, "stack_size": 1}),
        (f"stacked (K={stack_size})", {"jobs": 1, "stack_size": stack_size}),
        (f"stacked (K={stack_size}) + jobs 2", {"jobs": 2, "stack_size": stack_size}),
    ]


def run_once(sweep, scratch: Path, threads: int, options: dict) -> tuple[float, dict[str, TrialRecord]]:
    """Seconds to run the whole sweep into a fresh folder, and its records by trial id."""
    out = scratch / "results"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = run_sweep(sweep.with_output(out), SweepOptions(threads=threads, **options))
    seconds = time.perf_counter() - started
    return seconds, {record.trial_id: record for record in result.records}


def differences(reference: dict[str, TrialRecord], other: dict[str, TrialRecord]) -> list[float]:
    """Per trial, the largest relative difference between its final metrics in two runs
    (inf where status or steps run differ)."""
    out = []
    for trial_id, record in reference.items():
        mine, worst = other[trial_id], 0.0
        if (mine.status, mine.steps_run) != (record.status, record.steps_run):
            out.append(math.inf)
            continue
        for name, value in record.final.items():
            theirs = mine.final.get(name, math.nan)
            if math.isfinite(value) and math.isfinite(theirs):
                worst = max(worst, abs(theirs - value) / max(abs(value), 1e-12))
            elif not (math.isnan(value) and math.isnan(theirs)) and value != theirs:
                worst = math.inf
        out.append(worst)
    return out


def benchmark(name: str, sweep, repeats: int, threads: int, stack_size: int, scratch: Path) -> None:
    n_trials = None
    plan = modes(stack_size)
    times: dict[str, list[float]] = {label: [] for label, _ in plan}
    drift: dict[str, list[float]] = {label: [] for label, _ in plan}
    for options in ({"jobs": 1, "stack_size": 1}, {"jobs": 1, "stack_size": stack_size}):
        run_once(sweep, scratch, threads, options)  # warm-up: imports, kernels built on first use
    for _ in range(repeats):
        reference = None
        for label, options in plan:
            seconds, records = run_once(sweep, scratch, threads, options)
            times[label].append(seconds)
            n_trials = len(records)
            if reference is None:
                reference = records
            else:
                drift[label] = [max(pair) for pair in itertools.zip_longest(
                    drift[label], differences(reference, records), fillvalue=0.0)]
    sequential = times[plan[0][0]]
    print(f"{name}: {n_trials} trials, best of {repeats} (ratio range over repeats)")
    for label, _ in plan:
        ratios = [s / t for s, t in zip(sequential, times[label], strict=True)]
        best = min(times[label])
        line = (f"  {label:26s} {n_trials / best:8.2f} trials/s   x{min(sequential) / best:5.2f} "
                f"({min(ratios):.2f}-{max(ratios):.2f})")
        if label != plan[0][0]:
            apart = sum(d > 1e-4 for d in drift[label])
            line += (f"   final metrics vs sequential: max rel diff {max(drift[label]):.1e}, "
                     f"{apart} trial(s) beyond 1e-4")
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", default="quadratic,embedding,mnist",
                        help=f"comma-separated, from: {', '.join(SWEEPS)}")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stack-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--mnist-dir", default=os.environ.get("ADAMLAB_DATA")
                        or str(REPO_ROOT.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  note: %(message)s")
    print(f"{os.cpu_count()} CPU(s), {args.threads} torch thread(s) per process, "
          f"stack_size {args.stack_size}, {args.repeats} repeat(s)")
    with tempfile.TemporaryDirectory(prefix="adamlab-throughput-") as scratch_dir:
        scratch = Path(scratch_dir)
        for name in args.sweeps.split(","):
            if name not in SWEEPS:
                parser.error(f"unknown sweep {name!r}; known: {', '.join(SWEEPS)}")
            if name == "mnist" and not any(Path(args.mnist_dir).glob("train-images-idx3-ubyte*")):
                print(f"mnist: skipped (no MNIST files in {args.mnist_dir}; give --mnist-dir)")
                continue
            path = scratch / f"{name}.yaml"
            path.write_text(SWEEPS[name].replace("MNIST_DIR", str(Path(args.mnist_dir).resolve())))
            benchmark(name, load_sweep(path), args.repeats, args.threads, args.stack_size, scratch)


if __name__ == "__main__":
    main()
