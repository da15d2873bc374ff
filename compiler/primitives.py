"""The primitive table: each primitive once, with its type rule, its NumPy spelling and
its adjoint (VJP) rule, side by side.

A VJP rule for input i is `rule(g, ans, *inputs, **attrs) -> Value | None`: given the
cotangent `g` of the output `ans`, it returns input i's cotangent built from other
primitives (None means zero). Rules for primitives flagged `broadcasts` return the
cotangent in the output's shape; reverse mode sums it back to the input's shape
(unbroadcast). Formulas: the lecture's building blocks (sum, product, composition) and
standard calculus; matrix rules from Giles, "An extended collection of matrix derivative
results for forward and reverse mode AD" (2008).

Non-differentiable points, one policy whatever the spelling: ties in max/maximum/min/
minimum/fmax/fmin (and so clip) split the cotangent evenly among the tied entries (a NaN
operand of fmax/fmin gets none); `where` (and a boolean-mask write) sends it to the
selected branch only; abs'(0) = 0, relu'(0) = 0, norm'(0) = 0, hypot'(0, 0) = 0,
std'(x) = 0 over equal entries (sqrt_var), d/da a ** 0 = 0 (0 ** 0
included), d/db a ** b = 0 at a = 0; sign, comparisons, integer values and indices have
no gradient. The issue-15 records (at the end) add: sort's cotangent follows the stable
permutation (take_along_axis of argsort); det's is the cofactor matrix (finite on singular
matrices); cholesky's and eigh's are on the lower triangle NumPy reads; eigh's vectors get
none from pairs of equal eigenvalues; sinc'(0) = 0; a derivative a record does not
implement (a Hessian through det, cumprod or a decomposition) raises, never reads zero.

NaN safety under selections: a cotangent that a selection sends nowhere is an exact
zero there, and stays one through the elementwise rules above it. The rule of every
elementwise primitive is *mask-aware*: when its incoming cotangent is
`where(c, h, 0)`, it applies the rule to `h` and re-applies the mask,
`where(c, rule(h), 0)`, so a NaN or inf that a masked-out branch computes (sqrt'(0),
log(-1)) never meets a zero cotangent in a product. Hence d/dx where(x > 0, sqrt(x), 0)
at x = 0 is 0, not 0 * inf = NaN. The mask travels through elementwise ops; it stops at
reductions, matmul, reshapes and at a value whose cotangents are summed from several uses.

Adding a primitive is one `prim(...)` call. `emit` is a Python expression template
over `{0}`, `{1}`, ... (inputs) and `{name}` (attributes), or a function of the op that
returns one; codegen parses it, so it must be valid Python that Numba compiles. Names it
calls from `runtime` are listed in its `runtime` field (every generated module imports them).
`python -m compiler.primitive_list --readme` writes the table's list into README.md.
"""
from __future__ import annotations

import functools
import math

from .ir.builder import current, scalar_constant
from .ir.registry import OTHERS, PRIMS, Primitive
from .ir.core import I64, Type, promote




_GROUP = [OTHERS]


def prim(name, arity, type_rule, emit, vjp=None, broadcasts=False, doc="", elementwise=False,
         group=None, aliases=(), shape=None, writes=None, cheap=False, fresh=None,
         runtime=(), numba=None, jvp=None, shape_operand=None, zero_derivative=False):
    elementwise = elementwise or broadcasts
    if vjp is not None and elementwise:
        vjp = tuple(None if r is None else _mask_aware(r) for r in vjp)
    if shape is None and elementwise:
        shape = "broadcast"
    if fresh is None:  # an in-place update returns the array it was given (owned or not)
        fresh = not aliases or writes is not None
    PRIMS[name] = Primitive(name, arity, type_rule, emit, vjp, broadcasts, doc, elementwise,
                            group or _GROUP[0], tuple(aliases), shape, writes, cheap, fresh,
                            tuple(runtime), numba, jvp, shape_operand, zero_derivative)


def runtime_imports() -> dict:
    """{runtime module: sorted names} that generated code may call: every generated
    module imports them (compiler/codegen/pyemit.py)."""
    out: dict = {}
    for p in PRIMS.values():
        for dotted in p.runtime:
            mod, _, name = dotted.rpartition(".")
            out.setdefault(mod, set()).add(name)
    return {m: tuple(sorted(ns)) for m, ns in sorted(out.items())}


def emit_op(name, *inputs, **attrs):
    """Emit primitive `name` into the current builder (used inside rules)."""
    return current().emit(name, *inputs, **attrs)


# ---- masks: NaN-safe rules under `where` ------------------------------------------------
def defining_op(v):
    """The op of the current builder that defines v (None: a parameter, a value of an
    enclosing builder, or not yet emitted)."""
    return current().defining_op(v)


def _is_zero(v) -> bool:
    op = defining_op(v)
    return (op is not None and op.prim == "const" and isinstance(op.attr("value"), (int, float))
            and op.attr("value") == 0)


def _peel(g):
    """g = where(c1, where(c2, h, 0), 0) -> ([(c1, True), (c2, True)], h); a mask
    `where(c, 0, h)` is recorded as (c, False)."""
    masks = []
    while True:
        op = defining_op(g)
        if op is None or op.prim != "where":
            return masks, g
        c, x, y = op.inputs
        if _is_zero(y):
            masks.append((c, True))
            g = x
        elif _is_zero(x):
            masks.append((c, False))
            g = y
        else:
            return masks, g


def _mask_aware(rule):
    @functools.wraps(rule)
    def masked(g, ans, *inputs, **attrs):
        masks, h = _peel(g)
        if not masks:
            return rule(g, ans, *inputs, **attrs)
        c = rule(h, ans, *inputs, **attrs)
        if c is None or c is h:
            return None if c is None else g
        for cond, selected in reversed(masks):
            c = emit_op("where", cond, c, 0.0) if selected else emit_op("where", cond, 0.0, c)
        return c
    return masked


class _PerInput:
    """vjp for a variable number of inputs: rule(i, g, ans, *inputs, **attrs)."""

    def __init__(self, rule, first=0):
        self.rule, self.first = rule, first

    def __getitem__(self, i):
        return None if i < self.first else functools.partial(self.rule, i)


# ---- type rules --------------------------------------------------------------------
def _rank(*ts):
    return max(t.rank for t in ts)


def t_arith(*ts, **_):  # - ** // % (+ * maximum minimum: t_logical): NumPy promotion, bool counts as int
    d = promote(*ts)
    return Type("int64" if d == "bool" else d, _rank(*ts))


def t_logical(*ts, **_):  # + * maximum minimum: of two bools a bool, as in NumPy
    if all(t.dtype == "bool" for t in ts):  # (np.True_ + np.True_ is True: logical or)
        return Type("bool", _rank(*ts))
    return t_arith(*ts)


def _logical(spelling, ufunc, scalar_op):
    """(emit, numba) of + * maximum minimum: on two bools NumPy's logical or/and
    (`ufunc`), which both tiers then compute alike (Numba's scalar True + True is 2);
    on numbers `spelling`."""
    def emit(op):
        return f"np.{ufunc}({{0}}, {{1}})" if op.out.type.dtype == "bool" else spelling

    def numba(op):
        if op.out.type.dtype != "bool":
            return spelling
        return f"({{0}} {scalar_op} {{1}})" if op.out.type.rank == 0 else emit(op)
    return emit, numba


def t_float(*ts, **_):  # / and transcendental functions always give float64
    return Type("float64", _rank(*ts))


def t_same(t, *_, **__):
    return t


def t_bool(*ts, **_):
    return Type("bool", _rank(*ts))


def t_where(c, x, y, **_):
    return Type(promote(x, y), _rank(c, x, y))


def t_matmul(a, b, **_):
    if a.rank == 0 or b.rank == 0 or a.rank > 2 or b.rank > 2:
        raise TypeError(f"`@`/dot takes 1-D or 2-D operands, got ranks {a.rank} and {b.rank}"
                        " (use `*` for scalars)")
    d = promote(a, b)
    d = "int64" if d == "bool" else d
    return Type(d, {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}[(a.rank, b.rank)])


def t_outer(a, b, **_):
    return Type(t_arith(a, b).dtype, 2)


def _axes(axis):
    return () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)


