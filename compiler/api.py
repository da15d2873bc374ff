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

Tiers (`jit=`): "auto" (default) answers the first call of a specialisation from the
NumPy tier (the generated source run as plain NumPy) at once while a worker process
compiles the same module with Numba; later calls use the compiled function as soon as
it is ready. True compiles before the first call returns; False never compiles. Both
tiers agree to 1e-12 (relative). See compiler/dispatch.py and compiler/background.py.
"""
from __future__ import annotations

import functools
import operator

from . import background
from .arguments import Arguments, fast_key
from .dispatch import RUN_ERRORS, Dispatcher, Specialization
from .errors import AdjointError
from .frontend import parse_function
from .ir.core import Graph
from .pytree import TreeType, leaf_names

__all__ = ["GeneratedFunction", "GradFunction", "Specialization", "grad", "value_and_grad"]


class _CallSlot(property):
    """`GradFunction.__call__`: on an instance, property's C lookup returns its `_call`
    (no Python frame); on the class, `GradFunction.__call__(f, *args)` calls f."""

    def __call__(self, obj, *args, **kwargs):
        return obj._call(*args, **kwargs)


class GeneratedFunction:
    """Inspection shared by the functions adjoint generates (`GradFunction`, the
    transforms of compiler/transforms.py): `.specialize`, `.source`, `.ir`, `.primal_ir`,
    `.compile_info`, `.wait_compiled`, all of the last specialisation of
    `self._dispatcher`. `_noun` names it in errors ("gradient", "hvp", ...)."""

    _noun = "gradient"

    def specialize(self, *args) -> Specialization:
        """Generate (without calling) the function for arguments like `args` (arrays,
        numbers and structures as for a call; a transform's seeds included). Raises as
        a call would before running any code."""
        return self._dispatcher.for_args(args)

    @property
    def _specs(self) -> dict:  # key -> Specialization
        return self._dispatcher.specs

    @property
    def _fast(self) -> dict:  # fast key -> compiled Specialization
        return self._dispatcher.fast

    @property
    def _last(self) -> Specialization | None:
        return self._dispatcher.last

    def _spec(self) -> Specialization:
        if self._dispatcher.last is None:
            raise AdjointError(
                f"the {self._noun} of {self.fs.node.name} is generated for the dtypes and "
                "ranks of its arguments: call it once (or .specialize(*args)) before reading "
                ".source or .ir")
        return self._dispatcher.last

    @property
    def source(self) -> str:
        """The generated function (last specialisation), as Python source."""
        return self._spec().source

    @property
    def ir(self) -> Graph:
        """The SSA graph of the generated function, after passes; `str()` prints it."""
        return self._spec().graph

    @property
    def primal_ir(self) -> Graph:
        """The user's computation graph alone (forward sweep)."""
        return self._spec().primal

    @property
    def compile_info(self) -> dict:
        """The last specialisation's tiers: {'mode': "auto", True or False (the `jit`
        asked for); 'tier': which tier served its last call, "numpy" or "compiled" (None
        before any call); 'jit': whether the compiled tier serves its next call (False:
        plain NumPy, asked for, pending, or after a failed compile); 'ready_seconds':
        when the compiled tier became ready, in seconds since the first call (None while
        pending or never); 'compile_seconds': the Numba compile or cache load (in the
        worker for "auto"); 'cache_hit'; 'compile_error': the first line of Numba's
        error, or None}."""
        s = self._spec()
        return {"mode": self.jit, "tier": s.tier, "jit": s.jit, "ready_seconds": s.ready_seconds,
                "compile_seconds": s.compile_seconds, "cache_hit": s.cache_hit,
                "compile_error": s.compile_error}

    def wait_compiled(self, timeout: float | None = None) -> bool:
        """Block until the compiled tier of every specialisation called so far (and of
        every training loop made by `epoch_function`) is ready, or `timeout` seconds
        pass. Returns True if all are compiled; False on a timeout, after a failed
        compile (warned once), with jit=False, or before the first call. The next call
        is served by the compiled tier."""
        return self._dispatcher.wait_compiled(timeout)


class GradFunction(GeneratedFunction):
    """The gradient (or value and gradient) of `fn` with respect to `wrt`.

    Call it like `fn`. Returns the gradient with the shape and dtype (float64) of its
    argument: one array/float for one `wrt` entry, a tuple in `wrt` order for several;
    `(value, grads)` for `value_and_grad`. Raises `AdjointError` subclasses for
    unsupported code (at the user's line), `ArgumentError` for bad arguments, and
    `RunError` (at the user's line, the NumPy or Numba exception chained) when the
    generated code fails on the arguments given (mismatched shapes, an index out of
    bounds).

    The work is split by job: `Arguments` (compiler/arguments.py) binds and normalises
    arguments, a `Dispatcher` (compiler/dispatch.py) picks, generates (through
    compiler/pipeline.py) and invalidates specialisations, compiler/locate.py places
    run-time errors."""

    def __init__(self, fn, wrt=0, *, with_value=False, jit="auto", has_aux=False):
        if jit not in (True, False, "auto"):
            raise ValueError(f'jit must be "auto", True or False, got {jit!r}')
        self.fn = fn
        self.fs = parse_function(fn)
        self.has_aux = bool(has_aux)
        self.arguments = Arguments(fn, self.fs, wrt, self.has_aux)
        self.arg_names = self.arguments.names
        self.single = self.arguments.single
        self.wrt = self.arguments.wrt
        self.wrt_names = self.arguments.wrt_names
        self.with_value = with_value
        self.jit = jit
        self._dispatcher = Dispatcher(self.arguments, jit)
        # Specialization -> its entry_fn for this function. The entries and on_direct
        # hold this function (a cycle the garbage collector frees): a stored
        # `f.__call__` keeps it alive, as a bound method would
        self._entries = {}
        self._dispatcher.on_direct = self._on_direct
        self._on_direct(None)
        # calls with exactly this many positional arguments skip binding (-1: always bind,
        # keyword-only parameters cannot be given by position)
        self._nargs = -1 if self.fs.node.args.kwonlyargs else len(self.arg_names)
        functools.update_wrapper(self, fn)
        if jit == "auto":
            background.prestart()  # the worker imports Numba while the caller works

    # ---- calling -------------------------------------------------------------------
    # A call goes to `self._call`: the entry of the direct path (Specialization.entry_fn:
    # guard, compiled function and result in one Python frame, 0.3 µs less a call than a
    # method calling the direct path) once a compiled specialisation has served a call,
    # else the general path. `_CallSlot`, a property made of C callables, finds it
    # without a Python frame.
    __call__ = _CallSlot(operator.attrgetter("_call"))

    def _call_any(self, *args, **kwargs):
        return self._slow(args, kwargs)

    def _slow(self, args, kwargs):
        """The general path: bind, dispatch (the direct path first), pack the result."""
        if kwargs or len(args) != self._nargs:
            args = self.arguments.bind(args, kwargs)
        return self._run(self._dispatcher.run, args)

    def _after_miss(self, args):
        """An entry's miss (its arguments already bound): the normal path."""
        return self._run(self._dispatcher.call, args)

    def _run(self, via, args):
        try:
            out = via(args)
        except RUN_ERRORS as e:
            self._dispatcher.reraise(args, e)
        return self._pack(out)

    def _pack(self, out):
        grads = out[1] if self.single else tuple(out[1:])
        if self.has_aux and not self.with_value:  # out[0] is (loss, aux)
            return grads, out[0][1]
        return (out[0], grads) if self.with_value else grads

    def _on_direct(self, spec):
        """Dispatcher.on_direct: put spec's entry (or none) in front of calls. Not for
        keyword-only parameters (a call always binds) or has_aux (its results are
        regrouped: never on the fast path)."""
        if spec is None or self._nargs < 0 or self.has_aux:
            self._entries.clear()
            self._call = self._call_any
            return
        entry = self._entries.get(spec)
        if entry is None:  # the result as _pack packs it, from the flat tuple r
            grads = "r[1]" if self.single else "r[1:]"
            d = self._dispatcher
            entry = self._entries[spec] = spec.entry_fn(
                d.stale, f"r[0], {grads}" if self.with_value else grads,
                self._slow, self._after_miss, d.reraise)
        self._call = entry

    def normalize(self, args):
        """(normalised arguments, specialisation key); see compiler/arguments.py."""
        return self.arguments.normalize(args)

    # ---- training ------------------------------------------------------------------
    def epoch_function(self, update_import: str, example_args, batched: bool = False,
                       jit=None, fixed=None):
        """The generated training loops for `runtime.train` (see codegen/epoch.py). For
        structured arguments the loops take their leaves (named by pytree.leaf_names).

        update_import: 'module:function' naming the optimiser's update kernel;
        example_args: the loss's arguments for one step (one example's rows, or a
        minibatch's rows when `batched`), to pick the specialisation; jit: None follows
        this gradient, False runs the loops as plain Python, True compiles them on their
        first call, "auto" gives the plain-Python loops with `start_compile(epoch_args,
        evaluate_args=None)`, which submits their compile for those arguments to the
        background worker and returns a `dispatch.PendingLoops` (`done()`, `result()`:
        the compiled loops, or None if Numba failed, `error`). Returns a namespace with
        `epoch` and `evaluate` (compiled in the gradient's module, so Numba caches them
        with it), `source` (their Python source) and `jit`. `fixed` ({argument: number}):
        arguments made constants of the loops' gradient (fit: a loss argument with a
        default); the loops do not take them."""
        d = self._dispatcher
        if d.captured and d.stale():
            d.invalidate()
        fast = fast_key(example_args) if not fixed else None  # fit calls this every time:
        memo = (update_import, fast, bool(batched), jit)  # skip the work when it can
        hit = d.loops_memo.get(memo) if fast is not None else None
        if hit is not None:
            spec, arg_names, wrt_names = hit
        else:
            spec = d.for_args(example_args, fixed)
            trees = {n: t.tree for n, t in zip(self.arg_names, spec.key)
                     if isinstance(t, TreeType)}
            # the loops take the leaves, named as pytree.leaf_names names them, not fixed ones
            names = leaf_names(self.arg_names, trees)
            arg_names = tuple(n for a in self.arg_names if a not in (fixed or {})
                              for n in names[a])
            wrt_names = tuple(n for a in self.wrt_names for n in names[a])
            if fast is not None:
                d.loops_memo[memo] = spec, arg_names, wrt_names
        if jit is None:
            jit = "auto" if self.jit == "auto" and spec.compile_error is None else spec.jit
        return d.loops(spec, arg_names, wrt_names, update_import,
                                      bool(batched), jit if jit == "auto" else bool(jit))

    __adjoint_binding__ = True  # `D = grad(f)` inside a loss names it (frontend/context.py)

    def __adjoint_inline__(self, cx, node, args, kwargs):
        """A call of this gradient inside a function being differentiated (a loss that
        calls a `grad`-made function): compiler/transforms.py inlines its adjoint graph."""
        from .transforms import inline_gradient
        return inline_gradient(self, cx, node, args, kwargs)

    def __repr__(self):
        kind = "value_and_grad" if self.with_value else "grad"
        return f"<{kind} of {self.fs.node.name} wrt {', '.join(self.wrt_names)}>"


def grad(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """Gradient of the scalar loss `fn` with respect to argument(s) `wrt`.

    fn: a Python function (defined in a file) returning a float64 scalar, or a bound
    method (`model.loss`: its object's attributes are read as constants, like globals).
    Arguments may be arrays, numbers, or dicts, lists, tuples and namedtuples of them,
    nested (compiler/pytree.py); a structured argument's gradient has its structure.
    wrt: an argument name or index, or a tuple of them (default: the first argument).
    has_aux: `fn` returns `(loss, aux)`, aux any array, number or structure of them; the
    call then returns `(gradient(s), aux)` (as jax.grad(..., has_aux=True)).
    jit: "auto" (default): the first call of each specialisation runs the generated
    source as plain NumPy at once while a worker process compiles it with Numba; later
    calls use the compiled function when it is ready (`.compile_info`,
    `.wait_compiled()`). True: compile before the first call returns (benchmarks,
    ahead-of-time use). False: never compile. Raises ValueError for anything else.
    Returns a `GradFunction`; usable as a bare decorator (`@grad`) or with arguments
    (`@grad(wrt="w")`). Raises `UnsupportedError`/`ArgumentError` (compiler.errors).
    Method: reverse-mode differentiation of the computation graph (the lecture's
    backpropagation: forward values f_i, backward values g_i = d loss / d f_i)."""
    if fn is None:
        return lambda f: GradFunction(f, wrt, jit=jit, has_aux=has_aux)
    if _is_gradient(fn) and not has_aux:  # grad(grad(f)): compiler/transforms.py
        from .transforms import NestedGradFunction
        return NestedGradFunction(fn, wrt, jit=jit)
    return GradFunction(fn, wrt, jit=jit, has_aux=has_aux)


def value_and_grad(fn=None, wrt=0, *, jit="auto", has_aux=False):
    """Like `grad`, but calling it returns `(loss value, gradient(s))`; with `has_aux`,
    `((loss value, aux), gradient(s))` (as jax.value_and_grad)."""
    if fn is None:
        return lambda f: GradFunction(f, wrt, with_value=True, jit=jit, has_aux=has_aux)
    if _is_gradient(fn) and not has_aux:  # value_and_grad(grad(f))
        from .transforms import NestedGradFunction
        return NestedGradFunction(fn, wrt, with_value=True, jit=jit)
    return GradFunction(fn, wrt, with_value=True, jit=jit, has_aux=has_aux)


def _is_gradient(fn) -> bool:
    """fn was made by grad/value_and_grad (a gradient of a gradient is asked for)."""
    from .transforms import NestedGradFunction
    return isinstance(fn, (GradFunction, NestedGradFunction))
