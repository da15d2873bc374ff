"""Gradient per call from Python: the same loss and gradients in every implementation.

A `CallSpec` lists the argument tuples of the calls (cycled through), the positions of
the differentiated arguments and the loss in each library. Every library gets its own
array types, made before timing: NumPy arrays for ours, hand-written NumPy and Numba
and autograd; tensors for PyTorch (the differentiated ones with requires_grad); device
arrays for JAX. Every implementation returns the loss and the gradients: ours
`value_and_grad`, autograd's `value_and_grad`, PyTorch `autograd.grad` after the
forward pass, `jax.jit(jax.value_and_grad)` (the loss costs nothing extra: reverse mode
computes it anyway). The first three argument tuples are used for verification.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from benchmarks import libs
from benchmarks.harness import Impl, Table
from compiler import value_and_grad

HAND_NUMPY = "hand-written NumPy"
HAND_NUMBA = "hand-written Numba"


@dataclass
class CallSpec:
    """grad_numpy / grad_numba: (*args) -> (loss, *grads in wrt order); more: [(label,
    function like grad_numba, note)]; ag_loss(*args) with autograd.numpy;
    torch_loss(torch, *args); jax_loss(jnp, *args)."""

    title: str
    key: str
    loss: Callable
    wrt: tuple  # names
    argsets: list
    grad_numpy: Callable
    grad_numba: Callable
    ag_loss: Callable | None
    torch_loss: Callable | None
    jax_loss: Callable | None
    more: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def pos(self) -> tuple:
        import inspect
        names = list(inspect.signature(self.loss).parameters)
        return tuple(names.index(w) for w in self.wrt)


def _impl(label, f, unpack, argsets, note=""):
    m = len(argsets)

    def run(n):
        for k in range(n):
            f(*argsets[k % m])

    def check():
        out = []
        for args in argsets[:3]:
            out += unpack(f(*args))
        return out
    return Impl(label, run, check, note)


def call_table(s: CallSpec) -> Table:
    pos = s.pos
    impls = []
    tup = lambda o: [o[0], *o[1]]  # noqa: E731 - wrt is a tuple: grads come as a tuple
    impls.append(_impl("ours, compiled", value_and_grad(s.loss, wrt=s.wrt, jit=True), tup,
                       s.argsets))
    impls.append(_impl("ours, jit=False", value_and_grad(s.loss, wrt=s.wrt, jit=False), tup,
                       s.argsets))
    impls.append(_impl(HAND_NUMPY, s.grad_numpy, list, s.argsets))
    impls.append(_impl(HAND_NUMBA, s.grad_numba, list, s.argsets))
    for label, f, note in s.more:
        impls.append(_impl(label, f, list, s.argsets, note))
    ag = libs.autograd()
    if ag is not None and s.ag_loss is not None:
        impls.append(_impl("autograd", ag.value_and_grad(s.ag_loss, pos),
                           lambda o: [o[0], *o[1]], s.argsets))
    t = libs.torch()
    if t is not None and s.torch_loss is not None:
        memo = {}

        def conv(i, a):  # one tensor per distinct array: parameters are shared
            if not isinstance(a, np.ndarray):
                return a
            if id(a) not in memo:
                memo[id(a)] = (t.tensor(a, requires_grad=True) if i in pos
                               else t.from_numpy(a), a)
            return memo[id(a)][0]
        targs = [tuple(conv(i, a) for i, a in enumerate(args)) for args in s.argsets]

        def t_call(*args):
            loss = s.torch_loss(t, *args)
            return loss, t.autograd.grad(loss, [args[i] for i in pos])
        impls.append(_impl("PyTorch eager", t_call,
                           lambda o: [o[0].item()] + [g.numpy() for g in o[1]], targs,
                           "1 thread"))
    jx = libs.jax()
    if jx is not None and s.jax_loss is not None:
        jnp = jx.jnp
        jvg = jx.jax.jit(jx.jax.value_and_grad(lambda *a: s.jax_loss(jnp, *a), argnums=pos))
        memo = {}

        def jconv(a):
            if id(a) not in memo:
                memo[id(a)] = (jnp.asarray(a), a)
            return memo[id(a)][0]
        jargs = [tuple(jconv(a) for a in args) for args in s.argsets]

        def j_call(*args):
            return jx.jax.block_until_ready(jvg(*args))
        impls.append(_impl("jax.jit(value_and_grad)", j_call,
                           lambda o: [np.asarray(o[0])] + [np.asarray(g) for g in o[1]],
                           jargs))
    return Table(f"{s.title}: gradient per call from Python", "call", impls, HAND_NUMBA,
                 HAND_NUMPY, list(s.notes), key=f"{s.key}_call")
