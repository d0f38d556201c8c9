"""The numba functions behind :mod:`streamconv.ops._intconv` (this module imports numba).

The frame is never padded as a whole.  Each padded row a kernel row needs is built once in a
small ring of row buffers (``F_h`` rows of ``(W + 2P) * C`` values, L1/L2-resident): the source
row copied into the middle, the border columns filled by the border rule.  Each output row is
then summed in an int16 accumulator, one pass per non-zero tap over a contiguous row slice,
which LLVM vectorises.  The compiled code is cached on disk next to this file (or in the user's
cache directory when that is read-only) and holds no GIL, so row strips run on all cores.

Border codes: 0 zero, 1 replicate, 2 reflect (``d c b | a b c d | c b a``, OpenCV's
REFLECT_101), the same rules as ``cv2.copyMakeBorder``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["correlate"]

_OPTS = {"nogil": True, "cache": True, "error_model": "numpy", "boundscheck": False}


@njit(**_OPTS)
def _source_index(i: int, n: int, border: int) -> int:
    """Map padded-space index ``i`` (may be outside ``0 .. n - 1``) to a source index, or -1."""
    if 0 <= i < n:
        return i
    if border == 0:
        return -1
    if border == 1:
        return 0 if i < 0 else n - 1
    if n == 1:
        return 0
    while i < 0 or i >= n:  # reflect101, repeated for paddings wider than the frame
        i = -i if i < 0 else 2 * (n - 1) - i
    return i


@njit(**_OPTS)
def _fill_row(src: np.ndarray, yp: int, ph: int, pw: int, c: int, border: int, buf: np.ndarray) -> None:
    """Write padded row ``yp`` (source row ``yp - ph`` by the border rule) into ``buf``."""
    h = src.shape[0]
    w = src.shape[1] // c
    sy = _source_index(yp - ph, h, border)
    if sy < 0:
        for x in range(buf.shape[0]):
            buf[x] = 0
        return
    row = src[sy]
    mid = buf[pw * c : pw * c + w * c]
    for x in range(w * c):  # a plain loop: LLVM turns it into a vector copy
        mid[x] = row[x]
    for j in range(pw):  # left and right border columns
        for side in range(2):
            jp = j if side == 0 else pw + w + j
            sx = _source_index(jp - pw, w, border)
            for ch in range(c):
                buf[jp * c + ch] = 0 if sx < 0 else row[sx * c + ch]


@njit(**_OPTS)
def _window_rows(
    src: np.ndarray, y: int, fh: int, ph: int, pw: int, c: int, border: int,
    ring: np.ndarray, held: np.ndarray, rows: np.ndarray,
) -> np.ndarray:
    """Return the ``F_h`` padded rows of the window at output row ``y``, built at most once each."""
    for r in range(fh):
        yp = y + r
        slot = yp % fh
        if held[slot] != yp:
            _fill_row(src, yp, ph, pw, c, border, ring[slot])
            held[slot] = yp
        rows[r] = slot
    return rows


@njit(**_OPTS)
def _accumulate(
    ring: np.ndarray, slots: np.ndarray, dy: np.ndarray, dx: np.ndarray, w: np.ndarray, acc: np.ndarray
) -> None:
    """Sum the taps of one output row into ``acc`` (kernel row ``r`` is ring row ``slots[r]``)."""
    n = acc.shape[0]
    # a slice starting at the tap's column: index x never wraps, so the loop vectorises
    row = ring[slots[dy[0]], dx[0] : dx[0] + n]
    k = w[0]
    for x in range(n):  # the first tap assigns: no zeroing pass
        acc[x] = k * np.int16(row[x])
    for t in range(1, w.shape[0]):
        row = ring[slots[dy[t]], dx[t] : dx[t] + n]
        k = w[t]
        for x in range(n):
            acc[x] += k * np.int16(row[x])


@njit(**_OPTS)
def correlate(
    src: np.ndarray, fh: int, ph: int, pw: int, c: int, border: int,
    dy: np.ndarray, dx: np.ndarray, w: np.ndarray, out: np.ndarray, y0: int, y1: int, to_u8: bool,
) -> None:
    """Rows ``y0 .. y1 - 1`` of the correlation of the (implicitly) padded frame.

    ``to_u8``: saturate into a uint8 ``out``; else store the exact sums (float32 ``out``).  numba
    compiles one version per argument types.
    """
    n = out.shape[1]
    wp = src.shape[1] + 2 * pw * c
    ring = np.empty((fh, wp), np.uint8)
    held = np.full(fh, -1, np.int64)
    slots = np.empty(fh, np.int64)
    acc = np.empty(n, np.int16)
    for y in range(y0, y1):
        _window_rows(src, y, fh, ph, pw, c, border, ring, held, slots)
        _accumulate(ring, slots, dy, dx, w, acc)
        o = out[y]
        if to_u8:
            for x in range(n):
                o[x] = np.uint8(min(max(acc[x], 0), 255))
        else:
            for x in range(n):
                o[x] = np.float32(acc[x])
