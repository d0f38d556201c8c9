"""Viewer encodings decoded by protobuf against their schemas (independent of our hand encoder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamconv.recording import viewer
from streamconv.wire import decode, encode

pytest.importorskip("foxglove", reason="pip install 'streamconv[record]'")
descriptor_pb2 = pytest.importorskip("google.protobuf.descriptor_pb2")


def message_class(schema: viewer.Schema, name: str):
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    for f in descriptor_pb2.FileDescriptorSet.FromString(schema.data).file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(name))


def _frame(topic: str, array: np.ndarray, t: int = 1_700_000_000_250_000_001):
    return decode(encode(topic, array, stream=topic.split("/")[0], kind="frame", epoch="e", seq=4,
                         t_capture_ns=t))


@pytest.mark.parametrize(("dtype", "shape", "encoding"), [
    (np.uint8, (5, 7, 3), "bgr8"), (np.uint8, (5, 7), "mono8"), (np.uint8, (5, 7, 4), "bgra8"),
    ("<u2", (5, 7), "mono16"), ("<f4", (5, 7), "32FC1"),
])
def test_raw_image_decodes_to_the_frame(dtype, shape, encoding) -> None:
    raw = message_class(viewer.schema(viewer.RAW_IMAGE), "foxglove.RawImage")
    rng = np.random.default_rng(1)
    array = (rng.random(shape) * 250).astype(dtype)
    [vm] = viewer.viewer_messages(_frame("camera/x", array))
    assert (vm.channel, vm.schema_name) == ("viz/camera/x", "foxglove.RawImage")
    img = raw.FromString(vm.data)
    assert (img.width, img.height, img.encoding, img.frame_id) == (7, 5, encoding, "camera")
    assert img.step == 7 * array.itemsize * (shape[2] if len(shape) == 3 else 1)
    assert img.timestamp.seconds * 10**9 + img.timestamp.nanos == 1_700_000_000_250_000_001
    back = np.frombuffer(img.data, np.dtype(dtype)).reshape(shape)
    assert np.array_equal(back, array)


def test_signed_float_frames_get_a_display_scaled_bgr8_twin() -> None:
    from streamconv.sinks.render import to_bgr8

    raw = message_class(viewer.schema(viewer.RAW_IMAGE), "foxglove.RawImage")
    edges = (np.random.default_rng(2).normal(size=(6, 9, 3)) * 80).astype("<f4")
    [vm] = viewer.viewer_messages(_frame("camera/edges", edges))
    assert vm.channel == "viz/camera/edges/bgr8"
    img = raw.FromString(vm.data)
    assert img.encoding == "bgr8" and img.step == 27
    assert np.array_equal(np.frombuffer(img.data, np.uint8).reshape(6, 9, 3), to_bgr8(edges))


def test_samples_one_message_per_sample_with_its_own_time() -> None:
    sample = message_class(viewer.sample_schema(), "streamconv.Sample")
    values = np.array([1.25, -3.5, 0.0, np.nan])
    msg = decode(encode("laser/smoothed", values, stream="laser", kind="samples", epoch="e", seq=77,
                        t_capture_ns=2_000_000_000, meta={"sample_period_ns": 10_000_000}))
    vms = viewer.viewer_messages(msg)
    assert [vm.log_time_ns for vm in vms] == [2_000_000_000 + i * 10_000_000 for i in range(4)]
    got = [sample.FromString(vm.data) for vm in vms]
    assert [(g.seq, g.index) for g in got] == [(77, i) for i in range(4)]
    assert [g.value for g in got[:3]] == [1.25, -3.5, 0.0] and np.isnan(got[3].value)
    assert got[1].timestamp.seconds == 2 and got[1].timestamp.nanos == 10_000_000


def test_stats_are_json() -> None:
    from streamconv.wire import encode_stats

    msg = decode(encode_stats({"uptime_s": 1.5, "topics": {"a/b": {"count": 3}}}, epoch="e", seq=0, t_ns=9))
    [vm] = viewer.viewer_messages(msg)
    assert vm.channel == "viz/_stats" and json.loads(vm.data)["topics"]["a/b"]["count"] == 3
    assert viewer.schema(viewer.STATS_SCHEMA).encoding == "jsonschema"
