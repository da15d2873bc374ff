"""Workload `loops` (issue 13 §2): loops that write arrays element by element.

Three tables. First, the gradient per call of three scalar-loop losses
(tests/loop_cost_code.py, imported as written there), each against a hand-written NumPy
gradient (the verification reference) and a hand-written Numba gradient (the speed
limit: the forward loop and a hand-written reverse loop fused in one `@njit` function,
as a Numba user writes them):

    prefix scan   y[0] = x[0], y[i] = 0.9 y[i-1] + x[i], loss sum(y * y), n = 1,000 and 4,000
    matvec loops  out[i] = sum_j A[i, j] x[j] (scalar loops), loss sum(out ** 2), 200 x 200
    heat          explicit stencil u[i] += 0.1 (u[i-1] - 2 u[i] + u[i+1]), 100 points,
                  100 steps, loss sum(u ** 2), gradient with respect to u0

Target: each of our compiled gradients at most 3x hand-written Numba.

Second (`corpus_ratios`), for every case of tests/corpus/ (the cases and argument sets
tests/test_control_flow.py checks), our compiled `value_and_grad` time over the time of
the loss itself compiled with `numba.njit` on the same arguments (cases Numba cannot
compile as plain Python are skipped and counted), as a distribution. Target: at most 5
for every case. Each case is timed with the harness (benchmarks/harness.py: warm-up,
calibrated batches, interleaved rounds); a diagnostic column times the generated function
called directly (no argument normalisation), to separate our per-call overhead from the
gradient's own cost.

Third (`tape_memory`), the tape of the scan gradients at two n: the bytes of the
`stack_*` arrays of the generated jit=False function, read from its frame when it returns
(each stack has its final size: for a `for` loop, one allocation of trip count entries),
and the peak of all memory the call allocates (`tracemalloc`). Target: linear in n.
"""
from __future__ import annotations

import math
import statistics
import sys
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from benchmarks.calls import CallSpec
from benchmarks.harness import Impl, Table, fmt_time, measure

TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
    sys.path.append(str(TESTS))  # after the project: tests/ holds the losses and the corpus

import loop_cost_code as lc  # noqa: E402

GRAD_LIMIT = 3.0  # our compiled gradient / hand-written Numba
CORPUS_LIMIT = 5.0  # our compiled gradient / compiled primal, every corpus case
BEFORE = ("before issue 13 (issue text, 2 cores): prefix scan n = 1,000 1.14 ms vs 5.1 µs "
          "hand-written Numba (220x); n = 4,000 264 ms vs 17 µs (15,000x); matvec 200 x 200 "
          "2.5 ms vs 62 µs (40x)")


# ---- prefix scan -------------------------------------------------------------------------
def scan_grad(x):
    """(loss, g_x) of lc.prefix_scan: the recurrence and its adjoint
    g_i = 2 y_i + 0.9 g_{i+1} (g_x = g), in Python loops. x: (n,) float64, n >= 1."""
    n = x.shape[0]
    y = np.zeros(n)
    y[0] = x[0]
    for i in range(1, n):
        y[i] = 0.9 * y[i - 1] + x[i]
    g_x = np.empty(n)
    g = 0.0
    for i in range(n - 1, -1, -1):
        g = 2.0 * y[i] + 0.9 * g
        g_x[i] = g
    return np.sum(y * y), g_x


@njit(cache=True)
def scan_grad_numba(x):
    """scan_grad fused: the loss summed in the forward loop, one reverse loop."""
    n = x.shape[0]
    y = np.empty(n)
    y[0] = x[0]
    loss = y[0] * y[0]
    for i in range(1, n):
        y[i] = 0.9 * y[i - 1] + x[i]
        loss += y[i] * y[i]
    g_x = np.empty(n)
    g = 0.0
    for i in range(n - 1, -1, -1):
        g = 2.0 * y[i] + 0.9 * g
        g_x[i] = g
    return loss, g_x


