"""Public API beyond `grad`: forward mode, VJPs, Jacobians, Hessians, Hessian-vector
products. Same conventions as `grad` (compiler/api.py): `wrt` names or indices (one
entry: one array back; a tuple: a tuple), `jit="auto"|True|False`, `.source` (the
generated function, readable Python), `.ir`, `.compile_info`, `.wait_compiled()`,
errors at the user's line. Arguments bind and normalise as `grad`'s (one `Arguments`,
compiler/arguments.py: keywords, defaults, structures flattened to their leaves, a
structured argument's results rebuilt with its structure); seeds (tangents, v, ct) are
checked against their arguments' structure and shapes, never broadcast.

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
import weakref

import numpy as np

from . import background, passes, pipeline
from .api import GeneratedFunction
from .arguments import Arguments, arg_type
from .diff import seeds
from .dispatch import RUN_ERRORS, Dispatcher
from .errors import ArgumentError, UnsupportedError
from .frontend import lower, parse_function, recording
from .jvp_rules import CustomVJPForwardError
from .pytree import TreeType, flatten, is_tree

__all__ = ["TransformFunction", "hessian", "hvp", "jacfwd", "jacobian", "jacrev", "jvp",
           "jvp_function", "vjp", "vjp_function"]

# the generated graph is final (nothing differentiates it further): the adjoint pipeline


def generate_transform(fs, key: tuple, n_primal: int, build, suffix: str) -> pipeline.Generated:
    """Generate `build(primal graph)` for the parsed function `fs` whose first `n_primal`
    arguments have the `Type`s `key[:n_primal]` (the rest are seeds: tangents, a
    cotangent); the function is named `<f>_<suffix>`. Raises AdjointError subclasses
    for code that cannot be differentiated."""
    verify_each = bool(os.environ.get("ADJOINT_VERIFY"))
    with recording([]) as captures:
        primal = passes.run_pipeline(lower(fs, key[:n_primal]), verify_each=verify_each)
        graph = passes.run_pipeline(build(primal), passes.ADJOINT_PIPELINE, verify_each)
    return pipeline.emit(fs, f"{fs.node.name}_{suffix}", primal, graph, captures)


class _SeededArguments(Arguments):
    """The user's arguments, bound and normalised exactly as `grad`'s (`Arguments`:
    keywords, defaults, structures flattened to their leaves), followed by `n_seeds`
    seed arguments (tangents or vectors: one per `wrt` argument, with its structure; or
    one cotangent), whose leaves are float64 like a `wrt` argument's. The
    specialisation key has one entry per argument, seeds last."""

    def __init__(self, fn, fs, wrt, n_seeds: int):
        super().__init__(fn, fs, wrt)
        self.n_primal = len(self.names)
        self.n_seeds = n_seeds

    def normalize(self, args):
        """(leaves of the arguments then of the seeds, key). Raises ArgumentError for a
        wrong count or an argument that is not an array, number or structure of them."""
        n = self.n_primal
        if len(args) != n + self.n_seeds:
            raise ArgumentError(f"{self.fs.node.name}: this transformation takes its {n} "
                                f"arguments ({', '.join(self.names)}) and {self.n_seeds} "
                                f"seeds, got {len(args)}", self.fs.loc(self.fs.node))
        out, key = super().normalize(args[:n])
        out, key = list(out), list(key)
        for k, s in enumerate(args[n:]):
            try:
                leaves, tree = flatten(s) if is_tree(s) else ([s], None)
                types = []
                for leaf in leaves:
                    v, t = arg_type(leaf, True)
                    out.append(v)
                    types.append(t)
            except TypeError as e:
                raise ArgumentError(f"seed {k}: {e}", self.fs.loc(self.fs.node)) from None
            key.append(types[0] if tree is None else TreeType(tree, tuple(types)))
        return out, tuple(key)


def check_seed(seed, primal, what: str, loc):
    """Raise ArgumentError unless `seed` (a tangent, a vector v) has the structure of
    `primal` (the same tree: dict keys in the same order) and each leaf its leaf's shape
    (no broadcasting: a seed of another shape is a mistake, never stretched)."""
    if is_tree(primal) or is_tree(seed):
        p_leaves, p_tree = flatten(primal) if is_tree(primal) else ([primal], None)
        s_leaves, s_tree = flatten(seed) if is_tree(seed) else ([seed], None)
        if p_tree != s_tree:
            raise ArgumentError(f"{what} has the structure {s_tree or 'an array'}, its "
                                f"argument {p_tree or 'an array'} (the same keys in the "
                                "same order)", loc)
    else:
        p_leaves, s_leaves = [primal], [seed]
    for s, p in zip(s_leaves, p_leaves):
        if np.shape(s) != np.shape(p):
            raise ArgumentError(f"{what} has shape {np.shape(s)}, its argument "
                                f"{np.shape(p)}", loc)


def _per_argument(out, trees, start=0):
    """`out[start:]` (one value per leaf of the `wrt` arguments) as one value per `wrt`
    argument: a structured argument's leaves rebuilt into its structure."""
    values, pos = [], start
    for tree in trees:
        if tree is None:
            values.append(out[pos])
            pos += 1
        else:
            values.append(tree.unflatten(out[pos:pos + tree.num_leaves]))
            pos += tree.num_leaves
    return values


