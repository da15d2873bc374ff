"""The arguments of a gradient function: which are differentiated, how a call binds
them, and how they are normalised before dispatch.

Guarantees: `Arguments.normalize` returns the arguments the generated code receives
and the specialisation key (one `Type` per argument). Float and bool scalars become
float64, as do `wrt` arguments (an int included) and float arrays (C-contiguous);
integers that are not differentiated stay integers: int scalars become int64 (a label,
an index, a count), integer arrays int64, bool arrays stay bool (masks). So `2.0`,
`np.float32(2)` and lists of floats share one key. `fast_key` recognises, in well under
a microsecond, the arguments normalisation would pass through unchanged.
"""
from __future__ import annotations

import inspect

import numpy as np

from .errors import ArgumentError
from .ir.core import Type
from .pytree import Fixed, TreeType, flatten, is_tree


_PLAIN_NAMES = {"__doc__", "__module__", "__dict__", "__weakref__", "__qualname__",
                "__firstlineno__", "__static_attributes__", "__annotations__"}


def plain_array(a: np.ndarray) -> np.ndarray:
    """An ndarray subclass instance as the plain array it views, when NumPy computes
    with it as with that array: an np.memmap, or a subclass that redefines nothing of
    ndarray's (no operator, ufunc hook, item access or finaliser of its own). Raises
    TypeError for any other (np.matrix's `*` is a matrix product, a masked array's
    operations skip its masked entries): adjoint would compute something else."""
    cls = type(a)
    own = {n for k in cls.__mro__[:cls.__mro__.index(np.ndarray)] for n in vars(k)
           if n not in _PLAIN_NAMES and hasattr(np.ndarray, n)}
    if own and not isinstance(a, np.memmap):
        raise TypeError(
            f"a {cls.__module__}.{cls.__name__} is an ndarray subclass whose operations "
            f"NumPy computes differently from a plain array's (it redefines "
            f"{', '.join(sorted(own)[:3])}{', ...' if len(own) > 3 else ''}): pass "
            "np.asarray(...) of it (a masked array's np.ma.filled or compressed data) to "
            "differentiate plain-array arithmetic")
    return a.view(np.ndarray)


_I64_MAX = 2 ** 63 - 1


def arg_type(a, as_float: bool):
    """(normalised argument, Type) of one argument; `as_float` for a `wrt` argument.

    a: an ndarray (float, integer or bool dtype; a subclass as in `plain_array`), a
    Python or NumPy number or bool, or a (nested) list or tuple of numbers. Raises
    TypeError for anything else, an array of another dtype (complex, object, strings,
    datetimes), an integer beyond int64 (a number, or a uint64 array holding one) or a
    subclass with operations of its own (np.matrix, a masked array)."""
    if isinstance(a, np.ndarray):
        if type(a) is not np.ndarray:
            a = plain_array(a)
        if a.ndim == 0:  # a 0-d array is the scalar it holds
            return arg_type(a[()], as_float)
        if a.dtype == np.float64 and a.flags.c_contiguous:
            return a, Type("float64", a.ndim)
        if a.dtype.kind not in "fiub":  # complex (its real part would be taken), strings,
            # datetimes, objects: NumPy computes with them otherwise or not at all
            raise TypeError(f"arrays of dtype {a.dtype} are not supported (float, integer "
                            "and bool arrays are)")
        if as_float or a.dtype.kind == "f":
            return np.ascontiguousarray(a, dtype=np.float64), Type("float64", a.ndim)
        if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and a.max() > _I64_MAX:
            raise TypeError(f"a {a.dtype} array holding {int(a.max())} does not fit int64, "
                            "the integers adjoint computes with (it would wrap to a negative "
                            "number)")
        if a.dtype.kind in "iu":
            return np.ascontiguousarray(a, dtype=np.int64), Type("int64", a.ndim)
        if a.dtype.kind == "b":
            return np.ascontiguousarray(a), Type("bool", a.ndim)
        raise TypeError(f"arrays of dtype {a.dtype} are not supported")
    # Scalars become NumPy scalars, so the generated code computes with them as NumPy
    # does in both tiers (x / 0.0 is inf with a RuntimeWarning, not ZeroDivisionError)
    if isinstance(a, (np.timedelta64, np.datetime64)):  # (a timedelta64 is an np.integer)
        raise TypeError(f"{type(a).__name__} values are not numbers adjoint computes with")
    if isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) and not as_float:
        if not -_I64_MAX - 1 <= a <= _I64_MAX:
            raise TypeError(f"the int {a} does not fit int64, the integers adjoint computes "
                            "with (NumPy's np.int64 refuses it too): pass it as a float")
        return np.int64(a), Type("int64", 0)  # a label, an index, a count: stays an integer
    if isinstance(a, (bool, int, float, np.bool_, np.integer, np.floating)):
        try:
            return np.float64(a), Type("float64", 0)  # floats, bools, differentiated ints
        except OverflowError:  # an int beyond float64's range
            raise TypeError(f"the int {a} is beyond float64's range") from None
    if isinstance(a, (list, tuple)):
        return arg_type(np.asarray(a), as_float)
    raise TypeError(f"{type(a).__name__} is not an array or number")


