"""Benchmarks of adjoint against hand-written NumPy and Numba gradients, autograd,
PyTorch and JAX: `make bench` (or `python -m benchmarks.run [--quick]`).

This package imports nothing at import time, so `benchmarks.threads.pin()` can set the
BLAS/OpenMP thread variables before NumPy loads (see benchmarks/run.py).
"""
