"""The single-pass Adam/AdamW kernel for CPU tensors, compiled on first use with the C compiler.

One source serves every caller: the public Adam/AdamW classes (each parameter tensor with its
group's hyperparameters and its own step count) and stacks of K members (each member's slab of
every stacked tensor with that member's hyperparameters). The kernel sees tensors cut into
slabs: tensor j is `slabs[j]` consecutive slabs of `numel[j]` elements, and slab s of tensor j
takes coefficient set `first[j] + s` (lr, beta1, beta2, eps, weight_decay, decay, t). A plain tensor is
one slab with a coefficient set of its own; a [K, ...] stacked tensor is K slabs sharing the
member coefficient sets 0..K-1.

Per element it reads theta, g, m, v once and writes theta, m, v once (plus v_max with AMSGrad):
the 7 array transfers per parameter that bound any Adam step. torch.compile (Inductor) generates
the same loop, but measured on a 2-core CPU at 10M parameters in 100 tensors, one compiled call
per tensor ran ~1.5x slower than torch's fused AdamW (call overhead), and one graph over all
tensors matched it only after 90-180 s of compiling. A C function over arrays of pointers builds
in a fraction of a second and runs in one call per step.

With `diagnose`, the same pass measures, per coefficient set, sum |theta_new - theta| and the
number of coordinates with sqrt(v_hat) < eps: the raw sums of diagnostics.py's
opt.effective_step and opt.eps_dominated, which would otherwise cost a copy of the parameters
and four more passes.

Built and cached by `c_kernels.build_shared_library` (once per machine). Without a working C
compiler with OpenMP, `load_kernel` returns None and Adam takes its multi-tensor path.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from pathlib import Path

import torch

from adamlab.optimizers.c_kernels import KernelUnavailable, build_shared_library

SOURCE = r"""
#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

typedef SCALAR scalar;

struct coefficients {
    scalar beta1, beta2, one_minus_beta1, one_minus_beta2, eps;
    scalar l2;         /* Adam: g += l2 * theta (0 for AdamW) */
    scalar shrink;     /* AdamW: theta *= 1 - decay (lr * wd, or eta_t * wd) before the update (1 for Adam) */
    scalar step_size;  /* lr / bc1 */
    scalar inv_bc2;    /* 1 / bc2 */
    scalar bc2;        /* for the diagnostics' v_hat = v / bc2, as diagnostics.py divides */
    int maximize;
};

/* This thread's share of one slab. Inlined with amsgrad and diagnose constants, so the loop of a
 * plain step carries neither branch (a branch the vectoriser turns into a ~1.6x slower loop), nor
 * the diagnostics' serial sums. A diagnosed step keeps its update loop vectorisable too: it leaves
 * each |theta_new - theta| in `moved_each` (this thread's own room, indexed like the slab) and a
 * second loop adds them up in index order, in double, as one serial sum per thread. Both loops
 * are `omp for schedule(static)` over the same n iterations in the same parallel region, which
 * OpenMP guarantees to split among the threads alike, so every thread sums exactly the
 * coordinates it updated, in their order: the sums are those of one fused serial loop, bit for
 * bit. */
static inline __attribute__((always_inline)) void adam_slab(
    int64_t n, scalar *restrict theta, const scalar *restrict g, scalar *restrict m,
    scalar *restrict v, scalar *restrict v_max, const struct coefficients c, const int amsgrad,
    const int diagnose, scalar *restrict moved_each, double *moved, int64_t *below)
{
    int64_t below_here = 0;
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
        const scalar updated = theta[i] * c.shrink - c.step_size * m_t / (SQRT(v_used * c.inv_bc2) + c.eps);
        if (diagnose) {
            const scalar delta = updated - theta[i];
            moved_each[i] = delta < 0 ? -delta : delta;
            below_here += SQRT(v_used / c.bc2) < c.eps;
        }
        theta[i] = updated;
    }
    if (diagnose) {
        double moved_here = 0.0;
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; ++i) moved_here += moved_each[i];
#pragma omp atomic
        *moved += moved_here;
#pragma omp atomic
        *below += below_here;
    }
}

#define SLAB(AMSGRAD, DIAGNOSE)                                                              \
    adam_slab(n, theta[j] + at, g[j] + at, m[j] + at, v[j] + at,                             \
              AMSGRAD ? v_max[j] + at : NULL, c, AMSGRAD, DIAGNOSE, own_moved_each,          \
              DIAGNOSE ? moved + q : NULL, DIAGNOSE ? below + q : NULL)