class _TransformDispatcher(Dispatcher):
    """A `Dispatcher` whose generated code is `owner.build` of the primal graph and whose
    outputs `owner.regroup_for(trees)` arranges per `wrt` argument (structures)."""

    def __init__(self, arguments, jit, owner):
        super().__init__(arguments, jit)
        self.owner = owner

    def generate(self, key):
        a = self.arguments
        primal_key = key[:a.n_primal]
        build = functools.partial(self.owner.build, wrt=a.leaf_wrt(primal_key))
        return generate_transform(a.fs, key, a.n_primal, build, self.owner.suffix)

    def specialize(self, key):
        spec = super().specialize(key)
        trees = [key[i].tree if isinstance(key[i], TreeType) else None for i in self.arguments.wrt]
        spec.regroup = self.owner.regroup_for(trees) if any(trees) else None
        return spec


class TransformFunction(GeneratedFunction):
    """A generated transformation of `fn` (see the module docstring). Its arguments are
    bound and normalised as `grad`'s (compiler/arguments.py: keywords, defaults,
    structures), then come `n_seeds` seeds. Subclasses give `build(primal graph, wrt=leaf
    positions)`, `suffix`, and arrange a call's arguments and results; `regroup_for`
    says how the generated outputs map to `wrt` arguments when some are structures.
    Raises as `GradFunction` does."""

    suffix = ""
    n_seeds = 0

    def __init__(self, fn, wrt, jit, build=None):
        if jit not in (True, False, "auto"):
            raise ValueError(f'jit must be "auto", True or False, got {jit!r}')
        self.fn, self.jit = fn, jit
        self.fs = parse_function(fn)
        if build is not None:
            self.build = build
        self.arguments = _SeededArguments(fn, self.fs, wrt, self.n_seeds)
        self.single = self.arguments.single
        self.wrt, self.wrt_names = self.arguments.wrt, self.arguments.wrt_names
        self._n = self.arguments.n_primal
        self._dispatcher = _TransformDispatcher(self.arguments, jit, self)
        functools.update_wrapper(self, fn)
        if jit == "auto":
            background.prestart()

    @property
    def _noun(self):
        return self.suffix

    def regroup_for(self, trees):
        """Outputs `(*one per wrt leaf)` -> `(*one per wrt argument)` (the default:
        Jacobian blocks, Hessian-vector products)."""
        return lambda out: tuple(_per_argument(out, trees))

    def _bind(self, args, kwargs):
        """The user's arguments as positional ones, bound as Python binds them
        (keywords, defaults); raises ArgumentError as `grad` does."""
        if kwargs or len(args) != self._n or self.fs.node.args.kwonlyargs:
            return tuple(self.arguments.bind(tuple(args), kwargs))
        return tuple(args)

    def _check_seeds(self, primals, seeds, noun):
        """Each seed (`noun`: "the tangent", "v's part") has its `wrt` argument's
        structure and shapes (check_seed)."""
        for s, i, name in zip(seeds, self.wrt, self.wrt_names):
            p = primals[i]
            if type(s) is np.ndarray and type(p) is np.ndarray and s.shape == p.shape:
                continue  # the common case, checked in well under a microsecond
            check_seed(s, p, f"{self.suffix} of {self.fs.node.name}: {noun} of {name!r}",
                       self.fs.loc(self.fs.node))

    def _run(self, args):
        """The generated function's results (regrouped per `wrt` argument), as a tuple."""
        try:
            out = self._dispatcher.run(args)
        except RUN_ERRORS as e:
            self._dispatcher.reraise(args, e)
        return out if isinstance(out, tuple) else (out,)

    def _pack(self, values):
        """One value for a single `wrt` entry, else a tuple."""
        values = tuple(values)
        return values[0] if self.single else values

    def __repr__(self):
        return f"<{self.suffix} of {self.fs.node.name} wrt {', '.join(self.wrt_names)}>"


