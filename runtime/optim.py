"""Optimisers whose update step runs inside compiled training loops.

Protocol (what `runtime.train` and the generated epoch loop rely on): an optimiser has
- `update`: 'module:function' naming a kernel `update(p, g, state, hyper, t)` that
  updates the float64 array `p` in place from its gradient `g`. The generated loop
  passes flat views: `p` of shape (size,) (a view of the parameter), `g` of shape
  (size,), `state` of shape (n_slots, size) (a view of the parameter's state array,
  which `fit` keeps as (n_slots, *p.shape)); `hyper` is a float64 vector of
  hyper-parameters; `t` is the 0-based global step (int). The kernel must be callable
  from Numba code: a `numba.njit` dispatcher (whose `py_func` runs when jit=False) or
  a `register_jitable` function.
- `init_state(p)`: a fresh state array of shape (n_slots, *p.shape) for parameter `p`;
- `hyper()`: the float64 hyper-parameter vector;
- `clip_norm`: None, or the largest global gradient norm (clipping happens in the loop).

All built-in optimisers share one kernel, `runtime.optim:update`, which dispatches on
`hyper[0]` (the optimiser's kind) and passes `hyper[1:] = [lr, weight_decay, ...]` to
the optimiser's own kernel (any shape; vectorised NumPy when called from Python, an
element loop when compiled). So the generated epoch loop, which names its update kernel
in its source, is the same module for every built-in optimiser: switching from Adam to
RMSProp costs no recompile; and `update` itself is compiled once and cached on disk.
When the hyper-parameters are plain SGD's (no momentum, no weight decay: `plain_sgd`),
`fit` names the same kernel as `runtime.optim:update_sgd` (`loop_kernel`), and the
compiled loop for that name writes the step p -= lr g out in place of the kernel call
(compiler/codegen/epoch.py): a training step of the hinge classifier is 1.2x faster
so, at the price of one more compile when a session switches between plain SGD and
another optimiser (issue 16).

Update rules (g is the gradient plus weight_decay * p, the L2 penalty's gradient,
unless stated otherwise; all operations elementwise; t counts from 1 in the formulas):
- SGD, the lecture's rule: p <- p - lr g.
- Momentum (Polyak 1964; Sutskever, Martens, Dahl & Hinton 2013, eq. 1-2, in the
  form PyTorch uses): v <- mu v + g; p <- p - lr v.
  Nesterov (Sutskever et al. 2013, eq. 3-4, same form): v <- mu v + g;
  p <- p - lr (g + mu v).
- AdaGrad (Duchi, Hazan & Singer 2011; Goodfellow, Bengio & Courville, Deep Learning,
  Algorithm 8.4): r <- r + g^2; p <- p - lr g / (delta + sqrt(r)).
- RMSProp (Hinton, Coursera lecture 6e, 2012; Deep Learning, Algorithm 8.5):
  r <- rho r + (1 - rho) g^2; p <- p - lr g / sqrt(delta + r).
- Adam (Kingma & Ba 2015, Algorithm 1): m <- b1 m + (1 - b1) g;
  v <- b2 v + (1 - b2) g^2; m^ = m / (1 - b1^t); v^ = v / (1 - b2^t);
  p <- p - lr m^ / (sqrt(v^) + eps). With `decoupled_weight_decay=True` (AdamW,
  Loshchilov & Hutter 2019, Algorithm 2, in PyTorch's form) g is the bare gradient
  and p <- p - lr weight_decay p is applied before the Adam step.
- Clipping by global norm (Pascanu, Mikolov & Bengio 2013, Algorithm 1): if
  ||(g_1, ..., g_k)|| > c, every parameter's gradient is multiplied by
  c / ||(g_1, ..., g_k)||, the norm taken over all parameters of the step together.
"""
from __future__ import annotations

import math

import numpy as np

from .numba_forms import overload, register_jitable  # recorded; registered with Numba when compiling

__all__ = ["Optimizer", "SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "update",
           "sgd_update", "momentum_update", "adagrad_update", "rmsprop_update",
           "adam_update", "update_scaled", "update_outer", "sq_norm", "sq_norm_scaled",
           "sq_norm_outer", "clip_by_global_norm"]

SGD_KIND, MOMENTUM_KIND, ADAGRAD_KIND, RMSPROP_KIND, ADAM_KIND = 0, 1, 2, 3, 4


