"""Errors raised by adjoint, each naming the user's file, line and construct.

Guarantees: every error raised for a problem in user code is an `AdjointError` whose
message starts with `file:line:col`, shows the user's source line with a caret under
the offending construct, and ends with what to do instead.
"""
from __future__ import annotations


class AdjointError(Exception):
    """Base class. `loc` is a `compiler.ir.core.Loc` or None."""

    def __init__(self, message: str, loc=None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = []
        if self.loc is not None:
            parts.append(f"{self.loc.file}:{self.loc.line}:{self.loc.col + 1}: {self.message}")
            raw = _source_line(self.loc.file, self.loc.line)
            if raw is not None:
                parts.append("    " + raw.rstrip())
                parts.append("    " + " " * self.loc.col + "^")
        else:
            parts.append(self.message)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class UnsupportedError(AdjointError):
    """A Python construct adjoint cannot (yet) differentiate: `with`, `lambda`, ..."""


class NameResolutionError(AdjointError):
    """A name or call that is neither a local, a supported NumPy/runtime function,
    a user function with source, nor a numeric constant."""


class ShapeError(AdjointError):
    """Operands whose dtypes or ranks no primitive accepts (e.g. `@` of 3-D arrays)."""


class ArgumentError(AdjointError):
    """Bad arguments to a gradient function: wrong count, bad `wrt`, a non-scalar loss."""


def _source_line(file: str, line: int):
    import linecache
    text = linecache.getline(file, line)
    return text if text else None


class RunError(AdjointError):
    """NumPy (or Numba) rejected an operation of the generated code on the given
    arguments — mismatched shapes, an index out of bounds. `loc` is the user line the
    failing statement comes from; the original exception is chained (`__cause__`)."""
