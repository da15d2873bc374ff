"""Public API beyond `grad`: forward mode, VJPs, Jacobians, Hessians, Hessian-vector
products. Same conventions as `grad` (compiler/api.py): `wrt` names or indices (one
entry: one array back; a tuple: a tuple), `jit="auto"|True|False`, `.source` (the
generated function, readable Python), `.ir`, `.compile_info`, `.wait_compiled()`,
errors at the user's line.

    value, tangent = jvp(f, (x, W), (tx, tW))        # forward mode: J t
    value, f_vjp = vjp(f, x, W); gx, gW = f_vjp(ct)   # reverse mode with a seed: J^T ct
    J = jacobian(f, wrt="x")(x, W)                    # jacfwd / jacrev to force one
    H = hessian(loss, wrt="w")(x, y, V1, V2, V3, w)   # forward-over-reverse
    Hv = hvp(loss, wrt="w")(x, y, V1, V2, V3, w, v)   # without forming H

How: every transformation is a graph transform run on the user's computation graph
(compiler/diff/forward.py, compiler/diff/reverse.py, compiler/diff/seeds.py), then the
pipeline's passes and code generation as for `grad`, so each generated function is
one readable `def` (`<f>_jvp`, `<f>_vjp`, `<f>_hvp`, `<f>_hessian`, `<f>_jacfwd`,
`<f>_jacrev`) compiled by Numba. Specialisation, tiers and staleness are those of
`grad` (compiler/dispatch.py).
"""
from __future__ import annotations

import functools
import os
import sys
import weakref

import numpy as np

from . import background, passes, pipeline
from .arguments import Arguments, arg_type
from .codegen import function_source, module_source
from .diff import seeds
from .dispatch import Dispatcher
from .errors import AdjointError, ArgumentError
from .frontend import lower, parse_function, recording

__all__ = ["TransformFunction", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp",
           "jvp_function", "vjp", "vjp_function"]

# the generated graph is final (nothing differentiates it further): the adjoint pipeline
_FINAL = getattr(passes, "ADJOINT_PIPELINE", passes.PIPELINE)


def generate_transform(fs, key: tuple, n_primal: int, build, suffix: str) -> pipeline.Generated:
    """Generate `build(primal graph)` for the parsed function `fs` whose first `n_primal`
    arguments have the `Type`s `key[:n_primal]` (the rest are seeds: tangents, a
    cotangent); the function is named `<f>_<suffix>`. Raises AdjointError subclasses
    for code that cannot be differentiated."""
    verify_each = bool(os.environ.get("ADJOINT_VERIFY"))
    with recording([]) as captures:
        primal = passes.run_pipeline(lower(fs, key[:n_primal]), verify_each=verify_each)
        graph = passes.run_pipeline(build(primal), _FINAL, verify_each)
    name = f"{fs.node.name}_{suffix}"
    src, consts, source_map = function_source(graph, name)
    modsrc, (start,) = module_source([src], consts)
    if "src" in os.environ.get("ADJOINT_DEBUG", "").split(","):
        print(f"--- ADJOINT_DEBUG=src {name}\n{modsrc}", file=sys.stderr)
    line_map = {start - 1 + line: where for line, where in source_map.items()}
    return pipeline.Generated(fs.node.name, name, primal, graph, src, consts, modsrc,
                              line_map, captures)


class _SeededArguments(Arguments):
    """The user's arguments followed by seed arguments (`extra`: tangents, a cotangent,
    a vector), which are float64 like `wrt` arguments."""

    def __init__(self, fn, fs, wrt, extra: tuple):
        super().__init__(fn, fs, wrt)
        self.n_primal = len(self.names)
        self.names = self.names + tuple(extra)

    def normalize(self, args):
        if len(args) != len(self.names):
            raise ArgumentError(f"{self.fs.node.name}: this transformation takes "
                                f"{len(self.names)} arguments ({', '.join(self.names)}), "
                                f"got {len(args)}")
        out, key = [], []
        for i, a in enumerate(args):
            try:
                v, t = arg_type(a, i in self.wrt or i >= self.n_primal)
            except TypeError as e:
                raise ArgumentError(f"argument {self.names[i]!r}: {e}") from None
            out.append(v)
            key.append(t)
        return out, tuple(key)


