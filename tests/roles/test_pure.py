"""The roles' pure parts without sockets: reorder buffer, replay ring, membership, link messages.

Evidence: invariants over random arrival orders and kill points (released strictly in order,
each seq exactly once, nothing held forever), and a naive replay of the ring against CausalFIR
over the whole series (the state a successor rebuilds is exact).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamconv.errors import WireError
from streamconv.ops.fir import CausalFIR
from streamconv.roles import protocol
from streamconv.roles.interest import Interest
from streamconv.roles.peers import Peers
from streamconv.roles.reorder import Reorder
from streamconv.roles.ring import ReplayRing


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 60), data=st.data())
def test_reorder_releases_every_seq_once_in_order_whatever_the_arrival_order(n, data):
    order = data.draw(st.permutations(list(range(n))))
    missing = set(data.draw(st.lists(st.integers(0, n - 1), max_size=5)))
    dupes = data.draw(st.lists(st.integers(0, n - 1), max_size=5))
    r = Reorder(window=8, deadline_ns=50, start=0)
    released = []
    late = set()
    now = 0
    present = [s for s in order if s not in missing]
    for seq in present + [d for d in dupes if d not in missing]:
        now += 3
        verdict = r.add(seq, f"item{seq}", now=now)
        if verdict == "late" and seq not in late and seq not in {s for s, _, x in released if x is None}:
            late.add(seq)  # skipped (window or deadline) before it came
        released += r.release(now=now)
    released += r.release(now=now + 1000)  # the deadline passes: every gap behind an item is skipped
    released += r.release(now=now + 1000, flush=True)
    seqs = [s for s, _, _ in released]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))  # in order, each once
    items = {s for s, item, reason in released if reason is None}
    skipped = {s for s, item, reason in released if reason is not None}
    last_present = max((s for s in range(n) if s not in missing), default=-1)
    assert items == {s for s in range(n) if s not in missing} - late
    assert late <= skipped and late.isdisjoint(missing)
    assert skipped - late == {s for s in missing if s < last_present}  # a trailing loss waits for nothing
    assert len(r) == 0


def test_reorder_skips_at_once_what_the_producer_says_is_lost_and_counts_late_arrivals():
    r = Reorder(window=100, deadline_ns=10**9, start=0)
    r.add(1, "b", now=0)
    assert r.release(now=1) == []  # 0 might still come: wait (deadline 1 s)
    r.lost(0, "worker_died")
    assert r.release(now=2) == [(0, None, "worker_died"), (1, "b", None)]
    assert r.add(0, "a", now=3) == "late" and r.add(1, "b", now=3) == "duplicate"
    assert r.watermark == 1


def test_reorder_window_bounds_what_is_held():
    r = Reorder(window=3, deadline_ns=10**12, start=0)
    for s in range(1, 5):
        r.add(s, s, now=s)
    out = r.release(now=5)
    assert out[0] == (0, None, "window") and [s for s, _, _ in out] == [0, 1, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.integers(1, 9), min_size=3, max_size=60), data=st.data())
def test_replay_ring_rebuilds_the_exact_causal_state_at_any_kill_point(chunks, data):
    """Worker A filters chunks until a kill point; B resets, replays the ring's history as state
    only, then the unacknowledged chunks: B's outputs equal the whole series' from there on."""
    w = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
    x = np.random.default_rng(len(chunks)).normal(100, 0.5, sum(chunks))
    expect = CausalFIR(w).process(x)
    ring = ReplayRing(history=len(w) - 1, max_samples=10**6)
    bounds = np.cumsum([0, *chunks])
    for seq, k in enumerate(chunks):
        ring.append(seq, k, (int(bounds[seq]), k))
    acked = data.draw(st.integers(-1, len(chunks) - 2), label="acked upto")
    ring.ack(acked)
    b = CausalFIR(w)
    for e in ring.state_entries():
        start, k = e.item
        b.process(x[start : start + k])
    todo = ring.unacked()
    assert [e.seq for e in todo] == list(range(acked + 1, len(chunks)))
    for e in todo:
        start, k = e.item
        np.testing.assert_array_equal(b.process(x[start : start + k]), expect[start : start + k])
    # what is kept behind the unacknowledged chunks is bounded by the history needed
    kept = sum(e.n for e in ring.state_entries())
    assert kept < len(w) - 1 + max(chunks)


def test_replay_ring_overflow_drops_the_oldest_unacknowledged_and_says_so():
    ring = ReplayRing(history=0, max_samples=10)
    dropped = []
    for seq in range(6):
        dropped += ring.append(seq, 3, seq)
    assert [e.seq for e in dropped] == [0, 1, 2]
    assert [e.seq for e in ring.unacked()] == [3, 4, 5]


def test_peers_expire_after_silence():
    p = Peers(dead_after_ns=300)
    assert p.heard("w", {}, now=0) and not p.heard("w", {}, now=250)
    assert p.expire(now=549) == [] and p.expire(now=551) == ["w"]
    assert "w" not in p and p.heard("w", {}, now=600)  # back: new again


def test_interest_matches_prefixes_like_zeromq():
    i = Interest()
    assert i.update(b"\x01camera/sharpen") and not i.update(b"\x01camera/sharpen")
    assert i.wants("camera/sharpen") and i.wants("camera/sharpen2") and not i.wants("camera/raw")
    assert i.wants_stream("camera") and not i.wants_stream("laser")
    assert i.update(b"\x00camera/sharpen") and not i.wants("camera/sharpen")
    assert Interest([""]).wants_stream("laser")  # subscribing to everything wants every stream


def test_link_messages_round_trip_and_malformed_ones_are_errors():
    env = protocol.decode(protocol.encode("work", {"seq": 3}, [b"a/raw", b"{}", b""]))
    assert env.type == "work" and env.body == {"seq": 3} and env.messages() == [[b"a/raw", b"{}", b""]]
    for bad in ([b"work"], [b"nope", b"{}"], [b"work", b"[1]"], [b"work", b"\xff"], [b"work", b"{}", b"x"]):
        with pytest.raises(WireError):
            protocol.decode(bad)
    with pytest.raises(WireError, match="invalid link message type"):
        protocol.encode("launch", {})
