"""Background compiles for the tiered `jit="auto"`: a worker process compiles generated
modules into Numba's cache while the caller runs them as NumPy.

Why a process and not a thread (measured on 2 shared cores, README "Tiers"): Numba's
type inference and lowering are Python holding the GIL, so a compile on a thread slowed
a caller busy on the NumPy tier by 1.7x on average (51 ms stalls) and itself took 2.5x
longer; in a process the caller ran at full speed and the compiled tier was ready
sooner. Loading the worker's result from the cache takes about 10 ms.

Guarantees:
- `submit(source, entries)` returns a `Job` at once; the same module and signatures
  submitted again give the same Job. One worker process (`python -m
  compiler.compile_worker`, started on first use or by `prestart`) compiles one job at
  a time, the most recently submitted first; its Numba import overlaps the caller's
  work.
- A job ends, always: compiled (`Job.module`, loaded in this process from the cache
  the worker wrote, on the runner thread), or failed (`Job.error`: the first line of
  Numba's error, or that the worker died or ran past ADJOINT_COMPILE_TIMEOUT seconds,
  default 600, after which it is killed and a fresh worker serves the next job). No
  call in the caller's thread waits for the worker unless it asks to (`Job.wait`).
- At exit the worker is killed; what it leaves is safe (compiler/compile_worker.py).
"""
from __future__ import annotations

import atexit
import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

# the worker command; tests replace it with one that hangs or dies
WORKER_CMD = [sys.executable, "-m", "compiler.compile_worker"]
_ROOT = str(Path(__file__).resolve().parent.parent)  # the directory holding compiler/


def timeout_seconds() -> float:
    return float(os.environ.get("ADJOINT_COMPILE_TIMEOUT", "600"))


def describe(a) -> list:
    """A JSON description of one argument's Numba type (compile_worker.signature).
    a: an ndarray, a NumPy scalar, or a Python float, int or bool."""
    if isinstance(a, np.ndarray):
        layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"
        return ["array", a.dtype.str, a.ndim, bool(a.flags.writeable), layout]
    if isinstance(a, (bool, np.bool_)):
        return ["bool"]
    if isinstance(a, np.generic):
        return ["scalar", a.dtype.str]
    if isinstance(a, int):
        return ["int"]
    if isinstance(a, float):
        return ["float"]
    raise TypeError(f"cannot compile for an argument of type {type(a).__name__}")


