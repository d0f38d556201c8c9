"""Centred 2D correlation (or convolution) with padding, stride and border modes; no I/O."""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import DTypeLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops._dtype import float_type, is_integer, saturate
from streamconv.ops._validate import check_choice, check_finite_array, check_int, check_ndim

__all__ = [
    "BORDERS",
    "Border",
    "Padding",
    "conv2d",
    "output_size",
    "pad_for_anchor",
    "resolve_padding",
    "strided_window",
]

Border = Literal["zero", "replicate", "reflect"]
Padding = int | Literal["same", "valid"]

#: The one border vocabulary, translated to OpenCV, numpy.pad and scipy.ndimage names.
#: ``reflect`` mirrors about the edge pixel without repeating it: ``d c b | a b c d | c b a``.
BORDERS: dict[str, dict[str, Any]] = {
    "zero": {"cv2": cv2.BORDER_CONSTANT, "numpy": "constant", "scipy": "constant"},
    "replicate": {"cv2": cv2.BORDER_REPLICATE, "numpy": "edge", "scipy": "nearest"},
    "reflect": {"cv2": cv2.BORDER_REFLECT_101, "numpy": "reflect", "scipy": "mirror"},
}
_PADDING_WORDS = ("same", "valid")
# Depths cv2.filter2D takes as they are; anything else is converted to the compute float first.
_CV2_DEPTHS = frozenset(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float32, np.float64))
_CV2_FLOAT_DEPTH = {np.dtype(np.float32): cv2.CV_32F, np.dtype(np.float64): cv2.CV_64F}


def output_size(w1: int, f: int, p: int, s: int) -> int:
    """Return the output length ``floor((w1 - f + 2p) / s) + 1`` of a strided, padded window.

    Parameters
    ----------
    w1 : int
        Input length (width or height), >= 1.
    f : int
        Kernel length, >= 1 and at most ``w1 + 2p``.
    p : int
        Padding on each side, >= 0.
    s : int
        Stride, >= 1.

    Examples
    --------
    >>> output_size(28, 3, 0, 1), output_size(28, 3, 1, 1), output_size(7, 3, 0, 2)
    (26, 28, 3)
    """
    w1 = check_int("input size", w1, minimum=1)
    f = check_int("kernel size", f, minimum=1)
    p = check_int("padding", p, minimum=0)
    s = check_int("stride", s, minimum=1)
    if f > w1 + 2 * p:
        raise StreamconvError(
            f"invalid kernel size {f}: larger than the padded input {w1} + 2*{p} = {w1 + 2 * p}"
        )
    return (w1 - f + 2 * p) // s + 1


def resolve_padding(padding: Any, kernel_shape: tuple[int, int]) -> tuple[int, int]:
    """Return the (rows, cols) padding that ``padding`` means for a kernel of ``kernel_shape``.

    ``"valid"`` is 0; ``"same"`` is ``(F - 1) // 2`` per axis (odd kernels only); an int is used
    for both axes.
    """
    if isinstance(padding, str):
        check_choice("padding", padding, _PADDING_WORDS)
        if padding == "valid":
            return 0, 0
        if any(f % 2 == 0 for f in kernel_shape):
            raise StreamconvError(
                f"invalid padding 'same' for the even-sized kernel {kernel_shape}: a centred window "
                "needs an odd size; use padding='valid' or an int"
            )
        return (kernel_shape[0] - 1) // 2, (kernel_shape[1] - 1) // 2
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise StreamconvError(
            f"invalid padding {padding!r}; expected an integer >= 0, 'same' or 'valid'"
        )
    return int(padding), int(padding)


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        image = np.asarray(image)
    check_ndim("image", image, (2, 3))
    if image.dtype.kind not in "biuf":
        raise StreamconvError(
            f"invalid image dtype {image.dtype}; expected a bool, integer or float array"
        )
    if image.size == 0:
        raise StreamconvError(f"invalid image: empty (shape {image.shape})")
    return image


def _auto_dtype(image_dtype: np.dtype, kernel: np.ndarray) -> np.dtype:
    """Output dtype policy: integer input through a kernel summing to 1 stays integer (saturated).

    Kernels that sum to 1 (blur, sharpen, gaussian, emboss, ...) map the input range onto itself
    up to overshoot, so they are display kernels.  Any other kernel (edge detectors, derivatives)
    gives signed values, published as float.
    """
    if is_integer(image_dtype) and image_dtype != np.bool_ and abs(kernel.sum() - 1.0) < 1e-9:
        return image_dtype
    return float_type(image_dtype)


