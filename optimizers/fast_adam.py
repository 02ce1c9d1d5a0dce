"""The one fast Adam/AdamW update: `adam.adam_textbook`'s arithmetic in fewer passes over memory,
with per-slab coefficients, serving the public Adam/AdamW classes (K = 1) and stacks (K >= 1).

Tensors are cut into slabs (see `adam_kernel`): a parameter tensor of the public optimizers is
one slab whose coefficient set carries its group's hyperparameters and its own step count t; a
stacked tensor [K, ...] is K slabs, slab k taking member k's coefficient set. Bias corrections
1 - beta^t are derived from each set in float64 in one place per path (the C kernel's pow, or
Python's `**`, which is C's pow), so every caller rounds them alike.

An Adam step is memory-bound: per parameter it must read theta, g, m, v and write theta, m, v
(7 arrays; 9 with AMSGrad's v_max), and the arithmetic is a handful of flops. What costs is how
many times each array travels between memory and the cores:

- on the CPU, float32/float64 contiguous tensors go to the single-pass kernel of `adam_kernel`
  (each element read and written once: the bandwidth floor);
- everything else (CUDA, other dtypes, no C compiler) runs as multi-tensor torch._foreach_* ops
  with one scalar per slab (one launch per op for all slabs: what CUDA wants; the per-slab
  coefficients travel as kernel arguments, so a step copies nothing to the device and never
  synchronises). On the CPU it walks the slabs in cache-sized batches, so the passes after the
  first hit the cache rather than memory.

`python -m benchmarks.optimizer_step` times it against torch's fused AdamW.
"""

from __future__ import annotations

import ctypes
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from adamlab.optimizers.adam_kernel import load_kernel
from adamlab.optimizers.diagnostics import eps_dominated_counts, movement

#: elements per foreach batch on the CPU: theta, g, m, v of a batch (4 x 4 bytes x 96Ki = 1.5 MiB
#: for float32) stay in a core's L2 cache between the ops
CPU_BATCH_NUMEL = 96 * 1024
#: below this many elements in one call the kernel runs on one thread (forking costs more)
PARALLEL_MIN_NUMEL = 64 * 1024


@dataclass(frozen=True)
class AdamFlags:
    """What one call shares across all its slabs."""

    decoupled_weight_decay: bool
    amsgrad: bool
    bias_correction: bool
    maximize: bool = False


@dataclass
class Coefficients:
    """Per coefficient set (a tensor's group, or a stack member): hyperparameters and step t."""

    lr: list[float]
    beta1: list[float]
    beta2: list[float]
    eps: list[float]
    weight_decay: list[float]
    #: the step number after this step (1-based)
    t: list[float]
    #: AdamW's shrink per step (theta *= 1 - decay); None: lr * weight_decay, torch's
    decay: list[float] | None = None

    def __len__(self) -> int:
        return len(self.lr)

    def decays(self) -> list[float]:
        if self.decay is not None:
            return self.decay
        return [lr * wd for lr, wd in zip(self.lr, self.weight_decay, strict=True)]

    def bias_corrections(self, q: int, flags: AdamFlags) -> tuple[float, float]:
        """(1 - beta1^t, 1 - beta2^t) of set q, or (1, 1) without bias correction."""
        if not flags.bias_correction:
            return 1.0, 1.0
        t = self.t[q]
        return 1.0 - self.beta1[q] ** t, 1.0 - self.beta2[q] ** t


@dataclass
class SlabTensors:
    """The tensors of one call; tensor j is `slabs[j]` slabs along dim 0 (1: the whole tensor),
    slab s taking coefficient set first[j] + s."""

    params: list[Tensor]
    grads: list[Tensor]
    exp_avgs: list[Tensor]
    exp_avg_sqs: list[Tensor]
    #: one per tensor with AMSGrad, else empty
    max_exp_avg_sqs: list[Tensor]
    slabs: list[int]
    first: list[int]

    def subset(self, indices: Sequence[int]) -> SlabTensors:
        def pick(tensors: list) -> list:
            return [tensors[i] for i in indices] if tensors else []

        return SlabTensors(
            pick(self.params), pick(self.grads), pick(self.exp_avgs), pick(self.exp_avg_sqs),
            pick(self.max_exp_avg_sqs), pick(self.slabs), pick(self.first),
        )