class _TransformDispatcher(Dispatcher):
    def __init__(self, arguments, jit, build, suffix):
        super().__init__(arguments, jit)
        self.build, self.suffix = build, suffix

    def generate(self, key):
        a = self.arguments
        return generate_transform(a.fs, key, a.n_primal, functools.partial(self.build, wrt=a.wrt),
                                  self.suffix)


class TransformFunction:
    """A generated transformation of `fn` (see the module docstring); subclasses say how
    a call's arguments and results are arranged. Raises as `GradFunction` does."""

    suffix = ""

    def __init__(self, fn, wrt, jit, build, extra_names=()):
        if jit not in (True, False, "auto"):
            raise ValueError(f'jit must be "auto", True or False, got {jit!r}')
        self.fn, self.jit = fn, jit
        self.fs = parse_function(fn)
        self.single = isinstance(wrt, (int, str))
        probe = Arguments(fn, self.fs, wrt)
        extra = tuple(n.format(name=probe.names[i]) for n in extra_names for i in probe.wrt) \
            if any("{name}" in n for n in extra_names) else tuple(extra_names)
        self.arguments = _SeededArguments(fn, self.fs, wrt, extra)
        self.wrt, self.wrt_names = self.arguments.wrt, self.arguments.wrt_names
        self._n = self.arguments.n_primal
        self._dispatcher = _TransformDispatcher(self.arguments, jit, build, self.suffix)
        functools.update_wrapper(self, fn)
        if jit == "auto":
            background.prestart()

    def _bind(self, args, kwargs):
        """The user's arguments as positional ones (keywords and defaults bound)."""
        if kwargs or len(args) < self._n:
            return tuple(Arguments.bind(self.arguments, args, kwargs))
        return tuple(args)

    def _run(self, args):
        """The generated function's results, as a tuple."""
        try:
            out = self._dispatcher.call(args)
            return out if isinstance(out, tuple) else (out,)
        except AdjointError:
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError,
                MemoryError) as e:  # MemoryError: the tape bound (locate.py); others re-raised
            error = self._dispatcher.run_error(args, e)
            if error is None:
                raise
            raise error from e

    def _pack(self, values):
        """One value for a single `wrt` entry, else a tuple."""
        values = tuple(values)
        return values[0] if self.single else values

    # ---- inspection (as GradFunction) --------------------------------------------------
    def specialize(self, *args):
        """Generate (without calling) the function for arguments like `args` (all of
        them, seeds included)."""
        return self._dispatcher.for_args(args)

    def _spec(self):
        if self._dispatcher.last is None:
            raise AdjointError(
                f"the {self.suffix} of {self.fs.node.name} is generated for the dtypes and "
                "ranks of its arguments: call it once before reading .source or .ir")
        return self._dispatcher.last

    @property
    def source(self) -> str:
        """The generated function (last specialisation), as Python source."""
        return self._spec().source

    @property
    def ir(self):
        """Its SSA graph, after passes."""
        return self._spec().graph

    @property
    def compile_info(self) -> dict:
        s = self._spec()
        return {"mode": self.jit, "tier": s.tier, "jit": s.jit, "ready_seconds": s.ready_seconds,
                "compile_seconds": s.compile_seconds, "cache_hit": s.cache_hit,
                "compile_error": s.compile_error}

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """As GradFunction.wait_compiled: block until the compiled tier serves calls."""
        return self._dispatcher.wait_compiled(timeout)

    def __repr__(self):
        return f"<{self.suffix} of {self.fs.node.name} wrt {', '.join(self.wrt_names)}>"


def _all_args(fn):
    fs = parse_function(fn)
    return tuple(fs.params)


