"""A corpus of small loss functions mixing branches and loops (issue 3).

Each function is registered with `case(args..., wrt=...)`: sample arguments (several
points, chosen so both sides of each branch are taken somewhere) and the arguments to
differentiate. tests/test_control_flow.py checks every case against autograd (run on
this same source) and central differences, compiled and as plain NumPy. Cases marked
`autograd=False` write array elements, which autograd cannot trace; they are checked
against finite differences only.
"""
import numpy as np

from runtime.functions import sigmoid

CASES = []
rng = np.random.default_rng(7)
V3 = [rng.normal(size=3) for _ in range(3)]
M33 = [rng.normal(size=(3, 3)) * 0.5 for _ in range(3)]
X43 = [rng.normal(size=(4, 3)) for _ in range(3)]


def case(*points, wrt=(0,), autograd=True):
    def register(fn):
        CASES.append((fn, points, wrt, autograd))
        return fn
    return register


S = [(0.3,), (0.9,), (1.7,)]


# ---- loops over range ----------------------------------------------------------------
@case((0.9, 3), (1.05, 4), (0.5, 2))
def square_n_times(x, n):
    for i in range(n):
        x = x * x
    return x


@case(*S)
def accumulate_reads_old_value(x):
    s = 1.0
    for i in range(4):
        s = s + x * s + x
    return s


@case((0.4, 5), (1.1, 3), (0.8, 0))
def trip_count_from_argument(x, n):
    s = 0.0
    for i in range(n):
        s = s + x ** i
    return s


@case(*S)
def augmented_assignment_in_loop(x):
    s = 0.0
    for i in range(3):
        s += x * x
        s *= 1.1
    return s


@case(*S)
def int_accumulator_promoted(x):
    s = 0
    for i in range(3):
        s = s + x * i
    return s * s


@case(*S)
def range_with_start_and_step(x):
    s = x
    for i in range(10, 1, -3):
        s = s * 0.5 + x / i
    return s


@case(*S)
def fibonacci_like(x):
    a = x
    b = 1.0
    for i in range(5):
        a, b = b, a + b * x
    return a * b


@case(*S)
def several_carried(x):
    a = x
    b = 2.0 * x
    c = 1.0
    for i in range(3):
        c = c * a + b
        a = np.tanh(b)
        b = a + c * 0.1
    return a + b + c


@case(*S)
def loop_index_used(x):
    s = 0.0
    for i in range(1, 5):
        s = s + np.exp(-x * i) / i
    return s


@case(*S)
def nested_loops(x):
    s = 0.0
    for i in range(3):
        for j in range(2):
            s = s + x * (i + j) + s * 0.1
    return s * s


@case(*S)
def nested_loops_inner_depends_on_outer(x):
    s = x
    for i in range(4):
        t = s
        for j in range(i):
            t = t * 0.9 + x
        s = s + t * 0.1
    return s


@case(*S)
def triple_nested(x):
    s = 0.0
    for i in range(2):
        for j in range(2):
            for k in range(2):
                s = s + x ** (i + j + k)
    return s


@case(*S)
def loop_with_zero_trips(x):
    s = x * 2.0
    for i in range(0):
        s = s * x
    return s


@case(*[(v,) for v in V3])
def vector_carried(w):
    s = w * 0.0
    for i in range(3):
        s = s + w * (i + 1.0)
        s = np.tanh(s)
    return np.sum(s * s)


@case(*[(m, v) for m, v in zip(M33, V3)], wrt=(0, 1))
def power_iteration(A, v):
    for i in range(3):
        v = A @ v
    return v @ v


@case(*[(m, v) for m, v in zip(M33, V3)], wrt=(0, 1))
def sigmoid_stack(W, h):
    for i in range(4):
        h = sigmoid(W @ h)
    return np.sum(h)


@case(*[(m, m.T.copy(), v, x) for m, v, x in zip(M33, V3, X43)], wrt=(0, 1, 2, 3))
def rnn_recurrence(W, U, h, xs):
    for t in range(4):
        h = np.tanh(W @ h + U @ xs_row(xs, t))
    return np.sum(h * h)


