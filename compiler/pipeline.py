"""The compiler driver: user function -> generated value-and-gradient module.

    lower -> passes -> reverse -> passes -> function_source -> module_source -> load

Guarantees: `generate` runs every stage for one specialisation key and returns what
each produced (`Generated`), with the line map of the module (module line -> user
`Loc` and phase) that run-time errors are located with, and every outside object the
code depends on (`captures`, for the staleness check of dispatch). Nothing is loaded
or compiled: `load` does that, as Numba-compiled (`jit=True`) or plain NumPy code.
`ADJOINT_VERIFY=1` verifies the IR after every pass; `ADJOINT_DEBUG=src` prints the
generated module to stderr.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from types import SimpleNamespace

from .codegen import epoch_source, function_source, module_source
from .diff import reverse
from .frontend import lower_with_aux, recording
from .ir.core import Graph
from .passes import ADJOINT_PIPELINE, run_pipeline


@dataclass(frozen=True, eq=False)
class Generated:
    """The output of every stage for one specialisation."""

    loss_name: str  # the user's function
    name: str  # of the generated function: `<loss>_value_and_grad`
    primal: Graph  # the user's computation graph, after passes
    graph: Graph  # forward and backward sweeps, after passes
    source: str  # the generated `def`
    consts: dict  # its module globals: {name: ConstArray}
    module_source: str
    line_map: dict  # module line number -> (Loc, phase 'primal' | 'adjoint')
    captures: list  # a `Capture` per outside object read (frontend/lower.py)
    aux_tree: object = None  # has_aux: the TreeDef of aux (its leaves follow the gradients)


def generate(fs, key: tuple, wrt: tuple, has_aux: bool = False) -> Generated:
    """Generate the value-and-gradient of the parsed function `fs` (frontend.source)
    for arguments of the `Type`s in `key` (a `pytree.TreeType` for a structured one),
    differentiated in the graph parameter positions `wrt` (leaves). With `has_aux`, `fs`
    returns `(loss, aux)` and the generated function returns the loss, the gradients,
    then aux's leaves. Raises AdjointError subclasses for code that cannot be
    differentiated."""
    verify_each = bool(os.environ.get("ADJOINT_VERIFY"))
    with recording([]) as captures:  # custom rules are read by reverse mode
        lowered, aux_tree = lower_with_aux(fs, key, has_aux)
        primal = run_pipeline(lowered, verify_each=verify_each)
        graph = run_pipeline(_with_aux(reverse(primal, wrt), primal), ADJOINT_PIPELINE, verify_each)
    return emit(fs, f"{fs.node.name}_value_and_grad", primal, graph, captures, aux_tree)


def emit(fs, name, primal: Graph, graph: Graph, captures, aux_tree=None) -> Generated:
    """The `Generated` of `graph` as the function `name` (its source, module and line
    map), for the user's parsed function `fs` (compiler/transforms.py uses it too)."""
    src, consts, source_map = function_source(graph, name)
    modsrc, (start,) = module_source([src], consts)
    if "src" in os.environ.get("ADJOINT_DEBUG", "").split(","):
        print(f"--- ADJOINT_DEBUG=src {name}\n{modsrc}", file=sys.stderr)
    line_map = {start - 1 + line: where for line, where in source_map.items()}
    return Generated(fs.node.name, name, primal, graph, src, consts, modsrc, line_map, captures,
                     aux_tree)


def _with_aux(adjoint: Graph, primal: Graph) -> Graph:
    """The adjoint graph also returning the primal's results after the loss (has_aux)."""
    if len(primal.results) == 1:
        return adjoint
    return adjoint.replace(results=adjoint.results + primal.results[1:],
                           result_names=adjoint.result_names + primal.result_names[1:])


def load(module_src: str, name: str, jit: bool):
    """The function `name` of the generated module, compiled lazily by Numba on its
    first call when `jit` (compiler/jit.py: cached across processes), else plain NumPy.
    Raises CacheError if the cache directory is unsafe."""
    from . import jit as jitmod
    return getattr(jitmod.load(module_src, jit), name)


def epoch_module_source(gen: Generated, arg_names, wrt_names, update_import: str,
                        batched: bool, jit: bool) -> tuple[str, str, str, str]:
    """(module source, the loops' source, epoch function name, evaluate function name)
    of the training loops around `gen` (codegen/epoch.py); `jit` picks the compiled
    update kernel or its plain-Python form. Nothing is loaded."""
    ep, ep_name, ev_name = epoch_source(gen.loss_name, gen.name, arg_names, wrt_names,
                                        update_import, batched, jit,
                                        module_globals=gen.consts, graph=gen.graph)
    modsrc, _ = module_source([gen.source, ep], gen.consts)
    return modsrc, ep, ep_name, ev_name


def epoch_module(gen: Generated, arg_names, wrt_names, update_import: str, batched: bool,
                 jit: bool) -> SimpleNamespace:
    """The training loops of `runtime.train` around the generated gradient `gen`
    (codegen/epoch.py), in one module with it so Numba caches them together. Returns a
    namespace with `epoch`, `evaluate`, `source` (the loops' source) and `jit`."""
    from . import jit as jitmod
    modsrc, ep, ep_name, ev_name = epoch_module_source(gen, arg_names, wrt_names,
                                                       update_import, batched, jit)
    mod = jitmod.load(modsrc, jit)
    return SimpleNamespace(epoch=getattr(mod, ep_name), evaluate=getattr(mod, ev_name),
                           source=ep, jit=jit)
