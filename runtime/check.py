"""Central finite-difference gradient checking that a wrong gradient cannot pass.

check_grad(f, args, wrt) compares a gradient (by default adjoint's) with central
differences D(h) = (f(x + h e_k) - f(x - h e_k)) / 2h, h = eps * max(1, |x_k|) (Nocedal
& Wright, Numerical Optimization, 2nd ed., sec. 8.1), and returns per argument the
normwise relative error of the gradient beyond what the differences can resolve:

    error = max_k max(0, |g_k - D_k(h)| - tau_k) / max(max_k |g_k|, max_k |D_k(h)|)

(0 when both gradients are exactly zero). Scaling by the gradient's own size makes the
error scale-free: an all-zero gradient of `1e-6 * np.sum(np.sin(x) ** 2)` scores 1, where
the old `|g - D| / max(1, |D|)` scored 7.6e-7 and passed. `tau_k` is the error of D_k(h)
itself, the floor below which g and D cannot be told apart (Nocedal & Wright eq. 8.9;
Griewank & Walther, Evaluating Derivatives, 2nd ed., sec. 1): rounding, each of f(x +- h)
carries a relative error of a few units of roundoff u, so D is off by about
u (|f(x + h)| + |f(x - h)|) / 2h (counted 16 times, for losses summed from many terms);
truncation, D(h) = f' + f''' h^2 / 6 + O(h^4), estimated without f''' by Richardson's
comparison with D(2h): D(h) - D(2h) = -f''' h^2 / 2 + O(h^4), three times D(h)'s
truncation error (and it also shows D's rounding noise). So

    tau_k = 16 u (|f(x + h)| + |f(x - h)|) / 2h + |D_k(h) - D_k(2h)|.

A gradient that differs from the differences by less than tau everywhere scores 0: then
the check cannot tell (the gradient is below what differences resolve), it does not fail.
Being normwise, an entry far smaller than the argument's largest one is checked to
`tol * max |g|` (Higham, Accuracy and Stability of Numerical Algorithms, sec. 1.2).
A NaN or inf in either gradient where the other is finite scores inf.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["numerical_grad", "check_grad", "ArgumentCheck"]

_U = np.finfo(np.float64).eps
_ROUNDING_ULPS = 16.0


def numerical_grad(f, args, i: int, eps: float = 1e-6) -> np.ndarray | float:
    """Central-difference gradient of the scalar f(*args) w.r.t. args[i] (float64): an
    array of args[i]'s shape, or a float for a scalar args[i]; h = eps * max(1, |x_k|)."""
    return _differences(f, args, i, eps)[0]


def _differences(f, args, i, eps, richardson=False):
    """(D(h), D(2h) or None, |f(x + h)| + |f(x - h)|, h), each shaped like args[i]."""
    args = list(args)
    shape = np.shape(args[i])
    scalar = len(shape) == 0
    x = np.array(args[i], dtype=np.float64).reshape(-1)
    d, d2, mags, hs = (np.empty_like(x) for _ in range(4))

    def at(k, value):
        old = x[k]
        x[k] = value
        args[i] = float(x[0]) if scalar else x.reshape(shape).copy()
        x[k] = old
        return float(f(*args))

    for k in range(x.size):
        h = eps * max(1.0, abs(x[k]))
        fp, fm = at(k, x[k] + h), at(k, x[k] - h)
        d[k], mags[k], hs[k] = (fp - fm) / (2 * h), abs(fp) + abs(fm), h
        if richardson:
            d2[k] = (at(k, x[k] + 2 * h) - at(k, x[k] - 2 * h)) / (4 * h)
    out = (d, d2 if richardson else None, mags, hs)
    return tuple(None if a is None else (float(a[0]) if scalar else a.reshape(shape))
                 for a in out)


@dataclass(frozen=True)
class ArgumentCheck:
    """One argument's check. error: the normwise relative error above; index: the entry
    (a tuple, () for a scalar) where |g - D| - tau is largest; ours, fd: the gradient and
    D(h) there; resolution: tau there; scale: max(max |g|, max |D|). float(check) is
    the error."""
    error: float
    index: tuple
    ours: float
    fd: float
    resolution: float
    scale: float

    def __float__(self):
        return self.error

    def __str__(self):
        return (f"{self.error:.3e} (worst entry {list(self.index)}: ours {self.ours:.10g}, "
                f"finite differences {self.fd:.10g}, their resolution {self.resolution:.1e})")


def _check_one(g, fd, fd2, mags, hs) -> ArgumentCheck:
    g = np.asarray(g, dtype=np.float64)
    fd = np.asarray(fd, dtype=np.float64)
    if g.shape != fd.shape:
        raise ValueError(f"the gradient has shape {g.shape}, the argument {fd.shape}")
    tau = _ROUNDING_ULPS * _U * np.asarray(mags) / (2 * np.asarray(hs)) + np.abs(fd - fd2)
    with np.errstate(invalid="ignore"):
        excess = np.maximum(np.abs(g - fd) - tau, 0.0)
    finite = np.isfinite(g) & np.isfinite(fd)
    excess = np.where(finite, excess, np.inf)
    if g.size == 0:
        return ArgumentCheck(0.0, (), 0.0, 0.0, 0.0, 0.0)
    key = np.where(np.isnan(excess), np.inf, excess)
    if not np.any(key > 0):  # within resolution everywhere: show the largest difference
        key = np.abs(g - fd)
    k = np.unravel_index(int(np.argmax(key)), g.shape)
    scale = float(max(np.max(np.abs(g[finite]), initial=0.0), np.max(np.abs(fd[finite]), initial=0.0)))
    worst = float(excess[k])
    error = worst / scale if worst and scale else (np.inf if worst else 0.0)
    return ArgumentCheck(float(error), tuple(int(i) for i in k), float(g[k]), float(fd[k]),
                         float(tau[k]), scale)


def check_grad(f, args, wrt=0, grad_fn=None, eps: float = 1e-6, details: bool = False) -> dict:
    """The gradient's error against central differences, per `wrt` argument.

    f: scalar function; args: its arguments (numbers or float arrays); wrt: an index or
    name, or a tuple of them; grad_fn: the gradient to check, called as grad_fn(*args) and
    returning one array (single wrt) or a tuple in `wrt` order (default:
    `compiler.grad(f, wrt)`, imported lazily: runtime never needs the compiler
    otherwise); eps: the relative step. Returns {argument name: error} (the normwise
    relative error of the module docstring, a float), or with details=True
    {argument name: ArgumentCheck} (error, worst entry's index, our value and the
    differences' there). Costs 4 evaluations of f per entry. Raises ValueError when the
    gradient's shape differs from its argument's."""
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
    checks = {}
    for i, g in zip(idx, got):
        checks[names[i]] = _check_one(g, *_differences(f, args, i, eps, richardson=True))
    return checks if details else {n: c.error for n, c in checks.items()}
