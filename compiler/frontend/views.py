"""Arrays that share memory, as NumPy means it, in a lowering to SSA values.

In NumPy a basic slice, `.T`, `transpose`, `swapaxes`, `expand_dims`, `squeeze`,
`x[None]`, an int index of a rank >= 2 array (`Y[i]`, the rows of `for row in Y`), and
`reshape`/`ravel` of a C-contiguous array are *views*: a write into them changes their
base, and a write into the base changes them. `y = x` gives one array two names. The IR
has only values (`set_index` is a copy with one index written), so the frontend keeps,
beside each name's current SSA value, which names share memory:

- A **ref** `Ref(root, chain)` says "this name's array is `chain` applied to the array
  held by env key `root`". `root` is the base's name while that name still holds the
  base, else a hidden key `@<name>#<k>` that keeps the old array alive (`y = ...` while
  `v` views the old `y`: NumPy keeps it alive for `v`). `chain` is a tuple of `Step`s,
  each a view op (`getitem` with basic entries, `row`, `transpose`, `permute`,
  `reshape`, `reshape_like`, `expand_dims`) without its first input. Names without a
  ref own their array (they may be the root of others' refs).
- **Reading** a name is its current SSA value, as for any name: every write keeps it
  equal to its chain applied to the root's current value (below).
- **Writing** into a name (`v[idx] = a`, `v += a`, `np.add.at(v, idx, a)`) computes the
  view's new value functionally, carries it back along the chain to a new value of the
  root (`set_index(base, view_index, new)` for an index, the inverse permutation for a
  transpose, `reshape_like(new, base)` for a reshape or new axis), binds the root to
  it, and re-derives every name whose ref has that root from the new value. A chain of
  leading ints (`Y[i]`, a row) composes into the write's index instead (`row[0] = a`
  in `for row in Y` is `Y = set_index(Y, a, i, 0)`): one write, no intermediate copy.
- The refs live in the environment under `VIEWS`, so regions (branches, loop bodies)
  get their own copy; where paths join, `join` keeps a ref that every path agrees on
  and turns any other into an **unknown** ref (`root=None`, `maybe`: the roots it may
  view). A loop body is lowered with the join of the refs on entry and after the body
  (a fixpoint, control.py). Writing into an unknown ref, or into a root that an unknown
  ref may view, raises UnsupportedError at the user's line: adjoint refuses where it
  cannot know NumPy's answer, never differs silently.

Layout: `reshape`/`ravel` is a view only of an array NumPy holds C-contiguously. The
frontend knows that for arrays it made (`x.copy()`, `np.zeros`, `np.array([...])`,
matmul; elementwise results, reductions, concatenations and `np.copy` of such arrays;
any new 1-D array, whatever its inputs' layout: `_fresh_1d`) and for the views of them
that keep C order (leading ints, one step-1 slice, then full slices, new axes); for
an argument (its caller's layout), a global, or a transposed or strided view it does
not, and the result is an unknown ref. Writes into a global array (NumPy would change
the global) and into a parameter of an inlined function (Python would change the
caller's array), and into an array a list, tuple or dict also holds (its values are
not re-derived), are refused; writes into the loss's own arguments are supported and
never reach the caller's arrays (the arguments' values on entry are what the gradient
is taken with respect to).
"""
from __future__ import annotations

import ast
import dataclasses

from ..errors import UnsupportedError
from ..ir.builder import VIEW_REFS, scalar_constant
from ..ir.core import ConstArray, Value
from ..primitives import FULL, is_slice

VIEWS = "@views"  # env key of the {name: Ref} table (control.py carries it with the env)
HELD = "@held#"  # hidden keys of the views a temporary tuple holds (hold)
_VIEW_PRIMS = frozenset({"getitem", "row", "transpose", "permute", "reshape", "reshape_like",
                         "expand_dims"})
# primitives whose results NumPy allocates C-contiguous whatever their inputs' layout
# (x.copy() is order 'C'; np.copy(x) keeps x's layout: numpy_api marks it, KEEPS_LAYOUT)
_C_FRESH = frozenset({"copy", "zeros", "ones", "full", "eye", "arange", "pack", "matmul",
                      "outer"})
