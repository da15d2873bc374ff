"""The compiled training loop: `fit` runs epochs of per-example or minibatch training
where the whole epoch (shuffled order, gradient, gradient norms, clipping and update for
every step) runs inside Numba.

Python regains control once per epoch only: for the progress bar, the validation loss,
the history, the gradient-health check and callbacks. The loops themselves are
generated and compiled by the object passed as `vg` (a `compiler.value_and_grad`
result): it must offer `arg_names`, `wrt_names` and
`epoch_function(update_import, example_args, batched, jit)` (see
compiler/codegen/epoch.py). runtime never imports compiler.
"""
from __future__ import annotations

import math
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .checkpoint import save_params
from .health import GradientHealth
from .optim import BUILTIN_UPDATE, SGD, check_hyper, loop_kernel

__all__ = ["fit", "FitResult"]


@dataclass
class FitResult:
    """What `fit` returns: trained parameters and the per-epoch history.

    params: {name: trained float64 array}; loss: mean training loss per epoch (running
    mean over the epoch's steps, rows weighted); val_loss: mean validation loss after
    each epoch (empty without validation data); grad_norm: {name: per-epoch RMS over
    steps of ||g_name||_2}; grad_norm_max: {name: per-epoch largest step norm};
    global_grad_norm: per-epoch RMS of the global norm ||(g_1, ..., g_k)||_2 (before
    clipping); epoch_seconds: time of each compiled epoch call; train_seconds: wall
    time of all epochs with their Python work (shuffling, validation, history, checks,
    progress bar); fit_seconds: wall time of the whole `fit` (with code generation and
    compile); compile_seconds: first compile of the loops (or cache load; in the
    background worker under jit="auto"; 0.0 when an earlier `fit` of the same gradient
    already compiled them, and `cache_hit` is that fit's); tiers: per epoch, "numpy" (the plain-Python
    loops) or "compiled"; compiled_after: under jit="auto", seconds from the start of
    `fit` to the epoch boundary where the compiled loops took over (None if they never
    did); steps: optimiser steps taken; stopped: None, or why training stopped early;
    warnings: gradient-health messages issued; states: the optimiser state arrays;
    epoch_source: the generated loops' Python source."""

    params: dict
    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    grad_norm: dict = field(default_factory=dict)
    grad_norm_max: dict = field(default_factory=dict)
    global_grad_norm: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    train_seconds: float = 0.0
    fit_seconds: float = 0.0
    compile_seconds: float = 0.0
    cache_hit: bool | None = None
    tiers: list = field(default_factory=list)
    compiled_after: float | None = None
    steps: int = 0
    stopped: str | None = None
    warnings: list = field(default_factory=list)
    states: dict = field(default_factory=dict, repr=False)
    epoch_source: str = field(default="", repr=False)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    def timing(self) -> str:
        """One line on where the epochs ran and how long they took: e.g. '3 epochs on the
        NumPy tier (median 12.4 ms), 37 compiled (median 0.98 ms; compiled loops from
        1.6 s)'. Medians of `epoch_seconds` per tier."""
        parts = []
        for tier, what in (("numpy", "on the NumPy tier"), ("compiled", "compiled")):
            t = [s for s, k in zip(self.epoch_seconds, self.tiers) if k == tier]
            if t:
                parts.append(f"{len(t)} epoch{'s' if len(t) > 1 else ''} {what} (median "
                             f"{statistics.median(t) * 1e3:.3g} ms)")
        if self.compiled_after is not None:
            parts[-1] = parts[-1][:-1] + f"; compiled loops from {self.compiled_after:.2g} s)"
        elif "compiled" not in self.tiers and self.tiers:
            parts.append("the compiled loops were not ready before training ended")
        return ", ".join(parts)

    def history(self) -> dict:
        """{'loss', 'val_loss', 'grad_norm', 'grad_norm_max', 'global_grad_norm'}."""
        return {"loss": self.loss, "val_loss": self.val_loss, "grad_norm": self.grad_norm,
                "grad_norm_max": self.grad_norm_max, "global_grad_norm": self.global_grad_norm}

    def save(self, path) -> None:
        """Save the trained parameters with np.savez (see runtime.checkpoint)."""
        save_params(path, self.params)


_F64 = np.dtype(np.float64)


