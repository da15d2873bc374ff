"""A softmax MLP classifier on scikit-learn's handwritten digits, trained by minibatch Adam.

    H = relu(X W1^T + b1),   Z = H W2^T + b2   (logits, one row per image),
    Loss = mean over the batch of  logsumexp(z_i) - y_i . z_i   (cross-entropy, one-hot y)

Data: `load_digits` (1797 8x8 grey images, 10 classes), pixels scaled to [0, 1], a fixed
stratified 80/20 train/test split, 10% of the training images held out for
validation. He initialisation for the ReLU layer, Glorot for the output layer, zero
biases (runtime.init); Adam (Kingma & Ba 2015) on minibatches of 32; the whole epoch
(shuffle, gradients, Adam updates) runs compiled. Saves the trained parameters
(np.savez) and the loss / gradient-norm curves (PNG).

Run: python examples/digits_mlp.py [--epochs 30] [--hidden 64] [--out results]
"""
import argparse
import os

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from compiler import value_and_grad
from runtime import init
from runtime.checkpoint import load_params
from runtime.functions import logsumexp, relu
from runtime.optim import Adam
from runtime.train import fit

CLASSES = 10


def loss(X, Y, W1, b1, W2, b2):
    """Mean softmax cross-entropy of the batch X (b, 64) with one-hot labels Y (b, 10)."""
    H = relu(X @ W1.T + b1)
    Z = H @ W2.T + b2
    return np.mean(logsumexp(Z, axis=1) - np.sum(Y * Z, axis=1))


def predict(X, W1, b1, W2, b2):
    """Class of each row of X (n, 64) -> (n,) int."""
    return np.argmax(np.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2, axis=1)


def load_data(seed=0):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=y)
    Xtr, Xva, ytr, yva = train_test_split(Xtr, ytr, test_size=0.1, random_state=seed,
                                          stratify=ytr)
    return Xtr, ytr, Xva, yva, Xte, yte


def one_hot(y):
    return np.eye(CLASSES)[y]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results", help="directory for the PNG and parameters")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    Xtr, ytr, Xva, yva, Xte, yte = load_data(args.seed)
    d = Xtr.shape[1]
    params = init.init_params({"W1": (args.hidden, d), "b1": (args.hidden,),
                               "W2": (CLASSES, args.hidden), "b2": (CLASSES,)},
                              {"W1": "he_normal", "b1": "zeros", "W2": "glorot_normal",
                               "b2": "zeros"}, rng=args.seed)
    vg = value_and_grad(loss, wrt=("W1", "b1", "W2", "b2"))
    result = fit(vg, params, (Xtr, one_hot(ytr)), Adam(args.lr), epochs=args.epochs,
                 batch_size=args.batch_size, seed=args.seed, val_data=(Xva, one_hot(yva)),
                 verbose=not args.quiet, desc="digits Adam epochs")

    os.makedirs(args.out, exist_ok=True)
    saved = os.path.join(args.out, "digits_mlp.npz")
    result.save(saved)
    p = load_params(saved)  # what a later session would do
    acc = lambda X, y: float(np.mean(predict(X, **p) == y))  # noqa: E731
    train_acc, val_acc, test_acc = acc(Xtr, ytr), acc(Xva, yva), acc(Xte, yte)

    print(f"\ndigits: {len(ytr)} train / {len(yva)} validation / {len(yte)} test images, "
          f"MLP 64-{args.hidden}-10 (ReLU, softmax), Adam(lr={args.lr}) on minibatches of "
          f"{args.batch_size}, {result.epochs} epochs")
    print(f"  cross-entropy: train {result.loss[-1]:.4f} (epoch mean), validation "
          f"{result.val_loss[-1]:.4f}")
    print(f"  accuracy: train {train_acc:.4f}, validation {val_acc:.4f}, test {test_acc:.4f}")
    norms = ", ".join(f"{k} {v[-1]:.3g}" for k, v in result.grad_norm.items())
    print(f"  last epoch's RMS gradient norms: {norms}")
    print(f"  time per epoch: {np.median(result.epoch_seconds) * 1e3:.2f} ms "
          f"({np.median(result.epoch_seconds) / -(-len(ytr) // args.batch_size) * 1e6:.1f} µs per "
          f"step of {args.batch_size} images); compile: {result.compile_seconds:.2f} s "
          f"({'cache hit' if result.cache_hit else 'cold'})")
    print(f"  parameters saved to {saved}")
    for w in result.warnings:
        print(f"  warning: {w}")
    try:
        from runtime.plot import plot_history
    except ImportError:  # pragma: no cover - matplotlib is in the examples extra
        print("matplotlib not installed: no plot (pip install -e '.[plot]')")
    else:
        path = plot_history(result, os.path.join(args.out, "digits_mlp.png"),
                            title="softmax MLP on digits, minibatch Adam")
        print(f"  loss and gradient-norm curves: {path}")
    if not test_acc >= 0.95:
        raise SystemExit(f"FAIL: test accuracy {test_acc:.4f} is below 0.95")
    return test_acc


if __name__ == "__main__":
    main()
