"""The native, lossless channel encoding of a recording: ``x-streamconv-v1`` (pure functions).

A native message is one wire-format v1 message without its topic frame (the MCAP channel's topic
is the wire topic): a 4-byte little-endian length, the wire header (UTF-8 JSON, as
:func:`streamconv.wire.encode_message` writes it) and the payload bytes.  Decoding validates it as
:func:`streamconv.wire.decode` does, so a replayed message is bit for bit what was received.

Examples
--------
>>> import numpy as np
>>> from streamconv.wire import decode, encode
>>> msg = decode(encode("laser/raw", np.array([1.5]), stream="laser", kind="samples", epoch="e",
...                     seq=2, t_capture_ns=5))
>>> back = unpack("laser/raw", pack(msg))
>>> back.seq, back.array.tolist(), back.epoch
(2, [1.5], 'e')
"""

from __future__ import annotations

import struct
from typing import Any

from streamconv import wire
from streamconv.errors import WireError

__all__ = ["ENCODING", "pack", "unpack"]

#: The MCAP ``message_encoding`` of native channels.
ENCODING = "x-streamconv-v1"
_LEN = struct.Struct("<I")


def pack(msg: Any) -> bytes:
    """Return the native bytes of a decoded message: header length, header JSON, payload."""
    _, header, payload = wire.encode_message(msg)
    return b"".join((_LEN.pack(len(header)), header, payload))  # type: ignore[arg-type]


def unpack(topic: str, data: bytes | memoryview, *, copy: bool = False) -> Any:
    """Return the :class:`streamconv.wire.Message` of native ``data`` on channel ``topic``.

    Raises
    ------
    WireError
        When ``data`` is not a valid native message (too short, or a header or payload that
        :func:`streamconv.wire.decode` rejects).
    """
    view = memoryview(data)
    if len(view) < _LEN.size:
        raise WireError(f"native message of {len(view)} bytes; expected at least {_LEN.size}")
    (n,) = _LEN.unpack_from(view)
    if _LEN.size + n > len(view):
        raise WireError(f"native header of {n} bytes does not fit a message of {len(view)} bytes")
    return wire.decode([topic.encode("utf-8"), view[_LEN.size:_LEN.size + n], view[_LEN.size + n:]],
                       copy=copy)
