"""A single-pass Adam/AdamW kernel for a stack of K models, each member with its own hyperparameters.

The update is `adam_kernel`'s, element for element (same expression, same rounding), with the
coefficients looked up per member: member k's slab of every stacked tensor [K, n] is updated
with lr[k], beta1[k], beta2[k], eps[k], weight_decay[k] and its bias corrections
1 - beta^t computed with C's pow, as Python's `beta ** t` does for the one-trial optimizer.
One call per step updates every member of every tensor, reading theta, g, m, v once and writing
theta, m, v once: a stack of embedding tables costs what its members cost one at a time, never
the ~10 passes over memory of the same update written as tensor ops. At log steps the same pass
also measures each member's opt.effective_step and opt.eps_dominated (diagnostics.py's
definitions), which would otherwise cost a copy of the parameters and four more passes.

Built on first use with the C compiler and cached like `adam_kernel` (under
$XDG_CACHE_HOME/adamlab or ~/.cache/adamlab, keyed by source, flags, compiler and CPU, written
atomically); without a compiler `load_stacked_kernel` returns None and the stack uses tensor ops.
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch

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
    scalar bc2;        /* for the diagnostics' v_hat = v / bc2, as diagnostics.py divides */
};

/* This thread's share of one member's slab of one tensor. Inlined with amsgrad and diagnose
 * constants, so the loop of a plain step carries neither branch (nor the diagnostics' serial
 * sums, which keep it from vectorising). With diagnose, adds sum |theta_new - theta| to *moved
 * and the count of sqrt(v_hat) < eps to *below (diagnostics.py's opt.effective_step and
 * opt.eps_dominated, measured in the same pass instead of from a copy of the parameters). */
static inline __attribute__((always_inline)) void adam_slab(
    int64_t n, scalar *restrict theta, const scalar *restrict g, scalar *restrict m,
    scalar *restrict v, scalar *restrict v_max, const struct coefficients c, const int amsgrad,
    const int diagnose, double *moved, int64_t *below)
{
    double moved_here = 0.0;
    int64_t below_here = 0;
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; ++i) {
        scalar g_t = g[i];
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
            moved_here += delta < 0 ? -delta : delta;
            below_here += SQRT(v_used / c.bc2) < c.eps;
        }
        theta[i] = updated;
    }
    if (diagnose) {
#pragma omp atomic
        *moved += moved_here;
#pragma omp atomic
        *below += below_here;
    }
}

#define SLAB(AMSGRAD, DIAGNOSE)                                                              \
    adam_slab(n, theta[j] + at, g[j] + at, m[j] + at, v[j] + at,                             \
              AMSGRAD ? v_max[j] + at : NULL, c, AMSGRAD, DIAGNOSE,                          \
              DIAGNOSE ? moved + k : NULL, DIAGNOSE ? below + k : NULL)

/* One Adam step of `members` models over `count` stacked tensors: tensor j holds the members'
 * slabs of numel[j] elements one after another. Per-member hyperparameters are arrays of
 * length `members`; t is the step number after this step. v_max is NULL unless AMSGrad.
 * moved/below (per member, zeroed by the caller) are NULL unless the step is diagnosed. */
void stacked_adam_step(int64_t members, int64_t count, scalar *const *theta,
                       const scalar *const *g, scalar *const *m, scalar *const *v,
                       scalar *const *v_max, const int64_t *numel, double t, const double *lr,
                       const double *beta1, const double *beta2, const double *eps,
                       const double *weight_decay, int decoupled, int bias_correction, int threads,
                       double *moved, int64_t *below)
{
#pragma omp parallel num_threads(threads)
    for (int64_t k = 0; k < members; ++k) {
        const double bc1 = bias_correction ? 1.0 - pow(beta1[k], t) : 1.0;
        const double bc2 = bias_correction ? 1.0 - pow(beta2[k], t) : 1.0;
        const struct coefficients c = {
            .beta1 = beta1[k], .beta2 = beta2[k], .one_minus_beta1 = 1.0 - beta1[k],
            .one_minus_beta2 = 1.0 - beta2[k], .eps = eps[k],
            .l2 = decoupled ? 0.0 : weight_decay[k],
            .shrink = decoupled ? 1.0 - lr[k] * weight_decay[k] : 1.0,
            .step_size = lr[k] / bc1, .inv_bc2 = 1.0 / bc2, .bc2 = bc2,
        };
        for (int64_t j = 0; j < count; ++j) {
            const int64_t n = numel[j], at = k * n;
            if (moved) {
                if (v_max) SLAB(1, 1); else SLAB(0, 1);
            } else {
                if (v_max) SLAB(1, 0); else SLAB(0, 0);
            }
        }
    }
}
"""

