"""Frontend: user function -> checked AST (`parse_function`) -> SSA graph (`lower`)."""
from .captures import recording
from .lower import lower, lower_into, lower_with_aux
from .source import FunctionSource, parse_function

__all__ = ["FunctionSource", "lower", "lower_into", "lower_with_aux", "parse_function", "recording"]
