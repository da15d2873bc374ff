"""Second order (issue 14): the Hessian of the lecture's four-layer loss with respect to
`w`, and a Hessian-vector product with respect to all its parameters, per call.

    python -m benchmarks.bench_hessian [--quick]     # alone; `make bench` runs it too

Rows: ours compiled (`hessian(loss, wrt="w", jit=True)`, `hvp(loss, wrt=(V1, V2, V3,
w), jit=True)`) and as plain NumPy (jit=False), `jax.jit(jax.hessian(...))` and a jitted
JAX HVP (`jax.jvp` of `jax.grad`, forward-over-reverse as ours), autograd's `hessian`
and its HVP (the verification reference), and our compiled gradient of the same loss,
for the HVP / gradient ratio (issue 14's target: an HVP costs at most 4 gradients). The
method (verification, interleaved rounds, medians) is benchmarks/harness.py's; the
ratio column is to the JAX row.
"""
from __future__ import annotations

import sys

import numpy as np

from benchmarks import libs
from benchmarks.harness import Impl, Table

JAX_HESSIAN, JAX_HVP = "jax.jit(jax.hessian)", "jax.jit(HVP: jvp of grad)"
REF_H, REF_HVP = "autograd hessian", "autograd HVP"
OURS_C, OURS_N, OURS_G = "ours, compiled", "ours, jit=False", "ours: compiled gradient (for the ratio)"


def _loop(f, args):
    def run(n):
        for _ in range(n):
            f(*args)
    return run


def _example(width):
    from benchmarks import models
    m = models.four_layer(width)
    ps = m.p0()
    x, y = np.ascontiguousarray(m.X[0]), float(m.y[0])
    return m, (x, y, *ps)


def hessian_table(width: int = 16) -> Table:
    from compiler import hessian
    m, args = _example(width)
    impls = []
    for label, jit in ((OURS_C, True), (OURS_N, False)):
        h = hessian(m.loss, wrt="w", jit=jit)
        impls.append(Impl(label, _loop(h, args), (lambda h=h: [h(*args)])))
    ag = libs.autograd()
    if ag is not None:
        ah = ag.hessian(m.ag_loss, 5)
        impls.append(Impl(REF_H, _loop(ah, args), lambda: [ah(*args)]))
    jx = libs.jax()
    if jx is not None:
        jnp, jax = jx.jnp, jx.jax
        jh = jax.jit(jax.hessian(lambda *a: m.jax_loss(jnp, *a), argnums=5))
        jargs = tuple(jnp.asarray(a) for a in args)

        def j_run(n):
            for _ in range(n):
                r = jh(*jargs)
            jax.block_until_ready(r)
        impls.append(Impl(JAX_HESSIAN, j_run, lambda: [np.asarray(jh(*jargs))]))
    return Table(f"Hessian of the four-layer loss with respect to w (width {width}): "
                 f"{width} x {width}", "call", impls, JAX_HESSIAN, REF_H,
                 ["forward-over-reverse: one generated function runs the loss and its gradient "
                  "once, then one tangent sweep per entry of w"], key=f"hessian_{width}")


def hvp_table(width: int = 16) -> Table:
    from compiler import grad, hvp
    m, args = _example(width)
    rng = np.random.default_rng(0)
    v = tuple(rng.normal(size=np.shape(p)) for p in args[2:])
    impls = []
    for label, jit in ((OURS_C, True), (OURS_N, False)):
        f = hvp(m.loss, wrt=m.wrt, jit=jit)
        impls.append(Impl(label, _loop(f, (*args, v)), (lambda f=f: list(f(*args, v)))))
    g = grad(m.loss, wrt=m.wrt, jit=True)
    impls.append(Impl(OURS_G, _loop(g, args), None))
    ag = libs.autograd()
    if ag is not None:
        from autograd import grad as ag_grad
        from autograd import make_jvp
        gfun = ag_grad(lambda p: m.ag_loss(args[0], args[1], *p))

        def a_hvp():
            # d/de grad(p + e v) at e = 0, by autograd's forward-over-reverse
            return make_jvp(gfun)(tuple(args[2:]))(v)[1]
        impls.append(Impl(REF_HVP, lambda n: [a_hvp() for _ in range(n)], lambda: list(a_hvp())))
    jx = libs.jax()
    if jx is not None:
        jnp, jax = jx.jnp, jx.jax
        x, y = jnp.asarray(args[0]), args[1]

        @jax.jit
        def j_hvp(ps, vs):
            gf = jax.grad(lambda p: m.jax_loss(jnp, x, y, *p))
            return jax.jvp(gf, (ps,), (vs,))[1]
        jps, jvs = tuple(jnp.asarray(p) for p in args[2:]), tuple(jnp.asarray(a) for a in v)

        def j_run(n):
            for _ in range(n):
                r = j_hvp(jps, jvs)
            jax.block_until_ready(r)
        impls.append(Impl(JAX_HVP, j_run, lambda: [np.asarray(a) for a in j_hvp(jps, jvs)]))
    return Table(f"Hessian-vector product of the four-layer loss, all parameters (width {width})",
                 "call", impls, JAX_HVP, REF_HVP,
                 ["forward-over-reverse without forming the Hessian; the HVP / gradient ratio "
                  "is the row 'ours, compiled' over 'ours: compiled gradient'"], key=f"hvp_{width}")


def tables(quick: bool = False) -> list:
    widths = (16,) if quick else (16, 256)
    return [hessian_table(16)] + [hvp_table(w) for w in widths]


def ratios(tabs) -> str:
    """Issue 14's targets in this run: ours / JAX per call, HVP / gradient."""
    import math
    rows = []
    for t in tabs:
        try:
            ours = t.impl(OURS_C).median()
        except StopIteration:
            continue
        ref = next((i.median() for i in t.impls if i.label in (JAX_HESSIAN, JAX_HVP)), math.nan)
        lim = "≤ 1"
        r = ours / ref
        rows.append((f"{t.title}: ours / JAX", lim, r, "met" if r <= 1 else "**not met**"))
        if t.key.startswith("hvp"):
            g = t.impl(OURS_G).median()
            r = ours / g
            rows.append((f"{t.title}: HVP / gradient", "≤ 4", r, "met" if r <= 4 else "**not met**"))
    out = ["## Targets of issue 14 in this run", "", "| target | limit | measured | |",
           "|---|---:|---:|---|"]
    out += [f"| {a} | {b} | {c:.2f} | {d} |" for a, b, c, d in rows]
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    from benchmarks import harness
    argv = sys.argv[1:] if argv is None else argv
    quick = "--quick" in argv
    tabs = tables(quick)
    for t in tabs:
        harness.measure(t, 5 if quick else 15, 0.01 if quick else 0.04)
        print(harness.markdown(t), flush=True)
    print(ratios(tabs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
