"""The oracles every gradient test uses: autograd (an independent AD library, run on
the same source) and central finite differences."""
import types

import numpy as np


def autograd_twin(fn):
    """The same function (same code object) with NumPy replaced by autograd.numpy and the
    runtime functions by autograd-traceable ones: autograd differentiates our source."""
    import autograd.numpy as anp
    import autograd.scipy.special as asp

    from runtime import functions as rf

    def a_sigmoid(x):
        return 0.5 * (anp.tanh(0.5 * x) + 1.0)

    def a_log_softmax(x, axis=-1):
        return x - asp.logsumexp(x, axis=axis, keepdims=True)

    def a_cross_entropy(z, y):
        lp = a_log_softmax(z)
        return -lp[y] if anp.ndim(z) == 1 else -anp.mean(lp[anp.arange(len(y)), y])

    from autograd.tracer import getval

    import compiler
    twins = {rf.log_sigmoid: lambda x: -anp.logaddexp(0.0, -x),
             rf.softmax: lambda x, axis=-1: anp.exp(a_log_softmax(x, axis)),
             rf.log_softmax: a_log_softmax, rf.cross_entropy: a_cross_entropy,
             compiler.stop_gradient: getval}
    g = dict(fn.__globals__)
    for k, v in fn.__globals__.items():
        if v is np:
            g[k] = anp
        elif v is rf.sigmoid:
            g[k] = a_sigmoid
        elif v is rf.relu:
            g[k] = lambda x: anp.maximum(x, 0.0)
        elif v is rf.softplus:
            g[k] = lambda x: anp.logaddexp(x, 0.0)
        elif v is rf.logsumexp:
            g[k] = asp.logsumexp
        elif isinstance(v, types.FunctionType) and v is not fn and v.__module__ == fn.__module__:
            g[k] = types.FunctionType(v.__code__, g, v.__name__, v.__defaults__, v.__closure__)
        elif isinstance(v, compiler.CustomVJP):  # autograd differentiates the primal
            p = v.fn
            g[k] = types.FunctionType(p.__code__, g, p.__name__, p.__defaults__, p.__closure__)
        elif any(v is t for t in twins):
            g[k] = twins[v]
    return types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)


def autograd_grads(fn, args, wrt):
    import autograd
    twin = autograd_twin(fn)
    fargs = [np.asarray(a, dtype=float) if isinstance(a, (list, tuple)) else a for a in args]
    return [autograd.grad(twin, i)(*fargs) for i in wrt]


def assert_owned(gf, args):
    """Every array `gf(*args)` returns owns its memory: none shares memory with an
    argument or with another result, and writing into them changes neither the
    arguments nor what the next call returns (a captured constant returned as is would).
    Returns the results of the first call."""
    before = [np.array(a, copy=True) for a in args]
    out = gf(*args)
    results = [r for r in (out if isinstance(out, tuple) else (out,))]
    arrays = [r for r in results if isinstance(r, np.ndarray)]
    for k, r in enumerate(arrays):
        for a in args:
            assert not (isinstance(a, np.ndarray) and np.shares_memory(r, a)), \
                f"result {k} shares memory with an argument"
        for other in arrays[k + 1:]:
            assert not np.shares_memory(r, other), f"result {k} shares memory with another"
    kept = [np.array(r, copy=True) for r in results]
    for r in arrays:
        r[...] = 12345.0  # the caller owns it: `g *= 0`, `w -= lr * g`
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b, err_msg="a write into a result changed an argument")
    again = gf(*args)
    for r, k in zip(again if isinstance(again, tuple) else (again,), kept):
        np.testing.assert_array_equal(r, k, err_msg="a write into a result changed the next call")
    return tuple(kept) if isinstance(out, tuple) else kept[0]


def assert_grads_match(fn, args, wrt, jit, rtol=1e-7, fd_tol=1e-7):
    """Our gradient vs autograd (elementwise, to rtol) and vs central differences
    (max |g - fd| / max(1, max |fd|) below fd_tol); every gradient owns its memory."""
    from compiler import grad
    from runtime.check import numerical_grad
    ours = assert_owned(grad(fn, wrt=tuple(wrt), jit=jit), args)
    oracle = autograd_grads(fn, args, wrt)
    for i, g, a in zip(wrt, ours, oracle):
        assert np.shape(g) == np.shape(args[i]), (i, np.shape(g), np.shape(args[i]))
        np.testing.assert_allclose(g, a, rtol=rtol, atol=1e-10, err_msg=f"autograd, arg {i}")
        fd = numerical_grad(fn, args, i)
        err = np.max(np.abs(np.asarray(g) - fd)) / max(1.0, float(np.max(np.abs(fd))))
        assert err < fd_tol, f"finite differences, arg {i}: relative error {err:.2e}"
    return ours
