"""Lowering of control flow to structured SSA ops: if/elif/else, conditional
expressions, `for` over `range`, over an array's rows and `enumerate`, `while`,
`break`, `continue` and `return` anywhere.

Guarantees:
- A branch becomes an `if` op whose results are the variables either branch assigns
  (and that exist after it); a loop becomes a `for`/`while` op whose carried values
  (block arguments, the phi nodes) are the variables the body assigns that exist before
  the loop. Nothing is unrolled: the IR grows with the source, not with trip counts.
- A variable whose dtype changes in a loop or branch (`s = 0` then `s = s + x`) is
  promoted on entry; one whose rank changes raises an error at the user's line.
- `break`, `continue` and early `return` are lowered to flags carried like variables:
  statements after one are guarded by `if not flag`, a loop with `break` or `return`
  becomes a `while` whose condition tests the flag (a `for` with them counts its trip
  index explicitly). An early return's value must be a scalar (the loss).
- A loop's target (`i` in `for i in ...`) keeps its last value after the loop, as in
  Python, when it was assigned before the loop (it is carried: a loop without trips
  leaves the old value); otherwise reading it after the loop is an error, as is reading
  any name the body assigns first (it exists only if the loop ran).
"""
from __future__ import annotations

import ast

from ..errors import ShapeError, UnsupportedError
from ..ir.core import I64, Region, Type, Value, promote
from . import structures, views
from .captures import Static

RET, RETVAL, BRK, CONT, K = "@ret", "@retval", "@brk", "@cont", "@k"
_HINTS = {RET: "returned", RETVAL: "return_value", BRK: "broke", CONT: "skip", K: "k"}


def hint(name: str) -> str:
    if "#" in name:  # a hidden array that views share (views.py): `@y#0`
        return name.lstrip("@").split("#")[0]
    return "k" if name.startswith(K) else _HINTS.get(name, name)


# ---- what a block assigns and whether it may leave early -----------------------------
def assigned(stmts, nested=False) -> set:
    """Names (and flags) the statements may assign at this loop level."""
    out: set = set()
    for s in stmts:
        if isinstance(s, ast.Assign):
            for t in s.targets:
                _targets(t, out)
        elif isinstance(s, (ast.AugAssign, ast.AnnAssign)):
            if not isinstance(s, ast.AnnAssign) or s.value is not None:
                _targets(s.target, out)
        elif isinstance(s, ast.FunctionDef):
            out.add(s.name)
        elif isinstance(s, ast.If):
            out |= assigned(s.body, nested) | assigned(s.orelse, nested)
        elif isinstance(s, (ast.For, ast.While)):
            out |= assigned(s.body, True) - {BRK, CONT}
            if isinstance(s, ast.For):
                out -= _names_of(s.target) - _assigned_plain(s.body)
        elif isinstance(s, ast.Return):
            out |= {RET, RETVAL}
        elif isinstance(s, ast.Break) and not nested:
            out.add(BRK)
        elif isinstance(s, ast.Continue) and not nested:
            out.add(CONT)
    return out


def _assigned_plain(stmts):
    return {n for n in assigned(stmts, True) if not n.startswith("@")}


def _names_of(t) -> set:
    if isinstance(t, ast.Name):
        return {t.id}
    if isinstance(t, (ast.Tuple, ast.List)):
        return set().union(*(_names_of(e) for e in t.elts))
    return set()


def _targets(t, out):
    if isinstance(t, ast.Name):
        out.add(t.id)
    elif isinstance(t, (ast.Tuple, ast.List)):
        for e in t.elts:
            _targets(e, out)
    elif isinstance(t, ast.Subscript):
        base = t.value
        while isinstance(base, ast.Subscript):
            base = base.value
        if isinstance(base, ast.Name):
            out.add(base.id)


def may_exit(s) -> bool:
    """Can control leave the enclosing block at or inside statement s?"""
    return bool(assigned([s]) & {RET, BRK, CONT})


def has_early_return(body) -> bool:
    """Is there a `return` other than a final top-level one?"""
    for i, s in enumerate(body):
        if isinstance(s, ast.Return) and i == len(body) - 1:
            continue
        if RET in assigned([s]):
            return True
    return False


# ---- blocks and statements ---------------------------------------------------------
def block(cx, stmts):
    for idx, s in enumerate(stmts):
        with cx.b.at(cx.fs.loc(s)):
            cx.stmt(s)
        rest = stmts[idx + 1:]
        if rest and may_exit(s):
            flags = [cx.env[f] for f in (RET, BRK, CONT) if f in cx.env]
            with cx.b.at(cx.fs.loc(rest[0])):
                go_on = cx.b.emit("not", _any(cx, flags)) if flags else cx.b.const(True)
                lower_if(cx, rest[0], go_on, rest, [])
            return


