"""Loading generated source as a module, compiled by Numba and cached across processes.

Guarantees:
- The source is written to `<cache dir>/adjoint_<sha256 prefix>.py`. The cache directory
  is `ADJOINT_CACHE_DIR` or `$XDG_CACHE_HOME/adjoint` (default `~/.cache/adjoint`),
  created with mode 0700; an existing one must be owned by the current user and not
  writable by group or others, and so must everything under it that Python and Numba
  read (no entry of another user, no symbolic link, none writable by group or others
  unless they cannot enter the directory), else `CacheError`, checked before each write
  and never repaired (a chmod would not remove files planted while it was writable).
- Writes are atomic (a temporary file in the same directory, then `os.replace`), so two
  processes compiling the same function never see a half-written file.
- A cached file is imported only when its content hashes to its name; otherwise it is
  rewritten first. The cache cannot be used to run code adjoint did not generate.
- With `jit=True` each function of the module is replaced by `numba.njit(cache=True)`
  of itself before anything calls it, so functions calling each other call compiled
  code, and Numba's own cache (in `__pycache__` beside the file) is reused by later
  processes. Numba's cache key ignores constants; naming the file by its content hash
  makes constants part of the key. Indices are bounds-checked (an IndexError, as in
  NumPy) unless ADJOINT_BOUNDSCHECK=0.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import stat
import sys
import tempfile
import threading
import types
from pathlib import Path

from .errors import AdjointError
from .codegen.epoch import INLINE_NAME
from .codegen.pyemit import TWIN_PREFIX
from .numba_cache import ensure_numba


# Numba does not check indices by default: an off-by-one would read (and the backward
# sweep write) past an array. Generated code checks them, as NumPy does; set
# ADJOINT_BOUNDSCHECK=0 to trade that for speed once a loss is known to be right.
_BOUNDSCHECK = os.environ.get("ADJOINT_BOUNDSCHECK", "1") != "0"


_REPO = Path(__file__).resolve().parent.parent


def quiet_performance_warnings():
    """Keep Numba's `NumbaPerformanceWarning`s about adjoint's own code (the generated
    modules, `adjoint_<hash>.py`, and the runtime kernels they call, inlined at their
    call sites) out of the user's output: they are about code the user did not write and
    cannot change ('@' on a non-contiguous operand inside `qr_grad`, ...). Other warnings,
    and performance warnings of the user's own Numba code, are untouched. A `warnings`
    filter matched on the module the warning names (Numba reports compile warnings with
    `warnings.warn_explicit` at the compiled file's line), put first again at each load
    (`warnings.filterwarnings` moves an existing equal filter; a `catch_warnings` block
    may have dropped it), in the compile worker too."""
    import re
    import warnings
    from numba.core.errors import NumbaPerformanceWarning
    ours = "|".join(re.escape(str(_REPO / d)) for d in ("runtime", "compiler"))
    warnings.filterwarnings("ignore", category=NumbaPerformanceWarning,
                            module=rf"(.*[/\\])?adjoint_[0-9a-f]{{32}}\Z|(?:{ours})")


class CacheError(AdjointError):
    """The cache directory is unsafe or unusable."""


def cache_dir() -> Path:
    """The cache directory, created 0700 if missing, after checking that no one else can
    have written what is read from it. Raises CacheError if it or anything under it
    (sources, `__pycache__`, Numba's index and data files, which are pickles) is owned
    by another user or is a symbolic link, if the directory is writable by group or
    others, or if an entry is while group or others may enter the directory. It is not
    repaired: files planted while it was writable would survive a chmod."""
    d = os.environ.get("ADJOINT_CACHE_DIR")
    if d:
        path = Path(d)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        path = Path(base) / "adjoint"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_private(path)
    return path


_WRITABLE = stat.S_IWGRP | stat.S_IWOTH


def _check_private(path: Path):
    me = os.getuid() if hasattr(os, "getuid") else None
    fix = (f"remove it (`rm -rf {path}`; adjoint recreates it, private, and recompiles), or "
           "set ADJOINT_CACHE_DIR to a directory of your own")
    st = path.lstat()
    if me is not None and st.st_uid != me:
        raise CacheError(f"cache directory {path} belongs to another user", hint=fix)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"cache directory {path} is a symbolic link or not a directory",
                         hint=fix)
    mode = stat.S_IMODE(st.st_mode)
    if mode & _WRITABLE:
        raise CacheError(
            f"cache directory {path} is writable by group or others (mode {mode:04o}): code "
            "and Numba cache files (pickles) planted there would run as you", hint=fix)
    enterable = mode & (stat.S_IXGRP | stat.S_IXOTH)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                s = os.lstat(p)
            except FileNotFoundError:  # renamed or removed meanwhile (Numba's temporary
                continue  # index files, another process's cache writes): nothing to check
            if stat.S_ISLNK(s.st_mode):
                raise CacheError(f"{p} in the cache is a symbolic link", hint=fix)
            if me is not None and s.st_uid != me:
                raise CacheError(f"{p} in the cache belongs to another user", hint=fix)
            if enterable and s.st_mode & _WRITABLE:
                raise CacheError(f"{p} in the cache is writable by group or others (mode "
                                 f"{stat.S_IMODE(s.st_mode):04o})", hint=fix)


def digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def write_source(source: str) -> Path:
    """Write `source` to its content-addressed file (atomically) and return the path."""
    d = cache_dir()
    h = digest(source)
    path = d / f"adjoint_{h}.py"
    try:
        if digest(path.read_text()) == h:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    fd, tmp = tempfile.mkstemp(prefix=".tmp_", suffix=".py", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(source)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


_load_lock = threading.Lock()  # the caller and the background runner (background.py)


def load(source: str, jit: bool) -> types.ModuleType:
    """Import the generated module (compiled with Numba when `jit`), once per process
    even when two threads load it at the same time."""
    with _load_lock:
        return _load(source, jit)


def _load(source: str, jit: bool) -> types.ModuleType:
    path = write_source(source)
    name = path.stem + ("" if jit else "_py")
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    if digest(path.read_text()) != path.stem[len("adjoint_"):]:  # changed since written
        path = write_source(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    if jit:
        numba = ensure_numba()  # imported here, not by `import compiler`
        quiet_performance_warnings()
        fns = {k: v for k, v in vars(mod).items()
               if isinstance(v, types.FunctionType) and v.__module__ == name}
        inline = set(getattr(mod, INLINE_NAME, ()))
        for k, v in fns.items():  # f runs as its compiled twin when it has one (pyemit)
            if k.startswith(TWIN_PREFIX):
                continue
            if TWIN_PREFIX + k in fns:
                v = fns[TWIN_PREFIX + k]
                v.__name__ = v.__qualname__ = k  # messages name f, not its twin
            setattr(mod, k, numba.njit(cache=True, boundscheck=_BOUNDSCHECK, error_model="numpy",
                                       inline="always" if k in inline else "never")(v))
    return mod