def conv2d(
    image: NDArray[Any],
    kernel: NDArray[Any] | list[list[float]],
    *,
    padding: Padding = 0,
    stride: int = 1,
    border: Border = "zero",
    flip: bool = False,
    dtype: DTypeLike | None = None,
) -> NDArray[Any]:
    """Correlate ``image`` with ``kernel`` over windows centred on each output pixel.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        A grey or colour frame; colour is filtered per channel.
    kernel : (F_h, F_w) array_like
        Finite weights.  Odd sizes are centred on the pixel of interest; even sizes work with
        ``padding='valid'`` or an int (the window then starts at the padded top-left).
    padding : int or {'same', 'valid'}
        ``P`` pixels added on every side with ``border``; ``'same'`` is ``(F - 1) // 2``.
    stride : int
        ``S``: keep every S-th window in both directions.
    border : {'zero', 'replicate', 'reflect'}
        How the padding is filled.  ``reflect`` is ``d c b | a b c d`` (OpenCV's REFLECT_101).
    flip : bool
        ``True`` flips the kernel in both axes: the mathematical convolution.
    dtype : dtype-like, optional
        Output dtype.  Default: integer input with a kernel summing to 1 keeps its dtype
        (rounded, saturated); everything else is float32 (8/16-bit and float32 input) or float64.

    Returns
    -------
    (H2, W2) or (H2, W2, C) array
        ``H2 = floor((H - F_h + 2P) / S) + 1`` and likewise ``W2``.

    Notes
    -----
    ``S_ij = sum_{a,b} I_{iS+a, jS+b} K_{a,b}`` over the padded image ``I``, which for odd ``F``
    is the window centred on input pixel ``(iS - P + F//2, jS - P + F//2)``.

    Examples
    --------
    >>> impulse = np.zeros((3, 3)); impulse[1, 1] = 1
    >>> conv2d(impulse, [[1, 2, 3], [4, 5, 6], [7, 8, 9]], padding="same")
    array([[9., 8., 7.],
           [6., 5., 4.],
           [3., 2., 1.]])
    """
    image = _check_image(image)
    k = check_finite_array("kernel", kernel, ndim=2)
    stride = check_int("stride", stride, minimum=1)
    check_choice("border", border, BORDERS)
    ph, pw = resolve_padding(padding, k.shape)
    fh, fw = k.shape
    h, w = image.shape[:2]
    for axis, n, f, p in (("height", h, fh, ph), ("width", w, fw, pw)):
        if f > n + 2 * p:
            raise StreamconvError(
                f"invalid kernel {k.shape}: its {axis} {f} is larger than the padded image "
                f"{axis} {n} + 2*{p} = {n + 2 * p}"
            )
    out_dtype = _auto_dtype(image.dtype, k) if dtype is None else np.dtype(dtype)
    if flip:
        k = k[::-1, ::-1]
    return _correlate(image, k, ph, pw, stride, BORDERS[border]["cv2"], out_dtype)


def pad_for_anchor(
    src: np.ndarray, kshape: tuple[int, int], ph: int, pw: int, cv_border: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Return ``(src, anchor)`` so that ``cv2.filter2D`` at ``anchor`` gives the padded windows.

    A padding that fits inside the kernel's reach is only an anchor choice: OpenCV extrapolates
    the border itself, output pixel ``i`` reading input ``i - P .. i - P + F - 1``.  A larger
    padding is materialised once with ``copyMakeBorder`` and the window starts at the top-left.
    """
    fh, fw = kshape
    h, w = src.shape[:2]
    if ph <= (fh - 1) // 2 and pw <= (fw - 1) // 2 and fh <= h and fw <= w:
        return src, (pw, ph)
    return cv2.copyMakeBorder(src, ph, ph, pw, pw, cv_border, value=0), (0, 0)


def strided_window(n: int, f: int, p: int, s: int) -> slice:
    """Return the slice of a full-size filter2D output that keeps the ``output_size`` windows."""
    n2 = (n - f + 2 * p) // s + 1
    return slice(0, (n2 - 1) * s + 1, s)


def _correlate(
    image: np.ndarray,
    k: np.ndarray,
    ph: int,
    pw: int,
    stride: int,
    cv_border: int,
    out_dtype: np.dtype,
) -> np.ndarray:
    """Apply a validated kernel with OpenCV: anchor picks the window, slicing applies the stride."""
    (fh, fw), (h, w) = k.shape, image.shape[:2]
    compute = float_type(image.dtype)
    src = image if image.dtype in _CV2_DEPTHS else image.astype(compute)
    if out_dtype == image.dtype and image.dtype in _CV2_DEPTHS:
        ddepth = -1  # OpenCV's own saturating integer path (the fast path for uint8 frames)
    else:
        ddepth = _CV2_FLOAT_DEPTH[compute]
    kern = np.ascontiguousarray(k, dtype=np.float64 if compute == np.float64 else np.float32)
    src, anchor = pad_for_anchor(src, k.shape, ph, pw, cv_border)
    full = cv2.filter2D(src, ddepth, kern, anchor=anchor, borderType=cv_border)
    if full.ndim == 2 and image.ndim == 3:
        full = full[:, :, None]  # OpenCV drops a single channel axis
    out = full[strided_window(h, fh, ph, stride), strided_window(w, fw, pw, stride)]
    if out.dtype != out_dtype:
        return saturate(out, out_dtype)
    return np.ascontiguousarray(out)
