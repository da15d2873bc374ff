"""Subscripts: `x[...]` reads and `x[...] = v` writes, lowered to primitives.

Guarantees:
- Reads accept ints, slices (any start/stop/step, constant or run-time ints), None /
  np.newaxis, `...`, integer index arrays and boolean masks, with NumPy's result shape.
  Basic entries become one `getitem`; one index array a `take` (its axes go where it
  stands); two adjacent 1-D index arrays a `take_pairs` (`X[np.arange(n), y]`); a
  1-D mask is the index array of its True entries; a mask of x's full shape selects
  from the flattened array.
- Writes are functional updates: `x[idx] = v` makes the array a new SSA value, a copy
  of the old one with `[idx] = v` (`set_index`; which names see it is views.py's
  business); its adjoint sends the cotangent at idx to v (summed where v was broadcast;
  with a repeated index, from its last occurrence only, the one NumPy keeps) and the
  rest to the old x. A write through a boolean mask of x's full shape with a scalar is
  `np.where(mask, v, x)`: the selection policy.
- Integer writes keep x's dtype (a float written into an int array is truncated, as
  NumPy does). Indexing a tuple (`x.shape[0]`, `x.shape[1:]`) needs constant indices.
- Combinations NumPy reorders or Numba cannot compile raise UnsupportedError at the
  subscript: index arrays separated by a slice, an int and an index array separated by
  a slice, index arrays with None, more than two index arrays, writes through two.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import ShapeError, UnsupportedError
from ..ir.core import ConstArray, Value
from ..primitives import FULL, index_read, is_slice, slice_entry
from .captures import Static


def _entries(cx, node, x):
    """[(kind, [values])]: kind 'i' int, 'n' None, 'a' int array, 'm' bool mask,
    a slice entry (compiler/primitives.py: ':', '_:_', ...), '...' ellipsis."""
    sl = node.slice
    elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
    out = []
    for e in elts:
        if isinstance(e, ast.Slice):
            given, vals = [], []
            for part in (e.lower, e.upper, e.step):
                if part is None or isinstance(part, ast.Constant) and part.value is None:
                    given.append(False)
                    continue
                v = cx.expr(part)
                if not isinstance(v, Value) or v.type.rank or v.type.dtype != "int64":
                    raise ShapeError(f"slice bound `{ast.unparse(part)}` is not an int",
                                     cx.fs.loc(part), "use int(...) for a computed bound")
                given.append(True)
                vals.append(v)
            out.append((slice_entry(*given), vals))
            continue
        if isinstance(e, ast.Constant) and e.value is Ellipsis:
            out.append(("...", []))
            continue
        if isinstance(e, ast.Constant) and e.value is None:
            out.append(("n", []))
            continue
        v = cx.expr(e)
        if isinstance(v, tuple) and v:  # x[[0, 0, 2]]: a list of indices is an int array
            from .numpy_api import array  # noqa: PLC0415 - a part module: kept local
            v = array(cx, node, v)
        if isinstance(v, Static) and v.obj is None:
            out.append(("n", []))
        elif not isinstance(v, Value):
            raise UnsupportedError(f"index `{ast.unparse(e)}` is not an int, slice, array or None",
                                   cx.fs.loc(e))
        elif v.type.dtype == "float64":
            raise ShapeError(f"index `{ast.unparse(e)}` is a float", cx.fs.loc(e),
                             "indices must be integers: int(i) or idx.astype(int)")
        elif v.type.rank == 0:
            if v.type.dtype == "bool":
                raise UnsupportedError("indexing with a boolean scalar", cx.fs.loc(e))
            out.append(("i", [v]))
        else:
            out.append(("m" if v.type.dtype == "bool" else "a", [v]))
    return out


def _elts(node):
    return node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]


def _is_dots(e):
    return isinstance(e, ast.Constant) and e.value is Ellipsis


def _expand(cx, node, x, entries):
    """Replace `...` by full slices; check the number of indexed axes."""
    used = sum(1 if k in ("i", "a") or is_slice(k) else v[0].type.rank if k == "m" else 0
               for k, v in entries)
    r = x.type.rank
    if used > r:
        raise ShapeError(f"too many indices ({used}) for an array of rank {r}", cx.fs.loc(node))
    dots = [i for i, (k, _) in enumerate(entries) if k == "..."]
    if len(dots) > 1:
        raise ShapeError("an index can only have a single ellipsis", cx.fs.loc(node))
    if dots:
        i = dots[0]
        entries = entries[:i] + [(FULL, [])] * (r - used) + entries[i + 1:]
    return entries


def _masks_to_arrays(cx, node, x, entries):
    """A 1-D mask beside other indices becomes the int indices of its True entries
    (`mask_index`, which checks its length against its axis, as NumPy does)."""
    out, axis = [], 0
    for k, v in entries:
        if k == "m":
            if v[0].type.rank != 1:
                raise UnsupportedError("a multi-dimensional boolean mask together with other "
                                       "indices", cx.fs.loc(node),
                                       "index with the mask alone (x[mask]), of x's full shape")
            out.append(("a", [cx.emit(node, "mask_index", v[0], x, axis=axis)]))
        else:
            out.append((k, v))
        axis += 1 if k in ("i", "a", "m") or is_slice(k) else 0
    return out


def _check_advanced(cx, node, entries, store):
    kinds = [k for k, _ in entries]
    arrays = [i for i, k in enumerate(kinds) if k == "a"]
    if not arrays:
        return
    where = cx.fs.loc(node)
    if "n" in kinds:
        raise UnsupportedError("an index array together with None/np.newaxis", where,
                               "index in two steps: y = x[idx] then y[:, None]")
    if len(arrays) > (1 if store else 2):
        raise UnsupportedError(f"{'writing through' if store else 'indexing with'} "
                               f"{len(arrays)} index arrays", where,
                               "index one array at a time" if store else
                               "use at most two adjacent index arrays, as X[np.arange(n), y]")
    if arrays[-1] - arrays[0] != len(arrays) - 1:
        raise UnsupportedError("index arrays separated by a slice (NumPy would move their "
                               "axis to the front)", where, "index in two steps")
    ints = [i for i, k in enumerate(kinds) if k == "i"]
    for i in ints:
        between = kinds[min(i, arrays[0]) + 1:max(i, arrays[-1])]
        if any(is_slice(k) for k in between):
            raise UnsupportedError("an int and an index array separated by a slice (NumPy "
                                   "would move their axis to the front)", where,
                                   "index in two steps")
    if len(arrays) == 2:
        for i in arrays:
            if entries[i][1][0].type.rank != 1:
                raise ShapeError("two index arrays must both be 1-D", where)


def _spec(entries):
    spec, vals = [], []
    for k, v in entries:
        spec.append(k)
        vals.extend(v)
    return tuple(spec), vals


def _emitter(cx, node):
    return lambda prim, *a, **k: cx.emit(node, prim, *a, **k)


def _sole_full_mask(x, entries):
    return len(entries) == 1 and entries[0][0] == "m" and entries[0][1][0].type.rank == x.type.rank


def _tuple_load(cx, node, x):
    sl = node.slice
    v = cx.expr(sl) if not isinstance(sl, ast.Slice) else None
    if v is not None:
        k = cx.const_value(v)
        if not isinstance(k, int) or isinstance(k, bool):
            raise UnsupportedError("indexing a tuple needs a constant int", cx.fs.loc(node))
        if not -len(x) <= k < len(x):
            raise ShapeError(f"index {k} out of range for a tuple of {len(x)}", cx.fs.loc(node))
        return x[k]
    parts = []
    for p in (sl.lower, sl.upper, sl.step):
        c = None if p is None else cx.const_value(cx.expr(p))
        if p is not None and c is None:
            raise UnsupportedError("slicing a tuple needs constant bounds", cx.fs.loc(node))
        parts.append(c)
    return x[slice(*parts)]


def outside_hint(x):
    """The hint for a Python container read from outside the loss (a global or closure
    dict, list or tuple): what to write instead."""
    obj = getattr(x, "obj", x)  # a frontend.captures.Static
    if isinstance(obj, (dict, list, tuple)):
        return (f"a {type(obj).__name__} from outside the loss is not read inside it: pass it "
                "as an argument (dicts, lists and tuples of arrays and numbers are), or "
                "give its entries global names of their own")
    return None


def load(cx, node: ast.Subscript, x):
    if isinstance(x, tuple):
        return _tuple_load(cx, node, x)
    if not isinstance(x, Value):
        raise UnsupportedError(f"`{ast.unparse(node.value)}` cannot be indexed", cx.fs.loc(node),
                               outside_hint(x))
    if x.type.rank == 0:
        raise ShapeError(f"indexing the scalar `{ast.unparse(node.value)}`", cx.fs.loc(node))
    raw = _entries(cx, node, x)
    kinds = [k for k, _ in raw]
    if "..." in kinds and set(kinds) <= {"i", "..."} and kinds.count("i") == x.type.rank:
        raise UnsupportedError(
            f"`{ast.unparse(node)}` is a 0-d view of `{ast.unparse(node.value)}` in NumPy "
            "(later writes into the array change it), and adjoint's 0-d arrays are numbers",
            cx.fs.loc(node), f"for the number (a copy) write "
            f"`{ast.unparse(node.value)}[{', '.join(ast.unparse(e) for e in _elts(node) if not _is_dots(e))}]`")
    entries = _expand(cx, node, x, raw)
    if _sole_full_mask(x, entries):
        flat = cx.emit(node, "reshape", x, cx.b.const(-1)) if x.type.rank > 1 else x
        m = cx.emit(node, "checked_mask", entries[0][1][0], x)
        return cx.emit(node, "take", flat, cx.emit(node, "nonzero_flat", m), axis=0)
    entries = _masks_to_arrays(cx, node, x, entries)
    _check_advanced(cx, node, entries, store=False)
    spec, vals = _spec(entries)
    return index_read(x, spec, vals, emit=_emitter(cx, node))


def _as_dtype(cx, node, v, t):
    if v.type.dtype == t.dtype or t.dtype == "float64":
        return v
    if t.dtype == "int64":
        return cx.emit(node, "to_int", v)
    return cx.emit(node, "ne", v, 0)


def store_parts(cx, target: ast.Subscript, old, value):
    """The parts of the write `target = value` into the array `old` (the value of
    target.value): ("index", v, index values, spec) for `set_index`, or ("mask", m, v)
    for a boolean mask of old's full shape. v is the value converted to old's dtype.
    Raises UnsupportedError/ShapeError at the subscript for what cannot be written."""
    if not isinstance(old, Value) or old.type.rank == 0:
        raise UnsupportedError(f"`{ast.unparse(target.value)}` is not an array that can be "
                               "written to", cx.fs.loc(target))
    if not isinstance(value, Value):
        raise UnsupportedError("the value written is not an array or number", cx.fs.loc(target))
    node = target
    v = _as_dtype(cx, node, value, old.type)
    entries = _expand(cx, node, old, _entries(cx, node, old))
    if _sole_full_mask(old, entries):
        return ("mask", cx.emit(node, "checked_mask", entries[0][1][0], old), v)
    entries = _masks_to_arrays(cx, node, old, entries)
    _check_advanced(cx, node, entries, store=True)
    spec, vals = _spec(entries)
    return ("index", v, tuple(vals), spec)


def apply_store(cx, node, old, parts):
    """old with the write `parts` (store_parts) applied: a new SSA value."""
    if parts[0] == "index":
        _, v, vals, spec = parts
        return cx.emit(node, "set_index", old, v, *vals, spec=spec)
    _, m, v = parts
    if v.type.rank == 0:
        return cx.emit(node, "where", m, v, old)
    flat = cx.emit(node, "reshape", old, cx.b.const(-1)) if old.type.rank > 1 else old
    new = cx.emit(node, "set_index", flat, v, cx.emit(node, "nonzero_flat", m), spec=("a",))
    if old.type.rank > 1:
        new = cx.emit(node, "reshape_like", new, old)
    return new


def index_parts(cx, node, x, index_node):
    """(index values, spec) of the index expression `index_node` into x, as written in
    `np.add.at(x, idx, v)`: an int, an int array, a slice object is not accepted; a tuple
    of them (`(i, idx)`). At most one index array (Numba's kernels)."""
    if isinstance(index_node, ast.List):  # np.add.at(a, [0, 0, 1], v): a constant array
        items = [cx.const_value(cx.expr(e)) for e in index_node.elts]
        if not items or not all(isinstance(k, int) and not isinstance(k, bool) for k in items):
            raise UnsupportedError("a list index of np.add.at must hold int literals",
                                   cx.fs.loc(index_node), "pass an int array")
        cx.env["@index"] = cx.b.const(ConstArray.of(np.array(items, dtype=np.int64)))
        try:
            return index_parts(cx, node, x, ast.copy_location(ast.Name("@index", ast.Load()),
                                                               index_node))
        finally:
            cx.env.pop("@index", None)
    fake = ast.copy_location(ast.Subscript(value=ast.Name("x", ast.Load()), slice=index_node,
                                           ctx=ast.Load()), index_node)
    entries = _expand(cx, fake, x, _entries(cx, fake, x))
    if any(k == "m" for k, _ in entries):
        raise UnsupportedError("np.add.at with a boolean mask", cx.fs.loc(index_node),
                               "use the int indices: np.flatnonzero(mask)")
    _check_advanced(cx, fake, entries, store=True)
    spec, vals = _spec(entries)
    return tuple(vals), spec
