"""The training epoch: a loop over examples calling the generated value-and-gradient
function and an optimiser's update kernel for each parameter, written out as source so
that Numba compiles (and caches) it together with the gradient.

Guarantees: the generated `def <name>(<loss args>, <state_p for each param>, hyper,
order, step0)` visits examples in `order` (an int64 array of row indices), slices each
data argument by row, updates every parameter in place with
`update(p, g_p, state_p, hyper, step0 + k)`, and returns the mean loss over the epoch.
Data arguments are the loss arguments not differentiated; each is indexed by its first
axis (row i is one example).
"""
from __future__ import annotations


def epoch_source(name: str, vjp_name: str, arg_names, wrt_names, update_import: str) -> str:
    """`update_import` is 'module:function' of an update kernel Numba can call."""
    mod, fn = update_import.split(":")
    data = [a for a in arg_names if a not in wrt_names]
    states = [f"state_{p}" for p in wrt_names]
    call_args = ", ".join(f"{a}[i]" if a in data else a for a in arg_names)
    grads = ", ".join(f"g_{p}" for p in wrt_names)
    updates = "\n".join(f"        update(p_{k}, g_{p}, state_{p}, hyper, step)".replace(f"p_{k}", p)
                        for k, p in enumerate(wrt_names))
    sig = ", ".join(list(arg_names) + states + ["hyper", "order", "step0"])
    return (f"from {mod} import {fn} as update\n\n\n"
            f"def {name}({sig}):\n"
            f"    total = 0.0\n"
            f"    n = order.shape[0]\n"
            f"    for k in range(n):\n"
            f"        i = order[k]\n"
            f"        step = step0 + k\n"
            f"        loss, {grads} = {vjp_name}({call_args})\n"
            f"        total += loss\n"
            f"{updates}\n"
            f"    return total / max(n, 1)\n")
