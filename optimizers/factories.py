"""The callables the optimizer registry targets: flat registry hyperparameters -> an optimizer.

Sweeps name hyperparameters one scalar at a time (`beta1`, `beta2`); torch's constructors take
them as a `betas` pair. Each factory is called by `registry.build_optimizer` with the spec's full
defaults merged with the sweep's values, so every hyperparameter arrives explicitly.
"""

from __future__ import annotations

import torch

from adamlab.optimizers.adam import Adam, AdamW


def _betas(beta1, beta2) -> tuple:
    # YAML gives `beta1: 0` as an int; torch wants both betas floats (or both tensors)
    def as_float(beta):
        return float(beta) if isinstance(beta, int) and not isinstance(beta, bool) else beta

    return as_float(beta1), as_float(beta2)


def adam(params, *, beta1: float, beta2: float, **hyperparameters) -> Adam:
    return Adam(params, betas=_betas(beta1, beta2), **hyperparameters)


def adamw(params, *, beta1: float, beta2: float, **hyperparameters) -> AdamW:
    return AdamW(params, betas=_betas(beta1, beta2), **hyperparameters)


def sgd(params, *, lr: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def momentum(
    params, *, lr: float, momentum: float, dampening: float, weight_decay: float
) -> torch.optim.SGD:
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay
    )


def nesterov(params, *, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True
    )


def torch_adam(params, *, beta1: float, beta2: float, **hyperparameters) -> torch.optim.Adam:
    return torch.optim.Adam(params, betas=_betas(beta1, beta2), **hyperparameters)


def torch_adamw(params, *, beta1: float, beta2: float, **hyperparameters) -> torch.optim.AdamW:
    return torch.optim.AdamW(params, betas=_betas(beta1, beta2), **hyperparameters)


def sparse_adam(params, *, beta1: float, beta2: float, **hyperparameters) -> torch.optim.SparseAdam:
    return torch.optim.SparseAdam(params, betas=_betas(beta1, beta2), **hyperparameters)