def _any(cx, flags):
    out = flags[0]
    for f in flags[1:]:
        out = cx.b.emit("or", out, f)
    return out


def truth(cx, node, v) -> Value:
    """A scalar condition as a bool value (Python truthiness for numbers)."""
    if not isinstance(v, Value) or v.type.rank != 0:
        raise ShapeError(f"`{ast.unparse(node)}`: a condition must be a scalar",
                         cx.fs.loc(node), "for arrays use np.where, np.all or np.any")
    return v if v.type.dtype == "bool" else cx.b.emit("ne", v, 0)


def lower_return(cx, s: ast.Return):
    v = cx.expr(s.value)
    if not isinstance(v, Value) or v.type.rank != 0:
        raise UnsupportedError("an early `return` must return a scalar", cx.fs.loc(s),
                               "assign the value to a variable and return it at the end")
    if v.type.dtype != "float64":
        v = cx.b.emit("cast", v)
    cx.env[RETVAL] = v
    cx.env[RET] = cx.b.const(True)


def lower_stmt(cx, s) -> bool:
    """Lower a control-flow statement; False if s is not one."""
    if isinstance(s, ast.If):
        cond = truth(cx, s.test, cx.expr(s.test))
        lower_if(cx, s, cond, s.body, s.orelse)
    elif isinstance(s, ast.For):
        lower_for(cx, s)
    elif isinstance(s, ast.While):
        lower_while(cx, s)
    elif isinstance(s, ast.Return):
        lower_return(cx, s)
    elif isinstance(s, ast.Break):
        cx.env[BRK] = cx.b.const(True)
    elif isinstance(s, ast.Continue):
        cx.env[CONT] = cx.b.const(True)
    else:
        return False
    return True


# ---- regions -------------------------------------------------------------------------
class _Region:
    """Lower statements into a child builder with a private copy of the environment."""

    def __init__(self, cx, env, params=()):
        self.cx, self.env, self.params = cx, env, tuple(params)
        self.b = cx.b.child()

    def __enter__(self):
        self.saved = self.cx.b, self.cx.env
        self.cx.b, self.cx.env = self.b, self.env
        self.b.__enter__()
        return self

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        self.env = self.cx.env
        self.cx.b, self.cx.env = self.saved

    def cast_to(self, v: Value, t: Type) -> Value:
        if v.type == t:
            return v
        with self.b:
            return self.b.emit("cast", v) if t.dtype == "float64" else v

    def region(self, results) -> Region:
        return Region(self.params, tuple(self.b.ops), tuple(results))


def _bool_and_number(a: Type, b: Type) -> bool:
    return a.rank == b.rank and a.dtype != b.dtype and "bool" in (a.dtype, b.dtype)


def _unify(cx, node, name, types):
    ranks = {t.rank for t in types}
    if len(ranks) > 1:
        shown = " and ".join(str(t) for t in types)
        raise ShapeError(f"`{hint(name)}` is {shown} on different paths", cx.fs.loc(node),
                         "give it the same rank on every path (initialise it with the right "
                         "shape, e.g. np.zeros_like(x))")
    dtypes = {t.dtype for t in types}
    if "bool" in dtypes and len(dtypes) > 1:
        # NumPy's + and * of booleans are or and and: one type for both paths would
        # compute the other path's arithmetic on this one
        raise UnsupportedError(
            f"`{hint(name)}` is a boolean on one path and a number on another (NumPy adds "
            "booleans as a logical or, numbers as numbers)", cx.fs.loc(node),
            "make it a number where it is a boolean: `(x[0] > 0) * 1.0` or `.astype(float)`")
    return Type(promote(*types), ranks.pop())


