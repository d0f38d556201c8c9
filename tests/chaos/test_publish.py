"""The publish socket against its peers: storms, huge frames, dropped connections, honest seq."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from streamconv import wire
from streamconv.client import Subscriber
from streamconv.roles.subscriptions import MAX_PER_PEER
from tests.chaos.conftest import alive, report, rss_mb
from tests.service.conftest import daemon_config, free_port, start_daemon

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


HUGE_SENDER = """
import os, sys, time, zmq
s = zmq.Context().socket(zmq.XSUB)
s.setsockopt(zmq.SNDHWM, 0)
s.connect(sys.argv[1])
time.sleep(0.3)
for _ in range(3):
    s.send(b"\\x01" + b"y" * (10 << 20))
print("sent 3", flush=True)
time.sleep(1.0)
os._exit(0)
"""


def _measure(sub: Subscriber, seconds: float, during=None) -> dict[str, float]:
    """What ``sub`` got in a window of wall-clock time, judged by the publisher's own timestamps.

    ``during`` runs in a thread while the window is open.  Returns the publish rate inside the
    window, the p99 of capture-to-publish latency and the longest pause between two publishes.
    """
    t0 = time.time_ns()
    t1 = t0 + int(seconds * 1e9)
    worker = threading.Thread(target=during) if during else None
    if worker:
        worker.start()
    msgs = []
    end = time.monotonic() + seconds + 0.5
    while time.monotonic() < end:
        try:
            msgs.append(sub.recv(timeout=0.2))
        except TimeoutError:
            pass
    if worker:
        worker.join(60)
    inside = sorted(m.t_publish_ns for m in msgs if t0 <= m.t_publish_ns <= t1)
    lat = [(m.t_publish_ns - m.t_capture_ns) / 1e6 for m in msgs if t0 <= m.t_publish_ns <= t1]
    return {
        "rate_hz": len(inside) / seconds,
        "p99_ms": float(np.percentile(lat, 99)),
        "max_pause_ms": max(b - a for a, b in itertools.pairwise([t0, *inside, t1])) / 1e6,
    }


def test_a_subscription_storm_changes_nothing_for_others(tmp_path: Path):
    """20,000 junk subscriptions and three 10 MiB subscription frames from one peer, while another reads."""
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), camera=False))
    storm = zmq.Context.instance().socket(zmq.XSUB)
    attacker: list = []

    def attack() -> None:
        for i in range(20_000):
            storm.send(b"\x01junk/%06d/" % i + b"x" * 40)
        # the huge frames come from another process: libzmq 4.3.5 can crash the *sender* when
        # the daemon cuts its connection for a frame over the limit
        attacker.append(subprocess.run([sys.executable, "-c", HUGE_SENDER, d.publish], timeout=30,
                                       capture_output=True))

    try:
        storm.setsockopt(zmq.LINGER, 0)
        storm.setsockopt(zmq.SNDHWM, 0)
        storm.connect(d.publish)
        with Subscriber(d.publish, ["laser/smoothed"], timeout=5) as sub:
            sub.wait_ready(10)
            before = _measure(sub, 4.0)
            rss0 = rss_mb(d.proc.pid)
            during = _measure(sub, 4.0, during=attack)
            status = d.request({"cmd": "status"})
            reply_bytes = len(json.dumps(status))
            s = status["status"]["subscriptions"]
            assert sub.gaps == 0
        assert attacker and attacker[0].stdout == b"sent 3\n", attacker
        assert alive(d)
        grown = rss_mb(d.proc.pid) - rss0
        report("subscription storm", **{f"before_{k}": v for k, v in before.items()},
               **{f"during_{k}": v for k, v in during.items()}, refused=s["refused"], rss_growth_mb=grown,
               status_bytes=reply_bytes)
        assert during["rate_hz"] >= 0.9 * before["rate_hz"], (before, during)
        assert during["max_pause_ms"] < 250, (before, during)
        # the quota: 1000 junk prefixes kept for the peer's address, the rest refused and counted
        assert s["refused"] == {"peer_limit": 20_000 - MAX_PER_PEER}, s
        assert s["idle"] == MAX_PER_PEER and s["live"] == ["laser/smoothed"], s
        assert reply_bytes < 64_000  # it was 31 MB
        assert grown < 100, (rss0, grown)  # it was +2.1 GB
    finally:
        storm.close(0)
        d.stop()


def _read(sock: zmq.Socket, seconds: float, into: list) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sock.poll(50):
            into.append(wire.decode(sock.recv_multipart()))


def test_a_sole_subscribers_dropped_connection_is_a_gap_of_exactly_the_lost_samples(tmp_path: Path):
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), camera=False))
    sock = zmq.Context.instance().socket(zmq.SUB)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"laser/")
        sock.connect(d.publish)
        msgs: list = []
        _read(sock, 1.5, msgs)
        sock.disconnect(d.publish)  # the only subscriber is gone for 1 s
        time.sleep(1.0)
        sock.connect(d.publish)
        _read(sock, 1.5, msgs)
    finally:
        sock.close(0)
        d.stop()
    by_topic: dict[str, list] = {}
    for m in msgs:
        by_topic.setdefault(m.topic, []).append(m)
    assert set(by_topic) == {"laser/raw", "laser/truth", "laser/smoothed"}
    for topic, ms in by_topic.items():
        assert len({m.epoch for m in ms}) == 1
        jumps = [(a, b) for a, b in itertools.pairwise(ms) if b.seq != a.seq + 1]
        assert len(jumps) == 1, (topic, [(a.seq, b.seq) for a, b in jumps])
        a, b = jumps[0]
        # the gap in seq is the number of samples the sensor produced meanwhile (one per chunk)
        assert b.seq - a.seq == b.meta["first_sample"] - a.meta["first_sample"], topic
        assert 60 <= b.seq - a.seq - 1 <= 200, topic  # about 1 s of a 100 Hz sensor
        for x, y in itertools.pairwise(ms):
            assert y.seq - x.seq == y.meta["first_sample"] - x.meta["first_sample"]
    a, b = next((x, y) for x, y in itertools.pairwise(by_topic["laser/raw"]) if y.seq != x.seq + 1)
    lost = b.meta["first_sample"] - a.meta["first_sample"] - 1
    report("dropped connection", gap=b.seq - a.seq - 1, samples_lost=lost)
    # raw, truth and smoothed of one chunk share seq, capture time and sample index
    index = {t: {m.seq: m for m in ms} for t, ms in by_topic.items()}
    common = set(index["laser/raw"]) & set(index["laser/truth"]) & set(index["laser/smoothed"])
    assert len(common) >= 200
    for seq in common:
        raw, truth, smooth = (index[t][seq] for t in ("laser/raw", "laser/truth", "laser/smoothed"))
        assert raw.t_capture_ns == truth.t_capture_ns == smooth.t_capture_ns
        assert raw.meta["first_sample"] == truth.meta["first_sample"] == smooth.meta["first_sample"]
    report("raw/truth/smoothed alignment", chunks_compared=len(common), misaligned=0)
