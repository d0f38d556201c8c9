"""Centred 2D correlation (or convolution) with padding, stride and border modes; no I/O."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

import cv2
import numpy as np
from numpy.typing import DTypeLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops import _intconv
from streamconv.ops._dtype import float_type, saturate
from streamconv.ops._validate import check_choice, check_finite_array, check_int, check_ndim
from streamconv.ops.kernels import separable_factors
from streamconv.pool import FramePool

__all__ = [
    "BORDERS",
    "Border",
    "Conv2D",
    "Padding",
    "conv2d",
    "output_size",
    "pad_for_anchor",
    "resolve_padding",
    "strided_window",
]

Border = Literal["zero", "replicate", "reflect"]
_T = TypeVar("_T")
Padding = int | Literal["same", "valid"]

#: The one border vocabulary, translated to OpenCV, numpy.pad and scipy.ndimage names, and to
#: the codes of the compiled integer routine (``jit``, :mod:`streamconv.ops._intconv`).
#: ``reflect`` mirrors about the edge pixel without repeating it: ``d c b | a b c d | c b a``.
BORDERS: dict[str, dict[str, Any]] = {
    "zero": {"cv2": cv2.BORDER_CONSTANT, "numpy": "constant", "scipy": "constant", "jit": 0},
    "replicate": {"cv2": cv2.BORDER_REPLICATE, "numpy": "edge", "scipy": "nearest", "jit": 1},
    "reflect": {"cv2": cv2.BORDER_REFLECT_101, "numpy": "reflect", "scipy": "mirror", "jit": 2},
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
    return _prepared(kernel, padding, stride, border, flip, dtype)(image)


def _prepared(kernel: Any, padding: Any, stride: Any, border: Any, flip: Any, dtype: Any) -> Conv2D:
    """Return a :class:`Conv2D` for these arguments, reused across calls with equal arguments.

    Choosing the routine (an SVD, the trimming) costs tens of microseconds: a caller that filters
    frame after frame with the same kernel through :func:`conv2d` pays it once.
    """
    try:
        k = np.asarray(kernel, dtype=np.float64)
        key = (k.shape, k.tobytes(), padding, stride, border, bool(flip), None if dtype is None
               else np.dtype(dtype).str)
        hash(key)
    except (TypeError, ValueError):  # not an array or not hashable: validate (and raise) uncached
        return Conv2D(kernel, padding=padding, stride=stride, border=border, flip=flip, dtype=dtype,
                      reuse_outputs=False)
    if k.size > _CACHE_MAX_TAPS:
        return Conv2D(k, padding=padding, stride=stride, border=border, flip=flip, dtype=dtype,
                      reuse_outputs=False)
    return _cached_conv2d(key)


@functools.lru_cache(maxsize=64)
def _cached_conv2d(key: tuple[Any, ...]) -> Conv2D:
    shape, raw, padding, stride, border, flip, dtype = key
    kernel = np.frombuffer(raw, dtype=np.float64).reshape(shape)
    return Conv2D(kernel, padding=padding, stride=stride, border=border, flip=flip, dtype=dtype,
                  reuse_outputs=False)


class Conv2D:
    """A validated 2D filter, ready to apply to many frames: :func:`conv2d` with the checks done once.

    Parameters are those of :func:`conv2d` except ``image``, plus ``threads``: how many row
    strips to filter at once (``None``: one per CPU core for frames of 256k values or more,
    else 1), and ``reuse_outputs``: the ``integer`` routine writes into a few output buffers
    that it lends again once nothing refers to them (a frame stream then allocates nothing per
    frame; :func:`conv2d` does not keep buffers).  Calling the object with an image returns
    exactly what :func:`conv2d` returns, whatever the number of strips.

    Notes
    -----
    The kernel is inspected once to pick the cheapest exact OpenCV routine:

    - ``box``: an odd number of equal weights summing to 1 -> ``cv2.boxFilter`` (running sums);
    - ``separable``: rank 1 (``outer(column, row)``) -> ``cv2.sepFilter2D``, two 1D passes;
    - ``copy``: a single tap of weight 1 (``identity``) -> the shifted input;
    - ``general``: anything else -> ``cv2.filter2D``.

    On uint8 frames, a kernel of small integer weights (``sharpen``, ``edge_detect``,
    ``laplacian``, ``emboss``, ``edge_enhance``; at most 25 non-zero taps, ``sum(|k|) <= 128``)
    with a uint8 or float32 output takes the ``integer`` routine instead: exact int16 sums,
    compiled with numba (:mod:`streamconv.ops._intconv`), bit-identical to ``cv2.filter2D`` and
    2-4x faster.  :meth:`method_for` says which routine a given input dtype takes.

    Zero rows and columns at the kernel's edges are trimmed first (``edge_enhance`` is a 1x2
    difference, ``identity`` a single tap): they only multiply pixels by 0.

    All three compute the same correlation; for integer outputs they may differ from one another
    by one rounding step (OpenCV's intermediate precision), never more.  ``method`` says which
    one is used.

    Examples
    --------
    >>> op = Conv2D(np.ones((3, 3)) / 9, padding="same")
    >>> op.method, int(op(np.full((4, 4), 9, np.uint8))[1, 1])
    ('box', 9)
    """

    def __init__(
        self,
        kernel: NDArray[Any] | list[list[float]],
        *,
        padding: Padding = 0,
        stride: int = 1,
        border: Border = "zero",
        flip: bool = False,
        dtype: DTypeLike | None = None,
        threads: int | None = None,
        reuse_outputs: bool = True,
    ) -> None:
        k = check_finite_array("kernel", kernel, ndim=2)
        self.threads = None if threads is None else check_int("threads", threads, minimum=1)
        self.stride = check_int("stride", stride, minimum=1)
        self.border: Border = check_choice("border", border, BORDERS)
        self.padding = padding
        self.ph, self.pw = resolve_padding(padding, k.shape)
        self.flip = bool(flip)
        self.dtype = None if dtype is None else np.dtype(dtype)
        fh, fw = k.shape
        self.kernel = np.ascontiguousarray(k[::-1, ::-1] if flip else k)
        self.kernel.setflags(write=False)
        self._sum_is_one = abs(float(self.kernel.sum()) - 1.0) < 1e-9
        self._cv_border = BORDERS[border]["cv2"]
        self._full = _Taps(self.kernel)
        # Zero rows/columns at the kernel's edges read pixels only to multiply them by 0: the
        # trimmed taps (identity -> 1x1, edge_enhance -> 1x2) give the same sums, shifted.
        rows = np.flatnonzero(np.any(self.kernel != 0, axis=1))
        cols = np.flatnonzero(np.any(self.kernel != 0, axis=0))
        if rows.size and (rows[0], rows[-1], cols[0], cols[-1]) != (0, fh - 1, 0, fw - 1):
            self._trim: tuple[int, int, int, int] | None = (
                int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
            )
            self._taps = _Taps(self.kernel[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        else:
            self._trim = None
            self._taps = self._full
        self.method = self._taps.method
        # a copy beats any sum; for everything else the integer routine is the fastest exact one
        integer = self.method != "copy" and _intconv.IntTaps.fits(self.kernel)
        self._int = _intconv.IntTaps(self.kernel) if integer else None
        # outputs of the integer routine, reused once the caller (and ZeroMQ) let go of them
        self.reuse_outputs = bool(reuse_outputs)
        self._outputs: dict[tuple[tuple[int, int], np.dtype], FramePool] = {}

    def method_for(self, image_dtype: DTypeLike) -> str:
        """Return the routine used for input of ``image_dtype``: ``integer`` or :attr:`method`."""
        dt = np.dtype(image_dtype)
        return "integer" if self._int_path(dt, self.output_dtype(dt)) else self.method

    def _int_path(self, image_dtype: np.dtype, out_dtype: np.dtype) -> bool:
        return (
            self._int is not None
            and image_dtype == np.uint8
            and out_dtype in _INT_OUTPUTS
            and _intconv.available()
        )

    def __repr__(self) -> str:
        return (
            f"Conv2D(kernel={self.kernel.shape}, padding={self.padding!r}, stride={self.stride}, "
            f"border={self.border!r}, flip={self.flip}, method={self.method!r})"
        )

    def output_dtype(self, image_dtype: np.dtype) -> np.dtype:
        """Return the dtype of the output for input of ``image_dtype`` (the documented policy)."""
        if self.dtype is not None:
            return self.dtype
        if image_dtype.kind in "iu" and self._sum_is_one:
            return image_dtype
        return float_type(image_dtype)

    def __call__(self, image: NDArray[Any]) -> NDArray[Any]:
        """Filter ``image``; see :func:`conv2d`."""
        image = _check_image(image)
        (fh, fw), (h, w) = self.kernel.shape, image.shape[:2]
        ph, pw = self.ph, self.pw
        for axis, n, f, p in (("height", h, fh, ph), ("width", w, fw, pw)):
            if f > n + 2 * p:
                raise StreamconvError(
                    f"invalid kernel {self.kernel.shape}: its {axis} {f} is larger than the padded image "
                    f"{axis} {n} + 2*{p} = {n + 2 * p}"
                )
        out_dtype = self.output_dtype(image.dtype)
        if self._int_path(image.dtype, out_dtype):
            return self._apply_int(image, out_dtype)
        compute = float_type(image.dtype)
        src = image if image.dtype in _CV2_DEPTHS else image.astype(compute)
        if out_dtype == image.dtype and image.dtype in _CV2_DEPTHS:
            ddepth = -1  # OpenCV's own saturating integer path (the fast path for uint8 frames)
        else:
            ddepth = _CV2_FLOAT_DEPTH[compute]
        plan = None if self._trim is None else self._trim_plan(h, w)
        if plan is not None:
            taps = self._taps
            (y0, ay), (x0, ax) = plan
            src, anchor = src[y0:, x0:], (ax, ay)
        else:
            taps = self._full
            src, anchor = pad_for_anchor(src, (fh, fw), ph, pw, self._cv_border)
        n = self._strip_count(src)
        full = self._apply(src, ddepth, anchor, compute, taps) if n == 1 else self._apply_strips(
            src, ddepth, anchor, compute, n, taps
        )
        if full.ndim == 2 and image.ndim == 3:
            full = full[:, :, None]  # OpenCV drops a single channel axis
        # keep the output_size() windows: a view, and no copy when it is already the whole array
        full = full[strided_window(h, fh, ph, self.stride), strided_window(w, fw, pw, self.stride)]
        if full.dtype != out_dtype:
            return saturate(full, out_dtype)
        return np.ascontiguousarray(full)

    def _apply_int(self, image: np.ndarray, out_dtype: np.dtype) -> np.ndarray:
        """Filter with the exact integer routine; row strips write disjoint rows of one output.

        The frame is not padded as a whole: the routine builds each padded row as it needs it.
        The output comes from a :class:`~streamconv.pool.FramePool`: a buffer the caller (or a
        zero-copy send) still holds is never reused.  Output row ``i`` is the window starting at
        padded row ``i``, the same indexing as the OpenCV routines, so the strided slice is shared.
        """
        assert self._int is not None
        (fh, fw), (h, w) = self.kernel.shape, image.shape[:2]
        ph, pw = self.ph, self.pw
        c = 1 if image.ndim == 2 else image.shape[2]
        flat = np.ascontiguousarray(image).reshape(h, w * c)
        ho, wo = h + 2 * ph - fh + 1, w + 2 * pw - fw + 1
        if self.reuse_outputs:
            out, _ = self._output_pool((ho, wo * c), out_dtype).take()
        else:
            out = np.empty((ho, wo * c), dtype=out_dtype)
        args = (flat, self._int, c, (ph, pw), BORDERS[self.border]["jit"], out)
        _in_strips(ho, self._strip_count(flat), lambda a, b: _intconv.correlate_rows(*args, a, b))
        full = out.reshape((ho, wo, c) if image.ndim == 3 else (ho, wo))
        full = full[strided_window(h, fh, ph, self.stride), strided_window(w, fw, pw, self.stride)]
        return np.ascontiguousarray(full)

    def _output_pool(self, shape: tuple[int, int], dtype: np.dtype) -> FramePool:
        key = (shape, dtype)
        pool = self._outputs.get(key)
        if pool is None:
            if len(self._outputs) >= _OUTPUT_POOL_SHAPES:  # frame sizes keep changing: start over
                self._outputs.clear()
            pool = self._outputs.setdefault(key, FramePool(shape, dtype, size=_OUTPUT_POOL_SIZE))
        return pool

    def _trim_plan(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """Return ``((row0, anchor_y), (col0, anchor_x))`` to apply the trimmed taps, or None.

        Output ``j`` reads padded positions ``jS + lo .. jS + hi`` (the non-zero taps), i.e. input
        ``jS + lo - P + t``: with the taps' anchor at ``P - lo`` OpenCV's output ``jS`` is exactly
        that.  A negative ``P - lo`` means the first ``lo - P`` inputs are never read: the view
        starts after them.  Tiny images keep the plain path.
        """
        assert self._trim is not None
        r0, r1, c0, c1 = self._trim
        fh, fw = self.kernel.shape
        plan = []
        for n, f, p, lo, hi in ((h, fh, self.ph, r0, r1), (w, fw, self.pw, c0, c1)):
            ft = hi - lo + 1
            start, anchor = max(0, lo - p), max(0, p - lo)
            n_out = (n + 2 * p - f) // self.stride + 1
            if anchor > ft - 1 or (n_out - 1) * self.stride > n - start - 1 or n - start < 2 * ft + 2:
                return None
            plan.append((start, anchor))
        return plan[0], plan[1]

    def _strip_count(self, src: np.ndarray) -> int:
        if self.threads is not None:
            n = self.threads
        elif src.size >= _STRIP_MIN_VALUES:
            n = _cpu_count()
        else:
            n = 1
        return max(1, min(n, src.shape[0] // _STRIP_MIN_ROWS))

    def _apply_strips(
        self, src: np.ndarray, ddepth: int, anchor: tuple[int, int], compute: np.dtype, n: int,
        taps: _Taps,
    ) -> np.ndarray:
        """Filter ``n`` row strips at once (OpenCV releases the GIL), each read with its halo rows.

        Output row ``i`` reads source rows ``i - anchor_y .. i - anchor_y + F - 1``; a strip's view
        includes exactly those rows, so only rows at the true image edge use the border rule.
        """
        h = src.shape[0]
        fh = taps.kernel.shape[0]
        ay = anchor[1]

        def part(a: int, b: int) -> np.ndarray:
            a0, b0 = max(0, a - ay), min(h, b - ay + fh - 1)
            return self._apply(src[a0:b0], ddepth, anchor, compute, taps)[a - a0 : b - a0]

        parts = _in_strips(h, n, part)
        out = np.empty((h, *parts[0][2].shape[1:]), dtype=parts[0][2].dtype)
        for a, b, rows in parts:
            out[a:b] = rows
        return out

    def _apply(
        self, src: np.ndarray, ddepth: int, anchor: tuple[int, int], compute: np.dtype, taps: _Taps
    ) -> np.ndarray:
        b = self._cv_border
        if taps.method == "copy":  # a single tap of weight 1: the (shifted) input itself
            if ddepth == -1:
                return src.copy()
            return src.astype(np.float64 if ddepth == cv2.CV_64F else np.float32)
        if taps.method == "box":
            fh, fw = taps.kernel.shape
            return cv2.boxFilter(src, ddepth, (fw, fh), anchor=anchor, normalize=True, borderType=b)
        f64 = compute == np.float64
        if taps.method == "separable":
            col, row = taps.factors64 if f64 else taps.factors32
            return cv2.sepFilter2D(src, ddepth, row, col, anchor=anchor, borderType=b)
        return cv2.filter2D(src, ddepth, taps.kernel if f64 else taps.k32, anchor=anchor, borderType=b)


class _Taps:
    """A kernel prepared for OpenCV: the routine that applies it and its float32/64 forms."""

    def __init__(self, kernel: np.ndarray) -> None:
        self.kernel = np.ascontiguousarray(kernel)
        self.k32 = self.kernel.astype(np.float32)
        if self.kernel.shape == (1, 1) and self.kernel[0, 0] == 1.0:
            self.method, factors = "copy", None
        else:
            self.method, factors = _choose_method(self.kernel)
        self.factors64 = factors if factors is not None else (None, None)
        self.factors32 = (
            tuple(f.astype(np.float32) for f in factors) if factors is not None else (None, None)
        )


#: Output dtypes of the integer routine for uint8 input.
_INT_OUTPUTS = frozenset((np.dtype(np.uint8), np.dtype(np.float32)))
#: Output buffers kept per frame shape (more in flight are allocated), and shapes kept.
_OUTPUT_POOL_SIZE = 6
_OUTPUT_POOL_SHAPES = 4
#: Kernels up to this many taps are cached by :func:`conv2d` (by value).
_CACHE_MAX_TAPS = 4096
#: Frames with fewer values than this are filtered in one piece (thread hand-off costs ~50 us).
_STRIP_MIN_VALUES = 1 << 18
#: No strip is thinner than this many rows.
_STRIP_MIN_ROWS = 32
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _pool() -> ThreadPoolExecutor:
    """Return the process-wide pool that filters extra strips (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(1, _cpu_count() - 1), thread_name_prefix="conv2d")
        return _POOL


def _in_strips(rows: int, n: int, run: Callable[[int, int], _T]) -> list[tuple[int, int, _T]]:
    """Run ``run(a, b)`` on ``n`` row ranges covering ``0 .. rows``; return ``(a, b, result)`` in order.

    The first range runs on this thread, the others at the same time on the shared pool
    (OpenCV and the compiled integer routine release the GIL).
    """
    bounds = [round(rows * i / n) for i in range(n + 1)]
    futures = [_pool().submit(run, bounds[i], bounds[i + 1]) for i in range(1, n)]
    results = [run(bounds[0], bounds[1]), *(fut.result() for fut in futures)]
    return list(zip(bounds, bounds[1:], results, strict=False))


def _choose_method(k: np.ndarray) -> tuple[str, tuple[np.ndarray, np.ndarray] | None]:
    """Pick ``box``, ``separable`` or ``general`` for kernel ``k`` (see :class:`Conv2D`)."""
    # An odd number of equal taps never puts a mean of integers exactly half-way, so OpenCV's
    # integer box sums round like the documented half-to-even policy.
    if k.size > 1 and k.size % 2 == 1 and np.all(k == k.flat[0]) and abs(k.flat[0] * k.size - 1.0) < 1e-12:
        return "box", None
    if min(k.shape) > 1 and separable_factors(k) is not None:
        # Factors read off the kernel's own entries (not the SVD's irrational scaling), so that an
        # integer kernel such as Sobel splits into exact dyadic factors: [0.5, 1, 0.5] x [-2, 0, 2].
        i, j = np.unravel_index(np.argmax(np.abs(k)), k.shape)
        row = k[i, :].copy()
        col = k[:, j] / k[i, j]
        if np.array_equal(np.outer(col, row), k) or np.allclose(
            np.outer(col, row), k, rtol=0, atol=1e-13 * np.abs(k).max()
        ):
            return "separable", (col, row)
    return "general", None


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
