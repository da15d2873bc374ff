"""The bar chart of the results: one panel per table, each implementation's median
time as a multiple of hand-written Numba's (log scale), min-max as whiskers."""
from __future__ import annotations

import math


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
    fig, axes = plt.subplots(rows, cols, figsize=(13, 2.0 + 2.6 * rows), squeeze=False)
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
        for k, m in enumerate(med):
            ax.text(m * 1.08, k, f"{m:.2g}×", va="center", fontsize=7)
        ax.set_xlim(min(0.3, min(med) / 1.5), max(med) * 4 if med and math.isfinite(max(med))
                    else 10)
        ax.set_title(f"{t.title}\nmedian per {t.unit} / {t.ref} ({1e6 * ref:.3g} µs)",
                     fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
