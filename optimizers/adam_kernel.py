"""A single-pass Adam/AdamW kernel for CPU tensors, compiled on first use with the C compiler.

Per element it reads theta, g, m, v once and writes theta, m, v once (plus v_max with AMSGrad):
the 7 array transfers per parameter that bound any Adam step. torch.compile (Inductor) generates
the same loop, but measured on a 2-core CPU at 10M parameters in 100 tensors, one compiled call
per tensor ran ~1.5x slower than torch's fused AdamW (call overhead), and one graph over all
tensors matched it only after 90-180 s of compiling. A C function over arrays of pointers builds
in a fraction of a second and runs in one call per step.

Built and cached by `c_kernels.build_shared_library` (once per machine, in ~/.cache/adamlab).
Without a working C compiler with OpenMP, `load_kernel` returns None and Adam takes its
multi-tensor path.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from pathlib import Path

import torch

from adamlab.optimizers.adam import AdamHyperparameters, AdamTensors
from adamlab.optimizers.c_kernels import KernelUnavailable, build_shared_library

SOURCE = r"""
#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef SCALAR scalar;

struct coefficients {
    scalar beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    scalar l2;         /* Adam: g += l2 * theta (0 for AdamW) */
    scalar shrink;     /* AdamW: theta *= 1 - lr * weight_decay before the update (1 for Adam) */
    scalar step_size;  /* lr / bc1 */
    scalar inv_bc2;    /* 1 / bc2 */
    int maximize;
};

/* This thread's share of one tensor. Inlined twice, with amsgrad a constant 0 or 1, so neither
 * loop carries a branch on it (a branch the vectoriser turns into a ~1.6x slower loop). */
static inline __attribute__((always_inline)) void adam_tensor(
    int64_t n, scalar *restrict theta, const scalar *restrict g, scalar *restrict m,
    scalar *restrict v, scalar *restrict v_max, const struct coefficients c, const int amsgrad)
{
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; ++i) {
        scalar g_t = c.maximize ? -g[i] : g[i];
        if (c.l2 != 0) g_t += c.l2 * theta[i];
        const scalar m_t = c.beta1 * m[i] + c.one_minus_beta1 * g_t;
        const scalar v_t = c.beta2 * v[i] + c.one_minus_beta2 * g_t * g_t;
        m[i] = m_t;
        v[i] = v_t;
        scalar v_used = v_t;
        if (amsgrad) {
            v_used = v_t > v_max[i] ? v_t : v_max[i];
            v_max[i] = v_used;
        }
        /* lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / bc1 and v_hat = v / bc2 */
        theta[i] = theta[i] * c.shrink - c.step_size * m_t / (SQRT(v_used * c.inv_bc2) + c.eps);
    }
}

/* One Adam step over `count` tensors; tensor k has numel[k] elements and bias corrections
 * bc1[k] = 1 - beta1^t, bc2[k] = 1 - beta2^t (1 without bias correction). v_max is NULL
 * unless AMSGrad. Each thread takes the same contiguous share of every tensor (static
 * schedule, no barrier between tensors). */
