"""Timing harness shared by the workloads: verify, warm up, calibrate, then interleave.

Method (issue 6): every implementation is first checked against the reference
(hand-written NumPy): its gradient, or its parameters after one epoch, must agree to a
max abs difference below `TOL` = 1e-9. The first call (code generation, Numba compile or
cache load, JAX tracing and XLA compile) is timed on its own and reported in the
`first call` column; a few more warm-up calls follow. Each implementation then gets a
batch size n such that one batch takes about `target_s`, and the measurement runs `reps`
rounds; in each round every implementation runs one batch, in an order rotated from
round to round, so a slow spell of the shared machine hits all of them. A sample is the
batch's time divided by n; the table shows the median sample with min and max, and the
median's ratio to the speed-limit implementation (hand-written Numba). Each sample also
records the process's CPU time (`time.process_time`, all threads): on a shared machine a
batch can lose its core to other work for part of its wall time, which CPU time does
not count, so its median (and ratio) is the steadier figure when the load is high.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

TOL = 1e-9


@dataclass
class Impl:
    """One implementation of a workload.

    run(n): do n calls (or n epochs); the harness times it (wall and CPU time).
    check(): the arrays to compare with the reference (gradients, or parameters after
        one epoch from the same start and order); None to skip verification.
    single: too slow to repeat: one call, which is both the first call and the only
        sample (no warm-up, not interleaved).
    """

    label: str
    run: Callable[[int], float | None]
    check: Callable[[], list] | None
    note: str = ""
    first_s: float = math.nan
    diff: float = math.nan
    n: int = 1
    samples: list = field(default_factory=list)
    cpu: list = field(default_factory=list)  # CPU seconds per call, one per sample
    error: str = ""
    single: bool = False

    @property
    def ok(self) -> bool:
        return not self.error and (self.check is None or self.diff < TOL)

    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else math.nan

    def cpu_median(self) -> float:
        return statistics.median(self.cpu) if self.cpu else math.nan


@dataclass
class Table:
    """One workload's results: a Markdown table of `impls`, ratios to `ref`."""

    title: str
    unit: str  # "call" or "epoch"
    impls: list
    ref: str  # label of the speed-limit implementation (hand-written Numba)
    reference: str  # label of the verification reference (hand-written NumPy)
    notes: list = field(default_factory=list)
    key: str = ""

    def impl(self, label) -> Impl:
        return next(i for i in self.impls if i.label == label)


def _timed(impl: Impl, n: int) -> float:
    return _timed2(impl, n)[0]


def _timed2(impl: Impl, n: int) -> tuple:
    """(wall seconds, CPU seconds) of impl.run(n)."""
    c, t = time.process_time(), time.perf_counter()
    impl.run(n)
    return time.perf_counter() - t, time.process_time() - c


def verify(table: Table) -> None:
    """Fill each implementation's `diff` (max abs difference from the reference)."""
    if table.impl(table.reference).check is None:
        return
    ref = [np.asarray(a, dtype=np.float64) for a in table.impl(table.reference).check()]
    for impl in table.impls:
        if impl.check is None or impl.error:
            continue
        try:
            got = [np.asarray(a, dtype=np.float64) for a in impl.check()]
        except Exception as e:  # noqa: BLE001 - report, keep benchmarking the others
            impl.error = f"{type(e).__name__}: {e}"
            continue
        if len(got) != len(ref) or any(g.shape != r.shape for g, r in zip(got, ref)):
            impl.error = "result shapes differ from the reference"
            continue
        impl.diff = max(float(np.max(np.abs(g - r))) if r.size else 0.0
                        for g, r in zip(got, ref))


def measure(table: Table, reps: int, target_s: float, warmup: int = 3,
            max_n: int = 100_000, log=print) -> None:
    """First call, warm-up, calibration and `reps` interleaved rounds (see module doc)."""
    live = []
    for impl in table.impls:
        try:
            impl.first_s, cpu = _timed2(impl, 1)
            if impl.single:
                impl.samples, impl.cpu = [impl.first_s], [cpu]
                continue
            for _ in range(warmup):
                _timed(impl, 1)
        except Exception as e:  # noqa: BLE001
            impl.error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"  {impl.label}: FAILED ({impl.error})")
            continue
        live.append(impl)
    verify(table)
    for impl in live:
        if impl.error:
            continue
        one = min(_timed(impl, 1) for _ in range(3))
        impl.n = max(1, min(max_n, int(target_s / max(one, 1e-9))))
    live = [i for i in live if not i.error]
    for r in range(reps):
        k = r % len(live) if live else 0
        for impl in live[k:] + live[:k]:
            wall, cpu = _timed2(impl, impl.n)
            impl.samples.append(wall / impl.n)
            impl.cpu.append(cpu / impl.n)


def fmt_time(s: float) -> str:
    if not math.isfinite(s):
        return "–"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def markdown(table: Table) -> str:
    """The table as Markdown: median (min–max) per call/epoch, ratio to `ref`, first
    call, verification."""
    has_ref = any(i.label == table.ref for i in table.impls)
    ref = table.impl(table.ref).median() if has_ref else math.nan
    ref_cpu = table.impl(table.ref).cpu_median() if has_ref else math.nan
    lines = [f"### {table.title}", "",
             f"| implementation | median per {table.unit} | min | max | × {table.ref} "
             f"| CPU time: median | × | first call | max abs diff vs {table.reference} |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i in table.impls:
        label = i.label + (f" ({i.note})" if i.note else "")
        if i.error:
            lines.append(f"| {label} | failed: {i.error} | | | | | | | |")
            continue
        med = i.median()
        ratio = med / ref if math.isfinite(ref) and ref > 0 else math.nan
        cpu = i.cpu_median()
        cratio = cpu / ref_cpu if math.isfinite(ref_cpu) and ref_cpu > 0 else math.nan
        diff = "–" if i.check is None else (f"{i.diff:.1e}" + ("" if i.diff < TOL else " **FAIL**"))
        lines.append(f"| {label} | {fmt_time(med)} | {fmt_time(min(i.samples, default=math.nan))} "
                     f"| {fmt_time(max(i.samples, default=math.nan))} "
                     f"| {ratio:.2f} | {fmt_time(cpu)} | {cratio:.2f} | {fmt_time(i.first_s)} "
                     f"| {diff} |")
    lines += [""] + [f"- {n}" for n in table.notes]
    return "\n".join(lines).rstrip() + "\n"


def cycle(items):
    """A function returning the next of `items` on each call (round robin)."""
    state = {"k": 0}

    def nxt():
        k = state["k"]
        state["k"] = (k + 1) % len(items)
        return items[k]
    return nxt