def lower_if(cx, node, cond: Value, then_stmts, else_stmts):
    names = assigned(then_stmts) | assigned(else_stmts)
    before = dict(cx.env)
    with _Region(cx, dict(before)) as then_r:
        block(cx, then_stmts)
    with _Region(cx, dict(before)) as else_r:
        block(cx, else_stmts)
    names |= views.changed(before, then_r.env, else_r.env)  # written through another name
    outs = sorted(n for n in names if n in then_r.env and n in else_r.env
                  and isinstance(then_r.env[n], Value) and isinstance(else_r.env[n], Value))
    for n in names - set(outs):
        cx.env.pop(n, None)
        cx.maybe_undefined.add(n)
    for n in [n for n in outs if _bool_and_number(then_r.env[n].type, else_r.env[n].type)]:
        outs.remove(n)  # refused where it is read after the branch (_unify's message)
        cx.env.pop(n, None)
        cx.mixed_names[n] = cx.fs.loc(node)
    if outs:
        types = [_unify(cx, node, n, [then_r.env[n].type, else_r.env[n].type]) for n in outs]
        then_res = [then_r.cast_to(then_r.env[n], t) for n, t in zip(outs, types)]
        else_res = [else_r.cast_to(else_r.env[n], t) for n, t in zip(outs, types)]
        results = cx.b.emit_control("if", [cond], [then_r.region(then_res),
                                                   else_r.region(else_res)],
                                    types, [hint(n) for n in outs])
        cx.env.update(zip(outs, results))
    views.join_into(cx, [then_r.env, else_r.env])


def lower_ifexp(cx, node: ast.IfExp) -> Value:
    cond = truth(cx, node.test, cx.expr(node.test))
    vals = []
    regions = []
    refs = []  # what each branch's array shares (views.source), seen from its region
    for e in (node.body, node.orelse):
        with _Region(cx, dict(cx.env)) as r:
            v = cx.expr(e)
            refs.append(views.source(cx, v))
        if not isinstance(v, Value):
            raise UnsupportedError("a conditional expression must give an array or number",
                                   cx.fs.loc(e))
        vals.append(v)
        regions.append(r)
    t = _unify(cx, node, "the conditional expression", [v.type for v in vals])
    res = [r.cast_to(v, t) for r, v in zip(regions, vals)]
    (out,) = cx.b.emit_control("if", [cond], [r.region([v]) for r, v in zip(regions, res)],
                               [t], [""])
    views.mark_maybe_view(cx, out, refs, "it is a conditional expression (`a if c else b`) "
                          "choosing an array that shares memory with another, which NumPy "
                          "would then change too")
    return out


# ---- loops ---------------------------------------------------------------------------
def _range_args(cx, call: ast.Call):
    if call.keywords or not 1 <= len(call.args) <= 3:
        raise UnsupportedError("range() takes 1 to 3 positional arguments", cx.fs.loc(call))
    vals = [cx.expr(a) for a in call.args]
    for a, v in zip(call.args, vals):
        if not isinstance(v, Value) or v.type.rank != 0 or v.type.dtype == "float64":
            raise ShapeError(f"range() needs integer arguments, `{ast.unparse(a)}` is "
                             f"{getattr(v, 'type', 'not a number')}", cx.fs.loc(a),
                             "pass an int (integer arguments stay integers) or use len(x)")
    if len(vals) == 1:
        vals = [cx.b.const(0), vals[0]]
    if len(vals) == 2:
        vals.append(cx.b.const(1))
    return vals


def _iteration(cx, s: ast.For):
    """(start, stop, step, bind) where bind(cx, i) assigns the loop target(s)."""
    it, target = s.iter, s.target
    callee = None
    if isinstance(it, ast.Call):
        f = cx.expr(it.func) if not isinstance(it.func, ast.Attribute) else None
        callee = f.obj if isinstance(f, Static) else None
    if callee is range:
        if not isinstance(target, ast.Name):
            raise UnsupportedError("the target of `for ... in range()` must be a name",
                                   cx.fs.loc(target))
        start, stop, step = _range_args(cx, it)
        return start, stop, step, lambda cx, i: views.bind(cx, target.id, i)
    if callee is enumerate:
        if len(it.args) != 1 or it.keywords:
            raise UnsupportedError("enumerate() with one argument only", cx.fs.loc(it))
        arr = cx.expr(it.args[0])
        if not (isinstance(target, ast.Tuple) and len(target.elts) == 2
                and all(isinstance(e, ast.Name) for e in target.elts)):
            raise UnsupportedError("use `for i, row in enumerate(X)`", cx.fs.loc(target))
        idx_name, row_name = target.elts[0].id, target.elts[1].id

        src = _row_source(cx, s, arr)

        def bind(cx, i):
            views.bind(cx, idx_name, i)
            views.bind_row(cx, row_name, src, arr, i)
        start, stop, step = _rows(cx, it.args[0], arr)
        return start, stop, step, bind
    arr = cx.expr(it)
    if not isinstance(arr, Value):
        from .indexing import outside_hint
        raise UnsupportedError(f"cannot loop over `{ast.unparse(it)}`", cx.fs.loc(it),
                               outside_hint(arr) or
                               "loop over range(n), an array's rows, or enumerate(array); "
                               "loops over Python containers are not supported")
    if not isinstance(target, ast.Name):
        raise UnsupportedError("the target of `for row in X` must be a name", cx.fs.loc(target))
    start, stop, step = _rows(cx, it, arr)
    src = _row_source(cx, s, arr)

    def bind_row(cx, i):
        views.bind_row(cx, target.id, src, arr, i)
    return start, stop, step, bind_row


