"""Thread settings for the benchmarks, applied before NumPy (or JAX, or PyTorch) loads.

`pin()` sets every BLAS/OpenMP/XLA thread count to 1: the per-example gradients are
microseconds long, a second BLAS thread only adds synchronisation, and on a 2-core
machine shared with other work extra threads make timings collapse (measured in issue
6). It also removes OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE *from this process only*: some
machines here set them for old OpenBLAS builds, which makes a current NumPy run a
generic kernel; `report()` says which kernel OpenBLAS actually picked (threadpoolctl).
Call `pin()` before anything imports numpy; it raises RuntimeError otherwise.
"""
import os
import sys

ONE_THREAD = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    # XLA on the CPU: no Eigen thread pool for matmuls, one intra-op thread.
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}
CORETYPE_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
removed: dict = {}


def pin(keep_coretype: bool = False) -> None:
    """Set one thread everywhere (before numpy is imported) and drop the OpenBLAS
    core-type overrides unless `keep_coretype`. Raises RuntimeError if numpy is loaded."""
    if "numpy" in sys.modules:
        raise RuntimeError("benchmarks.threads.pin() must run before numpy is imported")
    for k, v in ONE_THREAD.items():
        if k == "XLA_FLAGS" and os.environ.get(k):
            if v not in os.environ[k]:
                os.environ[k] = os.environ[k] + " " + v
        else:
            os.environ[k] = v
    if not keep_coretype:
        for k in CORETYPE_VARS:
            if k in os.environ:
                removed[k] = os.environ.pop(k)


def env_for_children() -> dict:
    """The environment a benchmark subprocess should get (the pinned one)."""
    return dict(os.environ)


def report() -> list[str]:
    """Lines describing the thread settings and the BLAS kernels in use."""
    lines = [", ".join(f"{k}={os.environ.get(k, '')}" for k in ONE_THREAD if k != "XLA_FLAGS"),
             f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}"]
    if removed:
        lines.append("unset in the benchmark process (set on this machine): "
                     + ", ".join(f"{k}={v}" for k, v in removed.items()))
    else:
        lines.append("OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set")
    try:
        from threadpoolctl import threadpool_info
        for lib in threadpool_info():
            lines.append(f"{lib.get('internal_api')} {lib.get('version')} "
                         f"({os.path.basename(lib.get('filepath', ''))}): kernel "
                         f"{lib.get('architecture', '?')}, {lib.get('num_threads')} thread(s)")
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS kernel not reported")
    return lines
