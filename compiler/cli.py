"""`python -m compiler`: inspect, draw, check and compile the gradient of a function.

    python -m compiler show    FILE.py:FUNC [--wrt a,b] [--ir]
    python -m compiler graph   FILE.py:FUNC (--args ARGS.npz | --example) [-o OUT.svg]
                               [--adjoint] [--iteration K | --unroll] [--collapse | --depth K]
    python -m compiler check   FILE.py:FUNC (--args ARGS.npz | --example) [--wrt a,b]
    python -m compiler compile FILE.py:FUNC [--sig "f64[:] f64[:] f64" | --args | --example]

Guarantees: FILE is imported as a module (its directory first on sys.path, so its own
imports work) and FUNC is looked up in it. Argument values come from an .npz or .json
file keyed by argument name (`--args`) or from the file's `EXAMPLES["FUNC"]` (a dict
by name, a tuple in order, or a function returning either; `--example`). A problem in
the user's file (syntax error, unsupported construct, bad argument, a NumPy error at a
line) prints `file:line:col: message`, the line and a caret to stderr and exits with
status 1, without a Python traceback (`--traceback` shows one); a failed gradient
check exits 1; a usage error exits 2 (argparse).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
import traceback

import numpy as np

from .errors import AdjointError

EXIT_USER = 1


class CliError(Exception):
    """A problem with the command's inputs (file, function, arguments); message only."""


