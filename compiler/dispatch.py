"""Dispatch: which generated function serves a call, and whether it is still valid.

Guarantees:
- One `Specialization` per key (the argument dtypes and ranks, `arguments.normalize`),
  generated on first use and kept until invalidated.
- Tiers (`jit`): each specialisation holds the generated module's NumPy-tier function
  (`numpy_fn`) and its Numba-compiled one (`compiled_fn`); `fn` is the one serving
  calls. `jit=True` compiles on the first call, before it returns; `jit=False` never
  compiles; `jit="auto"` serves the first call from the NumPy tier at once and
  submits the compile to the background worker (compiler/background.py), and the
  first call after it is ready switches `fn` to the compiled tier. If Numba cannot
  compile it (either way), one `RuntimeWarning` names the user's function (file:line)
  and the first line of Numba's error, and calls stay on the NumPy tier.
- The per-call fast path: arguments that normalisation would pass through unchanged
  (float64 C-contiguous arrays, floats; `arguments.fast_key`) go straight to a compiled
  specialisation registered for their fast key, without `normalize`. Compiled code
  types a float and an np.float64 alike, so only compiled specialisations are
  registered (the NumPy tier keeps normalize's np.float64 scalars); the fast path is
  the same whatever the mode.
- The direct path, in front of it: a compiled specialisation registered for the fast
  path gets a clone of its Numba dispatcher that never compiles, behind a generated
  guard (`Specialization.direct_fn`): what its code baked in unchanged (the staleness
  check below, for this specialisation), every argument of an exact type (ndarray,
  float or np.float64, int or np.int64), and for a loss that writes into an argument
  `check_unshared_flat`. After a fast-path call of it, calls go there first. Numba
  matches a call only to a signature with exactly its argument types (dtype, rank, C
  layout, writability; a Python int is int64, not float64), which are the types
  normalisation passes through unchanged; any other call raises `Miss` and takes the
  paths above. It saves `fast_key` and the dictionary look-up (about 0.8 µs a call).
  `on_direct` hears when it changes: `GradFunction` then calls `entry_fn`'s function,
  the same guard and clone with its result packing, in one Python frame.
- Staleness: before every call, everything the generated code baked in (a global or
  closure variable, an attribute of an object, a function's code or defaults, a custom
  rule, an array's contents, shape and dtype) is compared with its current value; any
  change forgets every specialisation, so the next call regenerates.
"""
from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from . import background, pipeline
from .errors import AdjointError, ArgumentError
from .arguments import Arguments, fast_key, fast_key_matches, layout_check
from .passes.stores import writes_into
from .ir.core import Graph, Type
from .locate import run_error


# what running generated code may raise, reported at the user's line (Dispatcher.reraise);
# MemoryError: the tape bound (locate.py; any other MemoryError is re-raised)
RUN_ERRORS = (ValueError, IndexError, TypeError, ZeroDivisionError, FloatingPointError,
              OverflowError, MemoryError)


class Miss(Exception):
    """A direct dispatcher (Specialization.direct_fn) has no compiled signature with
    exactly the Numba types of a call's arguments: the call takes the normal path."""


def _miss(*args, **kwargs):
    raise Miss


