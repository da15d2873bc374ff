"""`make bench`: every workload, one Markdown table each, a results file and a chart.

    python -m benchmarks.run [--quick] [--only four_layer_16,rnn,...] [--out FILE]

Workloads (issue 6): the lecture's four-layer regression on diabetes at widths 16 and
256 (gradient per call and SGD epoch), the hinge-loss classifier on breast cancer (per
call and epoch), a minibatch softmax MLP (batch 256, width 256), the RNN recurrence of
issue 3 (1,000 steps, width 16), second order (issue 14, benchmarks/bench_hessian.py:
the four-layer Hessian and HVP against JAX), and compile latency in fresh processes. Each table
compares ours (compiled and jit=False), hand-written NumPy and Numba, autograd,
PyTorch (when installed) and JAX; see benchmarks/harness.py for the method. The
results file starts with the machine, the load, the versions and the thread settings;
the targets of issues 16 and 6 are checked at its end; "threads" measures a
per-example parallel minibatch gradient against batched BLAS at 1 and 2 threads
(benchmarks/parallel_minibatch.py); "loops" (issue 13, benchmarks/loops.py) times scalar
loops that write arrays, our gradient over the compiled loss for every tests/corpus/
case, and the tape memory of the scan gradients at two n.
"""
from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    from benchmarks import threads
    threads.pin(keep_coretype="--keep-coretype" in sys.argv)

import argparse  # noqa: E402
import datetime  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks import harness, libs, threads  # noqa: E402,F811

HERE = Path(__file__).resolve().parent
WORKLOADS = ["four_layer_16", "four_layer_256", "hinge", "mlp", "rnn", "overhead", "second_order",
             "threads", "compile", "loops"]


def build(name: str, quick: bool) -> list:
    """The Tables of workload `name` (not yet measured)."""
    from benchmarks import per_example
    if name.startswith("four_layer_"):
        from benchmarks import models
        width = int(name.rsplit("_", 1)[1])
        m = models.four_layer(width)
        slow = ("skip" if quick else True) if width > 64 else False
        return [per_example.call_table(m), per_example.epoch_table(m, slow_python=slow)]
    if name == "hinge":
        from benchmarks import models
        m = models.hinge()
        return [per_example.call_table(m), per_example.epoch_table(m)]
    if name == "mlp":
        from benchmarks import calls, mlp
        return [calls.call_table(mlp.spec())]
    if name == "rnn":
        from benchmarks import calls, rnn
        return [calls.call_table(rnn.spec())]
    if name == "overhead":
        return [overhead_table()]
    if name == "loops":  # issue 13: scalar loops that write arrays (benchmarks/loops.py)
        from benchmarks import loops
        return loops.tables()
    if name == "second_order":  # issue 14: Hessian and HVP against JAX
        from benchmarks import bench_hessian
        return bench_hessian.tables(quick)
    raise ValueError(name)


def overhead_table():
    """Where the per-call time of our compiled gradient goes (four-layer, width 16):
    the whole call, argument normalisation alone, the compiled function called directly,
    hand-written Numba, and Numba's dispatch of an empty function with 6 arguments."""
    import numpy as np
    from numba import njit

    from benchmarks import models
    from benchmarks.harness import Impl, Table
    from compiler import value_and_grad
    m = models.four_layer(16)
    ps = m.p0()
    args = (np.ascontiguousarray(m.X[0]), float(m.y[0]), *ps)
    vg = value_and_grad(m.loss, wrt=m.wrt, jit=True)
    vg(*args)
    normed, key = vg.normalize(args)
    fn = vg._specs[key].fn  # the compiled generated function (internal, diagnostic only)

    @njit
    def empty(a, b, c, d, e, f):
        return 0.0

    def loop(f, a):
        def run(n):
            for _ in range(n):
                f(*a)
        return run
    impls = [Impl("ours, compiled: whole call", loop(vg, args), None),
             Impl("ours: normalize(args) alone", loop(vg.normalize, (args,)), None),
             Impl("ours: generated function called directly", loop(fn, normed), None),
             Impl("hand-written Numba", loop(m.grad_numba, args), None),
             Impl("Numba dispatch of an empty 6-argument function", loop(empty, args), None)]
    return Table("Per-call overhead of ours, four-layer width 16", "call", impls,
                 "hand-written Numba", "hand-written Numba",
                 ["diagnostic rows: which part of the call costs what"], key="overhead")


