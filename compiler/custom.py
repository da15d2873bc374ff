"""Custom adjoint rules (`custom_vjp` / `defvjp`) and `stop_gradient`.

    from compiler import custom_vjp, grad, stop_gradient

    @custom_vjp
    def clipped_identity(x):                 # identity forward ...
        return x

    @clipped_identity.defvjp
    def clipped_identity_vjp(g, ans, x):     # ... gradient clipped to [-1, 1] backward
        return np.clip(g, -1.0, 1.0)

A rule has the signature of a primitive's VJP rule (compiler/primitives.py):
`rule(g, ans, *args) -> cotangent of one argument`, where g is the cotangent of the
function's result and ans the result itself. A function of n arguments takes n rules,
`f.defvjp(rule_0, ..., rule_{n-1})` (None: that argument gets no gradient); as a
decorator, `@f.defvjp` gives the rule of a one-argument function.

Guarantees: inside a differentiated function, a call `f(a, b)` lowers f's body
inline (its forward value is f's own code) and marks the result as a `custom_call`
whose adjoint, for each argument, inlines its rule into the backward sweep: adjoint
never differentiates f's body. Both f and its rules must therefore be written with
what adjoint lowers (supported NumPy functions, runtime.functions, other functions
with source); with jit=True they are compiled with the rest of the gradient, and
`print(grad(...).source)` shows them. A rule's result is brought to its argument's
shape (summed over broadcast axes, broadcast over missing ones). Called outside a
differentiated function, `f(...)` is plain Python. Errors (wrong number of rules,
a call before `defvjp`, unsupported code in a rule) are `AdjointError`s naming the
user's file and line.

`stop_gradient(x)` is x, with a zero cotangent: values computed from it are constants
to reverse mode (a target network, a baseline, a straight-through estimator).
"""
from __future__ import annotations

import functools

from .errors import ArgumentError, UnsupportedError
from .frontend import lower_into, parse_function
from .frontend.numpy_api import FUNCTIONS
from .ir.builder import current
from .ir.core import Value
from .primitives import emit_op, fit_shape

__all__ = ["CustomVJP", "custom_vjp", "stop_gradient"]


def stop_gradient(x):
    """x itself; inside a differentiated function its cotangent is zero."""
    return x


class CustomVJP:
    """A function with a user-given adjoint rule per argument (see the module docstring)."""

    def __init__(self, fn, rules=None):
        self.fn = fn
        self.fs = parse_function(fn)  # the fence runs now: unsupported syntax fails early
        self.params = tuple(self.fs.params)
        self.rules = None
        functools.update_wrapper(self, fn)
        _register(self)
        if rules is not None:
            self.defvjp(*rules)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return f"<custom_vjp {self.fn.__qualname__}>"

    def defvjp(self, *rules):
        """Register one rule per argument, `rule(g, ans, *args) -> cotangent` (or None).
        Returns the single rule when given one (so it works as a decorator), else self."""
        name = self.fn.__qualname__
        if len(rules) != len(self.params):
            raise ArgumentError(f"{name} takes {len(self.params)} argument(s) "
                                f"({', '.join(self.params)}): give {name}.defvjp one rule per "
                                f"argument, got {len(rules)}", self.fs.loc(self.fs.node),
                                "use None for an argument without gradient")
        parsed = []
        for r in rules:
            if r is None:
                parsed.append(None)
                continue
            rfs = parse_function(r)
            want = 2 + len(self.params)
            if len(rfs.params) != want:
                raise ArgumentError(f"the rule {r.__qualname__} takes {len(rfs.params)} "
                                    f"argument(s); a rule of {name} takes {want}: "
                                    f"(g, ans, {', '.join(self.params)})", rfs.loc(rfs.node))
            parsed.append(rfs)
        self.rules = tuple(parsed)
        return rules[0] if len(rules) == 1 else self

    # ---- used by the frontend (lowering) and by reverse mode (the rule) ----------------
    def lower_call(self, cx, node, args, kwargs):
        """Lower a call `f(...)` inside a differentiated function (the frontend's handler
        for f): f's body inlined, its result marked as a `custom_call` of the arguments."""
        name = self.fn.__qualname__
        if self.rules is None:
            raise UnsupportedError(f"{name} is a custom_vjp function without rules",
                                   cx.fs.loc(node), f"register them: `@{name}.defvjp`")
        cx.capture(("rules", id(self)), lambda: self.rules, self.rules)  # defvjp again
        bound = cx.bind_function(node, self.fn, args, kwargs)
        ins = [bound[p] for p in self.params]
        result = cx.lower_body(parse_function(self.fn), bound, call=node)
        if not isinstance(result, Value):
            raise UnsupportedError(f"{name} returns a tuple; a custom_vjp function returns "
                                   "one array or number", cx.fs.loc(node))
        return cx.emit(node, "custom_call", result, *ins, rule=self)

    def cotangent(self, i, g, ans, ins):
        """Inline rule i into the current (backward-sweep) builder; its result fitted to
        argument i's shape, or None."""
        rfs = self.rules[i]
        if rfs is None:
            return None
        env = dict(zip(rfs.params, (g, ans) + tuple(ins)))
        c = lower_into(rfs, current(), env)
        if not isinstance(c, Value):
            raise UnsupportedError(f"the rule {rfs.node.name} must return one array or number",
                                   rfs.loc(rfs.node.body[-1]))
        if c.type.dtype != "float64":
            c = emit_op("cast", c)
        x = ins[i]
        if x.type.rank and c.type.rank == x.type.rank:
            return c  # the rule's job: same shape as its argument
        return fit_shape(c, x)


def custom_vjp(fn=None, *, vjp=None):
    """Make `fn` a function with custom adjoint rules: `@custom_vjp` then `@f.defvjp`,
    or `custom_vjp(fn, vjp=rule)` / `custom_vjp(fn, vjp=(rule_a, rule_b))`.

    Returns a `CustomVJP` (callable like fn). Raises `UnsupportedError` if fn's source
    cannot be read or uses unsupported syntax, `ArgumentError` for a wrong number of
    rules."""
    if fn is None:
        return lambda f: custom_vjp(f, vjp=vjp)
    rules = None if vjp is None else (vjp if isinstance(vjp, (tuple, list)) else (vjp,))
    return CustomVJP(fn, rules)


def _register(cv):
    FUNCTIONS.register(cv, lambda cx, node, args, kwargs: cv.lower_call(cx, node, args, kwargs))


def _stop_gradient(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if not isinstance(x, Value):
        raise UnsupportedError("stop_gradient of something that is not an array or number",
                               cx.fs.loc(node))
    return cx.emit(node, "stop_gradient", x)


def _install():
    FUNCTIONS.register(stop_gradient, _stop_gradient)


_install()
