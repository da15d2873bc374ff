"""The lecture's four-layer regression trained with SGD, AdaGrad and Adam (plus momentum
and RMSProp), compared: final test MSE and epochs to reach a training-loss target.

The lecture's advice on training neural networks includes adaptive step sizes
(AdaGrad, Adam). Same data, model, initialisation, example order and epochs for every
optimiser (diabetes, width 16, per-example updates, from
examples/four_layer_regression.py); only the update rule changes. All optimisers share
one compiled epoch loop, so only the first run compiles. Saves the loss and
gradient-norm curves of every run to a PNG.

Run: python examples/optimizer_comparison.py [--epochs 40] [--target 0.5] [--out results]
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from four_layer_regression import init_params, load_data, loss, predict  # noqa: E402

from compiler import value_and_grad  # noqa: E402
from runtime.optim import SGD, AdaGrad, Adam, Momentum, RMSProp  # noqa: E402
from runtime.train import fit  # noqa: E402

# step sizes picked on this split by a coarse sweep (x3 steps) for each rule
OPTIMIZERS = {
    "SGD": SGD(0.003),
    "AdaGrad": AdaGrad(0.01),
    "Adam": Adam(0.001),
    "SGD + momentum": Momentum(0.001, 0.9),
    "RMSProp": RMSProp(0.001),
}


def epochs_to(curve, target):
    """1-based first epoch whose value is <= target, or None."""
    hit = np.flatnonzero(np.asarray(curve) <= target)
    return int(hit[0]) + 1 if hit.size else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--target", type=float, default=0.5,
                    help="training MSE target (units of the target's variance)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results", help="directory for the PNG")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)

    Xtr, ytr, Xte, yte = load_data(args.seed)
    p0 = init_params(Xtr.shape[1], args.width, args.seed)
    vg = value_and_grad(loss, wrt=("V1", "V2", "V3", "w"))
    results = {}
    for name, opt in OPTIMIZERS.items():
        results[name] = fit(vg, p0, (Xtr, ytr), opt, epochs=args.epochs, seed=args.seed,
                            val_data=(Xte, yte), verbose=not args.quiet, desc=name)

    mse = lambda X, y, p: float(np.mean((predict(X, **p) - y) ** 2))  # noqa: E731
    print(f"\nDiabetes, {len(ytr)} train / {len(yte)} test, four-layer net of width {args.width}, "
          f"{args.epochs} epochs of per-example updates, same initialisation and order; MSE in "
          "units of the target's variance (predicting the mean: "
          f"{float(np.mean((yte - ytr.mean()) ** 2)):.3f} on test)")
    head = f"epochs to train MSE <= {args.target}"
    print(f"  {'optimiser':<16}{'settings':<40}{'train MSE':>10}{'test MSE':>10}"
          f"{'best test (epoch)':>19}  {head:>26}{'ms/epoch':>10}")
    table = {}
    for name, r in results.items():
        tr, te = mse(Xtr, ytr, r.params), mse(Xte, yte, r.params)
        best = int(np.argmin(r.val_loss))
        reach = epochs_to(r.loss, args.target)
        table[name] = {"train_mse": tr, "test_mse": te, "epochs_to_target": reach}
        settings = repr(OPTIMIZERS[name]).split("(", 1)[1].rstrip(")")
        print(f"  {name:<16}{settings[:39]:<40}{tr:>10.4f}{te:>10.4f}"
              f"{r.val_loss[best]:>12.4f} ({best + 1:>3})  "
              f"{'not reached' if reach is None else reach:>26}"
              f"{np.median(r.epoch_seconds) * 1e3:>10.3f}")
    compile_s = results["SGD"].compile_seconds
    print(f"\ncompile of the epoch loop (first run only; the others reuse it): {compile_s:.2f} s"
          f" ({'cache hit' if results['SGD'].cache_hit else 'cold'})")
    for name, r in results.items():
        for w in r.warnings:
            print(f"  {name}: {w}")
    try:
        from runtime.plot import plot_comparison
    except ImportError:  # pragma: no cover - matplotlib is in the examples extra
        print("matplotlib not installed: no plot (pip install -e '.[plot]')")
    else:
        path = plot_comparison(results, os.path.join(args.out, "optimizer_comparison.png"),
                               title="four-layer regression on diabetes: per-example updates",
                               val_label="test")
        print(f"loss and gradient-norm curves: {path}")
    return table


if __name__ == "__main__":
    main()