def t_reduce(x, axis=None, **_):
    d = "int64" if x.dtype == "bool" else x.dtype
    if axis is None:
        return Type(d, 0)
    for a in _axes(axis):
        if not 0 <= a < x.rank:
            raise TypeError(f"axis {a} is out of bounds for an array of rank {x.rank}")
    return Type(d, x.rank - len(_axes(axis)))


def t_reduce_float(x, axis=None, **_):
    return Type("float64", t_reduce(x, axis).rank)


def t_expand(x, axis, **_):
    return Type(x.dtype, x.rank + 1)


def t_like(g, x, **_):  # result has x's shape, g's (float) dtype
    return Type("float64", x.rank)


def t_int(*_, **__):
    return I64


def t_const(**_):  # never called: Builder.const types constants itself
    raise AssertionError


def t_scalar(*_, **__):
    return Type("float64", 0)


def t_float_like(x, *_, **__):
    return Type("float64", x.rank)


def _need_int(*ts):
    for t in ts:
        if t.dtype == "float64":
            raise TypeError("indices and sizes must be integers, not floats")


# ---- index specs ------------------------------------------------------------------------
# An index is a tuple of entries, one per index position, each consuming index Values in
# order: "i" an int, "n" None (a new axis), "a" an int array, and a slice written as in
# Python with "_" where a bound is given: ":" (all), "_:" (start), ":_" (stop), "_:_",
# "::_" (step), "_:_:_". So x[1:n] has spec ("_:_",) and values (1, n).
FULL = ":"


def slice_entry(start: bool, stop: bool, step: bool) -> str:
    """The index-spec entry of a slice whose start/stop/step are given (True) or not."""
    return ("_" if start else "") + ":" + ("_" if stop else "") + (":_" if step else "")


def is_slice(e: str) -> bool:
    return ":" in e


def slice_bounds(e: str) -> tuple:
    """(start given, stop given, step given) of a slice entry."""
    parts = e.split(":") + [""]
    return parts[0] == "_", parts[1] == "_", parts[2] == "_"


def _nvals(e):  # index values an index-spec entry consumes
    return 1 if e in ("i", "a") else sum(slice_bounds(e)) if is_slice(e) else 0


def t_getitem(x, *vals, spec):
    _need_int(*vals)
    used = sum(1 for e in spec if e != "n")
    if used > x.rank:
        raise TypeError(f"too many indices ({used}) for an array of rank {x.rank}")
    return Type(x.dtype, x.rank - sum(e == "i" for e in spec) + sum(e == "n" for e in spec))


def t_take(x, a, axis, **_):
    _need_int(a)
    if a.dtype == "bool":
        raise TypeError("index arrays must be integers")
    return Type(x.dtype, x.rank - 1 + a.rank)


def t_take_pairs(x, a, b, axis, **_):
    _need_int(a, b)
    if a.rank != 1 or b.rank != 1:
        raise TypeError("two index arrays must both be 1-D")
    return Type(x.dtype, x.rank - 1)


def t_reshape(x, *dims, **_):
    _need_int(*dims)
    return Type(x.dtype, len(dims))


def t_dims(*dims, dtype="float64", **_):
    _need_int(*dims)
    return Type(dtype, len(dims))


def t_full(v, *dims, **_):
    _need_int(*dims)
    return Type(v.dtype, len(dims))


def t_arange(*ts, **_):
    return Type("float64" if any(t.dtype == "float64" for t in ts) else "int64", 1)


def t_concat(*ts, axis, **_):
    if len({t.rank for t in ts}) != 1 or ts[0].rank == 0 or axis >= ts[0].rank:
        raise TypeError("concatenate needs arrays of one rank >= 1 and an axis below it")
    return Type(_joined_dtype(ts), ts[0].rank)


def t_stack(*ts, axis, **_):
    if len({t.rank for t in ts}) != 1 or axis > ts[0].rank:
        raise TypeError("stack needs arrays of one rank and an axis up to it")
    return Type(_joined_dtype(ts), ts[0].rank + 1)


def t_pack(*ts, **_):
    if any(t.rank for t in ts):
        raise TypeError("np.array of a list takes scalars here")
    return Type(_joined_dtype(ts), 1)


def _joined_dtype(ts) -> str:
    """The dtype of an array NumPy builds from parts (np.array, stack, concatenate): bool
    when every part is bool (`np.array([True, False])` is a mask, not an index array),
    else the arithmetic promotion of int64 and float64."""
    if ts and all(t.dtype == "bool" for t in ts):
        return "bool"
    return t_arith(*ts).dtype


# ---- emission helpers -------------------------------------------------------------------
def scalar_literal(v) -> str:
    """Python source for a bool, int or float that evaluates to exactly `v`: NaN and
    inf as NumPy's names, a negative number (-0.0 included) parenthesised, since
    `-2.0 ** x` means `-(2.0 ** x)`; `repr` gives every other float exactly."""
    if isinstance(v, float) and v != v:
        return "np.nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "np.inf" if v > 0 else "(-np.inf)"
    if isinstance(v, float) and math.copysign(1.0, v) < 0 or not isinstance(v, float) and v < 0:
        return f"({v!r})"
    return repr(v)


def _emit_const(op):
    from .ir.core import ConstArray
    v = op.attr("value")
    if isinstance(v, ConstArray):
        raise AssertionError("array constants are emitted as module globals")
    return scalar_literal(v)


def _emit_sum(op):  # Numba's own np.sum(x, axis=k) takes seconds to compile: a kernel
    ax = op.attr("axis")
    return "np.sum({0})" if ax is None else f"sum_along({{0}}, {ax})"


def _emit_where(op):
    return "np.where({0}, {1}, {2})" if op.out.type.rank else "({1} if {0} else {2})"


def _numba_where(op):  # Numba's np.where is 8x slower than a loop: runtime.kernels.select
    return "select({0}, {1}, {2})" if op.out.type.rank else "({1} if {0} else {2})"


def _emit_along(kernel, np_name):
    def emit(op):
        ax = op.attr("axis")
        if ax is None:
            return f"np.{np_name}({{0}})"
        s = "{0}"
        for a in sorted(_axes(ax), reverse=True):
            s = f"{kernel}({s}, {a})"
        return s
    return emit


def _index_parts(spec, first):
    """(entries as subscript text, entries as tuple-element text) for an index spec."""
    k = first
    sub, tup = [], []
    for e in spec:
        if e == "n":
            sub.append("None")
            tup.append("None")
        elif e in ("i", "a"):
            sub.append(f"{{{k}}}")
            tup.append(f"{{{k}}}")
            k += 1
        else:
            parts = []
            for given in slice_bounds(e):
                parts.append(f"{{{k}}}" if given else "")
                k += given
            start, stop, step = parts
            sub.append(f"{start}:{stop}" + (f":{step}" if step else ""))
            tup.append(f"slice({start or 'None'}, {stop or 'None'}, {step or 'None'})")
    return sub, tup


def index_tuple(spec, first):
    tup = _index_parts(spec, first)[1]
    return tup[0] if len(tup) == 1 else "(" + ", ".join(tup) + ")"


def _emit_getitem(op):
    return "{0}[" + ", ".join(_index_parts(op.attr("spec"), 1)[0]) + "]"


def _emit_set_index(op):
    return "set_index({0}, " + index_tuple(op.attr("spec"), 2) + ", {1})"


def _emit_zeros_with(op):
    return "zeros_with({1}, " + index_tuple(op.attr("spec"), 2) + ", {0})"


def _emit_take(op):
    return "{0}[" + ":, " * op.attr("axis") + "{1}]"


def _shape_text(n, first):
    dims = [f"{{{first + i}}}" for i in range(n)]
    return "(" + ", ".join(dims) + ("," if n == 1 else "") + ")"


def _emit_reshape(op):
    return "reshape({0}, " + _shape_text(len(op.inputs) - 1, 1) + ")"


def _emit_dims(fn):
    def emit(op):
        n = len(op.inputs)
        dt = op.attr("dtype", "float64")
        tail = "" if dt == "float64" else ", dtype=np.int64" if dt == "int64" else ", dtype=np.bool_"
        return f"np.{fn}(" + ("{0}" if n == 1 else _shape_text(n, 0)) + tail + ")"
    return emit


def _emit_seq(fn):
    def emit(op):
        items = ", ".join(f"{{{i}}}" for i in range(len(op.inputs)))
        tail = "" if fn == "np.array" else f", axis={op.attr('axis')}"
        return f"{fn}([{items}]{tail})" if fn == "np.array" else f"{fn}(({items},){tail})"
    return emit


