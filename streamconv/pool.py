"""FramePool: frame buffers reused once nobody holds them any more, instead of one new array per frame.

A source or a filter hands its frame on: the pipeline may send it zero-copy (ZeroMQ keeps a
reference until the bytes are out), publish it, keep it as the latest frame, or take views of it.
All of these hold a reference to the array, so the array is free again exactly when the pool's
own reference is the only one left (CPython reference counting).  The pool then lends the same
memory out again, with no allocation, and says whether it is fresh, so that a source can redraw
only what changed since that buffer was last filled.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FramePool", "PooledFrame"]


@dataclass(slots=True, eq=False)
class PooledFrame:
    """One buffer of a :class:`FramePool`; ``tag`` is the owner's note of what it holds."""

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
    >>> frame, slot = pool.take()  # ``frame`` is held here
    >>> slot.fresh, pool.take()[1] is slot  # so a second buffer is made
    (True, False)
    >>> del frame
    >>> frame, again = pool.take()
    >>> again is slot, again.fresh  # nothing but the pool referred to it: lent out again
    (True, False)
    """

    def __init__(self, shape: tuple[int, ...], dtype: Any, *, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"invalid size {size}; expected >= 1")
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.size = size
        self._slots: list[PooledFrame] = []
        self._lock = threading.Lock()
        #: How many takes found every buffer in use and returned an unpooled array.
        self.misses = 0

    def take(self) -> tuple[np.ndarray, PooledFrame]:
        """Return ``(array, slot)``: a buffer nobody else refers to, or a new one (``slot.fresh``).

        The returned array reference is what marks the buffer in use, so it is taken under the
        pool's lock: two threads never get the same buffer.
        """
        with self._lock:
            for slot in self._slots:
                # references: slot.array and getrefcount's own argument; anything more is a user
                if sys.getrefcount(slot.array) <= 2:
                    slot.fresh = False
                    return slot.array, slot
            new = PooledFrame(np.empty(self.shape, self.dtype))
            if len(self._slots) < self.size:
                self._slots.append(new)
            else:
                self.misses += 1
            return new.array, new
