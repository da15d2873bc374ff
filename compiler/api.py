"""Public API: `grad`, `value_and_grad` and the gradient function they return.

    dloss = grad(loss, wrt=("V1", "w"))   # or @grad, or grad(loss, wrt=2)
    gV1, gw = dloss(x, y, V1, w)
    print(dloss.source)                   # the generated adjoint, as Python source
    print(dloss.ir)                       # its SSA graph (forward and backward sweeps)

Guarantees: the source is read and checked when `grad` is called (unsupported syntax
raises then); names are resolved and code generated on the first call for each
combination of argument dtypes and ranks (a *specialisation*; shapes stay run-time
values). Arguments are normalised before dispatch: float and bool scalars become
float64, as do `wrt` arguments (an int included) and float arrays (C-contiguous);
integers that are not differentiated stay integers: int scalars become int64 (a label,
an index, a count), integer arrays int64, bool arrays stay bool (masks). So `2.0`,
`np.float32(2)` and lists of floats share one specialisation; `2` for an argument not
in `wrt` is an int64 one.
"""
from __future__ import annotations

import functools
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .codegen import epoch_source, function_source, module_source
from .diff import reverse
from .errors import AdjointError, ArgumentError
from .frontend import lower, parse_function
from .frontend.lower import recording
from .ir.core import Graph, Type
from .passes import run_pipeline


@dataclass
class Specialization:
    """One compiled gradient: for arguments of the types in `key`."""

    key: tuple
    primal: Graph  # the user's computation graph
    graph: Graph  # forward and backward sweeps, after passes
    source: str  # the generated `def`
    module_source: str
    fn: object  # compiled (or plain Python) callable
    jit: bool
    compile_seconds: float | None = None  # first call: Numba compile or cache load
    cache_hit: bool | None = None


def _arg_type(a, as_float: bool):
    """(normalised argument, Type)."""
    if isinstance(a, np.ndarray):
        if a.dtype == np.float64 and a.flags.c_contiguous:
            return a, Type("float64", a.ndim)
        if as_float or a.dtype.kind == "f":
            return np.ascontiguousarray(a, dtype=np.float64), Type("float64", a.ndim)
        if a.dtype.kind in "iu":
            return np.ascontiguousarray(a, dtype=np.int64), Type("int64", a.ndim)
        if a.dtype.kind == "b":
            return np.ascontiguousarray(a), Type("bool", a.ndim)
        raise TypeError(f"arrays of dtype {a.dtype} are not supported")
    # Scalars become NumPy scalars, so the generated code computes with them as NumPy
    # does in both tiers (x / 0.0 is inf with a RuntimeWarning, not ZeroDivisionError)
    if isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)) and not as_float:
        return np.int64(a), Type("int64", 0)  # a label, an index, a count: stays an integer
    if isinstance(a, (bool, int, float, np.bool_, np.integer, np.floating)):
        return np.float64(a), Type("float64", 0)  # floats, bools, differentiated ints
    if isinstance(a, (list, tuple)):
        return _arg_type(np.asarray(a), as_float)
    raise TypeError(f"{type(a).__name__} is not an array or number")


_NDARRAY, _F64, _NP_F64 = np.ndarray, np.dtype(np.float64), np.float64


def _snapshot(value):
    """What of a captured array the generated code depends on (None: not an array)."""
    if type(value) is not _NDARRAY:
        return None
    return value.shape, value.dtype, value.tobytes()


def _fast_key(args):
    """A cheap key for arguments that `_arg_type` passes through unchanged: a float64
    C-contiguous ndarray gives its rank, a float (Python or np.float64) -1; None when any
    argument is something else. The per-call fast path of `GradFunction.__call__` (about
    0.5 µs for six arguments instead of several µs for `normalize`)."""
    key = []
    for a in args:
        t = type(a)
        if t is _NDARRAY and a.dtype is _F64 and a.flags.c_contiguous:
            key.append(a.ndim)
        elif t is float or t is _NP_F64:
            key.append(-1)
        else:
            return None
    return tuple(key)


