"""FramePool: frame buffers reused once nobody holds them any more, instead of one new array per frame.

A source hands its frame to the pipeline, which may send it zero-copy (ZeroMQ keeps a reference
until the bytes are out), publish it, keep it as the latest frame, or take views of it.  All of
these hold a reference to the array, so the array is free again exactly when the pool's own
reference is the only one left (CPython reference counting).  The pool then hands the same
memory out again, with no allocation and no page faults, and says whether it is fresh so the
source can redraw only what changed since that buffer was last filled.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FramePool", "PooledFrame"]


@dataclass(slots=True, eq=False)
class PooledFrame:
    """One buffer of a :class:`FramePool`; ``tag`` is the source's note of what it holds."""

    array: np.ndarray
    fresh: bool = True
    tag: Any = field(default=None)


class FramePool:
    """Up to ``size`` buffers of one shape and dtype, lent out again once released.

    Parameters
    ----------
    shape : tuple of int
        Shape of every buffer.
    dtype : dtype-like
        Their dtype.
    size : int
        How many buffers to keep (>= 1).  When all are still in use, :meth:`take` returns an
        unpooled new array rather than wait or overwrite one.

    Examples
    --------
    >>> pool = FramePool((2, 2), np.uint8, size=2)
    >>> a = pool.take()
    >>> frame = a.array  # handed out: somebody holds it
    >>> a.fresh, pool.take() is a  # so a second buffer is made
    (True, False)
    >>> del frame
    >>> b = pool.take()
    >>> b is a, b.fresh  # nothing but the pool refers to a.array any more: lent out again
    (True, False)
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, *, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"invalid size {size}; expected >= 1")
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.size = size
        self._slots: list[PooledFrame] = []
        #: How many takes found every buffer in use and returned an unpooled array.
        self.misses = 0

    def take(self) -> PooledFrame:
        """Return a buffer nobody else refers to (``fresh`` False), or a new one (``fresh`` True)."""
        for slot in self._slots:
            # references: slot.array and getrefcount's own argument; anything more is a user
            if sys.getrefcount(slot.array) <= 2:
                slot.fresh = False
                return slot
        new = PooledFrame(np.empty(self.shape, self.dtype))
        if len(self._slots) < self.size:
            self._slots.append(new)
        else:
            self.misses += 1
        return new
