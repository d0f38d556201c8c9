"""The source contracts: the items sources yield and the protocols sample and frame sources follow."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from streamconv.errors import StreamconvError

__all__ = ["FrameItem", "FrameSource", "SampleChunk", "SampleSource"]


@dataclass(frozen=True, slots=True)
class SampleChunk:
    """Consecutive samples of a 1D sensor, as a sample source yields them.

    Attributes
    ----------
    t_capture_ns : int
        Unix time in ns of the capture of the **first** sample; sample ``k`` was captured at
        ``t_capture_ns + k * period_ns``.
    period_ns : int
        The sample period in ns.
    values : (n,) ndarray of float64
        The measurements; NaN where a dropout happened.
    truth : (n,) ndarray of float64 or None
        The ground truth of the same samples (simulators only; ``None`` for real sensors).

    Examples
    --------
    >>> chunk = SampleChunk(1_000, 10, np.array([1.0, np.nan]), None)
    >>> len(chunk), chunk.times_ns().tolist()
    (2, [1000, 1010])
    """

    t_capture_ns: int
    period_ns: int
    values: np.ndarray
    truth: np.ndarray | None

    def __post_init__(self) -> None:
        if self.values.ndim != 1:
            raise StreamconvError(f"invalid values: {self.values.ndim}D array; expected 1D")
        if self.truth is not None and self.truth.shape != self.values.shape:
            raise StreamconvError(
                f"invalid truth of shape {self.truth.shape}; expected the values' shape {self.values.shape}"
            )

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def times_ns(self) -> np.ndarray:
        """Return the capture time of every sample, ``t_capture_ns + k * period_ns``, as int64."""
        return self.t_capture_ns + np.arange(len(self), dtype=np.int64) * self.period_ns


@dataclass(frozen=True, slots=True)
class FrameItem:
    """One video frame, as a frame source yields it.

    Attributes
    ----------
    t_capture_ns : int
        Unix time in ns of the capture (as given by the caller of ``read``).
    index : int
        Frame counter of the source, from 0.
    image : (H, W, 3) ndarray of uint8
        The frame, BGR, C-contiguous.
    """

    t_capture_ns: int
    index: int
    image: np.ndarray

    def __post_init__(self) -> None:
        img = self.image
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or not img.flags.c_contiguous:
            raise StreamconvError(
                f"invalid image: {img.dtype} array of shape {img.shape}; "
                "expected a C-contiguous (H, W, 3) uint8 BGR array"
            )


@runtime_checkable
class SampleSource(Protocol):
    """A source of 1D sensor samples; the caller owns time and decides when to read."""

    @property
    def rate_hz(self) -> float:
        """The nominal sample rate in Hz."""
        ...

    def read(self, n: int, t_capture_ns: int) -> SampleChunk:
        """Return the next ``n`` samples, the first one captured at ``t_capture_ns``."""
        ...

    def close(self) -> None:
        """Release the source's resources."""
        ...


@runtime_checkable
class FrameSource(Protocol):
    """A source of video frames; the caller owns time and decides when to read."""

    @property
    def fps(self) -> float:
        """The nominal frame rate in frames per second (0 = unthrottled: the caller does not pace)."""
        ...

    def read(self, t_capture_ns: int) -> FrameItem | None:
        """Return the next frame, or None when no frame is available now; never raise for I/O trouble."""
        ...

    def close(self) -> None:
        """Release the source's resources."""
        ...

    @property
    def exhausted(self) -> bool:
        """True once a finite source (a file without loop) has ended: the caller stops the stream."""
        ...


def _check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a finite float within the given bounds; else raise naming the range.

    ``low_open`` makes the lower bound strict (``value > low``).
    """
    if low is not None and high is not None:
        rule = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"
    elif low is not None:
        rule = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        rule = "a finite number"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise StreamconvError(f"invalid {name} {value!r}; expected {rule}")
    x = float(value)
    ok = math.isfinite(x)
    if ok and low is not None:
        ok = x > low if low_open else x >= low
    if ok and high is not None:
        ok = x <= high
    if not ok:
        raise StreamconvError(f"invalid {name} {value!r}; expected {rule}")
    return x