@dataclass
class StepSums:
    """Per coefficient set: sum |theta_new - theta| and the count of sqrt(v_hat) < eps."""

    moved: list[float]
    below: list[int]

    def add(self, other: StepSums) -> None:
        self.moved = [a + b for a, b in zip(self.moved, other.moved, strict=True)]
        self.below = [a + b for a, b in zip(self.below, other.below, strict=True)]


def adam_step(
    tensors: SlabTensors, coefficients: Coefficients, flags: AdamFlags, *,
    use_kernel: bool = True, diagnose: bool = False,
) -> StepSums | None:
    """One Adam step of every slab; with `diagnose`, the per-set sums of the step (else None)."""
    sums = StepSums([0.0] * len(coefficients), [0] * len(coefficients)) if diagnose else None
    for_kernel: dict[torch.dtype, list[int]] = defaultdict(list)
    rest: list[int] = []
    for j, theta in enumerate(tensors.params):
        if use_kernel and _kernel_can_take(tensors, j) and load_kernel(theta.dtype) is not None:
            for_kernel[theta.dtype].append(j)
        else:
            rest.append(j)
    for dtype, indices in for_kernel.items():
        part = _kernel_step(tensors.subset(indices), coefficients, flags, dtype, diagnose)
        if sums is not None:
            sums.add(part)
    if rest:
        part = _foreach_step(tensors.subset(rest), coefficients, flags, diagnose)
        if sums is not None:
            sums.add(part)
    return sums


# ---------------------------------------------------------------- the kernel


def _kernel_can_take(tensors: SlabTensors, j: int) -> bool:
    theta = tensors.params[j]
    others = [tensors.exp_avgs[j], tensors.exp_avg_sqs[j]]
    if tensors.max_exp_avg_sqs:
        others.append(tensors.max_exp_avg_sqs[j])
    return (
        theta.is_cpu and theta.dtype in (torch.float32, torch.float64)
        and tensors.grads[j].dtype == theta.dtype and not tensors.grads[j].is_sparse
        and theta.is_contiguous() and all(t.is_contiguous() for t in others)
    )


