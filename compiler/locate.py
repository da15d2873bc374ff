"""Run-time errors of generated code, reported at the user's line.

Code generation writes a line map beside the module (`pipeline.Generated.line_map`:
module line -> the user `Loc` and phase of the statement group the line belongs to,
the same information as its `# file:line: text` comment). A failing call is located
by the line of the innermost frame of the generated module in the exception's
traceback, looked up in that map.

Guarantees: `run_error` returns a `RunError` naming the user line and the sweep
(forward, or backward: the gradient), with the original exception's type and first
line; or, when no line of the generated code can be found, one naming the function.
Compiled code (Numba) leaves no frame of the generated file in a traceback, so for an
exception from the compiled tier the same module is run once more, as plain NumPy on
the same arguments, only to obtain such a frame; the exception reported is still the
original one. If the NumPy tier does not fail (an error only compiled code raises),
the function is named instead of a line. A tape that passes ADJOINT_MAX_TAPE_BYTES
is put at the line of the one `while` that grows a tape, if there is one (in compiled
code without that rerun).
"""
from __future__ import annotations

import linecache
import traceback

from .errors import RunError
from .ir.core import Loc


def _generated_line(exc, path: str):
    """The line of the innermost frame of the file `path` in `exc`'s traceback, or None."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == path:
            line = lineno
    return line


def _tape_error(exc) -> bool:
    from runtime.stacks import TAPE_ERROR
    return isinstance(exc, MemoryError) and str(exc) == TAPE_ERROR


def _growing_loop(graph):
    """(Loc, 'primal') of the one `while` of the forward sweep that pushes onto a tape,
    or None: a tape that outgrows its bound in compiled code is located without running
    the NumPy tier as far again (a `for` allocates its stacks once, at entry)."""
    from .ir.walk import walk
    loops = [op for op in walk(graph.ops) if op.prim == "while" and op.phase == "primal"
             and any(o.prim == "stack_push" for o in walk(op.body.ops))]
    return (loops[0].loc, "primal") if len(loops) == 1 and loops[0].loc else None


def _hint(exc, shapes="check the shapes of the arguments against this line") -> str:
    """What to check, by the exception's type: a `numpy.linalg.LinAlgError` is about the
    matrix's values (singular: det, slogdet, inv, solve and their gradients, which use
    the inverse; not positive definite: cholesky), an out-of-range index about the
    index; other errors are most often shapes."""
    import numpy as np
    text = str(exc).lower()
    if isinstance(exc, np.linalg.LinAlgError):
        if "positive definite" in text or "positive-definite" in text:
            return ("the matrix is not (numerically) positive definite, so it has no Cholesky "
                    "factor: check the values at this line (a symmetric matrix with positive "
                    "eigenvalues; add a multiple of the identity to regularise it)")
        if "singular" in text:
            return ("the matrix is (numerically) singular, so it has no inverse: check the "
                    "values at this line; the gradients of slogdet, inv and solve use "
                    "the inverse, so they fail on singular matrices even where the value exists")
        return ("a linear-algebra routine failed on the matrix's values (not its shape): "
                "check the values at this line")
    if isinstance(exc, IndexError):
        return "an index is out of range at this line: check the index values against the shapes"
    return shapes


def run_error(spec, exc, args, fs) -> RunError | None:
    """The RunError for `exc`, raised while the specialisation `spec` (dispatch) ran on
    the normalised `args`; `fs` is the user's parsed function (frontend.source)."""
    if isinstance(exc, MemoryError) and not _tape_error(exc):
        return None  # out of memory: nothing to locate (a rerun would need as much)
    what = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    numpy_fn = spec.numpy_tier()
    path = numpy_fn.__code__.co_filename  # the generated module (one file for both tiers)
    line = _generated_line(exc, path)
    where = None
    if _tape_error(exc):  # the loop itself (a push is under the line of what it pushes)
        where = _growing_loop(spec.generated.graph)
    if where is not None:
        line = None
    elif line is None and spec.jit:
        try:
            numpy_fn(*args)
        except Exception as rerun:  # noqa: BLE001 - we only read its traceback
            line = _generated_line(rerun, path)
    where = where or spec.generated.line_map.get(line)
    if where is None:
        return RunError(f"{what} (in the generated code for {fs.node.name})",
                        fs.loc(fs.node), _hint(exc, "check the shapes of the arguments"))
    loc, phase = where
    raw = linecache.getline(loc.file, loc.line)  # the caret goes under the statement
    loc = Loc(loc.file, loc.line, len(raw) - len(raw.lstrip()), loc.text)
    sweep = "backward sweep (the gradient)" if phase == "adjoint" else "forward sweep"
    hint = _hint(exc)
    if _tape_error(exc):
        from runtime.stacks import MAX_TAPE_BYTES
        hint = (f"the loop at or around this line would keep more than {MAX_TAPE_BYTES} "
                "bytes in one stack for its backward sweep: check that it ends (a `while` "
                "whose condition never fails), or set ADJOINT_MAX_TAPE_BYTES higher before "
                "importing adjoint")
    return RunError(f"{what} (in the {sweep} of {fs.node.name})", loc, hint)
