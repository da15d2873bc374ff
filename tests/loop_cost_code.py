"""Loops that write arrays element by element (issue 13 §2): their gradients must cost a
small constant times the loop, in time and in tape memory."""
import numpy as np


def prefix_scan(x):
    y = np.zeros(x.shape[0])
    y[0] = x[0]
    for i in range(1, x.shape[0]):
        y[i] = 0.9 * y[i - 1] + x[i]
    return np.sum(y * y)


def nonlinear_scan(x):
    y = x.copy()
    for i in range(1, x.shape[0]):
        y[i] = np.sin(y[i - 1]) * x[i]
    return np.sum(y * y)


def matvec_loops(A, x):
    n, m = A.shape
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for j in range(m):
            acc += A[i, j] * x[j]
        out[i] = acc
    return np.sum(out ** 2)


def heat(u0, steps):
    u = u0.copy()
    n = u.shape[0]
    for t in range(steps):
        new = u.copy()
        for i in range(1, n - 1):
            new[i] = u[i] + 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u = new
    return np.sum(u ** 2)


def rows_written(X):
    Y = np.zeros(X.shape)
    for i in range(X.shape[0]):
        Y[i] = np.tanh(X[i]) * (i + 1.0)
        Y[i, 0] = Y[i, 0] + Y[i, 1]
    return np.sum(Y * Y)


def write_then_read_old(x):
    y = x * 2.0
    p = y * y  # its adjoint reads y as it was before the write
    y[0] = 5.0
    return np.sum(p) + np.sum(y)


def runaway(x):
    s = x[0]
    while s > 0.0:  # never fails: s grows
        s = s + np.tanh(s)
    return s


def branch_writes(w0, c):
    # a branch's unused view (r) must not leak into the other branch's in-place write
    w = w0 * 1.0
    if c > 0.0:
        r = w[::-1]
        r[0] = c
    else:
        r = w[::-1]
        u = w[1:]
        u += np.sum(u) * c
    return np.sum(w * w) + np.sum(r)


def copy_by_multiply(x):
    # `x * 1.0` folds to x: the write must copy x, and the later read of y must see it
    y = x * 1.0
    y[0] = 5.0
    return np.sum(x * y)


def chained_copy(x):
    a = b = x * 1.0
    a[0] = 5.0
    return np.sum(x * b) + np.sum(a)


def shrinking(x):
    v = x * 1.5
    for i in range(2):
        v = np.sin(v[1:])
    return np.sum(v)


def rows_filled(X):
    Y = np.zeros(X.shape)
    for i in range(X.shape[0]):
        Y[i] = X[i] * 2.0
    return np.sum(Y * Y)


def rnn_rows(W, X):
    # the states kept as rows of H: each trip reads row t and writes row t + 1
    T = X.shape[0]
    H = np.zeros((T + 1, W.shape[0]))
    for t in range(T):
        H[t + 1] = np.tanh(W @ H[t] + X[t])
    return np.sum(H * H)


def scan_of_a_copy_by_multiply(x):
    y = x * 1.0  # folds to x: y is copied once before the loop, not at every write
    for i in range(1, x.shape[0]):
        y[i] = y[i] * y[i - 1]
    return np.sum(y)


def scan_into_argument(x):
    for i in range(1, x.shape[0]):
        x[i] = np.sin(x[i - 1]) + x[i]
    return np.sum(x * x)


def reads_rows_then_transposes(X):
    # the loop writes nothing; its cotangent starts from a transpose's (a view)
    s = 0.0
    for i in range(X.shape[0]):
        s = s + np.sin(X[i, 0]) * X[i, 1]
    return s + np.sum(X.T * 2.0)


def scan_in_a_branch(x):
    y = x * 1.0
    for i in range(1, x.shape[0]):
        if x[i] > 0.0:
            y[i] = 0.9 * y[i - 1] + x[i]
    return np.sum(y * y)


def scan_with_break(x):
    y = x * 1.0
    for i in range(1, x.shape[0]):
        if y[i - 1] > 1e9:
            break
        y[i] = 0.9 * y[i - 1] + x[i]
    return np.sum(y * y)


def nested_scan(A):
    B = A * 1.0
    for i in range(1, A.shape[0]):
        for j in range(A.shape[1]):
            B[i, j] = 0.5 * B[i - 1, j] + A[i, j]
    return np.sum(B * B)