# ---- forward mode --------------------------------------------------------------------
class JVPFunction(TransformFunction):
    """`f_jvp(primals, tangents) -> (f(*primals), J tangents)`: the directional derivative
    of f at `primals` along `tangents` (one per `wrt` argument, each of its argument's
    shape), by forward mode (one sweep, about 1.5-3x f). f may return a scalar or an
    array; the tangent has the shape of f's value. Generated as `<f>_jvp(*args,
    *t_<wrt>)`."""

    suffix = "jvp"

    def __init__(self, fn, wrt=None, *, jit="auto"):
        wrt = _all_args(fn) if wrt is None else wrt
        super().__init__(fn, wrt, jit, seeds.jvp_graph, ("t_{name}",))

    def __call__(self, primals, tangents):
        primals, tangents = tuple(primals), tuple(tangents)
        if len(tangents) != len(self.wrt):
            raise ArgumentError(f"jvp of {self.fs.node.name}: {len(tangents)} tangents for "
                                f"{len(self.wrt)} differentiated arguments "
                                f"({', '.join(self.wrt_names)})", self.fs.loc(self.fs.node))
        for t, i in zip(tangents, self.wrt):
            if i < len(primals) and np.shape(t) != np.shape(primals[i]):
                raise ArgumentError(f"jvp of {self.fs.node.name}: the tangent of "
                                    f"{self.arguments.names[i]!r} has shape {np.shape(t)}, "
                                    f"its argument {np.shape(primals[i])}",
                                    self.fs.loc(self.fs.node))
        value, tangent = self._run(primals + tangents)
        return value, tangent


def jvp_function(fn, wrt=None, *, jit="auto") -> JVPFunction:
    """The forward-mode derivative of `fn` as a function `(primals, tangents) -> (value,
    tangent)`, with `.source` (see JVPFunction). wrt: the arguments that get tangents
    (names or indices; default: all)."""
    return JVPFunction(fn, wrt, jit=jit)


def jvp(fn, primals, tangents, *, wrt=None, jit="auto"):
    """(fn(*primals), J tangents): forward mode, as `jax.jvp`.

    primals: fn's arguments (a tuple); tangents: one array or float per `wrt` entry,
    each of its argument's shape; without `wrt`, one per argument that is not an integer
    or boolean (labels, indices, masks: a tangent given for one is ignored). Returns the value and the
    directional derivative (the shape of the value). The generated function is kept per
    (fn, wrt, jit): `jvp_function(fn, ...)` gives it, with `.source`. Raises
    ArgumentError for tangents of the wrong number or shape, AdjointError subclasses for
    code that cannot be differentiated (at its line)."""
    primals, tangents = tuple(primals), tuple(tangents)
    if wrt is not None:
        return _cached(JVPFunction, fn, wrt, jit)(primals, tangents)
    w = _float_positions(primals)
    if len(tangents) == len(primals):  # a tangent per argument: integers' are ignored
        tangents = tuple(tangents[i] for i in w)
    return _cached(JVPFunction, fn, w, jit)(primals, tangents)


def _float_positions(args) -> tuple:
    """Positions of the arguments that are not integers or booleans (labels, indices,
    masks have no tangent)."""
    def is_int(a):
        return np.asarray(a).dtype.kind in "iub"
    return tuple(i for i, a in enumerate(args) if not is_int(a))


# ---- reverse mode with a seed -----------------------------------------------------------
class VJPFunction(TransformFunction):
    """`f_vjp(*args, ct) -> (f(*args), cotangents)`: reverse mode seeded with the
    cotangent `ct` (the shape of f's value) instead of 1, giving J^T ct per `wrt`
    argument (one array, or a tuple for a tuple `wrt`). Generated as `<f>_vjp(*args,
    ct)`: the gradient of the scalar <f(args), ct>."""

    suffix = "vjp"

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit, seeds.vjp_graph, ("ct",))

    def __call__(self, *args):
        out = self._run(args)
        return out[0], self._pack(out[1:])


def vjp_function(fn, wrt=0, *, jit="auto") -> VJPFunction:
    """See VJPFunction."""
    return VJPFunction(fn, wrt, jit=jit)


def vjp(fn, *primals, wrt=None, jit="auto"):
    """(fn(*primals), vjp_fn), as `jax.vjp`: `vjp_fn(ct)` returns J^T ct as a tuple, one
    entry per argument that is not an integer or boolean (per `wrt` entry when given:
    one array for a single entry), for a cotangent `ct` of the value's
    shape. Each call of vjp_fn runs the generated `<fn>_vjp` (forward and backward
    sweeps); `vjp_function` gives it with `.source`."""
    w = _float_positions(primals) if wrt is None else wrt
    f = _cached(VJPFunction, fn, w, jit)

    def vjp_fn(ct):
        return f(*primals, ct)[1]

    value = _cached(ValueFunction, fn, w, jit)(*primals)
    return value, vjp_fn


