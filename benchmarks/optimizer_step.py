"""Time one AdamW step: adamlab's implementations against torch's, and the memory-bandwidth floor.

    python -m benchmarks.optimizer_step [--params 10e6] [--tensors 100] [--repeats 15]
                                        [--steps 5] [--threads N]

A model of --params float32 parameters split into --tensors equal tensors, each with a fixed
gradient. Timed, each on its own copy of the parameters: torch.optim.AdamW with fused=True (the
reference every ratio is against), foreach=True and foreach=False (single-tensor), and adamlab's
AdamW with implementation "fused", "foreach" and "plain". The floor is the time to move the 7
float32 arrays an Adam step must move per parameter (read theta, g, m, v; write theta, m, v) at
the copy bandwidth measured in the same run (tensor.copy_ over --params floats, counted as 2
arrays moved; the CPU also reads the destination before writing it, so the floor errs high).

Every round times each variant for --steps steps, in turn, so a busy spell on a shared machine
hits all of them alike; the table shows the median and the best round per step. On a machine
shared with other processes the 2-thread figures swing widely (an OpenMP thread that loses its
core stalls every parallel loop); --threads 1 gives steadier ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from rich.console import Console
from rich.table import Table

from adamlab.optimizers.adam import AdamW
from adamlab.optimizers.adam_kernel import load_kernel

REFERENCE = "torch fused"
ARRAYS_MOVED = 7  # read theta, g, m, v; write theta, m, v


def make_params(numel: int, count: int, grads: list[torch.Tensor]) -> list[torch.Tensor]:
    params = [torch.nn.Parameter(torch.randn(numel // count)) for _ in range(count)]
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    return params


def optimizers(numel: int, count: int) -> dict[str, torch.optim.Optimizer]:
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(numel // count, generator=gen) for _ in range(count)]
    torch_variants = {"fused": dict(fused=True), "foreach": dict(foreach=True),
                      "single-tensor": dict(foreach=False)}
    built = {f"torch {name}": torch.optim.AdamW(make_params(numel, count, grads), **kwargs)
             for name, kwargs in torch_variants.items()}
    for implementation in ("fused", "foreach", "plain"):
        if implementation == "fused" and load_kernel(torch.float32) is None:
            continue
        built[f"adamlab {implementation}"] = AdamW(
            make_params(numel, count, grads), implementation=implementation
        )
    return built


def timed_rounds(runs: dict[str, Callable[[], None]], repeats: int, steps: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            for _ in range(steps):
                run()
            seconds[name].append((time.perf_counter() - started) / steps)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=float, default=10e6, help="parameters in the model")
    parser.add_argument("--tensors", type=int, default=100, help="tensors they are split into")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds")
    parser.add_argument("--steps", type=int, default=5, help="optimizer steps per variant per round")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    numel, count = int(args.params), args.tensors
    if count < 1 or numel < count:
        parser.error("need --tensors >= 1 and --params >= --tensors")

    runs: dict[str, Callable[[], None]] = {name: opt.step for name, opt in optimizers(numel, count).items()}
    source, target = torch.randn(numel), torch.empty(numel)
    runs["copy"] = lambda: target.copy_(source)
    for run in runs.values():  # warm-up: state allocation, kernel build, page faults
        run()
        run()
    seconds = timed_rounds(runs, args.repeats, args.steps)

    # the floor: ARRAYS_MOVED arrays at the bandwidth each copy round achieved (a copy moves 2)
    copy_seconds = seconds.pop("copy")
    bandwidth = 2 * numel * source.element_size() / statistics.median(copy_seconds)
    floor_label = f"floor: {ARRAYS_MOVED} arrays, {bandwidth / 1e9:.1f} GB/s"
    seconds[floor_label] = [t * ARRAYS_MOVED / 2 for t in copy_seconds]
    reference, reference_best = statistics.median(seconds[REFERENCE]), min(seconds[REFERENCE])

    table = Table(
        title=f"AdamW step: {numel / 1e6:g}M float32 params in {count} tensors, "
              f"{torch.get_num_threads()} threads, {args.repeats}x{args.steps} steps",
        caption=f"x fused: time / {REFERENCE}'s (median / best round)",
    )
    table.add_column("variant")
    table.add_column("median ms", justify="right")
    table.add_column("best ms", justify="right")
    table.add_column("x fused (median)", justify="right")
    table.add_column("(best)", justify="right")
    for name, times in sorted(seconds.items(), key=lambda item: statistics.median(item[1])):
        median, best = statistics.median(times), min(times)
        table.add_row(name, f"{median * 1e3:.2f}", f"{best * 1e3:.2f}", f"{median / reference:.2f}",
                      f"{best / reference_best:.2f}", style="dim" if name == floor_label else None)
    console = Console()
    console.print(table)
    default = "fused" if "adamlab fused" in seconds else "foreach (no C compiler with OpenMP here)"
    console.print(f"adamlab's default (implementation='auto') on this machine: {default}")


if __name__ == "__main__":
    main()
