"""The fast paths of Adam/AdamW: the same update as `adam.adam_textbook`, fewer passes over memory.

An Adam step is memory-bound: per parameter it must read theta, g, m, v and write theta, m, v
(7 arrays; 9 with AMSGrad's v_max), and the arithmetic is a handful of flops. What costs is how
many times each array travels between memory and the cores:

- `adam_textbook` runs ~10 tensor ops per parameter tensor, each a full pass plus temporaries;
- `adam_foreach` runs the same ops as multi-tensor torch._foreach_* calls (one launch per op for
  all tensors: what CUDA wants). On the CPU it walks the tensors in cache-sized batches, so the
  passes after the first hit the cache rather than memory;
- `adam_fused` hands CPU float32/float64 tensors to the single-pass kernel in `adam_kernel`
  (each element read and written once: the bandwidth floor) and everything else to foreach.

`python -m benchmarks.optimizer_step` times all of them against torch's AdamW.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor

from adamlab.optimizers.adam import AdamHyperparameters, AdamTensors
from adamlab.optimizers.adam_kernel import FusedAdamKernel, load_kernel

#: elements per foreach batch on the CPU: theta, g, m, v of a batch (4 x 4 bytes x 96Ki = 1.5 MiB
#: for float32) stay in a core's L2 cache between the ops
CPU_BATCH_NUMEL = 96 * 1024
#: below this many elements in one call the kernel runs on one thread (forking costs more)
PARALLEL_MIN_NUMEL = 64 * 1024


def _by_device_and_dtype(tensors: AdamTensors) -> list[AdamTensors]:
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
    for i, p in enumerate(tensors.params):
        groups[(p.device, p.dtype)].append(i)
    return [tensors.subset(indices) for indices in groups.values()]


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


_ONE = torch.tensor(1.0)


def _advance(tensors: AdamTensors, hp: AdamHyperparameters) -> list[tuple[float, float]]:
    """step += 1 for every tensor; returns each tensor's (bc1, bc2) for its new t."""
    # adding a tensor, not the number 1: on CPU tensors that is one call, not one per tensor
    torch._foreach_add_(tensors.steps, _ONE, alpha=1.0)
    return [hp.bias_corrections(step.item()) for step in tensors.steps]


def adam_foreach(tensors: AdamTensors, hp: AdamHyperparameters) -> None:
    """`adam_textbook` as multi-tensor ops, per device and dtype (and per cache-sized batch on CPU)."""
    for same_kind in _by_device_and_dtype(tensors):
        corrections = _advance(same_kind, hp)
        everything = range(len(same_kind))
        on_cpu = same_kind.params[0].is_cpu
        for batch in _cache_sized_batches(same_kind.params) if on_cpu else [everything]:
            _foreach_update(same_kind.subset(batch), [corrections[i] for i in batch], hp)


def _foreach_update(
    tensors: AdamTensors, corrections: list[tuple[float, float]], hp: AdamHyperparameters
) -> None:
    theta, g, m, v = tensors.params, tensors.grads, tensors.exp_avgs, tensors.exp_avg_sqs
    if hp.maximize:
        g = torch._foreach_neg(g)
    if hp.weight_decay != 0:
        if hp.decoupled_weight_decay:
            torch._foreach_mul_(theta, 1 - hp.lr * hp.weight_decay)
        else:
            g = torch._foreach_add(g, theta, alpha=hp.weight_decay)
    torch._foreach_lerp_(m, g, 1 - hp.beta1)  # m = beta1 m + (1 - beta1) g in one pass
    torch._foreach_mul_(v, hp.beta2)
    torch._foreach_addcmul_(v, g, g, 1 - hp.beta2)
    if tensors.max_exp_avg_sqs:
        torch._foreach_maximum_(tensors.max_exp_avg_sqs, v)
        v = tensors.max_exp_avg_sqs
    # denom = sqrt(v_hat) + eps with v_hat = v / bc2; then theta -= (lr / bc1) * m / denom,
    # which is lr * m_hat / (sqrt(v_hat) + eps): eps stays where Algorithm 1 puts it
    denom = torch._foreach_mul(v, [1 / bc2 for _, bc2 in corrections])
    torch._foreach_sqrt_(denom)
    torch._foreach_add_(denom, hp.eps)
    torch._foreach_addcdiv_(theta, m, denom, [-hp.lr / bc1 for bc1, _ in corrections])


def _kernel_can_take(theta: Tensor, g: Tensor, m: Tensor, v: Tensor, v_max: Tensor | None) -> bool:
    return (
        theta.is_cpu
        and theta.dtype in (torch.float32, torch.float64)
        and g.dtype == theta.dtype
        and theta.is_contiguous() and g.is_contiguous() and m.is_contiguous()
        and v.is_contiguous() and (v_max is None or v_max.is_contiguous())
    )


def adam_fused(tensors: AdamTensors, hp: AdamHyperparameters) -> None:
    """The single-pass kernel for the tensors it takes (CPU, contiguous), foreach for the rest."""
    for_kernel: dict[torch.dtype, list[int]] = defaultdict(list)
    rest: list[int] = []
    for i, (theta, g, m, v, v_max, _) in enumerate(tensors):
        if _kernel_can_take(theta, g, m, v, v_max) and load_kernel(theta.dtype) is not None:
            for_kernel[theta.dtype].append(i)
        else:
            rest.append(i)
    for dtype, indices in for_kernel.items():
        _kernel_update(load_kernel(dtype), tensors.subset(indices), hp)
    if rest:
        adam_foreach(tensors.subset(rest), hp)


def _kernel_update(kernel: FusedAdamKernel, tensors: AdamTensors, hp: AdamHyperparameters) -> None:
    corrections = _advance(tensors, hp)
    numel = sum(p.numel() for p in tensors.params)
    threads = torch.get_num_threads() if numel >= PARALLEL_MIN_NUMEL else 1
    kernel(tensors, [bc1 for bc1, _ in corrections], [bc2 for _, bc2 in corrections], hp, threads)