def _is_data(a) -> bool:
    """An integer or boolean argument (a label, an index, a mask): no tangent or
    cotangent unless `wrt` names it. A structure is data when all its leaves are."""
    leaves = flatten(a)[0] if is_tree(a) else [a]
    return all(np.asarray(x).dtype.kind in "iub" for x in leaves)


def _differentiable_positions(args) -> tuple:
    """Positions of the arguments that are not data (`_is_data`)."""
    return tuple(i for i, a in enumerate(args) if not _is_data(a))


def _copy_leaves(a):
    """`a` with its arrays copied (a structure rebuilt around the copies): what a later
    change of the caller's arrays cannot reach."""
    if is_tree(a):
        leaves, tree = flatten(a)
        return tree.unflatten([np.array(x) if isinstance(x, np.ndarray) else x for x in leaves])
    return np.array(a) if isinstance(a, np.ndarray) else a


# ---- forward mode --------------------------------------------------------------------
class JVPFunction(TransformFunction):
    """`f_jvp(primals, tangents) -> (f(*primals), J tangents)`: the directional derivative
    of f at `primals` along `tangents` (one per `wrt` argument, each with its argument's
    shape and structure), by forward mode (one sweep, about 1.5-3x f). primals bind as
    a call of f (defaults apply to those not given). f may return a scalar or an array;
    the tangent has the shape of f's value. Generated as `<f>_jvp(*args, *t_<wrt
    leaves>)`. Raises ArgumentError for tangents of the wrong number, structure or shape."""

    suffix = "jvp"
    build = staticmethod(seeds.jvp_graph)

    def __init__(self, fn, wrt=None, *, jit="auto"):
        wrt = _all_args(fn) if wrt is None else wrt
        self.n_seeds = len((wrt,) if isinstance(wrt, (int, str)) else tuple(wrt))
        super().__init__(fn, wrt, jit)

    def regroup_for(self, trees):
        return None  # (value, tangent of the value): nothing per argument

    def __call__(self, primals, tangents):
        primals, tangents = self._bind(tuple(primals), {}), tuple(tangents)
        if len(tangents) != len(self.wrt):
            raise ArgumentError(f"jvp of {self.fs.node.name}: {len(tangents)} tangents for "
                                f"{len(self.wrt)} differentiated arguments "
                                f"({', '.join(self.wrt_names)})", self.fs.loc(self.fs.node))
        self._check_seeds(primals, tangents, "the tangent")
        value, tangent = self._run(primals + tangents)
        return value, tangent


def refuse_aux(transform: str, fn, has_aux) -> None:
    """Raise UnsupportedError, at fn's `def`, for `has_aux=True` given to a transform other
    than grad/value_and_grad (hessian, hvp, jvp, jacfwd, jacrev, jacobian): their generated
    functions return the derivative of the one value fn returns."""
    if not has_aux:
        return
    fs = parse_function(fn)
    name, params = fs.node.name, ", ".join(fs.params)
    raise UnsupportedError(
        f"`{transform}({name}, has_aux=True)`: has_aux is supported by grad and "
        "value_and_grad only", fs.loc(fs.node),
        f"differentiate the loss alone (`def {name}_loss({params}): return "
        f"{name}({params})[0]`, "
        f"then `{transform}({name}_loss)`) and get aux by calling `{name}` or from "
        f"`grad({name}, has_aux=True)`")


def jvp_function(fn, wrt=None, *, jit="auto", has_aux=False) -> JVPFunction:
    """The forward-mode derivative of `fn` as a function `(primals, tangents) -> (value,
    tangent)`, with `.source` (see JVPFunction). wrt: the arguments that get tangents
    (names or indices; default: all)."""
    refuse_aux("jvp_function", fn, has_aux)
    return JVPFunction(fn, wrt, jit=jit)


