"""Structured arguments and results: dicts, lists, tuples and namedtuples of arrays and
numbers, nested (a *tree*; its arrays and numbers are its *leaves*), as JAX's pytrees.

Guarantees: `flatten(tree)` returns the leaves in a fixed order (dict entries in their
insertion order, sequences and namedtuples in position order) and a hashable
`TreeDef`; `treedef.unflatten(leaves)` rebuilds a tree of the same kind (the same dict
keys in the same order, the same namedtuple class) around new leaves. A list of plain
numbers (nested lists of numbers included) is a leaf, as before structures existed: it
becomes a float64 array, so `grad(f)([1.0, 2.0])` is unchanged; a list holding an
array, a tuple or a dict is a tree. A leaf is anything else (an array, a number).

The generated code never sees a tree: arguments are flattened at the call boundary
(compiler/arguments.py), the function takes the leaves as separate parameters, and
gradients and `has_aux` values are rebuilt into their trees after the call.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

import numpy as np

_NUMBERS = (bool, int, float, np.number, np.bool_)


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _numeric_list(x) -> bool:
    """A list of numbers (or of such lists): an array written as a list, a leaf."""
    return all(isinstance(e, _NUMBERS) or (isinstance(e, list) and _numeric_list(e)) for e in x)


def is_tree(x) -> bool:
    """Is x a structure (not a leaf)?"""
    t = type(x)
    if t is dict or t is tuple:
        return True
    if t is list:
        return not _numeric_list(x)
    return isinstance(x, (dict, tuple)) or (isinstance(x, list) and not _numeric_list(x))


@dataclass(frozen=True)
class TreeDef:
    """The shape of a tree without its leaves. kind: "leaf", "dict", "list", "tuple" or
    "namedtuple"; cls: the namedtuple class (or dict subclass); keys: dict keys or
    namedtuple fields; children: one TreeDef per entry."""

    kind: str
    children: tuple = ()
    keys: tuple = ()
    cls: type | None = None

    @property
    def num_leaves(self) -> int:
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)

    def unflatten(self, leaves):
        """The tree of this shape whose leaves are `leaves` (a sequence, in order)."""
        it = iter(leaves)
        return self._build(it)

    def _build(self, it):
        if self.kind == "leaf":
            return next(it)
        items = [c._build(it) for c in self.children]
        if self.kind == "dict":
            out = dict(zip(self.keys, items))
            return out if self.cls in (None, dict) else self.cls(out)
        if self.kind == "namedtuple":
            return self.cls(*items)
        return items if self.kind == "list" else tuple(items)

    def paths(self, root: str) -> list[str]:
        """A readable name per leaf, always a Python identifier (not a keyword): a dict
        key or namedtuple field when it is one (`W1`), else the path joined by
        underscores, other characters replaced (`params_0`, `"fc1.weight"` ->
        `params_fc1_weight`)."""
        if self.kind == "leaf":
            return [root]
        out = []
        for i, c in enumerate(self.children):
            key = self.keys[i] if self.keys else i
            path = f"{root}_{_identifier_part(key)}"
            name = key if isinstance(key, str) and _is_name(key) else path
            out += c.paths(name if c.kind == "leaf" else path)
        return out

    def __str__(self):
        if self.kind == "leaf":
            return "*"
        inner = ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children)) \
            if self.kind == "dict" else ", ".join(map(str, self.children))
        return {"dict": "{%s}", "list": "[%s]"}.get(self.kind, "(%s)") % inner


def _is_name(s: str) -> bool:
    return s.isidentifier() and not keyword.iskeyword(s) and s.isascii()


def _identifier_part(key) -> str:
    """`key` (any hashable) as the tail of an identifier: characters other than ASCII
    letters, digits and `_` become `_` (`"fc1.weight"` -> `fc1_weight`, -1 -> `_1`)."""
    return re.sub(r"[^0-9A-Za-z_]", "_", str(key)) or "_"


LEAF = TreeDef("leaf")


@dataclass(frozen=True)
class TreeType:
    """A structured argument in a specialisation key: its shape and one
    `compiler.ir.core.Type` per leaf."""

    tree: TreeDef
    leaves: tuple

    def __str__(self):
        return f"{self.tree} of {', '.join(map(str, self.leaves))}"


def flatten(tree) -> tuple[list, TreeDef]:
    """(leaves, treedef). Raises TypeError for a dict key that is not hashable."""
    leaves: list = []
    return leaves, _flatten(tree, leaves)


def _flatten(x, leaves) -> TreeDef:
    if not is_tree(x):
        leaves.append(x)
        return LEAF
    if isinstance(x, dict):
        keys = tuple(x)
        return TreeDef("dict", tuple(_flatten(x[k], leaves) for k in keys), keys,
                       None if type(x) is dict else type(x))
    if _is_namedtuple(x):
        return TreeDef("namedtuple", tuple(_flatten(e, leaves) for e in x),
                       tuple(type(x)._fields), type(x))
    kind = "list" if isinstance(x, list) else "tuple"
    return TreeDef(kind, tuple(_flatten(e, leaves) for e in x))


@dataclass(frozen=True)
class Fixed:
    """An argument fixed to a Python number in a specialisation key (runtime.train.fit
    fixes a loss argument that has a default): the generated code takes no parameter for
    it and uses the number as a constant."""

    value: object
    kind: str  # the number's type name: 1, 1.0 and True are different constants

    @classmethod
    def of(cls, value) -> Fixed:
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, (bool, int, float)):
            raise TypeError(f"only a number can be fixed, not {type(value).__name__}")
        return cls(value, type(value).__name__)


def leaves_of(tree) -> list:
    return flatten(tree)[0]


def leaf_names(arg_names, trees: dict) -> dict:
    """{argument: the names of its leaves as parameters of the generated function} for
    arguments `arg_names` of which `trees` ({name: TreeDef}) are structured: a plain
    argument keeps its name; a structure's leaves are named by `TreeDef.paths`, made
    unique against every argument name and earlier leaf (`W1`, then `W1_1`)."""
    used, out = set(arg_names), {}
    for name in arg_names:
        if name not in trees:
            out[name] = [name]
            continue
        names = []
        for hint in trees[name].paths(name):
            base, k = hint, 1
            while hint in used:
                hint, k = f"{base}_{k}", k + 1
            used.add(hint)
            names.append(hint)
        out[name] = names
    return out