def _row_source(cx, s: ast.For, arr):
    """What the rows of `for row in X` are views of (views.py): X's array as it is when
    each row is taken, so writes through earlier rows (or into X) are seen."""
    src = views.source(cx, arr) if isinstance(arr, Value) else None
    if src is None or src.root is None:
        return src
    rebinds = any(isinstance(n, ast.Name) and n.id == src.root and isinstance(n.ctx, ast.Store)
                  for b in s.body for n in ast.walk(b))
    return views.pin(cx, src, rebinds)


def _rows(cx, node, arr):
    if not isinstance(arr, Value) or arr.type.rank == 0:
        raise ShapeError(f"cannot loop over the scalar `{ast.unparse(node)}`", cx.fs.loc(node))
    return cx.b.const(0), cx.b.emit("dim", arr, axis=0), cx.b.const(1)


def _check_loop(cx, s):
    if s.orelse:
        raise UnsupportedError(f"`{'for' if isinstance(s, ast.For) else 'while'} ... else`",
                               cx.fs.loc(s.orelse[0]), "move the else block after the loop")


def _unroll_container(cx, s: ast.For) -> bool:
    """Python's loop over a container, lowered once per entry (the container's length is
    known while lowering): `for W, b in layers`, `for W, b in zip(Ws, bs)`, `for i, layer
    in enumerate(layers)`, `for v in p.values()`, `for k, v in p.items()`, `for k in p`
    over tuples, lists and dicts of values (structured arguments, literals), and `for i
    in range(len(layers))` (constant bounds) whose body indexes a container with `i`.
    False if `s` loops over anything else (an array's rows, a run-time range)."""
    entries = _container_entries(cx, s)
    if entries is None:
        return False
    if assigned(s.body) & {BRK, CONT, RET}:
        raise UnsupportedError("`break`, `continue` or `return` in a loop over a tuple, list "
                               "or dict (unrolled: one copy of the body per entry)",
                               cx.fs.loc(s), "compute the entries to use first, or loop over "
                               "an array's rows")
    held = views.hold(cx, tuple(entries))  # trips see earlier trips' writes, as in NumPy
    for entry in held:
        with cx.b.at(cx.fs.loc(s)):
            cx.assign(s.target, _materialise(cx, views.take(cx, entry)))
        block(cx, s.body)
    views.release(cx, held)
    return True


class _Int(int):
    """A loop index or int key of an unrolled loop: emitted as a constant when its trip
    is lowered (constants emitted earlier may be moved by the body's lowering)."""


class _Pair(tuple):
    """An entry made by zip, enumerate or items (the user's containers stay as they are)."""


def _materialise(cx, entry):
    if isinstance(entry, _Int):
        return cx.b.const(int(entry))
    if isinstance(entry, _Pair):
        return tuple(_materialise(cx, e) for e in entry)
    return entry


_PLAIN = (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List)


class _Key(str):
    """A string dict key bound to a loop target (`for k in p`): a lowering-time object
    (`__adjoint_binding__`, context.assign) that a container subscript `p[k]` reads as
    its key (structures.constant)."""

    __adjoint_binding__ = True


def _key(cx, k, node):
    """A dict key as a loop target's value: an int constant or a string key; refused for
    other keys (a tuple, a float), which a loop body could not use."""
    if isinstance(k, int) and not isinstance(k, bool):
        return _Int(k)
    if isinstance(k, str):
        return Static(_Key(k))
    raise UnsupportedError(f"a loop over the keys of a dict with the key {k!r}",
                           cx.fs.loc(node),
                           "loop over .values(), or use string or int keys")


def _container(cx, node):
    """The tuple or dict `node` evaluates to, or None (an array, a number, a call)."""
    if not isinstance(node, _PLAIN):
        return None
    seq = cx.expr(node)
    return seq if isinstance(seq, (tuple, dict)) else None


