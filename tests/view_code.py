"""Losses that write through views, into arguments and at repeated indices, for
tests/test_views.py and tests/test_no_silent_errors.py. Each computes under NumPy what
its gradient's forward value must equal. A line a refusal names ends in `# refused`."""
import numpy as np

from compiler import stop_gradient


# ---- the two examples ---------------------------------------------------------------
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


# ---- every kind of view ---------------------------------------------------------------------
def base_after_view(x):
    y = x.copy(); z = y[1:3]; y[1] = 7.0
    return np.sum(z * x[:2])


def reshape_view(x):
    y = x.copy(); z = y.reshape(2, 2); z[0, 0] = 5.0
    return np.sum(y * x)


def transpose_aug(X):
    Y = X.copy(); Z = Y.T; Z += 1.0
    return np.sum(Y * X)


def step_slice(x):
    y = x * 1.0
    v = y[::2]
    v[1] = x[0] * x[3]
    return np.sum(y * y) + np.sum(v)


def negative_step(x):
    y = x.copy()
    v = y[::-1]
    v[0] = x[1] * x[2]
    v[1:3] = v[1:3] * 2.0
    return np.sum(y ** 2)


def ellipsis_view(X):
    Y = X.copy()
    c = Y[..., 0]
    c[1] = X[0, 1] * X[2, 0]
    return np.sum(Y * X)


def new_axis_view(x):
    y = x.copy()
    v = y[None, 1:3]
    v[0, 1] = x[0] ** 2
    return np.sum(y * x) + np.sum(v)


def attribute_T(X):
    Y = X.copy()
    Z = Y.T
    Z[1, 2] = X[0, 0] * 4.0
    return np.sum(Y * Y)


def transpose_axes(X):
    Y = X.reshape(2, 2, 2).copy()
    Z = np.transpose(Y, (1, 2, 0))
    Z[0, 1, 0] = np.sum(X) * X[0]
    return np.sum(Y * Y)


def swapaxes_view(X):
    Y = X.copy()
    Z = np.swapaxes(Y, 0, 1)
    Z[0] = Z[0] * X[1, 1]
    return np.sum(Y * X)


def ravel_view(X):
    Y = X.copy()
    r = Y.ravel()
    r[3] = X[0, 0] * X[1, 1]
    return np.sum(Y * X)


def squeeze_view(x):
    y = np.zeros((1, 4))
    y[0] = x
    s = np.squeeze(y, axis=0)
    s[2] = x[1] * x[3]
    return np.sum(y * y)


def expand_dims_view(x):
    y = x.copy()
    e = np.expand_dims(y, 0)
    e[0, 2] = x[0] * x[1]
    return np.sum(y ** 3)


def int_index_row(X):
    Y = X.copy()
    r = Y[1]
    r[0] = r[1] * X[0, 0]
    return np.sum(Y * Y)


def view_of_view(x):
    y = x.copy()
    v = y[1:]
    w = v[::2]
    w[1] = x[0] * 5.0
    return np.sum(y * x) + np.sum(w)


def two_names(x):
    y = x.copy()
    z = y
    z[0] = x[1] * x[2]
    return np.sum(y * x)


def aug_on_view_element(x):
    y = x.copy()
    v = y[1:]
    v[0] += x[0] * x[3]
    v *= 2.0
    return np.sum(y * y)


def chained_subscript(X):
    Y = X.copy()
    Y[1][0] = X[0, 1] * 2.0
    Y.T[1, 2] = X[2, 0]
    return np.sum(Y * X)


def rebound_base(x):
    y = x.copy()
    v = y[1:3]
    y = y * 2.0
    v[0] = x[0] * 7.0
    return np.sum(v * v) + np.sum(y)


def enumerate_rows(X):
    Y = X.copy()
    for i, row in enumerate(Y):
        row[1] = row[0] * (i + 1.0)
        row += 1.0
    return np.sum(Y * X)


def view_written_in_loop(x):
    y = x.copy()
    v = y[1:]
    for i in range(1, 3):
        v[i] = v[i - 1] * 0.5 + x[i]
    return np.sum(y * y)


def row_read_after_base_write(X):
    Y = X.copy()
    s = 0.0
    for row in Y:
        Y[2, 0] = Y[2, 0] + row[0]   # later rows see earlier writes into Y
        s = s + row[0] * row[1]
    return s + np.sum(Y)


def view_in_branch(x):
    y = x.copy()
    v = y[1:3]
    if x[0] > 0:
        v[0] = x[0] * 3.0
    else:
        v[1] = x[1] * 3.0
    return np.sum(y * x)


# ---- writes into arguments --------------------------------------------------------------------
def write_argument(x, a, b):
    x[0] = a * b
    return np.sum(x * x)


def write_argument_view(X, w):
    v = X[:, 1]
    v *= w
    X += 1.0
    return np.sum(X ** 2)