def header(argv, load_start) -> str:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       "?")
    except OSError:
        pass
    v = libs.versions()
    try:
        import subprocess
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=HERE,
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = ""
    lines = ["# adjoint benchmarks", "",
             f"Run {datetime.datetime.now().isoformat(timespec='seconds')} with "
             f"`{' '.join(['python -m benchmarks.run', *argv])}` (`make bench`).", "",
             f"- code: commit {rev or '?'} (`-dirty`: with uncommitted changes in the "
             "working tree)",
             f"- machine: {cpu}, {os.cpu_count()} cores, {platform.system()} "
             f"{platform.release()}",
             f"- load average (1, 5, 15 min) at the start: {load_start}; other work shares "
             "this machine, so timings are medians of interleaved rounds",
             "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
             "- threads: " + "; ".join(threads.report())]
    lines += [f"- note: {n}" for n in libs.missing()]
    return "\n".join(lines) + "\n"


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def targets(tables: dict, compile_rows) -> str:
    """Issue 6's targets against this run: one Markdown table. A target is met when the
    ratio of the wall-time medians is within its limit; the ratio of CPU-time medians is
    shown beside it (steadier when other work shares the machine)."""
    def med(key, label, cpu=False):
        t = tables.get(key)
        try:
            i = t.impl(label)
        except (AttributeError, StopIteration):
            return math.nan
        return i.cpu_median() if cpu else i.median()

    rows = []

    def ratio(name, key_a, label_a, key_b, label_b, limit):
        r = med(key_a, label_a) / med(key_b, label_b)
        rc = med(key_a, label_a, True) / med(key_b, label_b, True)
        met = "–" if not math.isfinite(r) else ("met" if r <= limit else "**not met**")
        show = (lambda v: f"{v:.2f}" if math.isfinite(v) else "–")  # noqa: E731
        rows.append((name, f"≤ {limit:g}", show(r), show(rc), met))

    ours_c, ours_e = "ours, compiled", "ours, compiled (fit)"
    hn = "hand-written Numba"
    jax_c, jax_e = "jax.jit(value_and_grad)", "JAX epoch, jit(lax.scan)"
    f16c, f16e, f256c, f256e = ("four_layer_16_call", "four_layer_16_epoch",
                                "four_layer_256_call", "four_layer_256_epoch")
    ratio("four-layer 16: our epoch / hand-written Numba epoch", f16e, ours_e, f16e, hn, 1.1)
    ratio("four-layer 16: our epoch / JAX scan epoch", f16e, ours_e, f16e, jax_e, 1.0)
    ratio("four-layer 16: our call / hand-written Numba call", f16c, ours_c, f16c, hn, 1.3)
    ratio("four-layer 256: our epoch / JAX scan epoch", f256e, ours_e, f256e, jax_e, 1.0)
    ratio("four-layer 256: our call / jax.jit call", f256c, ours_c, f256c, jax_c, 1.0)
    ratio("minibatch MLP: our call / jax.jit call", "mlp_call", ours_c, "mlp_call", jax_c, 1.0)
    ratio("hinge: our epoch / hand-written Numba epoch", "hinge_epoch", ours_e, "hinge_epoch",
          hn, 1.2)
    ratio("RNN (issue 3): our call / hand-written Numba call", "rnn_call", ours_c, "rnn_call",
          hn, 1.5)
    for model, label, r in compile_rows or []:
        if "first_s" not in r or model != "four_layer":
            continue
        if label.startswith("ours, warm"):
            lim = 0.3
        elif label.startswith("ours, cold (empty"):
            lim = 3.0
        else:
            continue
        met = "met" if r["first_s"] <= lim else "**not met**"
        rows.append((f"four-layer first gradient in a new process, {label[6:]}",
                     f"≤ {lim:g} s", f"{r['first_s']:.2f} s", "", met))
    out = ["## Targets of issue 6 in this run", "",
           "| target | limit | measured (wall-time medians) | CPU-time medians | |",
           "|---|---:|---:|---:|---|"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(out) + "\n"


def targets16(tables: dict) -> str:
    """Issue 16's targets against this run (ratios of wall-time medians in this run; the
    CPU-time ratio beside each)."""
    def med(key, label, cpu=False):
        try:
            i = tables[key].impl(label)
        except (KeyError, StopIteration):
            return math.nan
        return i.cpu_median() if cpu else i.median()

    show = (lambda v: f"{v:.2f}" if math.isfinite(v) else "–")  # noqa: E731
    rows = []

    def ratio(name, a, b, limit):
        r, rc = med(*a) / med(*b), med(*a, True) / med(*b, True)
        met = "–" if not math.isfinite(r) else ("met" if r <= limit else "**not met**")
        rows.append((name, f"≤ {limit:g}", show(r), show(rc), met))

    ours_c, ours_e, hn = "ours, compiled", "ours, compiled (fit)", "hand-written Numba"
    fused, jax_e = "hand-written Numba, fused updates", "JAX epoch, jit(lax.scan)"
    from benchmarks.per_example import ADAM_PY, FIT_CALL
    ratio("four-layer 16: our call / hand-written Numba call",
          ("four_layer_16_call", ours_c), ("four_layer_16_call", hn), 1.2)
    ratio("four-layer 16: our epoch / fused hand-written epoch",
          ("four_layer_16_epoch", ours_e), ("four_layer_16_epoch", fused), 1.2)
    ratio("four-layer 16: our epoch / JAX scan epoch",
          ("four_layer_16_epoch", ours_e), ("four_layer_16_epoch", jax_e), 1.0)
    ratio("hinge: our epoch / hand-written (fused) epoch",
          ("hinge_epoch", ours_e), ("hinge_epoch", hn), 1.5)
    ratio("hinge: our epoch / JAX scan epoch", ("hinge_epoch", ours_e), ("hinge_epoch", jax_e), 1.0)
    ratio("hinge: one fit(epochs=1) call / one compiled epoch",
          ("hinge_epoch", FIT_CALL), ("hinge_epoch", ours_e), 1.2)
    ratio("four-layer 256: our epoch / JAX scan epoch",
          ("four_layer_256_epoch", ours_e), ("four_layer_256_epoch", jax_e), 1.0)
    ratio("softmax MLP minibatch: our call / jax.jit call",
          ("mlp_call", ours_c), ("mlp_call", "jax.jit(value_and_grad)"), 1.0)
    ratio("jit=False: RNN gradient / hand-written NumPy",
          ("rnn_call", "ours, jit=False"), ("rnn_call", "hand-written NumPy"), 1.5)
    adam = med("four_layer_256_epoch", ADAM_PY)
    rows.append(("jit=False: Adam epoch, four-layer 256 (one fit(epochs=1))", "< 1 s",
                 f"{adam:.2f} s" if math.isfinite(adam) else "–", "",
                 "–" if not math.isfinite(adam) else ("met" if adam < 1.0 else "**not met**")))
    out = ["## Targets of issue 16 in this run", "",
           "| target | limit | measured (wall-time medians) | CPU-time medians | |",
           "|---|---:|---:|---:|---|"]
    out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="5 rounds of 10 ms batches, compile latency of the four-layer model "
                         "only, no jit=False epoch at width 256 (about two minutes)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    ap.add_argument("--reps", type=int, default=None, help="interleaved rounds (default 15, "
                    "quick 5)")
    ap.add_argument("--out", default=None, help="results Markdown file (default "
                    "benchmarks/results.md; with --quick results/bench-quick.md)")
    ap.add_argument("--chart", default=None, help="bar chart PNG (default: beside --out)")
    ap.add_argument("--keep-coretype", action="store_true",
                    help="keep OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE if the machine sets them")
    args = ap.parse_args(argv)
    names = [n for n in (args.only.split(",") if args.only else WORKLOADS) if n]
    bad = [n for n in names if n not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {WORKLOADS}")
    reps = args.reps or (5 if args.quick else 15)
    target_s = 0.01 if args.quick else 0.04
    out = Path(args.out or (HERE.parent / "results" / "bench-quick.md" if args.quick
                            else HERE / "results.md"))
    chart = Path(args.chart) if args.chart else out.with_suffix(".png")
    load_start = _load()
    t_all = time.perf_counter()
    print(header(argv, load_start), flush=True)  # again in the file, with every BLAS loaded

    tables, md, compile_rows = {}, [], None
    for name in names:
        print(f"== {name}", flush=True)
        if name == "threads":
            from benchmarks import parallel_minibatch
            text = parallel_minibatch.markdown(parallel_minibatch.run(5 if args.quick else 15))
            print(text, flush=True)
            md.append(text)
            continue
        if name == "compile":
            from benchmarks import compile_latency
            models = ("four_layer",) if args.quick else ("four_layer", "softmax", "rnn50", "rnn")
            compile_rows = compile_latency.cases(models, with_jax=libs.jax() is not None,
                                                 auto=("four_layer", "softmax", "rnn50"))
            text = compile_latency.markdown(compile_rows, compile_latency.import_compiler())
            print(text, flush=True)
            md.append(text)
            continue
        for table in build(name, args.quick):
            harness.measure(table, reps, target_s)
            tables[table.key] = table
            text = harness.markdown(table)
            print(text, flush=True)
            md.append(text)
        if name == "loops":  # issue 13: gradient/primal over tests/corpus/, tape memory
            from benchmarks import loops
            loops_extra = loops.extra(reps, target_s)
            text = loops_extra.markdown()
            print(text, flush=True)
            md.append(text)
    summary = targets16(tables) + "\n" + targets(tables, compile_rows)
    if "loops" in names:
        from benchmarks import loops
        summary += "\n" + loops.targets(tables, loops_extra)
    if "second_order" in names:
        from benchmarks import bench_hessian
        summary += "\n" + bench_hessian.ratios([t for k, t in tables.items()
                                                if k.startswith(("hessian_", "hvp_"))])
    print(summary)
    failed = [f"{t.title}: {i.label}" for t in tables.values() for i in t.impls
              if i.check is not None and not i.ok]
    doc = [header(argv, load_start), summary] + md
    doc.append(f"Load average at the end: {_load()}; whole run {time.perf_counter() - t_all:.0f} s.\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(doc))
    from benchmarks import chart as chart_mod
    png = chart_mod.save([t for k, t in tables.items() if k != "overhead"], chart)
    print(f"results: {out}" + (f", chart: {png}" if png else " (no chart: matplotlib missing)"))
    for n in libs.missing():
        print(f"note: {n}")
    if failed:
        print("verification FAILED (max abs diff >= 1e-9 or error): " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