# ---- loading the user's function and arguments -------------------------------------
def load_function(target: str):
    """'FILE.py:FUNC' -> (the Python function, its module). Raises CliError/SyntaxError
    and whatever the module raises while it is imported."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise CliError(f"{target!r}: expected FILE.py:FUNC, e.g. examples/model.py:loss")
    if not os.path.isfile(path):
        raise CliError(f"{path}: no such file")
    path = os.path.abspath(path)
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    modname = stem if stem not in sys.modules else f"_adjoint_cli_{stem}"
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    from .api import GradFunction
    fn = getattr(mod, name, None)
    if isinstance(fn, GradFunction):  # decorated with @grad / @value_and_grad
        fn = fn.fn
    if not callable(fn) or not hasattr(fn, "__code__"):
        funcs = sorted(k for k, v in vars(mod).items()
                       if callable(v) and getattr(v, "__module__", None) == modname)
        what = (f"no function {name!r}" if fn is None
                else f"{name!r} is a {type(fn).__name__}, not a Python function")
        raise CliError(f"{target.rpartition(':')[0]}: {what} "
                       f"(functions defined there: {', '.join(funcs) or 'none'})")
    return fn, mod


def _ordered(values, names, where):
    if callable(values):
        values = values()
    if isinstance(values, dict):
        missing = [n for n in names if n not in values]
        extra = [k for k in values if k not in names]
        if missing or extra:
            raise CliError(f"{where}: " + "; ".join(
                s for s in (missing and f"missing {', '.join(missing)}",
                            extra and f"unknown {', '.join(map(str, extra))}") if s)
                + f" (the function's arguments: {', '.join(names)})")
        return [values[n] for n in names]
    if isinstance(values, (list, tuple)):
        if len(values) != len(names):
            raise CliError(f"{where}: {len(values)} values for {len(names)} arguments "
                           f"({', '.join(names)})")
        return list(values)
    raise CliError(f"{where}: expected a dict by argument name or a tuple, "
                   f"not {type(values).__name__}")


def load_args(path: str, names) -> list:
    """Argument values from an .npz (np.savez(path, w=..., y=...)) or .json object keyed
    by argument name; 0-d arrays become scalars. Raises CliError naming what is missing."""
    if not os.path.isfile(path):
        raise CliError(f"{path}: no such file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            d = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
    elif ext == ".json":
        with open(path) as fh:
            d = json.load(fh)
    else:
        raise CliError(f"{path}: --args takes an .npz or .json file keyed by argument name")
    return _ordered(d, list(names), path)


def example_args(mod, func: str, names) -> list:
    ex = getattr(mod, "EXAMPLES", None)
    if not isinstance(ex, dict) or func not in ex:
        raise CliError(f"{mod.__file__}: --example needs a module-level EXAMPLES dict with an "
                       f"entry {func!r} (argument values by name), or pass --args ARGS.npz")
    return _ordered(ex[func], list(names), f"EXAMPLES[{func!r}]")


_SIG = re.compile(r"\s*(f64|float64|i64|int64|bool)\s*(\[[\s:,]*\])?\s*,?")
_SIG_DTYPE = {"f64": np.float64, "float64": np.float64, "i64": np.int64, "int64": np.int64,
              "bool": np.bool_}


def sig_args(sig: str, names) -> list:
    """'f64[:] f64[:,:] f64' -> arrays of ones with those dtypes and ranks (the
    specialisation depends on dtype and rank only)."""
    out, pos = [], 0
    while pos < len(sig.strip()):
        m = _SIG.match(sig, pos)
        if not m or m.end() == pos:
            raise CliError(f"--sig {sig!r}: cannot read {sig[pos:]!r}; write one type per "
                           "argument: f64, f64[:], f64[:,:], i64[:], bool[:]")
        rank = 0 if not m.group(2) else m.group(2).count(":")
        out.append(np.ones((1,) * rank, dtype=_SIG_DTYPE[m.group(1)]))
        pos = m.end()
    if len(out) != len(names):
        raise CliError(f"--sig gives {len(out)} types for {len(names)} arguments "
                       f"({', '.join(names)})")
    return out


def _wrt(text):
    if text is None:
        return 0
    items = [w.strip() for w in text.split(",") if w.strip()]
    items = [int(w) if re.fullmatch(r"-?\d+", w) else w for w in items]
    return items[0] if len(items) == 1 else tuple(items)


def _setup(a, jit=False, need_values=False):
    """(GradFunction, argument values or None, module)."""
    from .api import GradFunction
    fn, mod = load_function(a.target)
    g = GradFunction(fn, _wrt(a.wrt), jit=jit)
    names = g.arg_names
    func = a.target.rpartition(":")[2]
    if getattr(a, "args", None):
        return g, load_args(a.args, names), mod
    if getattr(a, "example", False):
        return g, example_args(mod, func, names), mod
    if getattr(a, "sig", None):
        return g, sig_args(a.sig, names), mod
    if need_values:
        raise CliError("this command needs argument values: --args ARGS.npz or --example")
    ex = getattr(mod, "EXAMPLES", None)
    if isinstance(ex, dict) and func in ex:
        return g, example_args(mod, func, names), mod
    print(f"note: no --sig/--args/--example: assuming every argument of {func} is a float64 "
          "scalar (the generated code depends on argument ranks)", file=sys.stderr)
    return g, [1.0] * len(names), mod


def _specialize(g, args):
    from .errors import ShapeError
    try:
        return g.specialize(*args)
    except ShapeError as e:
        if all(isinstance(x, float) for x in args):  # the scalar guess of _setup
            e.args = (f"{e}\nhint: scalars were assumed; give one type per argument "
                      f"({', '.join(g.arg_names)}) with --sig, e.g. --sig \"f64[:] f64[:,:] f64\"",)
        raise


# ---- subcommands ---------------------------------------------------------------------
def cmd_show(a) -> int:
    g, args, _ = _setup(a)
    spec = _specialize(g, args)
    if a.ir:
        print("# SSA graph: forward sweep, then backward sweep ([adj])")
        print(spec.graph)
        print()
    print(spec.source, end="")
    return 0


def cmd_graph(a) -> int:
    from .graphview import INSTALL_HINT, dot_available, graph_view
    g, args, _ = _setup(a, need_values=True)
    try:
        view = graph_view(g, *args, adjoint=a.adjoint, max_elements=a.max_elements,
                          iteration=a.iteration, unroll=a.unroll, collapse=a.collapse,
                          depth=a.depth)
    except ValueError as e:  # an iteration the loop did not run, a loop too long to unroll
        raise CliError(str(e)) from None
    out = a.output
    if out is None:
        out = f"{g.fs.node.name}{'_adjoint' if a.adjoint else ''}" + (
            ".svg" if dot_available() else ".dot")
        if not dot_available():
            print(f"note: Graphviz's `dot` is not installed, writing DOT only; {INSTALL_HINT}",
                  file=sys.stderr)
    if out == "-":
        sys.stdout.write(view.dot)
        return 0
    view.save(out)
    if not a.quiet:
        print(view.text(), end="")
    print(f"wrote {out} ({len(view.nodes)} nodes)")
    return 0


def cmd_check(a) -> int:
    from runtime.check import check_grad
    g, args, _ = _setup(a, jit=not a.no_jit, need_values=True)
    normed, _ = g.normalize(args)
    checks = check_grad(g.fn, normed, g.wrt_names[0] if g.single else g.wrt_names,
                        grad_fn=g, eps=a.eps, details=True)
    value = float(g.fn(*normed))
    print(f"{g.fs.node.name}: loss = {value:.6g}; gradient vs central differences "
          f"(eps {a.eps:g}), max_k (|g_k - fd_k| - resolution_k) / max |g|, per argument "
          "(runtime/check.py):")
    width = max(len(n) for n in checks)
    bad = False
    for n, c in checks.items():
        ok = c.error <= a.tol
        bad |= not ok
        print(f"  {n.ljust(width)}  {c.error:.3e}  {'ok' if ok else f'FAILED (tolerance {a.tol:g})'}")
        where = f"{n}[{', '.join(map(str, c.index))}]" if c.index else n
        print(f"  {' ' * width}  worst entry {where}: ours {c.ours:.10g}, finite differences "
              f"{c.fd:.10g} (their resolution {c.resolution:.1e})")
        if c.scale and c.resolution > a.tol * c.scale:
            print(f"  {' ' * width}  note: the differences resolve only {c.resolution / c.scale:.1e}"
                  " of the gradient's size here, above the tolerance: try another --eps")
    return EXIT_USER if bad else 0


def cmd_compile(a) -> int:
    from . import jit as jitmod
    g, args, _ = _setup(a, jit=True)
    spec = _specialize(g, args)
    import numba
    normed, _ = g.normalize(args)
    path = jitmod.write_source(spec.module_source)
    t0 = time.perf_counter()
    try:
        spec.fn.compile(tuple(numba.typeof(x) for x in normed))
    except numba.core.errors.NumbaError as e:
        loc = g.fs.loc(g.fs.node)
        raise AdjointError(f"Numba could not compile the gradient of {g.fs.node.name}: "
                           f"{str(e).splitlines()[0]}", loc,
                           "it still runs as plain NumPy (jit=False)") from None
    dt = time.perf_counter() - t0
    hit = bool(sum(spec.fn.stats.cache_hits.values()))
    params = ", ".join(f"{n}: {p.type}" for n, p in zip(g.arg_names, spec.graph.params))
    print(f"compiled {spec.fn.__name__}({params}) in {dt:.2f} s "
          f"({'loaded from Numba cache' if hit else 'new compile, now cached'})")
    print(f"source: {path}")
    print(f"numba cache: {path.parent / '__pycache__'}")
    return 0


# ---- argument parsing and error reporting --------------------------------------------
def _add_common(p, values: str):
    p.add_argument("target", metavar="FILE.py:FUNC", help="the loss function: a file and a "
                   "function defined in it")
    p.add_argument("--wrt", metavar="A,B", help="arguments to differentiate, by name or "
                   "index, comma-separated (default: the first argument)")
    src = p.add_mutually_exclusive_group(required=values == "required")
    src.add_argument("--args", metavar="ARGS.npz", help="argument values: an .npz "
                     "(np.savez(path, w=..., y=...)) or .json object keyed by argument name")
    src.add_argument("--example", action="store_true", help="argument values from the "
                     "file's EXAMPLES['FUNC'] (a dict by name, a tuple, or a function)")
    if values == "types":
        src.add_argument("--sig", metavar="TYPES", help='argument types, in order, e.g. '
                         '"f64[:] f64[:,:] f64" (f64, i64, bool; [:] per axis)')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m compiler", description=(
        "adjoint: reverse-mode gradients of NumPy functions as readable, compiled source."),
        epilog="Environment: ADJOINT_DEBUG=ir,src prints the IR after each compiler pass "
        "and the generated module to stderr; ADJOINT_CACHE_DIR sets the cache directory.")
    p.add_argument("--traceback", action="store_true", help="show Python tracebacks for "
                   "errors (for compiler developers)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("show", help="print the generated adjoint source (--ir: and the SSA "
                       "graph)", description="Print the generated value-and-gradient "
                       "function. The code depends on argument dtypes and ranks: give them "
                       "with --sig, --args or --example (default: the file's EXAMPLES entry, "
                       "else float64 scalars).")
    _add_common(s, "types")
    s.add_argument("--ir", action="store_true", help="also print the SSA graph (forward and "
                   "backward sweeps) as text")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("graph", help="draw the computation graph with forward values f_i "
                       "and backward values g_i", description="Write the computation graph, "
                       "each node annotated with its op, shape, forward value f_i and backward "
                       "value g_i = d loss / d f_i. The output format follows the suffix of "
                       "-o: .dot (always), .svg or .png (need Graphviz's `dot`).")
    _add_common(s, "required")
    s.add_argument("-o", "--output", metavar="OUT", help="output file (.dot, .svg, .png) or "
                   "'-' for DOT on stdout (default: FUNC.svg, or FUNC.dot without Graphviz)")
    s.add_argument("--adjoint", action="store_true", help="draw the generated forward and "
                   "backward sweeps instead of the user's graph")
    s.add_argument("--max-elements", type=int, default=6, metavar="N", help="print arrays of "
                   "at most N elements in full, larger ones as shape and norm (default 6)")
    s.add_argument("--iteration", type=int, default=-1, metavar="K", help="show the values "
                   "of iteration K of each loop (counting from 0; negative from the end; "
                   "default -1, the last)")
    s.add_argument("--unroll", action="store_true", help="draw every iteration of each loop "
                   "(at most 8), with the carried cotangent on each edge between iterations")
    fold = s.add_mutually_exclusive_group()
    fold.add_argument("--collapse", action="store_true", help="draw each call of your own "
                      "functions as one node (its outputs' f and g)")
    fold.add_argument("--depth", type=int, default=None, metavar="K", help="draw calls up to "
                      "K deep op by op, fold deeper ones into one node each (0: as --collapse)")
    s.add_argument("-q", "--quiet", action="store_true", help="do not print the node table")
    s.set_defaults(func=cmd_graph)

    s = sub.add_parser("check", help="compare the gradient with central finite differences",
                       description="Run the gradient and central finite differences on the "
                       "given arguments and print, per argument, the largest difference beyond "
                       "the differences' own error, relative to the gradient's size, and the "
                       "entry where it occurs; exit 1 if one exceeds --tol.")
    _add_common(s, "required")
    s.add_argument("--tol", type=float, default=1e-5, help="largest accepted relative error "
                   "(default 1e-5)")
    s.add_argument("--eps", type=float, default=1e-6, help="finite-difference step, relative "
                   "(default 1e-6)")
    s.add_argument("--no-jit", action="store_true", help="check the plain NumPy version "
                   "(no Numba compile)")
    s.set_defaults(func=cmd_check)

    s = sub.add_parser("compile", help="compile ahead of time into the cache",
                       description="Generate the gradient, compile it with Numba into the "
                       "cache (ADJOINT_CACHE_DIR) and print the cache path and compile time; a "
                       "later program calling the same gradient loads it from there.")
    _add_common(s, "types")
    s.set_defaults(func=cmd_compile)
    return p


def _user_error(e: BaseException, files: set) -> str:
    """One-line location + message for an exception raised in the user's code."""
    if isinstance(e, SyntaxError):
        head = f"{e.filename}:{e.lineno}:{e.offset or 0}: SyntaxError: {e.msg}"
        if e.text:
            col = max((e.offset or 1) - 1, 0)
            return f"{head}\n    {e.text.rstrip()}\n    {' ' * col}^"
        return head
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename in files]
    msg = f"{type(e).__name__}: {e}"
    if frames:
        f = frames[-1]
        return f"{f.filename}:{f.lineno}: {msg}\n    {(f.line or '').strip()}"
    return f"error: {msg}"


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 error in the user's code or
    a failed check, 2 usage error)."""
    parser = build_parser()
    a = parser.parse_args(argv)
    from .graphview import GraphvizNotFound
    try:
        return a.func(a)
    except BrokenPipeError:  # `python -m compiler show ... | head`
        return 0
    except Exception as e:  # noqa: BLE001 -- reported without a traceback
        if a.traceback:
            raise
        if isinstance(e, AdjointError):
            err = str(e)  # already file:line:col, the line and a caret
        elif isinstance(e, (CliError, GraphvizNotFound)):
            err = f"error: {e}"
        else:  # the user's code or NumPy raised: point at the user's line
            path = a.target.rpartition(":")[0]
            err = _user_error(e, {os.path.abspath(path)} if path else set())
    print(err, file=sys.stderr)
    return EXIT_USER