def _emit_cast(op):
    return "{0}.astype(np.float64)" if op.inputs[0].type.rank else "np.float64({0})"


def _emit_to_int(op):  # int() of a number: checked as compiled code checks it
    return "{0}.astype(np.int64)" if op.inputs[0].type.rank else "checked_int({0})"


def _emit_expand(op):
    return "np.full(1, {0})" if op.inputs[0].type.rank == 0 else "np.expand_dims({0}, {axis})"


def _emit_axis_fn(fn):
    def emit(op):
        ax = op.attr("axis")
        return f"{fn}({{0}})" if ax is None else f"{fn}({{0}}, {ax})"
    return emit


# ---- rule helpers ---------------------------------------------------------------------
def _sum_keep(v, axes, rank):
    """sum of v over `axes` (of an array of `rank`), keeping them as size-1 axes (a
    scalar when all axes are summed: it broadcasts the same way)."""
    if v.type.rank == 0:
        return v
    if len(axes) == rank:
        return emit_op("sum", v)  # a scalar broadcasts like the all-ones shape
    s = v
    for a in sorted(axes, reverse=True):
        s = emit_op("sum", s, axis=a)
    for a in sorted(axes):
        s = emit_op("expand_dims", s, axis=a)
    return s


def _expand(v, axes):
    for a in sorted(axes):
        v = emit_op("expand_dims", v, axis=a)
    return v


def fit_shape(c, x):
    """Cotangent c brought to x's shape: summed where broadcast, broadcast where reduced."""
    if c is None:
        return None
    if x.type.rank == 0:
        return c if c.type.rank == 0 else emit_op("sum", c)
    if c.type.rank < x.type.rank:
        return emit_op("broadcast_like", c, x)
    return emit_op("unbroadcast", c, x)


def index_read(x, spec, vals, emit=None):
    """Emit x[spec] (spec: 'i' int, 'n' None, 'a' int array, 's<bits>' slice; vals: the
    index Values in order) through `emit` (default: emit_op). Basic entries become one
    `getitem`; one index array a `take`, two adjacent ones a `take_pairs` (NumPy puts
    their axis where they stand)."""
    emit = emit or emit_op
    basic, bvals, arrays, pos, at = [], [], [], 0, None
    it = iter(vals)
    for e in spec:
        vs = [next(it) for _ in range(_nvals(e))]
        if e == "a":
            basic.append(FULL)
            arrays.append(vs[0])
            at = pos if at is None else at
            pos += 1
        else:
            basic.append(e)
            bvals.extend(vs)
            pos += e != "i"
    while basic and basic[-1] == FULL:
        basic.pop()
    y = emit("getitem", x, *bvals, spec=tuple(basic)) if basic else x
    if not arrays:
        return y
    if len(arrays) == 1:
        return emit("take", y, arrays[0], axis=at)
    return emit("take_pairs", y, arrays[0], arrays[1], axis=at)


def _extreme_vjp(g, ans, x, axis=None):
    """Ties split evenly: g * [x == max] / (number of maxima), over the reduced axes."""
    if x.type.rank == 0:
        return g
    if axis is None:
        hit = emit_op("cast", emit_op("eq", x, ans))
        return g * hit / emit_op("sum", hit)
    hit = emit_op("cast", emit_op("eq", x, _expand(ans, axis)))
    return _expand(g, axis) * hit / _sum_keep(hit, axis, x.type.rank)


def _sum_vjp(g, ans, x, axis=None):
    if x.type.rank == 0:
        return g
    if axis is None:
        return emit_op("fill_like", x, g)
    return emit_op("broadcast_like", emit_op("expand_dims", g, axis=axis), x)


def _prod_vjp(g, ans, x, axis=None):
    if x.type.rank == 0:
        return g
    return _expand(g, _axes(axis)) * emit_op("prod_others", x, axis=axis)


def _lse_vjp(g, ans, x, axis=None):  # softmax(x), not exp(x - ans): exact at |x| ~ 1000
    return _expand(g, _axes(axis)) * emit_op("softmax", x, axis=axis)


def _softmax_vjp(g, ans, x, axis=None):
    ax = tuple(range(x.type.rank)) if axis is None else (axis,)
    return ans * (g - _sum_keep(g * ans, ax, x.type.rank))


def _log_softmax_vjp(g, ans, x, axis=None):
    ax = tuple(range(x.type.rank)) if axis is None else (axis,)
    return g - emit_op("exp", ans) * _sum_keep(g, ax, x.type.rank)


def _concat_vjp(i, g, ans, *xs, axis):
    start = None
    for x in xs[:i]:
        d = emit_op("dim", x, axis=axis)
        start = d if start is None else start + d
    d = emit_op("dim", xs[i], axis=axis)
    stop = d if start is None else start + d
    entry = slice_entry(start is not None, True, False)
    vals = (start, stop) if start is not None else (stop,)
    return emit_op("getitem", g, *vals, spec=(FULL,) * axis + (entry,))


def _stack_vjp(i, g, ans, *xs, axis):
    return emit_op("getitem", g, i, spec=(FULL,) * axis + ("i",))


def _pack_vjp(i, g, ans, *xs):
    return emit_op("getitem", g, i, spec=("i",))


def _set_index_vjp(i, g, ans, x, v, *vals, spec):
    """x[idx] = v: the old x gets g outside idx, v gets g[idx]. With a repeated index in
    an index array only its last occurrence's value is kept (set_index's kernel writes
    in order), so only that occurrence gets the cotangent: g[idx] times the mask
    `last_occurrence` (one for unique indices)."""
    if i == 0:
        return emit_op("set_index", g, 0.0, *vals, spec=spec)
    if i > 1:
        return None
    read = index_read(g, spec, vals)
    k = spec.index("a") if "a" in spec else None
    arr = vals[sum(_nvals(e) for e in spec[:k])] if k is not None else None
    if arr is not None and arr.type.dtype != "bool":  # a boolean mask selects each entry once
        axis = sum(1 for e in spec[:k] if e != "n")  # x's axis the index array runs along
        mask = emit_op("last_occurrence", arr, emit_op("dim", x, axis=axis))
        at = sum(1 for e in spec[:k] if e != "i")  # where index_read puts the array's axes
        for _ in range(at):
            mask = emit_op("expand_dims", mask, axis=0)
        for _ in range(read.type.rank - mask.type.rank):
            mask = emit_op("expand_dims", mask, axis=mask.type.rank)
        read = read * mask
    elif read.type.rank > 0:  # a view of g, which x's cotangent then clears in place
        read = emit_op("copy", read)
    return fit_shape(read, v)


def _add_at_vjp(i, g, ans, x, v, *vals, spec):
    """np.add.at(x, idx, v): g_x = g, g_v = g[idx] (each occurrence of a repeated index
    added v, so each gets the cotangent), summed to v's shape."""
    if i == 0:
        return g
    if i > 1:
        return None
    return fit_shape(index_read(g, spec, vals), v)


def _emit_add_at(op):
    return "add_at({0}, " + index_tuple(op.attr("spec"), 2) + ", {1})"


def _inverse(axes):
    inv = [0] * len(axes)
    for k, a in enumerate(axes):
        inv[a] = k
    return tuple(inv)


def _pow_vjp_base(g, ans, a, b):
    """d/da a ** b = b a ** (b - 1), and 0 where b = 0: a ** 0 = 1 for every a, so at
    0 ** 0 the rule gives 0, not 0 * inf = NaN. A constant exponent keeps the plain
    formula (fold makes `2 * x ** (2 - 1)` read `2 * x`); any other one calls pow_dbase."""
    c = scalar_constant(b)
    if c == 0:
        return None
    return g * b * a ** (b - 1) if c is not None else g * emit_op("pow_dbase", a, b)


def _pow_vjp_exponent(g, ans, a, b):
    """d/db a ** b = a ** b log a, and 0 at a = 0 (the kink policy: a ** b is 0 for every
    b > 0 there, and the one-sided limits differ at b = 0), so no -inf at 0 ** 0."""
    return g * emit_op("pow_dexp", ans, a)


