"""Training curves to PNG files: loss per epoch and gradient norm per parameter.

Needs matplotlib (the optional extra: `pip install -e ".[plot]"`). Figures are drawn
with matplotlib's object API on an Agg canvas: nothing opens a window and the global
pyplot backend is left alone, so this works on headless machines and inside
applications that use another backend.

- `plot_history(result, path)`: two panels, training (and validation) loss per epoch,
  and each parameter's RMS gradient norm per epoch, both on log scales.
- `plot_comparison({label: result}, path)`: the same two panels for several runs (e.g.
  one per optimiser), one colour per run.
`result` is a `runtime.train.FitResult` or its `history()` dict.
"""
from __future__ import annotations

import math
import os

__all__ = ["plot_history", "plot_comparison"]


def _figure(ncols):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("runtime.plot needs matplotlib: pip install -e '.[plot]' "
                          "(or pip install matplotlib)") from None
    fig = Figure(figsize=(5.5 * ncols, 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _history(result) -> dict:
    h = result.history() if hasattr(result, "history") else result
    if not isinstance(h, dict) or "loss" not in h:
        raise TypeError("expected a FitResult or its history() dict, with a 'loss' list")
    return h


def _positive(values):
    """Log axes cannot show values <= 0 or NaN: drop them (None leaves a gap)."""
    return [v if v is not None and math.isfinite(v) and v > 0 else float("nan") for v in values]


def _save(fig, path):
    path = os.fspath(path)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def plot_history(result, path, title: str | None = None, val_label: str = "validation") -> str:
    """Draw `result`'s loss curves and per-parameter gradient-norm curves into the PNG
    file `path` (directories created); returns the path. val_label names the validation
    curve. Raises ImportError without matplotlib, TypeError for something that is not a
    history."""
    h = _history(result)
    fig, (ax_loss, ax_norm) = _figure(2)
    epochs = range(1, len(h["loss"]) + 1)
    ax_loss.plot(epochs, _positive(h["loss"]), label="training (mean over the epoch)")
    if h.get("val_loss"):
        ax_loss.plot(range(1, len(h["val_loss"]) + 1), _positive(h["val_loss"]),
                     label=f"{val_label} (after the epoch)")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax_loss.legend()
    for name, norms in h.get("grad_norm", {}).items():
        ax_norm.plot(range(1, len(norms) + 1), _positive(norms), label=name)
    ax_norm.set(xlabel="epoch", ylabel="RMS of ||g|| over the epoch's steps", yscale="log",
                title="gradient norm per parameter")
    if h.get("grad_norm"):
        ax_norm.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_comparison(results: dict, path, title: str | None = None,
                    val_label: str = "validation") -> str:
    """Draw several runs ({label: FitResult or history}) into one PNG: training loss
    (dotted), validation loss (solid, named val_label) and global gradient norm per
    epoch. Raises ValueError for no runs, ImportError without matplotlib."""
    if not results:
        raise ValueError("plot_comparison needs at least one run")
    fig, (ax_loss, ax_norm) = _figure(2)
    for k, (label, r) in enumerate(results.items()):
        h = _history(r)
        colour = f"C{k % 10}"
        ax_loss.plot(range(1, len(h["loss"]) + 1), _positive(h["loss"]), color=colour,
                     linestyle=":", label=f"{label} (train)")
        if h.get("val_loss"):
            ax_loss.plot(range(1, len(h["val_loss"]) + 1), _positive(h["val_loss"]),
                         color=colour, label=f"{label} ({val_label})")
        g = h.get("global_grad_norm") or []
        ax_norm.plot(range(1, len(g) + 1), _positive(g), color=colour, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax_loss.legend(fontsize="small")
    ax_norm.set(xlabel="epoch", ylabel="RMS global gradient norm", yscale="log",
                title="global gradient norm")
    ax_norm.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)
