"""Subscriber lanes over real ZeroMQ sockets: a byte bound, lossless samples beside newest-wins frames."""

from __future__ import annotations

import gc
import itertools
import os
import threading
import time

import numpy as np
import pytest
import zmq

from streamconv import wire
from streamconv.client import MESSAGE_OVERHEAD_BYTES, Subscriber
from streamconv.sockets import XPublisher

_ids = itertools.count()
EPOCH = "e1"
MiB = 2**20


def inproc(name):
    return f"inproc://test-lanes-{name}-{next(_ids)}"


def fields(topic, seq, kind):
    return {"stream": topic.split("/")[0], "kind": kind, "epoch": EPOCH, "seq": seq, "t_capture_ns": 1}


def cost(topic, array, seq, kind):
    """The bytes one queued message counts: its wire bytes plus the fixed Python overhead."""
    frames = wire.encode(topic, array, **fields(topic, seq, kind))
    return sum(memoryview(f).nbytes for f in frames) + MESSAGE_OVERHEAD_BYTES


def send(pub, topic, array, seq, kind):
    pub.send_message(topic, array, **fields(topic, seq, kind))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def wait_until(predicate, timeout=10.0, what="condition"):
    """A deadline loop: poll ``predicate`` every 2 ms, fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.002)


def drain(sub):
    """Every message the subscriber holds now, in the order recv returns them."""
    got = []
    for _ in range(100_000):
        try:
            got.append(sub.recv(timeout=0))
        except TimeoutError:
            return got
    raise AssertionError("drain did not end")


def reader_threads(endpoint):
    return [t for t in threading.enumerate() if t.name == f"subscriber {endpoint}" and t.is_alive()]


# ------------------------------------------------------------------------- (a) the memory bound


@pytest.mark.parametrize("latest", [False, True], ids=["fifo", "latest"])
def test_a_subscriber_that_does_not_read_holds_at_most_max_queue_bytes(latest):
    """300 frames of 1 MiB to a subscriber that never reads: it holds what fits in 16 MiB, no more."""
    budget, n = 16 * MiB, 300
    frame = np.zeros(MiB, np.uint8)  # one buffer, sent zero-copy: the publisher side holds no copies
    per_frame = cost("camera/raw", frame, n - 1, "frame")
    fits = budget // per_frame
    assert fits == 15 and cost("camera/raw", frame, 0, "frame") * 16 > budget
    with XPublisher("tcp://127.0.0.1:0") as pub:
        with Subscriber(pub.bound_endpoint, ["camera/"], latest=latest, max_queue_bytes=budget) as sub:
            pub.wait_for_subscriber(timeout=5)
            rss0 = peak_rss = rss_bytes()
            for seq in range(n):
                send(pub, "camera/raw", frame, seq, "frame")
                if seq % 10 == 0:
                    peak_rss = max(peak_rss, rss_bytes())
            deadline = time.monotonic() + 30
            while sub.received < n:
                assert time.monotonic() < deadline, f"received only {sub.received} of {n}"
                peak_rss = max(peak_rss, rss_bytes())
                time.sleep(0.005)
            peak_rss = max(peak_rss, rss_bytes())
            assert sub.peak_queued_bytes <= budget
            if latest:  # newest-wins: one frame held, every older one superseded
                assert (sub.queued, sub.skipped, sub.dropped["overflow"]) == (1, n - 1, 0)
                assert sub.queued_bytes == per_frame
            else:  # lossless order within the budget: the oldest went first
                assert (sub.queued, sub.skipped, sub.dropped["overflow"]) == (fits, 0, n - fits)
                assert sub.queued_bytes == fits * per_frame == sub.peak_queued_bytes
            got = drain(sub)
    assert sub.received == n and sub.malformed == 0
    if latest:
        assert [m.seq for m in got] == [n - 1]
        assert sub.gaps == 0  # superseded frames are deliberate, not gaps
    else:
        assert [m.seq for m in got] == list(range(n - fits, n))
        assert sub.gaps == n - fits == sub.dropped["overflow"]
        assert list(sub.gap_events) == [("camera/raw", EPOCH, 0, n - fits)]
    # 300 MiB went through; the process grew by the budget and ZeroMQ's buffers at most.
    assert peak_rss - rss0 < 80 * MiB, f"RSS grew by {(peak_rss - rss0) / MiB:.1f} MiB"


# -------------------------------------------------------- (b) slow on frames, quick on samples


def test_a_consumer_slow_on_frames_still_gets_every_laser_sample():
    """laser/ and camera/ with latest=True; 50 ms per camera frame: no laser sample is lost."""
    n_laser, frame_every = 400, 4  # 400 chunks at 400 Hz, a 320x240 RGB frame every 4th (100 Hz)
    n_frames = n_laser // frame_every
    chunk = np.arange(4, dtype="<f8")
    frame = np.zeros((240, 320, 3), np.uint8)
    with XPublisher("tcp://127.0.0.1:0") as pub:
        with Subscriber(pub.bound_endpoint, ["laser/", "camera/"], latest=True, timeout=5) as sub:
            for _ in range(2):  # one SUBSCRIBE per prefix
                pub.wait_for_subscriber(timeout=5)

            took = []

            def publish():  # the only user of pub while it runs
                t0 = time.monotonic()
                for seq in range(n_laser):
                    send(pub, "laser/raw", chunk, seq, "samples")
                    send(pub, "laser/smoothed", chunk, seq, "samples")
                    if seq % frame_every == 0:
                        send(pub, "camera/edges", frame, seq // frame_every, "frame")
                    delay = t0 + (seq + 1) / 400 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                took.append(time.monotonic() - t0)

            publisher = threading.Thread(target=publish, daemon=True)
            publisher.start()
            laser: dict[str, list[int]] = {"laser/raw": [], "laser/smoothed": []}
            frames: list[int] = []
            deadline = time.monotonic() + 30
            def done():
                return frames[-1:] == [n_frames - 1] and all(s[-1:] == [n_laser - 1] for s in laser.values())

            while not done():
                assert time.monotonic() < deadline, (len(frames), {t: len(s) for t, s in laser.items()})
                msg = sub.recv()
                if msg.kind == "frame":
                    frames.append(msg.seq)
                    time.sleep(0.05)  # the slow consumer: 50 ms per frame
                else:
                    laser[msg.topic].append(msg.seq)
            publisher.join(10)
            assert not publisher.is_alive()
            rest = drain(sub)
    assert rest == []
    assert laser == {"laser/raw": list(range(n_laser)), "laser/smoothed": list(range(n_laser))}
    assert sub.gaps == 0 and sub.out_of_order == 0
    assert frames == sorted(set(frames))  # never an older frame after a newer one
    # Every frame not delivered was superseded and counted, none lost otherwise.
    assert sub.skipped == n_frames - len(frames)
    assert sub.dropped == {"overflow": 0, "oversize": 0}
    assert sub.received == 2 * n_laser + n_frames
    # At 50 ms a frame the consumer took at most one per 50 ms of publishing (about 20 of the 100 in
    # the planned 1 s), plus the one it was sleeping on and the newest left at the end.
    assert sub.skipped > 0 and len(frames) <= took[0] / 0.05 + 2


# ------------------------------------------------------------------------- (c) overflow counts


def test_a_sample_flood_over_a_tiny_budget_counts_every_drop_as_a_gap():
    n = 2000
    chunk = np.zeros(2, "<f8")
    per_msg = cost("laser/raw", chunk, n - 1, "samples")  # seq 1000..1999: the same header length
    budget = 20 * per_msg + per_msg // 2
    endpoint = inproc("flood")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, ["laser/"], max_queue_bytes=budget) as sub:
        pub.wait_for_subscriber(timeout=5)
        for seq in range(n):
            send(pub, "laser/raw", chunk, seq, "samples")
        wait_until(lambda: sub.received == n, what=f"{n} messages")
        assert sub.peak_queued_bytes <= budget and sub.queued == 20
        got = drain(sub)
    delivered = len(got)
    assert delivered == 20
    assert [m.seq for m in got] == list(range(n - delivered, n))  # the newest kept, in order
    assert sub.dropped["overflow"] + delivered == n
    assert sub.gaps == sub.dropped["overflow"] == n - 20
    assert list(sub.gap_events) == [("laser/raw", EPOCH, 0, n - 20)]


def test_samples_push_the_oldest_frames_out_first():
    frame, chunk = np.zeros(100_000, np.uint8), np.zeros(2, "<f8")
    f_cost, s_cost = cost("camera/raw", frame, 0, "frame"), cost("laser/raw", chunk, 0, "samples")
    budget = 3 * f_cost + s_cost // 2  # three frames fit, with less than one sample to spare
    n_samples = f_cost // s_cost + 2  # more than one frame's worth: two frames must go
    endpoint = inproc("priority")
    with XPublisher(endpoint) as pub:
        with Subscriber(endpoint, ["camera/", "laser/"], max_queue_bytes=budget) as sub:
            for _ in range(2):
                pub.wait_for_subscriber(timeout=5)
            for seq in range(3):
                send(pub, "camera/raw", frame, seq, "frame")
            for seq in range(n_samples):
                send(pub, "laser/raw", chunk, seq, "samples")
            send(pub, "camera/raw", frame, 3, "frame")  # no room: the oldest frame (2) makes way
            wait_until(lambda: sub.received == 3 + n_samples + 1, what="every message")
            assert sub.peak_queued_bytes <= budget
            got = [(m.topic, m.seq) for m in drain(sub)]
    assert got == [("laser/raw", seq) for seq in range(n_samples)] + [("camera/raw", 3)]
    assert sub.dropped == {"overflow": 3, "oversize": 0}  # frames 0 and 1 for samples, 2 for frame 3
    assert sub.gaps == 3 and list(sub.gap_events) == [("camera/raw", EPOCH, 0, 3)]


def test_a_frame_never_pushes_a_sample_out():
    frame, chunk = np.zeros(100_000, np.uint8), np.zeros(2, "<f8")
    f_cost, s_cost = cost("camera/raw", frame, 0, "frame"), cost("laser/raw", chunk, 0, "samples")
    budget = f_cost + s_cost // 2  # one frame fits, or this many samples:
    n_samples = budget // s_cost
    endpoint = inproc("never-push")
    with XPublisher(endpoint) as pub:
        with Subscriber(endpoint, ["camera/", "laser/"], max_queue_bytes=budget) as sub:
            for _ in range(2):
                pub.wait_for_subscriber(timeout=5)
            for seq in range(n_samples):
                send(pub, "laser/raw", chunk, seq, "samples")
            send(pub, "camera/raw", frame, 0, "frame")  # the budget is full of samples: dropped itself
            wait_until(lambda: sub.received == n_samples + 1, what="every message")
            got = [(m.topic, m.seq) for m in drain(sub)]
            assert got == [("laser/raw", seq) for seq in range(n_samples)]
            assert sub.dropped["overflow"] == 1 and sub.gaps == 0  # seen at the next frame:
            send(pub, "camera/raw", frame, 1, "frame")
            assert sub.recv(timeout=5).seq == 1
    assert sub.gaps == 1 and list(sub.gap_events) == [("camera/raw", EPOCH, 0, 1)]


def test_a_message_larger_than_the_whole_budget_is_dropped_as_oversize():
    endpoint = inproc("oversize")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, ["a/"], max_queue_bytes=64 * 1024) as sub:
        pub.wait_for_subscriber(timeout=5)
        send(pub, "a/b", np.zeros(2, "<f8"), 0, "samples")
        send(pub, "a/b", np.zeros(10_000, "<f8"), 1, "samples")  # 80 kB > 64 KiB
        send(pub, "a/b", np.zeros(2, "<f8"), 2, "samples")
        got = [sub.recv(timeout=5).seq for _ in range(2)]
    assert got == [0, 2]
    assert sub.dropped == {"overflow": 0, "oversize": 1}
    assert sub.gaps == 1 and list(sub.gap_events) == [("a/b", EPOCH, 1, 2)]


# ------------------------------------------------------------------------------ (d) lifecycle


def test_close_joins_the_reader_within_a_second_after_the_publisher_is_gone():
    with XPublisher("tcp://127.0.0.1:0") as pub:
        endpoint = pub.bound_endpoint
        sub = Subscriber(endpoint, ["a/"], timeout=5)
        pub.wait_for_subscriber(timeout=5)
        send(pub, "a/b", np.zeros(2), 0, "samples")
        assert sub.recv().seq == 0
        assert len(reader_threads(endpoint)) == 1
    wait_until(lambda: sub.reconnects >= 1, what="the subscriber to notice the publisher left")
    t0 = time.monotonic()
    sub.close()
    elapsed = time.monotonic() - t0
    assert elapsed < 1.0, elapsed
    assert reader_threads(endpoint) == [] and sub.closed
    sub.close()  # idempotent
    with pytest.raises(ValueError, match="closed subscriber"):
        sub.recv(timeout=0)


def test_a_subscriber_dropped_unclosed_stops_its_reader():
    endpoint = inproc("unclosed")
    sub = Subscriber(endpoint)
    assert len(reader_threads(endpoint)) == 1
    del sub
    gc.collect()
    wait_until(lambda: reader_threads(endpoint) == [], timeout=2, what="the reader to stop")


def test_terminating_the_context_stops_the_reader_and_recv_says_so():
    context = zmq.Context()
    sub = Subscriber(inproc("term"), context=context, timeout=5)
    terminator = threading.Thread(target=context.term, daemon=True)
    terminator.start()
    terminator.join(5)  # term() waits for every socket: the reader closes its own on ETERM
    assert not terminator.is_alive()
    with pytest.raises(OSError, match="stopped"):
        sub.recv()
    sub.close()


def test_invalid_max_queue_bytes():
    with pytest.raises(ValueError, match="invalid max_queue_bytes 0; expected an integer >= 1"):
        Subscriber(inproc("bad"), max_queue_bytes=0)


# ------------------------------------------------------------------------ streamconv subscribe


def test_subscribe_help_says_frames_are_newest_only_by_default(capsys):
    from streamconv.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["subscribe", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "only the newest frame is kept by default" in text
    assert "Samples and _stats are never skipped" in text
    assert "--all-frames prints every frame" in text and "--queue-bytes" in text


def _subscribe_behind_a_full_pipe(*argv: str, frames: int = 2000) -> tuple[list[str], str]:
    """Run ``streamconv subscribe camera/`` whose stdout nobody reads until every frame is sent.

    Its output (about 100 bytes a frame) fills the pipe (64 KiB) after some 600 lines, so the
    command is a terminal that fell behind.  Returns the frame lines it printed, and stderr.
    """
    import subprocess
    import sys

    with XPublisher("tcp://127.0.0.1:0") as pub:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamconv", "subscribe", "camera/", "--endpoint", pub.bound_endpoint,
             "--timeout", "2", *argv],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            pub.wait_for_subscriber(timeout=20)
            frame = np.zeros((8, 8, 3), np.uint8)
            for seq in range(frames):
                send(pub, "camera/raw", frame, seq, "frame")
            time.sleep(1.0)  # the subscriber's reader has taken everything off the socket
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [line for line in out.decode().splitlines() if "camera/raw" in line]
    return lines, err.decode()


def test_subscribe_behind_a_slow_terminal_keeps_the_newest_frame_unless_all_frames():
    lines, err = _subscribe_behind_a_full_pipe()
    assert 0 < len(lines) < 1500, len(lines)
    assert lines[-1].split()[2] == "1999", lines[-1]  # the newest frame is never skipped
    assert f"skipped {2000 - len(lines)}" in err, err  # every frame not printed is counted
    every, err_all = _subscribe_behind_a_full_pipe("--all-frames")
    assert [int(line.split()[2]) for line in every] == list(range(2000)), err_all


def test_subscribe_latest_and_all_frames_exclude_each_other(capsys):
    from streamconv.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["subscribe", "--latest", "--all-frames"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
