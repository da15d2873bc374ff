"""The lecture's four-layer network, trained by per-example SGD on real data.

    Loss(x, y, V1, V2, V3, w) = (w . sigma(V3 sigma(V2 sigma(V1 phi(x)))) - y)^2

Data: scikit-learn's bundled diabetes set (442 patients, 10 features): features
standardised with training statistics plus a bias feature (phi(x) has 11 entries), the
target standardised, a fixed 80/20 train/test split. The gradient comes from
`value_and_grad`; the whole epoch (gradient and update for every example) runs
compiled by Numba. Run: `make demo` (or python examples/four_layer_regression.py).
"""
import argparse
import time

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

from compiler import value_and_grad
from runtime import init
from runtime.functions import sigmoid
from runtime.optim import SGD
from runtime.train import fit


def loss(x, y, V1, V2, V3, w):
    h1 = sigmoid(V1 @ x)
    h2 = sigmoid(V2 @ h1)
    h3 = sigmoid(V3 @ h2)
    residual = w @ h3 - y
    return residual ** 2


def predict(X, V1, V2, V3, w):
    """Network output for each row of X (n, d) -> (n,)."""
    h1 = sigmoid(X @ V1.T)
    h2 = sigmoid(h1 @ V2.T)
    h3 = sigmoid(h2 @ V3.T)
    return h3 @ w


def load_data(seed=0):
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    phi = lambda A: np.hstack([(A - mu) / sd, np.ones((len(A), 1))])  # noqa: E731
    return phi(Xtr), (ytr - ym) / ys, phi(Xte), (yte - ym) / ys


def init_params(d, width, seed=0):
    """Glorot-normal weights for the sigmoid layers (the lecture: careful initialisation),
    N(0, 1/width) for the linear read-out w; all drawn from one seeded Generator."""
    rng = np.random.default_rng(seed)
    return dict(V1=init.glorot_normal((width, d), rng), V2=init.glorot_normal((width, width), rng),
                V3=init.glorot_normal((width, width), rng),
                w=init.normal(width, std=np.sqrt(1.0 / width), rng=rng))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--jit", action="store_true",
                    help="compile before training (default: start at once on the NumPy tier "
                         "and switch to the compiled loop when Numba is done)")
    args = ap.parse_args(argv)

    Xtr, ytr, Xte, yte = load_data(args.seed)
    params = init_params(Xtr.shape[1], args.width, args.seed)
    vg = value_and_grad(loss, wrt=("V1", "V2", "V3", "w"), jit=True if args.jit else "auto")

    t = time.perf_counter()
    spec = vg.specialize(Xtr[0], ytr[0], *params.values())
    codegen_s = time.perf_counter() - t
    lines = spec.source.splitlines()
    print("Generated adjoint of `loss` (value and gradient):\n")
    print("\n".join(lines[:40]))
    if len(lines) > 40:
        print(f"    ... {len(lines) - 40} more lines: print(vg.source)")
    print()

    result = fit(vg, params, (Xtr, ytr), SGD(args.lr), epochs=args.epochs, seed=args.seed,
                 verbose=not args.quiet, desc="SGD epochs")
    p = result.params
    mse = lambda X, y: float(np.mean((predict(X, **p) - y) ** 2))  # noqa: E731
    mean_mse = float(np.mean((yte - ytr.mean()) ** 2))
    beta = np.linalg.lstsq(Xtr, ytr, rcond=None)[0]
    ols_tr = float(np.mean((Xtr @ beta - ytr) ** 2))
    ols_te = float(np.mean((Xte @ beta - yte) ** 2))
    train_mse, test_mse = mse(Xtr, ytr), mse(Xte, yte)

    print(f"\nDiabetes, {len(ytr)} train / {len(yte)} test examples, width {args.width}, "
          f"{args.epochs} epochs of per-example SGD (lr={args.lr}); MSE in units of the "
          "target's training variance:")
    print(f"  {'model':<26}{'train MSE':>10}{'test MSE':>10}")
    print(f"  {'predict the mean':<26}{float(np.var(ytr)):>10.4f}{mean_mse:>10.4f}")
    print(f"  {'least squares (numpy)':<26}{ols_tr:>10.4f}{ols_te:>10.4f}")
    print(f"  {'four-layer net (adjoint)':<26}{train_mse:>10.4f}{test_mse:>10.4f}")
    print(f"\nepochs: {result.timing()}")
    if "compiled" in result.tiers:
        print(f"code generation: {codegen_s:.3f} s; compile of the epoch loop: "
              f"{result.compile_seconds:.2f} s ({'cache hit' if result.cache_hit else 'cold'})")
    else:
        print(f"code generation: {codegen_s:.3f} s; training ended before Numba finished "
              "compiling the loop in the background (run with --jit to compile first)")
    if not test_mse < 0.8 * mean_mse:
        raise SystemExit(f"FAIL: test MSE {test_mse:.4f} does not clearly beat the mean "
                         f"baseline {mean_mse:.4f}")
    return test_mse


if __name__ == "__main__":
    main()
