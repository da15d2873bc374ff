"""The bar chart of the results: one panel per table, each implementation's median
time as a multiple of hand-written Numba's (log scale), min-max as whiskers."""
from __future__ import annotations

import math

from benchmarks.harness import fmt_time


def save(tables, path) -> str | None:
    """Write the chart PNG to `path`; returns the path, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    tables = [t for t in tables if any(i.samples for i in t.impls)]
    if not tables:
        return None
    cols = 2
    rows = -(-len(tables) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(14, 2.0 + 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(tables):]:
        ax.axis("off")
    for ax, t in zip(axes.flat, tables):
        ref = t.impl(t.ref).median()
        impls = [i for i in t.impls if i.samples]
        labels = [i.label for i in impls][::-1]
        med = [i.median() / ref for i in impls][::-1]
        lo = [m - min(i.samples) / ref for m, i in zip(med, impls[::-1])]
        hi = [max(i.samples) / ref - m for m, i in zip(med, impls[::-1])]
        colors = ["tab:red" if lab.startswith("ours") else
                  "tab:gray" if lab.startswith("hand") else "tab:blue" for lab in labels]
        ax.barh(range(len(impls)), med, xerr=[lo, hi], color=colors, capsize=2)
        ax.set_yticks(range(len(impls)), labels, fontsize=8)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", lw=0.8)
        for k, (m, h) in enumerate(zip(med, hi)):
            ax.text((m + h) * 1.15, k, f"{m:.0f}×" if m >= 100 else f"{m:.2g}×", va="center",
                    fontsize=7)
        top = max((m + h for m, h in zip(med, hi)), default=10.0)
        ax.set_xlim(min(0.3, min(med) / 1.5), top * 6 if math.isfinite(top) else 10)
        name, _, what = t.title.partition(": ")
        ax.set_title(f"{name}\n{what}\nmedian / {t.ref} ({fmt_time(ref)} per {t.unit})",
                     fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