def xs_row(xs, t):
    s = 0.0 * xs[0]
    for k, row in enumerate(xs):
        if k == t:
            s = s + row
    return s


@case(*[(x, v) for x, v in zip(X43, V3)], wrt=(0, 1))
def loop_over_rows(X, w):
    s = 0.0
    for row in X:
        s = s + np.tanh(row @ w)
    return s


@case(*[(x, v) for x, v in zip(X43, V3)], wrt=(0, 1))
def loop_with_enumerate(X, w):
    s = 0.0
    for i, row in enumerate(X):
        s = s + (i + 1.0) * (row @ w) ** 2
    return s


@case(*[(x, v) for x, v in zip(X43, V3)], wrt=(0, 1))
def rnn_over_rows(X, h):
    for row in X:
        h = np.tanh(h * 0.5 + row)
    return np.sum(h)


# ---- branches ------------------------------------------------------------------------
B = [(-1.2,), (0.4,), (2.5,)]


@case(*B)
def if_else(x):
    if x > 0:
        y = x * x
    else:
        y = -x * 3.0
    return y


@case(*B)
def if_elif_else(x):
    if x > 1:
        y = np.exp(x)
    elif x > -1:
        y = x * x * x
    else:
        y = np.tanh(x)
    return y + x


@case(*B)
def if_without_else(x):
    y = x * 2.0
    if x < 0.5:
        y = y * y
    return y


@case(*B)
def branch_on_computed_value(x):
    y = x * x - 2.0
    if y > 0:
        z = np.exp(-y)
    else:
        z = y * y
    return z


@case(*B)
def nested_branches(x):
    if x > 0:
        if x > 1:
            y = x ** 3
        else:
            y = x * 2.0
    else:
        if x < -1:
            y = -x
        else:
            y = x * x
    return y


@case(*B)
def conditional_expression(x):
    y = x * x if x > 1 else -x
    return y * 2.0


@case(*B)
def conditional_expression_nested(x):
    return (x if x > 2 else x * x) if x > 0 else np.exp(x)


@case(*B)
def boolean_condition(x):
    if x > -1 and x < 1:
        y = x * 10.0
    else:
        y = x
    return y * y


@case(*B)
def not_condition(x):
    if not x > 0:
        y = x * x
    else:
        y = x
    return y


@case(*B)
def branch_uses_value_from_before(x):
    a = np.tanh(x)
    b = a * 2.0
    if a > 0.3:
        b = b + a * a
    return a * b


@case(*B)
def branch_on_argument_flag(x):
    t = x * 3.0
    if t:
        t = t * t
    return t


@case(*[(v,) for v in V3])
def branch_on_vector_sum(w):
    if np.sum(w) > 0:
        s = np.sum(w * w)
    else:
        s = np.sum(np.exp(w))
    return s


@case(*B)
def early_return_in_branch(x):
    if x > 0:
        return x * 2.0
    return x * x


@case(*B)
def return_in_both_branches(x):
    y = x + 1.0
    if y > 1:
        return y * y
    else:
        return -y


@case(*B)
def early_return_then_code(x):
    if x > 2:
        return x
    y = x * x
    if y > 1:
        return y * 3.0
    return y + x


# ---- loops and branches together ---------------------------------------------------
@case(*S, (2.2,))
def early_return_inside_loop(x):
    for i in range(10):
        if x > 5:
            return x * 3
        x = x + 1.5
    return x


@case(*S, (2.2,))
def branch_inside_loop(x):
    for i in range(6):
        if x > 1:
            x = x * 0.5
        else:
            x = x * 3.0
    return x


@case(*B)
def loop_inside_branch(x):
    if x > 0:
        for i in range(3):
            x = x * 1.1 + 0.1
    else:
        x = -x
    return x * x


