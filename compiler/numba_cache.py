"""Numba, loaded when a compiled tier is first needed, with every cache in ADJOINT_CACHE_DIR.

Guarantees:
- `import compiler` never imports Numba; `ensure_numba()` does, once, before anything
  is compiled (compiler/jit.py calls it), and returns the `numba` module.
- Before the runtime's compiled forms are registered (runtime/numba_forms.py), a cache
  locator is put first in Numba's list, so that Numba's cache of
  - the runtime kernels (`cache=True` in runtime/*.py) goes to
    `<cache dir>/numba/runtime_<hash of runtime/*.py's contents>/<Numba's subpath of the
    runtime directory>/` (never into the source tree or site-packages, which may not be
    writable; two clones sharing a cache directory do not overwrite each other's
    entries). Numba checks a cached function against its own file's time stamp only,
    not the files of the kernels it calls and compiled in (softmax in functions.py
    calls softmax_lines in kernels.py): any edit of the runtime must start a new cache;
  - a generated module `<cache dir>/adjoint_<hash>.py` goes to `<cache dir>/__pycache__/`,
  whatever NUMBA_CACHE_DIR says (it still governs the caches of your own functions).
  `<cache dir>` is compiler.jit.cache_dir(): created 0700, checked for owner and modes.
- Without this (your own `@njit` code calling runtime functions, after
  `runtime.numba_forms.register()` alone), Numba caches as it always does.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

_lock = threading.Lock()
_numba = None
_RUNTIME_DIR = str(Path(__file__).resolve().parent.parent / "runtime")


def ensure_numba():
    """Import Numba, install adjoint's cache locator, register the runtime's compiled
    forms; once per process (thread-safe). Returns the numba module. Raises CacheError
    if the cache directory is unsafe."""
    global _numba
    with _lock:
        if _numba is None:
            import numba
            _install_locator()
            from runtime import numba_forms
            numba_forms.register()
            _numba = numba
    return _numba


_GENERATED = re.compile(r"adjoint_[0-9a-f]{32}\.py")
_checked: dict = {}


def _root() -> str:
    """compiler.jit.cache_dir(), checked once per process per setting of the variables."""
    from .jit import cache_dir
    key = (os.environ.get("ADJOINT_CACHE_DIR"), os.environ.get("XDG_CACHE_HOME"))
    if key not in _checked:
        _checked[key] = str(cache_dir())
    return _checked[key]


def _locator_class():
    from numba.core import caching

    class AdjointCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
        """Numba cache locator for runtime/*.py and the generated modules (module doc)."""

        def __init__(self, py_func, py_file, path):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = path

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            py_file = os.path.abspath(py_file)
            where = os.path.dirname(py_file)
            if where == _RUNTIME_DIR:  # by the runtime's content: a kernel's cache holds
                from .codegen.pyemit import runtime_digest  # the kernels it calls, which
                path = os.path.join(_root(), "numba", f"runtime_{runtime_digest()}",  # Numba
                                    cls.get_suitable_cache_subpath(py_file))  # does not check
            elif _GENERATED.fullmatch(os.path.basename(py_file)):  # compiler/jit.py's files
                path = os.path.join(where, "__pycache__")
            else:
                return None
            self = cls(py_func, py_file, path)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    return AdjointCacheLocator


def _install_locator():
    from numba.core import caching
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl  # renamed in 0.61
    cls = _locator_class()
    impl._locator_classes = [cls] + [c for c in impl._locator_classes
                                     if c.__name__ != cls.__name__]
