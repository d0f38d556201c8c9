"""Pure rendering of stream windows: the one display mapping, panes, header bars, montages and charts.

Nothing here opens a window or a socket: every function takes arrays and returns a new uint8 BGR
image, so the demo, the ``view`` subscriber and the tests share one renderer.  Text is drawn only
into the header bar and the caption strips above the panes, never over a pane: a pane's pixels
are exactly the image given (the GUI tests compare them bit for bit).

Display mapping of non-uint8 data (:func:`to_bgr8`)
----------------------------------------------------
* ``uint8`` frames are shown as they are (grey is repeated into B, G, R).
* Other frames (``float32`` edge outputs, signed): ``abs`` then clip to 0..255 and round, so a
  pixel's grey level is the magnitude of the filter response (``-40`` and ``+40`` both show as 40);
  ``mode='minmax'`` maps ``[min, max]`` of the frame linearly onto 0..255 instead.
* Feature volumes ``(H, W, K)`` are a montage (:func:`montage`): one tile per map, each map
  min/max-normalised on its own (their scales differ), row-major, ``ceil(sqrt(K))`` columns.
* Non-finite values show as 0.

Examples
--------
>>> import numpy as np
>>> frame = np.full((4, 6, 3), 7, np.uint8)
>>> canvas, layout = compose([Pane(frame, "a"), Pane(frame, "b")], ["header"])
>>> r = layout.panes[1]
>>> bool(np.array_equal(canvas[r.slices], frame)), (r.w, r.h)
(True, (6, 4))
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_choice, check_int

__all__ = [
    "BACKGROUND",
    "CAPTION_H",
    "COLOURS",
    "GAP",
    "LINE_H",
    "MAPPINGS",
    "Chart",
    "Layout",
    "Pane",
    "Rect",
    "Series",
        "compose",
    "fit",
    "make_layout",
    "montage",
    "montage_fit",
    "montage_grid",
    "plot_rect",
    "render",
    "strip_chart",
    "text_bar",
    "to_bgr8",
    "to_grey8",
    "value_to_row",
]

Image = NDArray[np.uint8]
Mapping = Literal["abs", "minmax"]
#: How non-uint8 frames become grey levels (see the module docstring).
MAPPINGS: tuple[Mapping, ...] = ("abs", "minmax")

#: Window background, BGR.
BACKGROUND = (30, 30, 30)
_HEADER_BG = (52, 52, 52)
_CAPTION_BG = (40, 40, 40)
_TEXT = (235, 235, 235)
_CHART_BG = (18, 18, 18)
_GRID = (62, 62, 62)
#: Line colours of the strip charts by role, BGR.
COLOURS: dict[str, tuple[int, int, int]] = {
    "raw": (150, 150, 150),
    "smoothed": (0, 165, 255),
    "truth": (80, 215, 80),
    "other": (255, 190, 60),
}
#: Height in pixels of one line of header text.
LINE_H = 20
#: Height in pixels of the caption strip above each pane.
CAPTION_H = 18
#: Pixels between panes and around the edges.
GAP = 4
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.45
_PAD = 4


# ------------------------------------------------------------------------------------- geometry
@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle of the canvas: top-left ``(x, y)``, width ``w``, height ``h``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices: ``canvas[rect.slices]`` is the rectangle's pixels."""
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def contains(self, x: int, y: int) -> bool:
        """Whether pixel ``(x, y)`` lies inside."""
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes on the canvas (all sizes in pixels).

    Attributes
    ----------
    width, height : int
        Canvas size.
    header : Rect
        The header bar (text lines) across the top.
    panes : tuple of Rect
        Each pane's image area, exactly the size of its image, in pane order.
    captions : tuple of Rect
        The caption strip above each pane (as wide as its grid cell).
    chart : Rect or None
        The strip-chart panel below the panes, if any.
    columns, rows : int
        The pane grid.
    """

    width: int
    height: int
    header: Rect
    panes: tuple[Rect, ...]
    captions: tuple[Rect, ...]
    chart: Rect | None
    columns: int
    rows: int


def make_layout(
    pane_sizes: Sequence[tuple[int, int]],
    *,
    header_lines: int = 1,
    chart_height: int = 0,
    columns: int | None = None,
    min_width: int = 480,
) -> Layout:
    """Return the layout for panes of the given ``(height, width)`` sizes.

    Panes sit in a grid of equal cells (the largest pane's size), each pane at the top-left of
    its cell below a :data:`CAPTION_H` caption strip, :data:`GAP` pixels apart.  The header is
    ``header_lines * LINE_H + 2 * 4`` pixels high; the chart panel (``chart_height > 0``) spans
    the width below the grid.

    Parameters
    ----------
    pane_sizes : sequence of (int, int)
        ``(height, width)`` of each pane's image.
    header_lines : int
        Lines of header text (>= 1).
    chart_height : int
        Height of the chart panel; 0 for none.
    columns : int, optional
        Grid columns; default all panes in one row up to 3, else ``ceil(sqrt(n))``.
    min_width : int
        The canvas is at least this wide (room for the header text).

    Examples
    --------
    >>> lay = make_layout([(240, 320), (240, 320)], header_lines=2, chart_height=100)
    >>> lay.panes[0], lay.panes[1].x, lay.chart.w, (lay.width, lay.height)
    (Rect(x=4, y=70, w=320, h=240), 328, 644, (652, 418))
    """
    header_lines = check_int("header_lines", header_lines, minimum=1)
    chart_height = check_int("chart_height", chart_height, minimum=0)
    n = len(pane_sizes)
    for hw in pane_sizes:
        if len(hw) != 2 or min(hw) < 1:
            raise StreamconvError(f"invalid pane size {tuple(hw)!r}; expected (height, width) >= 1")
    if columns is None:
        columns = n if n <= 3 else math.ceil(math.sqrt(n))
    columns = check_int("columns", columns, minimum=1) if n else 1
    columns = min(columns, max(n, 1))
    rows = math.ceil(n / columns) if n else 0
    cell_h = max((h for h, _ in pane_sizes), default=0)
    cell_w = max((w for _, w in pane_sizes), default=0)
    header_h = header_lines * LINE_H + 2 * _PAD
    grid_top = header_h + GAP
    grid_w = GAP + columns * (cell_w + GAP) if n else 0
    width = max(grid_w, int(min_width), 2 * GAP + 1)
    panes, captions = [], []
    for i, (h, w) in enumerate(pane_sizes):
        r, c = divmod(i, columns)
        x = GAP + c * (cell_w + GAP)
        y = grid_top + r * (CAPTION_H + cell_h + GAP)
        captions.append(Rect(x, y, cell_w, CAPTION_H))
        panes.append(Rect(x, y + CAPTION_H, int(w), int(h)))
    y = grid_top + rows * (CAPTION_H + cell_h + GAP)
    chart = None
    if chart_height:
        chart = Rect(GAP, y, width - 2 * GAP, chart_height)
        y += chart_height + GAP
    return Layout(
        width=width,
        height=y,
        header=Rect(0, 0, width, header_h),
        panes=tuple(panes),
        captions=tuple(captions),
        chart=chart,
        columns=columns,
        rows=rows,
    )


# -------------------------------------------------------------------------------------- mapping
def to_bgr8(array: NDArray[np.generic], *, mode: Mapping = "abs") -> Image:
    """Return a frame as a C-contiguous ``(H, W, 3)`` uint8 BGR image for display.

    Parameters
    ----------
    array : (H, W), (H, W, 1) or (H, W, 3) array
        A frame.  ``uint8`` is shown unchanged; other dtypes are mapped with ``mode``.
    mode : {'abs', 'minmax'}
        ``'abs'``: ``clip(round(|x|), 0, 255)``, the magnitude of a signed response;
        ``'minmax'``: ``[min, max]`` of the frame onto 0..255 (a constant frame is 0).

    Examples
    --------
    >>> to_bgr8(np.array([[-40.0, 300.0]]))[0].tolist()
    [[40, 40, 40], [255, 255, 255]]
    >>> to_bgr8(np.array([[1.0, 3.0]]), mode="minmax")[0, :, 0].tolist()
    [0, 255]
    """
    check_choice("mode", mode, MAPPINGS)
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or a.size == 0:
        raise StreamconvError(
            f"invalid frame of shape {a.shape}; expected (H, W), (H, W, 1) or (H, W, 3) "
            "(feature volumes go through montage())"
        )
    if a.dtype != np.uint8:
        a = _grey_levels(a, mode)
    if a.ndim == 2:
        a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(a)


def to_grey8(array: NDArray[np.generic], mode: Mapping = "abs") -> Image:
    """Return the grey levels of any array: the one display mapping of non-uint8 data.

    ``'abs'``: ``clip(rint(|x|), 0, 255)`` (round half to even; non-finite values are 0);
    ``'minmax'``: ``[min, max]`` of the finite values onto 0..255.  ``uint8`` is returned as is.

    Examples
    --------
    >>> to_grey8(np.array([-1.5, 0.4, 254.5, 1e6, np.nan])).tolist()
    [2, 0, 254, 255, 0]
    """
    check_choice("mode", mode, MAPPINGS)
    a = np.asarray(array)
    return a if a.dtype == np.uint8 else _grey_levels(a, mode)


def _grey_levels(a: np.ndarray, mode: Mapping) -> Image:
    f = a.astype(np.float64)
    finite = np.isfinite(f)
    if mode == "abs":
        out = np.clip(np.rint(np.abs(np.where(finite, f, 0.0))), 0, 255)
    else:
        out = _minmax(f, finite)
    return out.astype(np.uint8)


def _minmax(f: np.ndarray, finite: np.ndarray) -> np.ndarray:
    if not finite.any():
        return np.zeros(f.shape)
    lo, hi = float(f[finite].min()), float(f[finite].max())
    if hi <= lo:
        return np.zeros(f.shape)
    return np.where(finite, np.rint((f - lo) * (255.0 / (hi - lo))), 0.0)


def montage_grid(k: int, *, columns: int | None = None) -> tuple[int, int]:
    """Return ``(rows, columns)`` of the montage of ``k`` maps: ``ceil(sqrt(k))`` columns by default.

    Examples
    --------
    >>> montage_grid(4), montage_grid(8), montage_grid(3, columns=3)
    ((2, 2), (3, 3), (1, 3))
    """
    k = check_int("k", k, minimum=1)
    cols = math.ceil(math.sqrt(k)) if columns is None else check_int("columns", columns, minimum=1)
    cols = min(cols, k)
    return math.ceil(k / cols), cols


def montage(
    volume: NDArray[np.generic],
    *,
    columns: int | None = None,
    gap: int = 2,
    tile: tuple[int, int] | None = None,
) -> Image:
    """Return the ``K`` maps of an ``(H, W, K)`` feature volume as one grey grid image (BGR uint8).

    Map ``k`` goes to tile ``divmod(k, columns)`` (row-major) at
    ``(row * (H + gap), col * (W + gap))``; each map is min/max-normalised on its own to 0..255
    (a constant map is black, non-finite values are 0); the gaps and unused tiles are
    :data:`BACKGROUND`.  ``tile=(width, height)`` first resizes the maps (area averaging), which
    is how a large volume fits a pane cheaply.

    Examples
    --------
    >>> vol = np.zeros((2, 3, 4), np.float32); vol[0, 0, 3] = 5.0
    >>> img = montage(vol, gap=1)
    >>> img.shape, int(img[3, 4, 0])   # map 3 is tile (1, 1): its (0, 0) pixel is its maximum
    ((5, 7, 3), 255)
    """
    v = np.asarray(volume)
    if v.ndim == 2:
        v = v[:, :, None]
    if v.ndim != 3 or v.size == 0:
        raise StreamconvError(f"invalid feature volume of shape {v.shape}; expected (H, W, K)")
    gap = check_int("gap", gap, minimum=0)
    k = v.shape[2]
    rows, cols = montage_grid(k, columns=columns)
    maps = _normalise_maps(v, tile)
    h, w = maps.shape[:2]
    out = np.empty((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), np.uint8)
    out[:] = BACKGROUND
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = maps[:, :, i, None]
    return out


def montage_fit(volume: NDArray[np.generic], *, gap: int = 2) -> Image:
    """Return the :func:`montage` of an ``(H, W, K)`` volume, tiles shrunk to fit about ``W`` x ``H``."""
    v = np.asarray(volume)
    h, w = v.shape[:2]
    k = v.shape[2] if v.ndim == 3 else 1
    rows, cols = montage_grid(k)
    s = min((w - gap * (cols - 1)) / (cols * w), (h - gap * (rows - 1)) / (rows * h))  # keep the aspect
    return montage(v, gap=gap, tile=(max(1, int(w * s)), max(1, int(h * s))))


def _normalise_maps(v: np.ndarray, tile: tuple[int, int] | None) -> Image:
    """Return every map of ``v`` (H, W, K) min/max-normalised on its own to uint8, optionally resized."""
    f = np.ascontiguousarray(np.moveaxis(v.astype(np.float32, copy=False), 2, 0))  # (K, H, W)
    finite = np.isfinite(f)
    if not finite.all():
        f = np.where(finite, f, np.float32(np.nan))
    if tile is not None:
        tw, th = check_int("tile width", tile[0], minimum=1), check_int("tile height", tile[1], minimum=1)
        if (th, tw) != f.shape[1:]:
            f = np.stack([cv2.resize(m, (tw, th), interpolation=cv2.INTER_AREA) for m in f])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN maps
        lo = np.nanmin(f, axis=(1, 2))
        hi = np.nanmax(f, axis=(1, 2))
    span = hi - lo
    ok = np.isfinite(span) & (span > 0)
    scale = np.where(ok, 255.0 / np.where(ok, span, 1.0), 0.0).astype(np.float32)
    out = (f - np.where(ok, lo, 0).astype(np.float32)[:, None, None]) * scale[:, None, None]
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    return np.moveaxis(np.clip(np.rint(out), 0, 255).astype(np.uint8), 0, 2)


def fit(image: Image, width: int, height: int) -> Image:
    """Return ``image`` scaled to fit ``width`` x ``height`` (aspect kept), centred on the background.

    Shrinking uses area averaging, enlarging nearest neighbour (pixels stay crisp squares).
    """
    width = check_int("width", width, minimum=1)
    height = check_int("height", height, minimum=1)
    h, w = image.shape[:2]
    s = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * s))), max(1, min(height, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_NEAREST
    scaled = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=interp)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    y, x = (height - nh) // 2, (width - nw) // 2
    out[y : y + nh, x : x + nw] = scaled.reshape(nh, nw, -1)[:, :, :3]
    return out


# ----------------------------------------------------------------------------------------- text
def text_bar(
    lines: Sequence[str],
    width: int,
    height: int,
    *,
    background: tuple[int, int, int] = _HEADER_BG,
    colour: tuple[int, int, int] = _TEXT,
) -> Image:
    """Return a ``height`` x ``width`` bar with ``lines`` of text, one per :data:`LINE_H` pixels.

    Text longer than the bar is cut at its edge (it is drawn into the bar's own array).
    """
    bar = np.empty((height, width, 3), np.uint8)
    bar[:] = background
    for i, line in enumerate(lines):
        baseline = _PAD + (i + 1) * LINE_H - 6 if height > CAPTION_H else height - 5
        cv2.putText(bar, line, (_PAD + 2, baseline), _FONT, _FONT_SCALE, colour, 1, cv2.LINE_AA)
    return bar


# --------------------------------------------------------------------------------------- charts
@dataclass(frozen=True)
class Series:
    """One line of a strip chart: values oldest to newest (NaN breaks the line), a colour, a label."""

    values: NDArray[np.float64]
    colour: tuple[int, int, int] = COLOURS["other"]
    label: str = ""
    thickness: int = 1


@dataclass(frozen=True)
class Chart:
    """A strip chart panel for :func:`compose`: its series and options of :func:`strip_chart`."""

    series: Sequence[Series]
    height: int = 180
    title: str = ""
    y_range: tuple[float, float] | None = None
    window: int | None = None


_CHART_MARGINS = (64, 10, 22, 8)  # left (y labels), right, top (title and legend), bottom


def plot_rect(width: int, height: int) -> Rect:
    """Return the plot area of a ``width`` x ``height`` strip chart (inside its margins).

    Examples
    --------
    >>> plot_rect(400, 150)
    Rect(x=64, y=22, w=326, h=120)
    """
    left, right, top, bottom = _CHART_MARGINS
    left = min(left, width // 4)
    top = min(top, height // 4)
    w = max(2, width - left - right)
    h = max(2, height - top - bottom)
    return Rect(left, top, w, h)


def value_to_row(value: float, y_range: tuple[float, float], plot: Rect) -> int:
    """Return the chart row of ``value``: ``hi`` on the plot's top row, ``lo`` on its bottom row.

    ``row = plot.y + round((hi - value) / (hi - lo) * (plot.h - 1))``, clipped to the plot.

    Examples
    --------
    >>> p = Rect(0, 10, 100, 101)
    >>> value_to_row(10.0, (0.0, 10.0), p), value_to_row(0.0, (0.0, 10.0), p), value_to_row(2.5, (0, 10), p)
    (10, 110, 85)
    """
    lo, hi = y_range
    frac = (hi - value) / (hi - lo)
    return plot.y + round(min(max(frac, 0.0), 1.0) * (plot.h - 1))


def _auto_range(series: Sequence[Series]) -> tuple[float, float]:
    finite = [s.values[np.isfinite(s.values)] for s in series if np.asarray(s.values).size]
    finite = [f for f in finite if f.size]
    if not finite:
        return 0.0, 1.0
    lo = min(float(f.min()) for f in finite)
    hi = max(float(f.max()) for f in finite)
    if hi - lo < 1e-9:
        return lo - 1.0, hi + 1.0
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def strip_chart(
    series: Sequence[Series],
    width: int,
    height: int,
    *,
    title: str = "",
    y_range: tuple[float, float] | None = None,
    window: int | None = None,
) -> Image:
    """Return a scrolling strip chart of ``series`` as a ``height`` x ``width`` BGR image.

    Parameters
    ----------
    series : sequence of Series
        Lines drawn in order (later ones on top).  The newest value of every series is at the
        right edge of the plot; sample ``i`` of a series of ``n`` sits at column
        ``plot.x + round((window - n + i) * (plot.w - 1) / (window - 1))``.
    width, height : int
        Image size.
    title : str
        Drawn top left, followed by a legend of the series' labels in their colours.
    y_range : (float, float), optional
        ``(lo, hi)`` of the vertical axis (:func:`value_to_row`); default: the finite data's
        range plus 5 %.  Values outside are clipped to the plot's edge.
    window : int, optional
        Samples across the plot; default the longest series (>= 2).
    """
    width = check_int("width", width, minimum=8)
    height = check_int("height", height, minimum=8)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = _CHART_BG
    plot = plot_rect(width, height)
    lo, hi = y_range if y_range is not None else _auto_range(series)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise StreamconvError(f"invalid y_range {(lo, hi)!r}; expected finite lo < hi")
    n_max = max((len(s.values) for s in series), default=0)
    window = max(2, window if window is not None else n_max)
    # frame, three grid lines with labels
    cv2.rectangle(img, (plot.x - 1, plot.y - 1), (plot.x + plot.w, plot.y + plot.h), _GRID, 1)
    for frac in (0.0, 0.5, 1.0):
        v = hi - frac * (hi - lo)
        row = value_to_row(v, (lo, hi), plot)
        if 0.0 < frac < 1.0:
            cv2.line(img, (plot.x, row), (plot.x + plot.w - 1, row), _GRID, 1)
        cv2.putText(img, f"{v:.5g}", (2, min(height - 2, row + 4)), _FONT, 0.38, _TEXT, 1, cv2.LINE_AA)
    # lines
    for s in series:
        vals = np.asarray(s.values, dtype=np.float64)[-window:]
        n = vals.size
        if n == 0:
            continue
        cols = plot.x + np.rint((window - n + np.arange(n)) * (plot.w - 1) / (window - 1)).astype(np.int64)
        ok = np.isfinite(vals)
        frac = np.clip((hi - np.where(ok, vals, hi)) / (hi - lo), 0.0, 1.0)
        rows = plot.y + np.rint(frac * (plot.h - 1)).astype(np.int64)
        for run in _runs(ok):
            pts = np.stack([cols[run], rows[run]], axis=1).astype(np.int32)
            if len(pts) == 1:
                cv2.circle(img, (int(pts[0, 0]), int(pts[0, 1])), 0, s.colour, -1)
            else:
                cv2.polylines(img, [pts], False, s.colour, s.thickness, cv2.LINE_AA)
    # title and legend (in the top margin, outside the plot)
    x = plot.x
    for text, colour in [(title, _TEXT), *((s.label, s.colour) for s in series if s.label)]:
        if not text:
            continue
        cv2.putText(img, text, (x, max(10, plot.y - 7)), _FONT, _FONT_SCALE, colour, 1, cv2.LINE_AA)
        x += cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0] + 14
    return img


def _runs(mask: np.ndarray) -> list[slice]:
    """Return the slices of the runs of True in a 1D boolean array."""
    if not mask.any():
        return []
    d = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


# ------------------------------------------------------------------------------------ composing
@dataclass(frozen=True)
class Pane:
    """One pane: an image (any frame :func:`to_bgr8` accepts) and the caption shown above it."""

    image: NDArray[np.generic]
    caption: str = ""
    mode: Mapping = "abs"


def render(
    layout: Layout,
    images: Sequence[Image],
    *,
    header: Sequence[str] = (),
    captions: Sequence[str] = (),
    chart: Image | None = None,
) -> Image:
    """Draw a canvas of ``layout``: header text, captions, the pane images unchanged, the chart.

    ``images`` must be uint8 BGR of the layout's pane sizes; ``chart`` of the chart rect's size.
    """
    if len(images) != len(layout.panes):
        raise StreamconvError(f"invalid images: {len(images)} for a layout of {len(layout.panes)} panes")
    canvas = np.empty((layout.height, layout.width, 3), np.uint8)
    canvas[:] = BACKGROUND
    hr = layout.header
    canvas[hr.slices] = text_bar(header, hr.w, hr.h)
    for i, (rect, img) in enumerate(zip(layout.panes, images, strict=True)):
        if img.shape != (rect.h, rect.w, 3) or img.dtype != np.uint8:
            raise StreamconvError(
                f"invalid pane {i}: {img.dtype} {img.shape}; expected uint8 {(rect.h, rect.w, 3)}"
            )
        canvas[rect.slices] = img
        cap = layout.captions[i]
        text = captions[i] if i < len(captions) else ""
        canvas[cap.slices] = text_bar([text], cap.w, cap.h, background=_CAPTION_BG)
    if layout.chart is not None and chart is not None:
        cr = layout.chart
        if chart.shape != (cr.h, cr.w, 3):
            raise StreamconvError(f"invalid chart of shape {chart.shape}; expected {(cr.h, cr.w, 3)}")
        canvas[cr.slices] = chart
    return canvas


def compose(
    panes: Sequence[Pane],
    header: Sequence[str],
    *,
    chart: Chart | Sequence[Chart] | None = None,
    columns: int | None = None,
    min_width: int = 480,
) -> tuple[Image, Layout]:
    """Return the window image and its layout: header bar, captioned panes, optional strip charts.

    Each pane's image goes through :func:`to_bgr8` with the pane's ``mode`` (uint8 BGR frames are
    placed unchanged, pixel for pixel); see :func:`make_layout` for where things go.  Several
    charts are stacked in the chart panel, each at its own height.
    """
    images = [to_bgr8(p.image, mode=p.mode) for p in panes]
    charts = [] if chart is None else [chart] if isinstance(chart, Chart) else list(chart)
    layout = make_layout(
        [im.shape[:2] for im in images],
        header_lines=max(1, len(header)),
        chart_height=sum(c.height for c in charts),
        columns=columns,
        min_width=min_width,
    )
    chart_img = None
    if charts and layout.chart is not None:
        cr = layout.chart
        chart_img = np.concatenate(
            [strip_chart(c.series, cr.w, c.height, title=c.title, y_range=c.y_range, window=c.window)
             for c in charts]
        )
    canvas = render(layout, images, header=header, captions=[p.caption for p in panes], chart=chart_img)
    return canvas, layout
