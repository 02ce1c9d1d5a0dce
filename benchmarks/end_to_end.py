"""End-to-end wall time of one sweep, each run a whole process: a hand-written torch loop against
adamlab with default flags and with its explicit modes, measured in the same run.

    python -m benchmarks.end_to_end                       # quadratic, embedding and MNIST sweeps
    python -m benchmarks.end_to_end --sweeps quadratic --repeats 7

Sweeps (all on the CPU):
- quadratic: 32 Adam configurations (8 lr x 4 beta2) of the DeepOBS quadratic (100-d, rotated,
  noisy), 1,000 steps, batch 128, one seed;
- embedding: 14 configurations (7 SGD lr + 7 Adam lr) of a 10,000 x 16 Zipf embedding table,
  300 steps of 1,024 tokens;
- mnist: 8 Adam configurations (4 lr x 2 weight decay) of a 784-256-10 MLP, 300 steps of 128
  (needs the MNIST IDX files in $ADAMLAB_DATA).

The hand loop is what a user would write without adamlab: import torch, build the problem, and
for each configuration train a torch.optim optimizer with autograd, logging the loss every 10
steps and evaluating at the end. Each figure is the wall time of a whole process (interpreter
start, imports, the sweep, writing results), the median (and best) of --repeats runs; the ratio
is the hand loop's median over the mode's (above 1: faster than the hand loop). Modes:
`adamlab` (defaults: automatic stacks, --jobs and --threads) and the explicit choices on two
cores: `--jobs 1 --threads 1`, `--jobs 1 --threads 2`, `--jobs 2 --threads 1`. Each sweep ends
with default / best explicit, which automatic choices keep at 1 up to noise. adamlab's modules
are compiled to bytecode first, as an installed package's are (benchmarks.bytecode).

Where the MNIST sweep's time goes (one process, one core: `taskset -c 1`, --jobs 1 --threads 1,
the development machine's other core busy; two runs): interpreter and CLI imports 0.1 s; torch
and the training loop imported 1.6-1.8 s, while a thread decompresses the MNIST files; building
the 8-member stack 0.2 s (the data's conversion to float; 0.3-0.4 s without reading ahead);
training 5.5 s, of which evaluation 0.9 s (validation and test sets: twice the images the hand
loop evaluates) and a step of all 8 members 13 ms (the hand loop's 8 steps: 17 ms; at two
threads 7.3 ms against 9.7-11.4 ms); the tables 0.35-0.4 s (importing pandas ~0.2 s of it);
exit 0.1 s (the interpreter's teardown, 0.85-0.9 s with torch loaded, is skipped by the
command). The hand loop pays torch.optim's first-step import of torch._dynamo (~0.5-1 s) and the
teardown, which adamlab does not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.bytecode import compile_bytecode

SWEEPS = {
    "quadratic": """\
        name: e2e-quadratic
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
        name: e2e-embedding
        seeds: [0]
        steps: 300
        batch_size: 1024
        eval_every: 300
        tasks:
          - name: embedding_sparsity
        optimizers:
          - name: sgd
            lr: {logspace: [0.1, 100, 7]}
          - name: adam
            lr: {logspace: [0.001, 1, 7]}
        """,
    "mnist": """\
        name: e2e-mnist
        seeds: [0]
        steps: 300
        eval_every: 300
        tasks:
          - name: mnist_mlp
            params: {download: false}
        optimizers:
          - name: adam
            lr: [1.0e-4, 3.0e-4, 1.0e-3, 3.0e-3]
            weight_decay: [0.0, 1.0e-4]
        """,
}

HAND_LOOPS = {
    "quadratic": """\
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
                theta = torch.ones(dim, requires_grad=True)
                optimizer = torch.optim.Adam([theta], lr=lr, betas=(0.9, beta2))
                for step in range(1, steps + 1):
                    centre = torch.randn(dim, generator=generator) * (0.6 / math.sqrt(batch))
                    optimizer.zero_grad()
                    residual = theta - centre
                    loss = 0.5 * residual @ hessian @ residual
                    loss.backward()
                    optimizer.step()
                    if step == 1 or step % 10 == 0:
                        rows.append((lr, beta2, step, loss.item()))
                with torch.no_grad():
                    rows.append((lr, beta2, steps, float(0.5 * theta @ hessian @ theta)))
        with open(sys.argv[1], "w", newline="") as f:
            csv.writer(f).writerows(rows)
        """,
    "embedding": """\
        import csv, sys, torch
        torch.manual_seed(0)
        vocab, dim, steps, batch = 10_000, 16, 300, 1024
        p = torch.arange(1, vocab + 1, dtype=torch.float64) ** -1.0
        p /= p.sum()
        teacher = torch.randn(vocab, dim)
        initial = torch.randn(vocab, dim)
        rows = []
        configs = [("sgd", lr) for lr in torch.logspace(-1, 2, 7).tolist()]
        configs += [("adam", lr) for lr in torch.logspace(-3, 0, 7).tolist()]
        for name, lr in configs:
            generator = torch.Generator().manual_seed(0)
            table = torch.nn.Embedding.from_pretrained(initial.clone(), freeze=False)
            if name == "sgd":
                optimizer = torch.optim.SGD(table.parameters(), lr=lr)
            else:
                optimizer = torch.optim.Adam(table.parameters(), lr=lr)
            for step in range(1, steps + 1):
                ids = torch.multinomial(p, batch, replacement=True, generator=generator)
                optimizer.zero_grad()
                loss = 0.5 * (table(ids) - teacher[ids]).square().sum(dim=1).mean()
                loss.backward()
                optimizer.step()
                if step == 1 or step % 10 == 0:
                    rows.append((name, lr, step, loss.item()))
            with torch.no_grad():
                squared = (table.weight - teacher).square().sum(dim=1)
                rows.append((name, lr, steps, float(0.5 * (p.float() * squared).sum())))
        with open(sys.argv[1], "w", newline="") as f:
            csv.writer(f).writerows(rows)
        """,
    "mnist": """\
        import csv, gzip, os, sys
        from pathlib import Path
        import numpy as np, torch
        import torch.nn.functional as F
        folder = Path(os.environ["ADAMLAB_DATA"])
        def idx(name):
            path = next(p for p in (folder / name, folder / (name + ".gz"), folder / "mnist" / name,
                                    folder / "mnist" / (name + ".gz")) if p.exists())
            data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
            return torch.from_numpy(np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape).copy())
        train_x = idx("train-images-idx3-ubyte").reshape(-1, 784).float() / 255
        train_y = idx("train-labels-idx1-ubyte").long()
        test_x = idx("t10k-images-idx3-ubyte").reshape(-1, 784).float() / 255
        test_y = idx("t10k-labels-idx1-ubyte").long()
        steps, batch = 300, 128
        rows = []
        for lr in (1e-4, 3e-4, 1e-3, 3e-3):
            for weight_decay in (0.0, 1e-4):
                torch.manual_seed(0)
                model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                            torch.nn.Linear(256, 10))
                optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
                generator = torch.Generator().manual_seed(0)
                order = torch.randperm(len(train_y), generator=generator)
                for step in range(1, steps + 1):
                    at = (step - 1) * batch % (len(order) - batch)
                    ids = order[at:at + batch]
                    optimizer.zero_grad()
                    loss = F.cross_entropy(model(train_x[ids]), train_y[ids])
                    loss.backward()
                    optimizer.step()
                    if step == 1 or step % 10 == 0:
                        rows.append((lr, weight_decay, step, loss.item()))
                with torch.no_grad():
                    logits = model(test_x)
                    rows.append((lr, weight_decay, steps, F.cross_entropy(logits, test_y).item(),
                                 (logits.argmax(1) == test_y).float().mean().item()))
        with open(sys.argv[1], "w", newline="") as f:
            csv.writer(f).writerows(rows)
        """,
}

DEFAULT = "adamlab (defaults)"
#: the explicit choices automatic --jobs/--threads must not lose to (two cores: one process with
#: one or two threads, two workers with one thread each)
EXPLICIT = {
    "adamlab --jobs 1 --threads 1": ["--jobs", "1", "--threads", "1"],
    "adamlab --jobs 1 --threads 2": ["--jobs", "1", "--threads", "2"],
    "adamlab --jobs 2 --threads 1": ["--jobs", "2", "--threads", "1"],
}
MODES = {
    DEFAULT: [],
    **EXPLICIT,
}


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def measure(sweep: str, repeats: int, scratch: Path) -> dict[str, list[float]]:
    """Wall times of every mode (and the hand loop), interleaved round by round."""
    config = scratch / f"{sweep}.yaml"
    config.write_text(textwrap.dedent(SWEEPS[sweep]))
    hand = scratch / f"{sweep}_hand.py"
    hand.write_text(textwrap.dedent(HAND_LOOPS[sweep]))
    env = dict(os.environ)
    adamlab = [sys.executable, "-m", "adamlab.cli.app"]
    times: dict[str, list[float]] = {"hand-written torch loop": [], **{mode: [] for mode in MODES}}
    names = list(times)
    for round_ in range(repeats):
        # each round starts one further along, so no mode always follows the same one
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            if name == "hand-written torch loop":
                command = [sys.executable, str(hand), str(scratch / f"{sweep}_hand.csv")]
            else:
                out = scratch / f"{sweep}-{round_}-{names.index(name)}"
                command = [*adamlab, "sweep", str(config), "--out", str(out), "--quiet", *MODES[name]]
            times[name].append(_timed(command, env))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweeps", nargs="+", choices=list(SWEEPS), default=list(SWEEPS))
    parser.add_argument("--repeats", type=int, default=5, help="runs per mode (median reported)")
    args = parser.parse_args(argv)
    console = Console()
    if "mnist" in args.sweeps and not os.environ.get("ADAMLAB_DATA"):
        console.print("mnist: set ADAMLAB_DATA to the folder with the MNIST IDX files; skipped")
        args.sweeps.remove("mnist")
    compile_bytecode(sys.executable)
    with tempfile.TemporaryDirectory() as scratch:
        for sweep in args.sweeps:
            times = measure(sweep, args.repeats, Path(scratch))
            hand = statistics.median(times["hand-written torch loop"])
            table = Table(title=f"{sweep}: whole-process wall time, {args.repeats} runs each")
            table.add_column("mode", no_wrap=True)
            for column in ("median s", "best s", "hand loop / mode (median)"):
                table.add_column(column, justify="right")
            for mode, values in times.items():
                median = statistics.median(values)
                table.add_row(mode, f"{median:.2f}", f"{min(values):.2f}", f"{hand / median:.2f}x")
            console.print(table)
            best = min(EXPLICIT, key=lambda mode: statistics.median(times[mode]))
            default = statistics.median(times[DEFAULT])
            console.print(f"{sweep}: default / best explicit ({best}) = "
                          f"{default / statistics.median(times[best]):.2f} (at most 1 + noise)")


if __name__ == "__main__":
    main()
