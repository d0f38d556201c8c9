r"""Least-squares 2D kernels and linear 3D banks fitted to pairs of frames (no I/O).

The convention is :func:`~streamconv.ops.conv2d.conv2d`'s: correlation, the window centred on
the output pixel, so for an odd ``F = 2r + 1``

``target[i, j] = sum_{a,b} input[i - r + a, j - r + b] K[a, b]``.

Only **interior** windows are used (those that need no padding): there a target made with any
border mode (``zero``, ``replicate``, ``reflect``) is the same, so the fit does not depend on
how the target's edges were made.  Every interior window of every frame (and, for
:func:`fit_kernel2d`, of every channel: a ``kernel2d`` stage applies one kernel per channel)
is one row of the least-squares problem ``min ||A k - y||``.  The rows are reduced block by
block with a QR factorisation (``R`` of ``[R; A_block]``), so memory stays ``O(F^4)`` for
any number of frames and the conditioning is ``A``'s, not that of the normal equations.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> image = rng.random((20, 20))
>>> from streamconv.ops import kernels
>>> from streamconv.ops.conv2d import conv2d
>>> target = conv2d(image, kernels.get("sobel_x"), padding="same")
>>> fit = fit_kernel2d([image], [target], 3)
>>> bool(np.allclose(fit.kernel, kernels.get("sobel_x"), atol=1e-9)), fit.residual_rms < 1e-9
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from streamconv.errors import StreamconvError

__all__ = ["BankFit", "KernelFit", "check_kernel_size", "fit_bank3d", "fit_kernel2d"]

# Rows reduced per QR block (with F x F columns), so a block stays a few MB.
_BLOCK_VALUES = 2_000_000


def check_kernel_size(size: int) -> int:
    """Return ``size`` if it is an odd integer >= 1 (kernels are centred); else raise."""
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1 or size % 2 == 0:
        raise StreamconvError(
            f"invalid kernel size {size!r}; expected an odd integer >= 1 (kernels are centred)"
        )
    return int(size)


def _frames(name: str, frames: Sequence[ArrayLike] | NDArray[np.float64]) -> list[NDArray[np.float64]]:
    out = []
    for i, f in enumerate(frames):
        arr = np.asarray(f, dtype=np.float64)
        if arr.ndim not in (2, 3):
            raise StreamconvError(f"invalid {name} {i}: shape {arr.shape}; expected (H, W) or (H, W, C)")
        if not np.all(np.isfinite(arr)):
            raise StreamconvError(f"invalid {name} {i}: contains NaN or infinity; expected finite values")
        out.append(arr)
    if not out:
        raise StreamconvError(f"no {name} frames; expected at least one pair")
    return out


def _pairs(
    inputs: Sequence[ArrayLike], targets: Sequence[ArrayLike], size: int, *, same_depth: bool
) -> list[tuple[NDArray[np.float64], NDArray[np.float64]]]:
    xs, ys = _frames("input", inputs), _frames("target", targets)
    if len(xs) != len(ys):
        raise StreamconvError(f"{len(xs)} input frames and {len(ys)} target frames; expected pairs")
    pairs = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if x.shape[:2] != y.shape[:2] or (same_depth and x.shape != y.shape):
            raise StreamconvError(
                f"pair {i}: input of shape {x.shape} and target of shape {y.shape}; expected the same size"
            )
        if min(x.shape[:2]) < size:
            raise StreamconvError(
                f"pair {i}: frames of {x.shape[:2]} are smaller than the {size}x{size} kernel"
            )
        pairs.append((x, y))
    return pairs


class _QRLeastSquares:
    """``min ||A w - Y||`` accumulated block by block: keeps ``R`` and ``Q^T Y`` only."""

    def __init__(self, cols: int, rhs: int) -> None:
        self.r = np.zeros((0, cols))
        self.qty = np.zeros((0, rhs))
        self.rows = 0
        self.yy = np.zeros(rhs)

    def add(self, a: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        step = max(1, _BLOCK_VALUES // a.shape[1])
        for s in range(0, a.shape[0], step):
            ab, yb = a[s : s + step], y[s : s + step]
            q, self.r = np.linalg.qr(np.vstack((self.r, ab)))
            self.qty = q.T @ np.vstack((self.qty, yb))
            self.rows += ab.shape[0]

    def solve(self) -> NDArray[np.float64]:
        return np.linalg.lstsq(self.r, self.qty, rcond=None)[0]


@dataclass(frozen=True)
class KernelFit:
    """A fitted 2D kernel.

    Attributes
    ----------
    kernel : (F, F) ndarray
        Correlation weights, centred (the layout a ``kernel2d`` stage applies).
    residual_rms : float
        RMS of ``target - conv2d(input, kernel)`` over the windows fitted.
    target_rms : float
        RMS of the target over the same windows (the residual's scale).
    windows : int
        Rows of the least-squares problem (interior windows x channels x frames).
    """

    kernel: NDArray[np.float64]
    residual_rms: float
    target_rms: float
    windows: int


def fit_kernel2d(inputs: Sequence[ArrayLike], targets: Sequence[ArrayLike], size: int) -> KernelFit:
    """Fit one ``size`` x ``size`` kernel mapping every input frame onto its target.

    Parameters
    ----------
    inputs, targets : sequence of (H, W) or (H, W, C) array_like
        Frame pairs of equal shape (sizes may differ between pairs); colour frames give one
        set of rows per channel (one kernel for all channels, as a ``kernel2d`` stage applies).
    size : int
        ``F``, odd.

    Returns
    -------
    KernelFit

    Raises
    ------
    StreamconvError
        An even size, mismatched pair shapes or counts, frames smaller than the kernel, NaN.
    """
    f = check_kernel_size(size)
    r = f // 2
    ls = _QRLeastSquares(f * f, 1)
    for x, y in _pairs(inputs, targets, f, same_depth=True):
        xs = x[..., None] if x.ndim == 2 else x
        ys = y[..., None] if y.ndim == 2 else y
        for c in range(xs.shape[2]):
            win = sliding_window_view(xs[:, :, c], (f, f)).reshape(-1, f * f)
            ls.add(win, ys[r : ys.shape[0] - r, r : ys.shape[1] - r, c].reshape(-1, 1))
    kernel = ls.solve()[:, 0].reshape(f, f)
    sq = 0.0
    tq = 0.0
    for x, y in _pairs(inputs, targets, f, same_depth=True):
        xs = x[..., None] if x.ndim == 2 else x
        ys = y[..., None] if y.ndim == 2 else y
        for c in range(xs.shape[2]):
            pred = np.einsum("ijab,ab->ij", sliding_window_view(xs[:, :, c], (f, f)), kernel)
            t = ys[r : ys.shape[0] - r, r : ys.shape[1] - r, c]
            sq += float(((t - pred) ** 2).sum())
            tq += float((t**2).sum())
    return KernelFit(kernel, float(np.sqrt(sq / ls.rows)), float(np.sqrt(tq / ls.rows)), ls.rows)


@dataclass(frozen=True)
class BankFit:
    """A linear bank fitted to frames and their feature maps.

    Attributes
    ----------
    bank : (K, D, F, F) ndarray
        The layout of :class:`~streamconv.ops.conv3d.Bank3D` and a ``bank3d`` stage.
    residual_rms : float
        RMS of ``maps - conv3d(frame, bank)`` over the interior windows.
    windows : int
        Interior windows over all frames.
    """

    bank: NDArray[np.float64]
    residual_rms: float
    windows: int


def fit_bank3d(inputs: Sequence[ArrayLike], targets: Sequence[ArrayLike], size: int) -> BankFit:
    """Fit the ``(K, D, F, F)`` bank whose depth-spanning filters map frames onto their K maps.

    Parameters
    ----------
    inputs : sequence of (H, W, D) array_like
        Frames (a 2D frame is depth 1).
    targets : sequence of (H, W, K) array_like
        Their feature maps, ``same``-size (``conv3d(frame, bank, padding='same')``).
    size : int
        ``F``, odd.

    Returns
    -------
    BankFit
        Map ``k`` is a linear least-squares fit over the ``D F F`` window values, one problem
        per map sharing one QR factorisation.

    Examples
    --------
    >>> from streamconv.ops.conv3d import conv3d
    >>> rng = np.random.default_rng(1)
    >>> bank = rng.normal(size=(2, 3, 3, 3))
    >>> frames = [rng.random((12, 12, 3)) for _ in range(2)]
    >>> fit = fit_bank3d(frames, [conv3d(f, bank, padding="same") for f in frames], 3)
    >>> bool(np.allclose(fit.bank, bank, atol=1e-9))
    True
    """
    f = check_kernel_size(size)
    r = f // 2
    pairs = [(x if x.ndim == 3 else x[..., None], y if y.ndim == 3 else y[..., None])
             for x, y in _pairs(inputs, targets, f, same_depth=False)]
    depth, k = pairs[0][0].shape[2], pairs[0][1].shape[2]
    for i, (x, y) in enumerate(pairs):
        if (x.shape[2], y.shape[2]) != (depth, k):
            raise StreamconvError(
                f"pair {i}: depth {x.shape[2]} and {y.shape[2]} maps; pair 0 has {depth} and {k}"
            )
    ls = _QRLeastSquares(depth * f * f, k)

    def windows(x: NDArray[np.float64]) -> NDArray[np.float64]:
        # (H', W', D, F, F): window values ordered d, a, b, as the bank's (D, F, F)
        return sliding_window_view(x, (f, f), axis=(0, 1)).reshape(-1, depth * f * f)

    for x, y in pairs:
        ls.add(windows(x), y[r : y.shape[0] - r, r : y.shape[1] - r].reshape(-1, k))
    w = ls.solve()  # (D F F, K)
    sq = sum(float(((windows(x) @ w - y[r : y.shape[0] - r, r : y.shape[1] - r].reshape(-1, k)) ** 2).sum())
             for x, y in pairs)
    bank = w.T.reshape(k, depth, f, f)
    return BankFit(bank, float(np.sqrt(sq / (ls.rows * k))), ls.rows)
