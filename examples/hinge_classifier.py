"""The lecture's linear classifier with hinge loss, trained by per-example SGD.

    Loss(x, y, w) = max{1 - (w . phi(x)) y, 0},   grad_w = -1[margin < 1] phi(x) y

Data: scikit-learn's bundled breast-cancer set (569 tumours, 30 features),
standardised with training statistics plus a bias feature, labels y in {-1, +1}, a
fixed 80/20 split. The gradient comes from `value_and_grad`; epochs run compiled.
"""
import argparse

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from compiler import value_and_grad
from runtime.optim import SGD
from runtime.train import fit


def hinge_loss(x, y, w):
    margin = (w @ x) * y
    return np.maximum(1 - margin, 0.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    X, y = load_breast_cancer(return_X_y=True)
    y = np.where(y == 1, 1.0, -1.0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=args.seed)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    phi = lambda A: np.hstack([(A - mu) / sd, np.ones((len(A), 1))])  # noqa: E731
    Xtr, Xte = phi(Xtr), phi(Xte)

    vg = value_and_grad(hinge_loss, wrt="w")
    result = fit(vg, {"w": np.zeros(Xtr.shape[1])}, (Xtr, ytr), SGD(args.lr),
                 epochs=args.epochs, seed=args.seed, verbose=not args.quiet,
                 desc="hinge SGD epochs")
    print("\nGenerated adjoint of `hinge_loss`:\n")
    print(vg.source)
    w = result.params["w"]
    acc = lambda X, y: float(np.mean(np.sign(X @ w) == y))  # noqa: E731
    print(f"breast cancer, {len(ytr)} train / {len(yte)} test: train accuracy {acc(Xtr, ytr):.3f}, "
          f"test accuracy {acc(Xte, yte):.3f} (majority class: {max(np.mean(yte > 0), np.mean(yte < 0)):.3f})")
    print(f"epochs: {result.timing()}")
    if not acc(Xte, yte) > 0.9:
        raise SystemExit("FAIL: test accuracy is not above 0.9")
    return acc(Xte, yte)


if __name__ == "__main__":
    main()
