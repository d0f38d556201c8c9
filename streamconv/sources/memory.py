"""In-memory twins of the sources and sinks, so pipelines are tested without sensors, cameras or sockets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_int
from streamconv.sources.base import FrameItem, SampleChunk, _check_real

__all__ = ["ListFrameSource", "ListSampleSource", "ListSink"]


class ListSampleSource:
    """A sample source that yields consecutive slices of a given series.

    Parameters
    ----------
    values : (N,) array_like
        The measurements (NaN allowed: a dropout).
    truth : (N,) array_like, optional
        Ground truth of the same samples.
    rate_hz : float
        Nominal sample rate (> 0); the chunks' period is ``round(1e9 / rate_hz)`` ns.

    Notes
    -----
    Reading past the end returns a shorter (possibly empty) chunk; ``exhausted`` then is True.

    Examples
    --------
    >>> src = ListSampleSource([1.0, 2.0, 3.0], rate_hz=10.0)
    >>> src.read(2, t_capture_ns=0).values.tolist(), src.read(2, t_capture_ns=0).values.tolist()
    ([1.0, 2.0], [3.0])
    """

    def __init__(self, values: ArrayLike, truth: ArrayLike | None = None, rate_hz: float = 100.0) -> None:
        self._values = np.array(values, dtype=np.float64)
        if self._values.ndim != 1:
            raise StreamconvError(f"invalid values: {self._values.ndim}D array; expected 1D")
        self._truth = None if truth is None else np.array(truth, dtype=np.float64)
        if self._truth is not None and self._truth.shape != self._values.shape:
            raise StreamconvError(
                f"invalid truth of shape {self._truth.shape}; expected the values' shape {self._values.shape}"
            )
        self._rate_hz = _check_real("rate_hz", rate_hz, low=0.0, low_open=True)
        self._period_ns = round(1e9 / self._rate_hz)
        self.samples_read = 0

    @property
    def rate_hz(self) -> float:
        """The nominal sample rate in Hz."""
        return self._rate_hz

    @property
    def exhausted(self) -> bool:
        """True once every sample has been read."""
        return self.samples_read >= len(self._values)

    def read(self, n: int, t_capture_ns: int) -> SampleChunk:
        """Return the next ``n`` samples (fewer at the end), the first stamped ``t_capture_ns``."""
        n = check_int("n", n, minimum=0)
        lo = min(self.samples_read, len(self._values))
        hi = min(lo + n, len(self._values))
        self.samples_read = hi
        truth = None if self._truth is None else self._truth[lo:hi].copy()
        return SampleChunk(int(t_capture_ns), self._period_ns, self._values[lo:hi].copy(), truth)

    def close(self) -> None:
        """Do nothing: the list holds no resources."""

    def reset(self) -> None:
        """Start again from the first sample."""
        self.samples_read = 0


class ListFrameSource:
    """A frame source that yields the given frames in order, once or in a loop.

    Parameters
    ----------
    frames : sequence of (H, W, 3) uint8 arrays
        The frames (BGR).
    fps : float
        Nominal frame rate (>= 0; 0 = unthrottled).
    loop : bool
        Start again from the first frame at the end; otherwise ``read`` returns None and
        ``exhausted`` becomes True.

    Examples
    --------
    >>> src = ListFrameSource([np.zeros((2, 2, 3), np.uint8)])
    >>> src.read(5).index, src.read(6), src.exhausted
    (0, None, True)
    """

    def __init__(self, frames: Iterable[np.ndarray], fps: float = 30.0, loop: bool = False) -> None:
        self._frames = [np.ascontiguousarray(f) for f in frames]
        for k, f in enumerate(self._frames):
            if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3:
                raise StreamconvError(
                    f"invalid frames[{k}]: {f.dtype} array of shape {f.shape}; expected (H, W, 3) uint8"
                )
        self._fps = _check_real("fps", fps, low=0.0)
        self._loop = bool(loop)
        self.frames_read = 0

    @property
    def fps(self) -> float:
        """The nominal frame rate (0 = unthrottled)."""
        return self._fps

    @property
    def exhausted(self) -> bool:
        """True once every frame was read and ``loop`` is off (or there are no frames)."""
        if not self._frames:
            return True
        return not self._loop and self.frames_read >= len(self._frames)

    def read(self, t_capture_ns: int) -> FrameItem | None:
        """Return the next frame (a copy), stamped ``t_capture_ns``; None once exhausted."""
        if self.exhausted:
            return None
        i = self.frames_read
        self.frames_read += 1
        return FrameItem(int(t_capture_ns), i, self._frames[i % len(self._frames)].copy())

    def close(self) -> None:
        """Do nothing: the list holds no resources."""

    def reset(self) -> None:
        """Start again from the first frame."""
        self.frames_read = 0


class ListSink:
    """A sink that keeps everything it is given, in order, in :attr:`items`.

    Examples
    --------
    >>> sink = ListSink()
    >>> sink.send(1); sink(2)
    >>> sink.items, len(sink)
    ([1, 2], 2)
    """

    def __init__(self) -> None:
        self.items: list[Any] = []

    def send(self, item: Any) -> None:
        """Append ``item`` to :attr:`items`."""
        self.items.append(item)

    __call__ = send

    def __len__(self) -> int:
        return len(self.items)

    def clear(self) -> None:
        """Forget the items collected so far."""
        self.items.clear()

    def close(self) -> None:
        """Do nothing: the list holds no resources."""