def _as_data(name, a, what="data"):
    where = "" if what == "data" else f"{what}: "
    if isinstance(a, np.ndarray) and type(a) is not np.ndarray:
        from compiler.arguments import plain_array
        try:
            a = plain_array(a)  # a masked array's mask, np.matrix's rows: refused
        except TypeError as e:
            raise ValueError(f"{where}data argument {name!r}: {e}") from None
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    if a.dtype.kind == "f":
        if a.dtype is not _F64 or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a, dtype=np.float64)
        if not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0]
            raise ValueError(f"{where}data argument {name!r} contains NaN or inf (first at index "
                             f"{tuple(int(i) for i in bad)}); remove or impute those rows")
    elif a.dtype.kind in "iub":
        a = np.ascontiguousarray(a, dtype=np.int64 if a.dtype.kind != "b" else bool)
    else:
        raise ValueError(f"{where}data argument {name!r} has unsupported dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"{where}data argument {name!r} must have one row per example")
    return a


def _check_data(data, data_names, what):
    if not isinstance(data, (tuple, list)):
        data = (data,)
    if len(data) != len(data_names):
        raise ValueError(f"{what}: the loss takes {len(data_names)} data argument(s) "
                         f"({', '.join(data_names)}), got {len(data)}")
    data = [_as_data(n, a, what) for n, a in zip(data_names, data)]
    n = data[0].shape[0]
    for name, a in zip(data_names, data):
        if a.shape[0] != n:
            raise ValueError(f"{what}: data argument {name!r} has {a.shape[0]} examples, "
                             f"{data_names[0]!r} has {n}; each needs one row per example")
    if n == 0:
        raise ValueError(f"{what}: no examples (the data has 0 rows)")
    return data, n


# int seed -> its np.random.SeedSequence, shared by fit's generators: they only draw
# permutations (spawning would change it)
_SEEDS: dict = {}


def _generator(seed):
    """np.random.default_rng(seed), the same stream: for an int seed its SeedSequence is
    made once (3.4 against default_rng's 6.4 µs a fit call)."""
    if type(seed) is not int or seed < 0:
        return np.random.default_rng(seed)
    ss = _SEEDS.get(seed)
    if ss is None:
        if len(_SEEDS) > 256:
            _SEEDS.clear()
        ss = _SEEDS[seed] = np.random.SeedSequence(seed)
    return np.random.Generator(np.random.PCG64(ss))


_DEFAULTS: dict = {}  # id(fn) -> (fn, its __defaults__ and __kwdefaults__, the signature)


def _defaults(vg, arg_names) -> dict:
    """{argument: default} for the loss's arguments that have a default and are not
    trained: fit uses the default (a constant of the generated loops), not data. The
    signature is read once per function (about 10 µs a `fit` call otherwise) and again
    when its defaults are rebound or its keyword-only defaults changed in place."""
    import inspect
    fn = vg.fn
    kw = getattr(fn, "__kwdefaults__", None)  # a dict, which may be changed in place
    state = (getattr(fn, "__defaults__", None), kw, None if kw is None else list(kw.items()))
    hit = _DEFAULTS.get(id(fn))
    if hit is not None and hit[0] is fn and hit[1][0] is state[0] and hit[1][1] is kw and (
            kw is None or len(kw) == len(hit[1][2]) and all(
                k == k0 and v is v0 for (k, v), (k0, v0) in zip(kw.items(), hit[1][2]))):
        sig = hit[2]
    else:
        try:
            sig = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return {}
        _DEFAULTS[id(fn)] = (fn, state, sig)
    return {a: sig[a].default for a in arg_names if a in sig and a not in vg.wrt_names
            and sig[a].default is not inspect.Parameter.empty}


def _param_leaves(params, wrt, arg_names):
    """Parameters given as structures (`{"p": {"W1": ..., "b1": ...}}` for a loss taking a
    dict `p`, issue 14): (params by leaf name, wrt by leaf name, the loss's arguments by
    leaf name, {argument: (TreeDef, its leaf names)}); plain parameters pass unchanged
    with no trees. Leaves are named as in the generated code (compiler/pytree.py)."""
    from compiler.pytree import flatten, is_tree, leaf_names
    if not isinstance(params, dict) or not any(is_tree(v) for v in params.values()):
        return params, wrt, arg_names, {}
    flat_trees = {k: flatten(v) for k, v in params.items() if is_tree(v) and k in arg_names}
    names = leaf_names(arg_names, {k: t for k, (_, t) in flat_trees.items()})
    flat = {}
    for k, v in params.items():
        if k in flat_trees:
            flat.update(zip(names[k], flat_trees[k][0]))
        else:
            flat[k] = v
    trees = {k: (t, names[k]) for k, (_, t) in flat_trees.items()}
    return (flat, [n for a in wrt for n in names[a]], [n for a in arg_names for n in names[a]],
            trees)


def _check_params(params, wrt, arg_names):
    if isinstance(params, dict):
        if set(params) != set(wrt):
            extra = sorted(set(params) - set(arg_names))
            hint = (f"; {', '.join(map(repr, extra))} is not an argument of the loss "
                    f"({', '.join(arg_names)})" if extra else "")
            raise ValueError(f"params {sorted(params)} do not match the differentiated "
                             f"arguments {list(wrt)} of the loss{hint}")
        params = [params[k] for k in wrt]
    params = list(params)
    if len(params) != len(wrt):
        raise ValueError(f"expected {len(wrt)} parameters ({', '.join(wrt)}), got {len(params)}")
    out = []
    for name, p in zip(wrt, params):
        try:
            p = np.array(p, dtype=np.float64, order="C")
        except (TypeError, ValueError):
            raise ValueError(f"parameter {name!r} is not a numeric array") from None
        if not np.isfinite(p).all():
            raise ValueError(f"parameter {name!r} contains NaN or inf")
        out.append(p)
    return out


def fit(vg, params, data, optimizer=None, epochs: int = 10, batch_size: int | None = None,
        shuffle: bool = True, seed: int = 0, val_data=None, verbose: bool = True,
        desc: str | None = None, grad_health: GradientHealth | bool = True,
        callbacks=()) -> FitResult:
    """Train the parameters of `vg`'s loss over `data`, one compiled call per epoch.

    vg: `value_and_grad(loss, wrt=(names of the trained parameters))`. Its `jit` picks
        the loops: True compiles them before the first epoch, False runs them as plain
        Python, "auto" (default) starts with plain Python and switches to the compiled
        loops at the first epoch boundary after the background compile is done.
    params: dict {name: array} (or a sequence in `wrt` order) of initial float arrays
        or numbers (a scalar parameter: trained in a 1-element array, returned as a
        float); they are copied, never modified. A parameter the loss takes as a
        structure is given as one (`{"p": {"W1": ..., "b1": ...}}`), trained leaf by
        leaf (per-leaf grad_norm, states) and returned with its structure.
    data: tuple with one array per remaining loss argument (one without a default: an
        argument with a default keeps it, fixed in the loops), in the loss's argument
        order; axis 0 indexes examples (row i of each is example i).
    optimizer: SGD, Momentum, AdaGrad, RMSProp or Adam from runtime.optim (default
        SGD(lr=0.01)), or an object following its protocol; its clip_norm, if set,
        clips each step's gradients by their global norm. Its hyper() and clip_norm
        are read again before every epoch, so a callback may change lr (a schedule)
        but not the optimiser's kind.
    epochs: passes over the data (>= 0).
    batch_size: None (default): per-example updates, the loss gets one row of each
        data argument (x of shape (d,), y a float). An int b >= 1: minibatch updates,
        the loss gets b rows (X of shape (b, d), y of shape (b,); the epoch's last
        batch may be smaller) and should be a mean over them, e.g.
        `np.mean((X @ w - y) ** 2)`; the epoch's loss weights each step by its rows.
    shuffle: visit examples in an order drawn from numpy.random.default_rng(seed) each
        epoch (else in data order); seed: a non-negative int.
    val_data: optional tuple like `data`; its mean loss after each epoch goes to
        `val_loss`.
    verbose: tqdm progress bar over epochs showing the losses (if tqdm is installed).
    grad_health: thresholds for the vanishing/exploding warnings (runtime.health), or
        False for none.
    callbacks: functions `cb(epoch, result)` called after each epoch (1-based epoch,
        the FitResult so far); one returning True stops training.
    Returns a FitResult (history per epoch). Training stops early, with an
    ExplodingGradientWarning, before the first step whose loss or gradient is NaN or
    infinite; the parameters are then those before that step.
    Raises ValueError for mismatched example counts, params that do not match the
    loss's differentiated arguments, NaN/inf in data or params, a bad batch_size,
    epochs or seed, hyper-parameters or state slots the built-in kernel cannot run
    (runtime.optim.check_hyper), a kind changed by a callback; TypeError for an object
    (or class) that is not an optimiser; compiler.errors.RunError at the loss's line
    when a step fails (data of the wrong shape, an index out of range: the epoch's
    steps are replayed through the gradient to find it)."""
    from compiler.dispatch import RUN_ERRORS  # what generated code raises (a located RunError)
    t_fit = time.perf_counter()
    optimizer = SGD(0.01) if optimizer is None else optimizer
    if isinstance(optimizer, type):
        raise TypeError(f"optimizer must be an optimiser object, not the class "
                        f"{optimizer.__name__}: write {optimizer.__name__}(lr=...)")
    if not all(hasattr(optimizer, a) for a in ("update", "init_state", "hyper")):
        raise TypeError(f"optimizer must be an optimiser from runtime.optim (e.g. SGD(0.01), "
                        f"Adam()), got {optimizer!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (numpy.random.default_rng's), "
                         f"got {seed!r}")
    batched = batch_size is not None
    if batched and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                    or batch_size < 1):
        raise ValueError(f"batch_size must be None (per-example) or an int >= 1, got {batch_size!r}")
    batch = int(batch_size) if batched else 1

    wrt = list(vg.wrt_names)
    arg_names = list(vg.arg_names)
    params, wrt, flat_names, trees = _param_leaves(params, wrt, arg_names)
    params = _check_params(params, wrt, arg_names)
    fixed = _defaults(vg, arg_names)  # a loss argument with a default is no data argument
    for a, v in fixed.items():
        if not isinstance(v, (bool, int, float, np.number)):
            raise ValueError(
                f"the loss's argument {a!r} has a default ({type(v).__name__}), which fit "
                "makes a constant of its training loops, and only a number can be one: "
                f"give {a!r} no default and pass it in data (one row per example), or read "
                "it from a global array")
    data_names = [a for a in arg_names if a not in vg.wrt_names and a not in fixed]
    if not data_names:
        raise ValueError(f"the loss has no data arguments (all of {', '.join(arg_names)} are "
                         "trained): fit needs examples to iterate over")
    data, n = _check_data(data, data_names, "data")
    val = _check_data(val_data, data_names, "val_data")[0] if val_data is not None else None

    # a scalar parameter is trained in a 1-element array; the loss gets its number
    scalars = {k for k, p in zip(wrt, params) if p.ndim == 0}
    params = [p.reshape(1) if k in scalars else p for k, p in zip(wrt, params)]
    by_name = dict(zip(wrt, params)) | dict(zip(data_names, data)) | fixed
    for a, (tree, names) in trees.items():  # a structured parameter, rebuilt around its leaves
        by_name[a] = tree.unflatten([by_name[n][0] if n in scalars else by_name[n]
                                     for n in names])
    example = [by_name[a][:batch] if batched and a in data_names
               else by_name[a][0] if a in data_names or a in scalars else by_name[a]
               for a in arg_names]
    arg_names = [a for a in flat_names if a not in fixed]  # the loops take the leaves
    hyper = np.asarray(optimizer.hyper(), dtype=np.float64)
    states = [np.ascontiguousarray(optimizer.init_state(p), dtype=np.float64) for p in params]
    if optimizer.update == BUILTIN_UPDATE:
        check_hyper(hyper, min((s.shape[0] for s in states), default=0))
    kernel = loop_kernel(optimizer, hyper)
    loops = vg.epoch_function(kernel, example, batched, fixed=fixed)
    loops.fixed = fixed
    clip = float(getattr(optimizer, "clip_norm", None) or 0.0)
    stats = np.zeros((len(params), 3))
    train_args = [by_name[a] for a in arg_names] + states

    result = FitResult(dict(zip(wrt, params)), states=dict(zip(wrt, states)),
                       epoch_source=loops.source)
    result.grad_norm = {k: [] for k in wrt}
    result.grad_norm_max = {k: [] for k in wrt}
    val_args = None
    if val is not None:
        vb = dict(zip(data_names, val))
        val_args = [vb[a] if a in vb else by_name[a] for a in arg_names]
    t0 = time.perf_counter()
    pending = None
    empty = np.empty(0, dtype=np.int64)
    if getattr(loops, "start_compile", None) is not None:
        # jit="auto": train at once with the plain-Python loops; the compiled ones are
        # compiled in the background and take over at the first epoch boundary after
        # they are ready
        pending = loops.start_compile(
            [*train_args, hyper, empty, 0, batch, clip, stats],
            None if val_args is None else [*_no_rows(val_args, data_names, arg_names), batch])
    else:
        need = {"epoch", "evaluate"} if val_args is not None else {"epoch"}
        if need <= getattr(loops, "warmed", set()):  # an earlier fit compiled these loops
            result.cache_hit = loops.cache_hit
        else:
            loops = _compile(vg, loops, kernel, example, batched, train_args, hyper, batch,
                             clip, stats, val_args, data_names, arg_names)
            result.compile_seconds = time.perf_counter() - t0
            counts = getattr(loops.epoch, "stats", None)
            result.cache_hit = bool(sum(counts.cache_hits.values())) if counts is not None \
                else None
            loops.warmed, loops.cache_hit = getattr(loops, "warmed", set()) | need, result.cache_hit

    health = None
    if grad_health is not False:
        health = grad_health if isinstance(grad_health, GradientHealth) else GradientHealth()
        health.reset()
    callbacks = [callbacks] if callable(callbacks) else list(callbacks)
    rng = _generator(seed)
    bar = _progress(range(epochs), verbose, desc or "epochs")
    t_train = time.perf_counter()
    for epoch in bar:
        if pending is not None and (pending.done() or pending.compiled()):
            # switch tiers between epochs. Once the worker has compiled, loading its cache
            # here takes a few tenths of a second, but while this thread runs epochs it
            # keeps the GIL from the loading thread for far longer: wait for it now
            pending.wait(60)
            loops, pending = _switch(loops, pending, result, t_fit), None
        result.tiers.append("compiled" if loops.jit else "numpy")
        if epoch:  # a callback may have changed the optimiser (a learning-rate schedule)
            _reread_hyper(optimizer, hyper, kernel, states)
            clip = float(getattr(optimizer, "clip_norm", None) or 0.0)
        lr = getattr(optimizer, "lr", None)
        order = rng.permutation(n) if shuffle else np.arange(n)
        stats[:] = 0.0
        t = time.perf_counter()
        try:
            total, done, last = loops.epoch(*train_args, hyper, order.astype(np.int64, copy=False),
                                            result.steps, batch, clip, stats)
        except RUN_ERRORS as e:
            rows = _steps_args(vg, by_name, data_names, scalars, order, batch, batched)
            _reraise_located(vg, e, rows, f"epoch {epoch + 1} of fit")
        result.epoch_seconds.append(time.perf_counter() - t)
        steps = -(-done // batch)
        result.steps += steps
        loss = float(total) / done if done else math.nan
        result.loss.append(loss)
        k = max(steps, 1)
        rms = {name: math.sqrt(stats[j, 0] / k) for j, name in enumerate(wrt)}
        peak = {name: math.sqrt(stats[j, 1]) for j, name in enumerate(wrt)}
        for name in wrt:
            result.grad_norm[name].append(rms[name])
            result.grad_norm_max[name].append(peak[name])
        # (the built-in sum: inf where the squared norms' sum overflows, not an exception)
        result.global_grad_norm.append(math.sqrt(sum(stats[:, 0].tolist()) / k))
        nonfinite = None
        if done < n:
            nonfinite = [name for j, name in enumerate(wrt) if not np.isfinite(stats[j, 2])]
            nonfinite = nonfinite or [None]
            result.stopped = (f"diverged: the loss ({last}) or a gradient was NaN or infinite at "
                              f"step {steps + 1} of epoch {epoch + 1}; parameters are those "
                              "before that step")
        if val_args is not None:
            try:
                result.val_loss.append(float(loops.evaluate(*val_args, batch)))
            except RUN_ERRORS as e:
                rows = _steps_args(vg, by_name | dict(zip(data_names, val)), data_names,
                                   scalars, np.arange(len(val[0])), batch, batched)
                _reraise_located(vg, e, rows, "the validation loss of fit")
        if health is not None:
            result.warnings += health.check(epoch + 1, rms, peak, loss, nonfinite, lr)
        if hasattr(bar, "set_postfix"):
            post = {"loss": f"{loss:.4g}"}
            if result.val_loss:
                post["val"] = f"{result.val_loss[-1]:.4g}"
            bar.set_postfix(post, refresh=False)
        if result.stopped is None and any(cb(epoch + 1, result) for cb in callbacks):
            result.stopped = f"stopped by a callback after epoch {epoch + 1}"
        if result.stopped is not None:
            break
    result.train_seconds = time.perf_counter() - t_train
    if hasattr(bar, "close"):
        bar.close()
    result.fit_seconds = time.perf_counter() - t_fit
    for k in scalars:  # a scalar parameter comes back a number
        result.params[k] = float(result.params[k][0])
    for a, (tree, names) in trees.items():  # structured parameters come back structured
        result.params[a] = tree.unflatten([result.params.pop(n) for n in names])
    return result


def _reread_hyper(optimizer, hyper, kernel, states) -> None:
    """Copy the optimiser's current hyper() into the loops' `hyper` (a callback may have
    changed lr); ValueError if the change needs other loops (another kind or size)."""
    h = np.asarray(optimizer.hyper(), dtype=np.float64)
    if optimizer.update == BUILTIN_UPDATE:
        check_hyper(h, min((s.shape[0] for s in states), default=0))
    if h.shape != hyper.shape or loop_kernel(optimizer, h) != kernel:
        raise ValueError(f"the optimiser changed kind during fit ({hyper.tolist()} -> "
                         f"{h.tolist()}); a callback may change hyper-parameters such as lr, "
                         "not the kind: call fit again with the new optimiser")
    hyper[:] = h


_LOCATE_STEPS = 10_000  # steps replayed to locate an error the compiled loops raised


def _steps_args(vg, by_name, data_names, scalars, order, batch, batched):
    """The loss's arguments of each step of an epoch over `order`, in order (the
    parameters as they are now), at most _LOCATE_STEPS of them."""
    starts = range(0, min(len(order), _LOCATE_STEPS * batch), batch)
    for lo in starts:
        rows = order[lo:lo + batch] if batched else order[lo]
        yield [by_name[a][rows] if a in data_names else
               by_name[a][0] if a in scalars else by_name[a] for a in vg.arg_names]


def _reraise_located(vg, exc, steps, where):
    """Raise the error the loops raised as the RunError at the user's line: the
    gradient is called on the steps' arguments until one raises (the loops give no
    location); `exc` itself when none does."""
    from compiler.errors import AdjointError
    for args in steps:
        try:
            vg(*args)
        except AdjointError as e:
            e.args = (f"{e.args[0]}\n(in {where})",) + e.args[1:]
            raise e from exc
        except Exception:  # noqa: BLE001 - not the loss's error: report the loops' own
            break
    raise exc


def _no_rows(args, data_names, arg_names):
    return [v[:0] if a in data_names else v for a, v in zip(arg_names, args)]


def _switch(loops, pending, result, t_fit):
    """The compiled loops once their background compile is done; if Numba failed, warn
    (once) and keep the plain-Python loops."""
    compiled = pending.result()
    if compiled is None:
        warnings.warn(f"Numba could not compile the training loop ({pending.error}); "
                      "running it as plain Python instead", RuntimeWarning, stacklevel=3)
        return loops
    result.compile_seconds = pending.seconds or 0.0
    result.cache_hit = pending.cache_hit
    result.compiled_after = time.perf_counter() - t_fit
    return compiled


def _compile(vg, loops, kernel, example, batched, train_args, hyper, batch, clip, stats,
             val_args, data_names, arg_names):
    """Call the loops once on no rows (compiling them, or loading Numba's cache). If Numba
    cannot compile them, warn and fall back to the same loops as plain Python."""
    empty = np.empty(0, dtype=np.int64)

    def warm(loops):
        loops.epoch(*train_args, hyper, empty, 0, batch, clip, stats)
        if val_args is not None:  # zero rows: compiles the evaluation loop, runs no loss
            loops.evaluate(*_no_rows(val_args, data_names, arg_names), batch)

    try:
        warm(loops)
    except Exception as e:  # noqa: BLE001 - Numba's errors have no common public base
        if not loops.jit or not type(e).__module__.startswith("numba"):
            raise
        warnings.warn(f"Numba could not compile the training loop ({str(e).splitlines()[0]}); "
                      "running it as plain Python instead", RuntimeWarning, stacklevel=3)
        loops = vg.epoch_function(kernel, example, batched, jit=False,
                                  fixed=getattr(loops, "fixed", None))
        warm(loops)
    return loops


def _progress(it, verbose, desc):
    if not verbose:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, unit="epoch")
