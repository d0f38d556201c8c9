r"""Subscription admission: which subscriptions the publish socket keeps, with a bound per peer and in total.

The publisher's XPUB runs in manual mode (``ZMQ_XPUB_MANUAL``): ZeroMQ applies a subscription
only when the publisher confirms it, so what subscribers can make the daemon hold is decided
here, in O(1) per event (O(topics) for a new prefix).

- A prefix **live** now, i.e. one that some topic of the daemon starts with (``laser/``,
  ``camera/sharpen``, ``''`` for everything), is always accepted: there are only as many of them
  as the topics have characters, so a legitimate subscriber is never refused.
- Any other prefix (it matches no topic today; it might match an output added later) counts
  against its peer's quota (:data:`MAX_PER_PEER`) and the total (:data:`MAX_TOTAL`); a prefix
  longer than :data:`~streamconv.limits.MAX_TOPIC_BYTES`, or not valid UTF-8, cannot match a
  topic and is refused.
  Refusals are counted by reason.
- A peer is its CurveZMQ client key when ZAP authenticates it (the ``User-Id`` property), else its
  address (``Peer-Address``): on one host every local subscriber shares one quota, which only
  subscriptions that match nothing use.
- Unsubscriptions that ZeroMQ reports for a closed connection carry no peer; they release the
  prefix from a peer that holds it.

:attr:`live` is the set the producer and workers get as interest: bounded by the topics, whatever
the peers send.  Pure data, no sockets.

Examples
--------
>>> s = Subscriptions({"laser/raw", "laser/smoothed"}, max_per_peer=1)
>>> s.event(b"\x01laser/", "10.0.0.2"), s.event(b"\x01nothing", "10.0.0.2"), s.event(b"\x01x", "10.0.0.2")
('subscribe', 'subscribe', 'refuse')
>>> sorted(s.live), dict(s.refused)
(['laser/'], {'peer_limit': 1})
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Final, Literal

from streamconv import limits

__all__ = ["MAX_PER_PEER", "MAX_TOTAL", "Subscriptions"]

#: Prefixes that match no topic, per peer and in total.
MAX_PER_PEER: Final = 1000
MAX_TOTAL: Final = 10_000

Action = Literal["subscribe", "unsubscribe", "released", "refuse", "ignore"]


class Subscriptions:
    """The accepted subscriptions and what they make live.

    Parameters
    ----------
    topics : iterable of str
        The daemon's topics now (see :meth:`set_topics` when outputs change).
    max_per_peer, max_total : int
        Quotas for prefixes that match no topic.
    """

    def __init__(
        self, topics: Iterable[str], *, max_per_peer: int = MAX_PER_PEER, max_total: int = MAX_TOTAL
    ) -> None:
        self.max_per_peer = max_per_peer
        self.max_total = max_total
        self.topics: frozenset[str] = frozenset(topics)
        self.count: Counter[str] = Counter()  # prefix -> accepted subscriptions still held
        self.held: dict[str, Counter[str]] = defaultdict(Counter)  # peer -> prefix -> count
        self.idle_by_peer: Counter[str] = Counter()  # peer -> distinct held prefixes matching nothing
        self._live: set[str] = set()
        self._idle = 0
        self.version = 0  # +1 whenever live changes
        self.refused: Counter[str] = Counter()
        self.accepted = 0

    def matches(self, prefix: str) -> bool:
        """Return True if some topic starts with ``prefix``."""
        return any(t.startswith(prefix) for t in self.topics)

    @property
    def live(self) -> frozenset[str]:
        """The held prefixes that match some topic: what somebody can receive now."""
        return frozenset(self._live)

    def set_topics(self, topics: Iterable[str]) -> bool:
        """Set the daemon's topics (an output added or removed); return True if :attr:`live` changed."""
        self.topics = frozenset(topics)
        self.idle_by_peer = Counter()
        for peer, held in self.held.items():
            for p in held:
                if not self.matches(p):
                    self.idle_by_peer[peer] += 1
        self._idle = sum(1 for p in self.count if not self.matches(p))
        live = {p for p in self.count if self.matches(p)}
        if live == self._live:
            return False
        self._live = live
        self.version += 1
        return True

    def event(self, data: bytes, peer: str | None) -> Action:
        r"""Take one XPUB event (``\x01prefix`` or ``\x00prefix``) from ``peer`` (None: a closed connection).

        Returns what the socket must do: ``'subscribe'`` or ``'unsubscribe'`` (confirm it for the
        peer that sent it), ``'released'`` (ZeroMQ already dropped it: nothing to do), ``'refuse'``
        (do not confirm) or ``'ignore'`` (not a subscription event).
        """
        if not data or data[0] not in (0, 1):
            return "ignore"
        raw = data[1:]
        if len(raw) > limits.MAX_TOPIC_BYTES:
            if data[0] == 1:
                self.refused["too_long"] += 1
                return "refuse"
            return "ignore"
        try:  # strict: two different byte strings must never become one prefix
            prefix = raw.decode("utf-8")
        except UnicodeDecodeError:
            if data[0] == 1:
                self.refused["not_utf8"] += 1
                return "refuse"
            return "ignore"
        if data[0] == 1:
            return self._subscribe(prefix, peer or "?")
        return self._unsubscribe(prefix, peer)

    def _subscribe(self, prefix: str, peer: str) -> Action:
        held = self.held[peer]
        idle = not self.matches(prefix)
        if idle and prefix not in held:
            if self.idle_by_peer[peer] >= self.max_per_peer:
                self.refused["peer_limit"] += 1
                return "refuse"
            if prefix not in self.count and self._idle >= self.max_total:
                self.refused["total_limit"] += 1
                return "refuse"
            self.idle_by_peer[peer] += 1
        if prefix not in self.count and idle:
            self._idle += 1
        held[prefix] += 1
        self.count[prefix] += 1
        self.accepted += 1
        if not idle and self.count[prefix] == 1:
            self._live.add(prefix)
            self.version += 1
        return "subscribe"

    def _unsubscribe(self, prefix: str, peer: str | None) -> Action:
        if peer is None:  # a closed connection: release it from a peer that holds it
            holder = next((k for k, h in self.held.items() if h.get(prefix)), None)
            if holder is None:
                return "ignore"
            self._release(holder, prefix)
            return "released"
        if not self.held.get(peer, {}).get(prefix):
            return "ignore"  # refused before, or never held: nothing to undo
        self._release(peer, prefix)
        return "unsubscribe"

    def _release(self, peer: str, prefix: str) -> None:
        held = self.held[peer]
        held[prefix] -= 1
        idle = not self.matches(prefix)
        if held[prefix] <= 0:
            del held[prefix]
            if idle:
                self.idle_by_peer[peer] -= 1
            if not held:
                del self.held[peer]
                self.idle_by_peer.pop(peer, None)
        self.count[prefix] -= 1
        if self.count[prefix] <= 0:
            del self.count[prefix]
            if idle:
                self._idle -= 1
            else:
                self._live.discard(prefix)
                self.version += 1

    def snapshot(self) -> dict[str, object]:
        """Return the counts ``status`` reports (no prefix lists beyond the live ones)."""
        return {
            "live": sorted(self._live),
            "held": len(self.count),
            "idle": self._idle,
            "peers": len(self.held),
            "accepted": self.accepted,
            "refused": dict(self.refused),
        }
