"""adjoint: source-to-source automatic differentiation (reverse and forward mode) for NumPy code.

Public API: `grad`, `value_and_grad` (compiler.api); `jvp`, `vjp`, `jacobian`,
`jacfwd`, `jacrev`, `hessian`, `hvp` (compiler.transforms); custom adjoint rules
(`custom_vjp`, `stop_gradient`: compiler.custom) and the errors (compiler.errors).
"""
from . import primitives_control  # noqa: F401  (registers the control-flow primitives)
from .api import GradFunction, grad, value_and_grad
from .custom import CustomVJP, custom_vjp, stop_gradient
from .errors import AdjointError, ArgumentError, NameResolutionError, ShapeError, UnsupportedError
from .transforms import (hessian, hvp, jacfwd, jacobian, jacrev, jvp, jvp_function, vjp,
                         vjp_function)

__all__ = ["AdjointError", "ArgumentError", "CustomVJP", "GradFunction", "NameResolutionError",
           "ShapeError", "UnsupportedError", "custom_vjp", "grad", "stop_gradient",
           "value_and_grad", "jvp", "jvp_function", "vjp", "vjp_function", "jacobian",
           "jacfwd", "jacrev", "hessian", "hvp"]
