"""Loss functions for tests/test_safety.py (their line numbers are asserted)."""
import numpy as np

LAM = 0.1
TARGET = np.array([1.0, 2.0, 3.0])


def regularised(w):
    return LAM * np.sum(w ** 2) + np.sum((w - TARGET) ** 2)


def off_by_one(w, x):
    s = 0.0
    for i in range(x.shape[0] + 1):
        s = s + w[i] * x[i]  # line 15
    return s


def least_squares(w, X, y):
    return np.mean((X @ w - y) ** 2)  # line 20


def increment(w, idx):
    b = w * 1.0
    b[idx] += 1.0  # line 25
    return np.sum(b ** 2)


def alias_write(x):
    y = x
    y[0] = 5.0  # line 31
    return np.sum(x * y)


def param_update(w):
    w += 1.0  # line 36
    return np.sum(w * w)


def copied(w):
    v = w.copy()
    v[0] = 1.0
    v += 2.0
    return np.sum(v * w)


def scatter_add(x, idx):
    y = np.zeros(5)
    np.add.at(y, idx, x)
    return np.sum(y * y)


def gather_rows(X, idx):
    return np.sum(np.tanh(X[idx]) * np.sum(X[idx, 0]))


def writes_first_reads_second(x, y):
    x[0] = 5.0 * y[1]
    return np.sum(x * y)


def writes_through_transpose(X, Y):
    X.T[0] = Y[1]
    return np.sum(X * Y)
