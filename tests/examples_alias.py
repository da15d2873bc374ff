"""A module that imports NumPy under another name (used by test_api)."""
import numpy as numpy_by_another_name


def f(a):
    return numpy_by_another_name.exp(a * a)