_NDARRAY, _F64, _NP_F64 = np.ndarray, np.dtype(np.float64), np.float64
_I64, _NP_I64 = np.dtype(np.int64), np.int64


def fast_key(args):
    """A cheap key for arguments that `arg_type` passes through unchanged (or as the same
    Numba type): a float64 C-contiguous ndarray gives its rank, an int64 one 100 + its
    rank, a float (Python or np.float64) -1, an int (Python within int64 or np.int64; not
    a bool) -2; None when any argument is something else. The per-call fast path of dispatch (about
    0.5 µs for six arguments instead of several µs for `normalize`)."""
    key = []
    for a in args:
        t = type(a)
        if t is _NDARRAY and a.ndim and a.flags.c_contiguous:
            if a.dtype is _F64:
                key.append(a.ndim)
            elif a.dtype is _I64:
                key.append(100 + a.ndim)
            else:
                return None
        elif t is float or t is _NP_F64:
            key.append(-1)
        elif t is _NP_I64 or (t is int and -_I64_MAX - 1 <= a <= _I64_MAX):
            key.append(-2)
        else:
            return None
    return tuple(key)


def layout_check(args):
    """For arguments that are float64 C-contiguous arrays (rank >= 1) and floats, or
    dicts, tuples and lists of them one level deep (`{"W1": W1, ...}`): a function
    `check(args)` that returns the leaves of a call's arguments, in the order they
    have here, when flattening and normalisation would give them unchanged and the
    specialisation key would be the same (the same dict keys in the same order, since
    the gradient dict follows it; sequence types and lengths, leaf ranks); None otherwise.
    Returns None when `args` are not of that kind (nested structures, other dtypes, a
    list of numbers, which is an array). The per-call fast path of structured arguments:
    straight-line Python generated for the layout (about as fast as `fast_key`)."""
    lines = ["def check(args):", f"    if len(args) != {len(args)}:", "        return None"]
    consts, out = {"ND": _NDARRAY, "F64": _F64, "NPF64": _NP_F64}, []

    def leaf(expr, v, in_list):
        t = type(v)
        if t is _NDARRAY and v.dtype is _F64 and v.ndim and v.flags.c_contiguous:
            lines.append(f"    if type({expr}) is not ND or {expr}.dtype is not F64 or "
                         f"{expr}.ndim != {v.ndim} or not {expr}.flags.c_contiguous:")
        elif (t is float or t is _NP_F64) and not in_list:
            lines.append(f"    if type({expr}) is not float and type({expr}) is not NPF64:")
        else:
            return False
        lines.append("        return None")
        out.append(expr)
        return True

    for i, a in enumerate(args):
        t = type(a)
        lines.append(f"    a{i} = args[{i}]")
        if t is dict or t is tuple or t is list:
            lines += [f"    if type(a{i}) is not {t.__name__} or len(a{i}) != {len(a)}:",
                      "        return None"]
            items = a.items() if t is dict else enumerate(a)
            if t is dict:  # the same keys in the same order: the gradient dict's order
                consts[f"keys{i}"] = tuple(a)
                lines += [f"    if tuple(a{i}) != keys{i}:", "        return None"]
            for j, (k, v) in enumerate(items):
                if t is dict:
                    consts[f"k{i}_{j}"] = k
                    lines.append(f"    v{i}_{j} = a{i}[k{i}_{j}]")
                else:
                    lines.append(f"    v{i}_{j} = a{i}[{j}]")
                if not leaf(f"v{i}_{j}", v, t is list):
                    return None
        elif not leaf(f"a{i}", a, False):
            return None
    lines.append(f"    return ({', '.join(out)},)")
    exec("\n".join(lines), consts)  # noqa: S102 - generated from the layout alone
    return consts["check"]


