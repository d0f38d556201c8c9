"""The publisher's reorder buffer: results back in ``seq`` order, a lost one skipped, never a stall.

Workers finish inputs out of order (two workers, a resent frame).  :class:`Reorder` holds what
arrived early and releases a stream strictly in ``seq`` order.  A missing number is skipped
(counted with its reason) as soon as the producer says it will never come, or when the buffer
holds more than ``window`` items, or when the oldest item waiting behind the gap has waited
``deadline_ns``: a lost input costs at most the deadline, never a stall, and nothing is ever
released out of order.  Pure logic, no sockets; time is passed in.

Examples
--------
>>> r = Reorder(window=4, deadline_ns=100, start=0)
>>> r.add(1, "b", now=0), r.add(0, "a", now=5)
('ok', 'ok')
>>> r.release(now=5)
[(0, 'a', None), (1, 'b', None)]
>>> r.add(3, "d", now=10)
'ok'
>>> r.release(now=50), r.release(now=110)
([], [(2, None, 'timeout'), (3, 'd', None)])
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["Reorder"]

#: Skipped numbers remembered, to tell a late arrival from a duplicate.
_RECENT_SKIPS = 4096


class Reorder:
    """One stream's reorder buffer.

    Parameters
    ----------
    window : int
        Most items held behind a gap; one more and the gap is skipped (reason ``'window'``).
    deadline_ns : int
        Longest an item waits behind a gap before the gap is skipped (reason ``'timeout'``).
    start : int, optional
        The first ``seq`` expected; by default the first one added.
    """

    def __init__(self, *, window: int, deadline_ns: int, start: int | None = None) -> None:
        if window < 1 or deadline_ns < 0:
            raise ValueError(f"invalid reorder window {window} / deadline {deadline_ns} ns")
        self.window = window
        self.deadline_ns = deadline_ns
        self.next_seq: int | None = start
        self._held: dict[int, tuple[Any, int]] = {}  # seq -> (item, arrival time)
        self._lost: dict[int, str] = {}  # seq -> reason, announced by the producer
        self._skipped: deque[int] = deque(maxlen=_RECENT_SKIPS)
        self._skipped_set: set[int] = set()

    def __len__(self) -> int:
        return len(self._held)

    @property
    def pending(self) -> bool:
        """True while something is held or announced lost: :meth:`release` may have work."""
        return bool(self._held or self._lost)

    @property
    def watermark(self) -> int:
        """The highest ``seq`` released or skipped (-1 before any)."""
        return -1 if self.next_seq is None else self.next_seq - 1

    def add(self, seq: int, item: Any, *, now: int) -> str:
        """Hold ``item``; return ``'ok'``, ``'late'`` (its seq was skipped) or ``'duplicate'``."""
        if self.next_seq is None:
            self.next_seq = seq
        if seq < self.next_seq:
            return "late" if seq in self._skipped_set else "duplicate"
        if seq in self._held:
            return "duplicate"
        self._held[seq] = (item, now)
        return "ok"

    def lost(self, seq: int, reason: str) -> None:
        """Mark ``seq`` as never coming (the producer said so), to be skipped without waiting."""
        if self.next_seq is None or seq >= self.next_seq:
            self._lost.setdefault(seq, reason)

    def release(self, *, now: int, flush: bool = False) -> list[tuple[int, Any, str | None]]:
        """Return ``(seq, item, None)`` for released items and ``(seq, None, reason)`` for skips, in order.

        ``flush=True`` (shutdown) skips every gap so that everything held is released.
        """
        out: list[tuple[int, Any, str | None]] = []
        held = self._held
        if self.next_seq is None:
            return out
        while True:
            seq = self.next_seq
            if seq in held:
                item, _ = held.pop(seq)
                self._lost.pop(seq, None)
                out.append((seq, item, None))
            elif seq in self._lost:
                out.append((seq, None, self._skip(seq, self._lost.pop(seq))))
            elif not held:
                break
            elif flush:
                out.append((seq, None, self._skip(seq, "shutdown")))
            elif len(held) > self.window:
                out.append((seq, None, self._skip(seq, "window")))
            elif now - self._oldest() >= self.deadline_ns:
                out.append((seq, None, self._skip(seq, "timeout")))
            else:
                break
            self.next_seq = seq + 1
        return out

    def _skip(self, seq: int, reason: str) -> str:
        if len(self._skipped) == self._skipped.maxlen:
            self._skipped_set.discard(self._skipped[0])
        self._skipped.append(seq)
        self._skipped_set.add(seq)
        return reason

    def next_deadline(self) -> int | None:
        """When the oldest held item's wait ends (ns), or None if nothing waits behind a gap."""
        if not self._held:
            return None
        return self._oldest() + self.deadline_ns

    def _oldest(self) -> int:
        # dicts keep insertion order and arrival times only grow: the first held item is the oldest
        return next(iter(self._held.values()))[1]
