"""adjoint: source-to-source reverse-mode automatic differentiation for NumPy code.

Public API: `grad`, `value_and_grad` (compiler.api) and the errors (compiler.errors).
"""
from .api import GradFunction, grad, value_and_grad
from .errors import AdjointError, ArgumentError, NameResolutionError, ShapeError, UnsupportedError

__all__ = ["AdjointError", "ArgumentError", "GradFunction", "NameResolutionError", "ShapeError",
           "UnsupportedError", "grad", "value_and_grad"]
