r"""Subscription interest: the topic prefixes somebody subscribes to, as an XPUB socket reports them.

The publisher derives the set from the subscriptions it admits on its XPUB socket
(:class:`~streamconv.roles.subscriptions.Subscriptions`: the prefixes that match a topic) and
sends the prefix list to the producer and the workers (``peers`` messages), who build their own
:class:`Interest` from it.  Pure data, no sockets.

Examples
--------
>>> i = Interest()
>>> i.update(b"\x01laser/")
True
>>> i.wants("laser/smoothed"), i.wants("camera/raw"), i.wants_stream("laser")
(True, False, True)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Interest"]


class Interest:
    """The set of subscribed topic prefixes, with cached per-topic answers.

    Parameters
    ----------
    prefixes : iterable of str
        The initial prefixes.
    everything : bool
        Want every topic (tests, and a publisher without XPUB).
    """

    def __init__(self, prefixes: Iterable[str] = (), *, everything: bool = False) -> None:
        self.everything = everything
        self._prefixes: frozenset[str] = frozenset(prefixes)
        self._cache: dict[str, bool] = {}
        self.version = 0

    @property
    def prefixes(self) -> frozenset[str]:
        """The subscribed prefixes."""
        return self._prefixes

    def update(self, event: bytes) -> bool:
        """Apply one XPUB subscription event; return True if the set changed."""
        if not event or event[0] not in (0, 1):
            return False
        prefix = event[1:].decode("utf-8", errors="replace")
        new = self._prefixes | {prefix} if event[0] == 1 else self._prefixes - {prefix}
        return self.replace(new)

    def replace(self, prefixes: Iterable[str]) -> bool:
        """Set the prefixes (as a peer reported them); return True if the set changed."""
        new = frozenset(prefixes)
        if new == self._prefixes:
            return False
        self._prefixes = new
        self._cache = {}
        self.version += 1
        return True

    def wants(self, topic: str) -> bool:
        """Return True if some subscriber receives ``topic``."""
        if self.everything:
            return True
        hit = self._cache.get(topic)
        if hit is None:
            hit = any(topic.startswith(p) for p in self._prefixes)
            self._cache[topic] = hit
        return hit

    def wants_stream(self, stream: str) -> bool:
        """Return True if some subscriber receives any topic of ``stream``."""
        if self.everything:
            return True
        head = f"{stream}/"
        return any(p.startswith(head) or head.startswith(p) for p in self._prefixes)

    def __repr__(self) -> str:
        return f"Interest({sorted(self._prefixes)!r})"
