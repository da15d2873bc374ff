"""Per-example workloads (a loss of one example's x and y): two tables each.

- gradient per call from Python: loss and gradients of one example, cycling through the
  data set's rows; every library gets its own array type, made before timing (NumPy
  arrays for ours, NumPy, Numba and autograd; tensors for PyTorch; device arrays for JAX).
- one epoch of per-example SGD (p <- p - lr g for every example, in a given order):
  ours: the generated epoch loop that `runtime.train.fit` runs, called directly with
  fit's arguments (what `FitResult.epoch_seconds` times; verified through `fit` itself),
  the hand-written loops, the Python loops of the tape libraries, and JAX's epoch as one
  jitted `lax.scan`. Verification: parameters after one epoch from the same start in
  the same order.

A `Model` gives the pieces; `call_table` and `epoch_table` build the `Table`s.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks import calls, libs
from benchmarks.harness import Impl, Table
from compiler import value_and_grad
from runtime.optim import SGD, Adam, loop_kernel
from runtime.train import fit

SEED = 7  # the epoch order used for verification: default_rng(SEED).permutation(n)
HAND_NUMPY, HAND_NUMBA = calls.HAND_NUMPY, calls.HAND_NUMBA


@dataclass
class Model:
    """A per-example loss `loss(x, y, *params)` in every implementation.

    grad_numpy / grad_numba: (x, y, *params) -> (loss, *grads in wrt order);
    epoch_numba: njit (X, y, *params, lr, order) -> mean loss, updating params in place;
    more_epochs: [(label, njit epoch like epoch_numba)];
    ag_loss(x, y, *params) with autograd.numpy; torch_loss(torch, x, y, *params);
    jax_loss(jnp, x, y, *params)."""

    title: str
    key: str
    loss: Callable
    wrt: tuple
    X: np.ndarray
    y: np.ndarray
    params: dict
    lr: float
    grad_numpy: Callable
    grad_numba: Callable
    epoch_numba: Callable
    ag_loss: Callable
    torch_loss: Callable
    jax_loss: Callable
    more_epochs: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def p0(self) -> list:
        return [np.array(self.params[k], dtype=np.float64) for k in self.wrt]


def call_table(m: Model) -> Table:
    """Gradient of one example per call, cycling through the data set's rows."""
    ps = m.p0()
    argsets = [(np.ascontiguousarray(m.X[i]), float(m.y[i]), *ps) for i in range(len(m.y))]
    return calls.call_table(calls.CallSpec(
        m.title, m.key, m.loss, m.wrt, argsets, m.grad_numpy, m.grad_numba, m.ag_loss,
        m.torch_loss, m.jax_loss, notes=list(m.notes)))


def _fit_epoch_runner(vg, m: Model, orders):
    """run(n): n epochs of the loop `fit` runs (`vg.epoch_function(...).epoch`, the same
    arguments), called directly so that the harness times just the epoch call, as
    `FitResult.epoch_seconds` does; the parameters carry over from call to call."""
    opt = SGD(m.lr)
    ps = m.p0()
    by_name = dict(zip(m.wrt, ps)) | {vg.arg_names[0]: m.X, vg.arg_names[1]: m.y}
    example = [by_name[a][0] if a not in m.wrt else by_name[a] for a in vg.arg_names]
    hyper, stats = opt.hyper(), np.zeros((len(ps), 3))
    loops = vg.epoch_function(loop_kernel(opt, hyper), example, False)  # as fit chooses
    args = [by_name[a] for a in vg.arg_names] + [opt.init_state(p) for p in ps]

    def run(n_epochs):
        for k in range(n_epochs):
            loops.epoch(*args, hyper, orders[k % len(orders)], 0, 1, 0.0, stats)
    return run


FIT_CALL = "ours, one fit(epochs=1) call"
ADAM_PY = "ours, jit=False, Adam (fit(epochs=1))"


def _fit_call_runner(vg, m: Model, opt):
    """run(n): n calls of fit(epochs=1) from the same start (the compiled loops made and
    warmed by an earlier call, as in a loop of short fits)."""
    p0 = dict(zip(m.wrt, m.p0()))

    def run(n_calls):
        for k in range(n_calls):
            fit(vg, p0, (m.X, m.y), opt, epochs=1, seed=k, verbose=False)
    return run


def _py_epoch(step, X, y, ps, lr, order):
    """A Python loop of per-example SGD; step(x, y, *ps) -> (loss, [grads])."""
    total = 0.0
    for i in order:
        loss, grads = step(X[i], y[i], *ps)
        for p, g in zip(ps, grads):
            p -= lr * g
        total += loss
    return total / len(order)