class GradFunction:
    """The gradient (or value and gradient) of `fn` with respect to `wrt`.

    Call it like `fn`. Returns the gradient with the shape and dtype (float64) of its
    argument: one array/float for one `wrt` entry, a tuple in `wrt` order for several;
    `(value, grads)` for `value_and_grad`. Raises `AdjointError` subclasses for
    unsupported code (at the user's line) and `ArgumentError` for bad arguments."""

    def __init__(self, fn, wrt=0, *, with_value=False, jit=True):
        self.fn = fn
        self.fs = parse_function(fn)
        self.arg_names = tuple(self.fs.params)
        self.single = isinstance(wrt, (int, str))
        entries = (wrt,) if self.single else tuple(wrt)
        if not entries:
            raise ArgumentError("wrt is empty; name at least one argument")
        self.wrt = tuple(self._index(w) for w in entries)
        if len(set(self.wrt)) != len(self.wrt):
            raise ArgumentError(f"wrt {entries!r} names an argument twice")
        self.wrt_names = tuple(self.arg_names[i] for i in self.wrt)
        self.with_value = with_value
        self.jit = jit
        self._specs: dict = {}
        self._fast: dict = {}  # _fast_key(args) -> compiled Specialization (see __call__)
        self._last: Specialization | None = None
        # what the generated code baked in: {Capture.key: (read, value, array snapshot)}
        self._captures: dict = {}
        functools.update_wrapper(self, fn)

    def _index(self, w):
        if isinstance(w, str):
            if w not in self.arg_names:
                raise ArgumentError(f"wrt={w!r}: {self.fs.node.name} has no argument {w!r} "
                                    f"(its arguments: {', '.join(self.arg_names)})",
                                    self.fs.loc(self.fs.node))
            return self.arg_names.index(w)
        if isinstance(w, int) and not isinstance(w, bool):
            if not -len(self.arg_names) <= w < len(self.arg_names):
                raise ArgumentError(f"wrt={w}: {self.fs.node.name} takes {len(self.arg_names)} "
                                    "arguments", self.fs.loc(self.fs.node))
            return w % len(self.arg_names)
        raise ArgumentError(f"wrt entries are argument names or indices, not {w!r}")

    # ---- calling -------------------------------------------------------------------
    def normalize(self, args):
        if len(args) != len(self.arg_names):
            raise ArgumentError(f"{self.fs.node.name} takes {len(self.arg_names)} arguments "
                                f"({', '.join(self.arg_names)}), got {len(args)}")
        out, key = [], []
        for i, a in enumerate(args):
            try:
                v, t = _arg_type(a, i in self.wrt)
            except TypeError as e:
                raise ArgumentError(f"argument {self.arg_names[i]!r}: {e}") from None
            out.append(v)
            key.append(t)
        return out, tuple(key)

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) < len(self.arg_names):
            args = self._bind(args, kwargs)
        try:
            return self._call(args)
        except AdjointError:
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError) as e:
            spec = self._last
            if spec is None:
                raise
            raise self._locate(spec, args, e) from e

    def _bind(self, args, kwargs):
        """Positional arguments from a call with keywords or defaults, as Python binds them."""
        import inspect
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as e:
            raise ArgumentError(f"{self.fs.node.name}(): {e}", self.fs.loc(self.fs.node)) from None
        bound.apply_defaults()
        return bound.args

    def _locate(self, spec, args, exc):
        """The user line a run-time failure comes from: rerun the same generated source
        as plain Python and map the failing line to the `# file:line: text` comment above
        it (codegen writes one per group of statements)."""
        import os
        import traceback

        from . import jit as jitmod
        from .errors import RunError
        from .ir.core import Loc
        what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        try:
            normed, _ = self.normalize(args)
            fn = getattr(jitmod.load(spec.module_source, False), spec.fn.__name__)
            fn(*normed)
        except Exception as e2:  # noqa: BLE001 - we only read its traceback
            frames = [f for f in traceback.extract_tb(e2.__traceback__)
                      if os.path.basename(f.filename).startswith("adjoint_")]
            if frames:
                lines = Path(frames[-1].filename).read_text().splitlines()
                for ln in reversed(lines[:frames[-1].lineno - 1]):
                    text = ln.strip()
                    if text.startswith("# ") and ".py:" in text and "sweep" not in text:
                        backward = text.startswith("# grad of ")
                        where, _, src = text.removeprefix("# grad of ").removeprefix("# ") \
                            .partition(": ")
                        fname, _, line = where.rpartition(":")
                        path = self.fs.file if os.path.basename(self.fs.file) == fname else fname
                        import linecache
                        raw = linecache.getline(path, int(line))
                        loc = Loc(path, int(line), len(raw) - len(raw.lstrip()), src)
                        sweep = "backward sweep (the gradient)" if backward else "forward sweep"
                        return RunError(f"{what} (in the {sweep} of {self.fs.node.name})", loc,
                                        "check the shapes of the arguments against this line")
        return RunError(f"{what} (in the generated code for {self.fs.node.name})",
                        self.fs.loc(self.fs.node), "check the shapes of the arguments")

    def _call(self, args):
        if self._captures and self._stale():
            self._invalidate()
        fast = _fast_key(args)
        spec = self._fast.get(fast) if fast is not None else None
        if spec is not None:  # already normalised (float64 C arrays, floats): skip normalize
            out = spec.fn(*args)
        else:
            normed, key = self.normalize(args)
            spec = self._specs.get(key) or self._specialize(key)
            if spec.compile_seconds is None:
                out = self._first_call(spec, normed)
            else:
                out = spec.fn(*normed)
            # Compiled code types a float and np.float64 alike, so these arguments may go
            # to spec.fn as they are next time (plain Python keeps normalize's floats).
            if fast is not None and spec.jit and key == tuple(
                    Type("float64", max(c, 0)) for c in fast):
                self._fast[fast] = spec
        grads = out[1] if self.single else tuple(out[1:])
        return (out[0], grads) if self.with_value else grads

    def _stale(self) -> bool:
        """Has anything the generated code baked in (a global or closure variable, an
        attribute of an object, a function's code or defaults, a custom rule) been
        rebound, or an array been changed in place (contents, shape or dtype), since?"""
        for read, value, snap in self._captures.values():
            now = read()
            if now is not value or snap is not None and _snapshot(now) != snap:
                return True
        return False

    def _invalidate(self):
        """Forget every specialisation: the next call regenerates with current values."""
        self._specs.clear()
        self._fast.clear()
        self._captures.clear()
        self.__dict__.pop("_epoch_loops", None)

    def specialize(self, *args) -> Specialization:
        """Generate (without calling) the gradient for arguments like `args`."""
        if self._captures and self._stale():
            self._invalidate()
        _, key = self.normalize(args)
        return self._specs.get(key) or self._specialize(key)

    def _specialize(self, key) -> Specialization:
        verify_each = bool(os.environ.get("ADJOINT_VERIFY"))
        with recording([]) as captures:  # custom rules are read by reverse mode
            primal = run_pipeline(lower(self.fs, key), verify_each=verify_each)
            graph = run_pipeline(reverse(primal, self.wrt), verify_each=verify_each)
        name = f"{self.fs.node.name}_value_and_grad"
        src, consts = function_source(graph, name)
        modsrc = module_source([src], consts)
        if "src" in os.environ.get("ADJOINT_DEBUG", "").split(","):
            print(f"--- ADJOINT_DEBUG=src {name}\n{modsrc}", file=sys.stderr)
        from . import jit as jitmod
        mod = jitmod.load(modsrc, self.jit)
        spec = Specialization(key, primal, graph, src, modsrc, getattr(mod, name), self.jit)
        for c in captures:
            self._captures.setdefault(c.key, (c.read, c.value, _snapshot(c.value)))
        self._specs[key] = spec
        self._last = spec
        return spec

    def _first_call(self, spec, args):
        t0 = time.perf_counter()
        try:
            out = spec.fn(*args)
        except Exception as e:
            if not spec.jit or not _is_numba_error(e):
                raise
            loc = self.fs.loc(self.fs.node)
            warnings.warn(f"{loc}: Numba could not compile the gradient of "
                          f"{self.fs.node.name} ({str(e).splitlines()[0]}); running it as plain "
                          "NumPy instead", RuntimeWarning, stacklevel=3)
            from . import jit as jitmod
            spec.fn = getattr(jitmod.load(spec.module_source, False), spec.fn.__name__)
            spec.jit = False
            out = spec.fn(*args)
        spec.compile_seconds = time.perf_counter() - t0
        if spec.jit:
            spec.cache_hit = bool(sum(spec.fn.stats.cache_hits.values()))
        return out

    # ---- inspection ----------------------------------------------------------------
    def _spec(self) -> Specialization:
        if self._last is None:
            raise AdjointError(
                f"the gradient of {self.fs.node.name} is generated for the dtypes and ranks "
                "of its arguments: call it once (or .specialize(*args)) before reading "
                ".source or .ir")
        return self._last

    @property
    def source(self) -> str:
        """The generated adjoint function (last specialisation), as Python source."""
        return self._spec().source

    @property
    def ir(self) -> Graph:
        """The SSA graph of the forward and backward sweeps; `str()` prints it."""
        return self._spec().graph

    @property
    def primal_ir(self) -> Graph:
        """The user's computation graph alone (forward sweep)."""
        return self._spec().primal

    @property
    def compile_info(self) -> dict:
        s = self._spec()
        return {"jit": s.jit, "compile_seconds": s.compile_seconds, "cache_hit": s.cache_hit}

    # ---- training ------------------------------------------------------------------
    def epoch_function(self, update_import: str, example_args, batched: bool = False,
                       jit: bool | None = None):
        """The generated training loops for `runtime.train` (see codegen/epoch.py).

        update_import: 'module:function' naming the optimiser's update kernel;
        example_args: the loss's arguments for one step (one example's rows, or a
        minibatch's rows when `batched`), to pick the specialisation; jit: None follows
        this gradient, False runs the loops as plain Python. Returns a namespace with
        `epoch` and `evaluate` (compiled in the gradient's module, so Numba caches them
        with it), `source` (their Python source) and `jit`."""
        from types import SimpleNamespace
        spec = self.specialize(*example_args)
        jit = spec.jit if jit is None else bool(jit)
        memo = self.__dict__.setdefault("_epoch_loops", {})  # generating source costs ms
        key = (spec.key, update_import, bool(batched), jit)
        if key in memo:
            return memo[key]
        name = f"{self.fs.node.name}_value_and_grad"
        graph_consts = function_source(spec.graph, name)[1]
        ep, ep_name, ev_name = epoch_source(self.fs.node.name, name, self.arg_names,
                                            self.wrt_names, update_import, batched, jit,
                                            module_globals=graph_consts)
        modsrc = module_source([spec.source, ep], graph_consts)
        from . import jit as jitmod
        mod = jitmod.load(modsrc, jit)
        memo[key] = SimpleNamespace(epoch=getattr(mod, ep_name), evaluate=getattr(mod, ev_name),
                                    source=ep, jit=jit)
        return memo[key]

    def __repr__(self):
        kind = "value_and_grad" if self.with_value else "grad"
        return f"<{kind} of {self.fs.node.name} wrt {', '.join(self.wrt_names)}>"


def _is_numba_error(e) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(e, NumbaError)


def grad(fn=None, wrt=0, *, jit=True):
    """Gradient of the scalar loss `fn` with respect to argument(s) `wrt`.

    fn: a Python function (defined in a file) returning a float64 scalar.
    wrt: an argument name or index, or a tuple of them (default: the first argument).
    jit: compile with Numba (default) or run the generated source as plain NumPy.
    Returns a `GradFunction`; usable as a bare decorator (`@grad`) or with arguments
    (`@grad(wrt="w")`). Raises `UnsupportedError`/`ArgumentError` (compiler.errors).
    Method: reverse-mode differentiation of the computation graph (the lecture's
    backpropagation: forward values f_i, backward values g_i = d loss / d f_i)."""
    if fn is None:
        return lambda f: GradFunction(f, wrt, jit=jit)
    return GradFunction(fn, wrt, jit=jit)


def value_and_grad(fn=None, wrt=0, *, jit=True):
    """Like `grad`, but calling it returns `(loss value, gradient(s))`."""
    if fn is None:
        return lambda f: GradFunction(f, wrt, with_value=True, jit=jit)
    return GradFunction(fn, wrt, with_value=True, jit=jit)
