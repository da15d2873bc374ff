"""The optional comparison libraries, each loaded once with the benchmark's settings.

`autograd()`, `jax()` and `torch()` return the module (for JAX: a namespace with `jax`,
`jnp`, `lax`, float64 enabled) or None when it is not installed; `missing()` lists the
notes to print for the absent ones. PyTorch is optional by design: `make bench` does not
install it (`pip install torch==2.13.0` adds the CPU build); it runs with one intra-op
and one inter-op thread.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

_missing: dict = {}

HINTS = {
    "autograd": "autograd is not installed: `make bench` installs it (the bench extra)",
    "jax": "JAX is not installed: `make bench` installs it (the bench extra, CPU only)",
    "torch": "PyTorch is not installed, so its rows are skipped: "
             "`.venv/bin/python -m pip install torch==2.13.0` adds the CPU build",
}


@functools.lru_cache(maxsize=None)
def autograd():
    try:
        import autograd as ag
        import autograd.numpy  # noqa: F401
    except ImportError:
        _missing["autograd"] = HINTS["autograd"]
        return None
    return ag


@functools.lru_cache(maxsize=None)
def jax():
    try:
        import jax as j
    except ImportError:
        _missing["jax"] = HINTS["jax"]
        return None
    j.config.update("jax_enable_x64", True)
    j.config.update("jax_platforms", "cpu")
    import jax.numpy as jnp
    from jax import lax
    return SimpleNamespace(jax=j, jnp=jnp, lax=lax)


@functools.lru_cache(maxsize=None)
def torch():
    try:
        import torch as t
    except ImportError:
        _missing["torch"] = HINTS["torch"]
        return None
    t.set_num_threads(1)
    try:
        t.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started
        pass
    t.set_default_dtype(t.float64)
    return t


def missing() -> list[str]:
    return list(_missing.values())


def versions() -> dict:
    """{library: version} of everything the benchmarks use (absent ones omitted)."""
    import platform

    import llvmlite
    import numba
    import numpy
    import scipy
    out = {"python": platform.python_version(), "numpy": numpy.__version__,
           "scipy": scipy.__version__, "numba": numba.__version__,
           "llvmlite": llvmlite.__version__}
    ag = autograd()
    if ag is not None:
        from importlib.metadata import version
        out["autograd"] = version("autograd")
    jx = jax()
    if jx is not None:
        import jaxlib
        out["jax"] = jx.jax.__version__
        out["jaxlib"] = jaxlib.__version__
    t = torch()
    if t is not None:
        out["torch"] = t.__version__
    return out