def scan_spec(n: int) -> CallSpec:
    xs = [np.random.default_rng(seed).normal(size=n) for seed in (0, 1)]
    return CallSpec(f"Prefix scan in a loop, n = {n:,}", f"loops_scan_{n}", lc.prefix_scan,
                    ("x",), [(x,) for x in xs], scan_grad, scan_grad_numba, None, None, None,
                    notes=["y[i] = 0.9 * y[i - 1] + x[i] for 0 < i < n, loss sum(y * y) "
                           "(tests/loop_cost_code.py:prefix_scan); x ~ N(0, 1), float64",
                           BEFORE])


# ---- matrix-vector product in scalar loops ----------------------------------------------------
def matvec_grad(A, x):
    """(loss, g_A, g_x) of lc.matvec_loops: out = A @ x, g_out = 2 out,
    g_A = outer(g_out, x), g_x = A.T @ g_out. A: (n, m), x: (m,) float64."""
    out = A @ x
    g_out = 2.0 * out
    return np.sum(out ** 2), np.outer(g_out, x), A.T @ g_out


@njit(cache=True)
def matvec_grad_numba(A, x):
    """matvec_grad in scalar loops, fused: forward rows, then rows in reverse."""
    n, m = A.shape
    out = np.empty(n)
    loss = 0.0
    for i in range(n):
        acc = 0.0
        for j in range(m):
            acc += A[i, j] * x[j]
        out[i] = acc
        loss += acc * acc
    g_A = np.empty((n, m))
    g_x = np.zeros(m)
    for i in range(n - 1, -1, -1):
        g = 2.0 * out[i]
        for j in range(m):
            g_A[i, j] = g * x[j]
            g_x[j] += g * A[i, j]
    return loss, g_A, g_x


def matvec_spec(n: int = 200) -> CallSpec:
    sets = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        sets.append((rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=n)))
    return CallSpec(f"Matrix-vector product in scalar loops, {n} x {n}", "loops_matvec",
                    lc.matvec_loops, ("A", "x"), sets, matvec_grad, matvec_grad_numba,
                    None, None, None,
                    notes=["acc += A[i, j] * x[j] in two loops, out[i] = acc, loss "
                           "sum(out ** 2) (tests/loop_cost_code.py:matvec_loops); gradient "
                           "wrt A and x; A ~ N(0, 1/n), x ~ N(0, 1)", BEFORE])


# ---- explicit heat stencil -----------------------------------------------------------------
def heat_grad(u0, steps):
    """(loss, g_u0) of lc.heat. The step is linear, u_{t+1} = S u_t with S = I + 0.1 D on
    the interior rows (D the second difference) and identity rows at both ends, so the
    adjoint step is g_t = S^T g_{t+1}, from g_T = 2 u_T. u0: (n,) float64, n >= 2."""
    u = u0.copy()
    for _ in range(steps):
        new = u.copy()
        new[1:-1] = u[1:-1] + 0.1 * (u[:-2] - 2.0 * u[1:-1] + u[2:])
        u = new
    g = 2.0 * u
    for _ in range(steps):
        gi = 0.1 * g[1:-1]
        prev = g.copy()
        prev[1:-1] -= 2.0 * gi
        prev[:-2] += gi
        prev[2:] += gi
        g = prev
    return np.sum(u ** 2), g


@njit(cache=True)
def heat_grad_numba(u0, steps):
    """heat_grad in scalar loops, fused: two buffers swapped each step, forward then
    the transposed stencil backward (no tape: the step is linear)."""
    n = u0.shape[0]
    u = u0.copy()
    new = u0.copy()
    for _ in range(steps):
        new[0] = u[0]
        new[n - 1] = u[n - 1]
        for i in range(1, n - 1):
            new[i] = u[i] + 0.1 * (u[i - 1] - 2.0 * u[i] + u[i + 1])
        u, new = new, u
    loss = 0.0
    for i in range(n):
        loss += u[i] * u[i]
    g = 2.0 * u
    prev = np.empty(n)
    for _ in range(steps):
        for i in range(n):
            prev[i] = g[i]
        for i in range(1, n - 1):
            gi = 0.1 * g[i]
            prev[i] -= 2.0 * gi
            prev[i - 1] += gi
            prev[i + 1] += gi
        g, prev = prev, g
    return loss, g