def jvp(fn, primals, tangents, *, wrt=None, jit="auto", has_aux=False):
    """(fn(*primals), J tangents): forward mode, as `jax.jvp`.

    primals: fn's arguments (a tuple; arrays, numbers, structures; parameters not given
    take their defaults); tangents: one per `wrt` entry, with its argument's shape and
    structure. Without `wrt`: one tangent per primal (JAX's convention), where an
    integer or boolean argument (a label, an index, a mask) takes None or zeros and is
    not differentiated; a non-zero tangent for one raises ArgumentError (name it in
    `wrt` to differentiate it as a float, as `grad` does). The tangents of the other
    arguments alone are accepted too. Returns the value and the directional derivative
    (the shape of the value). The generated function is kept per (fn, wrt, jit):
    `jvp_function(fn, ...)` gives it, with `.source`. Raises ArgumentError for tangents
    of the wrong number, structure or shape, AdjointError subclasses for code that
    cannot be differentiated (at its line), UnsupportedError for `has_aux=True`
    (refuse_aux: has_aux is grad's and value_and_grad's)."""
    refuse_aux("jvp", fn, has_aux)
    primals, tangents = tuple(primals), tuple(tangents)
    if wrt is not None:
        return _cached(JVPFunction, fn, wrt, jit)(primals, tangents)
    w = _differentiable_positions(primals)
    if len(tangents) == len(primals):  # a tangent per argument: data takes none
        f = _cached(JVPFunction, fn, w, jit)
        for i, (a, t) in enumerate(zip(primals, tangents)):
            if i not in w and t is not None and np.any(np.asarray(t) != 0):
                raise ArgumentError(
                    f"jvp of {f.fs.node.name}: argument {i} is an integer or boolean, so "
                    "jvp without wrt gives it no tangent, but its tangent is not zero",
                    f.fs.loc(f.fs.node), f"to differentiate it as a float, pass "
                    f"wrt={tuple(sorted(set(w) | {i}))!r} and its tangent; else a zero tangent")
        tangents = tuple(tangents[i] for i in w)
    return _cached(JVPFunction, fn, w, jit)(primals, tangents)


def _all_args(fn):
    fs = parse_function(fn)
    return tuple(fs.params)


# ---- reverse mode with a seed -----------------------------------------------------------
class VJPFunction(TransformFunction):
    """`f_vjp(*args, ct) -> (f(*args), cotangents)`: reverse mode seeded with the
    cotangent `ct` (the shape of f's value) instead of 1, giving J^T ct per `wrt`
    argument (one array or structure, or a tuple for a tuple `wrt`). Generated as
    `<f>_vjp(*args, ct)`: the gradient of the scalar <f(args), ct>."""

    suffix = "vjp"
    n_seeds = 1
    build = staticmethod(seeds.vjp_graph)

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit)

    def regroup_for(self, trees):
        return lambda out: (out[0], *_per_argument(out, trees, 1))

    def __call__(self, *args, **kwargs):
        *primals, ct = args
        out = self._run(self._bind(primals, kwargs) + (ct,))
        return out[0], self._pack(out[1:])


def vjp_function(fn, wrt=0, *, jit="auto") -> VJPFunction:
    """See VJPFunction."""
    return VJPFunction(fn, wrt, jit=jit)


def vjp(fn, *primals, wrt=None, jit="auto"):
    """(fn(*primals), vjp_fn), as `jax.vjp`: `vjp_fn(ct)` returns J^T ct for a cotangent
    `ct` of the value's shape (ArgumentError otherwise). Without `wrt`: a tuple with one
    entry per primal, an integer or boolean one (a label, an index) getting zeros of its
    shape (float64; JAX's float0 zeros); with `wrt`: per `wrt` entry (one array or
    structure for a single entry). The primals are copied when vjp is called, so a
    later change of the caller's arrays does not change vjp_fn. Each call of vjp_fn
    runs the generated `<fn>_vjp` (forward and backward sweeps); `vjp_function` gives it
    with `.source`."""
    w = _differentiable_positions(primals) if wrt is None else wrt
    value_fn = _cached(ValueFunction, fn, w or 0, jit)
    given = len(primals)  # without wrt, one cotangent per primal given (defaults: none)
    primals = value_fn._bind(tuple(_copy_leaves(a) for a in primals), {})
    value = value_fn(*primals)
    loc = value_fn.fs.loc(value_fn.fs.node)
    if wrt is None and not w:  # nothing differentiable: zeros for every argument
        return value, _zero_vjp(value, primals[:given], loc)
    f = _cached(VJPFunction, fn, w, jit)

    def vjp_fn(ct):
        _check_ct(ct, value, f.fs.node.name, loc)
        cts = f(*primals, ct)[1]
        if wrt is not None:
            return cts
        got = dict(zip(w, cts))  # w is a tuple: one cotangent per entry
        return tuple(got[i] if i in got else _zeros_like(a)
                     for i, a in enumerate(primals[:given]))

    return value, vjp_fn


