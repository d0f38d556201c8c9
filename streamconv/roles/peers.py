"""Membership from heartbeats: who was heard from, how long ago, and who fell silent.

Every role sends a heartbeat every ``heartbeat_ms`` (100 ms by default); a peer silent for
``dead_after_ms`` (300 ms) is dead.  Measured here with pyzmq: a SIGKILLed worker is noticed
0.30 s after its last beat, against about 1.5 s for Ray's own notice
(``../shared/notes/scale-out-engines.md``).  Pure data; time is passed in.

Examples
--------
>>> p = Peers(dead_after_ns=300)
>>> p.heard("w1", {"role": "worker"}, now=0)
True
>>> p.heard("w1", {"role": "worker"}, now=100), p.expire(now=350), p.expire(now=401)
(False, [], ['w1'])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Peer", "Peers"]


@dataclass
class Peer:
    """One peer: its id, its last heartbeat's body and when it came."""

    id: str
    info: dict[str, Any]
    first_ns: int
    last_ns: int
    state: dict[str, Any] = field(default_factory=dict)  # the owner's own notes on this peer


class Peers:
    """The live peers of one role, keyed by id."""

    def __init__(self, *, dead_after_ns: int) -> None:
        self.dead_after_ns = dead_after_ns
        self._peers: dict[str, Peer] = {}

    def heard(self, peer_id: str, info: dict[str, Any], *, now: int) -> bool:
        """Record a heartbeat; return True when the peer is new (or back after being dead)."""
        peer = self._peers.get(peer_id)
        if peer is None:
            self._peers[peer_id] = Peer(peer_id, info, now, now)
            return True
        peer.info = info
        peer.last_ns = now
        return False

    def expire(self, *, now: int) -> list[str]:
        """Remove and return the peers silent for longer than ``dead_after_ns``."""
        dead = [pid for pid, p in self._peers.items() if now - p.last_ns > self.dead_after_ns]
        for pid in dead:
            del self._peers[pid]
        return dead

    def remove(self, peer_id: str) -> None:
        """Forget a peer (it said it stops)."""
        self._peers.pop(peer_id, None)

    def get(self, peer_id: str) -> Peer | None:
        """Return the peer with this id, if alive."""
        return self._peers.get(peer_id)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._peers.values()))

    def __len__(self) -> int:
        return len(self._peers)