# Each kernel has two forms with the same arithmetic in the same order: called from
# Python (the NumPy tier: jit=False, or "auto" before the compiled loop is ready) it is
# vectorised NumPy on whole arrays; inside Numba code the `overload` below it, an
# element loop (no temporaries, SIMD-friendly), is compiled instead. They agree to the
# last bits (no fastmath); tests/test_optim.py checks 1e-12.
_LOOP = {"error_model": "numpy"}
# sums of squares: reassociation lets LLVM vectorise them; not the no-NaN/no-inf flags of
# fastmath=True, under which the loop's non-finite checks could be folded away
_SUM = {"cache": True, "fastmath": {"reassoc", "contract", "nsz", "arcp"}}


def _flat_views(p, g, state):
    return p.reshape(p.size), g.ravel(), state.reshape(state.shape[0], p.size)


def _with_decay(g, p, wd):
    """g + wd * p (the L2 penalty's gradient added); g itself when wd is 0, as the loops'
    g + 0 * p is (up to the sign of a zero)."""
    return g + wd * p if wd != 0.0 else g


def sgd_update(p, g, state, hyper, t):
    """p <- p - lr (g + wd p), in place. p: C-contiguous float64 array, g: same shape;
    hyper = [lr] or [lr, wd]; state unused (0 slots)."""
    lr = hyper[0]
    wd = hyper[1] if hyper.shape[0] > 1 else 0.0
    pf, gf, _ = _flat_views(p, g, state)
    if wd == 0.0:
        pf -= lr * gf
    else:
        pf -= lr * (gf + wd * pf)


