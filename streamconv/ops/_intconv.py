"""An exact integer correlation for uint8 frames and small integer kernels, compiled with numba.

``sharpen``, ``edge_detect``, ``laplacian``, ``emboss`` and ``edge_enhance`` have small integer
weights.  On a uint8 frame every window sum is then an integer of bounded size: with
``sum(|k|) <= 128`` it fits an int16 (``128 * 255 = 32640``), and so does every partial sum.
Adding the non-zero taps row by row into an int16 accumulator gives exactly the sums that
``cv2.filter2D`` computes in float32 (integers below 2**24 are exact there), with twice as many
values per vector register (int16, not float32) and without the float conversions.  The result is
then saturated to uint8 (for a uint8 output: the same as OpenCV's ``saturate_cast`` of an
integer) or stored as float32.

This module is pure math: arrays in, arrays out.  numba is imported on first use; when it is
missing (or ``STREAMCONV_NO_JIT=1``), :func:`available` is False and callers use OpenCV.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import numpy as np

__all__ = ["MAX_ABS_SUM", "MAX_TAPS", "IntTaps", "available", "correlate_rows"]

#: ``sum(|k|) * 255`` must fit an int16: every partial sum of the accumulator then does too.
MAX_ABS_SUM = 128
#: Kernels with more non-zero taps than this go to OpenCV (each tap is a pass over a row).
MAX_TAPS = 25

_LOCK = threading.Lock()
_CORRELATE: Callable[..., None] | None = None
_FAILED = False


class IntTaps:
    """The non-zero taps of an integer kernel: row offsets, column offsets and int16 weights.

    Parameters
    ----------
    kernel : (F_h, F_w) float array
        Must satisfy :meth:`fits`.
    """

    def __init__(self, kernel: np.ndarray) -> None:
        rows, cols = np.nonzero(kernel)
        self.shape = kernel.shape
        self.dy = rows.astype(np.int64)
        self.dx = cols.astype(np.int64)
        self.w = kernel[rows, cols].astype(np.int16)

    @staticmethod
    def fits(kernel: np.ndarray) -> bool:
        """Return True when ``kernel`` has integer weights, ``sum(|k|) <= 128``, <= 25 non-zeros."""
        nz = kernel[kernel != 0]
        return bool(
            0 < nz.size <= MAX_TAPS
            and np.all(nz == np.round(nz))
            and float(np.abs(nz).sum()) <= MAX_ABS_SUM
        )

    def columns(self, channels: int) -> np.ndarray:
        """Column offsets in elements of a row of ``channels`` interleaved values."""
        return self.dx * channels


def available() -> bool:
    """Return True when the compiled routine can be used (numba importable, not disabled)."""
    if os.environ.get("STREAMCONV_NO_JIT", "") not in ("", "0"):
        return False
    return _compiled() is not None


def correlate_rows(
    src: np.ndarray, taps: IntTaps, channels: int, padding: tuple[int, int], border: int,
    out: np.ndarray, y0: int, y1: int,
) -> None:
    """Write output rows ``y0 .. y1 - 1`` of the valid correlation of the padded ``src``.

    Parameters
    ----------
    src : (H, W * C) uint8 array, C-contiguous
        The frame with its channels interleaved along each row (not padded: the padding is
        built row by row, by the ``border`` rule, as the rows are needed).
    taps : IntTaps
        The kernel.
    channels : int
        ``C``: a tap at column ``j`` reads ``j * C`` elements to the right.
    padding : (int, int)
        ``(P_h, P_w)`` added on each side.
    border : int
        How the padding is filled: the ``'jit'`` code of the border in
        :data:`streamconv.ops.conv2d.BORDERS` (0 zero, 1 replicate, 2 reflect ``d c b | a b c d``).
    out : (H + 2 P_h - F_h + 1, (W + 2 P_w - F_w + 1) * C) uint8 or float32 array, C-contiguous
        uint8 outputs are saturated to 0..255; float32 outputs hold the exact sums.  Output row
        ``i`` is the window starting at padded row ``i``.
    y0, y1 : int
        The rows to compute; disjoint row ranges can run on different threads (no GIL held).

    Examples
    --------
    >>> src = np.array([[1, 2, 4, 8]], np.uint8)
    >>> out = np.empty((1, 4), np.float32)
    >>> correlate_rows(src, IntTaps(np.array([[-1.0, 1.0]])), 1, (0, 1), 0, out, 0, 1)  # zero border
    >>> out  # x[j] - x[j-1], with a zero to the left of the first value
    array([[1., 1., 2., 4.]], dtype=float32)
    """
    correlate = _compiled()
    if correlate is None:
        raise RuntimeError("the integer routine needs numba, which is not importable")
    correlate(src, taps.shape[0], padding[0], padding[1], channels, border,
              taps.dy, taps.columns(channels), taps.w, out, y0, y1, bool(out.dtype == np.uint8))


def _compiled() -> Callable[..., None] | None:
    """Return the numba function (importing numba on first use), or None when it cannot be had."""
    global _CORRELATE, _FAILED
    if _CORRELATE is not None or _FAILED:
        return _CORRELATE
    with _LOCK:
        if _CORRELATE is None and not _FAILED:
            try:
                from streamconv.ops import _intconv_jit  # imports numba; compiled per type, cached

                _CORRELATE = _intconv_jit.correlate
            except Exception as exc:  # numba missing, or e.g. no writable cache directory
                _FAILED = True
                logging.getLogger(__name__).warning(
                    "integer conv2d routine unavailable (%s: %s); using OpenCV", type(exc).__name__, exc
                )
    return _CORRELATE
