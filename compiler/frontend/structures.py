"""Python values that exist only while lowering: containers of SSA values (tuples, dicts,
namedtuples: structured parameters, `[1.0, a, 3.0]`, `dict(a=a)`) and local functions
(`def` and `lambda` inside the loss).

Guarantees: none of them reaches the graph. A container is a Python tuple, dict or
namedtuple whose leaves are `Value`s; reading an entry with a constant key or index
(`p["W1"]`, `x[0]`, `x[-1]`, `x[1:]`, `p.W1`) gives the entry itself, so code reading
a structure lowers to the plain values (a structured argument costs nothing in the
generated code). A run-time index into a tuple of numbers or arrays of one rank stacks
them into an array first (as `np.array(x)[i]` would). A `LocalFunction` is inlined at
each call like a module-level function; names its body does not bind are looked up in
the enclosing function *at the call* (Python's late binding of closures), and its
defaults are evaluated where it is defined.

A leaf module of the frontend: it takes the lowering context (`cx`) as an argument and
imports only leaf modules (binding.py, captures.py) and the shared containers'
definitions (compiler/pytree.py).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..errors import UnsupportedError
from ..ir.core import Value
from ..pytree import Fixed, TreeDef, TreeType, leaf_names
from .binding import Signature
from .captures import Static


def is_container(v) -> bool:
    return isinstance(v, (tuple, dict))


def is_namedtuple(v) -> bool:
    return isinstance(v, tuple) and hasattr(type(v), "_fields")


def frontend_tree(tree: TreeDef, leaves):
    """The container the lowering sees for a structured parameter: lists become tuples
    (the frontend's one sequence kind), dicts and namedtuples stay."""
    it = iter(leaves)

    def build(t):
        if t.kind == "leaf":
            return next(it)
        items = [build(c) for c in t.children]
        if t.kind == "dict":
            return dict(zip(t.keys, items))
        if t.kind == "namedtuple":
            return t.cls(*items)
        return tuple(items)
    return build(tree)


def parameters(fs, key) -> tuple[tuple, dict]:
    """(graph parameters, environment) for the user's function `fs` and a
    specialisation key: a `Type` gives one parameter Value named like the argument; a
    `TreeType` one Value per leaf, named after its dict key or namedtuple field (made
    unique), and the environment binds the argument to the container of them; a
    `pytree.Fixed` no parameter (the environment holds it until lower.py makes it a
    constant)."""
    names = leaf_names(fs.params, {n: t.tree for n, t in zip(fs.params, key)
                                   if isinstance(t, TreeType)})
    params, env = [], {}
    for name, t in zip(fs.params, key):
        if isinstance(t, Fixed):  # a constant, not a parameter (made in the builder: lower.py)
            env[name] = t
            continue
        if not isinstance(t, TreeType):
            v = Value(t, name)
            params.append(v)
            env[name] = v
            continue
        leaves = [Value(lt, hint) for lt, hint in zip(t.leaves, names[name])]
        params += leaves
        env[name] = frontend_tree(t.tree, leaves)
    return tuple(params), env


def flatten_result(where, value) -> tuple[list, TreeDef]:
    """(leaf Values, TreeDef) of a value a function returns as `has_aux` data; `where`:
    the Loc of the `return`, for the error."""
    leaves: list = []

    def walk(v):
        if isinstance(v, Value):
            leaves.append(v)
            return TreeDef("leaf")
        if isinstance(v, dict):
            return TreeDef("dict", tuple(walk(e) for e in v.values()), tuple(v))
        if is_namedtuple(v):
            return TreeDef("namedtuple", tuple(walk(e) for e in v), tuple(type(v)._fields),
                           type(v))
        if isinstance(v, tuple):
            return TreeDef("tuple", tuple(walk(e) for e in v))
        raise UnsupportedError("the auxiliary value must be arrays and numbers, or dicts, "
                               "tuples and lists of them", where)
    return leaves, walk(value)


# ---- reading containers ------------------------------------------------------------
def constant(cx, node):
    """The Python value of a constant key or index expression, or None if it is a
    run-time value (`x[i]`)."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    v = cx.expr(node)
    if isinstance(v, Static) and isinstance(v.obj, (str, int)):
        return v.obj
    c = cx.const_value(v) if isinstance(v, Value) else None
    return c if isinstance(c, int) and not isinstance(c, bool) else None


def item(cx, node: ast.Subscript, base):
    """`base[key]` for a container `base` (a tuple, dict or namedtuple of values)."""
    where = cx.fs.loc(node)
    sl = node.slice
    if isinstance(base, dict):
        key = constant(cx, sl)
        if key is None or key not in base:
            have = ", ".join(map(repr, base))
            raise UnsupportedError(
                f"`{ast.unparse(node)}`: no entry {ast.unparse(sl)}" if key is None or
                not isinstance(key, (str, int)) else f"`{ast.unparse(node)}`: no key {key!r}",
                where, f"the keys are: {have}" if have else "the dict is empty")
        return base[key]
    if isinstance(sl, ast.Slice):
        parts = (sl.lower, sl.upper, sl.step)
        bounds = [None if p is None else constant(cx, p) for p in parts]
        if not all(isinstance(b, int) for b, p in zip(bounds, parts) if p is not None):
            raise UnsupportedError(f"`{ast.unparse(node)}`: a slice of a tuple or list needs "
                                   "constant bounds", where)
        return tuple(base[slice(*bounds)])
    key = constant(cx, sl)
    if isinstance(key, int):
        if not -len(base) <= key < len(base):
            raise UnsupportedError(f"`{ast.unparse(node)}`: index {key} is out of range for "
                                   f"{len(base)} entries", where)
        return base[key]
    from . import indexing, numpy_api  # noqa: PLC0415 - the array path of x[i]
    if not base or not all(isinstance(e, (Value, tuple)) for e in base):
        raise UnsupportedError(f"`{ast.unparse(node)}`: a run-time index into a tuple or list "
                               "needs entries that are numbers or arrays", where)
    return indexing.load(cx, node, numpy_api.array(cx, node, base))


def attribute(cx, node: ast.Attribute, base):
    """`p.W1` for a namedtuple of values."""
    if is_namedtuple(base) and node.attr in type(base)._fields:
        return getattr(base, node.attr)
    raise UnsupportedError(f"attribute `.{node.attr}` of a {type(base).__name__}",
                           cx.fs.loc(node), "fields: " + ", ".join(getattr(type(base), "_fields", ())))


def build(cx, node: ast.Call, obj, args, kwargs):
    """`dict(a=a, b=b)`, `dict(pairs_of_a_dict)`, `tuple(x)`, `list(x)` of containers, a
    namedtuple class called on values (`Stats(pred, err)`); None if `obj` is none of
    these."""
    if obj is dict:
        out = {}
        if args:
            if len(args) != 1 or not isinstance(args[0], dict):
                raise UnsupportedError("dict() of anything but keywords or another dict",
                                       cx.fs.loc(node))
            out.update(args[0])
        for k, v in kwargs.items():
            out[k] = cx.expr(v)
        return out
    if obj in (tuple, list):
        if kwargs or len(args) != 1 or not isinstance(args[0], tuple):
            return None
        return tuple(args[0])
    if isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields"):
        return _namedtuple(cx, node, obj, args, kwargs)
    return None


def _namedtuple(cx, node, cls, args, kwargs):
    """`Stats(pred, err=e)`: a namedtuple of values, bound as the class binds it (its
    defaults included); ArgumentError-like mistakes are UnsupportedErrors at the call."""
    values = {k: cx.expr(v) for k, v in kwargs.items()}
    try:
        out = cls(*args, **values)
    except TypeError as e:
        raise UnsupportedError(f"`{ast.unparse(node)}`: {e}", cx.fs.loc(node)) from None
    out = cls(*(cx.b.const(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for v in out))  # a number default: a constant
    for name, v in zip(cls._fields, out):
        if not isinstance(v, (Value, tuple, dict)):
            raise UnsupportedError(f"`{ast.unparse(node)}`: field {name!r} is "
                                   f"{type(v).__name__}, not an array, a number or a "
                                   "container of them", cx.fs.loc(node))
    return out


def dict_literal(cx, node: ast.Dict) -> dict:
    out = {}
    for k, v in zip(node.keys, node.values):
        if k is None:  # {**other}
            other = cx.expr(v)
            if not isinstance(other, dict):
                raise UnsupportedError("`**` of something that is not a dict", cx.fs.loc(v))
            out.update(other)
            continue
        key = constant(cx, k)
        if not isinstance(key, (str, int)):
            raise UnsupportedError(f"dict key `{ast.unparse(k)}` must be a constant string or "
                                   "int", cx.fs.loc(k))
        out[key] = cx.expr(v)
    return out


# ---- local functions ---------------------------------------------------------------
@dataclass(eq=False)
class LocalFunction:
    """A `def` or `lambda` inside the function being lowered. node: an ast.FunctionDef
    (a lambda is wrapped as one returning its expression); outer: the Lowerer it was
    defined in; defaults: {parameter: value}, evaluated at the definition."""

    node: ast.FunctionDef
    outer: object
    defaults: dict = field(default_factory=dict)
    active: bool = False  # being inlined now (a recursive call is refused)

    @property
    def name(self) -> str:
        return self.node.name

    def signature(self) -> Signature:
        a = self.node.args
        return Signature(tuple(p.arg for p in a.posonlyargs + a.args),
                         tuple(p.arg for p in a.kwonlyargs), dict(self.defaults))


def define(cx, node) -> LocalFunction:
    """The LocalFunction for a `def` statement or a `lambda` expression, its defaults
    lowered now (Python evaluates them at the definition)."""
    if isinstance(node, ast.Lambda):
        extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
        fn = ast.FunctionDef(name="<lambda>", args=node.args,
                             body=[ast.copy_location(ast.Return(node.body), node.body)],
                             decorator_list=[], returns=None, type_comment=None, **extra)
        ast.copy_location(fn, node)
        node = fn
    a = node.args
    if a.vararg is not None or a.kwarg is not None:
        raise UnsupportedError(f"*args or **kwargs in the local function `{node.name}`",
                               cx.fs.loc(node), "list each argument by name")
    if getattr(node, "decorator_list", None):
        raise UnsupportedError(f"decorators on the local function `{node.name}`",
                               cx.fs.loc(node.decorator_list[0]))
    positional = a.posonlyargs + a.args
    defaults = {p.arg: cx.expr(d) for p, d in zip(positional[len(positional) - len(a.defaults):],
                                                  a.defaults)}
    defaults.update({p.arg: cx.expr(d) for p, d in zip(a.kwonlyargs, a.kw_defaults)
                     if d is not None})
    return LocalFunction(node, cx, defaults)
