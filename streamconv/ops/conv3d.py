"""Depth-spanning 3D filter banks: (K, D, F, F) filters on an (H, W, D) frame give K maps."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import DTypeLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops._dtype import float_type
from streamconv.ops._validate import check_choice, check_finite_array, check_int, check_ndim
from streamconv.ops.conv2d import (
    BORDERS,
    Border,
    Padding,
    pad_for_anchor,
    resolve_padding,
    strided_window,
)

__all__ = ["Bank3D", "conv3d"]


def conv3d(
    frame: NDArray[Any],
    bank: NDArray[Any],
    *,
    padding: Padding = 0,
    stride: int = 1,
    bias: NDArray[Any] | list[float] | None = None,
    border: Border = "zero",
) -> NDArray[np.floating]:
    """Apply a bank of ``K`` filters, each spanning the frame's full depth, to one frame.

    Parameters
    ----------
    frame : (H, W, D) array
        A frame of depth ``D`` (e.g. 3 colour channels).  A 2D frame is depth 1.
    bank : (K, D, F_h, F_w) array_like
        PyTorch's weight layout: filter ``k`` has one 2D slice per input channel.
    padding : int or {'same', 'valid'}
        As in :func:`streamconv.ops.conv2d.conv2d`.
    stride : int
        As in :func:`streamconv.ops.conv2d.conv2d`.
    bias : (K,) array_like, optional
        Added to feature map ``k``.
    border : {'zero', 'replicate', 'reflect'}
        How the padding is filled.

    Returns
    -------
    (H2, W2, K) float array
        ``out[i, j, k] = bias[k] + sum_{d,a,b} I_pad[iS+a, jS+b, d] * bank[k, d, a, b]``;
        float32 for 8/16-bit and float32 frames, float64 otherwise.

    Examples
    --------
    >>> frame = np.ones((4, 4, 3))
    >>> conv3d(frame, np.ones((2, 3, 3, 3)), bias=[0, 1])[0, 0]
    array([27., 28.])
    """
    if not isinstance(frame, np.ndarray):
        frame = np.asarray(frame)
    check_ndim("frame", frame, (2, 3))
    if frame.dtype.kind not in "biuf" or frame.size == 0:
        raise StreamconvError(
            f"invalid frame: dtype {frame.dtype}, shape {frame.shape}; expected a non-empty "
            "bool, integer or float array"
        )
    if frame.ndim == 2:
        frame = frame[:, :, None]
    w = check_finite_array("bank", bank, ndim=4)
    k_count, depth, fh, fw = w.shape
    if depth != frame.shape[2]:
        raise StreamconvError(
            f"invalid bank shape {w.shape}: depth {depth} does not match the frame's depth "
            f"{frame.shape[2]} (frame shape {frame.shape}); each filter must span the full depth"
        )
    stride = check_int("stride", stride, minimum=1)
    check_choice("border", border, BORDERS)
    ph, pw = resolve_padding(padding, (fh, fw))
    h, wd = frame.shape[:2]
    if fh > h + 2 * ph or fw > wd + 2 * pw:
        raise StreamconvError(
            f"invalid bank shape {w.shape}: the {fh}x{fw} filters are larger than the padded "
            f"frame {h + 2 * ph}x{wd + 2 * pw}"
        )
    b = np.zeros(k_count) if bias is None else check_finite_array("bias", bias, ndim=1)
    if b.shape != (k_count,):
        raise StreamconvError(f"invalid bias shape {b.shape}; expected ({k_count},), one per filter")
    compute = float_type(frame.dtype)
    return _bank(frame.astype(compute, copy=False), w.astype(compute), b, ph, pw, stride,
                 BORDERS[border]["cv2"])


class Bank3D:
    """A validated bank of depth-spanning filters, ready to apply to many frames.

    Calling the object with a frame returns :func:`conv3d` of it with the bank, padding,
    stride, bias and border given here, cast to ``dtype`` when one is given.

    Parameters
    ----------
    bank : (K, D, F_h, F_w) array_like
        Finite filters in PyTorch's weight layout.
    padding, stride, bias, border
        As in :func:`conv3d`.
    dtype : dtype-like, optional
        The feature maps' dtype; ``None`` keeps :func:`conv3d`'s (float32 for 8/16-bit and
        float32 frames, float64 otherwise).

    Examples
    --------
    >>> op = Bank3D(np.ones((2, 3, 3, 3)), bias=[0, 1], padding="same", dtype=np.float32)
    >>> op(np.ones((4, 4, 3)))[1, 1].tolist(), op.shape
    ([27.0, 28.0], (2, 3, 3, 3))
    """

    def __init__(
        self,
        bank: NDArray[Any] | list[Any],
        *,
        padding: Padding = 0,
        stride: int = 1,
        bias: NDArray[Any] | list[float] | None = None,
        border: Border = "zero",
        dtype: DTypeLike | None = None,
    ) -> None:
        self.bank = check_finite_array("bank", bank, ndim=4)
        self.bank.setflags(write=False)
        k_count, _, fh, fw = self.bank.shape
        self.stride = check_int("stride", stride, minimum=1)
        self.border: Border = check_choice("border", border, BORDERS)
        self.padding = padding
        resolve_padding(padding, (fh, fw))  # raises now on a bad padding, not at the first frame
        self.bias = None if bias is None else check_finite_array("bias", bias, ndim=1)
        if self.bias is not None and self.bias.shape != (k_count,):
            raise StreamconvError(
                f"invalid bias shape {self.bias.shape}; expected ({k_count},), one per filter"
            )
        self.dtype = None if dtype is None else np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """The bank's shape ``(K, D, F_h, F_w)``."""
        k, d, fh, fw = self.bank.shape
        return (k, d, fh, fw)

    def output_dtype(self, image_dtype: np.dtype) -> np.dtype:
        """Return the dtype of the feature maps for frames of ``image_dtype``."""
        return float_type(image_dtype) if self.dtype is None else self.dtype

    def __call__(self, frame: NDArray[Any]) -> NDArray[np.floating]:
        """Filter one ``(H, W, D)`` frame into ``(H2, W2, K)`` feature maps; see :func:`conv3d`."""
        out = conv3d(frame, self.bank, padding=self.padding, stride=self.stride, bias=self.bias,
                     border=self.border)
        return out if self.dtype is None else out.astype(self.dtype, copy=False)

    def __repr__(self) -> str:
        return (
            f"Bank3D(shape={self.shape}, padding={self.padding!r}, stride={self.stride}, "
            f"border={self.border!r}, bias={None if self.bias is None else self.bias.tolist()}, "
            f"dtype={None if self.dtype is None else str(self.dtype)})"
        )


