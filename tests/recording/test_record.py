"""``streamconv record`` on a real daemon, read back by ``mcap``'s own reader and by protobuf.

The native messages are decoded here by hand (length, JSON header, raw bytes), not by our reader,
and compared with what a Subscriber received in the same run; the viewer messages are decoded by
protobuf against the schemas stored in the file.
"""

from __future__ import annotations

import json
import struct
from collections import defaultdict

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from mcap.reader import make_reader

from streamconv.sinks.render import to_bgr8
from tests.recording.conftest import RECORD_S, Recording, digest


def _native(data: bytes) -> tuple[dict, np.ndarray]:
    (n,) = struct.unpack_from("<I", data)
    header = json.loads(data[4:4 + n])
    array = np.frombuffer(data[4 + n:], np.dtype(header["dtype"])).reshape(header["shape"])
    return header, array


def _message_class(schema, name: str):
    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(schema.data).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def test_every_native_message_is_what_a_subscriber_saw(recording: Recording) -> None:
    assert recording.result.returncode == 0, recording.result.stderr
    assert "messages" in recording.result.stdout
    seqs: dict[str, list[int]] = defaultdict(list)
    matched = 0
    with recording.path.open("rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        assert summary is not None and summary.statistics.message_count > 0  # finished: indexed
        for _schema, channel, message in reader.iter_messages(log_time_order=False):
            if channel.message_encoding != "x-streamconv-v1":
                continue
            header, array = _native(message.data)
            topic = channel.topic
            assert message.log_time == header["t_capture_ns"]
            assert message.publish_time == header.get("t_publish_ns", header["t_capture_ns"])
            key = (topic, header["epoch"], header["seq"])
            assert key in recording.seen.messages, key  # the collector joined first
            want, t_capture, t_publish = recording.seen.messages[key]
            assert digest(array) == want, key
            assert (header["t_capture_ns"], header.get("t_publish_ns")) == (t_capture, t_publish)
            seqs[topic].append(header["seq"])
            matched += 1
    expected = {"laser/raw", "laser/smoothed", "camera/raw", "camera/sharpen", "camera/edges", "_stats"}
    assert expected <= set(seqs), sorted(seqs)
    for topic, s in seqs.items():
        assert s == list(range(s[0], s[0] + len(s))), f"{topic}: the seq range has holes"
    # 5 s of 100 Hz and 30 fps (the first frames may wait for the subscription to join)
    assert len(seqs["laser/raw"]) >= 0.6 * 100 * RECORD_S
    assert len(seqs["camera/raw"]) >= 0.6 * 30 * RECORD_S
    print(f"{matched} native messages bit-exact; per topic {({t: len(s) for t, s in seqs.items()})}")


def test_viewer_images_decode_to_the_frames(recording: Recording) -> None:
    frames: dict[tuple[str, int], np.ndarray] = {}
    images: dict[tuple[str, int], object] = {}
    samples = 0
    with recording.path.open("rb") as f:
        reader = make_reader(f)
        for schema, channel, message in reader.iter_messages(log_time_order=False):
            if channel.message_encoding == "x-streamconv-v1" and channel.topic.startswith("camera/"):
                header, array = _native(message.data)
                frames[(channel.topic, header["t_capture_ns"])] = array.copy()
            elif schema is not None and schema.name == "foxglove.RawImage":
                img = _message_class(schema, "foxglove.RawImage").FromString(message.data)
                images[(channel.topic, message.log_time)] = img
            elif schema is not None and schema.name == "streamconv.Sample":
                sample = _message_class(schema, "streamconv.Sample").FromString(message.data)
                assert sample.timestamp.seconds * 10**9 + sample.timestamp.nanos == message.log_time
                samples += 1
    assert samples > 0
    checked = defaultdict(int)
    for (channel, t), img in images.items():
        topic = channel.removeprefix("viz/").removesuffix("/bgr8")
        frame = frames[(topic, t)]
        assert img.timestamp.seconds * 10**9 + img.timestamp.nanos == t  # the capture time
        assert (img.height, img.width) == frame.shape[:2]
        if channel.endswith("/bgr8"):  # float edges: the display-scaled twin
            assert frame.dtype == np.float32
            expected = to_bgr8(frame)
        else:
            expected = frame
        assert img.encoding == "bgr8" and img.step == frame.shape[1] * 3
        assert bytes(img.data) == expected.tobytes(), channel
        checked[channel] += 1
    assert set(checked) == {"viz/camera/raw", "viz/camera/sharpen", "viz/camera/edges/bgr8"}, checked
    assert min(checked.values()) >= 0.6 * 30 * RECORD_S