# ... and those whose results follow their inputs' layout (NumPy's order 'K'): C if theirs is
_K_FRESH = frozenset({"sum", "max", "min", "prod", "concatenate", "stack", "take",
                      "take_pairs", "set_index", "add_at"})
KEEPS_LAYOUT = "_keeps_layout"  # Lowerer attribute: values of np.copy(x)


@dataclasses.dataclass(frozen=True)
class Step:
    """One view op applied to an array: prim, its other inputs, its attributes."""
    prim: str
    vals: tuple
    attrs: tuple


@dataclasses.dataclass(frozen=True)
class Ref:
    """A name's array as `chain` applied to env[root]; root None: unknown (see module)."""
    root: str | None
    chain: tuple = ()
    contiguous: bool = False  # the array is known to be C-contiguous (for reshape)
    maybe: frozenset = frozenset()  # unknown refs: the roots it may view
    why: str = ""  # unknown refs: why adjoint cannot know


def table(cx) -> dict:
    return cx.env.get(VIEWS) or {}


def _set_table(cx, t: dict):
    cx.env[VIEWS] = dict(t)


# ---- what a value is a view of -------------------------------------------------------------
def _holder(cx, v):
    """A name (or hidden root key) whose current value is `v`, preferring names with a ref."""
    t = table(cx)
    found = None
    for n, w in cx.env.items():
        if w is v and n != VIEWS and (not n.startswith("@") or "#" in n):
            if n in t:
                return n
            found = found or n
    return found


def _is_global(cx, v) -> bool:
    op = cx.b.defining_op(v)
    return op is not None and op.prim == "const" and isinstance(op.attr("value"), ConstArray)


def _fresh_contiguous(cx, v, depth=0) -> bool:
    """Is v an array NumPy holds C-contiguously (one the function allocated)? Memoised:
    SSA values form a DAG (`x = x * x` thirty times would be 2 ** 30 visits)."""
    if v in cx.contiguous_values:
        return True
    memo = cx.__dict__.setdefault("_layout_memo", {})
    key = (cx.b, v)  # per builder: a region does not see its enclosing builder's ops
    if key not in memo:
        memo[key] = _fresh_contiguous_uncached(cx, v, depth)
    return memo[key]


def _fresh_contiguous_uncached(cx, v, depth):
    op = cx.b.defining_op(v)
    if op is None or depth > 30:
        return False
    from ..ir.registry import PRIMS
    p = PRIMS[op.prim]
    if op.prim in _C_FRESH and v not in getattr(cx, KEEPS_LAYOUT, ()):
        return True
    if op.prim in ("set_index", "add_at", "copy"):  # a write keeps its array's layout
        return _contiguous_value(cx, op.inputs[0], depth + 1)
    if _fresh_1d(op, p, v):
        return True
    if p.elementwise and not p.aliases or op.prim in _K_FRESH:
        arrays = [i for i in op.inputs if i.type.rank]
        return all(_contiguous_value(cx, i, depth + 1) for i in arrays)
    if op.regions:  # a loop's or branch's result
        return _in_scope(cx, v, (), frozenset(), depth + 1, op)
    return False


def _fresh_1d(op, p, v) -> bool:
    """A 1-D array NumPy allocates (an elementwise result, a reduction to 1-D, a
    concatenation, a gather) is C-contiguous whatever its inputs' layout: one axis has
    one order (`y = x * 2.0` with `x` a strided argument). Writes (`set_index`, `add_at`)
    and `np.copy` keep their array's layout, and views allocate nothing: not these."""
    if v.type.rank != 1 or op.prim in ("set_index", "add_at", "copy"):
        return False
    return bool(p.elementwise and not p.aliases) or op.prim in _K_FRESH


