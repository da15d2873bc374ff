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
  (p.reshape(p.size), g_p.ravel(), state_p.reshape((n_slots, p.size))): one compiled
  kernel signature serves every parameter of every model. It stops before the first
  step whose loss or gradient norm is not finite, so no parameter receives a NaN.
  `stats` (float64, shape (n_params, 3)) accumulates per parameter: the sum over steps
  of the squared gradient norm, the largest squared norm, the last step's squared
  norm. Returns (sum over steps of loss * rows in the step, rows done, last loss).
- `<name>_evaluate(<loss args>, batch)`: the row-weighted mean loss over all rows of
  the data arguments (batches of `batch` consecutive rows when batched), no update.

Names the loop introduces start with `_`; a loss argument whose name could shadow one
of them (or a module global the loop uses) is renamed in the loop's signature.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import keyword


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


def epoch_source(name: str, vjp_name: str, arg_names, wrt_names, update_import: str,
                 batched: bool = False, jit: bool = True,
                 module_globals=()) -> tuple[str, str, str]:
    """(source, epoch function name, evaluate function name).

    name: prefix of the two functions; vjp_name: the value-and-gradient function of the
    same module, returning (loss, g_p for p in wrt_names); arg_names: the loss's
    arguments; wrt_names: the trained ones (in vjp order); update_import:
    'module:function' of an update kernel Numba can call (see runtime/optim.py);
    jit: False makes the loops call the kernel's plain-Python `py_func` when it is a
    Numba dispatcher; module_globals: other global names of the module, which
    arguments must not shadow."""
    mod, fn = update_import.split(":")
    taken = {"np", "max", "min", "range", "_update", "_sq_norm", vjp_name, f"{name}_epoch",
             f"{name}_evaluate"}
    taken |= set(module_globals)
    safe = dict(zip(arg_names, _safe_names(arg_names, taken)))
    data = [a for a in arg_names if a not in wrt_names]
    pv = [safe[p] for p in wrt_names]  # parameter variables
    if batched:
        row = {a: f"{safe[a]}[_idx]" for a in data}
        ev_row = {a: f"{safe[a]}[_lo:_hi]" for a in data}
    else:
        row = {a: f"{safe[a]}[_i]" for a in data}
        ev_row = row
    call = ", ".join(row.get(a, safe[a]) for a in arg_names)
    ev_call = ", ".join(ev_row.get(a, safe[a]) for a in arg_names)
    grads = ", ".join(f"_g_{p}" for p in pv)
    states = [f"_state_{p}" for p in pv]
    sig = ", ".join([safe[a] for a in arg_names] + states)
    first = safe[data[0]] if data else None

    step = [f"_loss, {grads} = {vjp_name}({call})"]
    for p in pv:
        step.append(f"_f_{p} = _g_{p}.ravel()")
        step.append(f"_n_{p} = _sq_norm(_f_{p})")
    step.append("_gn2 = " + " + ".join(f"_n_{p}" for p in pv))
    for j, p in enumerate(pv):
        step.append(f"_stats[{j}, 2] = _n_{p}")
    step.append("if not np.isfinite(_loss + _gn2):  # stop before a non-finite update")
    step.append("    break")
    for j, p in enumerate(pv):
        step.append(f"_stats[{j}, 0] += _n_{p}")
        step.append(f"_stats[{j}, 1] = max(_stats[{j}, 1], _n_{p})")
    step.append("if _clip > 0.0 and _gn2 > _clip * _clip:  # clip by global norm")
    step.append("    _scale = _clip / np.sqrt(_gn2)")
    for p in pv:
        step.append(f"    _f_{p} = _f_{p} * _scale")
    for p in pv:
        step.append(f"_update(_p_{p}, _f_{p}, _s_{p}, _hyper, _step0 + _k)")

    digests = ", ".join(f"{m} {_module_digest(m)}" for m in dict.fromkeys([mod, "runtime.optim"]))
    lines = [f"# kernels' module sources (sha256; an edit recompiles): {digests}",
             f"from {mod} import {fn} as _update",
             "from runtime.optim import sq_norm as _sq_norm"]
    if not jit:
        lines.append("_update = getattr(_update, 'py_func', _update)  # plain Python")
    lines += ["", "",
             f"def {name}_epoch({sig}, _hyper, _order, _step0, _batch, _clip, _stats):",
             f'    """One training epoch of {name} over the rows in _order (see '
             'compiler/codegen/epoch.py)."""',
             "    _total = 0.0",
             "    _done = 0",
             "    _loss = 0.0",
             "    _n = _order.shape[0]"]
    for p in pv:  # flat views: one compiled kernel serves every parameter
        lines.append(f"    _p_{p} = {p}.reshape({p}.size)")
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
        lines += [f"    return {vjp_name}({ev_call})[0]"]
    else:
        lines += [f"    _n = {first}.shape[0]"]
        if batched:
            lines += ["    for _lo in range(0, _n, _batch):",
                      "        _hi = min(_lo + _batch, _n)",
                      f"        _total += {vjp_name}({ev_call})[0] * (_hi - _lo)"]
        else:
            lines += ["    for _i in range(_n):",
                      f"        _total += {vjp_name}({ev_call})[0]"]
        lines += ["    return _total / max(_n, 1)"]
    return "\n".join(lines) + "\n", f"{name}_epoch", f"{name}_evaluate"