def heat_spec(points: int = 100, steps: int = 100) -> CallSpec:
    sets = [(np.random.default_rng(seed).normal(size=points), steps) for seed in (0, 1)]
    return CallSpec(f"Explicit heat stencil, {points} points, {steps} steps", "loops_heat",
                    lc.heat, ("u0",), sets, heat_grad, heat_grad_numba, None, None, None,
                    notes=["new = u.copy(); new[i] = u[i] + 0.1 * (u[i - 1] - 2 u[i] + "
                           "u[i + 1]) for interior i; u = new, each step; loss sum(u ** 2) "
                           "(tests/loop_cost_code.py:heat); gradient wrt u0"])


def specs() -> list:
    """The CallSpecs of the first table, in the order they are measured."""
    return [scan_spec(1000), scan_spec(4000), matvec_spec(200), heat_spec(100, 100)]


PRIMAL = "numba.njit(loss): the loss alone"


def primal_impl(s: CallSpec) -> Impl:
    """A diagnostic row: the loss itself compiled with `numba.njit`, no gradient (not
    verified), to read our gradient's cost as a multiple of the function's."""
    f, argsets = njit(s.loss), s.argsets

    def run(n):
        for k in range(n):
            f(*argsets[k % len(argsets)])
    return Impl(PRIMAL, run, None, "no gradient: diagnostic")


def tables() -> list:
    from benchmarks.calls import call_table
    out = []
    for s in specs():
        t = call_table(s)
        t.impls.append(primal_impl(s))
        out.append(t)
    return out


# ---- gradient / primal over the corpus ----------------------------------------------------------
@dataclass
class CorpusRow:
    name: str
    grad_s: float  # our compiled value_and_grad, per call
    primal_s: float  # numba.njit(loss), per call
    direct_s: float  # the generated function called directly, per call

    @property
    def ratio(self) -> float:
        return self.grad_s / self.primal_s

    @property
    def direct_ratio(self) -> float:
        return self.direct_s / self.primal_s


@dataclass
class CorpusResult:
    rows: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # (name, why): Numba cannot compile the loss
    failed: list = field(default_factory=list)  # (name, why): ours failed or values disagree


def _calls(f, argsets):
    m = len(argsets)

    def run(n):
        for k in range(n):
            f(*argsets[k % m])
    return run


def _copies(args):
    return tuple(np.copy(a) if isinstance(a, np.ndarray) else a for a in args)


def corpus_case(fn, points, wrt, reps: int, target_s: float) -> CorpusRow:
    """Time one corpus case (raises on failure; `numba.core.errors` when Numba cannot
    compile the loss)."""
    from compiler import value_and_grad
    primal = njit(fn)
    argsets = [tuple(p) for p in points]
    for args in argsets:
        expected = primal(*_copies(args))  # compiles; raises if Numba cannot
    vg = value_and_grad(fn, wrt=tuple(wrt), jit=True)
    direct = []
    for args in argsets:
        value, _ = vg(*args)
        expected = fn(*_copies(args))
        if not np.allclose(value, expected, rtol=1e-10, atol=1e-12):
            raise AssertionError(f"value {value!r} != NumPy's {expected!r}")
        normed, key = vg.normalize(args)
        direct.append((vg._specs[key].fn, normed))  # internal: diagnostic only

    def run_direct(n):
        m = len(direct)
        for k in range(n):
            f, a = direct[k % m]
            f(*a)
    impls = [Impl("grad", _calls(vg, argsets), None), Impl("primal", _calls(primal, argsets), None),
             Impl("direct", run_direct, None)]
    table = Table(fn.__name__, "call", impls, "primal", "primal")
    measure(table, reps, target_s, warmup=2, log=lambda *_: None)
    bad = [i for i in impls if i.error]
    if bad:
        raise RuntimeError(bad[0].error)
    return CorpusRow(fn.__name__, impls[0].median(), impls[1].median(), impls[2].median())


