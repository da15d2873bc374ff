"""The compiled training loop: epochs of per-example SGD (and other optimisers) where the
whole epoch — gradient and update for every example — runs inside Numba.

Python regains control once per epoch only (for the progress bar and the history).
The epoch loop itself is generated and compiled by the object passed as `vg` (a
`compiler.value_and_grad` result): it must offer `arg_names`, `wrt_names`, `jit` and
`epoch_function(update_import, example_args)`. runtime never imports compiler.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .optim import SGD

__all__ = ["fit", "FitResult"]


@dataclass
class FitResult:
    params: dict  # name -> trained float64 array
    loss: list = field(default_factory=list)  # mean training loss per epoch
    epoch_seconds: list = field(default_factory=list)
    compile_seconds: float = 0.0  # first compile of the epoch loop (or cache load)
    cache_hit: bool | None = None


def _as_data(name, a):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = np.ascontiguousarray(a, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"data argument {name!r} contains NaN or inf")
    elif a.dtype.kind in "iub":
        a = np.ascontiguousarray(a, dtype=np.int64 if a.dtype.kind != "b" else bool)
    else:
        raise ValueError(f"data argument {name!r} has unsupported dtype {a.dtype}")
    if a.ndim == 0:
        raise ValueError(f"data argument {name!r} must have one row per example")
    return a


def fit(vg, params, data, optimizer=None, epochs: int = 10, shuffle: bool = True,
        seed: int = 0, verbose: bool = True, desc: str | None = None) -> FitResult:
    """Train the parameters of `vg`'s loss by per-example updates over `data`.

    vg: `value_and_grad(loss, wrt=(names of the trained parameters))`.
    params: dict {name: array} (or a tuple in `wrt` order) of initial float64 arrays
        (rank >= 1); they are copied, never modified.
    data: tuple with one array per remaining loss argument, in the loss's argument
        order; axis 0 indexes examples (row i of each is example i).
    optimizer: an optimiser from runtime.optim (default SGD(lr=0.01)).
    epochs: number of passes over the data; shuffle: visit examples in a random order
        each epoch, drawn from numpy.random.default_rng(seed).
    Returns a FitResult. Raises ValueError for mismatched data lengths, parameter names
    that do not match the loss, non-array parameters or data with NaN."""
    optimizer = optimizer or SGD(0.01)
    wrt = list(vg.wrt_names)
    if isinstance(params, dict):
        if set(params) != set(wrt):
            raise ValueError(f"params {sorted(params)} do not match the differentiated "
                             f"arguments {wrt} of the loss")
        params = [params[k] for k in wrt]
    params = [np.array(p, dtype=np.float64, order="C") for p in params]
    if len(params) != len(wrt):
        raise ValueError(f"expected {len(wrt)} parameters ({', '.join(wrt)}), got {len(params)}")
    for name, p in zip(wrt, params):
        if p.ndim == 0:
            raise ValueError(f"parameter {name!r} is a scalar; training updates arrays in "
                             f"place: pass np.array([{name}]) and index it in the loss")
    data_names = [a for a in vg.arg_names if a not in wrt]
    if not isinstance(data, (tuple, list)):
        data = (data,)
    if len(data) != len(data_names):
        raise ValueError(f"the loss takes {len(data_names)} data argument(s) "
                         f"({', '.join(data_names)}), got {len(data)}")
    data = [_as_data(n, a) for n, a in zip(data_names, data)]
    n = data[0].shape[0]
    for name, a in zip(data_names, data):
        if a.shape[0] != n:
            raise ValueError(f"data argument {name!r} has {a.shape[0]} examples, "
                             f"{data_names[0]!r} has {n}")
    by_name = dict(zip(wrt, params)) | dict(zip(data_names, data))
    example = [by_name[a][0] if a in data_names else by_name[a] for a in vg.arg_names]
    epoch = vg.epoch_function(optimizer.update, example)
    states = [optimizer.init_state(p) for p in params]
    hyper = optimizer.hyper()
    args = [by_name[a] for a in vg.arg_names] + states + [hyper]

    result = FitResult(dict(zip(wrt, params)))
    t0 = time.perf_counter()
    epoch(*args, np.empty(0, dtype=np.int64), 0)  # compile (or load from cache)
    result.compile_seconds = time.perf_counter() - t0
    stats = getattr(epoch, "stats", None)
    result.cache_hit = bool(sum(stats.cache_hits.values())) if stats is not None else None

    rng = np.random.default_rng(seed)
    bar = _progress(range(epochs), verbose, desc or "epochs")
    step = 0
    for _ in bar:
        order = rng.permutation(n) if shuffle else np.arange(n)
        t = time.perf_counter()
        loss = epoch(*args, order.astype(np.int64), step)
        result.epoch_seconds.append(time.perf_counter() - t)
        step += n
        result.loss.append(float(loss))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at epoch {len(result.loss)}; "
                                     "lower the step size")
    return result


def _progress(it, verbose, desc):
    if not verbose:
        return it
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return it
    return tqdm(it, desc=desc, unit="epoch")
