"""The SSA computation graph: types, values, ops and graphs.

Guarantees: every object here is immutable. A `Value` is defined exactly once (as a
graph parameter or as the output of one `Op`) and is compared by identity. A `Graph`
is the lecture's computation graph: a DAG whose root (the first result) is the loss
and whose nodes are subexpressions. `str(graph)` prints a jaxpr-like text form.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

DTYPES = ("bool", "int64", "float64")  # ordered by promotion
_SHORT = {"float64": "f64", "int64": "i64", "bool": "bool"}


@dataclass(frozen=True)
class Type:
    """dtype plus rank; shapes are run-time values. rank 0 is a Python/NumPy scalar."""

    dtype: str
    rank: int

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}")

    def __str__(self):
        s = _SHORT[self.dtype]
        return s if self.rank == 0 else f"{s}[{','.join('?' * self.rank)}]"

    @property
    def is_float(self) -> bool:
        return self.dtype == "float64"


F64 = Type("float64", 0)
I64 = Type("int64", 0)
BOOL = Type("bool", 0)


def promote(*types: Type) -> str:
    """NumPy's result dtype for a mix of bool/int64/float64 operands."""
    return max((t.dtype for t in types), key=DTYPES.index)


_ids = itertools.count()


@dataclass(frozen=True, eq=False)
class Value:
    """An SSA value. `hint` is the user's variable name ('' for a temporary)."""

    type: Type
    hint: str = ""
    id: int = field(default_factory=lambda: next(_ids))

    def __repr__(self):
        return f"%{self.hint or 't'}{self.id}:{self.type}"

    # Arithmetic builds ops in the current builder; adjoint rules read as math.
    def __add__(self, o): return _b().emit("add", self, o)
    def __radd__(self, o): return _b().emit("add", o, self)
    def __sub__(self, o): return _b().emit("sub", self, o)
    def __rsub__(self, o): return _b().emit("sub", o, self)
    def __mul__(self, o): return _b().emit("mul", self, o)
    def __rmul__(self, o): return _b().emit("mul", o, self)
    def __truediv__(self, o): return _b().emit("div", self, o)
    def __rtruediv__(self, o): return _b().emit("div", o, self)
    def __pow__(self, o): return _b().emit("pow", self, o)
    def __matmul__(self, o): return _b().emit("matmul", self, o)
    def __neg__(self): return _b().emit("neg", self)

    @property
    def T(self): return _b().emit("transpose", self)


def _b():
    from .builder import current
    return current()


@dataclass(frozen=True)
class Loc:
    """Where an op comes from in the user's source. `inlined_at`: for an op of an inlined
    user function, the Loc of the call it was inlined at (itself inlined at its caller's
    call, and so on: the chain of call sites, innermost first); None outside calls. It
    is not compared, hashed or printed: two calls of one function give equal Locs."""

    file: str
    line: int
    col: int
    text: str  # the user's source line, stripped
    inlined_at: "Loc | None" = field(default=None, compare=False, repr=False)

    def call_chain(self) -> tuple:
        """The call sites this op was inlined at, outermost first (() outside calls)."""
        chain, at = [], self.inlined_at
        while at is not None:
            chain.append(at)
            at = at.inlined_at
        return tuple(reversed(chain))

    def __str__(self):
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, eq=False)
class Region:
    """A block of ops with block arguments (`params`, playing the role of phi nodes) and
    `results`. Ops in a region may use values of enclosing regions (lexical scope)."""

    params: tuple
    ops: tuple
    results: tuple

    def replace(self, **kw) -> "Region":
        d = dict(params=self.params, ops=self.ops, results=self.results)
        d.update(kw)
        return Region(**d)


@dataclass(frozen=True, eq=False)
class Op:
    """One primitive application. `attrs` is a sorted tuple of (name, value) pairs so
    that ops hash structurally for CSE. `phase` is 'primal' or 'adjoint'. Structured
    control flow ops ('if', 'for', 'while') carry `regions` (see compiler/ir/control.py)."""

    prim: str
    inputs: tuple
    outputs: tuple
    attrs: tuple = ()
    loc: Loc | None = None
    phase: str = "primal"
    regions: tuple = ()

    def with_(self, **kw) -> "Op":
        d = dict(prim=self.prim, inputs=self.inputs, outputs=self.outputs, attrs=self.attrs,
                 loc=self.loc, phase=self.phase, regions=self.regions)
        d.update(kw)
        return Op(**d)

    def attr(self, name, default=None):
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    @property
    def out(self) -> Value:
        return self.outputs[0]

    # ---- structured control flow: the operand layouts, named (only here) ------------
    # if:    inputs (condition,); regions (then, else), no params; outputs = results
    # for:   inputs (start, stop, step, *inits); one region, the body, with params
    #        (index, *carried) and results (*carried); outputs: the final carried values
    # while: inputs (*inits); regions (cond, body), both with params (*carried); cond's
    #        result is one bool, the body's results are the next carried values
    @property
    def condition(self) -> Value:
        """if: the branch condition."""
        return self.inputs[0]

    @property
    def bounds(self) -> tuple:
        """for: (start, stop, step) of its range."""
        return self.inputs[:3]

    @property
    def inits(self) -> tuple:
        """for/while: the carried values' initial values."""
        return self.inputs[3:] if self.prim == "for" else self.inputs

    @property
    def body(self) -> "Region":
        """for/while: the loop body."""
        return self.regions[-1]

    @property
    def cond_region(self) -> "Region":
        """while: the region computing the loop condition from the carried values."""
        return self.regions[0]

    @property
    def index(self) -> Value:
        """for: the body's loop-index parameter."""
        return self.regions[0].params[0]

    def carried(self, region: "Region | None" = None) -> tuple:
        """for/while: the params of `region` (default: the body) that carry values."""
        r = self.body if region is None else region
        return r.params[1:] if self.prim == "for" else r.params


@dataclass(frozen=True)
class Graph:
    """A function in SSA form: parameters, ops in a valid (topological) order, results."""

    name: str
    params: tuple
    ops: tuple
    results: tuple
    result_names: tuple = ()

    def replace(self, **kw) -> "Graph":
        d = dict(name=self.name, params=self.params, ops=self.ops, results=self.results,
                 result_names=self.result_names)
        d.update(kw)
        return Graph(**d)

    def __str__(self):
        from .printer import format_graph
        return format_graph(self)


@dataclass(frozen=True)
class ConstArray:
    """A constant array captured from a global or closure, hashed by content."""

    dtype: str
    shape: tuple
    data: tuple  # flattened values

    @staticmethod
    def of(arr) -> "ConstArray":
        import numpy as np
        a = np.asarray(arr)
        dt = "bool" if a.dtype == bool else ("int64" if a.dtype.kind in "iu" else "float64")
        a = a.astype(dt)
        return ConstArray(dt, tuple(a.shape), tuple(a.ravel().tolist()))

    def __str__(self):
        return f"array{list(self.shape)}"
