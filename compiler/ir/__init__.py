"""SSA IR: `Type`, `Value`, `Op`, `Graph`, the `Builder`, a printer and `verify`."""
from .builder import Builder
from .core import BOOL, F64, I64, ConstArray, Graph, Loc, Op, Type, Value
from .verify import VerifyError, verify

__all__ = ["BOOL", "F64", "I64", "Builder", "ConstArray", "Graph", "Loc", "Op", "Type",
           "Value", "VerifyError", "verify"]