void adam_step(int64_t count, scalar *const *theta, const scalar *const *g, scalar *const *m,
               scalar *const *v, scalar *const *v_max, const int64_t *numel,
               const double *bc1, const double *bc2, double lr, double beta1, double beta2,
               double eps, double weight_decay, int decoupled, int maximize, int threads)
{
    struct coefficients c = {
        .beta1 = beta1, .beta2 = beta2, .one_minus_beta1 = 1.0 - beta1,
        .one_minus_beta2 = 1.0 - beta2, .eps = eps, .l2 = decoupled ? 0.0 : weight_decay,
        .shrink = decoupled ? 1.0 - lr * weight_decay : 1.0, .maximize = maximize,
    };
#pragma omp parallel num_threads(threads) firstprivate(c)
    for (int64_t k = 0; k < count; ++k) {
        c.step_size = lr / bc1[k];
        c.inv_bc2 = 1.0 / bc2[k];
        if (v_max)
            adam_tensor(numel[k], theta[k], g[k], m[k], v[k], v_max[k], c, 1);
        else
            adam_tensor(numel[k], theta[k], g[k], m[k], v[k], NULL, c, 0);
    }
}
"""

logger = logging.getLogger("adamlab.optimizers")

_SCALARS = {torch.float32: ("float", "sqrtf"), torch.float64: ("double", "sqrt")}


class FusedAdamKernel:
    """The compiled `adam_step` for one element type, callable on AdamTensors."""

    def __init__(self, library_path: Path):
        self._library = ctypes.CDLL(str(library_path))
        self._step = self._library.adam_step
        pointers = ctypes.POINTER(ctypes.c_void_p)
        doubles = ctypes.POINTER(ctypes.c_double)
        self._step.argtypes = [
            ctypes.c_int64, pointers, pointers, pointers, pointers, pointers,
            ctypes.POINTER(ctypes.c_int64), doubles, doubles,
            *[ctypes.c_double] * 5, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ]
        self._step.restype = None

    def __call__(
        self, tensors: AdamTensors, bc1: list[float], bc2: list[float],
        hp: AdamHyperparameters, threads: int,
    ) -> None:
        count = len(tensors)
        pointer_array = ctypes.c_void_p * count
        doubles = ctypes.c_double * count

        def pointers(ts):
            return pointer_array(*[t.data_ptr() for t in ts])

        self._step(
            count, pointers(tensors.params), pointers(tensors.grads), pointers(tensors.exp_avgs),
            pointers(tensors.exp_avg_sqs),
            pointers(tensors.max_exp_avg_sqs) if tensors.max_exp_avg_sqs else None,
            (ctypes.c_int64 * count)(*[p.numel() for p in tensors.params]),
            doubles(*bc1), doubles(*bc2), hp.lr, hp.beta1, hp.beta2, hp.eps, hp.weight_decay,
            int(hp.decoupled_weight_decay), int(hp.maximize), threads,
        )


@functools.cache
def _load(dtype: torch.dtype) -> FusedAdamKernel | KernelUnavailable:
    if dtype not in _SCALARS:
        return KernelUnavailable(f"the fused Adam kernel handles float32 and float64, not {dtype}")
    scalar, sqrt = _SCALARS[dtype]
    try:
        library = build_shared_library(
            SOURCE, name=f"fused_adam_{scalar}", defines={"SCALAR": scalar, "SQRT": sqrt}
        )
        return FusedAdamKernel(library)
    except KernelUnavailable as problem:
        return problem
    except OSError as problem:  # the library would not load
        return KernelUnavailable(f"could not load the fused Adam kernel: {problem}")


def load_kernel(dtype: torch.dtype) -> FusedAdamKernel | None:
    """The kernel for `dtype` (built once per machine, then loaded once per process), or None.

    None means Adam's `auto` path falls back to tensor ops: said once per process in the log
    (logger "adamlab.optimizers"), and recorded in each trial's environment.implementation.
    """
    kernel = _load(dtype)
    if isinstance(kernel, KernelUnavailable):
        _log_fallback_once(str(kernel))
        return None
    return kernel


def kernel_problem(dtype: torch.dtype) -> KernelUnavailable | None:
    """Why the kernel for `dtype` is not available here, or None when it is."""
    kernel = _load(dtype)
    return kernel if isinstance(kernel, KernelUnavailable) else None


_fallback_logged = False


def _log_fallback_once(reason: str) -> None:
    global _fallback_logged  # once per process, whichever dtype asked first
    if not _fallback_logged:
        _fallback_logged = True
        logger.warning("adamlab: the fused Adam kernel is unavailable (%s); using tensor ops", reason)


def require_kernel() -> None:
    """Raise KernelUnavailable, saying why, unless the kernel builds for float32 and float64."""
    for dtype in _SCALARS:
        kernel = _load(dtype)
        if isinstance(kernel, KernelUnavailable):
            raise KernelUnavailable(str(kernel))
