"""Wire format v1: encode and decode the three-frame multipart messages (pure functions, no sockets).

A message is three ZeroMQ frames: the topic (UTF-8), a header (a UTF-8 JSON object validated by
:class:`Header`) and the payload (the array's C-order bytes, little-endian).  ``docs/wire-format.md``
is the full reference for clients in any language.  No pickle anywhere: the header is JSON and the
payload is raw numbers of a dtype from :data:`ALLOWED_DTYPES`.

Examples
--------
>>> import numpy as np
>>> frames = encode("laser/smoothed", np.array([1.5, 2.5]), stream="laser", kind="samples",
...                 epoch="e1", seq=0, t_capture_ns=1)
>>> msg = decode(frames)
>>> msg.topic, msg.seq, msg.array.tolist(), msg.array.flags.writeable
('laser/smoothed', 0, [1.5, 2.5], False)
"""

from __future__ import annotations

import json
import math
import operator
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import zmq
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streamconv.errors import WireError

__all__ = [
    "ALLOWED_DTYPES",
    "KINDS",
    "MAX_NDIM",
    "STATS_TOPIC",
    "WIRE_VERSION",
    "Header",
    "Message",
    "decode",
    "encode",
    "encode_message",
    "encode_stats",
    "new_epoch",
    "restamp",
]

#: The version this module writes and the only one it reads (header field ``v``).
WIRE_VERSION = 1
#: The closed vocabulary of the header field ``kind``.
KINDS = ("samples", "frame", "features", "stats")
Kind = Literal["samples", "frame", "features", "stats"]
#: numpy ``dtype.str`` codes allowed on the wire: numeric, little-endian (``<``) or byte-order free
#: (``|``).  Bool, complex, object, string, datetime and big-endian (``>``) codes are rejected.
ALLOWED_DTYPES: frozenset[str] = frozenset(
    {"|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"}
)
_ITEMSIZE = {code: np.dtype(code).itemsize for code in ALLOWED_DTYPES}
#: At most this many array dimensions.
MAX_NDIM = 8
#: The topic of the service's statistics messages (kind ``'stats'``).
STATS_TOPIC = "_stats"

_INT64_MAX = 2**63 - 1
_ALLOWED_SORTED = sorted(ALLOWED_DTYPES)
# A stream name and the output part of a topic: no '/', whitespace or control characters in the stream;
# no whitespace or control characters in the output.  Streams starting with '_' are reserved for the service.
_NAME = r"[^/\s\x00-\x1f\x7f]+"
_STREAM_RE = re.compile(_NAME)
_TOPIC_RE = re.compile(rf"(?P<stream>{_NAME})/(?P<output>[^\s\x00-\x1f\x7f]+)")
_FRAME_COUNT = 3
# Compact, UTF-8 (no \u escapes needed), and NaN/Infinity refused; one encoder for all messages.
_JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)