class ValueFunction(TransformFunction):
    """fn's value as generated code (`<fn>_value`): the forward sweep alone."""

    suffix = "value"

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit, lambda primal, wrt: primal)

    def __call__(self, *args):
        return self._run(args)[0]


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _cached(cls, fn, wrt, jit):
    per_fn = _CACHE.setdefault(fn, {})
    key = (cls, wrt if isinstance(wrt, (int, str)) else tuple(wrt), jit)
    if key not in per_fn:
        per_fn[key] = cls(fn, wrt, jit=jit)
    return per_fn[key]


# ---- Jacobians and Hessians ---------------------------------------------------------------
class JacobianFunction(TransformFunction):
    """`J(*args)`: the Jacobian of f's value with respect to the `wrt` arguments, each
    block of shape `value.shape + arg.shape` (as JAX); one array for one `wrt` entry, a
    tuple otherwise. mode "fwd": one tangent sweep per entry of the arguments (loops over
    basis tangents in one generated function `<f>_jacfwd`, the primal computed once);
    "rev": one backward sweep per entry of the value (`<f>_jacrev`, the forward sweep
    once)."""

    def __init__(self, fn, wrt=0, *, jit="auto", mode="fwd"):
        if mode not in ("fwd", "rev"):
            raise ValueError(f'mode must be "fwd" or "rev", got {mode!r}')
        self.suffix = "jac" + mode
        build = seeds.jacfwd_graph if mode == "fwd" else seeds.jacrev_graph
        super().__init__(fn, wrt, jit, build)

    def __call__(self, *args, **kwargs):
        return self._pack(self._run(self._bind(args, kwargs)))


class AutoJacobian:
    """`jacobian(f)`: forward mode when the `wrt` arguments have no more entries than f's
    value, else reverse mode; decided per argument shapes on the first call (which runs
    forward mode and so learns the value's size)."""

    def __init__(self, fn, wrt=0, *, jit="auto"):
        self.fwd = JacobianFunction(fn, wrt, jit=jit, mode="fwd")
        self.rev = JacobianFunction(fn, wrt, jit=jit, mode="rev")
        self.single, self.wrt = self.fwd.single, self.fwd.wrt
        self._mode: dict = {}  # argument shapes -> "fwd" | "rev"
        self.last = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        args = self.fwd._bind(args, kwargs)
        shapes = tuple(np.shape(a) for a in args)
        mode = self._mode.get(shapes)
        if mode == "rev":
            self.last = self.rev
            return self.rev(*args)
        out = self.fwd(*args)
        self.last = self.fwd
        if mode is None:
            blocks = (out,) if self.single else out
            n_in = sum(int(np.size(args[i])) for i in self.wrt)
            n_out = int(np.size(blocks[0])) // max(int(np.size(args[self.wrt[0]])), 1)
            self._mode[shapes] = "fwd" if n_in <= n_out else "rev"
        return out

    @property
    def source(self) -> str:
        return (self.last or self.fwd).source


def jacfwd(fn=None, wrt=0, *, jit="auto"):
    """The Jacobian by forward mode (see JacobianFunction); a decorator too."""
    if fn is None:
        return lambda f: JacobianFunction(f, wrt, jit=jit, mode="fwd")
    return JacobianFunction(fn, wrt, jit=jit, mode="fwd")


def jacrev(fn=None, wrt=0, *, jit="auto"):
    """The Jacobian by reverse mode (see JacobianFunction); a decorator too."""
    if fn is None:
        return lambda f: JacobianFunction(f, wrt, jit=jit, mode="rev")
    return JacobianFunction(fn, wrt, jit=jit, mode="rev")


def jacobian(fn=None, wrt=0, *, jit="auto"):
    """The Jacobian of fn's value with respect to `wrt`, forward or reverse mode by
    shape (see AutoJacobian); `jacfwd`/`jacrev` force one."""
    if fn is None:
        return lambda f: AutoJacobian(f, wrt, jit=jit)
    return AutoJacobian(fn, wrt, jit=jit)