# ---- the table ---------------------------------------------------------------------
_GROUP[0] = "constants and structure"
prim("const", 0, t_const, _emit_const, doc="a literal scalar or captured constant array", cheap=True, fresh=False)
prim("size", 1, t_int, "{0}.size", doc="number of elements, an int (not differentiable)", cheap=True)
prim("dim", 1, t_int, "{0}.shape[{axis}]", doc="length of one axis, an int", cheap=True)
prim("cast", 1, t_float_like, _emit_cast, vjp=(lambda g, ans, x: g,), doc="to float64", shape="same", cheap=True)
def _numba_to_int(op):  # Numba's int() of NaN or inf is garbage: raise as Python does
    return "{0}.astype(np.int64)" if op.inputs[0].type.rank else "checked_int({0})"


prim("to_int", 1, lambda x, **_: Type("int64", x.rank), _emit_to_int, doc="to int64 (int())",
     shape="same", numba=_numba_to_int, runtime=("runtime.kernels.checked_int",))
prim("stop_gradient", 1, t_same, "{0}", aliases=(0,), doc="the value, with a zero cotangent", shape="same", zero_derivative=True)

_GROUP[0] = "elementwise arithmetic (NumPy broadcasting)"
_ADD = _logical("{0} + {1}", "logical_or", "or")
_MUL = _logical("{0} * {1}", "logical_and", "and")
_MAX = _logical("np.maximum({0}, {1})", "logical_or", "or")
_MIN = _logical("np.minimum({0}, {1})", "logical_and", "and")
prim("add", 2, t_logical, _ADD[0], broadcasts=True, numba=_ADD[1],
     vjp=(lambda g, ans, a, b: g, lambda g, ans, a, b: g), cheap=True)
