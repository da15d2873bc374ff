"""Overhead of `runtime.train.fit` over a hand-written Numba epoch loop of the same model.

The model is the lecture's four-layer regression on scikit-learn's diabetes data
(width 16, 353 training examples, 11 features with the bias), from
examples/four_layer_regression.py. Compared, per epoch of plain SGD:

- per example: `fit(batch_size=None)` against `hand_epoch`, a Numba loop with the
  gradient written by hand (same operations as the lecture's formulas, the same
  runtime sigmoid) and in-place updates; and against `hand_epoch_fused`, the same with
  the updates fused into scalar loops (the fastest we could write);
- minibatch (32 rows): `fit(batch_size=32)` on the mean-squared-error batch loss,
  against `hand_batch_epoch`.

`fit` is timed two ways: the compiled epoch call alone (`FitResult.epoch_seconds`) and
the wall time from one epoch's end to the next's, measured by a callback (shuffling,
history, gradient-health check and Python overhead included; code generation and
compile excluded). Each figure is over `--repeats`
runs of `--epochs` epochs, interleaved; the minimum is shown too (the least disturbed
epoch on a shared machine). OPENBLAS_NUM_THREADS=1 (per-example work is tiny).

Run: python benchmarks/train_overhead.py [--epochs 50] [--repeats 5]
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from four_layer_regression import init_params, load_data, loss  # noqa: E402

from compiler import value_and_grad  # noqa: E402
from runtime.functions import sigmoid  # noqa: E402
from runtime.optim import SGD  # noqa: E402
from runtime.train import fit  # noqa: E402


def batch_loss(X, y, V1, V2, V3, w):
    h1 = sigmoid(X @ V1.T)
    h2 = sigmoid(h1 @ V2.T)
    h3 = sigmoid(h2 @ V3.T)
    return np.mean((h3 @ w - y) ** 2)


@njit(cache=True)
def hand_epoch(X, y, V1, V2, V3, w, lr, order):
    total = 0.0
    for k in range(order.shape[0]):
        i = order[k]
        x = X[i]
        h1 = sigmoid(V1 @ x)
        h2 = sigmoid(V2 @ h1)
        h3 = sigmoid(V3 @ h2)
        r = w @ h3 - y[i]
        total += r * r
        d3 = 2.0 * r * w * h3 * (1.0 - h3)
        d2 = (V3.T @ d3) * h2 * (1.0 - h2)
        d1 = (V2.T @ d2) * h1 * (1.0 - h1)
        w -= lr * 2.0 * r * h3
        V3 -= lr * np.outer(d3, h2)
        V2 -= lr * np.outer(d2, h1)
        V1 -= lr * np.outer(d1, x)
    return total / order.shape[0]


@njit(cache=True)
def _outer_step(V, d, h, lr):
    for a in range(V.shape[0]):
        s = lr * d[a]
        for b in range(V.shape[1]):
            V[a, b] -= s * h[b]


@njit(cache=True)
def hand_epoch_fused(X, y, V1, V2, V3, w, lr, order):
    total = 0.0
    for k in range(order.shape[0]):
        i = order[k]
        x = X[i]
        h1 = sigmoid(V1 @ x)
        h2 = sigmoid(V2 @ h1)
        h3 = sigmoid(V3 @ h2)
        r = w @ h3 - y[i]
        total += r * r
        d3 = 2.0 * r * w * h3 * (1.0 - h3)
        d2 = (V3.T @ d3) * h2 * (1.0 - h2)
        d1 = (V2.T @ d2) * h1 * (1.0 - h1)
        for a in range(w.shape[0]):
            w[a] -= lr * 2.0 * r * h3[a]
        _outer_step(V3, d3, h2, lr)
        _outer_step(V2, d2, h1, lr)
        _outer_step(V1, d1, x, lr)
    return total / order.shape[0]


@njit(cache=True)
def hand_batch_epoch(X, y, V1, V2, V3, w, lr, order, bs):
    total = 0.0
    n = order.shape[0]
    for lo in range(0, n, bs):
        hi = min(lo + bs, n)
        idx = order[lo:hi]
        Xb, yb = X[idx], y[idx]
        h1 = sigmoid(Xb @ V1.T)
        h2 = sigmoid(h1 @ V2.T)
        h3 = sigmoid(h2 @ V3.T)
        r = h3 @ w - yb
        m = hi - lo
        total += np.sum(r * r)
        gr = 2.0 * r / m
        d3 = np.outer(gr, w) * h3 * (1.0 - h3)
        d2 = (d3 @ V3) * h2 * (1.0 - h2)
        d1 = (d2 @ V2) * h1 * (1.0 - h1)
        w -= lr * (h3.T @ gr)
        V3 -= lr * (d3.T @ h2)
        V2 -= lr * (d2.T @ h1)
        V1 -= lr * (d1.T @ Xb)
    return total / n


def _time_hand(fn, X, y, p0, lr, epochs, seed, *extra):
    p = [v.copy() for v in p0.values()]
    rng = np.random.default_rng(seed)
    fn(X, y, *p, lr, np.arange(2, dtype=np.int64), *extra)  # compile / load cache
    p = [v.copy() for v in p0.values()]
    times, loss = [], None
    for _ in range(epochs):
        order = rng.permutation(len(y)).astype(np.int64)
        t = time.perf_counter()
        loss = fn(X, y, *p, lr, order, *extra)
        times.append(time.perf_counter() - t)
    return times, loss, p


def _time_fit(vg, X, y, p0, lr, epochs, seed, batch_size=None):
    stamps = []
    r = fit(vg, p0, (X, y), SGD(lr), epochs=epochs, seed=seed, batch_size=batch_size,
            verbose=False, callbacks=[lambda epoch, res: stamps.append(time.perf_counter())])
    wall = list(np.diff(stamps))  # epoch to epoch, all of fit's work
    return r.epoch_seconds, wall, r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.003)
    args = ap.parse_args(argv)

    X, y, _, _ = load_data(0)
    p0 = init_params(X.shape[1], args.width, 0)
    vg = value_and_grad(loss, wrt=("V1", "V2", "V3", "w"), jit=True)
    vgb = value_and_grad(batch_loss, wrt=("V1", "V2", "V3", "w"), jit=True)
    t = time.perf_counter()
    fit(vg, p0, (X, y), SGD(args.lr), epochs=1, verbose=False)
    fit(vgb, p0, (X, y), SGD(args.lr), epochs=1, batch_size=32, verbose=False)
    print(f"warm-up (code generation, compile or cache load): {time.perf_counter() - t:.1f} s")

    rows = {k: [] for k in ("hand", "fused", "fit", "fit_wall", "hand_b", "fit_b", "fit_b_wall")}
    for rep in range(args.repeats):  # interleaved, so slow spells of a shared machine hit all
        s = rep + 1
        rows["hand"] += _time_hand(hand_epoch, X, y, p0, args.lr, args.epochs, s)[0]
        rows["fused"] += _time_hand(hand_epoch_fused, X, y, p0, args.lr, args.epochs, s)[0]
        e, w, _ = _time_fit(vg, X, y, p0, args.lr, args.epochs, s)
        rows["fit"] += e
        rows["fit_wall"] += w
        rows["hand_b"] += _time_hand(hand_batch_epoch, X, y, p0, args.lr, args.epochs, s, 32)[0]
        e, w, _ = _time_fit(vgb, X, y, p0, args.lr, args.epochs, s, 32)
        rows["fit_b"] += e
        rows["fit_b_wall"] += w
    med = {k: statistics.median(v) for k, v in rows.items()}
    best = {k: min(v) for k, v in rows.items()}

    # same seed, same order: the parameters after one epoch agree
    _, _, ph = _time_hand(hand_epoch, X, y, p0, args.lr, 1, 7)
    r = fit(vg, p0, (X, y), SGD(args.lr), epochs=1, seed=7, verbose=False)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ph, r.params.values()))

    n = len(y)
    print(f"\nfour-layer regression, diabetes: {n} examples, width {args.width}, SGD; "
          f"{args.repeats} x {args.epochs} epochs each, interleaved")
    print(f"{'loop':<44}{'median ms':>10}{'ratio':>7}{'min ms':>9}{'ratio':>7}{'us/step':>9}")
    for label, key, ref, steps in [
            ("hand-written Numba, per example", "hand", "hand", n),
            ("hand-written Numba, fused updates", "fused", "hand", n),
            ("fit, per example (compiled epoch call)", "fit", "hand", n),
            ("fit, per example (whole fit, per epoch)", "fit_wall", "hand", n),
            ("hand-written Numba, batch 32", "hand_b", "hand_b", -(-n // 32)),
            ("fit, batch 32 (compiled epoch call)", "fit_b", "hand_b", -(-n // 32)),
            ("fit, batch 32 (whole fit, per epoch)", "fit_b_wall", "hand_b", -(-n // 32))]:
        print(f"{label:<44}{med[key] * 1e3:>10.3f}{med[key] / med[ref]:>7.2f}"
              f"{best[key] * 1e3:>9.3f}{best[key] / best[ref]:>7.2f}"
              f"{med[key] / steps * 1e6:>9.2f}")
    print(f"\nper-example fit / hand-written (median): {med['fit'] / med['hand']:.2f} compiled "
          f"epoch, {med['fit_wall'] / med['hand']:.2f} whole fit (target <= 1.2); against the "
          f"fused hand loop: {med['fit'] / med['fused']:.2f} and {med['fit_wall'] / med['fused']:.2f}")
    print(f"largest parameter difference after one epoch, fit vs hand-written: {diff:.2e}")
    return med


if __name__ == "__main__":
    main()
