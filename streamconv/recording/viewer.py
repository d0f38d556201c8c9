"""Viewer encodings: each message as the Foxglove-schema messages that Foxglove and Lichtblick draw.

One mapping, shared by ``streamconv record`` (the MCAP file's viewer channels) and
``streamconv foxglove`` (the live WebSocket server), so a layout made on a recording works on a
live daemon.  The viewer channel of topic ``T`` is named ``viz/T``; a display-scaled twin is named
``viz/T/bgr8``.  Pure functions: no file, no socket.

===================================== ========================== =================================
Message                               Viewer channel             Schema (protobuf)
===================================== ========================== =================================
``frame`` uint8, 3 channels           ``viz/T``                  ``foxglove.RawImage`` ``bgr8``
``frame`` uint8, 1 channel            ``viz/T``                  ``foxglove.RawImage`` ``mono8``
``frame`` uint8, 4 channels           ``viz/T``                  ``foxglove.RawImage`` ``bgra8``
``frame`` uint16, 1 channel           ``viz/T``                  ``foxglove.RawImage`` ``mono16``
``frame`` float32, 1 channel          ``viz/T``                  ``foxglove.RawImage`` ``32FC1``
any other ``frame``, ``features``     ``viz/T/bgr8``             ``foxglove.RawImage`` ``bgr8``
                                                                 (the display mapping of
                                                                 :func:`streamconv.sinks.render.to_bgr8`;
                                                                 feature maps as a montage)
``samples``                           ``viz/T``                  ``streamconv.Sample``, one per
                                                                 sample: ``timestamp``, ``seq``,
                                                                 ``index``, ``value``
``_stats``                            ``viz/_stats``             JSON (``jsonschema``)
===================================== ========================== =================================

A RawImage's ``timestamp`` is the frame's capture time; a sample's is its own capture time
(``t_capture_ns + index * sample_period_ns``).  The protobuf messages are encoded here by hand
(a few varints and the pixel bytes in one copy); the tests decode them with ``protobuf`` against
the schemas, which come from the Foxglove SDK (``foxglove.messages.RawImage.get_schema()``) and,
for ``streamconv.Sample``, from :func:`sample_schema` (a ``FileDescriptorSet``).

Examples
--------
>>> import numpy as np
>>> from streamconv.wire import decode, encode
>>> msg = decode(encode("laser/raw", np.array([1.5, 2.5]), stream="laser", kind="samples",
...                     epoch="e", seq=3, t_capture_ns=10**9, meta={"sample_period_ns": 10}))
>>> [(v.channel, v.schema_name, v.log_time_ns) for v in viewer_messages(msg)]
[('viz/laser/raw', 'streamconv.Sample', 1000000000), ('viz/laser/raw', 'streamconv.Sample', 1000000010)]
"""

from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PREFIX",
    "RAW_IMAGE",
    "SAMPLE_SCHEMA",
    "STATS_SCHEMA",
    "ViewerMessage",
    "image_encoding",
    "sample_schema",
    "schema",
    "viewer_channel",
    "viewer_messages",
]

#: Viewer channels are named ``PREFIX + topic`` (the native, lossless channel keeps the topic).
PREFIX = "viz/"
RAW_IMAGE = "foxglove.RawImage"
SAMPLE_SCHEMA = "streamconv.Sample"
STATS_SCHEMA = "streamconv.Stats"


@dataclass(frozen=True, slots=True)
class ViewerMessage:
    """One encoded viewer message: its channel, schema name, time (ns) and bytes.

    With ``viewer_messages(..., parts=True)``, ``data`` of an image is a list of parts instead
    (head, pixels as a view, tail), for a writer that writes them without joining.
    """

    channel: str
    schema_name: str
    log_time_ns: int
    data: Any


@dataclass(frozen=True, slots=True)
class Schema:
    """A schema as MCAP and the Foxglove protocol carry it: name, encoding, data."""

    name: str
    encoding: str  # "protobuf" (data: a FileDescriptorSet) or "jsonschema"
    data: bytes

    @property
    def message_encoding(self) -> str:
        """The message encoding that goes with the schema encoding."""
        return "protobuf" if self.encoding == "protobuf" else "json"


