"""Central finite-difference gradient checking.

check_grad(f, args, wrt) compares a gradient (by default adjoint's) with central
differences (f(x + h e_i) - f(x - h e_i)) / 2h, h = eps * max(1, |x_i|) (Nocedal &
Wright, Numerical Optimization, 2nd ed., sec. 8.1), and returns the largest relative
error per argument.
"""
from __future__ import annotations

import numpy as np

__all__ = ["numerical_grad", "check_grad"]


def numerical_grad(f, args, i: int, eps: float = 1e-6) -> np.ndarray | float:
    """Central-difference gradient of the scalar f(*args) w.r.t. args[i] (float64)."""
    args = list(args)
    x = np.array(args[i], dtype=np.float64)
    scalar = x.ndim == 0
    x = x.reshape(-1) if not scalar else x.reshape(1)
    g = np.empty_like(x)
    for k in range(x.size):
        h = eps * max(1.0, abs(x[k]))
        old = x[k]
        x[k] = old + h
        args[i] = float(x[0]) if scalar else x.reshape(np.shape(args[i])).copy()
        fp = float(f(*args))
        x[k] = old - h
        args[i] = float(x[0]) if scalar else x.reshape(np.shape(args[i])).copy()
        fm = float(f(*args))
        x[k] = old
        g[k] = (fp - fm) / (2 * h)
    args[i] = float(x[0]) if scalar else x.reshape(np.shape(args[i]))
    return float(g[0]) if scalar else g.reshape(np.shape(args[i]))


def check_grad(f, args, wrt=0, grad_fn=None, eps: float = 1e-6) -> dict:
    """Max relative error |g - g_fd| / max(1, |g_fd|) per `wrt` argument.

    f: scalar function; args: its arguments; wrt: index/name or tuple of them;
    grad_fn: the gradient to check (default: `compiler.grad(f, wrt)` — imported lazily,
    runtime never needs the compiler otherwise). Returns {argument name: error}."""
    import inspect
    names = list(inspect.signature(f).parameters)
    single = isinstance(wrt, (int, str))
    entries = (wrt,) if single else tuple(wrt)
    idx = [names.index(w) if isinstance(w, str) else w for w in entries]
    if grad_fn is None:
        from compiler import grad
        grad_fn = grad(f, wrt=wrt)
    got = grad_fn(*args)
    got = (got,) if single else got
    errors = {}
    for i, g in zip(idx, got):
        fd = numerical_grad(f, args, i, eps)
        err = np.abs(np.asarray(g) - fd) / np.maximum(1.0, np.abs(fd))
        errors[names[i]] = float(np.max(err)) if np.size(err) else 0.0
    return errors