def epoch_table(m: Model, slow_python: bool = False) -> Table:
    """slow_python: True runs ours with jit=False only once (its optimiser kernel's
    element loops are plain Python: seconds per epoch at width 256), "skip" leaves it out."""
    n = len(m.y)
    orders = [np.random.default_rng(s).permutation(n).astype(np.int64) for s in range(4)]
    check_order = np.random.default_rng(SEED).permutation(n).astype(np.int64)
    impls = []

    def persistent(label, epoch, note="", convert=None):
        """An epoch function (X, y, ps, order) updating ps in place."""
        state = {"ps": m.p0()}

        def run(n_epochs):
            for k in range(n_epochs):
                epoch(m.X, m.y, state["ps"], orders[k % len(orders)])

        def check():
            ps = m.p0()
            epoch(m.X, m.y, ps, check_order)
            return ps
        impls.append(Impl(label, run, check, note))

    for label, jit in (("ours, compiled (fit)", True), ("ours, jit=False (fit)", False)):
        vg = value_and_grad(m.loss, wrt=m.wrt, jit=jit)
        run = _fit_epoch_runner(vg, m, orders)

        def check(vg=vg):
            res = fit(vg, dict(zip(m.wrt, m.p0())), (m.X, m.y), SGD(m.lr), epochs=1,
                      seed=SEED, verbose=False, grad_health=False)
            return [res.params[k] for k in m.wrt]
        if jit or not slow_python:
            impls.append(Impl(label, run, check, "compiled epoch loop" if jit else ""))
        elif slow_python != "skip":  # seconds per epoch: measured once, verified at width 16
            impls.append(Impl(label, run, None, "one epoch, not repeated", single=True))
        if jit:  # the whole call: validation, RNG, loops lookup, history (issue 16)
            impls.append(Impl(FIT_CALL, _fit_call_runner(vg, m, SGD(m.lr)), None,
                              "whole call, compiled loops"))
        elif slow_python is True:  # the NumPy tier's optimiser forms (issue 16: under 1 s)
            impls.append(Impl(ADAM_PY, _fit_call_runner(vg, m, Adam(1e-3)), None,
                              "one epoch, not repeated", single=True))

    def np_step(x, y, *ps):
        out = m.grad_numpy(x, y, *ps)
        return out[0], out[1:]
    persistent(HAND_NUMPY, lambda X, y, ps, o: _py_epoch(np_step, X, y, ps, m.lr, o),
               "Python loop")
    for label, ep in [(HAND_NUMBA, m.epoch_numba)] + list(m.more_epochs):
        persistent(label, lambda X, y, ps, o, ep=ep: ep(X, y, *ps, m.lr, o))
    ag = libs.autograd()
    if ag is not None:
        agvg = ag.value_and_grad(m.ag_loss, tuple(range(2, 2 + len(m.wrt))))
        persistent("autograd", lambda X, y, ps, o: _py_epoch(agvg, X, y, ps, m.lr, o),
                   "Python loop")
    t = libs.torch()
    if t is not None:
        Xt, yt = t.from_numpy(m.X), t.from_numpy(m.y)

        def t_epoch(X, y, ps, order):
            tps = [t.from_numpy(p).requires_grad_(True) for p in ps]  # shares memory
            for i in order:
                loss = m.torch_loss(t, Xt[i], yt[i], *tps)
                gs = t.autograd.grad(loss, tps)
                with t.no_grad():
                    for p, g in zip(tps, gs):
                        p.sub_(m.lr * g)
        persistent("PyTorch eager", t_epoch, "1 thread, Python loop")
    jx = libs.jax()
    if jx is not None:
        jnp, lax, jax = jx.jnp, jx.lax, jx.jax
        vg_j = jax.value_and_grad(lambda x, y, *p: m.jax_loss(jnp, x, y, *p),
                                  argnums=tuple(range(2, 2 + len(m.wrt))))

        @jax.jit
        def j_epoch(ps, X, y, order):
            def step(p, i):
                loss, g = vg_j(X[i], y[i], *p)
                return tuple(a - m.lr * b for a, b in zip(p, g)), loss
            ps, losses = lax.scan(step, ps, order)
            return ps, jnp.mean(losses)
        Xj, yj = jnp.asarray(m.X), jnp.asarray(m.y)
        jorders = [jnp.asarray(o) for o in orders]
        state = {"ps": tuple(jnp.asarray(p) for p in m.p0())}

        def j_run(n_epochs):
            for k in range(n_epochs):
                state["ps"], loss = j_epoch(state["ps"], Xj, yj, jorders[k % len(jorders)])
            jax.block_until_ready(state["ps"])

        def j_check():
            ps, _ = j_epoch(tuple(jnp.asarray(p) for p in m.p0()), Xj, yj,
                            jnp.asarray(check_order))
            return [np.asarray(p) for p in ps]
        impls.append(Impl("JAX epoch, jit(lax.scan)", j_run, j_check))
    return Table(f"{m.title}: one epoch of per-example SGD ({n} examples)", "epoch", impls,
                 HAND_NUMBA, HAND_NUMPY, list(m.notes), key=f"{m.key}_epoch")