def image_encoding(dtype: np.dtype, shape: tuple[int, ...]) -> str | None:
    """Return the RawImage ``encoding`` of a frame, or None when it needs a ``bgr8`` twin.

    Examples
    --------
    >>> image_encoding(np.dtype(np.uint8), (480, 640, 3)), image_encoding(np.dtype("<f4"), (4, 4))
    ('bgr8', '32FC1')
    >>> print(image_encoding(np.dtype("<f4"), (4, 4, 3)))
    None
    """
    channels = 1 if len(shape) == 2 else (shape[2] if len(shape) == 3 else 0)
    if len(shape) not in (2, 3) or channels == 0:
        return None
    if dtype == np.uint8:
        return {1: "mono8", 3: "bgr8", 4: "bgra8"}.get(channels)
    if dtype == np.dtype("<u2") and channels == 1:
        return "mono16"
    if dtype == np.dtype("<f4") and channels == 1:
        return "32FC1"
    return None


def viewer_channel(topic: str, kind: str, dtype: str, shape: list[int] | tuple[int, ...]) -> tuple[str, str]:
    """Return ``(channel, schema name)`` of the viewer channel of a topic with this header.

    Examples
    --------
    >>> viewer_channel("camera/edges", "frame", "<f4", [480, 640, 3])
    ('viz/camera/edges/bgr8', 'foxglove.RawImage')
    >>> viewer_channel("camera/raw", "frame", "|u1", [480, 640, 3])
    ('viz/camera/raw', 'foxglove.RawImage')
    """
    if kind == "samples":
        return PREFIX + topic, SAMPLE_SCHEMA
    if kind == "stats":
        return PREFIX + topic, STATS_SCHEMA
    if kind == "frame" and image_encoding(np.dtype(dtype), tuple(shape)) is not None:
        return PREFIX + topic, RAW_IMAGE
    return PREFIX + topic + "/bgr8", RAW_IMAGE


def viewer_messages(msg: Any, *, parts: bool = False) -> list[ViewerMessage]:
    """Return the viewer messages of one received message (a sample message gives one per sample).

    With ``parts``, an image's data is a list of parts (its pixels not copied).
    """
    kind = msg.kind
    channel, name = viewer_channel(msg.topic, kind, msg.array.dtype.str, msg.array.shape)
    t = int(msg.t_capture_ns)
    if kind == "samples":
        period = int((msg.meta or {}).get("sample_period_ns", 0) or 0)
        values = np.ravel(np.asarray(msg.array, dtype=np.float64))
        return [ViewerMessage(channel, name, t + i * period, encode_sample(t + i * period, msg.seq, i, v))
                for i, v in enumerate(values.tolist())]
    if kind == "stats":
        return [ViewerMessage(channel, name, t, json.dumps(msg.meta, separators=(",", ":"),
                                                           default=_plain).encode())]
    array = msg.array
    encoding = image_encoding(array.dtype, array.shape) if kind == "frame" else None
    if encoding is None:
        from streamconv.sinks.render import montage_fit, to_bgr8

        array = montage_fit(array) if kind == "features" else to_bgr8(array)
        encoding = "bgr8"
    image = raw_image_parts(t, array, encoding, frame_id=msg.stream)
    return [ViewerMessage(channel, name, t, image if parts else b"".join(image))]


# -- protobuf, by hand ------------------------------------------------------------------------------
def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _len_field(field: int, data: bytes) -> bytes:
    return _key(field, 2) + _varint(len(data)) + data


def _timestamp(t_ns: int) -> bytes:
    """Return the body of a ``google.protobuf.Timestamp`` (as ``foxglove.Timestamp``): seconds, nanos."""
    sec, nsec = divmod(int(t_ns), 1_000_000_000)
    body = b""
    if sec:
        body += _key(1, 0) + _varint(sec)
    if nsec:
        body += _key(2, 0) + _varint(nsec)
    return body


def encode_sample(t_ns: int, seq: int, index: int, value: float) -> bytes:
    """Encode one ``streamconv.Sample``: ``timestamp`` (1), ``seq`` (2), ``index`` (3), ``value`` (4)."""
    out = _len_field(1, _timestamp(t_ns))
    if seq:
        out += _key(2, 0) + _varint(seq)
    if index:
        out += _key(3, 0) + _varint(index)
    return out + _key(4, 1) + struct.pack("<d", value)


