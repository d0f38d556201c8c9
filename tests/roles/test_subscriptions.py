"""Subscriptions: admission, quotas, refusals by reason, closed connections, outputs that appear."""

from __future__ import annotations

from streamconv import limits
from streamconv.roles.subscriptions import Subscriptions

TOPICS = {"laser/raw", "laser/smoothed", "_stats"}


def sub(p: bytes) -> bytes:
    return b"\x01" + p


def unsub(p: bytes) -> bytes:
    return b"\x00" + p


def test_prefixes_that_match_a_topic_are_always_kept_over_any_quota():
    s = Subscriptions(TOPICS, max_per_peer=1, max_total=1)
    assert s.event(sub(b"junk"), "a") == "subscribe"
    assert s.event(sub(b"junk2"), "a") == "refuse"
    for p in (b"", b"l", b"laser/", b"laser/smoothed", b"_stats"):
        assert s.event(sub(p), "a") == "subscribe", p
    assert s.live == {"", "l", "laser/", "laser/smoothed", "_stats"}
    assert s.refused == {"peer_limit": 1}


def test_quotas_per_peer_and_in_total_count_each_refusal_by_reason():
    s = Subscriptions(TOPICS, max_per_peer=2, max_total=3)
    got = [s.event(sub(b"x%d" % i), "a") for i in range(4)]
    assert got == ["subscribe", "subscribe", "refuse", "refuse"]
    assert s.event(sub(b"y0"), "b") == "subscribe"
    assert s.event(sub(b"y1"), "b") == "refuse"  # the total (3) is reached
    assert s.event(sub(b"x0"), "b") == "subscribe"  # a prefix already held costs no total
    assert dict(s.refused) == {"peer_limit": 2, "total_limit": 1}
    assert s.snapshot()["idle"] == 3 and s.live == frozenset()


def test_invalid_utf8_and_overlong_prefixes_are_refused():
    s = Subscriptions(TOPICS)
    # different bytes must not collapse into one prefix (they would bypass the quota)
    assert [s.event(sub(b"\x80" + bytes([i])), "a") for i in range(3)] == ["refuse"] * 3
    assert s.event(sub(b"x" * (limits.MAX_TOPIC_BYTES + 1)), "a") == "refuse"
    assert dict(s.refused) == {"not_utf8": 3, "too_long": 1}
    assert s.snapshot()["held"] == 0


def test_an_unsubscription_only_undoes_what_that_peer_holds():
    s = Subscriptions(TOPICS)
    assert s.event(sub(b"laser/"), "a") == "subscribe"
    assert s.event(unsub(b"laser/"), "b") == "ignore"  # b never held it
    assert s.live == {"laser/"}
    assert s.event(unsub(b"laser/"), "a") == "unsubscribe"
    assert s.live == frozenset() and s.snapshot()["held"] == 0


def test_a_closed_connection_releases_what_a_holder_had():
    s = Subscriptions(TOPICS, max_per_peer=1)
    s.event(sub(b"laser/"), "a")
    s.event(sub(b"junk"), "a")
    assert s.event(unsub(b"laser/"), None) == "released"  # ZeroMQ already dropped it
    assert s.event(unsub(b"junk"), None) == "released"
    assert s.event(unsub(b"never"), None) == "ignore"
    assert s.live == frozenset() and s.snapshot()["peers"] == 0
    assert s.event(sub(b"junk2"), "a") == "subscribe"  # the quota was given back


def test_an_output_added_later_makes_a_held_prefix_live():
    s = Subscriptions(TOPICS)
    v0 = s.version
    s.event(sub(b"camera/sharpen"), "a")
    assert s.live == frozenset() and s.version == v0
    assert s.set_topics(TOPICS | {"camera/sharpen"}) is True
    assert s.live == {"camera/sharpen"} and s.version == v0 + 1 and s.snapshot()["idle"] == 0
    assert s.set_topics(TOPICS) is True and s.live == frozenset()


def test_not_a_subscription_event_is_ignored():
    s = Subscriptions(TOPICS)
    assert s.event(b"", "a") == "ignore" and s.event(b"\x02laser/", "a") == "ignore"