@dataclass(eq=False)
class Specialization:
    """The generated gradient for arguments of the types in `key`, and its tiers."""

    key: tuple
    generated: pipeline.Generated
    fn: object  # the callable serving calls: compiled_fn, or numpy_fn
    jit: bool  # fn is the compiled tier
    compiled_fn: object = None  # a Numba dispatcher (compiles on its first call)
    numpy_fn: object = None  # the same module as plain NumPy; see numpy_tier()
    compile_seconds: float | None = None  # Numba compile or cache load (here or in the worker)
    cache_hit: bool | None = None
    first_call: float | None = None  # time.perf_counter() of the first call
    tier: str | None = None  # which tier served the last call: "numpy" or "compiled"
    job: object = None  # the pending background compile (jit="auto"), a background.Job
    ready_seconds: float | None = None  # compiled tier ready, seconds after the first call
    compile_error: str | None = None  # why Numba could not compile it (first line)
    regroup: object = None  # structured arguments or has_aux: Arguments.regrouper's function
    written: tuple = ()  # positions of the (leaf) arguments the loss writes into
    direct: object = None  # direct_fn's function, made when registered for the fast path
    _clone: object = None  # the never-compiling clone of compiled_fn (direct_fn)
    _captured_arrays: list | None = None  # captured_arrays(), computed once

    def direct_fn(self, stale):
        """The direct path's function (module docstring): a second Numba dispatcher over
        the compiled tier's machine code (its signatures so far) that never compiles,
        behind a generated guard that (1) what this specialisation's code baked in is
        unchanged (identity of captured functions and objects, in line; `stale()`, the
        dispatcher's full check, when it captured arrays or numbers) and (2) each
        argument is of an exact type: an ndarray (Numba types an ndarray subclass,
        np.matrix or a masked array, as the array it views; normalisation refuses or
        converts them), a float or np.float64, an int within int64 or np.int64 (Numba
        cannot type some objects at all, an empty list or a larger int: they must reach
        normalisation).
        A call whose argument types then match a signature exactly runs at Numba's own
        dispatch cost; anything else raises `Miss`. The compiled tier itself still
        compiles new signatures (a read-only array) when the normal path asks."""
        if self.direct is None:
            guard, scope = self._guard(stale)
            args = ", ".join(f"a{i}" for i in range(len(self.key)))
            lines = [f"def direct({args}):", f"    if {guard}:"]
            if self.written:  # a loss that writes into an argument: not into shared memory
                lines.append(f"        check(({args},))")
            lines += [f"        return clone({args})", "    raise Miss"]
            exec("\n".join(lines), scope)  # noqa: S102 - generated from the key alone
            self.direct = scope["direct"]
        return self.direct

    def entry_fn(self, stale, pack: str, slow, after_miss, reraise):
        """A whole call of the user-facing function through the direct path, for
        `GradFunction` (one Python frame, no `Miss` raised through it):
        `entry(*args, **kwargs)` runs the clone of direct_fn behind the same guard on
        exactly len(key) positional arguments and returns `pack`, an expression of the
        compiled result `r` (the flat tuple: loss, gradients). A call of another form
        returns `slow(args, kwargs)`; one the guard or the clone refuses,
        `after_miss(args)` (the normal path, without trying this one again). What the
        guard or the code raises goes to `reraise(args, exc)`, as on the normal path."""
        guard, scope = self._guard(stale)  # (and the clone, made once per specialisation)
        scope.update(slow=slow, after_miss=after_miss, reraise=reraise, RUN_ERRORS=RUN_ERRORS)
        names = [f"a{i}" for i in range(len(self.key))]
        args = ", ".join(names)
        lines = ["def entry(*args, **kwargs):",
                 f"    if kwargs or len(args) != {len(names)}:",
                 "        return slow(args, kwargs)",
                 f"    {args}, = args",
                 "    r = None",
                 "    try:",
                 f"        if {guard}:"]
        if self.written:
            lines.append("            check(args)")
        lines += [f"            r = clone({args})",
                  "    except Miss:  # the normal path, outside this handler",
                  "        pass",
                  "    except RUN_ERRORS as e:",
                  "        reraise(args, e)",
                  "    if r is None:",
                  "        return after_miss(args)",
                  f"    return {pack}"]
        exec("\n".join(lines), scope)  # noqa: S102 - generated from the key alone
        return scope["entry"]

    def _guard(self, stale):
        """(guard expression over a0.., its scope) of direct_fn: see its docstring."""
        fn = self.compiled_fn
        if self._clone is None:
            clone = type(fn)(fn.py_func, fn.locals, fn.targetoptions)
            for cres in fn.overloads.values():
                clone.add_overload(cres)
            clone._compile_for_args = _miss  # what Numba calls on a miss: compile
            self._clone = clone
        scope = {"ND": np.ndarray, "clone": self._clone, "Miss": Miss, "stale": stale,
                 "check": self.check_unshared_flat, "NPF": np.float64, "NPI": np.int64}
        # exact types: what Numba could not type (an empty list) must miss too
        exact = {"float64": "type({0}) is float or type({0}) is NPF",
                 "int64": "type({0}) is NPI or type({0}) is int and "
                          "-9223372036854775808 <= {0} <= 9223372036854775807"}
        guard = [f"type(a{i}) is ND" if t.rank else
                 f"({exact.get(t.dtype, 'False').format(f'a{i}')})"
                 for i, t in enumerate(self.key)]
        captures = {c.key: c for c in self.generated.captures}.values()
        if any(_snapshot(c.value) is not None for c in captures):
            guard.insert(0, "not stale()")
        else:
            for i, c in enumerate(captures):
                scope[f"V{i}"] = c.value
                r = c.read  # a global's: functools.partial(globals.get, name, MISSING)
                if isinstance(r, functools.partial) and isinstance(
                        getattr(r.func, "__self__", None), dict) and r.func.__name__ == "get" \
                        and len(r.args) == 2 and not r.keywords:
                    scope[f"G{i}"], scope[f"K{i}"], scope[f"M{i}"] = r.func.__self__, *r.args
                    guard.insert(i, f"G{i}.get(K{i}, M{i}) is V{i}")
                else:
                    scope[f"R{i}"] = r
                    guard.insert(i, f"R{i}() is V{i}")
        return " and ".join(guard) or "True", scope

    def check_unshared(self, args, names):
        """A loss that writes into an argument works on its own copy of it; where another
        argument shares that memory (`f(a, a)`, `f(a, a[::-1])`), NumPy would see the
        write through both names: refused (ArgumentError) rather than computed
        differently. args: the caller's arguments (before normalisation, which may
        copy); their leaves are the graph's parameters, in order."""
        from .pytree import flatten
        leaves = [leaf for a in args for leaf in flatten(a)[0]]
        written = self.written if len(leaves) == len(names) else range(len(leaves))
        names = names if len(leaves) == len(names) else [f"#{k}" for k in range(len(leaves))]
        for i in written:
            a = leaves[i]
            if not isinstance(a, np.ndarray):
                continue
            for j, b in enumerate(leaves):
                if j != i and isinstance(b, np.ndarray) and np.shares_memory(a, b):
                    raise ArgumentError(
                        f"argument {names[i]!r}, which {self.generated.loss_name} writes into, "
                        f"shares memory with argument {names[j]!r}: in NumPy the write would "
                        f"change {names[j]!r} too, which adjoint does not follow",
                        hint=f"pass a copy: {names[i]}.copy()")
            for name, b in self.captured_arrays():
                if np.shares_memory(a, b):
                    raise ArgumentError(
                        f"argument {names[i]!r}, which {self.generated.loss_name} writes into, "
                        f"shares memory with {name!r}, an array it reads from outside (a "
                        f"global or closure variable): in NumPy the write would change "
                        f"{name!r} too, which adjoint does not follow",
                        hint=f"pass a copy: {names[i]}.copy()")

    def captured_arrays(self):
        """[(name, array)] of the arrays the generated code read from outside the loss."""
        if self._captured_arrays is None:
            self._captured_arrays = [(str(c.key[-1]), c.value) for c in self.generated.captures
                                     if isinstance(c.value, np.ndarray)]
        return self._captured_arrays

    def check_unshared_flat(self, args):
        """check_unshared on the fast path (args are the graph's parameters: arrays and
        numbers): one np.shares_memory per written array and other array, 0.2 µs each."""
        for i in self.written:
            if type(args[i]) is not np.ndarray:  # the direct path's arguments are unchecked
                continue  # (the call itself then takes the normal path)
            if self.captured_arrays():
                self.check_unshared(args, [p.hint for p in self.primal.params])
            for j, b in enumerate(args):
                if j != i and type(b) is np.ndarray and np.shares_memory(args[i], b):
                    self.check_unshared(args, [p.hint for p in self.primal.params])

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
    """What of a captured value the generated code depends on: an array's (any ndarray
    subclass's) shape, dtype and contents; a number's type and value (so a property that
    returns an equal new float each time is not a change); None for other objects,
    which must be the same object."""
    if isinstance(value, np.ndarray):
        return value.shape, value.dtype, value.tobytes()
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        return type(value), repr(value)  # exact for floats (-0.0, nan), any size of int
    return None