Int64 = Annotated[int, Field(ge=0, le=_INT64_MAX)]


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Header(BaseModel):
    """The JSON header (frame 2) of a wire-format v1 message.

    Validation is strict: integers must be JSON integers (not ``true``, ``1.0`` or ``"1"``).
    Unknown extra keys are kept (``model_extra``) so that a v1 reader accepts headers from a newer
    v1 writer that adds optional fields.

    Parameters
    ----------
    v : 1
        Wire format version.
    stream : str
        Stream name: non-empty, no ``/``, whitespace or control characters.
    kind : {'samples', 'frame', 'features', 'stats'}
        What the payload is.
    epoch : str
        Non-empty; changes every time a publisher starts, so a restart is not mistaken for a gap.
    seq : int
        Per topic, from 0 at each epoch, +1 per message.
    t_capture_ns : int
        Unix time in ns of the capture of the first item in the payload.
    dtype : str
        numpy ``dtype.str`` of the payload, one of :data:`ALLOWED_DTYPES`.
    shape : list of int
        Array shape, each >= 0, at most :data:`MAX_NDIM` dimensions (``[]`` is a scalar).
    meta : dict
        Free-form JSON object (filter spec, kernel name, sample period, ...).
    t_publish_ns : int or None
        Unix time in ns when the publisher sent the message (optional).
    """

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)

    v: Literal[1]
    stream: str = Field(min_length=1)
    kind: Kind
    epoch: str = Field(min_length=1)
    seq: Int64
    t_capture_ns: Int64
    dtype: str
    shape: Annotated[list[Int64], Field(max_length=MAX_NDIM)]
    meta: dict[str, Any] = Field(default_factory=dict)
    t_publish_ns: Int64 | None = None

    @field_validator("v", mode="before")
    @classmethod
    def _check_version(cls, value: Any) -> Any:
        # Literal[1] alone would accept true and 1.0.
        if type(value) is not int or value != WIRE_VERSION:
            raise ValueError(f"unsupported wire version {_short(value)}; expected {WIRE_VERSION}")
        return value

    @field_validator("stream")
    @classmethod
    def _check_stream(cls, value: str) -> str:
        if not _STREAM_RE.fullmatch(value):
            raise ValueError("expected a name without '/', whitespace or control characters")
        return value

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, value: str) -> str:
        if value not in ALLOWED_DTYPES:
            raise ValueError(f"dtype not allowed; expected one of {_ALLOWED_SORTED}")
        return value

    @property
    def itemsize(self) -> int:
        """Bytes per element of :attr:`dtype`."""
        return _ITEMSIZE[self.dtype]

    @property
    def payload_nbytes(self) -> int:
        """The payload length this header declares: ``prod(shape) * itemsize``."""
        return math.prod(self.shape) * self.itemsize


def _validate_header(data: Any) -> Header:
    """Validate a header mapping, turning pydantic's error into a WireError naming each bad field."""
    try:
        return Header.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(part) for part in err["loc"]) or "header"
            problems.append(f"field {field!r}: {err['msg']} (got {_short(err.get('input'))})")
        raise WireError("invalid header: " + "; ".join(problems)) from None


