"""The messages between roles: a type, a JSON envelope, then zero or more wire-format messages.

Every message on a link between roles (producer, workers, publisher) is a ZeroMQ multipart
message ``[type, envelope, *wire]``: ``type`` is one of :data:`TYPES` (ASCII), ``envelope`` a
UTF-8 JSON object, and ``wire`` zero or more wire-format v1 messages of three frames each
(topic, header, payload; :mod:`streamconv.wire`).  On a ROUTER socket the peer's identity frame
comes first.  Pure functions, no sockets; ``docs/wire-format.md`` ("Links between roles")
documents every type.

Examples
--------
>>> frames = encode("credit", {"n": 2})
>>> decode(frames)
Envelope(type='credit', body={'n': 2}, wire=[])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import zmq

from streamconv.errors import WireError

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "TYPES",
    "Envelope",
    "config_hash",
    "decode",
    "encode",
]

#: The closed vocabulary of message types on the links between roles.
TYPES = frozenset(
    {
        "hb",  # heartbeat: role, id, hashes, counters, rates (every heartbeat_ms)
        "credit",  # worker -> producer: room for n more frames
        "work",  # producer -> worker: one input (a chunk or a frame) to filter
        "reset",  # producer -> worker: forget a sample stream's state (a replay follows)
        "result",  # worker -> publisher: every output of one input
        "lost",  # producer -> publisher: these seqs of a stream will never come, and why
        "ack",  # publisher -> producer: per stream, every seq up to here is published or skipped
        "peers",  # publisher -> producer: the admitted workers, the subscription interest
        "welcome",  # producer -> worker: this producer's epoch (a new producer: resend credits)
        "set",  # publisher -> worker: an output's chain changed (ctl set / remove)
        "refused",  # publisher -> any role: you are excluded, and why
        "stop",  # any -> peer: the sender is stopping
    }
)
#: An envelope larger than this is malformed (envelopes carry no arrays).
MAX_ENVELOPE_BYTES = 1 << 20

_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)
_DECODER = json.JSONDecoder()
_TYPE_BYTES = {t: t.encode("ascii") for t in TYPES}
_BYTES_TYPE = {v: k for k, v in _TYPE_BYTES.items()}


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded link message: its type, its JSON body and the wire frames that follow."""

    type: str
    body: dict[str, Any]
    wire: list[Any] = field(default_factory=list)

    def messages(self) -> list[list[Any]]:
        """Return the wire frames cut into three-frame messages (topic, header, payload)."""
        return [self.wire[i : i + 3] for i in range(0, len(self.wire), 3)]


def encode(type_: str, body: dict[str, Any], wire: Sequence[Any] = ()) -> list[Any]:
    """Return the frames of one link message.

    Raises
    ------
    WireError
        For an unknown type or a body that is not JSON-able.
    """
    head = _TYPE_BYTES.get(type_)
    if head is None:
        raise WireError(f"invalid link message type {type_!r}; expected one of {sorted(TYPES)}")
    try:
        text = _ENCODER.encode(body)
    except (TypeError, ValueError) as exc:
        raise WireError(f"invalid {type_} envelope: {exc}") from None
    return [head, text.encode("utf-8"), *wire]


def decode(frames: Sequence[Any]) -> Envelope:
    """Decode one link message (without a ROUTER identity); raise WireError if malformed.

    The wire frames are returned as they came (not decoded): a receiver that only forwards
    them never touches the payload.

    Examples
    --------
    >>> decode([b"nope", b"{}"])
    Traceback (most recent call last):
    ...
    streamconv.errors.WireError: invalid link message type b'nope'...
    """
    if len(frames) < 2 or (len(frames) - 2) % 3:
        raise WireError(f"a link message is type, envelope and 3 frames per message; got {len(frames)}")
    head = _bytes(frames[0])
    type_ = _BYTES_TYPE.get(head)
    if type_ is None:
        raise WireError(f"invalid link message type {head[:20]!r}; expected one of {sorted(TYPES)}")
    raw = _bytes(frames[1])
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise WireError(f"invalid {type_} envelope: {len(raw)} bytes; at most {MAX_ENVELOPE_BYTES}")
    try:
        body = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WireError(f"invalid {type_} envelope: not JSON ({str(exc)[:80]})") from None
    if not isinstance(body, dict):
        raise WireError(f"invalid {type_} envelope: JSON {type(body).__name__}; expected an object")
    return Envelope(type_, body, list(frames[2:]))


def _bytes(frame: Any) -> bytes:
    if isinstance(frame, zmq.Frame):
        return frame.bytes
    return bytes(frame)


def config_hash(config: Any) -> str:
    """Return a short hash of a validated config (every field): roles with other configs refuse each other.

    Examples
    --------
    >>> from streamconv import config as cfg
    >>> config_hash(cfg.load(None)) == config_hash(cfg.load(None))
    True
    """
    data = config.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
