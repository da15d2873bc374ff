"""Functions adjoint must reject, each with the user's file and line in the error."""
import numpy as np


def uses_with(x):
    with open("f") as fh:  # line 6
        pass
    return x


def uses_listcomp(x):
    f = [t * 2 for t in x]  # line 12
    return np.sum(f)


def calls_unknown(x):
    return np.linalg.svd(x)[1][0]  # line 17 (no adjoint rule for svd)


def calls_print(x):
    y = print(x)  # line 21
    return x * y


def unknown_name(x):
    return x * undefined_thing  # noqa: F821  line 26


def returns_vector(x):
    return x * 2.0  # line 30


def rank3_matmul(a, b):
    return np.sum(a @ b)  # line 34


def helper_with_try(x):
    try:  # line 38
        y = x
    except ValueError:
        y = x
    return y


def calls_bad_helper(x):
    return helper_with_try(x) * 2.0


def recursive(x):
    return recursive(x)  # line 50


def if_statement(x):
    if x > 0:  # line 54
        return x
    return -x


def for_else(x):
    for i in range(3):
        x = x * 2.0
    else:
        x = x + 1.0  # line 63
    return x


def sorts_in_place(v):
    v = v * 1.0
    v.sort()  # line 69
    return np.sum(v)


def prints(x):
    print(x)  # line 74
    return np.sum(x)


def adds_at(a, v):
    idx = np.array([0, 0, 1])
    np.multiply.at(a, idx, v)  # line 80
    return np.sum(a)


def writes_out(x):
    y = x * 1.0
    np.exp(x, out=y)  # line 86
    return np.sum(y)


def compares_instead_of_assigning(x):
    y = x * 2.0
    y == 3.0  # line 92
    return np.sum(y)


def drops_a_value(x):
    np.sum(x)  # line 97
    return np.sum(x)


def chained_comparison(s):
    return np.sum(np.where(0 < s < 10, s, 0.0))  # line 102


def calls_scipy_gamma(x):
    y = np.sum(scipy_special.gamma(x))  # line 106
    return y


def calls_scipy_ndtr(x):
    return np.sum(scipy_special.ndtr(x))  # line 111


def fills_diagonal(a):
    np.fill_diagonal(a, 1.0)  # line 115
    return np.sum(a)


import scipy.special as scipy_special  # noqa: E402  (here: the line numbers above are asserted)