prim("sub", 2, t_arith, "{0} - {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g, lambda g, ans, a, b: -g), cheap=True)
prim("mul", 2, t_logical, _MUL[0], broadcasts=True, numba=_MUL[1],
     vjp=(lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a), cheap=True)
prim("div", 2, t_float, "{0} / {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g / b, lambda g, ans, a, b: -(g * ans / b)))
prim("pow", 2, t_arith, "{0} ** {1}", broadcasts=True, vjp=(_pow_vjp_base, _pow_vjp_exponent),
     doc="d/da a ** 0 = 0 (0 ** 0 included); d/db a ** b = 0 at a = 0")
prim("neg", 1, t_same, "-{0}", vjp=(lambda g, ans, a: -g,), elementwise=True, cheap=True)
prim("maximum", 2, t_logical, _MAX[0], broadcasts=True, numba=_MAX[1],
     vjp=(lambda g, ans, a, b: g * emit_op("tie_weight", a, b),
          lambda g, ans, a, b: g * emit_op("tie_weight", b, a)))
prim("minimum", 2, t_logical, _MIN[0], broadcasts=True, numba=_MIN[1],
     vjp=(lambda g, ans, a, b: g * emit_op("tie_weight", b, a),
          lambda g, ans, a, b: g * emit_op("tie_weight", a, b)))
prim("logaddexp", 2, t_float, "np.logaddexp({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * emit_op("exp", a - ans), lambda g, ans, a, b: g * emit_op("exp", b - ans)))
prim("where", 3, t_where, _emit_where, broadcasts=True, numba=_numba_where,
     runtime=("runtime.kernels.select",),
     vjp=(None,
          lambda g, ans, c, x, y: emit_op("where", c, g, 0.0),
          lambda g, ans, c, x, y: emit_op("where", c, 0.0, g)))

_GROUP[0] = "comparisons and logic (boolean, not differentiable)"
for _name, _sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("eq", "=="),
                    ("ne", "!=")):
    prim(_name, 2, t_bool, "{0} %s {1}" % _sym, elementwise=True, cheap=True)
prim("logical_and", 2, t_bool, "np.logical_and({0}, {1})", elementwise=True)
prim("logical_or", 2, t_bool, "np.logical_or({0}, {1})", elementwise=True)
prim("logical_not", 1, t_bool, "np.logical_not({0})", elementwise=True)
prim("sign", 1, t_same, "np.sign({0})", elementwise=True, doc="zero gradient", zero_derivative=True)

_GROUP[0] = "elementwise functions"
# `ans` is the primal output f_i
for _name, _np, _rule in (
        ("exp", "np.exp", lambda g, ans, x: g * ans),
        ("expm1", "np.expm1", lambda g, ans, x: g * (ans + 1.0)),
        ("log", "np.log", lambda g, ans, x: g / x),
        ("log1p", "np.log1p", lambda g, ans, x: g / (1.0 + x)),
        ("sqrt", "np.sqrt", lambda g, ans, x: g / (2.0 * ans)),
        ("sin", "np.sin", lambda g, ans, x: g * emit_op("cos", x)),
        ("cos", "np.cos", lambda g, ans, x: -(g * emit_op("sin", x))),
        ("tan", "np.tan", lambda g, ans, x: g * (1.0 + ans * ans)),
        ("tanh", "np.tanh", lambda g, ans, x: g * (1.0 - ans * ans)),
        ("sinh", "np.sinh", lambda g, ans, x: g * emit_op("cosh", x)),
        ("cosh", "np.cosh", lambda g, ans, x: g * emit_op("sinh", x)),
        ("arctan", "np.arctan", lambda g, ans, x: g / (1.0 + x * x)),
        ("arcsin", "np.arcsin", lambda g, ans, x: g / emit_op("sqrt", 1.0 - x * x)),
        ("arccos", "np.arccos", lambda g, ans, x: -(g / emit_op("sqrt", 1.0 - x * x))),
        ("arcsinh", "np.arcsinh", lambda g, ans, x: g / emit_op("sqrt", x * x + 1.0)),
        ("arccosh", "np.arccosh", lambda g, ans, x: g / emit_op("sqrt", x * x - 1.0)),
        ("arctanh", "np.arctanh", lambda g, ans, x: g / (1.0 - x * x)),
        ("exp2", "np.exp2", lambda g, ans, x: g * ans * math.log(2.0)),
        ("cbrt", "np.cbrt", lambda g, ans, x: g / (3.0 * ans * ans)),
        ("deg2rad", "np.deg2rad", lambda g, ans, x: g * (math.pi / 180.0)),
        ("rad2deg", "np.rad2deg", lambda g, ans, x: g * (180.0 / math.pi))):
    prim(_name, 1, t_float, _np + "({0})", vjp=(_rule,), elementwise=True)
prim("abs", 1, t_same, "np.abs({0})", vjp=(lambda g, ans, x: g * emit_op("sign", x),),
     elementwise=True, doc="abs'(0) = 0")


def _fmax_share(g, ans, x, other):
    """x's share of the cotangent of fmax/fmin(x, other): 1 where the result is x, 1/2 at
    a tie (the tie policy of maximum/minimum, as tie_weight), 0 where x is NaN and other
    is not (NumPy's fmax and fmin return the other operand) and where both are NaN."""
    share = emit_op("where", emit_op("eq", x, other), 0.5, 1.0)
    return g * emit_op("where", emit_op("eq", x, ans), share, 0.0)


def _numba_heaviside(op):  # Numba lacks np.heaviside: the same values, NaN included
    if op.out.type.rank == 0:
        return "(1.0 if {0} > 0 else 0.0 if {0} < 0 else np.float64({1}) if {0} == 0 else np.nan)"
    return "np.where({0} > 0, 1.0, np.where({0} < 0, 0.0, np.where({0} == 0, {1}, np.nan)))"


# d/dy arctan2(y, x) = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2)
prim("arctan2", 2, t_float, "np.arctan2({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, y, x: g * x / (x * x + y * y), lambda g, ans, y, x: -(g * y) / (x * x + y * y)))
prim("hypot", 2, t_float, "np.hypot({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * a / emit_op("where", emit_op("gt", ans, 0.0), ans, 1.0),
          lambda g, ans, a, b: g * b / emit_op("where", emit_op("gt", ans, 0.0), ans, 1.0)),
     doc="the 2-norm of (a, b); hypot'(0, 0) = 0, as norm'(0)")
prim("fmax", 2, t_arith, "np.fmax({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: _fmax_share(g, ans, a, b), lambda g, ans, a, b: _fmax_share(g, ans, b, a)),
     doc="maximum ignoring NaN; ties split evenly")
prim("fmin", 2, t_arith, "np.fmin({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: _fmax_share(g, ans, a, b), lambda g, ans, a, b: _fmax_share(g, ans, b, a)),
     doc="minimum ignoring NaN; ties split evenly")
prim("heaviside", 2, t_float, "np.heaviside({0}, {1})", elementwise=True, numba=_numba_heaviside,
     doc="0, {1} at 0, 1; zero gradient", zero_derivative=True)

_GROUP[0] = "stable functions (runtime.functions)"
prim("sigmoid", 1, t_float, "sigmoid({0})", vjp=(lambda g, ans, x: g * ans * (1.0 - ans),),
     elementwise=True, runtime=("runtime.functions.sigmoid",))
prim("log_sigmoid", 1, t_float, "log_sigmoid({0})",
     vjp=(lambda g, ans, x: g * emit_op("sigmoid", -x),), elementwise=True, runtime=("runtime.functions.log_sigmoid",))
prim("relu", 1, t_float, "relu({0})",
     vjp=(lambda g, ans, x: emit_op("where", emit_op("gt", x, 0.0), g, 0.0),), elementwise=True,
     doc="relu'(0) = 0", runtime=("runtime.functions.relu",))
prim("softplus", 1, t_float, "softplus({0})", vjp=(lambda g, ans, x: g * emit_op("sigmoid", x),),
     elementwise=True, runtime=("runtime.functions.softplus",))
prim("logsumexp", 1, t_reduce_float, _emit_axis_fn("logsumexp"), vjp=(_lse_vjp,),
     doc="axis: None or an int", shape="reduce", runtime=("runtime.functions.logsumexp",))
prim("softmax", 1, t_float_like, "softmax({0}, {axis})", vjp=(_softmax_vjp,),
     doc="axis: None (all elements) or an int", shape="same", runtime=("runtime.functions.softmax",))
prim("log_softmax", 1, t_float_like, "log_softmax({0}, {axis})", vjp=(_log_softmax_vjp,), shape="same", runtime=("runtime.functions.log_softmax",))
prim("cross_entropy", 2, t_scalar, "cross_entropy({0}, {1})",
     vjp=(lambda g, ans, z, y: g * emit_op("cross_entropy_grad", z, y), None),
     doc="mean over rows of logsumexp(z_i) - z_i[y_i]; labels are not differentiable", runtime=("runtime.functions.cross_entropy",))

_GROUP[0] = "reductions"
prim("sum", 1, t_reduce, _emit_sum, vjp=(_sum_vjp,), doc="axis: None or an int", shape="reduce", runtime=("runtime.kernels.sum_along",))
prim("max", 1, t_reduce, _emit_along("max_along", "max"), vjp=(_extreme_vjp,),
     doc="axis: None or a tuple; ties split evenly", shape="reduce", runtime=("runtime.kernels.max_along",))
prim("min", 1, t_reduce, _emit_along("min_along", "min"), vjp=(_extreme_vjp,),
     doc="axis: None or a tuple; ties split evenly", shape="reduce", runtime=("runtime.kernels.min_along",))
prim("prod", 1, t_reduce, _emit_along("prod_along", "prod"), vjp=(_prod_vjp,),
     doc="axis: None or an int; exact at zeros", shape="reduce", runtime=("runtime.kernels.prod_along",))
prim("norm", 1, t_scalar, "np.linalg.norm({0})", numba="norm2({0})",
     vjp=(lambda g, ans, x: g * x / emit_op("where", emit_op("gt", ans, 0.0), ans, 1.0),),
     doc="2-norm of a vector, Frobenius norm of a matrix; norm'(0) = 0",
     runtime=("runtime.kernels.norm2",))
prim("sqrt_var", 1, t_float, "np.sqrt({0})",  # d/dv sqrt(v) = 1/(2 sqrt v), 0 at v = 0
     vjp=(lambda g, ans, v: g / emit_op("where", emit_op("gt", ans, 0.0), 2.0 * ans, float("inf")),),
     elementwise=True, doc="sqrt of a variance (np.std): 0 cotangent at 0, so std'(0) = 0")

_GROUP[0] = "linear algebra"


def _matmul_vjp_a(g, ans, a, b):  # Giles 2008, sec. 2.2: C = AB gives A' = C' B^T, B' = A^T C'
    return {(1, 1): lambda: g * b, (2, 1): lambda: emit_op("outer", g, b),
            (1, 2): lambda: b @ g, (2, 2): lambda: g @ b.T}[(a.type.rank, b.type.rank)]()


def _matmul_vjp_b(g, ans, a, b):
    return {(1, 1): lambda: g * a, (2, 1): lambda: a.T @ g,
            (1, 2): lambda: emit_op("outer", a, g), (2, 2): lambda: a.T @ g}[(a.type.rank, b.type.rank)]()


def _emit_matmul(op):  # Numba's @ is BLAS (floats): integer products use a kernel
    return "{0} @ {1}" if op.out.type.dtype == "float64" else "int_matmul({0}, {1})"


def _numba_matmul(op):  # a dot of two vectors is cheap to compile and to inline: `@` stays
    if op.out.type.dtype != "float64":
        return "int_matmul({0}, {1})"
    return "{0} @ {1}" if op.out.type.rank == 0 else "matmul({0}, {1})"


# compiled code calls cached runtime kernels (runtime/kernels.py, compiled once per
# installation) instead of Numba's generic `@` and np.outer (README, "Compile time")
prim("matmul", 2, t_matmul, _emit_matmul, vjp=(_matmul_vjp_a, _matmul_vjp_b), shape="matmul",
     runtime=("runtime.kernels.int_matmul", "runtime.kernels.matmul"), numba=_numba_matmul)
prim("outer", 2, t_outer, "np.outer({0}, {1})",
     vjp=(lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a @ g), shape="outer",
     runtime=("runtime.kernels.outer",), numba="outer({0}, {1})")
prim("trace", 1, lambda x, **_: Type(x.dtype, 0), "np.trace({0})",
     vjp=(lambda g, ans, x: g * emit_op("eye_like", x),))

_GROUP[0] = "shapes"
prim("transpose", 1, t_same, "{0}.T", aliases=(0,), vjp=(lambda g, ans, x: g.T,), doc="all axes reversed", shape="reversed", cheap=True)
prim("permute", 1, t_same, "np.transpose({0}, {axes})", aliases=(0,),
     vjp=(lambda g, ans, x, axes: emit_op("permute", g, axes=_inverse(axes)),), shape="permute")
prim("reshape", None, t_reshape, _emit_reshape, aliases=(0,),
     vjp=_PerInput(lambda i, g, ans, x, *dims: emit_op("reshape_like", g, x) if i == 0 else None), runtime=("runtime.kernels.reshape",))
prim("reshape_like", 2, lambda x, like, **_: Type(x.dtype, like.rank), "reshape({0}, {1}.shape)",
     aliases=(0,), vjp=(lambda g, ans, x, like: emit_op("reshape_like", g, x), None), shape="like_second", runtime=("runtime.kernels.reshape",), shape_operand=1)
prim("expand_dims", 1, t_expand, _emit_expand, aliases=(0,),
     vjp=(lambda g, ans, x, axis: emit_op("sum", g) if x.type.rank == 0 else emit_op("reshape_like", g, x),), shape="expand_dims")
prim("concatenate", None, t_concat, _emit_seq("np.concatenate"), vjp=_PerInput(_concat_vjp))
prim("stack", None, t_stack, _emit_seq("np.stack"), vjp=_PerInput(_stack_vjp))
prim("pack", None, t_pack, _emit_seq("np.array"), vjp=_PerInput(_pack_vjp),
     doc="a 1-D array of scalars: np.array([a, b, c])")

_GROUP[0] = "indexing (reads, and writes as functional updates)"
def _getitem_vjp(i, g, ans, x, *vals, spec):
    if i:
        return None
    if all(e in ("n", FULL) for e in spec):  # only new axes: a reshape
        return emit_op("reshape_like", g, x)
    return emit_op("zeros_with", g, x, *vals, spec=spec)


prim("getitem", None, t_getitem, _emit_getitem, vjp=_PerInput(_getitem_vjp), aliases=(0,),
     doc="x[ints, slices with steps, None]", cheap=True)
prim("take", 2, t_take, _emit_take,
     vjp=(lambda g, ans, x, a, axis: emit_op("take_add", g, x, a, axis=axis), None),
     doc="x[..., a, ...] with one int array a at `axis`", shape="take")
prim("take_pairs", 3, t_take_pairs, "take_pairs({0}, {1}, {2}, {axis})",
     vjp=(lambda g, ans, x, a, b, axis: emit_op("take_pairs_add", g, x, a, b, axis=axis), None, None),
     doc="x[..., a, b, ...]: two 1-D int arrays at axes `axis`, `axis`+1 (X[np.arange(n), y])", shape="take_pairs", runtime=("runtime.kernels.take_pairs",))
prim("set_index", None, lambda x, v, *vals, spec: (t_getitem(x, *vals, spec=spec), x)[1],
     _emit_set_index, vjp=_PerInput(_set_index_vjp),
     doc="a copy of x with x[index] = v (x[i] = v in user code)", shape="same", runtime=("runtime.kernels.set_index",))
prim("add_at", None, lambda x, v, *vals, spec: (t_getitem(x, *vals, spec=spec), x)[1],
     _emit_add_at, vjp=_PerInput(_add_at_vjp),
     doc="a copy of x with np.add.at(x, index, v): repeated indices add", shape="same",
     runtime=("runtime.kernels.add_at",))
prim("last_occurrence", 2, lambda a, n, **_: Type("float64", a.rank), "last_occurrence({0}, {1})",
     doc="1 where an index of {0} (into an axis of length {1}) does not occur again later, else 0",
     runtime=("runtime.kernels.last_occurrence",), zero_derivative=True)
prim("nonzero_flat", 1, lambda m, **_: Type("int64", 1), "np.flatnonzero({0})",
     doc="flat indices of the True entries of a mask")
prim("checked_mask", 2, lambda m, x, **_: m, "checked_mask({0}, {1})", aliases=(0,),
     shape="equal",
     doc="the boolean mask {0} indexing all of {1}; IndexError, as NumPy, when their shapes "
         "differ (a mask is not broadcast)", runtime=("runtime.kernels.checked_mask",))
prim("mask_index", 2, lambda m, x, **_: Type("int64", 1),
     lambda op: f"mask_index({{0}}, {{1}}, {op.attr('axis')})",
     doc="indices of the True entries of the 1-D mask {0} indexing axis `axis` of {1} "
         "beside other indices; IndexError, as NumPy, when its length is not the axis's",
     runtime=("runtime.kernels.mask_index",))

_GROUP[0] = "constructors (not differentiable in their shape arguments)"
prim("zeros", None, t_dims, _emit_dims("zeros"))
prim("ones", None, t_dims, _emit_dims("ones"))
prim("full", None, t_full, lambda op: "np.full(" + _shape_text(len(op.inputs) - 1, 1) + ", {0})",
     vjp=_PerInput(lambda i, g, ans, v, *dims: emit_op("sum", g) if i == 0 else None))
prim("full_like", 2, lambda x, v, **_: Type(v.dtype, x.rank), "np.full({0}.shape, {1})",
     vjp=(None, lambda g, ans, x, v: emit_op("sum", g)), shape="same")
prim("eye", None, lambda *ts, **_: (_need_int(*ts), Type("float64", 2))[1],
     lambda op: "np.eye(" + ", ".join(f"{{{i}}}" for i in range(len(op.inputs))) + ")")
prim("arange", None, t_arange,
     lambda op: "np.arange(" + ", ".join(f"{{{i}}}" for i in range(len(op.inputs))) + ")")

_GROUP[0] = "custom rules (compiler.custom_vjp)"
prim("custom_call", None, lambda r, *ins, **_: r, "{0}", aliases=(0,),
     vjp=_PerInput(lambda i, g, ans, r, *ins, rule: rule.cotangent(i - 1, g, ans, ins), first=1),
     doc="the inlined primal {0}, differentiated by the user's rule for inputs {1}, ...", shape="same")

_GROUP[0] = "adjoint helpers (in generated backward sweeps)"
prim("tie_weight", 2, t_float, "tie_weight({0}, {1})", elementwise=True,
     doc="1 where a > b, 0.5 where a == b, 0 elsewhere: the tie policy of max/min", runtime=("runtime.kernels.tie_weight",), zero_derivative=True)
prim("pow_dbase", 2, t_float, "pow_dbase({0}, {1})", elementwise=True,
     doc="{1} * {0} ** ({1} - 1), 0 where {1} == 0: d/da a ** b", runtime=("runtime.kernels.pow_dbase",))
prim("pow_dexp", 2, t_float, "pow_dexp({0}, {1})", elementwise=True,
     doc="{0} * log({1}), 0 where {0} == 0 or {1} == 0: d/db a ** b from {0} = a ** b", runtime=("runtime.kernels.pow_dexp",))
prim("fill_like", 2, lambda x, g, **_: Type("float64", x.rank), "np.full({0}.shape, {1})",
     doc="scalar {1} in the shape of {0}", shape="same", shape_operand=0)
prim("broadcast_like", 2, t_like, "broadcast_like({0}, {1})", aliases=(0,),
     doc="{0} broadcast to the shape of {1}, C-contiguous (NumPy may return {0} itself)", shape="like_second", runtime=("runtime.kernels.broadcast_like",), shape_operand=1)
prim("unbroadcast", 2, t_like, "unbroadcast({0}, {1})", aliases=(0,),
     doc="sum {0} back to the shape of {1}: the adjoint of NumPy broadcasting", shape="like_second", runtime=("runtime.kernels.unbroadcast",), shape_operand=1)
prim("zeros_like", 1, lambda x, **_: Type("float64", x.rank), "np.zeros({0}.shape)", shape="same", shape_operand=0, zero_derivative=True)
prim("eye_like", 1, lambda x, **_: Type("float64", 2), "np.eye({0}.shape[0], {0}.shape[1])", shape="same", shape_operand=0, zero_derivative=True)
prim("zeros_with", None, lambda g, x, *vals, spec: Type("float64", x.rank), _emit_zeros_with,
     doc="zeros shaped like {1} with {0} at an index (adjoint of getitem)", shape="like_second", runtime=("runtime.kernels.zeros_with",), shape_operand=1)
prim("take_add", 3, lambda g, x, a, axis: Type("float64", x.rank),
     "take_add({0}, {1}, {2}, {axis})", doc="adjoint of take: a scatter-add (np.add.at)", shape="like_second", runtime=("runtime.kernels.take_add",), shape_operand=1)
prim("take_pairs_add", 4, lambda g, x, a, b, axis: Type("float64", x.rank),
     "take_pairs_add({0}, {1}, {2}, {3}, {axis})", doc="adjoint of take_pairs", shape="like_second", runtime=("runtime.kernels.take_pairs_add",), shape_operand=1)
prim("prod_others", 1, t_float_like, "prod_others({0}, {axis})",
     doc="product of the other elements along axis (adjoint of prod)", shape="same", runtime=("runtime.kernels.prod_others",))
prim("cross_entropy_grad", 2, lambda z, y, **_: Type("float64", z.rank),
     "cross_entropy_grad({0}, {1})", doc="(softmax(z) - onehot(y)) / n", shape="same", runtime=("runtime.kernels.cross_entropy_grad",))

# ---- more of NumPy and SciPy (issue 15 §1) -------------------------------------------------
def t_square(x, **_):
    if x.rank != 2:
        raise TypeError(f"takes a 2-D (square) matrix, got rank {x.rank}")
    return Type("float64", 2)


def t_det(x, **_):
    t_square(x)
    return Type("float64", 0)


def t_solve(a, b, **_):
    t_square(a)
    if b.rank not in (1, 2):
        raise TypeError(f"solve takes a right-hand side of rank 1 or 2, got {b.rank}")
    return Type("float64", b.rank)


def t_arg_reduce(x, axis=None, **_):
    if x.rank == 0:
        raise TypeError("needs an array of rank >= 1")
    return I64 if axis is None else Type("int64", x.rank - 1)


def t_take_along(x, idx, axis, **_):
    _need_int(idx)
    if idx.rank != x.rank or idx.dtype == "bool":
        raise TypeError("take_along_axis takes int indices of the array's rank")
    return Type(x.dtype, x.rank)


def _flip_axis(v, axis):
    """v reversed along `axis` (a view: v[..., ::-1])."""
    return emit_op("getitem", v, -1, spec=(FULL,) * axis + ("::_",))


def _sinc_vjp(g, ans, x):  # d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x, 0 at x = 0
    zero = emit_op("eq", x, 0.0)
    xs = emit_op("where", zero, 1.0, x)
    return g * emit_op("where", zero, 0.0, (emit_op("cos", math.pi * xs) - ans) / xs)


def _eigh_values_vjp(g, ans, a):
    v = emit_op("eigh_vectors", a)
    return emit_op("eigh_grad", ans, v, g, emit_op("zeros_like", v))


def _eigh_vectors_vjp(g, ans, a):
    w = emit_op("eigh_values", a)
    return emit_op("eigh_grad", w, ans, emit_op("zeros_like", w), g)


def _solve_vjp_a(g, ans, a, b):  # X = A^-1 B: B' = A^-T X', A' = -B' X^T (Giles 2008, 2.3.1)
    gb = emit_op("solve", a.T, g)
    return -(emit_op("outer", gb, ans) if b.type.rank == 1 else gb @ ans.T)


_GROUP[0] = "elementwise functions"
prim("sinc", 1, t_float, "np.sinc({0})", vjp=(_sinc_vjp,), elementwise=True,
     doc="sin(pi x) / (pi x), 1 at 0; sinc'(0) = 0")
for _name in ("floor", "ceil", "rint"):
    prim(_name, 1, t_float, f"np.{_name}({{0}})", elementwise=True, doc="zero gradient",
         zero_derivative=True)
_GROUP[0] = "special functions (scipy.special; runtime.kernels)"
prim("erf", 1, t_float, "erf({0})", elementwise=True, runtime=("runtime.kernels.erf",),
     vjp=(lambda g, ans, x: g * (2.0 / math.sqrt(math.pi)) * emit_op("exp", -(x * x)),))
prim("erfc", 1, t_float, "erfc({0})", elementwise=True, runtime=("runtime.kernels.erfc",),
     vjp=(lambda g, ans, x: -(g * (2.0 / math.sqrt(math.pi)) * emit_op("exp", -(x * x))),))
prim("gammaln", 1, t_float, "gammaln({0})", elementwise=True, runtime=("runtime.kernels.gammaln",),
     vjp=(lambda g, ans, x: g * emit_op("digamma", x),), doc="log |Gamma(x)|")
prim("digamma", 1, t_float, "digamma({0})", elementwise=True, runtime=("runtime.kernels.digamma",),
     vjp=(lambda g, ans, x: g * emit_op("trigamma", x),))
prim("trigamma", 1, t_float, "trigamma({0})", elementwise=True, runtime=("runtime.kernels.trigamma",),
     vjp=(lambda *_: _no_second("trigamma (a second derivative of digamma)")(),),
     doc="digamma'; its own derivative is refused, not zero")

_GROUP[0] = "scans and sorting"
prim("cumsum", 1, lambda x, axis: Type("int64" if x.dtype == "bool" else x.dtype, x.rank),
     "cumsum_along({0}, {axis})", shape="same", runtime=("runtime.kernels.cumsum_along",),
     vjp=(lambda g, ans, x, axis: _flip_axis(emit_op("cumsum", _flip_axis(g, axis), axis=axis), axis),),
     doc="along an int axis; adjoint: the reversed cumulative sum")
prim("cumprod", 1, lambda x, axis: Type("int64" if x.dtype == "bool" else x.dtype, x.rank),
     "cumprod_along({0}, {axis})", shape="same", runtime=("runtime.kernels.cumprod_along",),
     vjp=(lambda g, ans, x, axis: emit_op("cumprod_grad", g, x, axis=axis),),
     doc="along an int axis; exact at zeros")
prim("take_along_axis", 2, t_take_along, "take_along({0}, {1}, {axis})",
     vjp=(lambda g, ans, x, i, axis: emit_op("take_along_add", g, x, i, axis=axis), None),
     runtime=("runtime.kernels.take_along",),
     doc="np.take_along_axis with indices of x's shape off `axis` (np.sort's gather)")
prim("argsort", 1, lambda x, axis: Type("int64", x.rank), "argsort_along({0}, {axis})",
     shape="same", runtime=("runtime.kernels.argsort_along",), doc="stable (ties keep their order)")
prim("argmax", 1, t_arg_reduce, lambda op: "np.argmax({0})" if op.attr("axis") is None else
     "np.argmax({0}, {axis})", doc="first maximum; axis: None or an int")
prim("argmin", 1, t_arg_reduce, lambda op: "np.argmin({0})" if op.attr("axis") is None else
     "np.argmin({0}, {axis})", doc="first minimum; axis: None or an int")
prim("searchsorted", 2, lambda a, v, side: Type("int64", v.rank),
     "np.searchsorted({0}, {1}, side={side!r})", doc="insertion points of {1} in sorted 1-D {0}")
prim("nonzero", 1, lambda x, axis: Type("int64", 1), "np.nonzero({0})[{axis}]",
     doc="the indices along `axis` of the nonzero entries (np.nonzero(x)[axis])")
prim("unique", 1, lambda x: Type(x.dtype, 1), "np.unique({0})", doc="sorted distinct values (no rule)")

_GROUP[0] = "linear algebra"
prim("det", 1, t_det, "np.linalg.det({0})", vjp=(lambda g, ans, a: g * emit_op("det_cofactor", a),),
     doc="gradient: the cofactor matrix, exact on singular matrices")
prim("logabsdet", 1, t_det, "np.linalg.slogdet({0})[1]",
     vjp=(lambda g, ans, a: g * emit_op("inv", a).T,), doc="log |det|, np.linalg.slogdet(a)[1]")
prim("slogdet_sign", 1, t_det, "np.linalg.slogdet({0})[0]", doc="sign of det, np.linalg.slogdet(a)[0]", zero_derivative=True)
prim("inv", 1, t_square, "np.linalg.inv({0})",  # A^-1' = -A^-T G A^-T (Giles 2008, 2.2.3)
     vjp=(lambda g, ans, a: -(ans.T @ g @ ans.T),))
prim("solve", 2, t_solve, "np.linalg.solve({0}, {1})", vjp=(_solve_vjp_a, lambda g, ans, a, b: emit_op("solve", a.T, g)))
prim("cholesky", 1, t_square, "np.linalg.cholesky({0})",
     vjp=(lambda g, ans, a: emit_op("cholesky_grad", ans, g),), doc="lower L; cotangent on A's lower triangle")
prim("eigh_values", 1, lambda a: Type("float64", (t_square(a), 1)[1]), "np.linalg.eigh({0})[0]",
     vjp=(_eigh_values_vjp,), doc="ascending eigenvalues of symmetric A (its lower triangle)")
prim("eigh_vectors", 1, t_square, "np.linalg.eigh({0})[1]", vjp=(_eigh_vectors_vjp,),
     doc="eigenvectors (columns); repeated eigenvalues: no gradient through their basis")
prim("qr_q", 1, lambda a: Type("float64", 2), "np.linalg.qr({0})[0]",
     vjp=(lambda g, ans, a: emit_op("qr_grad", ans, emit_op("qr_r", a), g, emit_op("zeros_like", emit_op("qr_r", a))),),
     doc="reduced Q of A (m >= n)")
prim("qr_r", 1, lambda a: Type("float64", 2), "np.linalg.qr({0})[1]",
     vjp=(lambda g, ans, a: emit_op("qr_grad", emit_op("qr_q", a), ans, emit_op("zeros_like", emit_op("qr_q", a)), g),),
     doc="R of A (m >= n)")

_GROUP[0] = "shapes"
prim("broadcast_to", None, lambda x, *dims: (_need_int(*dims), Type(x.dtype, len(dims)))[1],
     lambda op: "np.broadcast_to({0}, " + _shape_text(len(op.inputs) - 1, 1) + ")", aliases=(0,),
     vjp=_PerInput(lambda i, g, ans, x, *dims: emit_op("unbroadcast", g, x) if i == 0 else None),
     doc="a read-only view of x broadcast to a shape; adjoint: unbroadcast")

_GROUP[0] = "adjoint helpers (in generated backward sweeps)"
prim("cumprod_grad", 2, lambda g, x, axis: Type("float64", x.rank), "cumprod_grad({0}, {1}, {axis})",
     shape="like_second", runtime=("runtime.kernels.cumprod_grad",), doc="adjoint of cumprod, exact at zeros")
prim("take_along_add", 3, lambda g, x, i, axis: Type("float64", x.rank),
     "take_along_add({0}, {1}, {2}, {axis})", shape="like_second",
     runtime=("runtime.kernels.take_along_add",), doc="adjoint of take_along_axis: a scatter-add")
prim("det_cofactor", 1, t_square, "det_cofactor({0})", shape="same",
     runtime=("runtime.kernels.det_cofactor",), doc="adj(A)^T from the SVD (singular A included)")
prim("cholesky_grad", 2, lambda l, g: Type("float64", 2), "cholesky_grad({0}, {1})",
     runtime=("runtime.kernels.cholesky_grad",), doc="adjoint of cholesky (Murray 2016)")
prim("eigh_grad", 4, lambda w, v, gw, gv: Type("float64", 2), "eigh_grad({0}, {1}, {2}, {3})",
     runtime=("runtime.kernels.eigh_grad",), doc="adjoint of eigh (Giles 2008, 3.1)")
prim("qr_grad", 4, lambda q, r, gq, gr: Type("float64", 2), "qr_grad({0}, {1}, {2}, {3})",
     runtime=("runtime.kernels.qr_grad",), doc="adjoint of the reduced QR (Liao et al. 2019)")

# ---- forward mode (JVP) rules of the primitives above (compiler/diff/forward.py) ---------
def _no_second(what, hint=""):
    """A rule for a derivative not implemented: raises UnsupportedError when used (never a
    silent zero)."""
    def rule(*_, **__):
        from .errors import UnsupportedError
        raise UnsupportedError(f"the derivative of {what} is not implemented", None, hint or None)
    return rule


def _with_jvp(name, rules):
    import dataclasses
    PRIMS[name] = dataclasses.replace(PRIMS[name], jvp=rules)


def _det_jvp(t, ans, a):  # d det = <cofactor(A), dA>, exact on singular A
    return emit_op("sum", emit_op("det_cofactor", a) * t)


def _solve_jvp_a(t, ans, a, b):  # dX = -A^-1 dA X
    return -emit_op("solve", a, t @ ans)


_HESS = "second derivatives through np.linalg decompositions (forward mode over their adjoints)"
_with_jvp("cumsum", (lambda t, ans, x, axis: emit_op("cumsum", t, axis=axis),))
_with_jvp("cumprod", (lambda t, ans, x, axis: emit_op("cumprod_jvp", t, x, axis=axis),))
_with_jvp("take_along_axis", (lambda t, ans, x, i, axis: emit_op("take_along_axis", t, i, axis=axis), None))
_with_jvp("det", (_det_jvp,))
_with_jvp("logabsdet", (lambda t, ans, a: emit_op("sum", emit_op("inv", a).T * t),))
_with_jvp("inv", (lambda t, ans, a: -(ans @ t @ ans),))
_with_jvp("solve", (_solve_jvp_a, lambda t, ans, a, b: emit_op("solve", a, t)))
_with_jvp("cholesky", (lambda t, ans, a: emit_op("cholesky_jvp", ans, t),))
_with_jvp("eigh_values", (lambda t, ans, a: emit_op("eigh_values_jvp", emit_op("eigh_vectors", a), t),))
_with_jvp("eigh_vectors", (lambda t, ans, a: emit_op("eigh_vectors_jvp", emit_op("eigh_values", a), ans, t),))
_with_jvp("qr_q", (lambda t, ans, a: emit_op("qr_q_jvp", ans, emit_op("qr_r", a), t),))
_with_jvp("qr_r", (lambda t, ans, a: emit_op("qr_r_jvp", emit_op("qr_q", a), ans, t),))
_with_jvp("broadcast_to", _PerInput(lambda i, t, ans, x, *dims: emit_op("broadcast_to", t, *dims) if i == 0 else None))
# the adjoint helpers are linear in their cotangent inputs; their derivative in the primal
# inputs (a Hessian through det, cumprod or a decomposition) is refused, not zero
_with_jvp("cumprod_grad", (lambda t, ans, g, x, axis: emit_op("cumprod_grad", t, x, axis=axis),
                           _no_second("np.cumprod's adjoint in x (a Hessian through cumprod)")))
_with_jvp("take_along_add", (lambda t, ans, g, x, i, axis: emit_op("take_along_add", t, x, i, axis=axis), None, None))
_with_jvp("det_cofactor", (_no_second("np.linalg.det's adjoint (a Hessian through det)",
                                      "for invertible A, write det via np.exp(logdet) from slogdet"),))
_with_jvp("cholesky_grad", (_no_second(_HESS), lambda t, ans, l, g: emit_op("cholesky_grad", l, t)))
_with_jvp("eigh_grad", (_no_second(_HESS), _no_second(_HESS),
                        lambda t, ans, w, v, gw, gv: emit_op("eigh_grad", w, v, t, emit_op("zeros_like", gv)),
                        lambda t, ans, w, v, gw, gv: emit_op("eigh_grad", w, v, emit_op("zeros_like", gw), t)))
_with_jvp("qr_grad", (_no_second(_HESS), _no_second(_HESS),
                      lambda t, ans, q, r, gq, gr: emit_op("qr_grad", q, r, t, emit_op("zeros_like", gr)),
                      lambda t, ans, q, r, gq, gr: emit_op("qr_grad", q, r, emit_op("zeros_like", gq), t)))

_GROUP[0] = "random draws (data: no gradient)"
prim("rng_draw", None, lambda seed, plan, *dims, kind: (_need_int(seed, *dims), Type("float64", len(dims)))[1],
     lambda op: "rng_draw({0}, {1}, {kind}, " + _shape_text(len(op.inputs) - 2, 2) + ")",
     runtime=("runtime.kernels.rng_draw",),
     doc="the next draw of np.random.default_rng({0}) after the draws in {1}: kind 0 random, 1 standard_normal", zero_derivative=True)

prim("draw_param", 1, t_same, "draw_param({0}, {check})", vjp=(lambda g, ans, v, check: g,),
     runtime=("runtime.kernels.draw_param",),
     doc="{0}, checked as NumPy checks a draw's parameter: check 1 a normal's scale "
         "(ValueError below 0), 2 a uniform's high - low (OverflowError if not finite, "
         "ValueError below 0)")

_GROUP[0] = "tangent helpers (in generated forward sweeps)"
_NO_REVERSE = _no_second("a forward-mode tangent in reverse mode")
prim("cumprod_jvp", 2, lambda t, x, axis: Type("float64", x.rank), "cumprod_jvp({0}, {1}, {axis})",
     shape="like_second", runtime=("runtime.kernels.cumprod_jvp",), vjp=(_NO_REVERSE, _NO_REVERSE),
     jvp=(lambda t, ans, tx, x, axis: emit_op("cumprod_jvp", t, x, axis=axis), _no_second("np.cumprod's tangent in x")),
     doc="tangent of cumprod, exact at zeros")
prim("cholesky_jvp", 2, lambda l, t: Type("float64", 2), "cholesky_jvp({0}, {1})",
     runtime=("runtime.kernels.cholesky_jvp",), vjp=(_NO_REVERSE, _NO_REVERSE),
     jvp=(_no_second(_HESS), lambda t, ans, l, tt: emit_op("cholesky_jvp", l, t)))
prim("eigh_values_jvp", 2, lambda v, t: Type("float64", 1), "eigh_values_jvp({0}, {1})",
     runtime=("runtime.kernels.eigh_values_jvp",), vjp=(_NO_REVERSE, _NO_REVERSE),
     jvp=(_no_second(_HESS), lambda t, ans, v, tt: emit_op("eigh_values_jvp", v, t)))
prim("eigh_vectors_jvp", 3, lambda w, v, t: Type("float64", 2), "eigh_vectors_jvp({0}, {1}, {2})",
     runtime=("runtime.kernels.eigh_vectors_jvp",), vjp=(_NO_REVERSE,) * 3,
     jvp=(_no_second(_HESS), _no_second(_HESS), lambda t, ans, w, v, tt: emit_op("eigh_vectors_jvp", w, v, t)))
prim("qr_q_jvp", 3, lambda q, r, t: Type("float64", 2), "qr_q_jvp({0}, {1}, {2})",
     runtime=("runtime.kernels.qr_q_jvp",), vjp=(_NO_REVERSE,) * 3,
     jvp=(_no_second(_HESS), _no_second(_HESS), lambda t, ans, q, r, tt: emit_op("qr_q_jvp", q, r, t)))
prim("qr_r_jvp", 3, lambda q, r, t: Type("float64", 2), "qr_r_jvp({0}, {1}, {2})",
     runtime=("runtime.kernels.qr_r_jvp",), vjp=(_NO_REVERSE,) * 3,
     jvp=(_no_second(_HESS), _no_second(_HESS), lambda t, ans, q, r, tt: emit_op("qr_r_jvp", q, r, t)))
_GROUP[0] = OTHERS