def _in_scope(cx, v, scope, assumed, depth, op=None):
    """Is v, a value of the innermost region of `scope` (a tuple of {value: defining op}
    of nested regions, innermost first) or the output of the control op `op`,
    C-contiguous? A loop's carried value is, if its initial value is and the body's
    result is when the carried parameter is (`assumed`): a fixpoint, so `M[i] = ...` in
    a loop keeps M's layout as NumPy's in-place writes do."""
    if depth > 30:
        return False
    if v in assumed:
        return True
    if op is None:
        op = next((d[v] for d in scope if v in d), None)
        if op is None:  # a region parameter not assumed, or a value of the builder
            params = any(v in d.get("@params", ()) for d in scope)
            return False if params else _contiguous_value(cx, v, depth)
    if op.regions:
        k = op.outputs.index(v)
        if op.prim == "if":
            return all(_in_scope(cx, r.results[k], (_defs(r),) + scope, assumed, depth + 1)
                       for r in op.regions)
        body, first = (op.regions[0], 1) if op.prim == "for" else (op.regions[-1], 0)
        init = op.inputs[3 + k] if op.prim == "for" else op.inputs[k]
        return (_in_scope(cx, init, scope, assumed, depth + 1) and
                _in_scope(cx, body.results[k], (_defs(body),) + scope,
                          assumed | {body.params[first + k]}, depth + 1))
    if op.prim in _C_FRESH and v not in getattr(cx, KEEPS_LAYOUT, ()):
        return True
    if op.prim in ("set_index", "add_at", "copy"):
        return _in_scope(cx, op.inputs[0], scope, assumed, depth + 1)
    from ..ir.registry import PRIMS
    p = PRIMS[op.prim]
    if _fresh_1d(op, p, v):
        return True
    if p.elementwise and not p.aliases or op.prim in _K_FRESH:
        return all(_in_scope(cx, i, scope, assumed, depth + 1) for i in op.inputs
                   if i.type.rank)
    return False


def _defs(region) -> dict:
    out = {o: op for op in region.ops for o in op.outputs}
    out["@params"] = frozenset(region.params)
    return out


def _contiguous_value(cx, v, depth):
    ref = source(cx, v, depth)
    if ref is not None:
        return ref.root is not None and ref.contiguous
    return _fresh_contiguous(cx, v, depth)


def _keeps_contiguity(step: Step, x: Value) -> bool:
    if step.prim in ("row", "expand_dims", "reshape", "reshape_like"):
        return True
    if step.prim in ("transpose", "permute"):
        return x.type.rank < 2
    spec = dict(step.attrs)["spec"]
    entries = [e for e in spec if e != "n"]
    k = 0
    while k < len(entries) and entries[k] == "i":
        k += 1
    if k < len(entries) and is_slice(entries[k]) and not entries[k].endswith(":_"):
        k += 1  # one slice of step 1 (x[1:3], Y[i, 2:])
    return all(e == FULL for e in entries[k:])


