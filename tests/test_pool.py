"""FramePool lends a buffer again only when nobody else refers to it; the synthetic source's
pooled frames are pixel-identical to freshly drawn ones whatever the consumer holds.

Evidence: reference counts driven by real holders (the frame, a view, a ZeroMQ zero-copy send
still queued), and a comparison of every pooled frame with ``frame(i)`` drawn from scratch.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import zmq

from streamconv.pool import FramePool
from streamconv.sources.synthetic import SyntheticCamera


def test_a_held_buffer_is_never_lent_again():
    pool = FramePool((4, 4), np.uint8, size=3)
    held = [pool.take()[0] for _ in range(3)]
    ids = {id(a) for a in held}
    assert len(ids) == 3 and pool.misses == 0
    extra, slot = pool.take()  # all three held: an unpooled new buffer, counted
    assert id(extra) not in ids and slot.fresh and pool.misses == 1
    view = held[1][1:3]  # a view keeps its base alive
    del held[1]
    assert id(pool.take()[0]) not in ids
    del view
    again, slot = pool.take()
    assert not slot.fresh and id(again) in ids


def test_a_zero_copy_send_holds_the_buffer_until_zeromq_lets_go():
    ctx = zmq.Context.instance()
    push = ctx.socket(zmq.PUSH)
    pull = ctx.socket(zmq.PULL)
    try:
        push.bind("inproc://pool-test")
        pull.connect("inproc://pool-test")
        pool = FramePool((512, 512), np.uint8, size=1)  # above pyzmq.COPY_THRESHOLD: not copied
        arr, slot = pool.take()
        arr[:] = 7
        push.send(arr, copy=False)  # queued: ZeroMQ refers to the buffer
        del arr
        assert pool.take()[1] is not slot
        received = pull.recv(copy=False)
        assert bytes(received.buffer[:3]) == b"\x07\x07\x07"
        del received
        for _ in range(100):  # libzmq frees the message from its own thread
            gc.collect()
            if pool.take()[1] is slot:
                break
        assert pool.take()[1] is slot
    finally:
        push.close(0)
        pull.close(0)


def test_invalid_size():
    with pytest.raises(ValueError, match="invalid size 0"):
        FramePool((2, 2), np.uint8, size=0)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (64, 48), (8, 8), (333, 97)])
@pytest.mark.parametrize("keep", [0, 1, 3, 8])
def test_pooled_frames_equal_frames_drawn_from_scratch(width, height, keep):
    cam = SyntheticCamera(width, height, seed=3)
    ref = SyntheticCamera(width, height, seed=3)
    held = []
    for i in range(130 if width < 1000 else 40):
        item = cam.read(t_capture_ns=i)
        np.testing.assert_array_equal(item.image, ref.frame(i), err_msg=f"frame {i}")
        held.append(item)
        del held[: max(0, len(held) - keep)]
    # six pooled buffers: holding eight frames runs out and falls back to new arrays, still exact
    assert (cam._pool.misses > 0) == (keep >= 6)


def test_pooled_frames_are_read_only_and_frame_is_writable():
    cam = SyntheticCamera(32, 24)
    item = cam.read(0)
    with pytest.raises(ValueError, match="read-only"):
        item.image[0, 0] = 1
    cam.frame(0)[0, 0] = 1  # a new array of its own


def test_reused_buffers_cost_no_allocation():
    cam = SyntheticCamera(64, 48)
    addresses = set()
    for _ in range(50):
        item = cam.read(0)
        addresses.add(item.image.__array_interface__["data"][0])
        del item
    assert len(addresses) <= 2  # one buffer, or two while the previous item was still bound
