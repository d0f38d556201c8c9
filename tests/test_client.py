"""Subscriber over real ZeroMQ sockets: lossless delivery, gaps, epochs, latest mode, rogue publishers."""

from __future__ import annotations

import importlib.util
import itertools
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from streamconv import wire
from streamconv.client import Subscriber, subscribe
from streamconv.errors import WireError
from streamconv.sockets import Publisher, XPublisher
from tests.test_wire import EPOCH, MALFORMED, frames_of, good_frames, header_dict

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plain_pyzmq_client.py"
_ids = itertools.count()


def inproc(name):
    return f"inproc://test-client-{name}-{next(_ids)}"


def send(pub, topic, seq, epoch="e1", value=0.0, kind="samples"):
    pub.send_message(
        topic,
        np.array([value, seq], "<f8"),
        stream=topic.split("/")[0],
        kind=kind,
        epoch=epoch,
        seq=seq,
        t_capture_ns=1,
    )


@pytest.fixture
def tcp_pair():
    """An XPUB publisher on a random loopback port and a subscriber to everything, handshaken."""
    with XPublisher("tcp://127.0.0.1:0") as pub, Subscriber(pub.bound_endpoint, timeout=5) as sub:
        pub.wait_for_subscriber(timeout=5)
        yield pub, sub


@pytest.fixture
def inproc_pair():
    endpoint = inproc("pair")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, timeout=5) as sub:
        pub.wait_for_subscriber(timeout=5)
        yield pub, sub


# -------------------------------------------------------------------------------- lossless + gaps


def test_all_messages_arrive_in_order_over_tcp(tcp_pair):
    pub, sub = tcp_pair
    n = 500
    for seq in range(n):
        send(pub, "laser/smoothed", seq, value=seq * 0.5)
    got = [sub.recv() for _ in range(n)]
    assert [m.seq for m in got] == list(range(n))
    assert [m.array[0] for m in got] == [seq * 0.5 for seq in range(n)]
    assert (sub.received, sub.gaps, sub.malformed, sub.skipped) == (n, 0, 0, 0)
    assert not got[-1].array.flags.writeable


def test_missing_seq_numbers_are_counted_as_gaps(inproc_pair):
    pub, sub = inproc_pair
    for seq in (0, 1, 2, 5, 6):
        send(pub, "laser/smoothed", seq)
    assert [sub.recv().seq for _ in range(5)] == [0, 1, 2, 5, 6]
    assert sub.gaps == 2
    assert list(sub.gap_events) == [("laser/smoothed", "e1", 3, 5)]


def test_gaps_are_tracked_per_topic(inproc_pair):
    pub, sub = inproc_pair
    for seq in range(4):
        send(pub, "laser/raw", seq)
        send(pub, "laser/smoothed", seq * 2)  # 0, 2, 4, 6: a gap of 1 each time after the first
    [sub.recv() for _ in range(8)]
    assert sub.gaps == 3
    assert {event[0] for event in sub.gap_events} == {"laser/smoothed"}


def test_a_new_epoch_restarts_seq_tracking_without_a_false_gap(inproc_pair):
    pub, sub = inproc_pair
    for seq in range(3):
        send(pub, "laser/raw", seq, epoch="before-restart")
    for seq in range(3):
        send(pub, "laser/raw", seq, epoch="after-restart")
    assert [(m.epoch, m.seq) for m in (sub.recv() for _ in range(6))][2:4] == [
        ("before-restart", 2),
        ("after-restart", 0),
    ]
    assert sub.gaps == 0 and sub.out_of_order == 0


def test_the_first_message_of_a_topic_is_never_a_gap(inproc_pair):
    pub, sub = inproc_pair
    send(pub, "laser/raw", 1000)  # joined late: seq 0..999 were before our time
    send(pub, "laser/raw", 1001)
    assert [sub.recv().seq for _ in range(2)] == [1000, 1001]
    assert sub.gaps == 0


def test_seq_going_back_in_the_same_epoch_is_counted_out_of_order(inproc_pair):
    pub, sub = inproc_pair
    for seq in (0, 1, 2, 0, 1):
        send(pub, "laser/raw", seq)
    [sub.recv() for _ in range(5)]
    assert (sub.out_of_order, sub.gaps) == (1, 0)


def test_gap_events_are_bounded(inproc_pair):
    pub, sub = inproc_pair
    for i in range(1100):
        send(pub, "laser/raw", 2 * i)
    [sub.recv() for _ in range(1100)]
    assert sub.gaps == 1099
    assert len(sub.gap_events) == 1000
    assert sub.gap_events[-1] == ("laser/raw", "e1", 2197, 2198)


# ------------------------------------------------------------------------------------ latest mode


