"""The producer's replay ring: a sample stream's recent inputs, kept until published and for state.

A causal window's whole state is its last ``m - 1`` inputs.  The ring keeps every chunk the
publisher has not acknowledged yet (so a dead worker's chunks can be sent again) and, behind
them, at least ``history`` already published samples (so the worker that takes the stream over
rebuilds the exact state first).  While the ring still holds the stream's first chunk the
replay starts there, so even the warm-up is reproduced exactly.  Pure data, no sockets.

Examples
--------
>>> ring = ReplayRing(history=3, max_samples=100)
>>> for seq in range(4):
...     _ = ring.append(seq, 2, f"chunk{seq}")
>>> ring.ack(2)
>>> [e.seq for e in ring.state_entries()], [e.seq for e in ring.unacked()]
([1, 2], [3])
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = ["ReplayRing", "RingEntry"]


@dataclass(frozen=True, slots=True)
class RingEntry:
    """One chunk: its ``seq``, its number of samples and its encoded work message."""

    seq: int
    n: int
    item: Any


class ReplayRing:
    """Recent chunks of one sample stream, keyed by ``seq``.

    Parameters
    ----------
    history : int
        Published samples kept behind the unacknowledged ones: the state a successor rebuilds
        (the sum of ``m - 1`` over the chain's causal windows).
    max_samples : int
        Bound on the unacknowledged samples; beyond it the oldest are dropped and returned by
        :meth:`append` (a real loss, counted by the producer).
    """

    def __init__(self, *, history: int, max_samples: int) -> None:
        self.history = max(0, int(history))
        self.max_samples = int(max_samples)
        self._entries: deque[RingEntry] = deque()
        self.acked = -1
        self._acked_samples = 0  # samples in entries with seq <= acked
        self._unacked_samples = 0

    def __len__(self) -> int:
        return len(self._entries)

    def append(self, seq: int, n: int, item: Any) -> list[RingEntry]:
        """Add a chunk; return the unacknowledged entries dropped to stay within ``max_samples``."""
        self._entries.append(RingEntry(seq, n, item))
        self._unacked_samples += n
        dropped = []
        while self._unacked_samples > self.max_samples and len(self._entries) > 1:
            first = self._first_unacked_index()
            if first is None or first == len(self._entries) - 1:
                break
            entry = self._entries[first]
            del self._entries[first]
            self._unacked_samples -= entry.n
            dropped.append(entry)
        return dropped

    def ack(self, upto: int) -> None:
        """Every ``seq <= upto`` is published (or skipped): keep only ``history`` samples of them."""
        if upto <= self.acked:
            return
        self.acked = upto
        self._acked_samples = 0
        self._unacked_samples = 0
        for e in self._entries:
            if e.seq <= upto:
                self._acked_samples += e.n
            else:
                self._unacked_samples += e.n
        entries = self._entries
        while entries and entries[0].seq <= upto and self._acked_samples - entries[0].n >= self.history:
            self._acked_samples -= entries.popleft().n

    def state_entries(self) -> list[RingEntry]:
        """Return the published chunks kept for state, oldest first (replayed as state only)."""
        return [e for e in self._entries if e.seq <= self.acked]

    def unacked(self) -> list[RingEntry]:
        """Return the chunks not yet acknowledged, oldest first (replayed as work)."""
        return [e for e in self._entries if e.seq > self.acked]

    def _first_unacked_index(self) -> int | None:
        for i, e in enumerate(self._entries):
            if e.seq > self.acked:
                return i
        return None