def source(cx, v, depth=0) -> Ref | None:
    """The ref `v` would have if a name were bound to it: the named array (or hidden root)
    it is a view of and the chain of view ops from it; an unknown ref when NumPy's
    answer depends on a layout adjoint does not know, or for a global array; None for an
    array that no name shares (a new array, or a view of one)."""
    if not isinstance(v, Value) or v.type.rank == 0 or depth > 30:
        return None
    known = VIEW_REFS.get(v)
    if known is not None:  # a value whose op does not say (a conditional expression's)
        return known
    name = _holder(cx, v)
    if name is not None:
        ref = table(cx).get(name)
        if ref is not None:
            return ref
        return Ref(name, (), contiguous=_fresh_contiguous(cx, v))
    if _is_global(cx, v):
        return Ref(None, why="it is a global array (captured from the module or a closure): "
                   "NumPy would change the global, and every later call would see it")
    op = cx.b.defining_op(v)
    if op is not None and op.prim in ("stop_gradient", "custom_call"):
        base = source(cx, op.inputs[0], depth + 1)  # in Python: its argument itself, maybe
        if base is None:
            return None
        return Ref(None, maybe=frozenset({base.root} if base.root else ()) | base.maybe,
                   why="it is the result of stop_gradient or of a custom_vjp function, which "
                       "in Python may be the array it was given (or a view of it)")
    if op is not None and op.prim == "broadcast_to":
        base = source(cx, op.inputs[0], depth + 1)
        if base is None:
            return None
        return Ref(None, maybe=frozenset({base.root} if base.root else ()) | base.maybe,
                   why="it is np.broadcast_to's read-only view, which sees every write into "
                       "the array it was taken from")
    if op is None or op.prim not in _VIEW_PRIMS:
        return None
    base = source(cx, op.inputs[0], depth + 1)
    if base is None or base.root is None:
        return base
    step = Step(op.prim, tuple(op.inputs[1:]), op.attrs)
    if op.prim in ("reshape", "reshape_like") and not base.contiguous:
        whose = (f"`{base.root}` is an argument, whose memory layout is its caller's"
                 if cx.env.get(base.root) in cx.param_values and not base.chain else
                 "its base is a strided or transposed view, or an array whose memory "
                 "layout adjoint does not know")
        return Ref(None, maybe=frozenset({base.root}),
                   why="it is a reshape (or ravel) that NumPy makes a view or a copy "
                       f"depending on the memory layout: {whose}")
    return Ref(base.root, base.chain + (step,), contiguous=base.contiguous and
               _keeps_contiguity(step, op.inputs[0]))


# ---- binding names ---------------------------------------------------------------------------
def _rooted_at(t: dict, key: str):
    return [n for n, r in t.items() if r.root == key or key in r.maybe]


def _move_root(cx, key: str, t: dict, force=False):
    """env[key] is about to be rebound: the views of its array keep it alive under a
    hidden key. Returns (the refs re-pointed to it, the hidden key or None)."""
    users = _rooted_at(t, key)
    if not users and not force:
        return t, None
    base = _hint(key)
    k = 0
    while f"@{base}#{k}" in cx.env:
        k += 1
    hidden = f"@{base}#{k}"
    cx.env[hidden] = cx.env[key]
    if key in cx.foreign:
        cx.foreign.add(hidden)
    new = dict(t)
    for n in users:
        new[n] = _renamed(new[n], key, hidden)
    return new, hidden


def _renamed(r: Ref, key, hidden) -> Ref:
    return dataclasses.replace(r, root=hidden if r.root == key else r.root,
                               maybe=frozenset(hidden if m == key else m for m in r.maybe))


def _collect(cx, t: dict) -> dict:
    """Drop hidden roots no ref uses any more (only where paths join, after the control
    op is emitted: inside a region a loop may still carry one)."""
    used = {r.root for r in t.values()} | set().union(*(r.maybe for r in t.values())) | set(t)
    for n in [n for n in cx.env if n.startswith("@") and "#" in n and n not in used]:
        del cx.env[n]
    return t


def _rebind(cx, name: str, value, ref: Ref | None):
    t = table(cx)
    if name in cx.env:
        mine = ref is not None and (ref.root == name or name in ref.maybe)
        t, hidden = _move_root(cx, name, t, force=mine)
        if mine:
            ref = _renamed(ref, name, hidden)
    t = {n: r for n, r in t.items() if n != name}
    if ref is not None:
        t[name] = ref
    cx.foreign.discard(name)
    cx.env[name] = value
    if ref is None and isinstance(value, Value) and _fresh_contiguous(cx, value):
        cx.contiguous_values.add(value)
    _set_table(cx, t)  # (hidden roots left unused are dropped where paths join)


def bind(cx, name: str, value):
    """Bind `name` to `value` (an assignment `name = ...`), recording whether it is a view
    of (or another name for) a named array."""
    if cx.env.get(name) is value:
        return
    _rebind(cx, name, value, source(cx, value) if isinstance(value, Value) else None)


