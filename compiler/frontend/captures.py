"""Compile-time objects: the Python objects lowering meets (`Static`) and the record of
every outside read the generated code depends on (`Capture`, `recording`).

Everything the generated code bakes in comes from reading a name, an attribute or a
function's code: each read is recorded as a Capture, and every call re-reads them
(compiler/api.py) and regenerates the gradient when one gives another object or an
array changed in place. Not recorded: attributes of NumPy, math, SciPy and adjoint's
own modules (`trusted`: their functions are resolved by identity and taken as fixed).

A leaf module: the lowering context (context.py) and its parts (control.py,
numpy_api.py, indexing.py, dropped.py) import it; it imports nothing of the frontend.
"""
from __future__ import annotations

import contextlib
import contextvars
import types
from dataclasses import dataclass
from typing import Callable

MISSING = object()  # what `Capture.read()` gives for a name or attribute that is gone

TRUSTED = frozenset({"numpy", "math", "scipy", "runtime", "compiler", "builtins"})
_RECORDING: contextvars.ContextVar = contextvars.ContextVar("adjoint_captures", default=None)


class Static:
    """A compile-time Python object (a module, a function) met while resolving names.
    `key`: how it was found (see `Capture`), None for an object that cannot change."""

    def __init__(self, obj, key=None):
        self.obj, self.key = obj, key


@dataclass(frozen=True)
class Capture:
    """key: a hashable description of the read (('global', id(globals), name),
    ('cell', id(cell), name), ('attr', base key, name), ('code', id(fn)), ...); read(): what it
    gives now (`MISSING` when it no longer exists); value: what it gave when lowering."""

    key: tuple
    read: Callable
    value: object


@contextlib.contextmanager
def recording(captures: list):
    """Lowering (and inlining of custom rules in reverse mode) inside appends a `Capture`
    to `captures` for every outside object the graph depends on."""
    token = _RECORDING.set(captures)
    try:
        yield captures
    finally:
        _RECORDING.reset(token)


def current_captures() -> list:
    """The list `recording` collects into, or a fresh list outside `recording`."""
    captures = _RECORDING.get()
    return [] if captures is None else captures


def trusted(obj) -> bool:
    """Is obj a module of a library whose attributes are taken as fixed?"""
    return isinstance(obj, types.ModuleType) and obj.__name__.partition(".")[0] in TRUSTED


def trusted_function(fn) -> bool:
    """Is fn defined in a library whose code is taken as fixed?"""
    return (getattr(fn, "__module__", None) or "").partition(".")[0] in TRUSTED


def cell_reader(cell):
    """read() for a closure cell: its contents, or MISSING once emptied."""
    def read():
        try:
            return cell.cell_contents
        except ValueError:  # the cell was emptied (`del` of the variable)
            return MISSING
    return read
