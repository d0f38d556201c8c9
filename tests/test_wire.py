"""Wire format v1: round trips (property), zero-copy, read-only arrays and every malformed case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from streamconv import wire
from streamconv.errors import StreamconvError, WireError

EPOCH = "18c3f2a9b7e01234-a1b2c3"


def header_dict(**overrides):
    """A valid header for a 2-sample float64 'laser/smoothed' message, with overrides."""
    header = {
        "v": 1,
        "stream": "laser",
        "kind": "samples",
        "epoch": EPOCH,
        "seq": 0,
        "t_capture_ns": 1_700_000_000_000_000_000,
        "dtype": "<f8",
        "shape": [2],
        "meta": {},
    }
    header.update(overrides)
    return header


def frames_of(header, payload=b"\x00" * 16, topic=b"laser/smoothed"):
    return [topic, json.dumps(header).encode(), payload]


def good_frames(seq=0, topic="laser/smoothed", epoch=EPOCH, values=(1.0, 2.5)):
    stream = topic.split("/")[0]
    return wire.encode(
        topic,
        np.asarray(values, dtype="<f8"),
        stream=stream,
        kind="samples",
        epoch=epoch,
        seq=seq,
        t_capture_ns=1_700_000_000_000_000_000,
    )


#: (case id, frames, a fragment the WireError message must contain).  Shared with test_client.py.
MALFORMED = [
    ("no-frames", [], "expected 3 frames"),
    ("one-frame-garbage", [b"\xff\xfe\x00garbage"], "expected 3 frames"),
    ("two-frames", [b"laser/smoothed", json.dumps(header_dict()).encode()], "got 2"),
    ("four-frames", [*frames_of(header_dict()), b"extra"], "got 4"),
    ("topic-not-utf8", frames_of(header_dict(), topic=b"laser/\xff"), "invalid topic: not UTF-8"),
    ("header-not-utf8", [b"laser/smoothed", b'{"v":1,"stream":"\xff"}', b""], "invalid header: not UTF-8"),
    ("header-not-json", [b"laser/smoothed", b"{not json", b""], "not JSON"),
    ("header-nan", [b"laser/smoothed", b'{"v":1,"x":NaN}', b""], "not JSON"),
    ("header-deep", [b"laser/smoothed", b"[" * 100_000 + b"]" * 100_000, b""], "not JSON"),
    ("header-list", [b"laser/smoothed", b"[1, 2]", b""], "expected an object"),
    ("header-string", [b"laser/smoothed", b'"hi"', b""], "expected an object"),
    (
        "missing-seq",
        frames_of({k: v for k, v in header_dict().items() if k != "seq"}),
        "'seq': Field required",
    ),
    ("missing-dtype", frames_of({k: v for k, v in header_dict().items() if k != "dtype"}), "'dtype'"),
    ("version-2", frames_of(header_dict(v=2)), "unsupported wire version 2"),
    ("version-true", frames_of(header_dict(v=True)), "unsupported wire version True"),
    ("version-float", frames_of(header_dict(v=1.0)), "unsupported wire version 1.0"),
    ("unknown-kind", frames_of(header_dict(kind="video")), "'kind'"),
    ("dtype-object", frames_of(header_dict(dtype="|O")), "dtype not allowed"),
    ("dtype-complex", frames_of(header_dict(dtype="<c16")), "dtype not allowed"),
    ("dtype-unicode", frames_of(header_dict(dtype="<U5")), "dtype not allowed"),
    ("dtype-bool", frames_of(header_dict(dtype="|b1")), "dtype not allowed"),
    ("dtype-big-endian", frames_of(header_dict(dtype=">f8")), "dtype not allowed"),
    ("dtype-pickle-ish", frames_of(header_dict(dtype="V8")), "dtype not allowed"),
    ("negative-seq", frames_of(header_dict(seq=-1)), "'seq': Input should be greater than or equal to 0"),
    ("bool-seq", frames_of(header_dict(seq=True)), "'seq'"),
    ("float-seq", frames_of(header_dict(seq=1.0)), "'seq'"),
    ("string-seq", frames_of(header_dict(seq="1")), "'seq'"),
    ("negative-t", frames_of(header_dict(t_capture_ns=-5)), "'t_capture_ns'"),
    ("empty-epoch", frames_of(header_dict(epoch="")), "'epoch'"),
    ("empty-stream", frames_of(header_dict(stream="")), "'stream'"),
    ("negative-dim", frames_of(header_dict(shape=[-2])), "'shape.0'"),
    ("nine-dims", frames_of(header_dict(shape=[1] * 9), payload=b"\x00" * 8), "'shape'"),
    ("shape-not-list", frames_of(header_dict(shape=2)), "'shape'"),
    ("meta-not-object", frames_of(header_dict(meta=[1])), "'meta'"),
    ("payload-short", frames_of(header_dict(), payload=b"\x00" * 15), "15 bytes; header declares 16"),
    ("payload-long", frames_of(header_dict(), payload=b"\x00" * 17), "17 bytes; header declares 16"),
    ("huge-shape", frames_of(header_dict(shape=[2**40, 2**20])), "max_payload_bytes"),
    (
        "topic-stream-mismatch",
        frames_of(header_dict(stream="camera")),
        "does not match header stream 'camera'",
    ),
    ("topic-no-output", frames_of(header_dict(), topic=b"laser"), "invalid topic 'laser'"),
    ("topic-empty-output", frames_of(header_dict(), topic=b"laser/"), "invalid topic 'laser/'"),
    ("topic-space", frames_of(header_dict(), topic=b"laser/a b"), "invalid topic"),
    ("topic-reserved", frames_of(header_dict(stream="_x"), topic=b"_x/y"), "invalid topic '_x/y'"),
    ("stats-wrong-kind", frames_of(header_dict(stream="_stats"), topic=b"_stats"), "expected 'stats'"),
]


# ------------------------------------------------------------------------------------ round trips

wire_dtypes = st.sampled_from(sorted(wire.ALLOWED_DTYPES)).map(np.dtype)
wire_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)


@settings(max_examples=150, deadline=None)
@given(array=hnp.arrays(wire_dtypes, wire_shapes), seq=st.integers(0, 2**63 - 1))
def test_round_trip_is_bit_exact(array, seq):
    frames = wire.encode(
        "cam/out", array, stream="cam", kind="frame", epoch="e", seq=seq, t_capture_ns=123, meta={"k": [1, 2]}
    )
    for payload in (frames, [bytes(f) for f in frames]):
        msg = wire.decode(payload)
        assert msg.array.dtype == array.dtype
        assert msg.array.shape == array.shape
        assert msg.array.tobytes() == array.tobytes()  # bit for bit, NaN payloads included
        assert not msg.array.flags.writeable
        assert (msg.topic, msg.seq, msg.epoch, msg.stream, msg.kind) == ("cam/out", seq, "e", "cam", "frame")
        assert msg.t_capture_ns == 123 and msg.meta == {"k": [1, 2]}


@settings(max_examples=50, deadline=None)
@given(array=hnp.arrays(wire_dtypes, hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=5)))
def test_non_contiguous_and_big_endian_inputs_round_trip(array):
    strided = array.T  # Fortran order: encode makes it C-contiguous
    msg = wire.decode(wire.encode("a/b", strided, stream="a", kind="frame", epoch="e", seq=0, t_capture_ns=0))
    np.testing.assert_array_equal(msg.array.view(np.uint8), np.ascontiguousarray(strided).view(np.uint8))
    swapped = array.astype(array.dtype.newbyteorder(">"))
    msg = wire.decode(wire.encode("a/b", swapped, stream="a", kind="frame", epoch="e", seq=0, t_capture_ns=0))
    assert msg.array.dtype.str == array.dtype.str  # sent little-endian
    assert msg.array.tobytes() == array.tobytes()


@pytest.mark.parametrize("shape", [(0,), (3, 0), (0, 4, 3), (2, 0, 0, 1)])
def test_zero_size_shapes_round_trip(shape):
    array = np.zeros(shape, dtype="<f4")
    frames = wire.encode("a/b", array, stream="a", kind="frame", epoch="e", seq=0, t_capture_ns=0)
    assert bytes(frames[2]) == b""
    msg = wire.decode([bytes(f) for f in frames])
    assert msg.array.shape == shape and msg.array.dtype == np.dtype("<f4")


def test_3d_frame_round_trip_with_uint8_pixels():
    frame = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    msg = wire.decode(
        wire.encode("cam/rgb", frame, stream="cam", kind="frame", epoch="e", seq=9, t_capture_ns=1)
    )
    np.testing.assert_array_equal(msg.array, frame)
    assert msg.header.shape == [4, 5, 3] and msg.header.dtype == "|u1"


def test_scalar_shape_round_trip():
    for value in (np.array(2.5), np.float64(2.5)):
        msg = wire.decode(
            wire.encode("a/b", value, stream="a", kind="features", epoch="e", seq=0, t_capture_ns=0)
        )
        assert msg.array.shape == () and msg.array[()] == 2.5 and msg.header.shape == []


# ------------------------------------------------------------------------------ zero-copy, read-only


def test_encode_payload_is_a_zero_copy_view_of_a_contiguous_array():
    array = np.arange(12.0).reshape(3, 4)
    payload = wire.encode("a/b", array, stream="a", kind="frame", epoch="e", seq=0, t_capture_ns=0)[2]
    assert isinstance(payload, memoryview)
    assert np.shares_memory(np.frombuffer(payload, np.uint8), array)


@pytest.mark.parametrize("container", [bytes, bytearray, memoryview, zmq.Frame])
def test_decode_is_zero_copy_and_read_only(container):
    encoded = [bytes(f) for f in good_frames()]
    frames = [container(f) if container is not memoryview else memoryview(bytearray(f)) for f in encoded]
    msg = wire.decode(frames)
    payload = frames[2].buffer if container is zmq.Frame else frames[2]
    assert np.shares_memory(msg.array, np.frombuffer(payload, np.uint8))
    assert not msg.array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        msg.array[0] = 7.0
    np.testing.assert_array_equal(msg.array, [1.0, 2.5])


def test_decode_copy_gives_an_independent_read_only_array():
    frames = [bytearray(f) for f in good_frames()]
    msg = wire.decode(frames, copy=True)
    assert not np.shares_memory(msg.array, np.frombuffer(frames[2], np.uint8))
    assert not msg.array.flags.writeable


# ---------------------------------------------------------------------------------- header details


def test_header_json_is_compact_and_has_the_documented_fields():
    header = json.loads(bytes(good_frames(seq=42)[1]))
    assert header == header_dict(seq=42)
    assert b" " not in bytes(good_frames()[1])


def test_t_publish_ns_is_optional_and_carried():
    frames = wire.encode(
        "a/b", np.zeros(1), stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=5, t_publish_ns=9
    )
    assert json.loads(bytes(frames[1]))["t_publish_ns"] == 9
    assert wire.decode(frames).t_publish_ns == 9
    assert "t_publish_ns" not in json.loads(bytes(good_frames()[1]))
    assert wire.decode(good_frames()).t_publish_ns is None


def test_unknown_header_keys_are_kept_and_re_encoded():
    frames = frames_of(header_dict(x_future={"a": 1}, meta={"kernel": "gaussian"}))
    msg = wire.decode(frames)
    assert msg.header.model_extra == {"x_future": {"a": 1}}
    again = wire.decode(wire.encode_message(msg))
    assert again.header == msg.header
    np.testing.assert_array_equal(again.array, msg.array)


def test_encode_message_is_the_inverse_of_decode():
    frames = good_frames(seq=3)
    assert [bytes(f) for f in wire.encode_message(wire.decode(frames))] == [bytes(f) for f in frames]


def test_meta_numpy_values_become_plain_json():
    meta = {
        "weights": np.array([0.25, 0.75]),
        "m": np.int64(2),
        "g": np.float32(0.5),
        "ok": np.bool_(True),
        "nested": {"t": (1, 2)},
    }
    frames = wire.encode(
        "a/b", np.zeros(1), stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=0, meta=meta
    )
    assert json.loads(bytes(frames[1]))["meta"] == {
        "weights": [0.25, 0.75],
        "m": 2,
        "g": 0.5,
        "ok": True,
        "nested": {"t": [1, 2]},
    }


def test_message_latency_is_computed_on_access():
    import time

    msg = wire.decode(
        wire.encode(
            "a/b", np.zeros(1), stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=time.time_ns()
        )
    )
    assert 0 <= msg.latency_ns < 10**9


def test_stats_message():
    stats = {
        "uptime_s": 3.5,
        "laser/smoothed": {
            "rate_hz": 100.0,
            "latency_p50_ms": 0.4,
            "latency_p99_ms": 2.0,
            "drops": 0,
            "malformed": 1,
            "count": 350,
        },
    }
    frames = wire.encode_stats(stats, epoch="e", seq=4, t_ns=77)
    assert bytes(frames[0]) == b"_stats" and bytes(frames[2]) == b""
    msg = wire.decode(frames)
    assert (msg.kind, msg.seq, msg.t_capture_ns, msg.header.dtype, msg.array.shape) == (
        "stats",
        4,
        77,
        "|u1",
        (0,),
    )
    assert msg.meta == stats


def test_new_epoch_changes_every_call():
    epochs = {wire.new_epoch() for _ in range(100)}
    assert len(epochs) == 100
    assert all(len(e.split("-")) == 2 for e in epochs)


# --------------------------------------------------------------------------------- malformed: decode


@pytest.mark.parametrize(
    ("frames", "reason"), [(f, r) for _, f, r in MALFORMED], ids=[c for c, _, _ in MALFORMED]
)
def test_malformed_messages_raise_wire_error_with_reason(frames, reason):
    with pytest.raises(WireError) as info:
        wire.decode(frames, max_payload_bytes=256 * 2**20)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StreamconvError)


def test_huge_declared_shape_without_a_limit_fails_on_length_without_allocating():
    frames = frames_of(header_dict(shape=[2**40, 2**20]))
    with pytest.raises(WireError, match=r"16 bytes; header declares 9223372036854775808"):
        wire.decode(frames)


def test_max_payload_bytes_is_checked_before_the_length():
    with pytest.raises(WireError, match="more than max_payload_bytes=8"):
        wire.decode(good_frames(), max_payload_bytes=8)
    assert wire.decode(good_frames(), max_payload_bytes=16).array.nbytes == 16


def test_decode_rejects_non_buffer_frames():
    with pytest.raises(WireError, match="invalid frame of type int"):
        wire.decode([b"a/b", 3, b""])


# --------------------------------------------------------------------------------- malformed: encode


@pytest.mark.parametrize(
    ("array", "fragment"),
    [
        (np.array([object(), 1], dtype=object), "invalid dtype '|O'"),  # never pickled
        (np.zeros(2, dtype="<c16"), "invalid dtype '<c16'"),
        (np.array(["hello"], dtype="<U5"), "invalid dtype '<U5'"),
        (np.zeros(2, dtype=bool), "invalid dtype '|b1'"),
        (np.zeros(2, dtype="datetime64[ns]"), "invalid dtype '<M8[ns]'"),
        (np.zeros([1] * 9), "at most 8"),
        ([1.0, 2.0], "expected a numpy.ndarray"),
    ],
)
def test_encode_rejects_arrays_off_the_allow_list(array, fragment):
    with pytest.raises(WireError) as info:
        wire.encode("a/b", array, stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=0)
    assert fragment in str(info.value)
    if "dtype" in fragment:
        assert "'<f8'" in str(info.value)  # the allowed set is quoted


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"topic": "laser"}, "invalid topic 'laser'"),
        ({"topic": "camera/edges"}, "does not match header stream 'laser'"),
        ({"topic": "_stats"}, "for topic '_stats'; expected 'stats'"),
        ({"topic": b"laser/raw"}, "expected a str"),
        ({"kind": "video"}, "'kind'"),
        ({"stream": "a/b", "topic": "a/b/c"}, "'stream'"),
        ({"epoch": ""}, "'epoch'"),
        ({"seq": -1}, "'seq'"),
        ({"seq": 1.5}, "invalid seq 1.5"),
        ({"seq": True}, "invalid seq True"),
        ({"seq": 2**63}, "'seq'"),
        ({"t_capture_ns": "now"}, "invalid t_capture_ns 'now'"),
        ({"meta": {"gain": float("nan")}}, "invalid meta.gain: nan"),
        ({"meta": {"w": np.array([1.0, np.inf])}}, "invalid meta.w[1]: inf"),
        ({"meta": {1: "x"}}, "keys must be str"),
        ({"meta": {"f": object()}}, "not JSON-serializable"),
        ({"meta": {"s": {1, 2}}}, "not JSON-serializable"),
    ],
)
def test_encode_validates_each_field_and_names_it(overrides, fragment):
    kwargs = {
        "topic": "laser/raw",
        "stream": "laser",
        "kind": "samples",
        "epoch": "e",
        "seq": 0,
        "t_capture_ns": 0,
    } | overrides
    topic = kwargs.pop("topic")
    with pytest.raises(WireError) as info:
        wire.encode(topic, np.zeros(2), **kwargs)
    assert fragment in str(info.value)


def test_encode_accepts_numpy_integers_for_int_fields():
    frames = wire.encode(
        "a/b", np.zeros(1), stream="a", kind="samples", epoch="e", seq=np.int64(3), t_capture_ns=np.uint64(4)
    )
    assert wire.decode(frames).seq == 3


def test_worked_example_in_the_docs_is_what_encode_produces():
    """Golden bytes: docs/wire-format.md, "Worked example, byte by byte"."""
    frames = wire.encode(
        "laser/smoothed",
        np.array([1.0, 2.5]),
        stream="laser",
        kind="samples",
        epoch="17979cfbe21e1c00-5f3a9c",
        seq=42,
        t_capture_ns=1700000000123456789,
        meta={"sample_period_ns": 10_000_000},
        t_publish_ns=1700000000124000000,
    )
    topic, header, payload = (bytes(f) for f in frames)
    assert topic.hex(" ") == "6c 61 73 65 72 2f 73 6d 6f 6f 74 68 65 64"
    assert payload.hex(" ") == "00 00 00 00 00 00 f0 3f 00 00 00 00 00 00 04 40"
    doc = (Path(__file__).resolve().parents[1] / "docs" / "wire-format.md").read_text(encoding="utf-8")
    assert header.decode() in doc
    assert f"header**, {len(header)} bytes" in doc
    for offset in range(0, len(header), 16):
        assert f"{offset:04x}  " + header[offset : offset + 16].hex(" ") in doc