class HessianFunction(TransformFunction):
    """`H(*args)`: the Hessian of the scalar f with respect to the `wrt` arguments, by
    forward-over-reverse (the JVP of the generated gradient along each basis vector, in
    one generated function `<f>_hessian` whose primal and gradient run once). One `wrt`
    entry: an array of shape `w.shape + w.shape`; a tuple: a tuple of tuples of blocks
    H[i][k] of shape `w_i.shape + w_k.shape`. Cost: one gradient plus one tangent sweep
    of the forward and backward sweeps per entry of the `wrt` arguments."""

    suffix = "hessian"

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit, seeds.hessian_graph)

    def __call__(self, *args, **kwargs):
        out = self._run(self._bind(args, kwargs))
        k = len(self.wrt)
        if self.single:
            return out[0]
        # blocks come output-major: out[o * k + i] = d g_o / d w_i = H[i][o]
        return tuple(tuple(out[o * k + i] for o in range(k)) for i in range(k))


def hessian(fn=None, wrt=0, *, jit="auto"):
    """The Hessian of the scalar loss fn (see HessianFunction); a decorator too. Method:
    forward mode over the generated reverse mode (Pearlmutter, "Fast exact
    multiplication by the Hessian", Neural Computation 1994, for the HVP)."""
    if fn is None:
        return lambda f: HessianFunction(f, wrt, jit=jit)
    return HessianFunction(fn, wrt, jit=jit)


class HVPFunction(TransformFunction):
    """`hvp(*args, v)`: the Hessian of the scalar f with respect to the `wrt` arguments
    times v (one array of w's shape for one `wrt` entry, a tuple for several), without
    forming the Hessian: the JVP of the generated gradient along v (forward-over-reverse,
    Pearlmutter 1994), generated as `<f>_hvp(*args, *t_<wrt>)`. Cost: about 2-4 gradients.
    Returns H v in v's structure."""

    suffix = "hvp"

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit, seeds.hvp_graph, ("t_{name}",))

    def __call__(self, *args):
        if len(args) != self._n + 1:
            raise ArgumentError(f"hvp of {self.fs.node.name} takes its {self._n} arguments "
                                f"and v, got {len(args)} arguments", self.fs.loc(self.fs.node))
        *primals, v = args
        vs = (v,) if self.single else tuple(v)
        if len(vs) != len(self.wrt):
            raise ArgumentError(f"hvp of {self.fs.node.name}: v has {len(vs)} parts for "
                                f"{len(self.wrt)} differentiated arguments", self.fs.loc(self.fs.node))
        return self._pack(self._run(tuple(primals) + vs))


def hvp(fn=None, wrt=0, *, jit="auto"):
    """The Hessian-vector product of the scalar loss fn (see HVPFunction); a decorator too."""
    if fn is None:
        return lambda f: HVPFunction(f, wrt, jit=jit)
    return HVPFunction(fn, wrt, jit=jit)


# ---- gradients of gradients ------------------------------------------------------------------
def _grad_levels(fn):
    """(the plain function under a chain of grad(grad(...)), the inner levels' (wrt
    indices, with_value), innermost first). Raises ArgumentError for a level that does not
    return one scalar (value_and_grad, several `wrt` entries, has_aux)."""
    from .api import GradFunction
    levels = []
    while isinstance(fn, (GradFunction, NestedGradFunction)):
        if fn.with_value or not fn.single or getattr(fn, "has_aux", False):
            raise ArgumentError(
                f"grad of {fn!r}: the inner function must return one scalar (a `grad` with "
                "one `wrt` entry of a scalar argument)", fn.fs.loc(fn.fs.node),
                "for second derivatives of array arguments use compiler.hessian or hvp")
        levels.append(tuple(fn.wrt))
        fn = fn.fn if isinstance(fn, GradFunction) else fn.inner
    return fn, levels[::-1]


def gradient_graph(primal, wrt: tuple, with_value: bool = False):
    """The adjoint graph of `primal` (reverse mode, no passes: it is differentiated again),
    its results the gradients (after the value with `with_value`). Raises
    UnsupportedError at the loop when reverse mode stored stacks (reverse over reverse
    through a loop is not supported)."""
    from .diff.reverse import reverse
    from .errors import UnsupportedError
    from .ir.walk import walk
    from .diff.seeds import folded
    adj = folded(reverse(primal, wrt))
    loop = next((op for op in walk(adj.ops) if op.prim in ("stack_alloc", "stack_empty")), None)
    if loop is not None:
        raise UnsupportedError("the gradient of a gradient through a loop is not supported "
                               "(reverse mode over the stacks of a backward loop)", loop.loc,
                               "compiler.hessian and compiler.hvp (forward-over-reverse) "
                               "differentiate loops")
    k = 0 if with_value else 1
    return adj.replace(results=adj.results[k:], result_names=adj.result_names[k:])