def encode_raw_image(t_ns: int, array: np.ndarray, encoding: str, *, frame_id: str = "") -> bytes:
    """Encode a ``foxglove.RawImage`` as bytes (see :func:`raw_image_parts`)."""
    return b"".join(raw_image_parts(t_ns, array, encoding, frame_id=frame_id))


def raw_image_parts(t_ns: int, array: np.ndarray, encoding: str, *, frame_id: str = "") -> list[Any]:
    """Encode a ``foxglove.RawImage`` as parts: its head, the pixels (a view, not copied), its tail.

    Fields: timestamp 1, width 2, height 3 (fixed32), encoding 4, step 5 (fixed32), data 6,
    frame_id 7.
    """
    a = np.ascontiguousarray(array)
    if a.dtype.byteorder == ">":  # pragma: no cover - the wire has only little-endian arrays
        a = a.astype(a.dtype.newbyteorder("<"))
    h, w = a.shape[:2]
    step = a.strides[0]
    head = (_len_field(1, _timestamp(t_ns)) + _key(2, 5) + struct.pack("<I", w)
            + _key(3, 5) + struct.pack("<I", h) + _len_field(4, encoding.encode())
            + _key(5, 5) + struct.pack("<I", step) + _key(6, 2) + _varint(a.nbytes))
    tail = _len_field(7, frame_id.encode()) if frame_id else b""
    return [head, memoryview(a.reshape(-1).view(np.uint8)) if a.size else b"", tail]


# -- schemas -------------------------------------------------------------------------------------
@functools.cache
def sample_schema() -> Schema:
    """Return the ``streamconv.Sample`` schema: a ``FileDescriptorSet`` (with google/protobuf/timestamp)."""
    from google.protobuf import descriptor_pb2, timestamp_pb2

    fds = descriptor_pb2.FileDescriptorSet()
    ts = fds.file.add()
    timestamp_pb2.DESCRIPTOR.CopyToProto(ts)
    f = fds.file.add()
    f.name = "streamconv/Sample.proto"
    f.package = "streamconv"
    f.syntax = "proto3"
    f.dependency.append(ts.name)
    m = f.message_type.add()
    m.name = "Sample"
    fdp = descriptor_pb2.FieldDescriptorProto
    for number, name, ftype, type_name in (
        (1, "timestamp", fdp.TYPE_MESSAGE, ".google.protobuf.Timestamp"),
        (2, "seq", fdp.TYPE_UINT64, ""),
        (3, "index", fdp.TYPE_UINT32, ""),
        (4, "value", fdp.TYPE_DOUBLE, ""),
    ):
        field = m.field.add(name=name, number=number, type=ftype, label=fdp.LABEL_OPTIONAL)
        if type_name:
            field.type_name = type_name
    return Schema(SAMPLE_SCHEMA, "protobuf", fds.SerializeToString())


@functools.cache
def raw_image_schema() -> Schema:
    """Return ``foxglove.RawImage`` as the Foxglove SDK ships it (``pip install foxglove-sdk``)."""
    from foxglove.messages import RawImage

    s = RawImage.get_schema()
    return Schema(s.name, s.encoding, bytes(s.data))


@functools.cache
def stats_schema() -> Schema:
    """Return the ``_stats`` JSON schema (an object: per topic rates, latencies and drops)."""
    body = {"title": STATS_SCHEMA, "type": "object",
            "properties": {"uptime_s": {"type": "number"}, "topics": {"type": "object"},
                           "streams": {"type": "object"}, "drops": {"type": "integer"},
                           "malformed": {"type": "integer"}}}
    return Schema(STATS_SCHEMA, "jsonschema", json.dumps(body).encode())


def schema(name: str) -> Schema:
    """Return the schema named ``name`` (one of the three above)."""
    return {RAW_IMAGE: raw_image_schema, SAMPLE_SCHEMA: sample_schema, STATS_SCHEMA: stats_schema}[name]()


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