/* One Adam step over `count` tensors. Tensor j is slabs[j] slabs of numel[j] elements; slab s
 * uses coefficient set q = first[j] + s: lr[q], beta1[q], beta2[q], eps[q], weight_decay[q] (Adam's
 * L2), decay[q] (AdamW's shrink per step) and t[q], the step number after this step. v_max is NULL unless AMSGrad; moved/below (per
 * coefficient set, zeroed by the caller) are NULL unless the step is diagnosed, and so is
 * moved_each: room for `threads` x moved_stride values, moved_stride >= the largest numel[j]
 * (each thread its own part: with no barrier between slabs, one thread may be on the next,
 * smaller slab while another still sums this one). Each thread takes the same contiguous share
 * of every slab (static schedule, no barrier between slabs). */
void adam_step(int64_t count, scalar *const *theta, const scalar *const *g, scalar *const *m,
               scalar *const *v, scalar *const *v_max, const int64_t *numel,
               const int64_t *slabs, const int64_t *first, const double *lr,
               const double *beta1, const double *beta2, const double *eps,
               const double *weight_decay, const double *decay, const double *t, int decoupled,
               int bias_correction, int maximize, int threads, double *moved, int64_t *below,
               scalar *moved_each, int64_t moved_stride)
{
#if defined(__SSE__)
    /* every thread takes the caller's flush-to-zero / denormals-are-zero modes (MXCSR is per
     * thread, and OpenMP's threads may predate torch.set_flush_denormal) */
    const unsigned int caller_csr = _mm_getcsr();
#endif
#pragma omp parallel num_threads(threads)
    {
#if defined(__SSE__)
    const unsigned int own_csr = _mm_getcsr();
    _mm_setcsr((own_csr & ~0x8040u) | (caller_csr & 0x8040u));
#endif
    scalar *const own_moved_each = moved_each ? moved_each + omp_get_thread_num() * moved_stride : NULL;
    for (int64_t j = 0; j < count; ++j) {
        const int64_t n = numel[j];
        for (int64_t s = 0; s < slabs[j]; ++s) {
            const int64_t q = first[j] + s, at = s * n;
            const double bc1 = bias_correction ? 1.0 - pow(beta1[q], t[q]) : 1.0;
            const double bc2 = bias_correction ? 1.0 - pow(beta2[q], t[q]) : 1.0;
            const struct coefficients c = {
                .beta1 = beta1[q], .beta2 = beta2[q], .one_minus_beta1 = 1.0 - beta1[q],
                .one_minus_beta2 = 1.0 - beta2[q], .eps = eps[q],
                .l2 = decoupled ? 0.0 : weight_decay[q],
                .shrink = decoupled ? 1.0 - decay[q] : 1.0,
                .step_size = lr[q] / bc1, .inv_bc2 = 1.0 / bc2, .bc2 = bc2, .maximize = maximize,
            };
            if (moved) {
                if (v_max) SLAB(1, 1); else SLAB(0, 1);
            } else {
                if (v_max) SLAB(1, 0); else SLAB(0, 0);
            }
        }
    }
#if defined(__SSE__)
    _mm_setcsr(own_csr);
#endif
    }
}
"""

logger = logging.getLogger("adamlab.optimizers")

_SCALARS = {torch.float32: ("float", "sqrtf"), torch.float64: ("double", "sqrt")}
_Pointers = ctypes.POINTER(ctypes.c_void_p)
_Doubles = ctypes.POINTER(ctypes.c_double)
_Int64s = ctypes.POINTER(ctypes.c_int64)


class AdamKernel:
    """The compiled `adam_step` for one element type."""

    def __init__(self, library_path: Path):
        self._library = ctypes.CDLL(str(library_path))
        self.function = self._library.adam_step
        self.function.argtypes = [
            ctypes.c_int64, *[_Pointers] * 5, _Int64s, _Int64s, _Int64s, *[_Doubles] * 7,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _Doubles, _Int64s,
            ctypes.c_void_p, ctypes.c_int64,
        ]
        self.function.restype = None


@functools.cache
def _load(dtype: torch.dtype) -> AdamKernel | KernelUnavailable:
    if dtype not in _SCALARS:
        return KernelUnavailable(f"the fused Adam kernel handles float32 and float64, not {dtype}")
    scalar, sqrt = _SCALARS[dtype]
    try:
        library = build_shared_library(
            SOURCE, name=f"fused_adam_{scalar}", defines={"SCALAR": scalar, "SQRT": sqrt}
        )
        return AdamKernel(library)
    except KernelUnavailable as problem:
        return problem
    except OSError as problem:  # the library would not load
        return KernelUnavailable(f"could not load the fused Adam kernel: {problem}")


def load_kernel(dtype: torch.dtype) -> AdamKernel | None:
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