def test_latest_returns_the_newest_frame_per_topic():
    endpoint = inproc("latest")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, ["cam/"], latest=True, timeout=5) as sub:
        pub.wait_for_subscriber(timeout=5)
        for seq in range(50):  # 50 frames queue up while the subscriber is busy
            send(pub, "cam/edges", seq, kind="frame")
            send(pub, "cam/blur", seq, kind="frame")
        first, second = sub.recv(), sub.recv()
        assert {(first.topic, first.seq), (second.topic, second.seq)} == {("cam/edges", 49), ("cam/blur", 49)}
        assert (sub.received, sub.skipped, sub.gaps) == (100, 98, 0)
        with pytest.raises(TimeoutError):
            sub.recv(timeout=0.05)  # nothing older is left to yield
        # Later frames: an old pending one is never yielded once a newer one arrived.
        send(pub, "cam/edges", 50, kind="frame")
        send(pub, "cam/blur", 50, kind="frame")
        send(pub, "cam/edges", 51, kind="frame")
        got = [(m.topic, m.seq) for m in (sub.recv(), sub.recv())]
        assert got == [("cam/blur", 50), ("cam/edges", 51)]
        assert sub.skipped == 99


def test_the_receive_queue_is_the_same_small_buffer_in_both_modes():
    """The reader thread empties ZeroMQ's queue at once; the bound is max_queue_bytes, in bytes."""
    for latest in (False, True):
        with Subscriber(inproc("hwm"), latest=latest) as sub:
            assert sub.rcvhwm == 1000 and sub._socket.getsockopt(zmq.RCVHWM) == 1000
            assert sub.max_queue_bytes == 64 * 2**20
    with Subscriber(inproc("hwm"), rcvhwm=7) as sub:
        assert sub._socket.getsockopt(zmq.RCVHWM) == 7


# ------------------------------------------------------------------------------- rogue publisher


def test_a_rogue_publisher_never_breaks_the_subscriber(tcp_pair):
    pub, sub = tcp_pair
    bad = [frames for case, frames, _ in MALFORMED if case != "no-frames"]  # ZeroMQ cannot send 0 frames
    bad.append([b"\x00" * 3])  # garbage
    bad.append([b"laser/smoothed", b'{"v":1}', b"\x00" * 16, b"", b""])  # five frames
    for seq, frames in enumerate(bad):
        pub.send(frames, copy=True)
        pub.send(good_frames(seq=seq))
    pub.send(good_frames(seq=len(bad)))
    got = []
    for msg in sub:
        got.append(msg)
        if msg.seq == len(bad):
            break
    assert [m.seq for m in got] == list(range(len(bad) + 1))
    assert all(m.array.tolist() == [1.0, 2.5] for m in got)
    assert (sub.malformed, sub.received, sub.gaps) == (len(bad), len(bad) + 1, 0)


def test_max_payload_bytes_drops_oversized_messages_on_inproc():
    endpoint = inproc("small")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, max_payload_bytes=64, timeout=5) as sub:
        pub.wait_for_subscriber(timeout=5)
        pub.send_message("a/b", np.zeros(9), stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=0)
        pub.send_message("a/b", np.zeros(8), stream="a", kind="samples", epoch="e", seq=1, t_capture_ns=0)
        assert sub.recv().seq == 1
    assert sub.malformed == 1


def test_an_oversized_tcp_frame_costs_a_reconnect_and_shows_as_a_gap():
    with XPublisher("tcp://127.0.0.1:0") as pub:
        with Subscriber(pub.bound_endpoint, max_payload_bytes=1 << 16, timeout=5) as sub:
            assert sub._socket.getsockopt(zmq.MAXMSGSIZE) == 1 << 16
            pub.wait_for_subscriber(timeout=5)
            send(pub, "a/b", 0)
            assert sub.recv().seq == 0
            # 128 KiB: ZeroMQ cuts the connection before buffering it; ZeroMQ itself would not reconnect.
            pub.send_message(
                "a/b", np.zeros(2**14), stream="a", kind="samples", epoch="e1", seq=1, t_capture_ns=0
            )
            deadline = time.monotonic() + 5
            for seq in itertools.count(2):  # publish until the reconnected subscriber hears one
                send(pub, "a/b", seq)
                try:
                    msg = sub.recv(timeout=0.02)
                    break
                except TimeoutError:
                    assert time.monotonic() < deadline, "subscriber never reconnected"
    assert sub.reconnects == 1
    assert msg.seq >= 2 and sub.gaps == msg.seq - 1
    assert sub.gap_events[0][2:] == (1, msg.seq)


# ----------------------------------------------------------------------- timeouts, iteration, API


def test_recv_timeout_names_the_endpoint():
    endpoint = inproc("nobody")
    with Subscriber(endpoint, timeout=0.05) as sub:
        with pytest.raises(TimeoutError, match=re.escape(f"no message from {endpoint} within 0.05 s")):
            sub.recv()
        with pytest.raises(TimeoutError, match=re.escape("within 0.01 s")):
            sub.recv(timeout=0.01)


