"""Losses for tests/test_no_silent_errors.py: loop targets read after the loop, and/or
as values (Python semantics, compared with running these functions)."""
import numpy as np
G = 5.0
def after(x, n):
    i = 0
    for i in range(n):
        x = x * 2.0
    return x * i
def after_rows(x, X):
    row = x * 0.0
    for row in X:
        x = x + row
    return np.sum(x * row)
def after_enum(x):
    k = 0
    s = 0.0
    for k, xi in enumerate(x):
        s = s + xi * xi
    return s * k
def undefined_after(x, n):
    for j in range(n):
        x = x * 2.0
    return x * j
def first_in_body(x, n):
    for j in range(n):
        y = x * 2.0
    return y
def global_shadow(x, n):
    for G in range(n):
        x = x * 2.0
    return x * G
def with_break(x, n):
    i = 0
    for i in range(n):
        x = x * 2.0
        if x > 10.0:
            break
    return x * i
def reassigned_in_body(x, n):
    i = 0
    for i in range(n):
        x = x + i
        i = i * 10
    return x + i
def f_or(x): return x or 1.0
def f_and(x, y): return x and y
def f_or3(x, y): return (x - 1.0) or (y - 2.0) or 7.0
def f_bool(x, y):
    if x > 0 and y > 0 or x < -5:
        return x * y
    return x + y