def _fast_type(c: int) -> Type:
    if c == -2:
        return Type("int64", 0)
    return Type("int64", c - 100) if c >= 100 else Type("float64", max(c, 0))


def fast_key_matches(fast: tuple, key: tuple) -> bool:
    """Does the fast key describe exactly the specialisation key? (An int in `wrt` is a
    float64 in the key: such a call takes the normal path.)"""
    return key == tuple(_fast_type(c) for c in fast)


class Arguments:
    """The parameters of the user's function `fn` (parsed as `fs`) and which of them are
    differentiated. `wrt`: a name or index (`single`: the gradient is one array), or a
    tuple of them. Raises ArgumentError for an empty `wrt`, an unknown name, an index
    out of range or an argument named twice, at the function's `def`."""

    def __init__(self, fn, fs, wrt, has_aux: bool = False):
        self.fn, self.fs, self.has_aux = fn, fs, has_aux
        self.names = tuple(fs.params)  # positional, then keyword-only; no bound `self`
        self.single = isinstance(wrt, (int, str))
        entries = (wrt,) if self.single else tuple(wrt)
        if not entries:
            raise ArgumentError("wrt is empty; name at least one argument")
        self.wrt = tuple(self._index(w) for w in entries)
        if len(set(self.wrt)) != len(self.wrt):
            raise ArgumentError(f"wrt {entries!r} names an argument twice")
        self.wrt_names = tuple(self.names[i] for i in self.wrt)

    def _index(self, w) -> int:
        name, n = self.fs.node.name, len(self.names)
        if isinstance(w, str):
            if w not in self.names:
                raise ArgumentError(f"wrt={w!r}: {name} has no argument {w!r} "
                                    f"(its arguments: {', '.join(self.names)})",
                                    self.fs.loc(self.fs.node))
            return self.names.index(w)
        if isinstance(w, int) and not isinstance(w, bool):
            if not -n <= w < n:
                raise ArgumentError(f"wrt={w}: {name} takes {n} arguments",
                                    self.fs.loc(self.fs.node))
            return w % n
        raise ArgumentError(f"wrt entries are argument names or indices, not {w!r}")

    def bind(self, args: tuple, kwargs: dict) -> tuple:
        """The arguments in parameter order (positional, then keyword-only) from a call
        with keywords or defaults, as Python binds them. Raises ArgumentError at the
        `def` naming an unknown keyword (with the parameters), then too many positional
        arguments, a missing or doubly given argument."""
        name, loc = self.fs.node.name, self.fs.loc(self.fs.node)
        unknown = [k for k in kwargs if k not in self.names]
        if unknown:
            raise ArgumentError(f"{name}() got an unexpected keyword argument {unknown[0]!r} "
                                f"(its arguments: {', '.join(self.names)})", loc)
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as e:
            raise ArgumentError(f"{name}(): {e} (its arguments: {', '.join(self.names)})",
                                loc) from None
        bound.apply_defaults()
        return tuple(bound.arguments[n] for n in self.names)

    def normalize(self, args) -> tuple[list, tuple]:
        """(normalised arguments, specialisation key: one `Type` per argument). Raises
        ArgumentError for a wrong count or an argument that is not an array or number."""
        if len(args) != len(self.names):
            raise ArgumentError(f"{self.fs.node.name} takes {len(self.names)} arguments "
                                f"({', '.join(self.names)}), got {len(args)}",
                                self.fs.loc(self.fs.node))
        out, key = [], []
        for i, a in enumerate(args):
            try:
                if is_tree(a):  # flattened: the generated code takes the leaves
                    leaves, tree = flatten(a)
                    types = []
                    for leaf in leaves:
                        v, t = arg_type(leaf, i in self.wrt)
                        out.append(v)
                        types.append(t)
                    key.append(TreeType(tree, tuple(types)))
                    continue
                v, t = arg_type(a, i in self.wrt)
            except TypeError as e:
                raise ArgumentError(f"argument {self.names[i]!r}: {e}") from None
            out.append(v)
            key.append(t)
        return out, tuple(key)

    def fix(self, normed, key, fixed: dict) -> tuple[list, tuple]:
        """(arguments, key) with the arguments named in `fixed` ({name: number}, none of
        them differentiated) made constants of the generated code (`pytree.Fixed`): their
        leaves leave the argument list. Raises ArgumentError for a `wrt` argument or a
        value that is not a number."""
        if not fixed:
            return normed, key
        key, out, pos = list(key), [], 0
        for i, t in enumerate(key):
            size = t.tree.num_leaves if isinstance(t, TreeType) else 1
            name = self.names[i]
            if name in fixed:
                if i in self.wrt:
                    raise ArgumentError(f"{name!r} is differentiated: it cannot be fixed")
                try:
                    key[i] = Fixed.of(fixed[name])
                except TypeError as e:
                    raise ArgumentError(f"argument {name!r}: {e}") from None
            else:
                out += normed[pos:pos + size]
            pos += size
        return out, tuple(key)

    def leaf_wrt(self, key) -> tuple[int, ...]:
        """The graph parameter positions (leaves) of the `wrt` arguments, in `wrt`
        order, for the specialisation `key`."""
        starts, n = [], 0
        for t in key:
            starts.append(n)
            n += t.tree.num_leaves if isinstance(t, TreeType) else 0 if isinstance(t, Fixed) else 1
        out = []
        for i in self.wrt:
            size = key[i].tree.num_leaves if isinstance(key[i], TreeType) else 1
            out += range(starts[i], starts[i] + size)
        return tuple(out)

    def regrouper(self, key, aux_tree):
        """None when the generated function's outputs `(loss, *gradients)` are already
        one per `wrt` argument; else a function from those outputs (`(loss, *leaf
        gradients, *aux leaves)`) to `(value, *gradients)`: each structured argument's
        gradient rebuilt with its structure, value `(loss, aux)` with aux rebuilt."""
        trees = [key[i].tree if isinstance(key[i], TreeType) else None for i in self.wrt]
        if aux_tree is None and not any(trees):
            return None
        builders, pos = [], 1
        for tree in trees:
            builders.append(_builder(tree, pos))
            pos += 1 if tree is None else tree.num_leaves
        if aux_tree is None and len(builders) == 1:  # one structured argument: the common case
            tree = trees[0]
            if tree.kind == "dict" and tree.cls is None and \
                    all(c.kind == "leaf" for c in tree.children):  # one call, a dict display
                entries = ", ".join(f"keys[{j}]: out[{1 + j}]" for j in range(len(tree.keys)))
                return eval(f"lambda out: (out[0], {{{entries}}})",  # noqa: S307
                            {"keys": tree.keys})
            build = builders[0]
            return lambda out: (out[0], build(out))
        aux = None if aux_tree is None else _builder(aux_tree, pos, len_=None)

        def regroup(out):
            value = out[0] if aux is None else (out[0], aux(out))
            return (value, *[b(out) for b in builders])
        return regroup


def _builder(tree, start: int, len_: int | None = 0):
    """A function of the generated code's outputs giving the value (a gradient, the aux
    data) whose leaves start at `start`: a flat dict or tuple is rebuilt directly (a few
    hundred nanoseconds), a deeper tree by `TreeDef.unflatten`. `len_` None: the leaves
    run to the end."""
    if tree is None:
        return lambda out: out[start]
    stop = None if len_ is None else start + tree.num_leaves
    if tree.kind == "dict" and tree.cls is None and all(c.kind == "leaf" for c in tree.children) \
            and len_ is not None:  # a dict display: half the time of dict(zip(...))
        entries = ", ".join(f"keys[{j}]: out[{start + j}]" for j in range(len(tree.keys)))
        return eval(f"lambda out: {{{entries}}}", {"keys": tree.keys})  # noqa: S307
    if tree.kind == "tuple" and all(c.kind == "leaf" for c in tree.children):
        return lambda out: tuple(out[start:stop])
    return lambda out: tree.unflatten(out[start:stop])
