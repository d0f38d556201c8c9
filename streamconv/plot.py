"""Plots of logged sample streams against their ground truth, with the RMSE and lag of each.

:func:`~streamconv.sinks.log.load_log` reads the sample CSVs a
:class:`~streamconv.sinks.log.StreamLogger` wrote (the log format's writer and reader live in
that one module); :func:`compare` aligns a series with the truth by
``t_capture_ns`` and measures its RMSE and its lag; :func:`plot_log` draws the figure with
matplotlib's Agg backend (imported only there: ``pip install 'streamconv[plot]'``).

**Lag** is estimated by least squares over integer shifts: for each shift ``k`` (in samples) the
mean squared difference between ``series(t)`` and ``truth(t - k * period)`` over the timestamps
both have; the best ``k`` is refined by a parabola through its two neighbours.  A positive lag
means the series follows the truth late (a causal filter's delay; for a weighted window it is
close to the group delay ``sum_a a w_{-a} / sum_a w_{-a}``).

Examples
--------
>>> from streamconv.sinks.log import Series
>>> t = np.arange(200, dtype=np.int64) * 10_000_000           # 100 Hz
>>> truth = Series("s/truth", t, np.arange(200), np.sin(np.arange(200) / 10.0))
>>> late = Series("s/late", t[2:], np.arange(198), truth.values[:-2])   # 2 samples late
>>> c = compare(late, truth)
>>> round(c.rmse, 3), round(c.lag_samples, 2), round(c.lag_ms, 1)
(0.143, 2.0, 20.0)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamconv.errors import StreamconvError
from streamconv.sinks.log import Series, load_log

__all__ = [
    "Comparison",
    "PlotResult",
    "align",
    "compare",
    "estimate_lag",
    "plot_log",
    "rmse",
]

logger = logging.getLogger(__name__)

_DEFAULT_MAX_LAG = 100
# Colours: truth black, raw grey, filtered outputs from a colour-blind-safe cycle (Okabe-Ito).
_FILTERED_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True, slots=True)
class Comparison:
    """How a series compares with the truth over the samples both have.

    Attributes
    ----------
    topic, truth : str
        The compared topics.
    n : int
        Aligned samples where both values are finite.
    rmse : float
        ``sqrt(mean((series - truth)^2))`` at equal capture times (no shift).
    lag_samples : float
        Estimated delay of the series behind the truth, in samples (positive: late).
    lag_ms : float
        The same in milliseconds (``lag_samples * period``).
    period_ns : int
        The sample period used.
    """

    topic: str
    truth: str
    n: int
    rmse: float
    lag_samples: float
    lag_ms: float
    period_ns: int

    def text(self) -> str:
        """Return ``'RMSE 0.231, lag 0.7 samples (7.3 ms)'``."""
        return f"RMSE {self.rmse:.3g}, lag {self.lag_samples:.1f} samples ({self.lag_ms:.1f} ms)"


@dataclass(frozen=True)
class PlotResult:
    """What :func:`plot_log` drew.

    Attributes
    ----------
    output : Path
        The image written.
    series : dict of str to Series
        The series plotted, by topic.
    comparisons : dict of str to Comparison
        For each series with a truth in its stream (the truth itself excluded).
    """

    output: Path
    series: dict[str, Series]
    comparisons: dict[str, Comparison] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ metrics
def align(a: Series, b: Series) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Return the values of ``a`` and ``b`` at the capture times both have, and those times."""
    t, ia, ib = np.intersect1d(a.t_ns, b.t_ns, assume_unique=False, return_indices=True)
    return a.values[ia], b.values[ib], t


def rmse(x: NDArray[Any], y: NDArray[Any]) -> float:
    """Root mean square of ``x - y`` over the entries where both are finite (NaN if none).

    Examples
    --------
    >>> rmse(np.array([1.0, 2.0, np.nan]), np.array([0.0, 4.0, 1.0]))
    1.5811388300841898
    """
    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    d = d[np.isfinite(d)]
    return float(np.sqrt(np.mean(d * d))) if d.size else float("nan")