def corpus_ratios(reps: int, target_s: float, log=print) -> CorpusResult:
    """Every case of tests/corpus/control_flow.py (CASES: fn, argument sets, wrt)."""
    from corpus.control_flow import CASES
    from numba.core.errors import NumbaError
    res = CorpusResult()
    for fn, points, wrt, _ in CASES:
        try:
            res.rows.append(corpus_case(fn, points, wrt, reps, target_s))
        except NumbaError as e:
            res.skipped.append((fn.__name__, str(e).strip().splitlines()[0][:100]))
        except Exception as e:  # noqa: BLE001 - report the case, keep measuring the others
            res.failed.append((fn.__name__, f"{type(e).__name__}: {str(e)[:100]}"))
            log(f"  corpus {fn.__name__}: FAILED ({res.failed[-1][1]})")
    return res


def _quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def corpus_markdown(res: CorpusResult) -> str:
    r = [row.ratio for row in res.rows]
    d = [row.direct_ratio for row in res.rows]
    over = [row for row in res.rows if row.ratio > CORPUS_LIMIT]
    lines = ["### Gradient / primal over tests/corpus/ (compiled, per call)", "",
             "| | cases | min | median | 90th percentile | max | over 5 |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, xs in (("value_and_grad / njit(loss)", r),
                      ("generated function called directly / njit(loss)", d)):
        lines.append(f"| {label} | {len(xs)} | {min(xs, default=math.nan):.2f} "
                     f"| {statistics.median(xs) if xs else math.nan:.2f} "
                     f"| {_quantile(xs, 0.9):.2f} | {max(xs, default=math.nan):.2f} "
                     f"| {sum(x > CORPUS_LIMIT for x in xs)} |")
    lines += ["", "| worst five | value_and_grad | njit(loss) | ratio | direct call | ratio |",
              "|---|---:|---:|---:|---:|---:|"]
    for row in sorted(res.rows, key=lambda x: -x.ratio)[:5]:
        lines.append(f"| {row.name} | {fmt_time(row.grad_s)} | {fmt_time(row.primal_s)} "
                     f"| {row.ratio:.2f} | {fmt_time(row.direct_s)} | {row.direct_ratio:.2f} |")
    lines += ["",
              f"- {len(res.rows)} cases measured; median of interleaved rounds per call, "
              "cycling through each case's argument sets; target: every ratio ≤ "
              f"{CORPUS_LIMIT:g} ({len(over)} over)",
              "- direct call: the compiled generated function on already normalised "
              "arguments (no argument checks or dtype normalisation): our per-call overhead "
              "is the difference"]
    if res.skipped:
        lines.append(f"- skipped, {len(res.skipped)}: Numba cannot compile the plain loss: "
                     + "; ".join(f"{n} ({why})" for n, why in res.skipped))
    if res.failed:
        lines.append(f"- **failed**, {len(res.failed)}: "
                     + "; ".join(f"{n} ({why})" for n, why in res.failed))
    return "\n".join(lines) + "\n"


# ---- tape memory ----------------------------------------------------------------------------
def stack_bytes(vg, args) -> int:
    """The bytes of the `stack_*` arrays of the generated jit=False function `vg` when it
    returns (read from its frame by a profile hook)."""
    normed, key = vg.normalize(args)
    fn = vg._specs[key].fn  # internal: the generated Python function
    code, seen = fn.__code__, {}

    def hook(frame, event, arg):
        if event == "return" and frame.f_code is code:
            seen.update({k: v.nbytes for k, v in frame.f_locals.items()
                         if k.startswith("stack_") and isinstance(v, np.ndarray)})
    old = sys.getprofile()
    sys.setprofile(hook)
    try:
        fn(*normed)
    finally:
        sys.setprofile(old)
    return sum(seen.values())


def peak_bytes(vg, args) -> int:
    """The peak of memory allocated while `vg(*args)` runs (tracemalloc)."""
    vg(*args)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        vg(*args)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def tape_memory(ns=(1000, 4000)) -> list:
    """[(loss name, n, stack bytes, peak bytes)] for the scans, jit=False."""
    from compiler import value_and_grad
    rows = []
    for fn in (lc.prefix_scan, lc.nonlinear_scan):
        vg = value_and_grad(fn, jit=False)
        for n in ns:
            x = np.random.default_rng(n).normal(size=n) * 0.5
            vg(x)
            rows.append((fn.__name__, n, stack_bytes(vg, (x,)), peak_bytes(vg, (x,))))
    return rows


