"""How fast the tasks train, each against a hand-written reference measured in the same run.

    python -m benchmarks.task_speed [--threads N] [--mnist-dir DIR] [--repeats R]

- quadratic: steps/s of the runner's loop (zero_grad, loss_and_grad, optimizer step) against the
  optimizer alone stepping on a fixed gradient: the ratio is what the task adds per step.
- mnist_mlp: seconds per epoch (batch 128, Adam) against a plain nn.Sequential loop over the same
  tensors; plus the one-off cost of reading and converting the IDX files.
- embedding_sparsity: steps/s against a plain nn.Embedding loop on precomputed token ids.

Each timing is the best of --repeats runs, the runs of a comparison interleaved. On a 2-core machine shared with other processes, use
--threads 1: torch's two OpenMP threads stall badly when another process holds one core.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from adamlab.tasks import mnist_data
from adamlab.tasks.embedding_sparsity import EmbeddingSparsityTask
from adamlab.tasks.mnist_mlp import MnistMlpTask
from adamlab.tasks.quadratic import QuadraticTask

CPU = torch.device("cpu")
REPO_ROOT = Path(__file__).resolve().parents[1]


def best_of(repeats: int, *runs) -> list[float]:
    """Best time of each of ``runs``, run in turn ``repeats`` times (interleaved, so a busy spell
    on a shared machine hits all of them alike)."""
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def runner_loop(task, optimizer, steps: int, first_step: int = 1) -> None:
    loss_and_grad, step_ = task.loss_and_grad, optimizer.step
    for step in range(first_step, first_step + steps):
        optimizer.zero_grad(set_to_none=True)
        loss_and_grad(step)
        step_()


def bench_quadratic(repeats: int) -> None:
    steps = 10_000
    print(f"quadratic ({steps} steps; ratio = optimizer-alone time / runner-loop time)")
    for label, params in [("dim 10", {"dim": 10}), ("deepobs", {"preset": "deepobs"})]:
        for opt_name, make in [("SGD", lambda p: torch.optim.SGD(p, lr=1e-3)),
                               ("Adam", lambda p: torch.optim.Adam(p, lr=1e-3))]:
            task = QuadraticTask(QuadraticTask.Params(**params), seed=0, device=CPU, batch_size=128)
            optimizer = make(task.param_groups())
            gradient = torch.zeros_like(task.theta)

            def alone(task=task, optimizer=optimizer, gradient=gradient):
                for _ in range(steps):
                    optimizer.zero_grad(set_to_none=True)
                    task.theta.grad = gradient
                    optimizer.step()

            def loop(task=task, optimizer=optimizer):
                runner_loop(task, optimizer, steps)

            def task_only(task=task):
                for step in range(1, steps + 1):
                    task.loss_and_grad(step)
                    task.theta.grad = None

            loop()  # warm-up (noise blocks, optimizer state)
            t_ref, t_loop, t_task = best_of(repeats, alone, loop, task_only)
            print(f"  {label:14s} {opt_name:5s} runner loop {steps / t_loop:9.0f} steps/s | "
                  f"optimizer alone {steps / t_ref:9.0f} | loss_and_grad alone {steps / t_task:9.0f} | "
                  f"ratio {t_ref / t_loop:.2f}")


def bench_mnist(mnist_dir: Path, repeats: int) -> None:
    print(f"mnist_mlp (784-256-10, ReLU, batch 128, Adam lr 1e-3; data {mnist_dir})")
    mnist_data._load.cache_clear()
    params = MnistMlpTask.Params(data_dir=str(mnist_dir), download=False)
    started = time.perf_counter()
    task = MnistMlpTask(params, seed=0, device=CPU, batch_size=128)
    print(f"  first load (read, gunzip, convert): {time.perf_counter() - started:.2f} s; "
          f"cached: ", end="")
    started = time.perf_counter()
    MnistMlpTask(params, seed=1, device=CPU, batch_size=128)
    print(f"{(time.perf_counter() - started) * 1e3:.1f} ms")
    steps = task.steps_per_epoch
    data = task.data

    def task_epoch():
        fresh = MnistMlpTask(params, seed=0, device=CPU, batch_size=128)
        runner_loop(fresh, torch.optim.Adam(fresh.param_groups(), lr=1e-3), steps)

    def reference_epoch():
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        order = torch.randperm(data.train_images.shape[0])
        for step in range(steps):
            batch = order[step * 128 : (step + 1) * 128]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(data.train_images[batch]), data.train_labels[batch]).backward()
            optimizer.step()

    t_ref, t_task = best_of(repeats, reference_epoch, task_epoch)
    started = time.perf_counter()
    task.evaluate()
    t_eval = time.perf_counter() - started
    print(f"  one epoch ({steps} steps): task {t_task:.2f} s | hand-written loop {t_ref:.2f} s | "
          f"ratio {t_ref / t_task:.2f} | evaluate (10000 test images) {t_eval * 1e3:.0f} ms")


def bench_embedding(repeats: int) -> None:
    steps = 1000
    print(f"embedding_sparsity (10000 x 16, batch 128, SGD, {steps} steps)")
    for sparse in (False, True):
        params = EmbeddingSparsityTask.Params(sparse=sparse)
        task = EmbeddingSparsityTask(params, seed=0, device=CPU, batch_size=128)
        ids = torch.stack([task.tokens.at(step) for step in range(1, steps + 1)])
        teacher = task.teacher

        def loop(task=task):
            runner_loop(task, torch.optim.SGD(task.param_groups(), lr=0.5), steps)

        def reference(sparse=sparse, ids=ids, teacher=teacher):
            table = torch.nn.Embedding(10_000, 16, sparse=sparse)
            optimizer = torch.optim.SGD(table.parameters(), lr=0.5)
            for batch in ids:
                optimizer.zero_grad(set_to_none=True)
                (0.5 * (table(batch) - teacher[batch]).square().sum(1).mean()).backward()
                optimizer.step()

        t_ref, t_loop = best_of(repeats, reference, loop)
        print(f"  sparse={sparse!s:5s} runner loop {steps / t_loop:7.0f} steps/s | "
              f"hand-written loop {steps / t_ref:7.0f} | ratio {t_ref / t_loop:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist-dir", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--skip", nargs="*", default=[], choices=["quadratic", "mnist", "embedding"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if "quadratic" not in args.skip:
        bench_quadratic(args.repeats)
    if "mnist" not in args.skip:
        if mnist_data.find_mnist_files(args.mnist_dir) is None:
            print(f"mnist_mlp: skipped, no MNIST files under {args.mnist_dir} (--mnist-dir)")
        else:
            bench_mnist(args.mnist_dir, args.repeats)
    if "embedding" not in args.skip:
        bench_embedding(args.repeats)


if __name__ == "__main__":
    main()
