"""Losses for tests/test_no_silent_errors.py: writes through views (refused until issue
13 makes them write through) and the copies that are not views (allowed)."""
import numpy as np
def slice_view(x):
    y = x.copy()
    v = y[1:3]
    v[0] = 10.0 * x[0]
    return np.sum(y * y)
def rows_in_place(X):
    Y = X.copy()
    for row in Y:
        row[0] = 3.0 * row[1]
    return np.sum(Y * Y)
def base_after_view(x):
    y = x.copy(); z = y[1:3]; y[1] = 7.0
    return np.sum(z * x[:2])
def reshape_view(x):
    y = x.copy(); z = y.reshape(2, 2); z[0, 0] = 5.0
    return np.sum(y * x)
def transpose_aug(X):
    Y = X.copy(); Z = Y.T; Z += 1.0
    return np.sum(Y)
def ok_copy(x):
    y = x.copy(); z = y[1:3].copy(); z[0] = 5.0; y[0] = 2.0
    return np.sum(y * x) + np.sum(z)
def ok_flatten(x):
    y = x.reshape(2, 2).flatten(); y[0] = 5.0
    return np.sum(y * x)
def ok_reassign(x):
    y = x.copy(); z = y[1:3]; z = z * 2.0; z[0] = 1.0; y[0] = 3.0
    return np.sum(z) + np.sum(y * x)
def ok_read_only_view(x):
    y = x.copy(); y[0] = 5.0; z = y[1:]
    return np.sum(z * x[1:]) + np.sum(y)