class Job:
    """One module to compile with the signatures of `entries` [(name, descriptions)]."""

    def __init__(self, source: str, entries: list):
        self.source, self.entries = source, entries
        self.path: list = []  # sys.path entries the worker adds (the caller's)
        self.submitted = time.perf_counter()
        self.ready_at: float | None = None  # perf_counter when compiled and loaded here
        self.module = None  # the compiled module (numba dispatchers), when done
        self.error: str | None = None  # why it failed, when done
        self.seconds: float | None = None  # the worker's compile (or cache load)
        self.cache_hit: bool | None = None  # the worker found it all in Numba's cache
        self._done = threading.Event()
        # set when the worker has compiled into the cache: loading it here (importing
        # Numba, reading the cache) takes a few tenths of a second when this process is
        # idle, far longer while another thread keeps the GIL busy; a caller that can
        # pause (fit, at an epoch boundary) waits for the load then (Job.wait)
        self.compiled = threading.Event()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or `timeout` seconds pass); True if it compiled."""
        self._done.wait(timeout)
        return self.module is not None

    def function(self, name: str):
        return getattr(self.module, name)

    def _finish(self, module=None, error=None):
        self.module, self.error = module, error
        self.ready_at = time.perf_counter() if module is not None else None
        self._done.set()


class _Worker:
    """One worker process and the threads reading its replies and its stderr."""

    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_ROOT] + [p for p in [env.get("PYTHONPATH")] if p])
        self.proc = subprocess.Popen(WORKER_CMD, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=_ROOT)
        self.replies: queue.Queue = queue.Queue()
        self.stderr = collections.deque(maxlen=20)
        threading.Thread(target=self._read, daemon=True, name="adjoint-worker-out").start()
        threading.Thread(target=self._read_err, daemon=True, name="adjoint-worker-err").start()

    def _read(self):
        with self.proc.stdout as out:
            for line in out:
                self.replies.put(line)
        self.replies.put(None)  # end of output: the worker died

    def _read_err(self):
        with self.proc.stderr as err:
            for line in err:
                self.stderr.append(line.rstrip())

    def request(self, job: Job, timeout: float) -> dict:
        """Send `job`; the worker's reply, or {"ok": False, "error": ...} if it died or
        ran past `timeout` (then it is killed)."""
        msg = {"source": job.source, "entries": job.entries, "timeout": timeout,
               "path": job.path}
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            return {"ok": False, "error": f"the compile worker ran past {timeout:g} s "
                                          "(ADJOINT_COMPILE_TIMEOUT) and was stopped"}
        except OSError as e:  # the pipe broke: it died before reading
            line = None
            self.kill()
            return {"ok": False, "error": f"the compile worker could not be reached ({e})"}
        if line is None:
            self.kill()
            tail = next((s for s in reversed(self.stderr) if s.strip()), "")
            return {"ok": False, "error": f"the compile worker exited (status "
                                          f"{self.proc.returncode}){': ' + tail if tail else ''}"}
        try:
            return json.loads(line)
        except ValueError:
            self.kill()
            return {"ok": False, "error": f"the compile worker replied {line.strip()[:80]!r}"}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        try:
            self.proc.stdin.close()
        except OSError:  # a broken pipe: nothing left to flush
            pass


_lock = threading.Lock()
_pending: list = []  # jobs waiting, newest last (served first)
_wake = threading.Condition(_lock)
_jobs: dict = {}  # (source, entries) -> Job
_worker: _Worker | None = None
_runner: threading.Thread | None = None


def prestart():
    """Start the worker now (it imports Numba while the caller works). Never raises."""
    with _lock:
        _ensure_runner()
    threading.Thread(target=_ensure_worker_quietly, daemon=True).start()


def _ensure_worker_quietly():
    try:
        _ensure_worker()
    except Exception:  # noqa: BLE001 - the next job reports it
        pass


def _ensure_worker() -> _Worker:
    global _worker
    with _lock:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        return _worker


def _ensure_runner():
    global _runner
    if _runner is None:
        _runner = threading.Thread(target=_run, daemon=True, name="adjoint-compile")
        _runner.start()


def submit(source: str, entries) -> Job:
    """Compile the module `source` for `entries` [(function name, [describe(arg), ...])]
    in the background. Returns its Job at once (the existing one if submitted before)."""
    entries = [[name, [list(d) for d in descs]] for name, descs in entries]
    key = (source, json.dumps(entries))
    with _lock:
        job = _jobs.get(key)
        if job is not None and job.error is None:
            return job
        job = _jobs[key] = Job(source, entries)
        # the caller's import path: the module may import the user's modules (an update
        # kernel "myopt:step" beside the script), which the worker must find too
        job.path = [os.getcwd() if p == "" else p for p in sys.path if isinstance(p, str)]
        _pending.append(job)
        _ensure_runner()
        _wake.notify()
    return job


def _run():
    while True:
        with _lock:
            while not _pending:
                _wake.wait()
            job = _pending.pop()
        try:
            _serve(job)
        except BaseException as e:  # noqa: BLE001 - a job always ends
            if not job.done():
                job._finish(error=f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}")


def _serve(job: Job):
    try:
        worker = _ensure_worker()
    except OSError as e:
        job._finish(error=f"the compile worker could not start ({e})")
        return
    reply = worker.request(job, timeout_seconds())
    if not reply.get("ok"):
        job._finish(error=reply.get("error") or "the compile failed")
        return
    job.seconds, job.cache_hit = reply.get("seconds"), reply.get("cache_hit")
    job.compiled.set()  # the worker is done: what is left is loading from its cache
    from .compile_worker import compile_entries  # from the cache the worker wrote: ms
    try:
        module, _ = compile_entries(job.source, job.entries)
    except Exception as e:  # noqa: BLE001 - compiled there, not here: report it
        job._finish(error=f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}")
        return
    job._finish(module=module)


@atexit.register
def _stop():
    w = _worker
    if w is not None:
        w.kill()