def _kernel_step(
    tensors: SlabTensors, coefficients: Coefficients, flags: AdamFlags, dtype: torch.dtype,
    diagnose: bool,
) -> StepSums:
    kernel = load_kernel(dtype)
    count, sets = len(tensors.params), len(coefficients)
    grads = [g.contiguous() for g in tensors.grads]
    pointer_array = ctypes.c_void_p * count

    def pointers(ts):
        return pointer_array(*[t.data_ptr() for t in ts])

    def doubles(values):
        return (ctypes.c_double * sets)(*values)

    def int64s(values):
        return (ctypes.c_int64 * count)(*values)

    numel = sum(p.numel() for p in tensors.params)
    threads = torch.get_num_threads() if numel >= PARALLEL_MIN_NUMEL else 1
    moved = (ctypes.c_double * sets)() if diagnose else None
    below = (ctypes.c_int64 * sets)() if diagnose else None
    # room for each thread's |theta_new - theta| of one slab, which it sums after updating it
    slab_numel = [p.numel() // s for p, s in zip(tensors.params, tensors.slabs, strict=True)]
    moved_each = torch.empty(threads * max(slab_numel), dtype=dtype) if diagnose else None
    kernel.function(
        count, pointers(tensors.params), pointers(grads), pointers(tensors.exp_avgs),
        pointers(tensors.exp_avg_sqs),
        pointers(tensors.max_exp_avg_sqs) if tensors.max_exp_avg_sqs else None,
        int64s(slab_numel),
        int64s(tensors.slabs), int64s(tensors.first),
        doubles(coefficients.lr), doubles(coefficients.beta1), doubles(coefficients.beta2),
        doubles(coefficients.eps), doubles(coefficients.weight_decay),
        doubles(coefficients.decays()), doubles(coefficients.t),
        int(flags.decoupled_weight_decay), int(flags.bias_correction), int(flags.maximize),
        threads, moved, below, moved_each.data_ptr() if diagnose else None, max(slab_numel),
    )
    return StepSums(list(moved), list(below)) if diagnose else StepSums([0.0] * sets, [0] * sets)


# ---------------------------------------------------------------- multi-tensor ops


@dataclass
class _Slabs:
    """Every slab as a tensor of its own, with its coefficient set."""

    theta: list[Tensor]
    g: list[Tensor]
    m: list[Tensor]
    v: list[Tensor]
    v_max: list[Tensor]
    sets: list[int]

    def subset(self, indices: Sequence[int]) -> _Slabs:
        def pick(tensors: list) -> list:
            return [tensors[i] for i in indices] if tensors else []

        return _Slabs(pick(self.theta), pick(self.g), pick(self.m), pick(self.v),
                      pick(self.v_max), pick(self.sets))


def _cut(tensors: SlabTensors) -> _Slabs:
    out = _Slabs([], [], [], [], [], [])
    rows = [tensors.params, tensors.grads, tensors.exp_avgs, tensors.exp_avg_sqs]
    if tensors.max_exp_avg_sqs:
        rows.append(tensors.max_exp_avg_sqs)
    targets = [out.theta, out.g, out.m, out.v, out.v_max]
    for j, slabs in enumerate(tensors.slabs):
        for row, target in zip(rows, targets, strict=False):
            target.extend([row[j]] if slabs == 1 else row[j].unbind(0))
        out.sets.extend(range(tensors.first[j], tensors.first[j] + slabs))
    return out


def _cache_sized_batches(params: list[Tensor]) -> list[range]:
    """Runs of consecutive tensors of at most CPU_BATCH_NUMEL elements (or one larger tensor)."""
    batches, begin, numel = [], 0, 0
    for i, p in enumerate(params):
        if i > begin and numel + p.numel() > CPU_BATCH_NUMEL:
            batches.append(range(begin, i))
            begin, numel = i, 0
        numel += p.numel()
    batches.append(range(begin, len(params)))
    return batches


def _foreach_step(
    tensors: SlabTensors, coefficients: Coefficients, flags: AdamFlags, diagnose: bool
) -> StepSums:
    slabs = _cut(tensors)
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
    for i, theta in enumerate(slabs.theta):
        groups[(theta.device, theta.dtype)].append(i)
    sums = StepSums([0.0] * len(coefficients), [0] * len(coefficients))
    for indices in groups.values():
        same_kind = slabs.subset(indices)
        on_cpu = same_kind.theta[0].is_cpu
        batches = _cache_sized_batches(same_kind.theta) if on_cpu else [range(len(indices))]
        for batch in batches:
            part = same_kind.subset(batch)
            before = [t.clone() for t in part.theta] if diagnose else None
            v_used, bc2 = _foreach_update(part, coefficients, flags)
            if diagnose:
                eps = [coefficients.eps[q] for q in part.sets]
                for q, moved, below in zip(
                    part.sets, movement(before, part.theta), eps_dominated_counts(v_used, bc2, eps),
                    strict=True,
                ):
                    sums.moved[q] += moved
                    sums.below[q] += below
    return sums


def _foreach_update(
    slabs: _Slabs, coefficients: Coefficients, flags: AdamFlags
) -> tuple[list[Tensor], list[float]]:
    """The update of `slabs`; returns the v each slab divided by and its bc2 (for diagnostics)."""
    c = coefficients
    corrections = [c.bias_corrections(q, flags) for q in slabs.sets]

    def each(values: list[float]) -> list[float]:
        return [values[q] for q in slabs.sets]

    theta, g, m, v = slabs.theta, slabs.g, slabs.m, slabs.v
    if flags.maximize:
        g = torch._foreach_neg(g)
    weight_decay = each(c.weight_decay)
    if any(weight_decay):
        if flags.decoupled_weight_decay:
            torch._foreach_mul_(theta, [1 - decay for decay in each(c.decays())])
        else:
            g = torch._foreach_add(g, torch._foreach_mul(theta, weight_decay))
    # the kernel's expressions: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2
    torch._foreach_mul_(m, each(c.beta1))
    torch._foreach_add_(m, torch._foreach_mul(g, [1 - beta1 for beta1 in each(c.beta1)]))
    torch._foreach_mul_(v, each(c.beta2))
    torch._foreach_addcmul_(v, g, g, [1 - beta2 for beta2 in each(c.beta2)])
    if slabs.v_max:
        torch._foreach_maximum_(slabs.v_max, v)
        v = slabs.v_max
    # denom = sqrt(v_hat) + eps with v_hat = v / bc2; then theta -= (lr / bc1) * m / denom,
    # which is lr * m_hat / (sqrt(v_hat) + eps): eps stays where Algorithm 1 puts it
    denom = torch._foreach_mul(v, [1 / bc2 for _, bc2 in corrections])
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, each(c.eps))
    torch._foreach_addcdiv_(
        theta, m, denom, [-lr / bc1 for lr, (bc1, _) in zip(each(c.lr), corrections, strict=True)]
    )
    return v, [bc2 for _, bc2 in corrections]