@dataclass(frozen=True, slots=True)
class Message:
    """A decoded message: topic, validated header and a read-only array.

    Parameters
    ----------
    topic : str
        ``<stream>/<output>`` or ``_stats``.
    header : Header
        The validated header.
    array : ndarray of shape ``header.shape`` and dtype ``header.dtype``
        Read-only; a zero-copy view of the received payload unless decoded with ``copy=True``.
    header_json : bytes or None
        The header exactly as received (set by :func:`decode`): what a recording stores, so it
        holds the bytes that came over the wire.
    """

    topic: str
    header: Header
    array: NDArray[Any]
    header_json: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def seq(self) -> int:
        """Per-topic sequence number (from 0 at each epoch)."""
        return self.header.seq

    @property
    def epoch(self) -> str:
        """The publisher's epoch (changes at every publisher start)."""
        return self.header.epoch

    @property
    def stream(self) -> str:
        """Stream name."""
        return self.header.stream

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`."""
        return self.header.kind

    @property
    def t_capture_ns(self) -> int:
        """Unix time in ns of the capture of the first item."""
        return self.header.t_capture_ns

    @property
    def t_publish_ns(self) -> int | None:
        """Unix time in ns when the publisher sent the message, if it said."""
        return self.header.t_publish_ns

    @property
    def meta(self) -> dict[str, Any]:
        """The header's free-form ``meta`` object."""
        return self.header.meta

    @property
    def latency_ns(self) -> int:
        """``time.time_ns() - t_capture_ns``, computed now (assumes synchronised clocks across hosts)."""
        return time.time_ns() - self.header.t_capture_ns


def new_epoch() -> str:
    """Return a fresh epoch string: the start time in hex ns and 6 random hex digits.

    Examples
    --------
    >>> a, b = new_epoch(), new_epoch()
    >>> a != b and len(a.split("-")[1]) == 6
    True
    """
    return f"{time.time_ns():x}-{secrets.token_hex(3)}"


# ---------------------------------------------------------------------------------------------- encode


def encode(
    topic: str,
    array: NDArray[Any],
    *,
    stream: str,
    kind: str,
    epoch: str,
    seq: int,
    t_capture_ns: int,
    meta: Mapping[str, Any] | None = None,
    t_publish_ns: int | None = None,
) -> list[bytes | memoryview]:
    r"""Encode one message as its three frames.

    Parameters
    ----------
    topic : str
        ``<stream>/<output>`` whose stream part equals ``stream``, or ``'_stats'`` (kind ``'stats'``).
    array : ndarray
        Numeric array; its dtype must be in :data:`ALLOWED_DTYPES` once a big-endian array is
        converted to little-endian.  A numpy scalar is a 0-d array.
        Made C-contiguous (copied only when it is not already).
    stream, kind, epoch, seq, t_capture_ns, meta, t_publish_ns
        Header fields, see :class:`Header`.  ``meta`` may hold numpy scalars and arrays (converted to
        plain numbers and lists); NaN and infinity are rejected.

    Returns
    -------
    list of [bytes, bytes, memoryview]
        Topic, header JSON and the payload, a zero-copy view of the (contiguous) array: do not
        modify the array until the frames are sent.

    Raises
    ------
    WireError
        Naming the field or value that does not follow the wire format.

    Examples
    --------
    >>> frames = encode("laser/raw", np.arange(3, dtype="<i2"), stream="laser", kind="samples",
    ...                 epoch="e", seq=7, t_capture_ns=0)
    >>> frames[0], bytes(frames[2])
    (b'laser/raw', b'\x00\x00\x01\x00\x02\x00')
    """
    arr = _wire_array(array)
    fields: dict[str, Any] = {
        "v": WIRE_VERSION,
        "stream": stream,
        "kind": kind,
        "epoch": epoch,
        "seq": _as_int("seq", seq),
        "t_capture_ns": _as_int("t_capture_ns", t_capture_ns),
        "dtype": arr.dtype.str,
        "shape": list(arr.shape),
        "meta": _jsonable("meta", {} if meta is None else meta),
    }
    if t_publish_ns is not None:
        fields["t_publish_ns"] = _as_int("t_publish_ns", t_publish_ns)
    header = _validate_header(fields)
    _check_topic(topic, header)
    return [topic.encode("utf-8"), _dump_json(fields), _payload(arr)]


def encode_message(msg: Message) -> list[bytes | memoryview]:
    """Re-encode a decoded :class:`Message`, keeping unknown extra header keys.

    Examples
    --------
    >>> frames = encode("a/b", np.zeros(2, "|u1"), stream="a", kind="frame", epoch="e", seq=0,
    ...                 t_capture_ns=0)
    >>> [bytes(f) for f in encode_message(decode(frames))] == [bytes(f) for f in frames]
    True
    """
    header = _validate_header(msg.header.model_dump())
    _check_topic(msg.topic, header)
    arr = _wire_array(msg.array)
    if arr.dtype.str != header.dtype or list(arr.shape) != header.shape:
        raise WireError(
            f"array {arr.dtype.str} {list(arr.shape)} does not match header {header.dtype} {header.shape}"
        )
    fields = header.model_dump()
    if fields["t_publish_ns"] is None:
        del fields["t_publish_ns"]
    fields["meta"] = _jsonable("meta", fields["meta"])
    for key, value in (header.model_extra or {}).items():
        fields[key] = _jsonable(key, value)
    return [msg.topic.encode("utf-8"), _dump_json(fields), _payload(arr)]


def encode_stats(stats: Mapping[str, Any], *, epoch: str, seq: int, t_ns: int) -> list[bytes | memoryview]:
    """Encode a ``_stats`` message: kind ``'stats'``, an empty ``'|u1'`` payload, ``stats`` in ``meta``.

    Parameters
    ----------
    stats : mapping
        JSON-able statistics, e.g. ``{"uptime_s": 3.0, "laser/smoothed": {"rate_hz": 100.0, ...}}``.
    epoch, seq : str, int
        The publisher's epoch and the ``_stats`` topic's sequence number.
    t_ns : int
        Unix time in ns the statistics were taken (``t_capture_ns`` and ``t_publish_ns``).

    Examples
    --------
    >>> msg = decode(encode_stats({"uptime_s": 1.5}, epoch="e", seq=0, t_ns=0))
    >>> msg.topic, msg.kind, msg.meta, msg.array.shape
    ('_stats', 'stats', {'uptime_s': 1.5}, (0,))
    """
    return encode(
        STATS_TOPIC,
        np.empty(0, dtype="|u1"),
        stream=STATS_TOPIC,
        kind="stats",
        epoch=epoch,
        seq=seq,
        t_capture_ns=t_ns,
        t_publish_ns=t_ns,
        meta=stats,
    )


def _wire_array(array: Any) -> np.ndarray:
    if isinstance(array, np.generic):
        array = np.asarray(array)
    if not isinstance(array, np.ndarray):
        raise WireError(f"invalid array: {type(array).__name__}; expected a numpy.ndarray")
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype.str not in ALLOWED_DTYPES:
        raise WireError(
            f"invalid dtype {array.dtype.str!r} ({array.dtype}); expected one of {_ALLOWED_SORTED}"
        )
    if array.ndim > MAX_NDIM:
        raise WireError(f"invalid array: {array.ndim} dimensions; expected at most {MAX_NDIM}")
    # Not np.ascontiguousarray: it would turn a 0-d array into shape (1,).
    return array if array.flags.c_contiguous else array.copy(order="C")


def _payload(arr: np.ndarray) -> memoryview:
    # reshape(-1) of a C-contiguous array is a view; the uint8 view makes the memoryview 1D bytes.
    return memoryview(arr.reshape(-1).view(np.uint8))


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise WireError(f"invalid {name} {value!r}; expected an integer")
    try:
        return operator.index(value)
    except TypeError:
        raise WireError(f"invalid {name} {_short(value)}; expected an integer") from None


def _jsonable(path: str, value: Any) -> Any:
    """Return ``value`` as plain JSON types (numpy scalars/arrays converted); raise on NaN or objects."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            raise WireError(f"invalid {path}: {float(value)!r}; JSON allows only finite numbers")
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise WireError(f"invalid {path}: array of dtype {value.dtype}; expected numbers")
        return _jsonable(path, value.tolist())
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"invalid {path}: key {_short(key)}; JSON object keys must be str")
            out[key] = _jsonable(f"{path}.{key}", item)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(f"{path}[{i}]", item) for i, item in enumerate(value)]
    raise WireError(f"invalid {path}: {type(value).__name__} {_short(value)} is not JSON-serializable")


def _dump_json(fields: Mapping[str, Any]) -> bytes:
    return _JSON_ENCODER.encode(fields).encode("utf-8")


def _check_topic(topic: Any, header: Header) -> None:
    if not isinstance(topic, str):
        raise WireError(f"invalid topic {_short(topic)}; expected a str")
    if topic == STATS_TOPIC:
        if header.kind != "stats":
            raise WireError(f"invalid kind {header.kind!r} for topic {STATS_TOPIC!r}; expected 'stats'")
        return
    match = _TOPIC_RE.fullmatch(topic)
    if match is None or match["stream"].startswith("_"):
        raise WireError(
            f"invalid topic {_short(topic)}; expected '<stream>/<output>' (stream not starting with '_',"
            f" no whitespace) or {STATS_TOPIC!r}"
        )
    if match["stream"] != header.stream:
        raise WireError(f"topic {topic!r} does not match header stream {header.stream!r}")


# ---------------------------------------------------------------------------------------------- decode


def decode(
    frames: Sequence[bytes | bytearray | memoryview | zmq.Frame],
    *,
    max_payload_bytes: int | None = None,
    copy: bool = False,
) -> Message:
    """Decode and validate one received multipart message.

    Everything is checked before the payload is touched: 3 frames, UTF-8 topic, header a JSON
    object that validates as :class:`Header`, topic consistent with the header, declared payload
    size within ``max_payload_bytes`` and equal to the payload frame's length.

    Parameters
    ----------
    frames : sequence of bytes, memoryview or zmq.Frame
        The frames as received (``recv_multipart(copy=False)`` gives ``zmq.Frame``).
    max_payload_bytes : int, optional
        Reject a header declaring a larger payload.
    copy : bool
        Copy the payload into a new array instead of viewing the frame's memory.

    Returns
    -------
    Message
        Its array is read-only; without ``copy`` it is a zero-copy view that keeps the frame alive.

    Raises
    ------
    WireError
        With the reason the message does not follow the wire format.

    Examples
    --------
    >>> decode([b"a/b", b"{}", b""])
    Traceback (most recent call last):
    ...
    streamconv.errors.WireError: invalid header: field 'v': Field required (got {})...
    """
    topic, _, header, payload = _checked(frames, max_payload_bytes)
    array = np.frombuffer(payload, dtype=header.dtype).reshape(header.shape)
    if copy:
        array = array.copy()
    array.flags.writeable = False
    return Message(topic, header, array, bytes(_buffer(frames[1])))


def _checked(
    frames: Sequence[Any], max_payload_bytes: int | None
) -> tuple[str, dict[str, Any], Header, memoryview]:
    """Check a received message as :func:`decode` does; return topic, header dict, header, payload."""
    if len(frames) != _FRAME_COUNT:
        raise WireError(f"expected {_FRAME_COUNT} frames (topic, header, payload), got {len(frames)}")
    topic_buf, header_buf, payload = (_buffer(frame) for frame in frames)
    topic = _utf8("topic", topic_buf)
    header_text = _utf8("header", header_buf)
    try:
        data = _JSON_DECODER.decode(header_text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"invalid header for topic {_short(topic)}: not JSON ({_short(str(exc))})") from None
    if not isinstance(data, dict):
        raise WireError(
            f"invalid header for topic {_short(topic)}: JSON {type(data).__name__}; expected an object"
        )
    header = _validate_header(data)
    _check_topic(topic, header)
    declared = header.payload_nbytes
    if max_payload_bytes is not None and declared > max_payload_bytes:
        raise WireError(
            f"invalid payload for {topic!r}: header declares {declared} bytes (shape {header.shape},"
            f" {header.dtype}); more than max_payload_bytes={max_payload_bytes}"
        )
    if payload.nbytes != declared:
        raise WireError(
            f"invalid payload for {topic!r}: {payload.nbytes} bytes; header declares {declared}"
            f" (shape {header.shape} x {header.itemsize} bytes of {header.dtype})"
        )
    return topic, data, header, payload


def restamp(
    frames: Sequence[bytes | bytearray | memoryview | zmq.Frame],
    *,
    epoch: str,
    t_publish_ns: int,
    max_payload_bytes: int | None = None,
) -> tuple[Header, list[Any]]:
    """Validate a message as :func:`decode` does and return it with ``epoch`` and ``t_publish_ns`` set.

    The publisher's one way to stamp what it publishes: the header is rewritten by this module
    (every other field and unknown extra keys kept), the topic and payload frames are passed
    through untouched (zero copy).

    Returns
    -------
    (Header, list)
        The validated header as received, and the three frames to send.

    Examples
    --------
    >>> frames = encode("a/b", np.zeros(2, "|u1"), stream="a", kind="frame", epoch="producer",
    ...                 seq=4, t_capture_ns=10)
    >>> _, out = restamp(frames, epoch="e2", t_publish_ns=11)
    >>> m = decode(out)
    >>> m.epoch, m.seq, m.t_publish_ns
    ('e2', 4, 11)
    """
    _, data, header, _ = _checked(frames, max_payload_bytes)
    data["epoch"] = epoch
    data["t_publish_ns"] = _as_int("t_publish_ns", t_publish_ns)
    if not epoch or not isinstance(epoch, str):
        raise WireError(f"invalid epoch {_short(epoch)}; expected a non-empty str")
    return header, [frames[0], _dump_json(data), frames[2]]


def _buffer(frame: Any) -> memoryview:
    if isinstance(frame, zmq.Frame):
        return frame.buffer
    try:
        view = memoryview(frame)
    except TypeError:
        kind = type(frame).__name__
        raise WireError(f"invalid frame of type {kind}; expected bytes or a zmq.Frame") from None
    if not view.c_contiguous:
        raise WireError("invalid frame: a non-contiguous buffer")
    return view


def _utf8(name: str, view: memoryview) -> str:
    try:
        return bytes(view).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireError(f"invalid {name}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# NaN and Infinity are not JSON; one decoder for all messages (json.loads would build one per call).
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