def _zeros_like(a):
    if is_tree(a):
        leaves, tree = flatten(a)
        return tree.unflatten([_zeros_like(x) for x in leaves])
    return np.zeros(np.shape(a)) if np.ndim(a) else 0.0


def _zero_vjp(value, primals, loc):
    def vjp_fn(ct):
        _check_ct(ct, value, "the function", loc)
        return tuple(_zeros_like(a) for a in primals)
    return vjp_fn


def _check_ct(ct, value, name, loc):
    if np.shape(ct) != np.shape(value):
        raise ArgumentError(f"vjp of {name}: the cotangent has shape {np.shape(ct)}, the "
                            f"value {np.shape(value)} (no broadcasting)", loc)


class ValueFunction(TransformFunction):
    """fn's value as generated code (`<fn>_value`): the forward sweep alone."""

    suffix = "value"

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit, lambda primal, wrt: primal)

    def regroup_for(self, trees):
        return None

    def __call__(self, *args, **kwargs):
        return self._run(self._bind(args, kwargs))[0]


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
    block of shape `value.shape + arg.shape` (as JAX; a structured argument gives its
    structure of such blocks, one per leaf); one block for one `wrt` entry, a tuple
    otherwise. mode "fwd": one tangent sweep per entry of the arguments (loops over
    basis tangents in one generated function `<f>_jacfwd`, the primal computed once);
    "rev": one backward sweep per entry of the value (`<f>_jacrev`, the forward sweep
    once). Raises UnsupportedError for a function whose value is not float (a boolean
    or integer value has no derivative)."""

    def __init__(self, fn, wrt=0, *, jit="auto", mode="fwd"):
        if mode not in ("fwd", "rev"):
            raise ValueError(f'mode must be "fwd" or "rev", got {mode!r}')
        self.suffix = "jac" + mode
        build = seeds.jacfwd_graph if mode == "fwd" else seeds.jacrev_graph
        super().__init__(fn, wrt, jit, build)

    def __call__(self, *args, **kwargs):
        return self._pack(self._run(self._bind(args, kwargs)))


def _size(a) -> int:
    """Entries of an argument (all leaves of a structure)."""
    return sum(int(np.size(x)) for x in (flatten(a)[0] if is_tree(a) else [a]))


class AutoJacobian:
    """`jacobian(f)`: forward mode when the `wrt` arguments have no more entries than f's
    value, else reverse mode; decided per argument shapes on the first call (which runs
    forward mode and so learns the value's size). A function that forward mode refuses
    (one that calls a custom_vjp function) takes reverse mode."""

    def __init__(self, fn, wrt=0, *, jit="auto"):
        self.fwd = JacobianFunction(fn, wrt, jit=jit, mode="fwd")
        self.rev = JacobianFunction(fn, wrt, jit=jit, mode="rev")
        self.single, self.wrt = self.fwd.single, self.fwd.wrt
        self._mode: dict = {}  # argument shapes -> "fwd" | "rev"
        self.last = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        args = self.fwd._bind(args, kwargs)
        shapes = tuple(tuple(np.shape(x) for x in (flatten(a)[0] if is_tree(a) else [a]))
                       for a in args)
        mode = self._mode.get(shapes)
        if mode == "rev":
            self.last = self.rev
            return self.rev(*args)
        try:
            out = self.fwd(*args)
        except CustomVJPForwardError:
            self._mode[shapes] = "rev"
            self.last = self.rev
            return self.rev(*args)
        self.last = self.fwd
        if mode is None:
            first = (out,) if self.single else out
            block = flatten(first[0])[0][0] if is_tree(first[0]) else first[0]
            like = args[self.wrt[0]]
            leaf = flatten(like)[0][0] if is_tree(like) else like
            n_in = sum(_size(args[i]) for i in self.wrt)
            n_out = int(np.size(block)) // max(int(np.size(leaf)), 1)
            self._mode[shapes] = "fwd" if n_in <= n_out else "rev"
        return out

    @property
    def source(self) -> str:
        return (self.last or self.fwd).source


def jacfwd(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """The Jacobian by forward mode (see JacobianFunction); a decorator too.
    `has_aux=True` raises UnsupportedError (refuse_aux)."""
    if fn is None:
        return lambda f: jacfwd(f, wrt, jit=jit, has_aux=has_aux)
    refuse_aux("jacfwd", fn, has_aux)
    return JacobianFunction(fn, wrt, jit=jit, mode="fwd")


def jacrev(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """The Jacobian by reverse mode (see JacobianFunction); a decorator too.
    `has_aux=True` raises UnsupportedError (refuse_aux)."""
    if fn is None:
        return lambda f: jacrev(f, wrt, jit=jit, has_aux=has_aux)
    refuse_aux("jacrev", fn, has_aux)
    return JacobianFunction(fn, wrt, jit=jit, mode="rev")


def jacobian(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """The Jacobian of fn's value with respect to `wrt`, forward or reverse mode by
    shape (see AutoJacobian); `jacfwd`/`jacrev` force one. `has_aux=True` raises
    UnsupportedError (refuse_aux)."""
    if fn is None:
        return lambda f: jacobian(f, wrt, jit=jit, has_aux=has_aux)
    refuse_aux("jacobian", fn, has_aux)
    return AutoJacobian(fn, wrt, jit=jit)


class HessianFunction(TransformFunction):
    """`H(*args)`: the Hessian of the scalar f with respect to the `wrt` arguments, by
    forward-over-reverse (the JVP of the generated gradient along each basis vector, in
    one generated function `<f>_hessian` whose primal and gradient run once). One `wrt`
    entry: an array of shape `w.shape + w.shape`; a tuple: a tuple of tuples of blocks
    H[i][k] of shape `w_i.shape + w_k.shape`. A structured argument nests as JAX's
    `hessian` does: `H[a][b]` for its leaves a, b (a dict of dicts for a dict). Cost: one
    gradient plus one tangent sweep of the forward and backward sweeps per entry of the
    `wrt` arguments."""

    suffix = "hessian"
    build = staticmethod(seeds.hessian_graph)

    def __init__(self, fn, wrt=0, *, jit="auto"):
        super().__init__(fn, wrt, jit)

    def regroup_for(self, trees):
        """Leaf blocks (output-major: out[o * k + i] = d g_o / d w_i = H[i][o] for the k
        leaves) -> argument blocks, output-major too: H[a][b] nests b's structure of
        leaf blocks inside a's structure (JAX's layout)."""
        sizes = [1 if t is None else t.num_leaves for t in trees]
        starts = [sum(sizes[:a]) for a in range(len(trees))]
        k = sum(sizes)

        def block(out, a, b):
            rows = []
            for i in range(starts[a], starts[a] + sizes[a]):
                cols = [out[o * k + i] for o in range(starts[b], starts[b] + sizes[b])]
                rows.append(cols[0] if trees[b] is None else trees[b].unflatten(cols))
            return rows[0] if trees[a] is None else trees[a].unflatten(rows)

        n = len(trees)
        return lambda out: tuple(block(out, i, o) for o in range(n) for i in range(n))

    def __call__(self, *args, **kwargs):
        out = self._run(self._bind(args, kwargs))
        k = len(self.wrt)
        if self.single:
            return out[0]
        # blocks come output-major: out[o * k + i] = d g_o / d w_i = H[i][o]
        return tuple(tuple(out[o * k + i] for o in range(k)) for i in range(k))


def hessian(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """The Hessian of the scalar loss fn (see HessianFunction); a decorator too. Method:
    forward mode over the generated reverse mode (Pearlmutter, "Fast exact
    multiplication by the Hessian", Neural Computation 1994, for the HVP). `has_aux=True`
    raises UnsupportedError (refuse_aux: has_aux is grad's and value_and_grad's)."""
    if fn is None:
        return lambda f: hessian(f, wrt, jit=jit, has_aux=has_aux)
    refuse_aux("hessian", fn, has_aux)
    return HessianFunction(fn, wrt, jit=jit)


class HVPFunction(TransformFunction):
    """`hvp(*args, v, **kwargs)`: the Hessian of the scalar f with respect to the `wrt`
    arguments times v (the last positional argument: one array or structure of w's
    shape for one `wrt` entry, a tuple for several), without forming the Hessian: the
    JVP of the generated gradient along v (forward-over-reverse, Pearlmutter 1994),
    generated as `<f>_hvp(*args, *t_<wrt leaves>)`. The other arguments bind as a call
    of f (keywords, defaults). Cost: about 2-4 gradients. Returns H v in v's structure.
    Raises ArgumentError when v's parts do not have their arguments' shapes."""

    suffix = "hvp"
    build = staticmethod(seeds.hvp_graph)

    def __init__(self, fn, wrt=0, *, jit="auto"):
        self.n_seeds = len((wrt,) if isinstance(wrt, (int, str)) else tuple(wrt))
        super().__init__(fn, wrt, jit)

    def __call__(self, *args, **kwargs):
        if not args:
            raise ArgumentError(f"hvp of {self.fs.node.name} takes its arguments and then v",
                                self.fs.loc(self.fs.node))
        *primals, v = args
        primals = self._bind(tuple(primals), kwargs)
        vs = (v,) if self.single else tuple(v)
        if len(vs) != len(self.wrt):
            raise ArgumentError(f"hvp of {self.fs.node.name}: v has {len(vs)} parts for "
                                f"{len(self.wrt)} differentiated arguments", self.fs.loc(self.fs.node))
        self._check_seeds(primals, vs, "v's part")
        return self._pack(self._run(primals + vs))


def hvp(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """The Hessian-vector product of the scalar loss fn (see HVPFunction); a decorator too.
    `has_aux=True` raises UnsupportedError (refuse_aux)."""
    if fn is None:
        return lambda f: hvp(f, wrt, jit=jit, has_aux=has_aux)
    refuse_aux("hvp", fn, has_aux)
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

    def regroup_for(self, trees):
        if self.with_value:
            return lambda out: (out[0], *_per_argument(out, trees, 1))
        return super().regroup_for(trees)

    def __call__(self, *args, **kwargs):
        out = self._run(self._bind(args, kwargs))
        if self.with_value:
            return out[0], self._pack(out[1:])
        return self._pack(out)

    __adjoint_binding__ = True  # `D = grad(grad(f))` inside a loss names it (context.py)

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


def _gradient_made_in_loss(make):
    """`grad(f)` / `value_and_grad(f)` called inside a function being lowered (JAX's
    `grad(f)(x)` in a loss, or `D = grad(f)` then `D(x)`): the gradient function is made
    while lowering, of the module-level (or closed-over) function `f` as a call outside
    would make it, and its calls are inlined by `inline_gradient`. `wrt` must be a
    constant; `jit` is ignored (the call is part of the generated code). Raises
    UnsupportedError at the call for a function defined inside the loss (its source is
    part of the loss, not a function `grad` can read) or anything else not a function."""
    def handler(cx, node, args, kwargs):
        import ast
        from .frontend import numpy_api, structures
        from .frontend.captures import Static
        a = numpy_api.bind(cx, node, args, kwargs, "fn", ("wrt", 0), ("jit", "auto"),
                           ("has_aux", False))
        fn, what = a["fn"], ast.unparse(node)
        if isinstance(fn, structures.LocalFunction):
            raise UnsupportedError(
                f"`{what}`: `{fn.node.name}` is defined inside the function being "
                "differentiated, and a gradient is made of a function of its own",
                cx.fs.loc(node),
                f"define `{fn.node.name}` at module level; then `{what}(...)` here, or "
                f"`D = {what}` at module level and `D(x)` here, inlines its gradient")
        if not isinstance(fn, Static) or not callable(fn.obj):
            raise UnsupportedError(f"`{what}`: its first argument is not a function",
                                   cx.fs.loc(node))
        wrt = numpy_api.literal(cx, node, a["wrt"], "wrt")
        has_aux = bool(numpy_api.literal(cx, node, a["has_aux"], "has_aux"))
        return Static(make(fn.obj, wrt, jit=False, has_aux=has_aux))
    return handler


def _register_gradients_in_loss():
    from . import api
    from .frontend import numpy_api
    numpy_api.FUNCTIONS[api.grad] = _gradient_made_in_loss(api.grad)
    numpy_api.FUNCTIONS[api.value_and_grad] = _gradient_made_in_loss(api.value_and_grad)


_register_gradients_in_loss()


def _primal_phase(ops):
    from .ir.core import Region
    out = []
    for op in ops:
        regions = tuple(Region(r.params, tuple(_primal_phase(r.ops)), r.results) for r in op.regions)
        out.append(op.with_(phase="primal", regions=regions))
    return out
