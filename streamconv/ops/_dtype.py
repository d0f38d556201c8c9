"""The one dtype policy shared by every op: which float type a computation runs in."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["float_type", "is_integer", "saturate"]

# Types whose every value a float32 holds exactly (24-bit mantissa): compute these in float32,
# as OpenCV does for 8/16-bit images.  Everything else (int32, int64, float64, ...) needs float64.
_FLOAT32_EXACT = frozenset(
    np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.float16, np.float32)
)


def float_type(dtype: DTypeLike) -> np.dtype:
    """Return the float dtype an op computes in for input of ``dtype``.

    Parameters
    ----------
    dtype : dtype-like
        The input's dtype.

    Returns
    -------
    numpy.dtype
        ``float32`` for bool, 8/16-bit integers, float16 and float32; ``float64`` otherwise.

    Examples
    --------
    >>> float_type(np.uint8), float_type(np.int64)
    (dtype('float32'), dtype('float64'))
    """
    dt = np.dtype(dtype).newbyteorder("=")  # '>u2' (e.g. off the wire) is still a 16-bit int
    return np.dtype(np.float32) if dt in _FLOAT32_EXACT else np.dtype(np.float64)


def is_integer(dtype: DTypeLike) -> bool:
    """Return True for integer (and bool) dtypes, whose outputs can be saturated back."""
    dt = np.dtype(dtype)
    return bool(np.issubdtype(dt, np.integer) or dt == np.bool_)


def saturate(values: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Round half to even and clip ``values`` into the range of integer ``dtype``.

    Floats pass through a plain cast.  This is what ``cv2.saturate_cast`` does for 8/16-bit
    images, so the float path and OpenCV's integer path agree to within one rounding step.
    """
    dt = np.dtype(dtype)
    if not is_integer(dt):
        return values.astype(dt, copy=False)
    if dt == np.bool_:
        return values != 0
    info = np.iinfo(dt)
    return np.clip(np.rint(values), info.min, info.max).astype(dt)
