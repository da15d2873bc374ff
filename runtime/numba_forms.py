"""The runtime's compiled forms, registered with Numba only when something is compiled.

Every kernel of the runtime (runtime/kernels.py, functions.py, stacks.py, optim.py) is
a plain Python/NumPy function: that is what the NumPy tier (jit=False) and a generated
module imported as plain Python call. Its Numba implementation sits beside it, declared
with the decorators of this module, which mirror `numba.extending` but only *record*
the declaration: nothing here imports Numba. `register()` imports Numba and registers
every recorded declaration (an `overload` of the NumPy form, so the same name, imported
by the generated module's header, is compiled by Numba in compiled code). So
`import compiler` and `import runtime...` never load Numba (about 0.5 s); compiler/jit.py
calls `register()` just before it compiles a module, after pointing Numba's cache for
these files into ADJOINT_CACHE_DIR.

Your own Numba code that calls runtime functions (`sigmoid` inside an `@njit`) needs
`compiler.jit.ensure_numba()` (or `runtime.numba_forms.register()`) first.

- `overload(fn, **kw)`: `numba.extending.overload(fn, **kw)` of the decorated factory.
- `register_jitable(fn)` / `register_jitable(**jit_options)(fn)`: fn itself compiled
  where compiled code calls it (its body must be Numba-compilable); fn is returned.
- `njit(**jit_options)(fn)`: the same (a kernel compiled on its own with these options
  and cached, `cache=True`), spelled as the dispatcher it replaces; fn is returned, so
  from Python it is plain Python, and `fn.py_func` is fn (as a dispatcher's).
- `ufunc(signatures, scalar, **options)(fn)`: compiled code calls
  `numba.vectorize(signatures, **options)(scalar)` wherever it calls fn (the NumPy form).
- `intrinsic_global(namespace, name, "module:attribute")`: a Numba-only object (e.g.
  `tuple_setitem`) that compiled bodies read as the global `name` of `namespace`; a
  placeholder that raises until `register()` sets it.
- `types`: `numba.types`, imported on first attribute access (overload factories run
  only while Numba types a call, so Numba is loaded by then).
"""
from __future__ import annotations

import importlib
import threading

_PENDING: list = []  # callables that register one declaration each, in order
_done = False
_lock = threading.RLock()


def _defer(action):
    with _lock:
        if _done:
            action()
        else:
            _PENDING.append(action)


def register():
    """Import Numba and register every compiled form declared so far (later ones are
    registered as they are declared). Idempotent and thread-safe; returns nothing."""
    global _done
    with _lock:
        if _done:
            return
        for mod in ("kernels", "functions", "stacks", "optim"):
            importlib.import_module(f"{__package__}.{mod}")
        import numba  # noqa: F401
        while _PENDING:
            _PENDING.pop(0)()
        _done = True


def registered() -> bool:
    return _done


def overload(fn, **kw):
    def deco(factory):
        def action():
            from numba.extending import overload as nb_overload
            nb_overload(fn, **kw)(factory)
        _defer(action)
        return factory
    return deco


def register_jitable(*args, **jit_options):
    def deco(fn):
        def action():
            from numba.extending import register_jitable as nb_jitable
            nb_jitable(**jit_options)(fn) if jit_options else nb_jitable(fn)
        _defer(action)
        return fn
    if len(args) == 1 and callable(args[0]) and not jit_options:
        return deco(args[0])
    return deco


def njit(**jit_options):
    def deco(fn):
        fn.py_func = fn  # as a dispatcher's: the plain-Python form (epoch loops, tests)
        return register_jitable(**jit_options)(fn)
    return deco


def ufunc(signatures, scalar, **options):
    def deco(fn):
        def action():
            from numba.extending import overload as nb_overload
            built = []

            def get():  # built when a compiled call is first typed: ~0.1 s each, so
                if not built:  # only the ufuncs a gradient uses (the loop is cached)
                    import numba
                    built.append(numba.vectorize(signatures, **options)(scalar))
                return built[0]

            if scalar.__code__.co_argcount == 1:
                def factory(a):
                    uf = get()
                    return lambda a: uf(a)
            else:
                def factory(a, b):
                    uf = get()
                    return lambda a, b: uf(a, b)
            nb_overload(fn)(factory)
        _defer(action)
        return fn
    return deco


def intrinsic_global(namespace: dict, name: str, where: str):
    def placeholder(*_, **__):
        raise RuntimeError(f"{name} exists in compiled code only (runtime.numba_forms)")
    namespace[name] = placeholder

    def action():
        mod, _, attr = where.partition(":")
        namespace[name] = getattr(importlib.import_module(mod), attr)
    _defer(action)


class _LazyTypes:
    def __getattr__(self, name):
        import numba
        return getattr(numba.types, name)


types = _LazyTypes()