def _on_grid(t: NDArray[np.int64], t0: int, period: int) -> bool:
    return bool(np.all((t - t0) % period == 0))


def estimate_lag(series: Series, truth: Series, *, max_lag: int = _DEFAULT_MAX_LAG) -> float:
    """Return the delay of ``series`` behind ``truth`` in samples (least squares over shifts).

    For ``k`` in ``-max_lag .. max_lag`` the mean of ``(series(t) - truth(t - k * period))^2`` is
    taken over the capture times both have; the minimising ``k`` is refined by a parabola
    through it and its neighbours.  Both series must share the sample grid (the log of one
    stream does); otherwise the aligned samples are shifted by index.

    Returns
    -------
    float
        The lag in samples (NaN when fewer than 3 shifts can be evaluated).
    """
    period = truth.period_ns or series.period_ns
    if period is None or len(series) == 0 or len(truth) == 0:
        return float("nan")
    t0 = int(min(series.t_ns[0], truth.t_ns[0]))
    span = int((max(series.t_ns[-1], truth.t_ns[-1]) - t0) // period) + 1
    # one sample grid, and not mostly empty (a log across a long pause is shifted by index instead)
    dense = span <= 4 * (len(series) + len(truth))
    if dense and _on_grid(series.t_ns, t0, period) and _on_grid(truth.t_ns, t0, period):
        n = span
        f = np.full(n, np.nan)
        g = np.full(n, np.nan)
        f[(series.t_ns - t0) // period] = series.values
        g[(truth.t_ns - t0) // period] = truth.values
    else:
        f, g, _ = align(series, truth)
        n = f.shape[0]
    max_lag = int(min(max_lag, n // 2))
    shifts = np.arange(-max_lag, max_lag + 1)
    mse = np.full(shifts.shape, np.nan)
    for i, k in enumerate(shifts):
        a, b = (f[k:], g[: n - k]) if k >= 0 else (f[: n + k], g[-k:])
        d = a - b
        d = d[np.isfinite(d)]
        if d.size >= 3:
            mse[i] = np.mean(d * d)
    if np.count_nonzero(np.isfinite(mse)) < 3:
        return float("nan")
    i = int(np.nanargmin(mse))
    lag = float(shifts[i])
    if 0 < i < len(shifts) - 1 and np.isfinite(mse[i - 1]) and np.isfinite(mse[i + 1]):
        denom = mse[i - 1] - 2 * mse[i] + mse[i + 1]
        if denom > 0:
            lag += float(0.5 * (mse[i - 1] - mse[i + 1]) / denom)
    elif i in (0, len(shifts) - 1):
        logger.warning("%s: the lag is at the edge of the search (+-%d samples)", series.topic, max_lag)
    return lag


def compare(series: Series, truth: Series, *, max_lag: int = _DEFAULT_MAX_LAG) -> Comparison:
    """Return the RMSE of ``series`` against ``truth`` (aligned by capture time) and its lag.

    Raises
    ------
    StreamconvError
        When the two series share no capture time.
    """
    a, b, _ = align(series, truth)
    ok = np.isfinite(a) & np.isfinite(b)
    if not np.any(ok):
        raise StreamconvError(f"{series.topic} and {truth.topic} have no capture time in common")
    period = truth.period_ns or series.period_ns or 0
    lag = estimate_lag(series, truth, max_lag=max_lag)
    return Comparison(
        series.topic, truth.topic, int(np.count_nonzero(ok)), rmse(a, b), lag, lag * period / 1e6, period
    )


def _comparisons(series: Mapping[str, Series], max_lag: int) -> dict[str, Comparison]:
    out = {}
    for topic, s in series.items():
        truth = series.get(f"{s.stream}/truth")
        if truth is None or truth is s:
            continue
        try:
            out[topic] = compare(s, truth, max_lag=max_lag)
        except StreamconvError as exc:
            logger.warning("%s", exc)
    return out


# ------------------------------------------------------------------------------------------ drawing
def _import_matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install 'streamconv[plot]' (or pip install matplotlib)"
        ) from None
    return Figure, FigureCanvasAgg


def _role(s: Series) -> str:
    return {"truth": "truth", "raw": "raw"}.get(s.output, "filtered")


def _zoom_window(series: Mapping[str, Series], t_first: int, zoom_s: float) -> tuple[float, float] | None:
    """Return a window of ``zoom_s`` seconds where the truth (else the first series) bends the most."""
    ref = next((s for s in series.values() if _role(s) == "truth"), next(iter(series.values())))
    t = (ref.t_ns - t_first) / 1e9
    if t.size < 4 or t[-1] - t[0] <= zoom_s * 1.5:
        return None
    v = np.where(np.isfinite(ref.values), ref.values, np.nan)
    # score each window by the curvature of the truth: that is where a filter's lag shows
    step = max(round(float(zoom_s / max(np.median(np.diff(t)), 1e-9))), 3)
    curv = np.abs(np.diff(v, 2))
    curv = np.where(np.isfinite(curv), curv, 0.0)
    if curv.size <= step:
        start = t[0]
    else:
        csum = np.concatenate(([0.0], np.cumsum(curv)))
        scores = csum[step:] - csum[:-step]
        start = t[int(np.argmax(scores))]
    start = float(min(max(start, t[0]), t[-1] - zoom_s))
    return start, start + zoom_s


def plot_log(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    zoom_s: float = 1.0,
    max_lag: int = _DEFAULT_MAX_LAG,
    title: str | None = None,
    dpi: int = 110,
) -> PlotResult:
    """Plot the sample topics of a log (directory or CSV) over time and write a PNG.

    Three panels: every series over the whole log; a zoom of ``zoom_s`` seconds where the truth
    bends the most (individual samples visible); and each series' error against the truth.
    The legend gives each series' RMSE and lag against its stream's ``truth`` topic.

    Parameters
    ----------
    path : path-like
        A ``streamconv log`` directory or one CSV.
    output : path-like
        The image file (PNG; another extension matplotlib knows also works).
    zoom_s : float
        Length of the zoom window in seconds (> 0).
    max_lag : int
        Largest lag searched, in samples.
    title : str, optional
        Figure title; default names the log.
    dpi : int
        Resolution (the figure is 11 x 8.5 inches).

    Returns
    -------
    PlotResult

    Raises
    ------
    StreamconvError
        Nothing to plot or an unreadable log (see :func:`load_log`).
    ImportError
        matplotlib is not installed.
    """
    if not zoom_s > 0:
        raise StreamconvError(f"invalid zoom_s {zoom_s!r}; expected seconds > 0")
    series = load_log(path)
    comparisons = _comparisons(series, max_lag)
    Figure, FigureCanvasAgg = _import_matplotlib()
    t_first = int(min(s.t_ns[0] for s in series.values()))
    t_last = int(max(s.t_ns[-1] for s in series.values()))
    has_truth = any(_role(s) == "truth" for s in series.values())
    window = _zoom_window(series, t_first, zoom_s)

    fig = Figure(figsize=(11, 8.5 if has_truth else 6.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    rows = [2.2, 1.6, 1.3] if has_truth else [2.2, 1.6]
    axes = fig.subplots(len(rows), 1, gridspec_kw={"height_ratios": rows})
    ax_all, ax_zoom = axes[0], axes[1]
    ax_err = axes[2] if has_truth else None

    colours = iter(_FILTERED_COLOURS)
    styles: dict[str, dict[str, Any]] = {}
    for topic, s in series.items():
        role = _role(s)
        label = topic
        if topic in comparisons:
            label += f" — {comparisons[topic].text()}"
        if role == "truth":
            styles[topic] = {"color": "black", "lw": 1.3, "ls": "--", "zorder": 4, "label": label}
        elif role == "raw":
            styles[topic] = {"color": "0.55", "lw": 0.0, "marker": ".", "ms": 2.5, "alpha": 0.6,
                             "zorder": 1, "label": label}
        else:
            styles[topic] = {"color": next(colours, None), "lw": 1.4, "zorder": 3, "label": label}

    def draw(ax: Any, tmin: float | None = None, tmax: float | None = None, zoom: bool = False) -> None:
        for topic, s in series.items():
            t = (s.t_ns - t_first) / 1e9
            sel = slice(None)
            if tmin is not None and tmax is not None:
                lo, hi = np.searchsorted(t, [tmin, tmax])
                sel = slice(max(lo - 1, 0), hi + 1)
            style = dict(styles[topic])
            if zoom and _role(s) == "raw":
                style["ms"] = 5.0
            elif zoom and _role(s) == "filtered":
                style.update(marker=".", ms=4.0)
            ax.plot(t[sel], s.values[sel], **style)

    duration = (t_last - t_first) / 1e9
    draw(ax_all)
    ax_all.set_xlim(0, max(duration, 1e-9))
    ax_all.set_ylabel("value")
    ax_all.set_title("whole log", loc="left", fontsize=10)
    ax_all.legend(loc="best", fontsize=9, framealpha=0.9)
    if window is not None:
        ax_all.axvspan(*window, color="#F0E442", alpha=0.35, lw=0, zorder=0)
        draw(ax_zoom, *window, zoom=True)
        ax_zoom.set_xlim(*window)
        ax_zoom.set_title(f"zoom: {window[1] - window[0]:g} s (shaded above), every sample", loc="left",
                          fontsize=10)
        _fit_ylim(ax_zoom, series, t_first, window)
    else:
        draw(ax_zoom, zoom=True)
        ax_zoom.set_xlim(0, max(duration, 1e-9))
        ax_zoom.set_title("every sample", loc="left", fontsize=10)
    ax_zoom.set_ylabel("value")

    if ax_err is not None:
        _draw_errors(ax_err, series, styles, comparisons, t_first, duration)
    axes[-1].set_xlabel("time since the first sample (s)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
    rate = ""
    periods = [s.period_ns for s in series.values() if s.period_ns]
    if periods:
        rate = f", {1e9 / min(periods):g} Hz"
    name = Path(path).name or str(path)
    fig.suptitle(title or f"streamconv log {name}: {duration:.1f} s{rate}", fontsize=13)
    out = Path(output)
    fig.savefig(out)
    return PlotResult(out, dict(series), comparisons)


def _fit_ylim(ax: Any, series: Mapping[str, Series], t_first: int, window: tuple[float, float]) -> None:
    vals = []
    for s in series.values():
        t = (s.t_ns - t_first) / 1e9
        v = s.values[(t >= window[0]) & (t <= window[1])]
        vals.append(v[np.isfinite(v)])
    v = np.concatenate(vals) if vals else np.empty(0)
    if v.size:
        lo, hi = float(v.min()), float(v.max())
        pad = 0.06 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)


def _draw_errors(
    ax: Any,
    series: Mapping[str, Series],
    styles: Mapping[str, dict[str, Any]],
    comparisons: Mapping[str, Comparison],
    t_first: int,
    duration: float,
) -> None:
    ax.axhline(0.0, color="black", lw=1.0, ls="--")
    for topic, c in comparisons.items():
        a, b, t = align(series[topic], series[c.truth])
        style = {k: v for k, v in styles[topic].items() if k != "label"}
        if _role(series[topic]) == "filtered":
            style["lw"] = 0.9
        ax.plot((t - t_first) / 1e9, a - b, label=f"{topic} − truth (RMSE {c.rmse:.3g})", **style)
    ax.set_xlim(0, max(duration, 1e-9))
    ax.set_ylabel("error vs truth")
    ax.set_title("error against the truth (same capture times)", loc="left", fontsize=10)
    if comparisons:
        ax.legend(loc="upper right", fontsize=9, framealpha=0.9)
