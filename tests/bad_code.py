"""Functions adjoint must reject, each with the user's file and line in the error."""
import numpy as np


def uses_with(x):
    with open("f") as fh:  # line 6
        pass
    return x


def uses_lambda(x):
    f = lambda t: t * 2  # noqa: E731  line 12
    return f(x)


def calls_unknown(x):
    return np.linalg.slogdet(x)[1]  # line 17 (no adjoint rule for slogdet)


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