def bind_row(cx, name: str, src: Ref | None, arr: Value, i: Value):
    """Bind the target of `for name in X` to row i: a view of X's root (derived from the
    root's current value, so writes in earlier iterations are seen) or, for an array no
    name shares, row i of `arr`."""
    if src is not None and src.root is not None and src.root in cx.env:
        ref = dataclasses.replace(src, chain=src.chain + (Step("row", (i,), ()),))
        value = derive(cx, cx.env[src.root], ref.chain)
    else:  # an array no name shares (or, unknown, one that may not be written)
        ref = src if src is not None and src.root is None else None
        value = cx.b.emit("row", arr, i)
    _rebind(cx, name, cx.b.name(value, name), ref)


def pin(cx, src: Ref | None, rebinds: bool) -> Ref | None:
    """Before `for row in X`: when the body rebinds X's root name, NumPy still iterates
    the old array, so the loop's rows (and X until it is rebound) view it under a hidden
    key."""
    if src is None or src.root is None or not rebinds or src.root.startswith("@"):
        return src
    key = src.root
    t, hidden = _move_root(cx, key, table(cx), force=True)
    t[key] = Ref(hidden, (), contiguous=src.contiguous and not src.chain)
    _set_table(cx, t)
    return _renamed(src, key, hidden)


