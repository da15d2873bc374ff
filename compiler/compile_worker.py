"""The background compile worker: `python -m compiler.compile_worker`, started by
compiler/background.py, compiles generated modules into Numba's cache.

Protocol: one JSON request a line on stdin, `{"source": <module source>, "entries":
[[function name, [argument description, ...]], ...], "timeout": seconds}`; one JSON
reply a line on the original stdout, `{"ok": true, "seconds": s, "cache_hit": bool}` or
`{"ok": false, "error": "<the first line of the error>"}`. Argument descriptions come
from `describe` (background.py) and become Numba types in `signature`, so the worker
compiles exactly the signatures the caller's arguments have, without the arguments.

Guarantees: the module is loaded as `compiler.jit.load(source, True)` does in the
caller (same content-addressed file, same `numba.njit(cache=True)` options), so the
caller's load of the same module finds Numba's cache entry. Numba writes its index and
data files atomically (a temporary file, then `os.replace`) and an index entry whose
data file is missing is a miss, so a worker killed at any point leaves nothing a later
load trusts. A job running past its timeout (plus a margin) ends the worker by
SIGALRM even when the caller is gone; end of input ends it.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time


def signature(descs):
    """Numba argument types for `describe`d arguments: ["array", dtype str, ndim,
    writeable, layout], ["scalar", dtype str], ["float"], ["int"] or ["bool"]."""
    import numpy as np
    from numba.core import types
    from numba.np.numpy_support import from_dtype
    out = []
    for d in descs:
        if d[0] == "array":
            out.append(types.Array(from_dtype(np.dtype(d[1])), d[2], d[4], readonly=not d[3]))
        elif d[0] == "scalar":
            out.append(from_dtype(np.dtype(d[1])))
        else:
            out.append({"float": types.float64, "int": types.int64, "bool": types.boolean}[d[0]])
    return tuple(out)


def compile_entries(source, entries):
    """Load `source` as compiled code and compile each (name, descriptions) entry.
    Returns (module, cache hit for every entry). Raises what Numba raises."""
    from . import jit
    mod = jit.load(source, True)
    hits = True
    for name, descs in entries:
        disp = getattr(mod, name)
        disp.compile(signature(descs))
        hits = hits and bool(sum(disp.stats.cache_hits.values()))
    return mod, hits


def main():
    proto = os.fdopen(os.dup(1), "w")  # replies only; stray prints go to stderr
    os.dup2(2, 1)
    try:  # the slow part (importing Numba, registering the runtime's compiled forms)
        from .numba_cache import ensure_numba  # before the first job arrives
        ensure_numba()
    except Exception:  # noqa: BLE001 - the first job reports it (an unsafe cache, ...)
        pass
    for line in sys.stdin:
        job = json.loads(line)
        sys.path += [p for p in job.get("path", ()) if p not in sys.path]  # the caller's
        signal.alarm(int(job.get("timeout", 600)) + 30)
        t0 = time.perf_counter()
        try:
            _, hit = compile_entries(job["source"], job["entries"])
            reply = {"ok": True, "seconds": time.perf_counter() - t0, "cache_hit": hit}
        except Exception as e:  # noqa: BLE001 - report any failure, keep serving
            first = (str(e).strip().splitlines() or [""])[0]
            reply = {"ok": False, "error": f"{type(e).__name__}: {first}"}
        signal.alarm(0)
        proto.write(json.dumps(reply) + "\n")
        proto.flush()


if __name__ == "__main__":
    main()
