"""One argument binder for every call the frontend lowers: inlined user functions,
custom_vjp functions and NumPy handlers (compiler/frontend/numpy_api.py).

Guarantees: `bind` matches a call's arguments to a `Signature` by Python's rules:
positional arguments fill the positional parameters in order, keywords fill any
parameter by name (keyword-only ones only by name), defaults fill the rest. Keyword
values are lowered (`evaluate`) in the order the call writes them, each after its name
is checked; defaults are converted (`default`) only for parameters the call leaves out,
in parameter order. Too many positional arguments, an unknown keyword, a parameter
given twice and a missing one each raise `UnsupportedError` at the call (`loc`),
naming the callee as written and the parameter. A leaf module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UnsupportedError
from ..ir.core import Loc


@dataclass(frozen=True)
class Signature:
    """What a callee accepts. `positional`: positional-or-keyword parameters in order;
    `keyword_only`: parameters after `*`; `defaults`: {name: Python value}."""

    positional: tuple[str, ...]
    keyword_only: tuple[str, ...] = ()
    defaults: dict = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return self.positional + self.keyword_only

    @classmethod
    def of(cls, *params) -> Signature:
        """From names and (name, default) pairs, all positional-or-keyword:
        `Signature.of("a", ("axis", None), ("keepdims", False))` is `(a, axis=None,
        keepdims=False)`."""
        names = tuple(p if isinstance(p, str) else p[0] for p in params)
        return cls(names, (), {p[0]: p[1] for p in params if not isinstance(p, str)})

    @classmethod
    def of_function(cls, fn) -> Signature:
        """From a Python function's code object, `__defaults__` and `__kwdefaults__`
        (read now: a later change is a `Capture` of the caller)."""
        code = fn.__code__
        positional = code.co_varnames[:code.co_argcount]
        keyword_only = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
        values = fn.__defaults__ or ()
        defaults = dict(zip(positional[len(positional) - len(values):], values))
        defaults.update(fn.__kwdefaults__ or {})
        return cls(tuple(positional), tuple(keyword_only), defaults)


def bind(sig: Signature, callee: str, args, keywords: dict, evaluate, loc: Loc,
         default=lambda value: value) -> dict:
    """{parameter name: value} for a call `callee(*args, **keywords)`.

    args: the lowered positional arguments; keywords: {name: AST node}, lowered here by
    `evaluate(node)` once the name is known to be a parameter; default(value): what a
    left-out parameter's default becomes. Raises UnsupportedError at `loc` as described
    in the module docstring."""
    names = sig.names
    if len(args) > len(sig.positional):
        raise UnsupportedError(
            f"`{callee}` takes at most {len(sig.positional)} positional argument(s) "
            f"({', '.join(sig.positional)}), {len(args)} given", loc)
    out = dict(zip(sig.positional, args))
    for name, node in keywords.items():
        if name not in names:
            raise UnsupportedError(f"`{callee}` got an unexpected keyword argument `{name}`", loc,
                                   f"it takes: {', '.join(names)}" if names else
                                   "it takes no arguments")
        if name in out:
            raise UnsupportedError(f"`{callee}` got multiple values for the argument `{name}`", loc)
        out[name] = evaluate(node)
    missing = [n for n in names if n not in out and n not in sig.defaults]
    if missing:
        raise UnsupportedError(f"`{callee}` is missing the argument(s) "
                               f"{', '.join(f'`{n}`' for n in missing)}", loc)
    for name in names:
        if name not in out:
            out[name] = default(sig.defaults[name])
    return out