@overload(sgd_update, jit_options=_LOOP)
def _sgd_update_loop(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        lr = hyper[0]
        wd = hyper[1] if hyper.shape[0] > 1 else 0.0
        pf = p.reshape(p.size)
        gf = g.ravel()
        if wd == 0.0:
            for j in range(pf.shape[0]):
                pf[j] -= lr * gf[j]
        else:
            for j in range(pf.shape[0]):
                pf[j] -= lr * (gf[j] + wd * pf[j])
    return impl


def momentum_update(p, g, state, hyper, t):
    """Heavy-ball or Nesterov momentum, in place. hyper = [lr, wd, mu, nesterov (0/1)];
    state[0] is the velocity v."""
    lr, wd, mu, nesterov = hyper[0], hyper[1], hyper[2], hyper[3] != 0.0
    pf, gf, st = _flat_views(p, g, state)
    v = st[0]
    gj = _with_decay(gf, pf, wd)
    v *= mu
    v += gj
    if nesterov:
        step = mu * v
        step += gj
        step *= lr
        pf -= step
    else:
        pf -= lr * v


@overload(momentum_update, jit_options=_LOOP)
def _momentum_update_loop(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        lr, wd, mu, nesterov = hyper[0], hyper[1], hyper[2], hyper[3] != 0.0
        pf = p.reshape(p.size)
        gf = g.ravel()
        v = state.reshape(state.shape[0], p.size)[0]
        for j in range(pf.shape[0]):
            gj = gf[j] + wd * pf[j]
            v[j] = mu * v[j] + gj
            if nesterov:
                pf[j] -= lr * (gj + mu * v[j])
            else:
                pf[j] -= lr * v[j]
    return impl


def adagrad_update(p, g, state, hyper, t):
    """AdaGrad, in place. hyper = [lr, wd, delta]; state[0] is the sum of squared gradients."""
    lr, wd, delta = hyper[0], hyper[1], hyper[2]
    pf, gf, st = _flat_views(p, g, state)
    r = st[0]
    gj = _with_decay(gf, pf, wd)
    r += gj * gj
    den = np.sqrt(r)
    den += delta
    step = lr * gj
    step /= den
    pf -= step


@overload(adagrad_update, jit_options=_LOOP)
def _adagrad_update_loop(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        lr, wd, delta = hyper[0], hyper[1], hyper[2]
        pf = p.reshape(p.size)
        gf = g.ravel()
        r = state.reshape(state.shape[0], p.size)[0]
        for j in range(pf.shape[0]):
            gj = gf[j] + wd * pf[j]
            r[j] += gj * gj
            pf[j] -= lr * gj / (delta + math.sqrt(r[j]))
    return impl


def rmsprop_update(p, g, state, hyper, t):
    """RMSProp, in place. hyper = [lr, wd, rho, delta]; state[0] is the running mean square."""
    lr, wd, rho, delta = hyper[0], hyper[1], hyper[2], hyper[3]
    pf, gf, st = _flat_views(p, g, state)
    r = st[0]
    gj = _with_decay(gf, pf, wd)
    r *= rho
    sq = (1.0 - rho) * gj
    sq *= gj
    r += sq
    den = r + delta
    np.sqrt(den, out=den)
    step = lr * gj
    step /= den
    pf -= step


@overload(rmsprop_update, jit_options=_LOOP)
def _rmsprop_update_loop(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        lr, wd, rho, delta = hyper[0], hyper[1], hyper[2], hyper[3]
        pf = p.reshape(p.size)
        gf = g.ravel()
        r = state.reshape(state.shape[0], p.size)[0]
        for j in range(pf.shape[0]):
            gj = gf[j] + wd * pf[j]
            r[j] = rho * r[j] + (1.0 - rho) * gj * gj
            pf[j] -= lr * gj / math.sqrt(delta + r[j])
    return impl


def adam_update(p, g, state, hyper, t):
    """Adam (bias-corrected), in place. hyper = [lr, wd, b1, b2, eps, decoupled (0/1)];
    state[0] = m, state[1] = v; t is 0-based (the paper's t is t + 1)."""
    lr, wd, b1, b2, eps = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
    pf, gf, st = _flat_views(p, g, state)
    m, v = st[0], st[1]
    c1 = 1.0 - b1 ** float(t + 1)  # float: libm pow in both forms
    c2 = 1.0 - b2 ** float(t + 1)
    if hyper[5] != 0.0:  # decoupled (AdamW)
        gj = gf
        pf -= lr * wd * pf
    else:
        gj = _with_decay(gf, pf, wd)
    m *= b1
    m += (1.0 - b1) * gj
    v *= b2
    sq = (1.0 - b2) * gj
    sq *= gj
    v += sq
    den = v / c2
    np.sqrt(den, out=den)
    den += eps
    step = m / c1
    step *= lr
    step /= den
    pf -= step


@overload(adam_update, jit_options=_LOOP)
def _adam_update_loop(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        lr, wd, b1, b2, eps = hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]
        decoupled = hyper[5] != 0.0
        pf = p.reshape(p.size)
        gf = g.ravel()
        st = state.reshape(state.shape[0], p.size)
        m, v = st[0], st[1]
        c1 = 1.0 - b1 ** float(t + 1)  # float: libm pow in both forms
        c2 = 1.0 - b2 ** float(t + 1)
        for j in range(pf.shape[0]):
            if decoupled:
                gj = gf[j]
                pf[j] -= lr * wd * pf[j]
            else:
                gj = gf[j] + wd * pf[j]
            m[j] = b1 * m[j] + (1.0 - b1) * gj
            v[j] = b2 * v[j] + (1.0 - b2) * gj * gj
            pf[j] -= lr * (m[j] / c1) / (math.sqrt(v[j] / c2) + eps)
    return impl


def flat(a):
    """The entries of the float64 array `a` (any shape) as a 1-D array in C order: from
    Python np.ravel (a copy unless a is contiguous).

    Inside Numba code, chosen by a's type: a itself when 1-D (a strided 1-D array too,
    where np.ravel would copy: callers only read it), a reshaped view when
    C-contiguous, a copy otherwise. Numba's `ravel` builds a new array even from a 1-D
    one, 23 ns a call, which was a third of the hinge's whole training step."""
    return np.ravel(a)


@overload(flat, inline="always")
def _flat_nb(a):
    if a.ndim == 1:
        return lambda a: a
    if a.layout == "C":
        return lambda a: a.reshape(a.size)
    return lambda a: a.ravel()


def sq_norm(a) -> float:
    """Sum of squares of the entries of the float64 array `a` (||a||_2^2), any shape.

    From Python: NumPy's dot. Inside Numba code (the generated epoch loop calls it for
    every gradient of every step): a loop compiled with reassociation, so the sum is
    vectorised (about 2x faster than a BLAS call for small arrays); its rounding may
    differ from NumPy's in the last bits."""
    f = np.ravel(a)
    return float(np.dot(f, f))


@overload(sq_norm, jit_options=_SUM)
def _sq_norm_nb(a):
    def impl(a):
        f = flat(a)
        s = 0.0
        for j in range(f.shape[0]):
            s += f[j] * f[j]
        return s
    return impl


# ---- the built-in kernel and its fused forms -------------------------------------------
# From Python (the NumPy tier) `update` dispatches to the vectorised kernels above. In
# compiled code every form runs one set of element loops with the hyper-parameters read
# in place (hyper[1] is lr; no slice of `hyper`, no reshape or ravel per step): `_apply`
# (any optimiser) or `sgd_rows` (plain SGD, small enough to inline). They see a
# gradient as rows: entry (i, j), at p[i * len(v) + j], is (r_i * c) * v[j], with c the
# clipping scale and r_i = a[i] for a rank-1 gradient np.outer(a, v), or the single row
# r_0 = s for a gradient s * v (a dense one is s = c = 1: exact, 1.0 * x == x). The
# fused and unfused updates differ only in the order of the products, 1e-16 relative
# per step (tests/test_optim.py, tests/test_train.py check 1e-12).

@register_jitable(error_model="numpy")
def _apply(p, a, s, v, c, state, hyper, t):
    """p[i * n + j] updated from the gradient entry (r_i * c) * v[j], n = len(v), where
    r_i = a[i] for i < len(a) when a.shape[0] > 0 (a rank-1 gradient), else the single
    row r_0 = s (a scaled or dense gradient). One function with the loops written out:
    LLVM vectorises them here (about 4x slower when split into per-row helpers)."""
    kind = int(hyper[0])
    lr, wd = hyper[1], hyper[2] if hyper.shape[0] > 2 else 0.0
    n = v.shape[0]
    rows = a.shape[0] if a.shape[0] > 0 else 1
    if kind == SGD_KIND:
        if wd == 0.0:
            for i in range(rows):
                f = lr * ((a[i] if a.shape[0] > 0 else s) * c)
                for j in range(n):
                    p[i * n + j] -= f * v[j]
        else:
            for i in range(rows):
                r = (a[i] if a.shape[0] > 0 else s) * c
                for j in range(n):
                    k = i * n + j
                    p[k] -= lr * (r * v[j] + wd * p[k])
    elif kind == MOMENTUM_KIND:
        mu, nesterov = hyper[3], hyper[4] != 0.0
        vel = state[0]
        for i in range(rows):
            r = (a[i] if a.shape[0] > 0 else s) * c
            for j in range(n):
                k = i * n + j
                gj = r * v[j] + wd * p[k]
                vel[k] = mu * vel[k] + gj
                if nesterov:
                    p[k] -= lr * (gj + mu * vel[k])
                else:
                    p[k] -= lr * vel[k]
    elif kind == ADAGRAD_KIND:
        delta = hyper[3]
        acc = state[0]
        for i in range(rows):
            r = (a[i] if a.shape[0] > 0 else s) * c
            for j in range(n):
                k = i * n + j
                gj = r * v[j] + wd * p[k]
                acc[k] += gj * gj
                p[k] -= lr * gj / (delta + math.sqrt(acc[k]))
    elif kind == RMSPROP_KIND:
        rho, delta = hyper[3], hyper[4]
        acc = state[0]
        for i in range(rows):
            r = (a[i] if a.shape[0] > 0 else s) * c
            for j in range(n):
                k = i * n + j
                gj = r * v[j] + wd * p[k]
                acc[k] = rho * acc[k] + (1.0 - rho) * gj * gj
                p[k] -= lr * gj / math.sqrt(delta + acc[k])
    elif kind == ADAM_KIND:
        b1, b2, eps = hyper[3], hyper[4], hyper[5]
        decoupled = hyper[6] != 0.0
        c1 = 1.0 - b1 ** float(t + 1)  # float: libm pow in both forms
        c2 = 1.0 - b2 ** float(t + 1)
        m, vv = state[0], state[1]
        for i in range(rows):
            r = (a[i] if a.shape[0] > 0 else s) * c
            for j in range(n):
                k = i * n + j
                if decoupled:
                    gj = r * v[j]
                    p[k] -= lr * wd * p[k]
                else:
                    gj = r * v[j] + wd * p[k]
                m[k] = b1 * m[k] + (1.0 - b1) * gj
                vv[k] = b2 * vv[k] + (1.0 - b2) * gj * gj
                p[k] -= lr * (m[k] / c1) / (math.sqrt(vv[k] / c2) + eps)
    else:
        raise ValueError("unknown optimiser kind in hyper[0]")


NO_ROWS = np.empty(0)  # sgd_rows' and _apply's `a` for a gradient that is one row


@register_jitable
def plain_sgd(hyper) -> bool:
    """Whether hyper (an optimiser's `hyper()`) is SGD without weight decay: the update
    is then p -= lr * g, which the compiled epoch runs as `sgd_rows`."""
    return hyper[0] == SGD_KIND and hyper.shape[0] > 2 and hyper[2] == 0.0


@register_jitable(error_model="numpy", inline="always")
def sgd_rows(p, a, s, v, c, lr):
    """_apply for plain SGD (no weight decay): p[i * n + j] -= (lr * (r_i * c)) * v[j].
    A row whose factor r_i * c is zero is skipped: its gradient entries are all zero
    (v is finite: the loop checked the gradient norm), so p - lr * 0 is p (the hinge's
    examples outside the margin, a ReLU's inactive units)."""
    n = v.shape[0]
    if a.shape[0] == 0:
        f = lr * (s * c)
        if f != 0.0:
            for j in range(n):
                p[j] -= f * v[j]
    else:
        for i in range(a.shape[0]):
            f = lr * (a[i] * c)
            if f != 0.0:
                for j in range(n):
                    p[i * n + j] -= f * v[j]


@register_jitable(error_model="numpy")
def sgd_outer(P, a, b, c, lr):
    """sgd_rows for a rank-1 gradient np.outer(a, b) * c of the C-contiguous matrix P,
    written on P's rows: P[i, j] -= (lr * (a[i] * c)) * b[j]. The same arithmetic as
    sgd_rows on P's flat view, which LLVM vectorises less well inside a training step
    (the four-layer epoch at width 16: 0.61 -> 0.51 ms)."""
    for i in range(a.shape[0]):
        f = lr * (a[i] * c)
        if f != 0.0:
            for j in range(b.shape[0]):
                P[i, j] -= f * b[j]


def update(p, g, state, hyper, t):
    """The built-in optimisers' shared kernel: hyper = [kind, lr, wd, ...], dispatching on
    kind (0 SGD, 1 momentum, 2 AdaGrad, 3 RMSProp, 4 Adam). Raises ValueError otherwise.

    p: flat float64 view (size,) updated in place; g: its gradient (size,); state:
    (n_slots, size); t: 0-based step. From Python (and `update.py_func`, what the
    NumPy-tier loops call): the vectorised kernels above, `p -= lr * g` for SGD. In
    compiled code: `_apply`'s element loops with the hyper-parameters read in place,
    compiled with error_model="numpy", which drops Numba's per-division zero check that
    blocks SIMD (AdaGrad, RMSProp and Adam run about 4x faster); every denominator here
    is positive for valid hyper-parameters."""
    kind = int(hyper[0])
    h = hyper[1:]
    if kind == SGD_KIND:
        sgd_update(p, g, state, h, t)
    elif kind == MOMENTUM_KIND:
        momentum_update(p, g, state, h, t)
    elif kind == ADAGRAD_KIND:
        adagrad_update(p, g, state, h, t)
    elif kind == RMSPROP_KIND:
        rmsprop_update(p, g, state, h, t)
    elif kind == ADAM_KIND:
        adam_update(p, g, state, h, t)
    else:
        raise ValueError("unknown optimiser kind in hyper[0]")


update.py_func = update  # as a dispatcher's: the plain-Python form (epoch loops, tests)


@overload(update, jit_options=_LOOP)
def _update_nb(p, g, state, hyper, t):
    def impl(p, g, state, hyper, t):
        if plain_sgd(hyper):
            sgd_rows(p, NO_ROWS, 1.0, g, 1.0, hyper[1])
        else:
            _apply(p, NO_ROWS, 1.0, g, 1.0, state, hyper, t)
    return impl


BUILTIN_UPDATE = "runtime.optim:update"
SGD_UPDATE = "runtime.optim:update_sgd"
update_sgd = update  # plain SGD's name for the kernel (module docstring)


# what the built-in kernel reads for each kind: (entries of hyper, slots of state)
_LAYOUT = {SGD_KIND: (3, 0), MOMENTUM_KIND: (5, 1), ADAGRAD_KIND: (4, 1), RMSPROP_KIND: (5, 1),
           ADAM_KIND: (7, 2)}


def check_hyper(hyper, n_slots: int) -> None:
    """Raise ValueError unless the built-in kernel can run with the float64 vector
    `hyper` and states of `n_slots` slots: a known kind in hyper[0], at least the
    entries that kind reads, at least the state slots it writes. Compiled code does not
    check bounds: a momentum vector with no velocity slot would write past the state."""
    hyper = np.asarray(hyper)
    kind = float(hyper[0]) if hyper.ndim == 1 and hyper.size else math.nan
    if kind not in _LAYOUT:
        raise ValueError(f"hyper[0] = {kind} is no built-in optimiser kind "
                         f"({', '.join(str(k) for k in _LAYOUT)}); hyper = {hyper!r}")
    size, slots = _LAYOUT[int(kind)]
    if hyper.size < size or n_slots < slots:
        raise ValueError(f"optimiser kind {int(kind)} needs hyper() = [kind, lr, "
                         f"weight_decay, ...] of at least {size} entries and {slots} state "
                         f"slot(s) (n_slots); got {hyper.size} entries and {n_slots} slot(s)")


def loop_kernel(optimizer, hyper) -> str:
    """The update kernel's 'module:function' for the training loops of `optimizer` with
    the hyper-parameter vector `hyper` (what it will be called with): SGD_UPDATE when
    it names the built-in kernel and `hyper` is plain SGD's, else `optimizer.update`.
    Decided from `hyper`, the vector the kernel itself dispatches on, so that a
    subclass which sets its hyper-parameters in `hyper()` gets the loop that runs them."""
    name = optimizer.update
    return SGD_UPDATE if name == BUILTIN_UPDATE and plain_sgd(hyper) else name


def update_scaled(p, s, v, state, hyper, t, c):
    """`update` with the gradient (s * v) * c, never materialised in compiled code: s a
    float, v an array of p's size (any shape; p flat), c the clipping scale (1.0 for
    none). The generated epoch uses it where the loss's gradient is a scalar times an
    array (the hinge's -y x). Same arithmetic as `update(p, ((s * v) * c).ravel(), ...)`."""
    g = s * np.ravel(v)
    if c != 1.0:  # g * 1.0 is g
        g *= c
    update(p, g, state, hyper, t)


@overload(update_scaled, jit_options=_LOOP)
def _update_scaled_nb(p, s, v, state, hyper, t, c):
    def impl(p, s, v, state, hyper, t, c):
        if hyper[0] == SGD_KIND and hyper[2] == 0.0:  # plain_sgd(hyper), written out
            sgd_rows(p, NO_ROWS, s, flat(v), c, hyper[1])
        else:
            _apply(p, NO_ROWS, s, flat(v), c, state, hyper, t)
    return impl


def update_outer(p, a, b, state, hyper, t, c):
    """`update` with the rank-1 gradient np.outer(a, b) * c, never materialised in
    compiled code: p the flat view of an (len(a), len(b)) parameter, a and b float64
    vectors, c the clipping scale (1.0 for none); entry i * len(b) + j of the gradient
    is (a[i] * b[j]) * c, as np.outer then the clip compute it. From Python: exactly
    `update(p, (np.outer(a, b) * c).ravel(), ...)`."""
    g = np.outer(a, b)
    if c != 1.0:  # g * 1.0 is g
        g *= c
    update(p, g.ravel(), state, hyper, t)


@overload(update_outer, jit_options=_LOOP)
def _update_outer_nb(p, a, b, state, hyper, t, c):
    def impl(p, a, b, state, hyper, t, c):
        if hyper[0] == SGD_KIND and hyper[2] == 0.0:  # plain_sgd(hyper), written out
            sgd_rows(p, a, 1.0, b, c, hyper[1])
        elif a.shape[0] > 0:
            _apply(p, a, 1.0, b, c, state, hyper, t)
    return impl


def sq_norm_scaled(s, v) -> float:
    """||s v||_2^2 = s^2 ||v||_2^2 for a float s and an array v, without forming s v;
    computed entry by entry if that product overflows or underflows to a non-finite or
    zero value where the entries' squares would not (s huge, v tiny)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        n = s * s * sq_norm(v)
        if not math.isfinite(n) or (n == 0.0 and s != 0.0):
            n = sq_norm(s * np.ravel(v))
    return float(n)


@overload(sq_norm_scaled, jit_options=_SUM)
def _sq_norm_scaled_nb(s, v):
    def impl(s, v):
        f = flat(v)
        q = 0.0
        for j in range(f.shape[0]):
            q += f[j] * f[j]
        n = s * s * q
        if not np.isfinite(n) or (n == 0.0 and s != 0.0):
            n = 0.0
            for j in range(f.shape[0]):
                e = s * f[j]
                n += e * e
        return n
    return impl


def sq_norm_outer(a, b) -> float:
    """||np.outer(a, b)||_F^2 = ||a||^2 ||b||^2 for float64 vectors, without forming the
    outer product (the Frobenius norm of a rank-1 matrix; Golub & Van Loan, Matrix
    Computations, 2.3); entry by entry if that product is not finite (||a||^2 overflows
    while the entries a[i] b[j] do not)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        n = sq_norm(a) * sq_norm(b)
        if not math.isfinite(n):
            n = sq_norm(np.outer(a, b))
    return float(n)


@overload(sq_norm_outer, jit_options=_SUM)
def _sq_norm_outer_nb(a, b):
    def impl(a, b):
        qa = 0.0
        for i in range(a.shape[0]):
            qa += a[i] * a[i]
        qb = 0.0
        for j in range(b.shape[0]):
            qb += b[j] * b[j]
        n = qa * qb
        if not np.isfinite(n):
            n = 0.0
            for i in range(a.shape[0]):
                for j in range(b.shape[0]):
                    e = a[i] * b[j]
                    n += e * e
        return n
    return impl


def clip_by_global_norm(grads, max_norm: float):
    """(clipped gradients, global norm before clipping) for a list of float64 arrays.

    The global norm is sqrt(sum of all squared entries of all gradients); when it exceeds
    `max_norm` every gradient is scaled by max_norm / norm (Pascanu et al. 2013, Alg. 1).
    The generated epoch loop does the same inside compiled code; this is the NumPy form."""
    norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
    if max_norm is not None and norm > max_norm:
        return [np.asarray(g) * (max_norm / norm) for g in grads], norm
    return [np.asarray(g) for g in grads], norm


def _positive(owner, name, value, allow_zero=False):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}") from None
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a {'non-negative' if allow_zero else 'positive'}"
                         f" finite number, got {value}")
    return value


def _unit(owner, name, value):
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{owner}: {name} must be in [0, 1), got {value}")
    return value


class Optimizer:
    """Base class: a step size, optional L2 weight decay and global-norm clipping.

    lr: step size eta > 0; weight_decay: lambda >= 0 (adds lambda p to the gradient, the
    gradient of the penalty lambda/2 ||p||^2); clip_norm: None or c > 0, the largest
    global gradient norm (see the module docstring). Raises ValueError for a negative,
    zero or non-finite lr, a negative weight_decay or a non-positive clip_norm."""

    update = "runtime.optim:update"
    kind = -1
    n_slots = 0

    def __init__(self, lr, weight_decay=0.0, clip_norm=None):
        name = type(self).__name__
        self.lr = _positive(name, "step size lr", lr)
        self.weight_decay = _positive(name, "weight_decay", weight_decay, allow_zero=True)
        self.clip_norm = None if clip_norm is None else _positive(name, "clip_norm", clip_norm)

    def _extra(self) -> list:
        return []

    def init_state(self, p: np.ndarray) -> np.ndarray:
        """Zeroed state of shape (n_slots, *p.shape), float64."""
        return np.zeros((self.n_slots,) + np.shape(p))

    def hyper(self) -> np.ndarray:
        """[kind, lr, weight_decay, optimiser-specific entries...] as float64."""
        return np.array([self.kind, self.lr, self.weight_decay] + self._extra(), dtype=np.float64)

    def step(self, params, grads, states, t: int) -> float:
        """One update of every parameter, in Python (what the compiled loop does per step):
        clip the gradients by global norm if `clip_norm`, then call the kernel for each.
        params, states: lists of arrays updated in place; grads: list of arrays; t: 0-based
        step. Returns the global gradient norm before clipping."""
        grads, norm = clip_by_global_norm(grads, self.clip_norm)
        h = self.hyper()
        for p, g, s in zip(params, grads, states):
            p, s = np.asarray(p), np.asarray(s)
            if not (p.flags.c_contiguous and s.flags.c_contiguous and p.dtype == np.float64):
                raise ValueError("parameters and states must be C-contiguous float64 arrays "
                                 "(they are updated in place)")
            update(p.reshape(p.size), np.ascontiguousarray(g, dtype=np.float64).ravel(),
                   s.reshape((s.shape[0], p.size)), h, t)
        return norm

    def _args(self) -> str:
        a = [f"lr={self.lr}"]
        a += [f"{k}={v}" for k, v in self._repr_extra().items()]
        if self.weight_decay:
            a.append(f"weight_decay={self.weight_decay}")
        if self.clip_norm is not None:
            a.append(f"clip_norm={self.clip_norm}")
        return ", ".join(a)

    def _repr_extra(self) -> dict:
        return {}

    def __repr__(self):
        return f"{type(self).__name__}({self._args()})"


class SGD(Optimizer):
    """Stochastic gradient descent (the lecture's rule p <- p - lr g), optionally with
    momentum mu in [0, 1) (heavy ball, or Nesterov's with nesterov=True); see the module
    docstring for the formulas. SGD(lr, momentum=mu) is the same optimiser as
    Momentum(lr, mu). Raises ValueError for lr <= 0 and mu outside [0, 1)."""

    kind = SGD_KIND

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.momentum = _unit(type(self).__name__, "momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        if self.momentum > 0.0:
            self.kind, self.n_slots = MOMENTUM_KIND, 1

    def _extra(self):
        return [self.momentum, float(self.nesterov)] if self.kind == MOMENTUM_KIND else []

    def _repr_extra(self):
        d = {"momentum": self.momentum} if self.momentum else {}
        return d | ({"nesterov": True} if self.nesterov else {})


class Momentum(SGD):
    """SGD with momentum mu (default 0.9) or Nesterov momentum: SGD(lr, momentum=mu)."""

    def __init__(self, lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, momentum, nesterov, weight_decay, clip_norm)
        if self.momentum == 0.0:
            raise ValueError("Momentum: momentum must be in (0, 1); use SGD for none")


class AdaGrad(Optimizer):
    """AdaGrad: per-coordinate step lr / (delta + sqrt(sum of squared gradients))
    (Duchi et al. 2011; Deep Learning Alg. 8.4, whose delta = 1e-7 is the default)."""

    kind, n_slots = ADAGRAD_KIND, 1

    def __init__(self, lr=0.01, delta=1e-7, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.delta = _positive("AdaGrad", "delta", delta)

    def _extra(self):
        return [self.delta]


class RMSProp(Optimizer):
    """RMSProp: step lr / sqrt(delta + running mean of squared gradients), decay rho
    (Hinton 2012; Deep Learning Alg. 8.5; defaults rho = 0.9, delta = 1e-6)."""

    kind, n_slots = RMSPROP_KIND, 1

    def __init__(self, lr=0.001, rho=0.9, delta=1e-6, weight_decay=0.0, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.rho = _unit("RMSProp", "rho", rho)
        self.delta = _positive("RMSProp", "delta", delta)

    def _extra(self):
        return [self.rho, self.delta]

    def _repr_extra(self):
        return {"rho": self.rho}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015, Algorithm 1); the paper's defaults
    lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8. weight_decay is an L2 penalty
    added to the gradient, or AdamW's decoupled decay with decoupled_weight_decay=True
    (Loshchilov & Hutter 2019). Raises ValueError for betas outside [0, 1)."""

    kind, n_slots = ADAM_KIND, 2

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 decoupled_weight_decay=False, clip_norm=None):
        super().__init__(lr, weight_decay, clip_norm)
        self.beta1 = _unit("Adam", "beta1", beta1)
        self.beta2 = _unit("Adam", "beta2", beta2)
        self.eps = _positive("Adam", "eps", eps)
        self.decoupled_weight_decay = bool(decoupled_weight_decay)

    def _extra(self):
        return [self.beta1, self.beta2, self.eps, float(self.decoupled_weight_decay)]

    def _repr_extra(self):
        d = {"beta1": self.beta1, "beta2": self.beta2}
        return d | ({"decoupled_weight_decay": True} if self.decoupled_weight_decay else {})
