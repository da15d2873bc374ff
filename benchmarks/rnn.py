"""Workload 4: an RNN-style recurrence over 1,000 steps, hidden width 16 (issue 3).

    h_0 = 0,  h_{t+1} = tanh(W h_t + U x_t)  for t < T = 1000,  loss = sum(h_T ** 2)

Gradient with respect to W (16, 16) and U (16, 8). Ours differentiates the loop as
written (`for t in range(...)` with `xs[t]`: a compiled forward loop that stacks the
hidden states, and a backward loop); hand-written NumPy and Numba keep the states in a
(T + 1, 16) array; JAX's loss uses `lax.scan` (a Python loop under `jax.jit` would
unroll 1,000 steps); autograd and PyTorch run a Python loop over the steps.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from benchmarks.calls import CallSpec
from benchmarks.losses import rnn_loss

T, H, D = 1000, 16, 8


def rnn_grad(W, U, h0, xs):
    """(loss, g_W, g_U): forward keeping every state, backward through time."""
    n = xs.shape[0]
    hs = np.empty((n + 1, h0.shape[0]))
    hs[0] = h0
    for t in range(n):
        hs[t + 1] = np.tanh(W @ hs[t] + U @ xs[t])
    h = hs[n]
    g_W = np.zeros_like(W)
    g_U = np.zeros_like(U)
    g = 2.0 * h
    for t in range(n - 1, -1, -1):
        d = g * (1.0 - hs[t + 1] * hs[t + 1])
        g_W += np.outer(d, hs[t])
        g_U += np.outer(d, xs[t])
        g = W.T @ d
    return np.sum(h * h), g_W, g_U


rnn_grad_numba = njit(cache=True)(rnn_grad)


@njit(cache=True, fastmath=False)
def rnn_grad_loops(W, U, h0, xs):
    """The same with scalar loops: no temporary arrays (the fastest we wrote)."""
    n, m, k = xs.shape[0], W.shape[0], U.shape[1]
    hs = np.empty((n + 1, m))
    hs[0] = h0
    for t in range(n):
        for a in range(m):
            s = 0.0
            for b in range(m):
                s += W[a, b] * hs[t, b]
            for b in range(k):
                s += U[a, b] * xs[t, b]
            hs[t + 1, a] = np.tanh(s)
    g_W = np.zeros_like(W)
    g_U = np.zeros_like(U)
    g = 2.0 * hs[n]
    d = np.empty(m)
    for t in range(n - 1, -1, -1):
        for a in range(m):
            d[a] = g[a] * (1.0 - hs[t + 1, a] * hs[t + 1, a])
            for b in range(m):
                g_W[a, b] += d[a] * hs[t, b]
            for b in range(k):
                g_U[a, b] += d[a] * xs[t, b]
        for b in range(m):
            s = 0.0
            for a in range(m):
                s += W[a, b] * d[a]
            g[b] = s
    return np.sum(hs[n] * hs[n]), g_W, g_U


def _ag_loss(W, U, h0, xs):
    import autograd.numpy as anp
    h = h0
    for t in range(xs.shape[0]):
        h = anp.tanh(W @ h + U @ xs[t])
    return anp.sum(h * h)


def _torch_loss(t, W, U, h0, xs):
    h = h0
    for k in range(xs.shape[0]):
        h = t.tanh(W @ h + U @ xs[k])
    return t.sum(h * h)


def _jax_loss(jnp, W, U, h0, xs):
    from jax import lax

    def step(h, x):
        return jnp.tanh(W @ h + U @ x), None
    h, _ = lax.scan(step, h0, xs)
    return jnp.sum(h * h)


def data(steps: int = T, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 0.9 / np.sqrt(H), (H, H))
    U = rng.normal(0.0, 1.0 / np.sqrt(D), (H, D))
    return W, U, np.zeros(H), rng.normal(size=(steps, D))


def spec(steps: int = T) -> CallSpec:
    W, U, h0, xs = data(steps)
    xs2 = data(steps, seed=1)[3]
    return CallSpec(f"RNN recurrence, {steps} steps, width {H}", "rnn", rnn_loss, ("W", "U"),
                    [(W, U, h0, xs), (W, U, h0, xs2)], rnn_grad, rnn_grad_numba,
                    _ag_loss, _torch_loss, _jax_loss,
                    more=[("hand-written Numba, scalar loops", rnn_grad_loops, "no temporaries")],
                    notes=[f"h = tanh(W @ h + U @ xs[t]) for t < {steps}; W ({H}, {H}), "
                           f"U ({H}, {D}), xs ({steps}, {D}); loss sum(h * h); float64"])
