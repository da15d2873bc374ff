"""adjoint: source-to-source reverse-mode automatic differentiation for NumPy code.

Public API: `grad`, `value_and_grad` (compiler.api), custom adjoint rules
(`custom_vjp`, `stop_gradient`: compiler.custom) and the errors (compiler.errors).
"""
from . import primitives_control  # noqa: F401  (registers the control-flow primitives)
from .api import GradFunction, grad, value_and_grad
from .custom import CustomVJP, custom_vjp, stop_gradient
from .errors import AdjointError, ArgumentError, NameResolutionError, ShapeError, UnsupportedError

__all__ = ["AdjointError", "ArgumentError", "CustomVJP", "GradFunction", "NameResolutionError",
           "ShapeError", "UnsupportedError", "custom_vjp", "grad", "stop_gradient",
           "value_and_grad"]
