"""The training epoch and the evaluation loop, written out as source so that Numba
compiles (and caches) them in the same module as the generated value-and-gradient.

`epoch_source` returns two functions. With `batched=False` every data argument (each
loss argument not differentiated) is indexed by row, `X[i]`: the loss is written for
one example. With `batched=True` the loss gets `X[idx]` for a minibatch `idx` of row
indices (a fresh C-contiguous (b, ...) array, b <= batch, the last batch possibly
smaller) and is written for a batch, e.g. `np.mean((X @ w - y) ** 2)`.

- `<name>_epoch(<loss args>, <state per parameter>, hyper, order, step0, batch, clip,
  stats)`: for each example (or batch of `batch` consecutive entries) of `order`
  (int64 row indices): the loss and its gradients; each gradient's squared norm; the
  global gradient norm; if it exceeds `clip > 0` every gradient is scaled by
  clip / norm (Pascanu, Mikolov & Bengio 2013, Algorithm 1: all gradients of a step
  are needed before the first update); then `update(p, g_p, state_p, hyper, step0 + k)`
  for each parameter in place, k the step within the epoch, on flat views
  (p.reshape(p.size), flat(g_p), state_p.reshape((n_slots, p.size))): one compiled
  kernel signature serves every parameter of every model. Compiled for plain SGD
  (update kernel `runtime.optim:update_sgd`) the step is written out in the loop
  instead (`sgd_rows`, `sgd_outer`: p -= lr * g, rows with a zero factor skipped).
  It stops before the first step whose loss or gradient norm is not finite, so no
  parameter receives a NaN.
  `stats` (float64, shape (n_params, 3)) accumulates per parameter: the sum over steps
  of the squared gradient norm, the largest squared norm, the last step's squared
  norm. Returns (sum over steps of loss * rows in the step, rows done, last loss).
- `<name>_evaluate(<loss args>, batch)`: the row-weighted mean loss over all rows of
  the data arguments (batches of `batch` consecutive rows when batched), no update.

Factored gradients (issue 16; only with the built-in kernel, `runtime.optim:update` or
its plain-SGD name `update_sgd`, and the value-and-gradient's IR): a gradient the IR
forms at the top level as np.outer(a, b) or s * v (s a scalar) and used for nothing
else reaches the loop as its factors, from a `<name>_value_and_factors` function
emitted first (the graph with that op dropped and its operands returned instead). The
loop takes its squared norm from the factors (||a||^2 ||b||^2, s^2 ||v||^2:
`sq_norm_outer`, `sq_norm_scaled`) and updates from them (`update_outer`,
`update_scaled`, or SGD's `sgd_outer`, `sgd_rows`; the clipping scale passed along), so
no gradient array is formed. Not when a factor may share memory with a trained
parameter (the parameters are updated one after another). The parameters equal the
unfused loop's to 1e-12 (the products are rounded in another order).

Names the loop introduces start with `_`; a loss argument whose name could shadow one
of them (or a module global the loop uses) is renamed in the loop's signature.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import keyword
import textwrap
from dataclasses import dataclass

from ..ir.core import Graph
from ..ir.walk import walk
from ..primitives import PRIMS
from .pyemit import FunctionSource, function_source


# a generated module's tuple of the functions Numba inlines into their callers (jit.py)
INLINE_NAME = "_ADJOINT_INLINE"


@functools.lru_cache(maxsize=None)
def _module_digest(module: str) -> str:
    """sha256 prefix of a module's source file ('unknown' if it has none). It goes into
    the generated source, so editing the update kernel's module changes the generated
    file's name and recompiles: Numba's cache does not notice changes to functions that
    cached code calls from other files."""
    try:
        origin = importlib.util.find_spec(module).origin
        with open(origin, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        return "unknown"


def _safe_names(arg_names, taken):
    out, used = [], set(taken)
    for a in arg_names:
        n = a
        while n in used or n.startswith("_") or keyword.iskeyword(n):
            n = n.lstrip("_") + "_arg" if n.startswith("_") else n + "_"
        used.add(n)
        out.append(n)
    return out


# ---- gradients the loop receives in factored form --------------------------------------
@dataclass(frozen=True)
class GradientForm:
    """How the epoch receives one parameter's gradient from the factored value-and-grad:
    'dense' (the array), 'scaled' (a scalar s and an array v: the gradient is s * v) or
    'outer' (vectors a and b: the gradient is np.outer(a, b)). `may_alias` (dense only):
    the array may share memory with a trained parameter, so the loop copies it before
    the first update of the step."""

    kind: str
    may_alias: bool = False


def _use_counts(graph: Graph) -> dict:
    """How many times each value is used as an op input or a region result (any depth)."""
    uses: dict = {}
    for op in walk(graph.ops):
        for v in op.inputs:
            uses[v] = uses.get(v, 0) + 1
        for r in op.regions:
            for v in r.results:
                uses[v] = uses.get(v, 0) + 1
    return uses


def _aliases_param(v, producers: dict, params: set) -> bool:
    """May `v` share memory with a value in `params`? Through the primitives' declared
    views (`aliases`: transpose, reshape, basic indexing, ...); a value carried out of
    control flow is assumed to."""
    seen = set()
    stack = [v]
    while stack:
        u = stack.pop()
        if u in params:
            return True
        if u in seen:
            continue
        seen.add(u)
        op = producers.get(u)
        if op is None:
            continue
        if op.regions:
            return True
        stack += [op.inputs[i] for i in PRIMS[op.prim].aliases if i < len(op.inputs)]
    return False


# The loops call the step's gradient as a function, or have Numba inline it (jit.py) when
# it makes at most this many arrays (views included). A threshold between two
# measurements, not a tuned one: the hinge's step (no arrays; 28 against 34 us an epoch)
# gains from inlining, the four-layer's (20 arrays; 0.59 against 0.49 ms) loses, LLVM
# then optimising one large loop body less well.
INLINE_MAX_ARRAYS = 2


def _array_ops(graph: Graph) -> int:
    """Number of ops of `graph` (at any depth) with an array result."""
    return sum(1 for op in walk(graph.ops) if any(v.type.rank > 0 for v in op.outputs))


def _is_float(v, rank=None) -> bool:
    return v.type.dtype == "float64" and (rank is None or v.type.rank == rank)


def gradient_forms(graph: Graph, arg_names, wrt_names) -> tuple[Graph | None, list]:
    """(the factored value-and-grad graph, or None when every gradient is dense; a
    GradientForm per trained parameter). `graph` takes `arg_names` and returns (loss,
    g_p for p in wrt_names).

    A gradient produced at the top level by np.outer(a, b) of float vectors, or by
    s * v (s a float scalar, v a float array of the gradient's shape), and used by
    nothing else, is returned as its factors: the op is dropped and (a, b) or (s, v)
    take its place among the results. Not when a factor may share memory with a trained
    parameter (the loop updates the parameters one after another while reading the
    factors)."""
    names = list(arg_names)
    if len(names) != len(graph.params) or len(graph.results) != len(wrt_names) + 1 or \
            any(w not in names for w in wrt_names):  # not the layout the loop assumes
        return None, [GradientForm("dense", True) for _ in wrt_names]
    params = {graph.params[names.index(w)] for w in wrt_names}
    producers = {o: op for op in graph.ops for o in op.outputs}
    uses = _use_counts(graph)
    grads = graph.results[1:]
    forms, results, names, dropped = [], [graph.results[0]], ["loss"], set()
    for p, g in zip(wrt_names, grads):
        op = producers.get(g)
        factors = None
        if op is not None and not uses.get(g) and grads.count(g) == 1 and _is_float(g) \
                and g.type.rank >= 1:
            a = op.inputs
            if op.prim == "outer" and len(a) == 2 and all(_is_float(x, 1) for x in a):
                factors = ("outer", tuple(a))
            elif op.prim == "mul" and len(a) == 2:
                for s, v in ((a[0], a[1]), (a[1], a[0])):
                    if _is_float(s, 0) and _is_float(v, g.type.rank):
                        factors = ("scaled", (s, v))
                        break
        if factors is not None and any(x.type.rank > 0 and _aliases_param(x, producers, params)
                                       for x in factors[1]):
            factors = None
        if factors is None:
            forms.append(GradientForm("dense", _aliases_param(g, producers, params)))
            results.append(g)
            names.append(f"g_{p}")
        else:
            forms.append(GradientForm(factors[0]))
            dropped.add(id(op))
            results += factors[1]
            names += [f"g_{p}_{t}" for t in ("ab" if factors[0] == "outer" else "sv")]
    if not dropped:
        return None, forms
    ops = tuple(op for op in graph.ops if id(op) not in dropped)
    return graph.replace(ops=ops, results=tuple(results), result_names=tuple(names)), forms


def epoch_source(name: str, vjp_name: str, arg_names, wrt_names, update_import: str,
                 batched: bool = False, jit: bool = True, module_globals=(),
                 graph: Graph | None = None) -> tuple[str, str, str]:
    """(source, epoch function name, evaluate function name).

    name: prefix of the two functions; vjp_name: the value-and-gradient function of the
    same module, returning (loss, g_p for p in wrt_names); arg_names: the loss's
    arguments; wrt_names: the trained ones (in vjp order); update_import:
    'module:function' of an update kernel Numba can call (see runtime/optim.py);
    jit: False makes the loops call the kernel's plain-Python `py_func` when it is a
    Numba dispatcher; module_globals: other global names of the module, which
    arguments must not shadow (its {name: ConstArray} constants when a dict); graph: the
    value-and-gradient's IR. With the graph and the built-in kernel, gradients that
    `gradient_forms` factors reach the update as their factors: the source then starts
    with `<name>_value_and_factors` (a FunctionSource carrying its compiled twin)."""
    from runtime import optim  # the built-in kernel's names (imports no Numba)
    mod, fn = update_import.split(":")
    fvjp = f"{name}_value_and_factors"
    taken = {"np", "max", "min", "range", "_update", "_sq_norm", "_flat", "_update_scaled",
             "_update_outer", "_sq_norm_scaled", "_sq_norm_outer", "_lr", "_sgd_rows",
             "_sgd_outer", "_NO_ROWS", "_plain_sgd", vjp_name, fvjp, f"{name}_epoch",
             f"{name}_evaluate", INLINE_NAME}
    taken |= set(module_globals)
    safe = dict(zip(arg_names, _safe_names(arg_names, taken)))
    data = [a for a in arg_names if a not in wrt_names]
    pv = [safe[p] for p in wrt_names]  # parameter variables
    factored, forms = (None, [GradientForm("dense")] * len(pv)) if graph is None else \
        gradient_forms(graph, arg_names, wrt_names)
    # a scalar parameter lives in a 1-element array (updated in place like the others);
    # the loss gets its number and its gradient is a number
    scalars = set() if graph is None else {
        safe[a] for a, v in zip(arg_names, graph.params) if a in wrt_names and v.type.rank == 0}
    assert all(f.kind == "dense" for p, f in zip(pv, forms) if p in scalars)
    fsrc = None
    if factored is not None and update_import in (optim.BUILTIN_UPDATE, optim.SGD_UPDATE):
        fsrc, fconsts, _ = function_source(factored, fvjp)
        if fconsts and (not isinstance(module_globals, dict) or any(
                module_globals.get(k) != c for k, c in fconsts.items())):
            fsrc = None
    if fsrc is None:  # every gradient as an array (dense)
        forms = [GradientForm("dense", f.may_alias) if f.kind != "dense" else f for f in forms]
        fvjp = vjp_name
    if batched:
        row = {a: f"{safe[a]}[_idx]" for a in data}
        ev_row = {a: f"{safe[a]}[_lo:_hi]" for a in data}
    else:
        row = {a: f"{safe[a]}[_i]" for a in data}
        ev_row = row
    for a in arg_names:
        if safe[a] in scalars:
            row[a] = ev_row[a] = f"{safe[a]}[0]"
    call = ", ".join(row.get(a, safe[a]) for a in arg_names)
    ev_call = ", ".join(ev_row.get(a, safe[a]) for a in arg_names)
    outs = []
    for p, f in zip(pv, forms):
        outs += {"dense": [f"_g_{p}"], "scaled": [f"_sc_{p}", f"_v_{p}"],
                 "outer": [f"_a_{p}", f"_b_{p}"]}[f.kind]
    states = [f"_state_{p}" for p in pv]
    sig = ", ".join([safe[a] for a in arg_names] + states)
    first = safe[data[0]] if data else None

    step = [f"_loss, {', '.join(outs)} = {fvjp}({call})"]
    for p, f in zip(pv, forms):
        if f.kind == "dense":
            copy = ".copy()" if f.may_alias else ""  # read after a parameter it shares is updated
            step.append(f"_f_{p} = np.full(1, _g_{p})" if p in scalars else
                        f"_f_{p} = _flat(_g_{p}){copy}")
            step.append(f"_n_{p} = _sq_norm(_f_{p})")
        elif f.kind == "scaled":
            step.append(f"_n_{p} = _sq_norm_scaled(_sc_{p}, _v_{p})")
        else:
            step.append(f"_n_{p} = _sq_norm_outer(_a_{p}, _b_{p})")
    step.append("_gn2 = " + " + ".join(f"_n_{p}" for p in pv))
    for j, p in enumerate(pv):
        step.append(f"_stats[{j}, 2] = _n_{p}")
    step.append("if not np.isfinite(_loss + _gn2):  # stop before a non-finite update")
    step.append("    break")
    for j, p in enumerate(pv):
        step.append(f"_stats[{j}, 0] += _n_{p}")
        step.append(f"_stats[{j}, 1] = max(_stats[{j}, 1], _n_{p})")
    step.append("_c = 1.0")
    step.append("if _clip > 0.0 and _gn2 > _clip * _clip:  # clip by global norm")
    step.append("    _c = _clip / np.sqrt(_gn2)")
    for p, f in zip(pv, forms):
        if f.kind == "dense":
            step.append(f"    _f_{p} = _f_{p} * _c")
    t = "_hyper, _step0 + _k"
    # compiled plain SGD is written out (p -= lr * g, a row at a time, rows with a zero
    # factor skipped): 1.2x faster per step for the hinge than a call of the kernel, and
    # 1.9x faster than the kernel's dispatch inlined (issue 16)
    sgd = jit and update_import == optim.SGD_UPDATE
    for p, f in zip(pv, forms):
        if sgd:
            step.append({
                "dense": f"_sgd_rows(_p_{p}, _NO_ROWS, 1.0, _f_{p}, 1.0, _lr)",
                "scaled": f"_sgd_rows(_p_{p}, _NO_ROWS, _sc_{p}, _flat(_v_{p}), _c, _lr)",
                "outer": f"_sgd_outer({p}, _a_{p}, _b_{p}, _c, _lr)"}[f.kind])
        elif f.kind == "dense":
            step.append(f"_update(_p_{p}, _f_{p}, _s_{p}, {t})")
        elif f.kind == "scaled":
            step.append(f"_update_scaled(_p_{p}, _sc_{p}, _v_{p}, _s_{p}, {t}, _c)")
        else:
            step.append(f"_update_outer(_p_{p}, _a_{p}, _b_{p}, _s_{p}, {t}, _c)")

    digests = ", ".join(f"{m} {_module_digest(m)}" for m in dict.fromkeys([mod, "runtime.optim"]))
    kinds = {f.kind for f in forms}
    names = []  # what the loops call from runtime.optim, and nothing else
    if "dense" in kinds or ("scaled" in kinds and sgd):
        names.append("flat")
    if "dense" in kinds:
        names.append("sq_norm")
    if "scaled" in kinds:
        names += ["sq_norm_scaled"] + ([] if sgd else ["update_scaled"])
    if "outer" in kinds:
        names += ["sq_norm_outer"] + ([] if sgd else ["update_outer"])
    if sgd:
        names += ["plain_sgd"] + (["NO_ROWS", "sgd_rows"] if kinds - {"outer"} else [])
        names += ["sgd_outer"] if "outer" in kinds else []
    lines = [f"# kernels' module sources (sha256; an edit recompiles): {digests}"]
    if not sgd:
        lines.append(f"from {mod} import {fn} as _update")
    lines += textwrap.wrap(", ".join(f"{n} as _{n}" for n in names), 88,
                           initial_indent="from runtime.optim import (",
                           subsequent_indent="    ", break_on_hyphens=False)
    lines[-1] += ")"
    if not jit:
        lines.append("_update = getattr(_update, 'py_func', _update)  # plain Python")
    called = factored if fsrc is not None else graph  # the gradient the loops call
    if jit and called is not None and _array_ops(called) <= INLINE_MAX_ARRAYS:
        lines += ["", f"{INLINE_NAME} = ({fvjp!r},)  # compiled into the loops: no call a step"]
    lines += ["", "",
             f"def {name}_epoch({sig}, _hyper, _order, _step0, _batch, _clip, _stats):",
             f'    """One training epoch of {name} over the rows in _order (see '
             'compiler/codegen/epoch.py)."""',
             "    _total = 0.0",
             "    _done = 0",
             "    _loss = 0.0",
             "    _n = _order.shape[0]"]
    if sgd:
        lines += ["    if not _plain_sgd(_hyper):",
                  "        raise ValueError('these loops run plain SGD (update_sgd)')",
                  "    _lr = _hyper[1]"]
    for p, f in zip(pv, forms):  # flat views: one compiled kernel serves every parameter
        if not (sgd and f.kind == "outer"):  # sgd_outer updates the matrix's rows
            lines.append(f"    _p_{p} = {p}.reshape({p}.size)")
        if not sgd:  # plain SGD has no state
            lines.append(f"    _s_{p} = _state_{p}.reshape((_state_{p}.shape[0], {p}.size))")
    if batched:
        lines += ["    _k = 0",
                  "    for _lo in range(0, _n, _batch):",
                  "        _hi = min(_lo + _batch, _n)",
                  "        _idx = _order[_lo:_hi]"]
        lines += ["        " + s for s in step]
        lines += ["        _total += _loss * (_hi - _lo)",
                  "        _done += _hi - _lo",
                  "        _k += 1"]
    else:
        lines += ["    for _k in range(_n):",
                  "        _i = _order[_k]"]
        lines += ["        " + s for s in step]
        lines += ["        _total += _loss",
                  "        _done += 1"]
    lines += ["    return _total, _done, _loss", "", ""]

    lines += [f"def {name}_evaluate({', '.join(safe[a] for a in arg_names)}, _batch):",
              f'    """Mean loss of {name} over all rows of the data (no update)."""',
              "    _total = 0.0"]
    if first is None:
        lines += [f"    return {fvjp}({ev_call})[0]"]
    else:
        lines += [f"    _n = {first}.shape[0]"]
        if batched:
            lines += ["    for _lo in range(0, _n, _batch):",
                      "        _hi = min(_lo + _batch, _n)",
                      f"        _total += {fvjp}({ev_call})[0] * (_hi - _lo)"]
        else:
            lines += ["    for _i in range(_n):",
                      f"        _total += {fvjp}({ev_call})[0]"]
        lines += ["    return _total / max(_n, 1)"]
    loops = "\n".join(lines) + "\n"
    if fsrc is None:
        return loops, f"{name}_epoch", f"{name}_evaluate"
    out = FunctionSource(fsrc + "\n\n" + loops)
    out.compiled = fsrc.compiled
    return out, f"{name}_epoch", f"{name}_evaluate"