def tape_linear(rows) -> dict:
    """{loss name: (stack ratio, peak ratio, n ratio)} between the smallest and largest n."""
    out = {}
    for name in dict.fromkeys(r[0] for r in rows):
        mine = sorted((r for r in rows if r[0] == name), key=lambda r: r[1])
        a, b = mine[0], mine[-1]
        out[name] = (b[2] / a[2] if a[2] else (0.0 if not b[2] else math.inf),
                     b[3] / a[3] if a[3] else math.nan, b[1] / a[1])
    return out


def _kb(b: int) -> str:
    return f"{b / 1000:.1f} kB"


def tape_markdown(rows) -> str:
    lines = ["### Tape memory of the scan gradients (jit=False)", "",
             "| loss | n | tape: bytes of the stack_* arrays | per trip | peak allocated "
             "by the call (tracemalloc) | per element |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, n, st, peak in rows:
        lines.append(f"| {name} | {n:,} | {_kb(st)} | {st / (n - 1):.1f} B | {_kb(peak)} "
                     f"| {peak / n:.1f} B |")
    lines.append("")
    for name, (rs, rp, rn) in tape_linear(rows).items():
        lines.append(f"- {name}: n grows {rn:g}x, the tape {rs:.3g}x, the peak {rp:.3g}x")
    lines.append("- the tape is what the forward sweep keeps for the backward sweep; a linear "
                 "scan (prefix_scan) needs none. Before issue 13 the forward loop pushed the "
                 "whole carried array y every trip: n x n x 8 bytes (128 MB at n = 4,000)")
    return "\n".join(lines) + "\n"


# ---- the runner's section and targets ---------------------------------------------------------
@dataclass
class Extra:
    corpus: CorpusResult
    tape: list

    def markdown(self) -> str:
        return corpus_markdown(self.corpus) + "\n" + tape_markdown(self.tape)


def extra(reps: int, target_s: float) -> Extra:
    """The second and third tables, measured (the corpus in batches of at most 10 ms:
    its calls take microseconds)."""
    return Extra(corpus_ratios(reps, min(target_s, 0.01)), tape_memory())


def targets(tables: dict, ext: Extra | None) -> str:
    """Issue 13's targets against this run, a Markdown table like the runner's others."""
    show = (lambda v: f"{v:.2f}" if math.isfinite(v) else "–")  # noqa: E731
    rows = []
    for s in specs():
        t = tables.get(f"{s.key}_call")
        try:
            ours, ref = t.impl("ours, compiled"), t.impl("hand-written Numba")
            r, rc = ours.median() / ref.median(), ours.cpu_median() / ref.cpu_median()
        except (AttributeError, StopIteration, ZeroDivisionError):
            r = rc = math.nan
        met = "–" if not math.isfinite(r) else ("met" if r <= GRAD_LIMIT else "**not met**")
        rows.append((f"{s.title}: our call / hand-written Numba call", f"≤ {GRAD_LIMIT:g}",
                     show(r), show(rc), met))
    if ext is not None:
        worst = max(ext.corpus.rows, key=lambda x: x.ratio, default=None)
        if worst is not None:
            n_over = sum(x.ratio > CORPUS_LIMIT for x in ext.corpus.rows)
            rows.append((f"corpus ({len(ext.corpus.rows)} cases): compiled gradient / "
                         "compiled primal, worst case", f"≤ {CORPUS_LIMIT:g}",
                         f"{worst.ratio:.2f} ({worst.name})", "",
                         "met" if n_over == 0 else f"**not met** ({n_over} over)"))
        for name, (rs, _, rn) in tape_linear(ext.tape).items():
            ok = rs <= 1.1 * rn
            rows.append((f"{name}: tape growth from n = {ext.tape[0][1]:,} to "
                         f"{ext.tape[1][1]:,}", f"≤ {rn:g}x (linear)", f"{rs:.3g}x", "",
                         "met" if ok else "**not met**"))
    out = ["## Targets of issue 13 in this run", "",
           "| target | limit | measured (wall-time medians) | CPU-time medians | |",
           "|---|---:|---:|---:|---|"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(out) + "\n"