def _bank(
    frame: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray,
    ph: int,
    pw: int,
    stride: int,
    cv_border: int,
) -> np.ndarray:
    """Sum ``K * D`` single-channel ``cv2.filter2D`` passes, accumulated in place."""
    k_count, depth, fh, fw = w.shape
    h, wd = frame.shape[:2]
    planes = []
    anchor = (0, 0)
    for d in range(depth):
        plane, anchor = pad_for_anchor(np.ascontiguousarray(frame[:, :, d]), (fh, fw), ph, pw,
                                       cv_border)
        planes.append(plane)
    out = np.empty((*planes[0].shape, k_count), dtype=frame.dtype)
    acc = np.empty(planes[0].shape, dtype=frame.dtype)
    tmp = np.empty_like(acc)
    for k in range(k_count):
        cv2.filter2D(planes[0], -1, w[k, 0], dst=acc, anchor=anchor, borderType=cv_border)
        for d in range(1, depth):
            cv2.filter2D(planes[d], -1, w[k, d], dst=tmp, anchor=anchor, borderType=cv_border)
            cv2.add(acc, tmp, dst=acc)
        if bias[k]:
            acc += bias[k]
        out[:, :, k] = acc
    rows, cols = strided_window(h, fh, ph, stride), strided_window(wd, fw, pw, stride)
    return np.ascontiguousarray(out[rows, cols])
