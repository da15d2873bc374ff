"""Dispatch: which generated function serves a call, and whether it is still valid.

Guarantees:
- One `Specialization` per key (the argument dtypes and ranks, `arguments.normalize`),
  generated on first use and kept until invalidated.
- The per-call fast path: arguments that normalisation would pass through unchanged
  (float64 C-contiguous arrays, floats; `arguments.fast_key`) go straight to a compiled
  specialisation registered for their fast key, without `normalize`. Compiled code
  types a float and an np.float64 alike, so only compiled specialisations are
  registered (the NumPy tier keeps normalize's np.float64 scalars).
- Staleness: before every call, everything the generated code baked in (a global or
  closure variable, an attribute of an object, a function's code or defaults, a custom
  rule, an array's contents, shape and dtype) is compared with its current value; any
  change forgets every specialisation, so the next call regenerates.
- Tiers: a specialisation holds the generated module's NumPy-tier function
  (`numpy_fn`, loaded when first needed) and, when compiled, its Numba function
  (`compiled_fn`); `fn` is the one serving calls. If Numba cannot compile it, one
  `RuntimeWarning` names the function and calls are served by the NumPy tier.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import pipeline
from .arguments import Arguments, fast_key, fast_key_matches
from .ir.core import Graph
from .locate import run_error


@dataclass(eq=False)
class Specialization:
    """The generated gradient for arguments of the types in `key`, and its tiers."""

    key: tuple
    generated: pipeline.Generated
    fn: object  # the callable serving calls: compiled_fn, or numpy_fn
    jit: bool  # fn is the compiled tier
    compiled_fn: object = None  # a Numba dispatcher (compiles on its first call)
    numpy_fn: object = None  # the same module as plain NumPy; see numpy_tier()
    compile_seconds: float | None = None  # first call: Numba compile or cache load
    cache_hit: bool | None = None

    @property
    def primal(self) -> Graph:  # the user's computation graph
        return self.generated.primal

    @property
    def graph(self) -> Graph:  # forward and backward sweeps, after passes
        return self.generated.graph

    @property
    def source(self) -> str:  # the generated `def`
        return self.generated.source

    @property
    def module_source(self) -> str:
        return self.generated.module_source

    def numpy_tier(self):
        """The generated function as plain NumPy (loaded on first use)."""
        if self.numpy_fn is None:
            g = self.generated
            self.numpy_fn = pipeline.load(g.module_source, g.name, False)
        return self.numpy_fn


def _snapshot(value):
    """What of a captured array the generated code depends on (None: not an array)."""
    if type(value) is not np.ndarray:
        return None
    return value.shape, value.dtype, value.tobytes()


def _is_numba_error(e) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(e, NumbaError)


class Dispatcher:
    """The specialisations of one gradient function and the choice among them."""

    def __init__(self, arguments: Arguments, jit: bool):
        self.arguments, self.jit = arguments, jit
        self.specs: dict = {}  # key -> Specialization
        self.fast: dict = {}  # fast_key(args) -> compiled Specialization
        self.last: Specialization | None = None  # the one generated last
        # what the generated code baked in: {Capture.key: (read, value, array snapshot)}
        self.captured: dict = {}
        self.epoch_loops: dict = {}  # (key, update, batched, jit) -> pipeline.epoch_module

    def call(self, args):
        """Run the generated function on positional `args`: (loss, *gradients in wrt
        order). Raises ArgumentError for bad arguments, AdjointError subclasses for code
        that cannot be differentiated, and what NumPy or Numba raise at run time."""
        if self.captured and self.stale():
            self.invalidate()
        fast = fast_key(args)
        spec = self.fast.get(fast) if fast is not None else None
        if spec is not None:  # already normalised (float64 C arrays, floats)
            return spec.fn(*args)
        normed, key = self.arguments.normalize(args)
        spec = self.specs.get(key) or self.specialize(key)
        out = self._first_call(spec, normed) if spec.compile_seconds is None else spec.fn(*normed)
        if fast is not None and spec.jit and fast_key_matches(fast, key):
            self.fast[fast] = spec
        return out

    def for_args(self, args) -> Specialization:
        """The specialisation for arguments like `args`, generated if new (not called)."""
        if self.captured and self.stale():
            self.invalidate()
        key = self.arguments.normalize(args)[1]
        return self.specs.get(key) or self.specialize(key)

    def specialize(self, key) -> Specialization:
        """Generate and load the specialisation for `key` (compiled lazily on first call)."""
        a = self.arguments
        gen = pipeline.generate(a.fs, key, a.wrt)
        fn = pipeline.load(gen.module_source, gen.name, self.jit)
        spec = Specialization(key, gen, fn, self.jit)
        if self.jit:
            spec.compiled_fn = fn
        else:
            spec.numpy_fn = fn
        for c in gen.captures:
            self.captured.setdefault(c.key, (c.read, c.value, _snapshot(c.value)))
        self.specs[key] = spec
        self.last = spec
        return spec

    def _first_call(self, spec, args):
        """Call a new specialisation: Numba compiles (or loads its cache) now; if it
        cannot, warn and switch the specialisation to its NumPy tier."""
        t0 = time.perf_counter()
        try:
            out = spec.fn(*args)
        except Exception as e:
            if not spec.jit or not _is_numba_error(e):
                raise
            fs = self.arguments.fs
            warnings.warn(f"{fs.loc(fs.node)}: Numba could not compile the gradient of "
                          f"{fs.node.name} ({str(e).splitlines()[0]}); running it as plain "
                          "NumPy instead", RuntimeWarning, stacklevel=3)
            spec.fn, spec.jit = spec.numpy_tier(), False
            out = spec.fn(*args)
        spec.compile_seconds = time.perf_counter() - t0
        if spec.jit:
            spec.cache_hit = bool(sum(spec.fn.stats.cache_hits.values()))
        return out

    def stale(self) -> bool:
        """Has anything the generated code baked in been rebound, or an array been
        changed in place (contents, shape or dtype), since it was generated?"""
        for read, value, snap in self.captured.values():
            now = read()
            if now is not value or snap is not None and _snapshot(now) != snap:
                return True
        return False

    def invalidate(self):
        """Forget every specialisation: the next call regenerates with current values."""
        self.specs.clear()
        self.fast.clear()
        self.captured.clear()
        self.epoch_loops.clear()

    def run_error(self, args, exc):
        """The RunError for `exc`, raised by the generated code called with `args`, at
        the user line it comes from (compiler/locate.py); None if `exc` did not come from
        running generated code (no specialisation exists for `args`)."""
        normed, key = self.arguments.normalize(args)
        spec = self.specs.get(key)
        if spec is None:
            return None
        return run_error(spec, exc, normed, self.arguments.fs)