def test_iteration_stops_on_timeout(inproc_pair):
    pub, sub = inproc_pair
    sub.timeout = 0.1
    for seq in range(3):
        send(pub, "laser/raw", seq)
    assert [m.seq for m in sub] == [0, 1, 2]


def test_wait_ready_handles_the_slow_joiner_without_sleeping():
    """A plain PUB that publishes continuously: wait_ready, then seq proves there is no gap."""
    endpoint = inproc("slow-joiner")
    stop = threading.Event()
    context = zmq.Context.instance()
    bound = threading.Event()

    def publish():
        with Publisher(endpoint, context=context) as pub:
            bound.set()
            seq = 0
            while not stop.wait(0.001):
                send(pub, "laser/raw", seq)
                seq += 1

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        assert bound.wait(5)
        with Subscriber(endpoint, "laser/", context=context) as sub:
            first = sub.wait_ready(timeout=5)
            rest = [sub.recv(timeout=5) for _ in range(20)]
    finally:
        stop.set()
        thread.join(5)
    assert [m.seq for m in rest] == list(range(first.seq + 1, first.seq + 21))
    assert sub.gaps == 0


def test_wait_ready_timeout_explains():
    with Subscriber(inproc("never"), ["x/"]) as sub:
        with pytest.raises(
            TimeoutError, match=r"within 0.05 s \(topics \['x/'\]\); is the publisher running"
        ):
            sub.wait_ready(timeout=0.05)


def test_topic_prefix_filtering_and_single_string_topic():
    endpoint = inproc("filter")
    with XPublisher(endpoint) as pub, subscribe("laser/smoothed", endpoint, timeout=5) as sub:
        assert sub.topics == ("laser/smoothed",)
        pub.wait_for_subscriber(timeout=5)
        send(pub, "laser/raw", 0)
        pub.send(wire.encode_stats({}, epoch="e", seq=0, t_ns=0))
        send(pub, "laser/smoothed", 0)
        assert sub.recv().topic == "laser/smoothed"
    assert sub.received == 1


def test_close_is_idempotent():
    sub = Subscriber(inproc("close"))
    with sub:
        pass
    assert sub.closed
    sub.close()


def test_invalid_arguments():
    with pytest.raises(TypeError, match="expected a str prefix"):
        Subscriber(inproc("bad"), [b"laser/"])
    with pytest.raises(ValueError, match="invalid timeout -1"):
        Subscriber(inproc("bad"), timeout=-1)


# --------------------------------------------------------------------- the plain pyzmq example


def _load_example():
    spec = importlib.util.spec_from_file_location("plain_pyzmq_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", [c for c, _, _ in MALFORMED if c not in ("topic-reserved", "huge-shape")])
def test_example_decoder_rejects_what_decode_rejects(case):
    example = _load_example()
    frames = next(f for c, f, _ in MALFORMED if c == case)
    with pytest.raises(WireError):
        wire.decode(frames)
    with pytest.raises((ValueError, RecursionError)):
        example.decode([bytes(f) for f in frames])


def test_example_decoder_accepts_what_decode_accepts():
    example = _load_example()
    for frames in (
        good_frames(),
        wire.encode_stats({"uptime_s": 1.0}, epoch="e", seq=0, t_ns=0),
        frames_of(header_dict(extra_key=1, shape=[1, 2])),
    ):
        topic, header, array = example.decode([bytes(f) for f in frames])
        msg = wire.decode(frames)
        assert (topic, header["seq"], header["dtype"]) == (msg.topic, msg.seq, msg.header.dtype)
        assert array.tobytes() == msg.array.tobytes() and array.shape == msg.array.shape


def test_example_client_prints_decoded_messages():
    with XPublisher("tcp://127.0.0.1:0") as pub:
        proc = subprocess.Popen(
            [sys.executable, str(EXAMPLE), pub.bound_endpoint, "laser/", "_stats", "--count", "3"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            for _ in range(2):  # one handshake per topic prefix
                pub.wait_for_subscriber(timeout=10)
            pub.send([b"laser/x", b"{bad json", b""])
            pub.send(good_frames(seq=0))
            pub.send(wire.encode_stats({"uptime_s": 2.5}, epoch="e", seq=0, t_ns=0))
            pub.send(good_frames(seq=2, values=[3.0, 4.0]))
            out, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"laser/smoothed seq=0 epoch={EPOCH} ")
    assert "kind=samples dtype=<f8 shape=[2]" in lines[0] and lines[0].endswith("values=[1.0, 2.5]")
    assert lines[1].startswith("_stats seq=0") and lines[1].endswith('meta={"uptime_s": 2.5}')
    assert lines[2].startswith("laser/smoothed seq=2") and lines[2].endswith("values=[3.0, 4.0]")
    assert "malformed message #1 dropped" in err
    assert "GAP on laser/smoothed: 1 message(s) missing" in err
