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
- A loop's target (`i` in `for i in ...`) is local to the loop.
"""
from __future__ import annotations

import ast

from ..errors import ShapeError, UnsupportedError
from ..ir.core import I64, Region, Type, Value, promote
from .captures import Static

RET, RETVAL, BRK, CONT, K = "@ret", "@retval", "@brk", "@cont", "@k"
_HINTS = {RET: "returned", RETVAL: "return_value", BRK: "broke", CONT: "skip", K: "k"}


def hint(name: str) -> str:
    return "k" if name.startswith(K) else _HINTS.get(name, name)


# ---- what a block assigns and whether it may leave early -----------------------------
def assigned(stmts, nested=False) -> set:
    """Names (and flags) the statements may assign at this loop level."""
    out: set = set()
    for s in stmts:
        if isinstance(s, ast.Assign):
            for t in s.targets:
                _targets(t, out)
        elif isinstance(s, ast.AugAssign):
            _targets(s.target, out)
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
def block(lw, stmts):
    for idx, s in enumerate(stmts):
        with lw.b.at(lw.fs.loc(s)):
            lw.stmt(s)
        rest = stmts[idx + 1:]
        if rest and may_exit(s):
            flags = [lw.env[f] for f in (RET, BRK, CONT) if f in lw.env]
            with lw.b.at(lw.fs.loc(rest[0])):
                go_on = lw.b.emit("not", _any(lw, flags)) if flags else lw.b.const(True)
                lower_if(lw, rest[0], go_on, rest, [])
            return


def _any(lw, flags):
    out = flags[0]
    for f in flags[1:]:
        out = lw.b.emit("or", out, f)
    return out


def truth(lw, node, v) -> Value:
    """A scalar condition as a bool value (Python truthiness for numbers)."""
    if not isinstance(v, Value) or v.type.rank != 0:
        raise ShapeError(f"`{ast.unparse(node)}`: a condition must be a scalar",
                         lw.fs.loc(node), "for arrays use np.where, np.all or np.any")
    return v if v.type.dtype == "bool" else lw.b.emit("ne", v, 0)


def lower_return(lw, s: ast.Return):
    v = lw.expr(s.value)
    if not isinstance(v, Value) or v.type.rank != 0:
        raise UnsupportedError("an early `return` must return a scalar", lw.fs.loc(s),
                               "assign the value to a variable and return it at the end")
    if v.type.dtype != "float64":
        v = lw.b.emit("cast", v)
    lw.env[RETVAL] = v
    lw.env[RET] = lw.b.const(True)


def lower_stmt(lw, s) -> bool:
    """Lower a control-flow statement; False if s is not one."""
    if isinstance(s, ast.If):
        cond = truth(lw, s.test, lw.expr(s.test))
        lower_if(lw, s, cond, s.body, s.orelse)
    elif isinstance(s, ast.For):
        lower_for(lw, s)
    elif isinstance(s, ast.While):
        lower_while(lw, s)
    elif isinstance(s, ast.Return):
        lower_return(lw, s)
    elif isinstance(s, ast.Break):
        lw.env[BRK] = lw.b.const(True)
    elif isinstance(s, ast.Continue):
        lw.env[CONT] = lw.b.const(True)
    else:
        return False
    return True


# ---- regions -------------------------------------------------------------------------
class _Region:
    """Lower statements into a child builder with a private copy of the environment."""

    def __init__(self, lw, env, params=()):
        self.lw, self.env, self.params = lw, env, tuple(params)
        self.b = lw.b.child()

    def __enter__(self):
        self.saved = self.lw.b, self.lw.env
        self.lw.b, self.lw.env = self.b, self.env
        self.b.__enter__()
        return self

    def __exit__(self, *exc):
        self.b.__exit__(*exc)
        self.env = self.lw.env
        self.lw.b, self.lw.env = self.saved

    def cast_to(self, v: Value, t: Type) -> Value:
        if v.type == t:
            return v
        with self.b:
            return self.b.emit("cast", v) if t.dtype == "float64" else v

    def region(self, results) -> Region:
        return Region(self.params, tuple(self.b.ops), tuple(results))


def _unify(lw, node, name, types):
    ranks = {t.rank for t in types}
    if len(ranks) > 1:
        shown = " and ".join(str(t) for t in types)
        raise ShapeError(f"`{hint(name)}` is {shown} on different paths", lw.fs.loc(node),
                         "give it the same rank on every path (initialise it with the right "
                         "shape, e.g. np.zeros_like(x))")
    d = promote(*types)
    return Type("int64" if d == "bool" and len({t.dtype for t in types}) > 1 else d, ranks.pop())


def lower_if(lw, node, cond: Value, then_stmts, else_stmts):
    names = assigned(then_stmts) | assigned(else_stmts)
    before = dict(lw.env)
    with _Region(lw, dict(before)) as then_r:
        block(lw, then_stmts)
    with _Region(lw, dict(before)) as else_r:
        block(lw, else_stmts)
    outs = sorted(n for n in names if n in then_r.env and n in else_r.env
                  and isinstance(then_r.env[n], Value) and isinstance(else_r.env[n], Value))
    for n in names - set(outs):
        lw.env.pop(n, None)
        lw.maybe_undefined.add(n)
    if not outs:
        return
    types = [_unify(lw, node, n, [then_r.env[n].type, else_r.env[n].type]) for n in outs]
    then_res = [then_r.cast_to(then_r.env[n], t) for n, t in zip(outs, types)]
    else_res = [else_r.cast_to(else_r.env[n], t) for n, t in zip(outs, types)]
    results = lw.b.emit_control("if", [cond], [then_r.region(then_res), else_r.region(else_res)],
                                types, [hint(n) for n in outs])
    lw.env.update(zip(outs, results))


def lower_ifexp(lw, node: ast.IfExp) -> Value:
    cond = truth(lw, node.test, lw.expr(node.test))
    vals = []
    regions = []
    for e in (node.body, node.orelse):
        with _Region(lw, dict(lw.env)) as r:
            v = lw.expr(e)
        if not isinstance(v, Value):
            raise UnsupportedError("a conditional expression must give an array or number",
                                   lw.fs.loc(e))
        vals.append(v)
        regions.append(r)
    t = _unify(lw, node, "the conditional expression", [v.type for v in vals])
    res = [r.cast_to(v, t) for r, v in zip(regions, vals)]
    (out,) = lw.b.emit_control("if", [cond], [r.region([v]) for r, v in zip(regions, res)],
                               [t], [""])
    return out


# ---- loops ---------------------------------------------------------------------------
def _range_args(lw, call: ast.Call):
    if call.keywords or not 1 <= len(call.args) <= 3:
        raise UnsupportedError("range() takes 1 to 3 positional arguments", lw.fs.loc(call))
    vals = [lw.expr(a) for a in call.args]
    for a, v in zip(call.args, vals):
        if not isinstance(v, Value) or v.type.rank != 0 or v.type.dtype == "float64":
            raise ShapeError(f"range() needs integer arguments, `{ast.unparse(a)}` is "
                             f"{getattr(v, 'type', 'not a number')}", lw.fs.loc(a),
                             "pass an int (integer arguments stay integers) or use len(x)")
    if len(vals) == 1:
        vals = [lw.b.const(0), vals[0]]
    if len(vals) == 2:
        vals.append(lw.b.const(1))
    return vals


def _iteration(lw, s: ast.For):
    """(start, stop, step, bind) where bind(lw, i) assigns the loop target(s)."""
    it, target = s.iter, s.target
    callee = None
    if isinstance(it, ast.Call):
        f = lw.expr(it.func) if not isinstance(it.func, ast.Attribute) else None
        callee = f.obj if isinstance(f, Static) else None
    if callee is range:
        if not isinstance(target, ast.Name):
            raise UnsupportedError("the target of `for ... in range()` must be a name",
                                   lw.fs.loc(target))
        start, stop, step = _range_args(lw, it)
        return start, stop, step, lambda lw, i: lw.env.__setitem__(target.id, i)
    if callee is enumerate:
        if len(it.args) != 1 or it.keywords:
            raise UnsupportedError("enumerate() with one argument only", lw.fs.loc(it))
        arr = lw.expr(it.args[0])
        if not (isinstance(target, ast.Tuple) and len(target.elts) == 2
                and all(isinstance(e, ast.Name) for e in target.elts)):
            raise UnsupportedError("use `for i, row in enumerate(X)`", lw.fs.loc(target))
        idx_name, row_name = target.elts[0].id, target.elts[1].id

        def bind(lw, i):
            lw.env[idx_name] = i
            lw.env[row_name] = lw.b.name(lw.b.emit("row", arr, i), row_name)
        start, stop, step = _rows(lw, it.args[0], arr)
        return start, stop, step, bind
    arr = lw.expr(it)
    if not isinstance(arr, Value):
        raise UnsupportedError(f"cannot loop over `{ast.unparse(it)}`", lw.fs.loc(it),
                               "loop over range(n), an array's rows, or enumerate(array); "
                               "loops over Python containers are not supported")
    if not isinstance(target, ast.Name):
        raise UnsupportedError("the target of `for row in X` must be a name", lw.fs.loc(target))
    start, stop, step = _rows(lw, it, arr)
    return start, stop, step, lambda lw, i: lw.env.__setitem__(
        target.id, lw.b.name(lw.b.emit("row", arr, i), target.id))


def _rows(lw, node, arr):
    if not isinstance(arr, Value) or arr.type.rank == 0:
        raise ShapeError(f"cannot loop over the scalar `{ast.unparse(node)}`", lw.fs.loc(node))
    return lw.b.const(0), lw.b.emit("dim", arr, axis=0), lw.b.const(1)


def _check_loop(lw, s):
    if s.orelse:
        raise UnsupportedError(f"`{'for' if isinstance(s, ast.For) else 'while'} ... else`",
                               lw.fs.loc(s.orelse[0]), "move the else block after the loop")


def lower_for(lw, s: ast.For):
    _check_loop(lw, s)
    start, stop, step, bind = _iteration(lw, s)
    body_names = assigned(s.body)
    if body_names & {BRK, RET}:
        return _lower_counted_while(lw, s, start, stop, step, bind)
    target_names = _names_of(s.target)
    saved_targets = {n: lw.env[n] for n in target_names if n in lw.env}
    carried = sorted(n for n in body_names if isinstance(lw.env.get(n), Value)
                     and n not in target_names and n != CONT)
    types = [lw.env[n].type for n in carried]
    for _attempt in range(3):
        i = Value(I64, s.target.id if isinstance(s.target, ast.Name) else "i")
        params = [Value(t, hint(n)) for n, t in zip(carried, types)]
        env = dict(lw.env)
        env.update(zip(carried, params))
        with _Region(lw, env, [i] + params) as r:
            bind(lw, i)
            if CONT in body_names:
                lw.env[CONT] = lw.b.const(False)
            block(lw, s.body)
        new = [_unify(lw, s, n, [t, r.env[n].type]) for n, t in zip(carried, types)]
        if new == types:
            break
        types = new
    inits = [_cast(lw, lw.env[n], t) for n, t in zip(carried, types)]
    results = [r.cast_to(r.env[n], t) for n, t in zip(carried, types)]
    outs = lw.b.emit_control("for", [start, stop, step, *inits], [r.region(results)], types,
                             [hint(n) for n in carried])
    lw.env.update(zip(carried, outs))
    for n in target_names:
        lw.env.pop(n, None)
    lw.env.update(saved_targets)


def _cast(lw, v, t):
    if v.type == t:
        return v
    return lw.b.emit("cast", v)


def lower_while(lw, s: ast.While):
    _check_loop(lw, s)
    _lower_while(lw, s, s.test, s.body, None)


def _lower_counted_while(lw, s, start, stop, step, bind):
    """`for` with break/return: k = 0; while k < n and not flags: i = start + k*step; k += 1."""
    n = lw.b.emit("trip_count", start, stop, step)
    kname = K + str(sum(1 for name in lw.env if name.startswith(K)))  # nested loops
    lw.env[kname] = lw.b.const(0)
    target_names = _names_of(s.target)
    saved = {t: lw.env[t] for t in target_names if t in lw.env}

    def prologue(lw):
        k = lw.env[kname]
        i = lw.b.emit("add", start, lw.b.emit("mul", k, step))
        lw.env[kname] = lw.b.emit("add", k, 1)
        bind(lw, lw.b.name(i, s.target.id if isinstance(s.target, ast.Name) else "i"))

    _lower_while(lw, s, None, s.body, (n, prologue, kname), exclude=target_names)
    lw.env.pop(kname, None)
    for t in target_names:
        lw.env.pop(t, None)
    lw.env.update(saved)


def _lower_while(lw, s, test, body, counted, exclude=()):
    body_names = assigned(body)
    if BRK in body_names:
        lw.env[BRK] = lw.b.const(False)
    names = body_names | ({counted[2]} if counted else set())
    carried = sorted(n for n in names if isinstance(lw.env.get(n), Value)
                     and n != CONT and n not in exclude)
    types = [lw.env[n].type for n in carried]
    for _attempt in range(3):
        cparams = [Value(t, hint(n)) for n, t in zip(carried, types)]
        cenv = dict(lw.env)
        cenv.update(zip(carried, cparams))
        with _Region(lw, cenv, cparams) as cr:
            if counted:
                cond = lw.b.emit("lt", lw.env[counted[2]], counted[0])
            else:
                cond = truth(lw, test, lw.expr(test))
            for f in (BRK, RET):
                if f in carried:
                    cond = lw.b.emit("and", lw.b.emit("not", lw.env[f]), cond)
        bparams = [Value(t, hint(n)) for n, t in zip(carried, types)]
        benv = dict(lw.env)
        benv.update(zip(carried, bparams))
        with _Region(lw, benv, bparams) as br:
            if counted:
                counted[1](lw)
            if CONT in body_names:
                lw.env[CONT] = lw.b.const(False)
            block(lw, body)
        new = [_unify(lw, s, n, [t, br.env[n].type]) for n, t in zip(carried, types)]
        if new == types:
            break
        types = new
    inits = [_cast(lw, lw.env[n], t) for n, t in zip(carried, types)]
    results = [br.cast_to(br.env[n], t) for n, t in zip(carried, types)]
    outs = lw.b.emit_control("while", inits, [cr.region([cond]), br.region(results)], types,
                             [hint(n) for n in carried])
    lw.env.update(zip(carried, outs))
    lw.env.pop(BRK, None)
    return outs


__all__ = ["block", "has_early_return", "lower_ifexp", "lower_stmt", "truth"]