def _container_entries(cx, s: ast.For):
    """The entries a loop over a container binds its target to, in Python's order; None
    when `s` does not loop over a container."""
    it = s.iter
    if isinstance(it, _PLAIN):
        seq = _container(cx, it)
        if isinstance(seq, dict):
            return [_key(cx, k, it) for k in seq]
        return None if seq is None else list(seq)
    if not isinstance(it, ast.Call) or it.keywords:
        return None
    if isinstance(it.func, ast.Attribute) and it.func.attr in ("values", "items", "keys") \
            and not it.args:
        d = _container(cx, it.func.value)
        if not isinstance(d, dict):
            return None
        if it.func.attr == "values":
            return list(d.values())
        if it.func.attr == "keys":
            return [_key(cx, k, it) for k in d]
        return [_Pair((_key(cx, k, it), v)) for k, v in d.items()]
    f = cx.expr(it.func) if isinstance(it.func, ast.Name) else None
    callee = f.obj if isinstance(f, Static) else None
    if callee is zip and it.args:
        seqs = [_container(cx, a) for a in it.args]
        if any(q is None for q in seqs):
            if any(q is not None for q in seqs):
                raise UnsupportedError("zip() of a container and an array", cx.fs.loc(it),
                                       "zip tuples or lists of arrays, or index the array")
            return None
        seqs = [[_key(cx, k, it) for k in q] if isinstance(q, dict) else q for q in seqs]
        return [_Pair(e) for e in zip(*seqs)]
    if callee is enumerate and len(it.args) == 1:
        seq = _container(cx, it.args[0])
        if seq is None:
            return None
        seq = [_key(cx, k, it) for k in seq] if isinstance(seq, dict) else seq
        return [_Pair((_Int(i), e)) for i, e in enumerate(seq)]
    if callee is range and isinstance(s.target, ast.Name) and _indexes_container(cx, s):
        bounds = [structures.constant(cx, a) for a in it.args]
        if 1 <= len(bounds) <= 3 and all(isinstance(b, int) for b in bounds):
            return [_Int(i) for i in range(*bounds)]
    return None


