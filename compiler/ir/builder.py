"""Builds ops into a list, inferring each output's type from the primitive table.

Guarantees: every op a builder emits has inputs that are `Value`s (Python numbers are
turned into `const` ops first) and an output type given by the primitive's type rule.
The builder in use is a context variable, so `Value` arithmetic (`a * b`) emits into it.
"""
from __future__ import annotations

import contextlib
import contextvars
import weakref

from .core import BOOL, F64, I64, ConstArray, Loc, Op, Type, Value
from .registry import PRIMS

_current: contextvars.ContextVar = contextvars.ContextVar("adjoint_builder")
# the number each scalar `const` op gives its output, whichever builder emitted it: adjoint
# rules run in another builder than the forward ops and read it (d/da a ** 0 = 0)
_SCALARS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# values that are NumPy 0-d arrays (np.array(2.0)), not numbers: the frontend refuses to
# update them in place (frontend/context.py); a renamed value stays one (Builder.name)
ZERO_D: "weakref.WeakSet" = weakref.WeakSet()
# values that may share memory with another array in a way no op says (a conditional
# expression choosing a view), with that sharing: frontend/views.py's refs
VIEW_REFS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def scalar_constant(v: Value):
    """The Python number of a scalar `const` op's output v, None for any other value."""
    return _SCALARS.get(v)


def current() -> "Builder":
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError("Value arithmetic needs an active Builder (use `with builder:`)") from None


class Builder:
    def __init__(self, phase: str = "primal"):
        self.ops: list[Op] = []
        self._defs: dict = {}  # Value -> (defining op, its position in self.ops)
        self._indexed, self._last = 0, None  # self.ops[:_indexed] are in _defs
        self.phase = phase
        self.loc: Loc | None = None

    def __enter__(self):
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc):
        _current.reset(self._token)

    @contextlib.contextmanager
    def at(self, loc: Loc | None, phase: str | None = None):
        """Ops emitted inside carry this source location (and phase)."""
        old = self.loc, self.phase
        self.loc = loc
        if phase:
            self.phase = phase
        try:
            yield self
        finally:
            self.loc, self.phase = old

    def const(self, value) -> Value:
        if isinstance(value, ConstArray):
            t = Type(value.dtype, len(value.shape))
        elif isinstance(value, bool):
            t = BOOL
        elif isinstance(value, int):
            t = I64
        elif isinstance(value, float):
            t = F64
        else:
            raise TypeError(f"not a constant: {value!r}")
        return self._push("const", (), (("value", value),), t, "")

    def as_value(self, x) -> Value:
        if isinstance(x, Value):
            return x
        return self.const(x)

    def emit(self, prim: str, *inputs, hint: str = "", **attrs) -> Value:
        p = PRIMS[prim]
        ins = tuple(self.as_value(x) for x in inputs)
        if p.arity is not None and len(ins) != p.arity:
            raise TypeError(f"{prim} takes {p.arity} inputs, got {len(ins)}")
        attrs_t = tuple(sorted(attrs.items()))
        t = p.type_rule(*(v.type for v in ins), **attrs)
        return self._push(prim, ins, attrs_t, t, hint)

    def defining_op(self, v: Value):
        """The op of this builder that defines v (None: a parameter, a value of an
        enclosing builder, or not emitted here). Adjoint rules use it to see through
        `where` masks (compiler/primitives.py). Ops may have been replaced or removed
        since they were indexed: an entry is checked and the index rebuilt if stale."""
        hit = self._defs.get(v)
        if hit is not None and hit[1] < len(self.ops) and self.ops[hit[1]] is hit[0]:
            return hit[0]
        n = self._indexed
        stale = hit is not None or n > len(self.ops) or n and self.ops[n - 1] is not self._last
        start = 0 if stale else n
        if start == 0:
            self._defs = {}
        for i in range(start, len(self.ops)):
            for o in self.ops[i].outputs:
                self._defs[o] = (self.ops[i], i)
        self._indexed = len(self.ops)
        self._last = self.ops[-1] if self.ops else None
        hit = self._defs.get(v)
        return None if hit is None or self.ops[hit[1]] is not hit[0] else hit[0]

    def child(self) -> "Builder":
        """A builder for a nested region, at the same location and phase."""
        c = Builder(self.phase)
        c.loc = self.loc
        return c

    def emit_control(self, prim: str, inputs, regions, out_types, hints, **attrs) -> tuple:
        """Append a structured control-flow op ('if', 'for', 'while'); returns its outputs."""
        outs = tuple(Value(t, h) for t, h in zip(out_types, hints))
        ins = tuple(self.as_value(x) for x in inputs)
        self.ops.append(Op(prim, ins, outs, tuple(sorted(attrs.items())), self.loc, self.phase,
                           tuple(regions)))
        return outs

    def name(self, v: Value, hint: str) -> Value:
        """Give the unnamed temporary `v` the user's name `hint` (returns the renamed
        value). Values already named, parameters and values used since are returned as
        they are: an assignment `y = x` makes `y` an alias of `x`."""
        if v.hint:
            return v
        for i in range(len(self.ops) - 1, -1, -1):
            op = self.ops[i]
            if v in op.inputs:
                return v
            if op.outputs == (v,) and not op.regions:
                new = Value(v.type, hint)
                if v in _SCALARS:
                    _SCALARS[new] = _SCALARS[v]
                if v in ZERO_D:
                    ZERO_D.add(new)
                if v in VIEW_REFS:
                    VIEW_REFS[new] = VIEW_REFS[v]
                self.ops[i] = op.with_(outputs=(new,))
                if i < self._indexed:  # defining_op indexes only ops appended since
                    self._defs[new] = (self.ops[i], i)
                return new
        return v

    def _push(self, prim, ins, attrs, t, hint) -> Value:
        out = Value(t, hint)
        if prim == "const" and isinstance(attrs[0][1], (int, float)):
            _SCALARS[out] = attrs[0][1]
        self.ops.append(Op(prim, ins, (out,), attrs, self.loc, self.phase))
        return out
