"""TemporalFIR: the causal weighted window applied to every pixel across successive frames."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamconv.ops._dtype import is_integer, saturate
from streamconv.ops.fir import CausalWeights, Warmup

__all__ = ["TemporalFIR"]


class TemporalFIR:
    r"""Causal weighted window ``out_t = sum_{a=0}^{m-1} frame_{t-a} w_{-a}`` over a frame stream.

    Each pixel (and channel) is the series of :class:`streamconv.ops.fir.CausalFIR`, with the
    same weights, normalization and warm-up policies (one :class:`CausalWeights` implements
    them for both).

    Parameters
    ----------
    weights : (m,) array_like
        Finite weights **oldest to newest**: the newest frame meets the last weight.
    normalize : bool
        Divide the weights by their sum (which must not be 0).
    warmup : {'renormalize', 'zeros', 'first'}
        Output while fewer than ``m`` frames have been seen, as in ``CausalFIR``: only the frames
        seen, rescaled by ``sum(w) / sum(w seen)``; zeros before the stream; or the first frame
        repeated.

    Notes
    -----
    The sums are computed in float32.  Integer frames through weights summing to 1 stay in their
    dtype (rounded half to even, saturated); every other output is float32.  The state is the
    last ``m - 1`` frames; a frame of another shape than the previous one restarts the window.

    Examples
    --------
    >>> tf = TemporalFIR([0.25, 0.75], warmup="zeros")
    >>> [tf(np.full((1, 1), v, np.float32)).item() for v in (4.0, 8.0, 0.0)]
    [3.0, 7.0, 2.0]
    """

    def __init__(
        self, weights: ArrayLike, *, normalize: bool = False, warmup: Warmup = "renormalize"
    ) -> None:
        self._cw = CausalWeights(weights, normalize=normalize, warmup=warmup)
        self._w32 = self._cw.weights.astype(np.float32)
        self._saturates = abs(self._cw.total - 1.0) < 1e-9
        self.reset()

    @property
    def weights(self) -> NDArray[np.float64]:
        """The weights, oldest to newest (normalized when asked; read-only)."""
        return self._cw.weights

    @property
    def warmup(self) -> Warmup:
        """The warm-up policy."""
        return self._cw.warmup

    def reset(self) -> None:
        """Forget the frames seen."""
        self._hist: deque[np.ndarray] = deque(maxlen=self._cw.m - 1)
        self._shape: tuple[int, ...] | None = None

    def __call__(self, frame: NDArray[Any]) -> NDArray[Any]:
        """Filter one frame against the previous ``m - 1``; return an array of its shape."""
        if self._shape != frame.shape:
            self.reset()
            self._shape = frame.shape
        x = frame.astype(np.float32)
        m, w = self._cw.m, self._w32
        hist = self._hist
        if not hist:
            before = self._cw.assumed(x, np.zeros_like(x))
            if before is not None:
                hist.extend(before for _ in range(m - 1))
        n = len(hist)
        acc = x * w[-1]
        # hist holds the newest n frames (oldest first); they meet the weights just before the last
        for frame_j, w_j in zip(hist, w[m - 1 - n : m - 1], strict=True):
            acc += frame_j * w_j
        if n < m - 1:  # renormalize warm-up: only the frames seen
            acc *= np.float32(self._cw.scale(n))
        if m > 1:
            hist.append(x)
        if is_integer(frame.dtype) and self._saturates:
            return saturate(acc, frame.dtype)
        return acc

    def output_dtype(self, image_dtype: np.dtype) -> np.dtype:
        """Return the dtype of the output for frames of ``image_dtype``."""
        if is_integer(image_dtype) and self._saturates:
            return np.dtype(image_dtype)
        return np.dtype(np.float32)

    def __len__(self) -> int:
        return self._cw.m

    def __repr__(self) -> str:
        return (
            f"TemporalFIR(weights={self._cw.weights.tolist()}, normalize={self._cw.normalize}, "
            f"warmup={self._cw.warmup!r})"
        )