def _indexes_container(cx, s: ast.For) -> bool:
    """Does the body of `for i in range(...)` read `c[i]` for a container `c` (a tuple,
    list or dict bound to a name)? Then the loop is unrolled: each entry may have its own
    shape (`W, b = layers[i]`), which one loop body cannot hold."""
    name = s.target.id
    for node in (n for stmt in s.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and \
                isinstance(node.slice, ast.Name) and node.slice.id == name and \
                isinstance(cx.env.get(node.value.id), (tuple, dict)):
            return True
    return False


def lower_for(cx, s: ast.For):
    _check_loop(cx, s)
    if _unroll_container(cx, s):
        return
    start, stop, step, bind = _iteration(cx, s)
    body_names = assigned(s.body)
    if body_names & {BRK, RET}:
        return _lower_counted_while(cx, s, start, stop, step, bind)
    target_names = _names_of(s.target)
    carried = sorted(n for n in body_names | target_names if isinstance(cx.env.get(n), Value)
                     and n != CONT)
    types = [cx.env[n].type for n in carried]
    views.pin_rebound_roots(cx, s.body)
    before_views = entry_views = cx.env.get(views.VIEWS)
    for _attempt in range(8):  # until the carried values, their types and the views settle
        i = Value(I64, s.target.id if isinstance(s.target, ast.Name) else "i")
        params = [Value(t, hint(n)) for n, t in zip(carried, types)]
        env = dict(cx.env)
        env.update(zip(carried, params))
        env[views.VIEWS] = entry_views
        with _Region(cx, env, [i] + params) as r:
            bind(cx, i)
            if CONT in body_names:
                cx.env[CONT] = cx.b.const(False)
            block(cx, s.body)
        new = [_unify(cx, s, n, [t, r.env[n].type]) for n, t in zip(carried, types)]
        more, entry_views, settled = _settle(cx, carried, entry_views, r.env)
        if new == types and settled:
            break
        types = new + [cx.env[n].type for n in more]
        carried = carried + more
    inits = [_cast(cx, cx.env[n], t) for n, t in zip(carried, types)]
    results = [r.cast_to(r.env[n], t) for n, t in zip(carried, types)]
    outs = cx.b.emit_control("for", [start, stop, step, *inits], [r.region(results)], types,
                             [hint(n) for n in carried])
    cx.env.update(zip(carried, outs))
    _only_if_it_ran(cx, (body_names | target_names) - set(carried))
    views.join_into(cx, [{views.VIEWS: before_views}, r.env])


def _settle(cx, carried, entry_views, end_env):
    """(names to carry too: bound before the loop and changed by the body through another
    name; the views to lower the body with next; whether nothing changed)."""
    more = sorted(views.changed(cx.env, end_env) - set(carried) - {CONT})
    joined = views.loop_entry(cx, entry_views, end_env)
    return more, joined, not more and views.same_tables(joined, entry_views)


def _only_if_it_ran(cx, names):
    """Names a loop assigns that did not exist before it: defined after the loop only if
    it ran, so reading them is an error (compiler/frontend/context.py `name`)."""
    for n in names:
        if not n.startswith("@"):
            cx.env.pop(n, None)
            cx.maybe_undefined.add(n)


def _cast(cx, v, t):
    if v.type == t:
        return v
    return cx.b.emit("cast", v)


def lower_while(cx, s: ast.While):
    _check_loop(cx, s)
    _lower_while(cx, s, s.test, s.body, None)


def _lower_counted_while(cx, s, start, stop, step, bind):
    """`for` with break/return: k = 0; while k < n and not flags: i = start + k*step; k += 1."""
    n = cx.b.emit("trip_count", start, stop, step)
    kname = K + str(sum(1 for name in cx.env if name.startswith(K)))  # nested loops
    cx.env[kname] = cx.b.const(0)
    target_names = _names_of(s.target)

    def prologue(cx):
        k = cx.env[kname]
        i = cx.b.emit("add", start, cx.b.emit("mul", k, step))
        cx.env[kname] = cx.b.emit("add", k, 1)
        bind(cx, cx.b.name(i, s.target.id if isinstance(s.target, ast.Name) else "i"))

    _lower_while(cx, s, None, s.body, (n, prologue, kname), targets=target_names)
    cx.env.pop(kname, None)


def _lower_while(cx, s, test, body, counted, targets=frozenset()):
    body_names = assigned(body) | set(targets)
    outer_brk = cx.env.get(BRK)  # an enclosing loop's flag: this loop's break is not its
    if BRK in body_names:
        cx.env[BRK] = cx.b.const(False)
    names = body_names | ({counted[2]} if counted else set())
    carried = sorted(n for n in names if isinstance(cx.env.get(n), Value) and n != CONT)
    types = [cx.env[n].type for n in carried]
    views.pin_rebound_roots(cx, body)
    before_views = entry_views = cx.env.get(views.VIEWS)
    for _attempt in range(8):  # until the carried values, their types and the views settle
        cparams = [Value(t, hint(n)) for n, t in zip(carried, types)]
        cenv = dict(cx.env)
        cenv.update(zip(carried, cparams))
        cenv[views.VIEWS] = entry_views
        with _Region(cx, cenv, cparams) as cr:
            if counted:
                cond = cx.b.emit("lt", cx.env[counted[2]], counted[0])
            else:
                cond = truth(cx, test, cx.expr(test))
            for f in (BRK, RET):
                if f in carried:
                    cond = cx.b.emit("and", cx.b.emit("not", cx.env[f]), cond)
        bparams = [Value(t, hint(n)) for n, t in zip(carried, types)]
        benv = dict(cx.env)
        benv.update(zip(carried, bparams))
        benv[views.VIEWS] = entry_views
        with _Region(cx, benv, bparams) as br:
            if counted:
                counted[1](cx)
            if CONT in body_names:
                cx.env[CONT] = cx.b.const(False)
            block(cx, body)
        new = [_unify(cx, s, n, [t, br.env[n].type]) for n, t in zip(carried, types)]
        more, entry_views, settled = _settle(cx, carried, entry_views, br.env)
        if new == types and settled:
            break
        types = new + [cx.env[n].type for n in more]
        carried = carried + more
    inits = [_cast(cx, cx.env[n], t) for n, t in zip(carried, types)]
    results = [br.cast_to(br.env[n], t) for n, t in zip(carried, types)]
    outs = cx.b.emit_control("while", inits, [cr.region([cond]), br.region(results)], types,
                             [hint(n) for n in carried])
    cx.env.update(zip(carried, outs))
    _only_if_it_ran(cx, body_names - set(carried) - {BRK, CONT, RET, RETVAL})
    views.join_into(cx, [{views.VIEWS: before_views}, br.env])
    cx.env.pop(BRK, None)
    if outer_brk is not None:
        cx.env[BRK] = outer_brk
    return outs


__all__ = ["block", "has_early_return", "lower_ifexp", "lower_stmt", "truth"]
