"""Frontend: user function -> checked AST (`parse_function`) -> SSA graph (`lower`)."""
from .lower import lower
from .source import FunctionSource, parse_function

__all__ = ["FunctionSource", "lower", "parse_function"]
