"""What the sweep runner adds per step: `run_trial` against a bare training loop, in one run.

    python -m benchmarks.runner_overhead [--steps N] [--repeats R] [--threads T]

Both loops train the same quadratic with the same registry optimizer. The bare loop is only
`grad = None; loss_and_grad(step); optimizer.step()`. `run_trial` adds the per-step divergence
check (one `.item()` on CPU), the log-step bookkeeping (train_loss, step metrics and optimizer
diagnostics every --log-every steps), building the task and optimizer, and the final evaluation.
Printed: steps/s of each and the ratio runner/bare (1.00 = no overhead). Best of --repeats
interleaved runs, so a busy spell on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from adamlab.optimizers.registry import build_optimizer, get_spec
from adamlab.sweep.runner import run_trial
from adamlab.sweep.trials import Trial
from adamlab.tasks.quadratic import QuadraticTask


def bare_loop(params, optimizer_name: str, hparams: dict, steps: int) -> None:
    task = QuadraticTask(params, seed=0, device=torch.device("cpu"), batch_size=32)
    optimizer = build_optimizer(optimizer_name, task.param_groups(), **hparams)
    theta, loss_and_grad, step_ = task.theta, task.loss_and_grad, optimizer.step
    for step in range(1, steps + 1):
        theta.grad = None
        loss_and_grad(step)
        step_()


def runner_loop(trial: Trial) -> None:
    record = run_trial(trial, "bench").record
    assert record.status == "finished", record.error


def best_of(repeats: int, *runs) -> list[float]:
    best = [float("inf")] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-every", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"quadratic, {args.steps} steps, log every {args.log_every}, {args.threads} thread(s)")
    print(f"{'task':<10} {'optimizer':<9} {'bare steps/s':>13} {'runner steps/s':>15} {'runner/bare time':>17}")
    for label, task_params in [("dim 10", {"dim": 10}), ("deepobs", {"preset": "deepobs"})]:
        params = QuadraticTask.Params.model_validate(task_params)
        for optimizer_name in ("sgd", "adam"):
            hparams = dict(get_spec(optimizer_name).defaults)
            trial = Trial(
                task="quadratic", task_params=params.model_dump(mode="json"), optimizer=optimizer_name,
                hparams=hparams, seed=0, steps=args.steps, batch_size=32, log_every=args.log_every,
                eval_every=args.steps, divergence_factor=1e3, device="cpu",
            )
            bare, runner = best_of(
                args.repeats,
                partial(bare_loop, params, optimizer_name, hparams, args.steps),
                partial(runner_loop, trial),
            )
            print(f"{label:<10} {optimizer_name:<9} {args.steps / bare:>13,.0f} "
                  f"{args.steps / runner:>15,.0f} {runner / bare:>17.3f}")


if __name__ == "__main__":
    main()
