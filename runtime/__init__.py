"""Run time for adjoint: what generated code calls and what users train with.

Never imports `compiler`. Kernels run both as plain NumPy (jit=False) and inside
Numba-compiled code.
"""