@case(*S)
def continue_in_loop(x):
    s = 0.0
    for i in range(5):
        if i == 2:
            continue
        s = s + x * i
    return s * s


@case(*S, (2.2,))
def break_in_for(x):
    for i in range(10):
        x = x * 1.2
        if x > 3:
            break
    return x


@case(*S)
def break_and_continue(x):
    s = 0.0
    for i in range(10):
        if i % 4 == 1:
            continue
        s = s + x * i
        if s > 6:
            break
    return s


@case(*S)
def loop_carries_branch_result(x):
    s = x
    for i in range(4):
        t = s * s if s < 1 else np.sqrt(s)
        s = t + 0.1 * x
    return s


@case(*S)
def max_in_loop(x):
    m = x
    for i in range(4):
        m = np.maximum(m, x * i - 1.0)
    return m


@case(*S, (1.3,))
def early_return_in_nested_loop(x):
    for i in range(4):
        for j in range(3):
            x = x * 1.1
            if x > 2:
                return x * x
    return x


# ---- while loops ---------------------------------------------------------------------
W = [(0.3,), (1.1,), (3.7,)]


@case(*W)
def while_doubles(x):
    while x < 10:
        x = x * 2
    return x


@case(*W)
def while_with_counter(x):
    i = 0
    while i < 3:
        x = np.tanh(x) * 1.5
        i += 1
    return x


@case(*W)
def while_true_break(x):
    s = 0.0
    while True:
        s = s + x
        if s > 4:
            break
    return s * s


@case(*W)
def while_data_dependent_trip(x):
    s = 0.0
    n = 0
    while s < 5.0:
        s = s + x * x + 0.5
        n = n + 1
    return s * n


@case(*[(v,) for v in V3])
def while_on_vector_norm(v):
    while np.sum(v * v) < 10.0:
        v = v * 1.5 + 0.1
    return np.sum(v)


@case(*W)
def while_with_branch(x):
    while x < 8.0:
        if x < 2.0:
            x = x * 3.0
        else:
            x = x + 1.0
    return x


@case(*W)
def while_with_continue(x):
    i = 0
    s = 0.0
    while i < 6:
        i = i + 1
        if i == 3:
            continue
        s = s + x / i
    return s


@case(*W)
def early_return_in_while(x):
    while x < 100.0:
        x = x * 2.0
        if x > 6.0:
            return x + 1.0
    return x


@case(*W)
def nested_while_in_for(x):
    s = 0.0
    for i in range(3):
        t = x
        while t < 3.0:
            t = t * 2.0
        s = s + t
    return s


@case(*W)
def for_in_while(x):
    while x < 5.0:
        for i in range(2):
            x = x * 1.5
    return x


# ---- helpers with control flow -------------------------------------------------------
def power_by_loop(x, n):
    r = 1.0
    for i in range(n):
        r = r * x
    return r


def clipped(x):
    if x > 1.0:
        return 1.0 + 0.1 * x
    return x


@case(*S)
def calls_helper_with_loop(x):
    return power_by_loop(x, 3) + power_by_loop(x * 2.0, 2)


@case(*S, (2.0,))
def calls_helper_with_early_return(x):
    return clipped(x) * clipped(x * x)


@case(*S)
def helper_in_loop(x):
    s = 0.0
    for i in range(3):
        s = s + clipped(x + i * 0.4)
    return s


# ---- element writes (autograd cannot trace them: finite differences only) ------------
@case(*S, autograd=False)
def write_then_sum(x):
    y = np.zeros(4)
    for i in range(4):
        y[i] = x * i + x * x
    return np.sum(y * y)


@case(*[(v,) for v in V3], autograd=False)
def overwrite_elements(w):
    y = w * 1.0
    for i in range(3):
        y[i] = y[i] * y[i] + 1.0
    return np.sum(y)


@case(*[(v,) for v in V3], autograd=False)
def prefix_sums(w):
    y = w * 1.0
    for i in range(1, 3):
        y[i] = y[i - 1] + w[i] * w[i]
    return np.sum(y * y)