def pin_rebound_roots(cx, body):
    """Before a loop whose body rebinds a name that views are taken of (`v = y[1:3]`,
    then `y = y * 2` in the loop): the views keep the array under a hidden key from the
    start, so every iteration writes through them the same way (otherwise the first
    iteration's refs would differ from the next ones', and writes would be refused)."""
    rebound = {n.id for b in body for n in ast.walk(b)
               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    t = table(cx)
    for key in sorted(rebound):
        if key in cx.env and _rooted_at(t, key):
            t, hidden = _move_root(cx, key, t)
            t[key] = Ref(hidden, (), contiguous=_fresh_contiguous(cx, cx.env[key]))
    _set_table(cx, t)


# ---- writes ------------------------------------------------------------------------------------
def derive(cx, root_value, chain):
    v = root_value
    for s in chain:
        v = cx.b.emit(s.prim, v, *s.vals, **dict(s.attrs))
    return v


def _int_prefix(chain):
    """The index Values of a chain of leading ints only (rows, Y[i], Y[i, j]), else None."""
    out = []
    for s in chain:
        if s.prim == "row":
            out.append(s.vals[0])
        elif s.prim == "getitem" and all(e == "i" for e in dict(s.attrs)["spec"]):
            out.extend(s.vals)
        else:
            return None
    return out


def _inverse_step(cx, s: Step, base, new):
    """base's new value after its view `s(base)` became `new`."""
    if s.prim == "row":
        return cx.b.emit("set_index", base, new, s.vals[0], spec=("i",))
    # a transposed write-back is copied to C order: NumPy's base keeps its layout, and
    # the layout decides the order np.sum adds in (the last bit of the loss)
    if s.prim == "transpose":
        return cx.b.emit("copy", cx.b.emit("transpose", new))
    if s.prim == "permute":
        axes = dict(s.attrs)["axes"]
        inv = [0] * len(axes)
        for k, a in enumerate(axes):
            inv[a] = k
        return cx.b.emit("copy", cx.b.emit("permute", new, axes=tuple(inv)))
    if s.prim in ("reshape", "reshape_like", "expand_dims"):
        return cx.b.emit("reshape_like", new, base)
    spec = dict(s.attrs)["spec"]  # getitem: drop the new axes from `new`, write the rest
    if "n" in spec:
        sub, zeros = [], []
        for e in spec:
            if e == "n":
                sub.append("i")
                zeros.append(cx.b.const(0))
            elif e != "i":
                sub.append(FULL)
        while sub and sub[-1] == FULL:
            sub.pop()
        new = cx.b.emit("getitem", new, *zeros, spec=tuple(sub))
        kept = [e for e in spec if e != "n"]
        if not kept:
            return new
        return cx.b.emit("set_index", base, new, *s.vals, spec=tuple(kept))
    return cx.b.emit("set_index", base, new, *s.vals, spec=spec)


def _write_back(cx, root_value, chain, new):
    bases = [root_value]
    for s in chain[:-1]:
        bases.append(cx.b.emit(s.prim, bases[-1], *s.vals, **dict(s.attrs)))
    for s, base in zip(reversed(chain), reversed(bases)):
        new = _inverse_step(cx, s, base, new)
    return new


def _hint(key):
    return key.lstrip("@").split("#")[0]


def _copy_then_write(node, name: str) -> str:
    """The hint's valid Python for writing into a copy of `name`: `v = v.copy()` for a
    name; for an expression, which cannot be assigned to (`np.reshape(y, (2, 3))`), a new
    name `t = <expr>.copy()` and the write's target redirected to it (`t[0, 1]`)."""
    if name.isidentifier():
        return f"copy it first (`{name} = {name}.copy()`) and write into the copy"
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == name:
        redirected = ast.unparse(ast.Subscript(ast.Name("t"), node.slice))
        return (f"copy it to a name first (`t = {name}.copy()`), then write `{redirected}` "
                f"instead of `{ast.unparse(node)}` and use `t`")
    return f"copy it to a name first (`t = {name}.copy()`), write into `t` and use it"


def check_writable(cx, node, name: str, ref: Ref, what="writing into", shown=None):
    """Refuse a write adjoint cannot follow as NumPy does (module docstring)."""
    loc = cx.fs.loc(node)
    name = shown or name
    if ref.root is None:
        raise UnsupportedError(
            f"{what} `{name}`, which may share memory with another array: {ref.why}", loc,
            f"{_copy_then_write(node, name)}, or write into the array it was taken from")
    t = table(cx)
    for other, r in sorted(t.items()):
        if r.root is None and ref.root in r.maybe and other != name:
            raise UnsupportedError(
                f"{what} `{name}` while `{other}` may be a view of the same array: {r.why}; "
                f"NumPy would change `{other}` too or not", loc,
                f"take `{other}` as a copy (`....copy()`), or take it after the write")
    if ref.root in cx.foreign:
        base = _hint(ref.root)
        raise UnsupportedError(
            f"{what} `{name}`, " + (f"a view of `{base}`, " if name != base else "") +
            f"a parameter of the inlined function `{cx.fs.node.name}`: in Python the "
            "caller's array would change too, which adjoint does not follow across calls",
            loc, f"copy it first (`{base} = {base}.copy()`) and return what the caller needs")
    held = {id(cx.env[ref.root])} | {id(cx.env[n]) for n, r in t.items()
                                     if r.root == ref.root and n in cx.env}

    def shares(v):  # the array itself, or a view of it (`rows = [Y[0], Y[1]]`)
        if id(v) in held:
            return True
        r = source(cx, v) if isinstance(v, Value) else None
        return r is not None and (r.root == ref.root or ref.root in r.maybe)
    box = next((n for n, v in cx.env.items() if isinstance(v, (tuple, dict))
                and _contains(v, shares)), None)
    if box is not None:
        raise UnsupportedError(
            f"{what} `{name}`, an array the {type(cx.env[box]).__name__} `{box}` also holds: "
            f"NumPy would change it there too, and adjoint's lists, tuples and dicts hold "
            "values", loc, f"write before putting it into `{box}`, or rebuild `{box}` after "
            "the write")
    if _is_global(cx, cx.env[ref.root]):
        raise UnsupportedError(
            f"{what} `{name}`, a global array (captured from the module or a closure): "
            "NumPy would change the global, and every later call would see it", loc,
            f"copy it first: `{name} = {name}.copy()`")


def _contains(box, pred) -> bool:
    items = box.values() if isinstance(box, dict) else box
    return any(isinstance(v, (tuple, dict)) and _contains(v, pred) or
               not isinstance(v, (tuple, dict)) and pred(v) for v in items)


def write(cx, node, name: str, build, index=None, shown=None):
    """Write into the array `name` holds, as NumPy does (module docstring).

    build(old) -> the new value of name's array (old: its current value); index: (prim,
    value, vals, spec) of an indexed write (`set_index` or `add_at`), composed with a
    chain of leading ints where NumPy's result is the same. Re-derives every name that
    shares the root. Raises UnsupportedError (check_writable)."""
    t = table(cx)
    ref = t.get(name) or Ref(name, ())
    check_writable(cx, node, name, ref, shown=shown if name.startswith("@") else None)
    root = ref.root
    prefix = _int_prefix(ref.chain) if index is not None and ref.chain else None
    if prefix is not None:
        prim, value, vals, spec = index
        if "a" not in spec or spec[0] == "a":
            new_root = cx.b.emit(prim, cx.env[root], value, *prefix, *vals,
                                 spec=("i",) * len(prefix) + tuple(spec))
        else:
            prefix = None
    if prefix is None:
        new = build(cx.env[name])
        new_root = _write_back(cx, cx.env[root], ref.chain, new) if ref.chain else new
    cx.env[root] = cx.b.name(new_root, _hint(root))
    for n, r in t.items():
        if r.root == root and n in cx.env:
            cx.env[n] = derive(cx, cx.env[root], r.chain) if r.chain else cx.env[root]


class Held:
    """An array of a temporary tuple (`a, b = y[:2], y[2:]`, `for v in (y[:2], y[2:])`),
    bound to a hidden key while the tuple is used (hold)."""

    def __init__(self, key):
        self.key = key


def hold(cx, value):
    """`value` (a Value, or tuples of them) with each array that shares a named array's
    memory bound to a hidden key, as a `Held`. NumPy's tuple holds those arrays
    themselves, so a write made while the tuple is used (the first target of `X[0], X[1] =
    X[1], X[0]`, an earlier trip of `for v in (y[:2], y[2:])`) changes what later reads
    of it see: `take` reads the key's current value, re-derived by every write."""
    if isinstance(value, tuple):
        return _rebuilt(value, (hold(cx, e) for e in value))
    ref = source(cx, value) if isinstance(value, Value) else None
    if ref is None:
        return value
    k = 0
    while f"{HELD}{k}" in cx.env:
        k += 1
    _rebind(cx, f"{HELD}{k}", value, ref)
    return Held(f"{HELD}{k}")


def take(cx, value):
    """`value` with each `Held` replaced by its key's current value (hold)."""
    if isinstance(value, Held):
        return cx.env[value.key]
    if isinstance(value, tuple):
        return _rebuilt(value, (take(cx, e) for e in value))
    return value


def _rebuilt(t: tuple, items):
    """A tuple of t's type (a namedtuple, a tuple subclass) holding `items`."""
    return type(t)(*items) if hasattr(type(t), "_fields") else type(t)(items)


def release(cx, value):
    """Drop the hidden keys `hold` bound for `value`."""
    keys = set()

    def walk(v):
        if isinstance(v, Held):
            keys.add(v.key)
        elif isinstance(v, tuple):
            for e in v:
                walk(e)
    walk(value)
    if keys:
        for k in keys:
            cx.env.pop(k, None)
        _set_table(cx, {n: r for n, r in table(cx).items() if n not in keys})


def mark_maybe_view(cx, out: Value, refs, why: str):
    """Record that `out` (a conditional expression's value) may be a view of the arrays
    its branches' values share (`refs`, their `source`s): writes through it, or into
    those arrays while it lives, are refused (an unknown ref)."""
    roots = frozenset(r.root for r in refs if r is not None and r.root) | frozenset().union(
        *(r.maybe for r in refs if r is not None))
    if any(r is not None for r in refs):
        VIEW_REFS[out] = Ref(None, maybe=roots, why=why)


def set_ref(cx, name: str, ref: Ref):
    t = dict(table(cx))
    t[name] = ref
    _set_table(cx, t)


def forget_temporary(cx, name: str):
    """Drop the temporary key written_name bound to a view expression (`Y[i][j] = v`)."""
    if name.startswith("@view#"):
        cx.env.pop(name, None)
        _set_table(cx, {n: r for n, r in table(cx).items() if n != name})


def shared(cx, name: str) -> bool:
    """Does another name (or a view) share `name`'s array, or is it a parameter?"""
    t = table(cx)
    return name in t or bool(_rooted_at(t, name)) or name in cx.foreign \
        or (isinstance(cx.env.get(name), Value) and _is_global(cx, cx.env[name]))


# ---- paths that join -------------------------------------------------------------------------
def _same_value(a, b):
    if a is b:
        return True
    ca, cb = scalar_constant(a), scalar_constant(b)
    return ca is not None and ca == cb and type(ca) is type(cb)


def _same(a: Ref, b: Ref) -> bool:
    if a.root is None or b.root is None or a.root != b.root or len(a.chain) != len(b.chain):
        return False
    for s, u in zip(a.chain, b.chain):
        if s.prim != u.prim or s.attrs != u.attrs or len(s.vals) != len(u.vals) or \
                not all(_same_value(x, y) for x, y in zip(s.vals, u.vals)):
            return False
    return True


def _visible_chain(b, refs):
    """The chain the refs share, with each index value that differs between them (equal
    constants, each defined on its own path) emitted anew in `b`, where the paths meet."""
    chain = []
    for steps in zip(*(r.chain for r in refs)):
        vals = tuple(v if all(s.vals[k] is v for s in steps) else b.const(scalar_constant(v))
                     for k, v in enumerate(steps[0].vals))
        chain.append(dataclasses.replace(steps[0], vals=vals))
    return tuple(chain)


def join(tables, keep, why, b) -> dict:
    """The refs where paths with refs `tables` join, in builder `b`: names in `keep` only;
    a ref all paths agree on (same root, kept, and the same chain) stays, any other
    becomes unknown."""
    out = {}
    names = set().union(*tables) & set(keep)
    for n in names:
        refs = [t.get(n) for t in tables]
        first = refs[0]
        if first is not None and first.root in keep and all(
                r is not None and _same(first, r) for r in refs[1:]):
            out[n] = dataclasses.replace(first, chain=_visible_chain(b, refs),
                                         contiguous=all(r.contiguous for r in refs))
            continue
        maybe = set()
        for r in refs:
            if r is not None:
                maybe |= ({r.root} if r.root is not None else set()) | set(r.maybe)
        whys = [r.why for r in refs if r is not None and r.root is None and r.why]
        out[n] = Ref(None, maybe=frozenset(m for m in maybe if m in keep),
                     why=whys[0] if whys else why)
    return out


def same_tables(a: dict | None, b: dict | None) -> bool:
    a, b = a or {}, b or {}
    if set(a) != set(b):
        return False
    for n, r in a.items():
        u = b[n]
        if (r.root is None) != (u.root is None):
            return False
        if r.root is None and (r.maybe != u.maybe or r.why != u.why):
            return False
        if r.root is not None and (not _same(r, u) or r.contiguous != u.contiguous):
            return False
    return True


def loop_entry(cx, entry: dict | None, end_env: dict) -> dict:
    """The refs to lower a loop body with, given those it was lowered with (`entry`) and
    those at the end of the body: their join over the names bound before the loop."""
    return join([entry or {}, end_env.get(VIEWS) or {}], set(cx.env), _LOOP_WHY, cx.b)


_LOOP_WHY = ("whether it is a view of another array, and of which, changes from one loop "
             "iteration to the next")


def join_into(cx, envs, why="whether it is a view of another array depends on the path "
                            "taken (a branch, or whether a loop ran)"):
    """Set cx's refs to the join of the refs at the ends of `envs` (the paths that meet
    here), for the names cx's environment keeps."""
    keep = set(cx.env)
    _set_table(cx, join([e.get(VIEWS) or {} for e in envs], keep, why, cx.b))
    _collect(cx, table(cx))


def changed(before: dict, *envs) -> set:
    """Names bound before a region whose value a path through it changed (a write through
    another name changes every name that shares the array)."""
    return {n for n, v in before.items() if isinstance(v, Value) and n != VIEWS and
            any(n in e and e[n] is not v for e in envs)}
