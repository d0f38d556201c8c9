"""Figures of learnt filters (matplotlib's Agg backend, imported only here: ``streamconv[plot]``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamconv.learn.fir import FIRComparison

__all__ = ["plot_kernels", "plot_sweep"]

# Okabe-Ito, colour-blind safe (as streamconv.plot).
_COLOURS = {"raw": "#999999", "configured": "#D55E00", "kalman": "#009E73", "fitted": "#0072B2"}


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'streamconv[plot]'") from None
    fig = Figure(figsize=size, dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def plot_sweep(result: FIRComparison, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the held-out RMSE of each fitted window against its taps, beside raw, configured and Kalman."""
    fig, ax = _figure((6.4, 4.0))
    taps = list(result.taps)
    ax.plot(taps, [result.sweep[m].rmse for m in taps], "o-", color=_COLOURS["fitted"],
            label="least-squares causal FIR")
    for name in ("raw", "configured", "kalman"):
        if name in result.scores:
            label = {"raw": "raw", "configured": "hand-set weights", "kalman": "tuned CV Kalman"}[name]
            ax.axhline(result.scores[name].rmse, color=_COLOURS[name], ls="--", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(taps, [str(m) for m in taps])
    ax.set_xlabel("taps")
    ax.set_ylabel("held-out RMSE against the truth")
    ax.set_title(title or f"RMSE vs taps ({result.n_test} held-out samples)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def plot_kernels(
    rows: Mapping[str, Sequence[NDArray[np.float64]]],
    path: str | Path,
    *,
    titles: Mapping[str, Sequence[str]],
) -> Path:
    """Draw rows of 2D kernels as pictures (each scaled to its own symmetric range, red-blue)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install 'streamconv[plot]'") from None
    ncols = max(len(v) for v in rows.values())
    fig = Figure(figsize=(1.3 * ncols + 1.2, 1.5 * len(rows)), dpi=110)
    FigureCanvasAgg(fig)
    for r, (label, kernels) in enumerate(rows.items()):
        for c, k in enumerate(kernels):
            ax = fig.add_subplot(len(rows), ncols, r * ncols + c + 1)
            lim = float(np.abs(k).max()) or 1.0
            ax.imshow(k, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(titles[label][c], fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