# ---- repeated indices ---------------------------------------------------------------------------
IDX = np.array([0, 2, 0, 3, 2])


def repeated_set(x, v):
    y = x.copy()
    y[IDX] = v * 2.0
    return np.sum(y * x)


def repeated_aug(x, v):
    y = x.copy()
    y[IDX] += v * v
    return np.sum(y ** 2)


def add_at(x, v):
    y = x.copy()
    np.add.at(y, IDX, v * v)
    return np.sum(y ** 2)


def add_at_rows(X, v):
    Y = X.copy()
    np.add.at(Y, np.array([1, 1, 0]), v)
    return np.sum(Y * Y)


def add_at_view(X, v):
    Y = X.copy()
    c = Y[:, 1]
    np.add.at(c, [0, 2, 0], v)
    return np.sum(Y * X)


# ---- copies that are not views (writes do not reach x) -----------------------------------------
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
def ok_astype(x):
    y = x.astype(float); y[0] = 9.0; z = np.array(x); z[1] = 8.0; w = +x; w[2] = 7.0
    return np.sum(x * y * z * w)


# ---- refused, at the line marked ---------------------------------------------------------------
G = np.array([1.0, 2.0, 3.0, 4.0])


def reshape_of_argument(x):
    z = x.reshape(2, 2)
    z[0, 0] = 1.0  # refused
    return np.sum(z)


def reshape_of_transpose(X):
    Y = X.copy()
    r = Y.T.reshape(-1)
    r[0] = 1.0  # refused
    return np.sum(Y)


def base_written_under_unknown_view(X):
    Y = X.copy()
    r = Y.T.reshape(-1)
    Y[0, 0] = 1.0  # refused
    return np.sum(r)


def view_depends_on_branch(x):
    y = x.copy()
    if x[0] > 0:
        v = y[0:2]
    else:
        v = y[1:3]
    v[0] = 1.0  # refused
    return np.sum(y)


def view_changes_in_loop(x):
    y = x.copy()
    v = y[0:2]
    for i in range(2):
        v[0] = v[0] + 1.0  # refused
        v = y[2:4]
    return np.sum(y)


def writes_global(x):
    g = G
    g[0] = x[0]  # refused
    return np.sum(g * x)


def _helper(a):
    a[0] = 0.0  # refused
    return np.sum(a)


def writes_callee_parameter(x):
    y = x.copy()
    return _helper(y) + np.sum(y)


def writes_temporary(x):
    (x * 2.0)[0] = 1.0  # refused
    return np.sum(x)


def reshape_of_np_copy_of_argument(x):
    y = np.copy(x)  # order 'K': the caller's layout, unlike x.copy()
    z = y.reshape(2, 2)
    z[0, 0] = 1.0  # refused
    return np.sum(y)


def writes_array_in_a_list(X):
    Y = X.copy()
    rows = [Y[0], Y[1]]
    Y[0, 0] = 5.0  # refused
    return np.sum(rows[0])


def writes_its_data_row(w, x, y):  # fit passes rows of the data matrix
    x[0] = 1.0
    x *= 0.5
    return (w @ x - y) ** 2


def copies_its_data_row(w, x, y):
    x = x.copy()
    x[0] = 1.0
    x *= 0.5
    return (w @ x - y) ** 2


# ---- more: masks, .T subscripts, views from calls, rows of .T, chains, aliases -------------
def mask_through_view(X):
    Y = X.copy()
    v = Y[1:]
    v[v > 2.5] = 0.5 * X[0, 0]
    return np.sum(Y * X)

def aug_T_sub(X):
    Y = X.copy()
    Y.T[1] += X[:, 0] * 2.0
    return np.sum(Y * Y)

def view_from_callee(x):
    y = x.copy()
    u = _tail(y)
    u[0] = x[0] * 3.0
    return np.sum(y * x)

def _tail(a):
    return a[1:]

def row_of_T(X):
    Y = X.copy()
    for col in Y.T:
        col[0] = col[1] * 2.0
    return np.sum(Y * X)

def add_at_2d_rows(X, v):
    Y = X.copy()
    np.add.at(Y, (np.array([0, 0, 2]), 1), v)
    return np.sum(Y * Y)

def chain_T_reshape(x):
    y = x.copy()
    z = y.reshape(2, 3).T   # contiguous reshape then transpose: a view
    z[1, 0] = x[0] * 5.0
    return np.sum(y * x)

def writes_twice_alias(x):
    y = x.copy()
    a = y
    b = a[::2]
    b[1] = 1.0
    a[0] = x[1] * 2.0
    return np.sum(y * b[0]) + np.sum(a)


def writes_stop_gradient_alias(x):
    y = x.copy()
    z = stop_gradient(y)
    z[0] = 1.0  # refused
    return np.sum(y)


def write_argument_rows(X, a):
    for row in X:
        row[0] = row[1] * a
    return np.sum(X * X)


