"""Optimisers whose update step runs inside compiled training loops.

Protocol (what `runtime.train` and the generated epoch loop rely on): an optimiser has
- `update`: 'module:function' naming a kernel `update(p, g, state, hyper, t)` that updates
  the float64 array `p` in place from its gradient `g`; `state` is the parameter's own
  state array of shape `(n_slots, *p.shape)`; `hyper` is a float64 vector of
  hyper-parameters; `t` is the 0-based global step (int). The kernel is
  `register_jitable`: plain Python from Python, compiled inside Numba code.
- `init_state(p)`: a fresh state array for parameter `p`;
- `hyper()`: the float64 hyper-parameter vector.

SGD (the lecture's update): p <- p - eta * g.
"""
from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

__all__ = ["SGD", "sgd_update"]


@register_jitable
def sgd_update(p, g, state, hyper, t):
    """p <- p - eta g, in place. hyper = [eta]."""
    p -= hyper[0] * g


class SGD:
    """Stochastic gradient descent with a fixed step size `lr` (eta > 0, float)."""

    update = "runtime.optim:sgd_update"

    def __init__(self, lr: float = 0.01):
        lr = float(lr)
        if not lr > 0 or not np.isfinite(lr):
            raise ValueError(f"SGD step size must be a positive finite number, got {lr}")
        self.lr = lr

    def init_state(self, p: np.ndarray) -> np.ndarray:
        return np.zeros((0,) + np.shape(p))

    def hyper(self) -> np.ndarray:
        return np.array([self.lr])

    def __repr__(self):
        return f"SGD(lr={self.lr})"
