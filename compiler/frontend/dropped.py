"""What an expression statement does, for the error that refuses it.

A statement that is only an expression (`v.sort()`, `np.multiply.at(a, i, v)`,
`print(x)`, `x == 3`) has no value the loss can use (`np.add.at(a, idx, v)` is the
exception: context.py lowers it as a write into `a`): adjoint lowers a function to values, so a call
that would update an array in place, print, or compute something that is then dropped
cannot reach the loss. `explain(node, evaluate)` says which of these the statement is
and what to write instead; compiler/frontend/lower.py raises it at the user's line.

Guarantees: `explain` returns `(message, hint)`, both non-empty strings naming the
user's code as written (`ast.unparse`); it never raises. `evaluate(node)` is the
lowerer's expression evaluator, used only on the callee (`np.add`, `print`, `v`) to know
what is called; an `AdjointError` from it (an undefined name) makes the call unknown.
"""
from __future__ import annotations

import ast
import builtins

import numpy as np

from ..errors import AdjointError
from .captures import Static

# array and list methods that change their object in place (and return None); each hint
# names only what adjoint lowers (np.sort, np.add.at, np.where, np.clip, np.full_like),
# and says so where the NumPy spelling is itself unsupported (np.partition, np.resize)
_IN_PLACE_METHODS = {
    "sort": "`{v} = np.sort({v}{axis})` (adjoint differentiates np.sort: the gradient "
            "follows the stable permutation)",
    "fill": "`{v} = np.full_like({v}, {args})`",
    "partition": "`{v} = np.partition({v}, {args})` in NumPy; adjoint has no rule for it "
                 "yet: partition outside the loss",
    "put": "`{v}[indices] = values` (on a copy: `{v} = {v}.copy()` first if it is an argument)",
    "itemset": "`{v}[index] = value`",
    "resize": "`{v} = {v}.reshape(...)` when the size stays the same (adjoint has no rule "
              "for np.resize)",
    "setflags": "nothing: arrays in a loss are values",
    "clip": "`{v} = np.clip({v}, {args})`",
}
_LIST_METHODS = ("append", "extend", "insert", "pop", "remove", "reverse", "clear", "update")


def _numpy_in_place():  # {0}, {1}, {2}: the call's positional arguments as written
    return {np.copyto: "`{0} = np.zeros_like({0}) + {1}`",
            np.fill_diagonal: "`{0} = np.where(np.eye({0}.shape[0]) == 1, {1}, {0})`",
            np.put: "`{0}[{1}] = {2}` for a 1-D `{0}`",
            np.putmask: "`{0} = np.where({1}, {2}, {0})`",
            np.place: "`{0} = np.where({1}, {2}, {0})`"}


def explain(node: ast.expr, evaluate) -> tuple[str, str]:
    """(message, hint) for the expression statement whose value is `node`."""
    text = ast.unparse(node)
    if isinstance(node, ast.Call):
        out = next((k for k in node.keywords if k.arg == "out"), None)
        if out is not None:
            target = ast.unparse(out.value)
            call = ast.unparse(ast.Call(node.func, node.args,
                                        [k for k in node.keywords if k.arg != "out"]))
            return (f"`{text}` writes its result into `{target}` in place; adjoint's arrays "
                    "are values, not updated in place",
                    f"assign the result instead: `{target} = {call}`")
        return _call(node, text, evaluate)
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq) \
            and isinstance(node.left, (ast.Name, ast.Subscript)):
        lhs, rhs = ast.unparse(node.left), ast.unparse(node.comparators[0])
        return (f"`{text}` compares and drops the result: the statement has no effect on "
                "the loss", f"to assign, write `{lhs} = {rhs}`")
    return (f"`{text}` computes a value and drops it: the statement has no effect on the loss",
            f"assign it (`name = {text}`) and use the name, or remove the line")


def _call(node: ast.Call, text: str, evaluate) -> tuple[str, str]:
    func = node.func
    args = ", ".join(ast.unparse(a) for a in node.args)
    if isinstance(func, ast.Attribute):
        base = _resolve(func.value, evaluate)
        if base is not None and not _is_static(base):  # a method of a local value
            v = ast.unparse(func.value)
            if func.attr in _IN_PLACE_METHODS:
                axis = next((f", axis={ast.unparse(k.value)}" for k in node.keywords
                             if k.arg == "axis"), "")
                fix = _IN_PLACE_METHODS[func.attr].format(v=v, args=args or "...", axis=axis)
                return (f"`{text}` changes `{v}` in place and returns None; adjoint's arrays "
                        "are values, not updated in place", f"write {fix}")
            if func.attr in _LIST_METHODS:
                return (f"`{text}` would change `{v}` in place; a loss has no lists or dicts "
                        "to grow", "collect values in an array: preallocate `a = np.zeros(n)` "
                        "and write `a[i] = value`, or `a = np.concatenate([a, [value]])`")
            return _dropped(text)
        obj = getattr(base.obj, func.attr, None) if base is not None else None
    else:
        obj = _resolve(func, evaluate)
        obj = obj.obj if _is_static(obj) else None
    if obj is builtins.print:
        return (f"`{text}` in a differentiated function: the gradient is generated code "
                "built from the loss's values, and printing is not one (it would print "
                "neither with jit=True nor with jit=False)",
                "print outside the loss: the value and gradient that `value_and_grad(f, "
                "wrt=...)(...)` returns, or every intermediate value f_i and its g_i with "
                "`print(compiler.graphview.graph_view(f, *args).text())`; calling `f(*args)` "
                "directly runs plain Python, prints included")
    if isinstance(getattr(obj, "__self__", None), np.ufunc) and getattr(obj, "__name__", "") == "at":
        uf = obj.__self__.__name__
        a = ast.unparse(node.args[0]) if node.args else "a"
        idx = ast.unparse(node.args[1]) if len(node.args) > 1 else "idx"
        v = ast.unparse(node.args[2]) if len(node.args) > 2 else "v"
        fix = (f"`{a}[{idx}] = np.{uf}({a}[{idx}], {v})` when `{idx}` has no repeated "
               "entries (adjoint lowers `np.add.at` itself: repeated entries add)")
        if uf == "subtract":  # np.add.at is lowered, repeated entries included
            fix = f"`np.add.at({a}, {idx}, -({v}))` (adjoint lowers np.add.at; repeated entries add)"
        return (f"`{text}` updates `{a}` in place (unbuffered, per index) and returns None; "
                "adjoint's arrays are values, not updated in place", f"write {fix}")
    try:
        fix = _numpy_in_place().get(obj)
    except TypeError:  # unhashable
        fix = None
    if fix is not None:
        given = [ast.unparse(a) for a in node.args]
        fix = fix.format(*(given + ["a", "b", "c"][len(given):]))
        return (f"`{text}` changes its first argument in place and returns None; adjoint's "
                "arrays are values, not updated in place", f"write {fix}")
    return _dropped(text)


def _dropped(text):
    return (f"the value of `{text}` is dropped: the statement has no effect on the loss "
            "(a function adjoint differentiates cannot change its arguments either)",
            f"assign it (`name = {text}`) and use the name, or remove the line")


def _resolve(node, evaluate):
    try:
        return evaluate(node)
    except AdjointError:
        return None


def _is_static(x):
    return isinstance(x, Static)
