"""The hub encodes each frame at most once, and only while somebody watches or asks."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from streamconv.web.hub import Hub
from streamconv.wire import decode, encode


def _frame(seq: int, value: int) -> object:
    image = np.full((48, 64, 3), value, np.uint8)
    return decode(encode("camera/raw", image, stream="camera", kind="frame", epoch="e", seq=seq,
                         t_capture_ns=1000 + seq))


def test_nobody_watching_encodes_nothing_and_a_snapshot_encodes_once() -> None:
    hub = Hub()
    for seq in range(10):
        hub.write(_frame(seq, seq * 20))
    assert hub.encoded == 0
    assert hub.frame_topics() == ["camera/raw"]
    assert hub.newest_encoded("camera/raw") is None
    frames = []
    threads = [threading.Thread(target=lambda: frames.append(hub.newest("camera/raw"))) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert hub.encoded == 1  # five concurrent readers, one encode
    assert {f.seq for f in frames} == {9}
    image = cv2.imdecode(np.frombuffer(frames[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert abs(float(image.mean()) - 180.0) < 2.0  # the newest frame, not the first
    assert hub.newest("topic/none") is None


def test_while_watched_every_frame_is_encoded_once_for_all_clients() -> None:
    hub = Hub()
    with hub.watch(), hub.watch():  # two clients
        for seq in range(6):
            hub.write(_frame(seq, 100))
            assert hub.newest_encoded("camera/raw").seq == seq
        assert hub.encoded == 6
        hub.newest("camera/raw")
        assert hub.encoded == 6  # already encoded: not again
    assert hub.watchers == 0
    hub.write(_frame(6, 100))
    assert hub.encoded == 6