_SCALARS = {torch.float32: ("float", "sqrtf"), torch.float64: ("double", "sqrt")}

_Pointers = ctypes.POINTER(ctypes.c_void_p)
_Doubles = ctypes.POINTER(ctypes.c_double)


class StackedAdamCall:
    """The kernel's arguments for one set of stacked tensors, built once; per step only the step
    number, the gradients (autograd may hand out new ones each step) and the thread count change.

    Parameters and moments are updated in place, so their addresses hold until the stack is
    rebuilt (a member dropped); then make a new call object.
    """

    def __init__(
        self, kernel: StackedAdamKernel, params: list[torch.Tensor], exp_avgs: list[torch.Tensor],
        exp_avg_sqs: list[torch.Tensor], max_exp_avg_sqs: list[torch.Tensor],
        hparams: dict[str, list[float]], *, decoupled: bool, bias_correction: bool,
    ):
        members, count = params[0].shape[0], len(params)
        self._count = count

        def doubles(values):
            return (ctypes.c_double * members)(*values)

        # the tensors are referenced here so their memory outlives the pointers
        self._tensors = (params, exp_avgs, exp_avg_sqs, max_exp_avg_sqs)
        self._function = kernel.function
        self._theta = self._pointers(params)
        self._moments = (
            self._pointers(exp_avgs), self._pointers(exp_avg_sqs),
            self._pointers(max_exp_avg_sqs) if max_exp_avg_sqs else None,
            (ctypes.c_int64 * count)(*[p[0].numel() for p in params]),
        )
        self._members = members
        self._hparams = tuple(
            doubles(hparams[name]) for name in ("lr", "beta1", "beta2", "eps", "weight_decay")
        )
        self._flags = (int(decoupled), int(bias_correction))

    def _pointers(self, tensors: list[torch.Tensor]):
        return (ctypes.c_void_p * self._count)(*[t.data_ptr() for t in tensors])

    def __call__(
        self, t: int, grads: list[torch.Tensor], threads: int, *, diagnose: bool = False
    ) -> tuple[list[float], list[int]] | None:
        """Step t (1-based, after this step) from `grads` (contiguous, the parameters' dtype).

        With `diagnose`, returns per member (sum |theta_new - theta| over all coordinates, the
        number of coordinates where sqrt(v_hat) < eps), measured in the same pass.
        """
        moved = (ctypes.c_double * self._members)() if diagnose else None
        below = (ctypes.c_int64 * self._members)() if diagnose else None
        self._function(
            self._members, self._count, self._theta, self._pointers(grads), *self._moments,
            float(t), *self._hparams, *self._flags, threads, moved, below,
        )
        return (list(moved), list(below)) if diagnose else None


class StackedAdamKernel:
    """The compiled `stacked_adam_step` for one element type."""

    def __init__(self, library_path: Path):
        self._library = ctypes.CDLL(str(library_path))
        self.function = self._library.stacked_adam_step
        self.function.argtypes = [
            ctypes.c_int64, ctypes.c_int64, *[_Pointers] * 5, ctypes.POINTER(ctypes.c_int64),
            ctypes.c_double, *[_Doubles] * 5, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            _Doubles, ctypes.POINTER(ctypes.c_int64),
        ]
        self.function.restype = None


@functools.cache
def _load(dtype: torch.dtype) -> StackedAdamKernel | None:
    if dtype not in _SCALARS:
        return None
    scalar, sqrt = _SCALARS[dtype]
    try:
        library = build_shared_library(
            SOURCE, name=f"stacked_adam_step_{scalar}", defines={"SCALAR": scalar, "SQRT": sqrt}
        )
        return StackedAdamKernel(library)
    except (KernelUnavailable, OSError):  # no compiler, a failed build, or a library that won't load
        return None


def load_stacked_kernel(dtype: torch.dtype) -> StackedAdamKernel | None:
    """The kernel for `dtype` (float32/float64; built once per machine), or None where it can't be."""
    return _load(dtype)
