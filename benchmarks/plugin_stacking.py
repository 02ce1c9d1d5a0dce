"""A user's plain-PyTorch MLP task, 16 optimizer configurations: stacked (vmap) against one at a time.

    python -m benchmarks.plugin_stacking [--members 16] [--steps 30] [--repeats 5] [--threads 1]
                                         [--widths 64 256] [--batch-size 128] [--optimizer adam|sgd]

The task is written as a user writes one (model/batch/loss/evaluate, defined below: an MLP
64-W-W-10 with ReLU on synthetic data, batches drawn with torch's global RNG; one table per
hidden width W: at 64 per-call overheads dominate, at 256 the CPU's matrix products, which a
stack does not shrink) and driven as the
training loop drives a stack: `loss_and_grad(step)` then the optimizer's `step()`, for --steps
steps, evaluation left out. --members configurations of torch.optim.Adam (lrs 1e-4..1e-2) or SGD
with momentum, through `OptimizerStack`. Timed:

- stacked (vmap): one ModuleTask of K members on the vmap path;
- one at a time (loop path): one ModuleTask of K members, members computed one after another;
- K separate runs: K ModuleTasks of one member each, one after another (what a sweep does with
  `stack_size: 1`): the reference every ratio is against.

Each round runs every mode once, in turn (interleaved, so a busy spell on a shared machine hits
all of them alike); the table shows the median and best round. Building the tasks is outside the
timing. The machine's load average is printed with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from adamlab.optimizers.optimizer_stack import OptimizerStack
from adamlab.tasks.module_task import ONE_AT_A_TIME, VMAP, ModuleTask

FEATURES, CLASSES, EXAMPLES = 64, 10, 4096


class SyntheticMlpTask:
    """What a user writes: an MLP classifier on a fixed synthetic data set."""

    def __init__(self, *, seed: int, device, width: int = 256, batch_size: int = 128):
        generator = torch.Generator().manual_seed(seed)
        self.device = torch.device(device)
        self.x = torch.randn(EXAMPLES, FEATURES, generator=generator).to(self.device)
        teacher = torch.randn(FEATURES, CLASSES, generator=generator)
        self.y = (self.x.cpu() @ teacher).argmax(1).to(self.device)
        self.width, self.batch_size = width, batch_size

    def model(self) -> nn.Module:
        return nn.Sequential(
            nn.Linear(FEATURES, self.width), nn.ReLU(),
            nn.Linear(self.width, self.width), nn.ReLU(),
            nn.Linear(self.width, CLASSES),
        ).to(self.device)

    def batch(self, step: int):
        index = torch.randint(0, EXAMPLES, (self.batch_size,), device=self.device)
        return self.x[index], self.y[index]

    def loss(self, model, batch) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(model(x), y)

    def evaluate(self, model) -> dict[str, float]:
        with torch.no_grad():
            return {"train_accuracy": (model(self.x).argmax(1) == self.y).float().mean().item()}


def configurations(optimizer: str, members: int) -> tuple[type, list[dict]]:
    lrs = torch.logspace(-4, -2, members).tolist()
    if optimizer == "adam":
        return torch.optim.Adam, [{"lr": lr} for lr in lrs]
    return torch.optim.SGD, [{"lr": 10 * lr, "momentum": 0.9} for lr in lrs]


def build(args, width: int, members: list[dict], stacking: str, factory):
    torch.manual_seed(0)
    user_task = SyntheticMlpTask(seed=0, device="cpu", width=width, batch_size=args.batch_size)
    task = ModuleTask(user_task, members=len(members), stacking=stacking)
    return task, OptimizerStack(factory, task.tensors, members)


def train(task: ModuleTask, optimizer: OptimizerStack, steps: int) -> None:
    loss_and_grad, step_ = task.loss_and_grad, optimizer.step
    for step in range(1, steps + 1):
        loss_and_grad(step)
        step_()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=16, help="optimizer configurations (K)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median shown)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256],
                        help="hidden widths of the MLP (one table each)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    factory, members = configurations(args.optimizer, args.members)

    for width in args.widths:
        bench(args, width, factory, members)


def bench(args, width: int, factory, members: list[dict]) -> None:
    def stacked():
        task, optimizer = build(args, width, members, "vmap", factory)
        assert task.path == VMAP
        return lambda: train(task, optimizer, args.steps)

    def loop():
        task, optimizer = build(args, width, members, "loop", factory)
        assert task.path == ONE_AT_A_TIME
        return lambda: train(task, optimizer, args.steps)

    def separate():
        runs = [build(args, width, [m], "auto", factory) for m in members]
        return lambda: [train(task, optimizer, args.steps) for task, optimizer in runs]

    modes = {"stacked (vmap)": stacked, "one at a time (loop path)": loop,
             f"{args.members} separate runs": separate}
    load_before = os.getloadavg()[0]
    seconds: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, prepare in modes.items():
            run = prepare()
            started = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - started)

    reference = statistics.median(seconds[f"{args.members} separate runs"])
    print(f"\nplain-PyTorch MLP {FEATURES}-{width}-{width}-{CLASSES}, batch {args.batch_size}, "
          f"{args.members} x torch.optim.{factory.__name__}, {args.steps} steps, {args.repeats} "
          f"rounds, {torch.get_num_threads()} thread(s), torch {torch.__version__}; load average "
          f"before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'mode':<28} {'median s':>9} {'best s':>8} {'ms/step':>8} {'speed-up (median)':>18}")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>9.3f} {min(values):>8.3f} {1e3 * median / args.steps:>8.2f} "
              f"{reference / median:>17.2f}x")


if __name__ == "__main__":
    main()