def _is_numba_error(e) -> bool:
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(e, NumbaError)


class Dispatcher:
    """The specialisations of one gradient function and the choice among them.

    jit: True (compile before the first call returns), False (NumPy only) or "auto"
    (NumPy first, compiled in the background; see the module docstring)."""

    def __init__(self, arguments: Arguments, jit):
        self.arguments, self.jit = arguments, jit
        self.specs: dict = {}  # key -> Specialization
        self.fast: dict = {}  # fast_key(args) -> compiled Specialization
        # structured arguments: [(arguments.layout_check function, compiled Specialization)]
        self.tree_fast: list = []
        self.last: Specialization | None = None  # the one generated last
        # what the generated code baked in: {Capture.key: (read, value, array snapshot)}
        self.captured: dict = {}
        self.epoch_loops: dict = {}  # (spec, update, batched, jit) -> pipeline.epoch_module
        # (update, fast key of the example, batched, jit) -> (spec, loop argument names,
        # their wrt names): GradFunction.epoch_function without for_args
        self.loops_memo: dict = {}
        # the direct path (module docstring): the last fast-path specialisation's
        # direct_fn, or None; on_direct(spec or None) is told when it changes (GradFunction
        # puts its own entry in front of it: Specialization.entry_fn)
        self.direct = None
        self.on_direct = None

    def call(self, args):
        """Run the generated function on positional `args`: (loss, *gradients in wrt
        order). Raises ArgumentError for bad arguments, AdjointError subclasses for code
        that cannot be differentiated, and what NumPy or Numba raise at run time."""
        if self.captured and self.stale():
            self.invalidate()
        # (a gradient called only with structures skips the flat key: tree_fast below)
        fast = fast_key(args) if self.fast or not self.tree_fast else None
        spec = self.fast.get(fast) if fast is not None else None
        if spec is not None:  # already normalised (float64 C arrays, floats); compiled
            if spec.written:  # a loss that writes into an argument: not into shared memory
                spec.check_unshared_flat(args)
            if spec.direct is None or self.direct is not spec.direct:
                self._go_direct(spec)  # go direct next time
            return spec.fn(*args)
        for check, spec in self.tree_fast:  # dicts or tuples of such arrays: flattened
            leaves = check(args)
            if leaves is not None:
                return spec.regroup(spec.fn(*leaves))
        normed, key = self.arguments.normalize(args)
        spec = self.specs.get(key) or self.specialize(key)
        if spec.written:
            spec.check_unshared(args, [p.hint for p in spec.primal.params])
        if spec.first_call is None:
            out = self._first_call(spec, normed)
        else:
            if spec.job is not None:  # "auto": switch tiers once the compile is done
                self._collect(spec, stacklevel=4)
            out = spec.fn(*normed)
        spec.tier = "compiled" if spec.jit else "numpy"
        if spec.regroup is not None:  # gradients (and aux) rebuilt into their structures
            check = (layout_check(args) if spec.jit and len(self.tree_fast) < 4
                     and not spec.written else None)
            if check is not None:
                self.tree_fast.append((check, spec))
            return spec.regroup(out)
        if spec.jit and fast is None:
            fast = fast_key(args)
        if fast is not None and spec.jit and fast_key_matches(fast, key):
            self.fast[fast] = spec
            spec.direct_fn(self.stale)  # made now (0.3 ms), not in a later call
        return out

    def _go_direct(self, spec):
        """Point the direct path at `spec`'s direct_fn (None: no direct path)."""
        self.direct = spec.direct_fn(self.stale) if spec is not None else None
        if self.on_direct is not None:
            self.on_direct(spec)

    def run(self, args):
        """`call(args)`, through the direct path once it is set (module docstring)."""
        direct = self.direct
        if direct is not None:
            try:
                return direct(*args)
            except Miss:  # (not calling from the handler: no chained Miss in tracebacks)
                pass
        return self.call(args)

    def for_args(self, args, fixed=None) -> Specialization:
        """The specialisation for arguments like `args`, generated if new (not called);
        `fixed` ({name: number}): arguments made constants (Arguments.fix)."""
        if self.captured and self.stale():
            self.invalidate()
        fast = fast_key(args) if not fixed and len(args) == len(self.arguments.names) else None
        if fast is not None and all(-1 <= c < 100 for c in fast):  # float64 C arrays and
            key = tuple(Type("float64", max(c, 0)) for c in fast)  # floats: no normalize
        else:
            key = self.arguments.fix(*self.arguments.normalize(args), fixed or {})[1]
        return self.specs.get(key) or self.specialize(key)

    def specialize(self, key) -> Specialization:
        """Generate and load the specialisation for `key`: its compiled tier (compiled
        lazily on first call) when jit=True, else its NumPy tier."""
        gen = self.generate(key)
        compiled = self.jit is True
        fn = pipeline.load(gen.module_source, gen.name, compiled)
        spec = Specialization(key, gen, fn, compiled)
        spec.regroup = self.arguments.regrouper(key, gen.aux_tree)
        spec.written = tuple(i for i, p in enumerate(gen.primal.params)
                             if p.type.rank > 0 and writes_into(p, gen.primal.ops))
        if compiled:
            spec.compiled_fn = fn
        else:
            spec.numpy_fn = fn
        for c in gen.captures:
            self.captured.setdefault(c.key, (c.read, c.value, _snapshot(c.value)))
        self.specs[key] = spec
        self.last = spec
        return spec

    def generate(self, key) -> pipeline.Generated:
        """The generated code for `key` (compiler/transforms.py overrides it for the
        other transformations: jvp, vjp, Jacobians, Hessians)."""
        a = self.arguments
        return pipeline.generate(a.fs, key, a.leaf_wrt(key), a.has_aux)

    def _first_call(self, spec, args):
        """Call a new specialisation. jit=True: Numba compiles (or loads its cache) now;
        if it cannot, warn and switch to the NumPy tier. "auto": submit the compile to
        the background worker and answer from the NumPy tier."""
        spec.first_call = t0 = time.perf_counter()
        if self.jit == "auto":
            types = [background.describe(a) for a in args]
            spec.job = background.submit(spec.module_source, [(spec.generated.name, types)])
            if spec.job.done():  # compiled before (same module and types): use it now
                self._collect(spec, stacklevel=5)
            return spec.fn(*args)
        try:
            out = spec.fn(*args)
        except Exception as e:
            if not spec.jit or not _is_numba_error(e):
                raise
            self._failed(spec, str(e), stacklevel=5)
            out = spec.fn(*args)
        spec.compile_seconds = time.perf_counter() - t0
        if spec.jit:
            spec.cache_hit = bool(sum(spec.fn.stats.cache_hits.values()))
            spec.ready_seconds = spec.compile_seconds
        return out

    def _collect(self, spec, stacklevel):
        """If the background compile of `spec` has ended, switch it to the compiled tier
        (or, if it failed, warn once and stay on the NumPy tier)."""
        job = spec.job
        if not job.done():
            if not job.compiled.is_set():
                return
            # the worker has compiled: load its cache now (a few tenths of a second) rather
            # than leave the loading thread to compete for the GIL with these calls
            job.wait(60)
        spec.job = None
        if job.module is None:  # stacklevel: of the user's frame, seen from here
            self._failed(spec, job.error or "", stacklevel + 1)
            return
        spec.compiled_fn = spec.fn = job.function(spec.generated.name)
        spec.jit = True
        spec.compile_seconds, spec.cache_hit = job.seconds, job.cache_hit
        spec.ready_seconds = max(job.ready_at - spec.first_call, 0.0)

    def _failed(self, spec, error: str, stacklevel):
        """Numba could not compile `spec`: one RuntimeWarning, then the NumPy tier."""
        fs = self.arguments.fs
        first = (error.strip().splitlines() or [""])[0]
        spec.compile_error = first
        warnings.warn(f"{fs.loc(fs.node)}: Numba could not compile the gradient of "
                      f"{fs.node.name} ({first}); running it as plain NumPy instead",
                      RuntimeWarning, stacklevel=stacklevel)
        spec.fn, spec.jit = spec.numpy_tier(), False

    def wait_compiled(self, timeout=None) -> bool:
        """Block until every specialisation called so far (and every training loop whose
        compile was started) has its compiled tier, or `timeout` seconds pass. True if
        all are compiled; False on a timeout, a failed compile (warned), jit=False, or
        before the first call."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def left():
            return None if deadline is None else max(deadline - time.monotonic(), 0.0)

        called = [s for s in self.specs.values() if s.first_call is not None]
        loops = [lp.job for lp in self.epoch_loops.values() if getattr(lp, "job", None)]
        if self.jit is False or not (called or loops):
            return False
        ok = True
        for spec in called:
            if spec.job is not None:
                spec.job.wait(left())
                self._collect(spec, stacklevel=4)
            ok = ok and spec.jit
        for job in loops:
            ok = job.wait(left()) and ok
        return ok

    def loops(self, spec, arg_names, wrt_names, update_import: str, batched: bool, jit):
        """The training loops around `spec` (pipeline.epoch_module), memoised: jit True or
        False as asked; "auto": the plain-Python loops with `start_compile`."""
        key = (spec, update_import, batched, jit)  # a spec lives until invalidate()
        if key not in self.epoch_loops:
            args = (spec.generated, arg_names, wrt_names, update_import, batched)
            loops = pipeline.epoch_module(*args, jit is True)
            if jit == "auto":
                modsrc, _, ep_name, ev_name = pipeline.epoch_module_source(*args, True)

                def start_compile(epoch_args, evaluate_args=None, loops=loops):
                    entries = [(ep_name, [background.describe(a) for a in epoch_args])]
                    if evaluate_args is not None:
                        entries.append((ev_name, [background.describe(a) for a in evaluate_args]))
                    loops.job = background.submit(modsrc, entries)
                    return PendingLoops(loops.job, ep_name, ev_name, loops.source)

                loops.start_compile, loops.job = start_compile, None
            self.epoch_loops[key] = loops
        return self.epoch_loops[key]

    def stale(self) -> bool:
        """Has anything the generated code baked in been rebound, or an array been
        changed in place (contents, shape or dtype), since it was generated?"""
        for read, value, snap in self.captured.values():
            now = read()
            if now is value:  # the same object: only an array can have changed
                if snap is not None and type(snap) is tuple and len(snap) == 3 and \
                        _snapshot(now) != snap:
                    return True
            elif snap is None or _snapshot(now) != snap:  # another object: an equal number?
                return True
        return False

    def invalidate(self):
        """Forget every specialisation: the next call regenerates with current values."""
        self.specs.clear()
        self.fast.clear()
        self.tree_fast.clear()
        self.captured.clear()
        self.epoch_loops.clear()
        self.loops_memo.clear()
        self._go_direct(None)

    def reraise(self, args, exc):
        """Raise `exc`, an exception of RUN_ERRORS from a call with `args`, as the RunError
        at the user's line (its cause chained); re-raise it unchanged when it is an
        AdjointError or did not come from running generated code."""
        error = None if isinstance(exc, AdjointError) else self.run_error(args, exc)
        if error is None:
            raise exc
        raise error from exc

    def run_error(self, args, exc):
        """The RunError for `exc`, raised by the generated code called with `args`, at
        the user line it comes from (compiler/locate.py); None if `exc` did not come from
        running generated code (no specialisation exists for `args`)."""
        normed, key = self.arguments.normalize(args)
        spec = self.specs.get(key)
        if spec is None:
            return None
        return run_error(spec, exc, normed, self.arguments.fs)


class PendingLoops:
    """The background compile of training loops (Dispatcher.loops with jit="auto")."""

    def __init__(self, job, epoch_name: str, evaluate_name: str, source: str):
        self.job, self._names, self.source = job, (epoch_name, evaluate_name), source

    def done(self) -> bool:
        return self.job.done()

    def compiled(self) -> bool:
        """The worker has compiled into the cache (loading here may still be running)."""
        return self.job.compiled.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.job.wait(timeout)

    @property
    def error(self) -> str | None:  # the first line of Numba's error, once failed
        return self.job.error

    @property
    def seconds(self) -> float | None:  # the worker's compile or cache load
        return self.job.seconds

    @property
    def cache_hit(self) -> bool | None:
        return self.job.cache_hit

    def result(self):
        """The compiled loops (a namespace like pipeline.epoch_module's, jit=True), or
        None while pending or if the compile failed."""
        if not self.job.done() or self.job.module is None:
            return None
        ep, ev = self._names
        return SimpleNamespace(epoch=self.job.function(ep), evaluate=self.job.function(ev),
                               source=self.source, jit=True)
