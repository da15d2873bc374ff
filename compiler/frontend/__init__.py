"""Frontend: user function -> checked AST (`parse_function`) -> SSA graph (`lower`)."""
from .captures import recording
from .lower import lower, lower_into
from .source import FunctionSource, parse_function

__all__ = ["FunctionSource", "lower", "lower_into", "parse_function", "recording"]