def writes_into_a_transposed_result(X):
    M = X.T * 1.0  # NumPy keeps X.T's layout (order 'K'): M is F-ordered
    M[0, 0] = 5.0
    return np.sum(M * 0.1)


def writes_back_through_a_transpose(X):
    M = X.copy()
    for col in M.T:
        col[0] = col[1] * 0.5
    return np.sum(M * 0.1)


def reshape_after_loop_writes(X):
    M = X.copy()
    for i in range(3):
        M[i, 0] = M[i, 1] * 2.0
    W = M.reshape(-1)  # M is still C-ordered: a view
    W[1] = X[0, 0] * 3.0
    return np.sum(M * X)


def reshape_after_loop_transposes(X):
    M = X.copy()
    for i in range(2):
        M = M.T * 1.0  # F-ordered (NumPy's order 'K') on odd trips
    W = M.reshape(-1)
    W[1] = 3.0  # refused
    return np.sum(M)


def view_taken_again_in_a_branch(X):
    M = X.copy()
    V = M[1:]
    if X[0, 0] > 0:
        V = M[1:]  # the same view, its bounds new constants of the branch
    V[0, 0] = X[0, 1] * 2.0
    return np.sum(M * X)


# ---- views held by a temporary tuple (unpacked, looped over), np.split's views ----------
def unpacked_views(x):
    y = x * 2.0
    a, b = y[:2], y[2:]
    y[0] = x[1] * x[3]
    return np.sum(a * x[:2]) + np.sum(b * b)


def swap_idiom_on_rows(X):
    M = X * 1.0
    M[0], M[2] = M[2], M[0]  # NumPy: M[0] takes row 2, then M[2] takes the new M[0]
    return np.sum(M * X)


def _halves(y):
    return y[:2], y[2:]


def unpacked_views_from_callee(x):
    y = x * 1.0
    a, b = _halves(y)
    a += b * x[0]
    return np.sum(y * x) + np.sum(a)


def loop_over_tuple_of_views(x):
    y = x * 1.0
    for i, v in enumerate((y[:2], y[1:3], y[2:])):  # overlapping: later trips see writes
        v[0] = v[1] * x[i] + 1.0
        if x[i] > 1.5:
            y[3] = y[3] * x[0]
    return np.sum(y * x)


def split_views_written(X):
    M = X * 1.0
    top, rest = np.split(M, [1])
    top[0, 1] = X[2, 0] * 3.0
    rest += top
    return np.sum(M * X)


def view_from_conditional_expression(x):
    y = x * 1.0
    v = y[:2] if x[0] > 0 else y[2:]
    v += 1.0  # refused
    return np.sum(y)


def base_written_under_broadcast_view(x):
    y = x * 1.0
    b = np.broadcast_to(y, (2, 4))
    y[0] = 5.0  # refused
    return np.sum(b)


def zero_d_view(x):
    y = x * 1.0
    a = y[0, ...]  # refused
    y[0] = 10.0
    return a * 1.0


# ---- which NumPy calls return their argument itself, and which a new array --------------
_W6 = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def np_float64_of_a_float_array_is_it(x):
    y = x * 1.0
    z = np.float64(y)  # NumPy: y itself
    z[0] = x[1] * 3.0
    return np.sum(y * _W6[:4])


def one_array_concatenated_is_new(x):
    y = x * 2.0
    z = np.concatenate([y])
    z[0] = 100.0
    w = np.hstack([y])
    w[1] = 50.0
    return np.sum(y * _W6[:4]) + np.sum(z * w)


def round_and_nan_to_num_of_ints_are_new(x):
    k = np.arange(4) - 2
    z = np.round(k)
    z[0] = 100
    n = np.nan_to_num(k)
    n[1] = 7
    return np.sum(k * x) + np.sum(z * x) + np.sum(n * x)


def sum_over_no_axes_is_new(x):
    y = x * 2.0
    z = np.sum(y, axis=())
    z[0] = 100.0
    return np.sum(y * _W6[:4]) + np.sum(z)


def asarray_with_a_dtype_of_an_argument(x):
    z = np.asarray(x, dtype=float)  # x itself for a float64 x, a copy for float32
    z[0] = 2.0  # refused
    return np.sum(x)


def identity_results_are_views(x):
    S = np.outer(x, x)
    P = np.linalg.matrix_power(S, 1)  # S itself in NumPy
    P[0, 0] = 100.0 * x[1]
    y = x * 2.0
    d = np.diff(y, n=0)  # y itself
    d[0] = 3.0
    E = np.einsum('ij->ij', S)  # a view of S
    E[1, 1] = x[2]
    return np.sum(S) * x[0] + np.sum(y * x)


def one_array_column_stacked_is_new(x):
    y = x * 2.0
    s = np.column_stack([y])  # a new (n, 1) array, not a view of y
    s[0, 0] = 100.0
    return np.sum(y * x) + np.sum(s)