def _nested_build(levels, with_value):
    def build(primal, wrt):
        from .diff.reverse import reverse
        g = primal
        for lw in levels:
            g = gradient_graph(g, lw)
            g = g.replace(result_names=("loss",))
        return reverse(g, wrt) if with_value else gradient_graph(g, wrt)
    return build


class NestedGradFunction(TransformFunction):
    """`grad(grad(f))` (any depth), `value_and_grad(grad(f))`: reverse mode over the
    generated (unoptimised) adjoint graph, so the result is one generated function
    `<f>_grad_grad` whose source shows the forward sweep, the inner backward sweep and
    the outer one (cotangents of cotangents are named `g_g_<name>`). Each inner level must
    return one scalar (a `grad` with one `wrt` entry of a scalar argument); loops are
    refused (hessian/hvp handle them). Called and inspected like GradFunction."""

    def __init__(self, inner, wrt=0, *, with_value=False, jit="auto"):
        fn, levels = _grad_levels(inner)
        self.inner, self.with_value = inner, with_value
        self.suffix = "grad_" * (len(levels) + 1) + ("value" if with_value else "")
        self.suffix = self.suffix.rstrip("_")
        super().__init__(fn, wrt, jit, _nested_build(levels, with_value))
        self.fn = inner

    def __call__(self, *args, **kwargs):
        out = self._run(self._bind(args, kwargs))
        if self.with_value:
            return out[0], self._pack(out[1:])
        return self._pack(out)

    def __adjoint_inline__(self, cx, node, args, kwargs):
        return inline_gradient(self, cx, node, args, kwargs)


def inline_gradient(gf, cx, node, args, kwargs):
    """Lower a call of the gradient function `gf` (GradFunction or NestedGradFunction)
    inside a function being lowered (`cx`, frontend/context.py): the callee is lowered
    for its arguments' types, differentiated (reverse mode, no passes), and its adjoint
    graph's ops are copied in with its parameters bound to the call's arguments. Returns
    the gradient (a tuple for a tuple `wrt`; `(value, gradients)` for value_and_grad)."""
    from .diff.seeds import clone_ops
    from .errors import UnsupportedError
    from .ir.core import Value
    if getattr(gf, "has_aux", False):
        raise UnsupportedError("a call of a has_aux gradient inside a differentiated function",
                               cx.fs.loc(node))
    bound = cx.bind_function(node, gf.fs.fn, args, kwargs)
    params = []
    for k, name in enumerate(gf.fs.params):
        v = bound[name]
        if not isinstance(v, Value):
            raise UnsupportedError(f"argument `{name}` of a gradient called here is not an array "
                                   "or number", cx.fs.loc(node))
        if k in gf.wrt and not v.type.is_float:
            v = cx.b.emit("cast", v)
        params.append(v)
    key = tuple(v.type for v in params)
    primal = passes.run_pipeline(lower(gf.fs, key))
    if isinstance(gf, NestedGradFunction):
        graph = _nested_build(_grad_levels(gf.inner)[1], gf.with_value)(primal, gf.wrt)
    else:
        graph = gradient_graph(primal, gf.wrt, with_value=gf.with_value)
    subst = dict(zip(graph.params, params))
    # copied as primal ops: the passes before reverse mode (in-place accumulation of
    # adjoint-phase sums) must leave them functional, since they are differentiated again
    cx.b.ops.extend(_primal_phase(clone_ops(graph.ops, subst)))
    outs = [subst.get(r, r) for r in graph.results]
    if gf.with_value:
        grads = outs[1] if gf.single else tuple(outs[1:])
        return outs[0], grads
    return outs[0] if gf.single else tuple(outs)


def _primal_phase(ops):
    from .ir.core import Region
    out = []
    for op in ops:
        regions = tuple(Region(r.params, tuple(_primal_phase(r.ops)), r.results) for r in op.regions)
        out.append(op.with_(phase="primal", regions=regions))
    return out
