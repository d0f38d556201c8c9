"""A lean MCAP writer for the recorder's hot path: chunks built from parts, written with ``writev``.

Why not ``mcap.writer.Writer``: measured on this project's machine it costs about 44 us per
message (a Python record object, a dozen small ``BytesIO`` writes, message indexes) and copies
a large frame four times on its way to the file; at 3,000 messages/s plus 720p video that alone
was more than half a core (``docs/recording.md``).  This writer packs each message header with
one ``struct`` call, keeps the payloads as they are, and writes a chunk with one ``writev``: a
frame is copied once, by the kernel.  It writes the same format (MCAP v0, the spec's record
layouts); the tests read every file back with ``mcap``'s own reader, which stays the reference.

What it writes: Header; Schema and Channel records in the data section, before the first chunk
that uses them; Chunks (``uncompressed_crc`` 0, "not computed", as the spec allows; no
MessageIndex records, which are optional); DataEnd; a summary section with the schemas,
channels, Statistics and a ChunkIndex per chunk, the SummaryOffset records; the Footer.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MAGIC", "McapWriter"]

MAGIC = b"\x89MCAP0\r\n"

OP_HEADER, OP_FOOTER, OP_SCHEMA, OP_CHANNEL, OP_MESSAGE, OP_CHUNK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
OP_CHUNK_INDEX, OP_STATISTICS, OP_SUMMARY_OFFSET, OP_DATA_END = 0x08, 0x0B, 0x0E, 0x0F

_RECORD = struct.Struct("<BQ")
#: A Message record's head: opcode, length, channel_id, sequence, log_time, publish_time.
_MESSAGE = struct.Struct("<BQHIQQ")
#: A Chunk record's fixed fields: start, end, uncompressed size, uncompressed crc.
_CHUNK_HEAD = struct.Struct("<QQQI")


class Output(Protocol):
    """Where the bytes go: ``writev`` of parts, ``tell``."""

    def writev(self, parts: Sequence[Any]) -> int: ...

    def tell(self) -> int: ...


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def _record(opcode: int, body: bytes) -> bytes:
    return _RECORD.pack(opcode, len(body)) + body


@dataclass
class _ChunkIndex:
    start: int
    end: int
    offset: int
    length: int
    compression: str
    compressed_size: int
    uncompressed_size: int


@dataclass
class _Stats:
    messages: int = 0
    start: int = 0
    end: int = 0
    per_channel: dict[int, int] = field(default_factory=dict)


class McapWriter:
    """Write one MCAP file to ``out`` (see the module docstring).

    Parameters
    ----------
    out : Output
        Has ``writev(parts)`` and ``tell()``.
    chunk_size : int
        A chunk is written once its records reach this many bytes; a message larger than that is
        a chunk of its own.
    compression : {'', 'zstd', 'lz4'}
        Chunk compression ('' for none).
    """

    def __init__(self, out: Output, *, chunk_size: int = 1 << 20, compression: str = "",
                 profile: str = "", library: str = "streamconv") -> None:
        self.out = out
        self.chunk_size = chunk_size
        self.compression = compression
        self._compress = _compressor(compression)
        self._schemas: list[bytes] = []
        self._channels: list[bytes] = []
        self._chunks: list[_ChunkIndex] = []
        self._stats = _Stats()
        self._parts: list[Any] = []
        self._size = 0
        self._start = 0
        self._end = 0
        out.writev([MAGIC, _record(OP_HEADER, _str(profile) + _str(library))])

    def register_schema(self, name: str, encoding: str, data: bytes) -> int:
        """Write a Schema record now; return its id (from 1)."""
        sid = len(self._schemas) + 1
        rec = _record(OP_SCHEMA, struct.pack("<H", sid) + _str(name) + _str(encoding)
                      + struct.pack("<I", len(data)) + bytes(data))
        self._schemas.append(rec)
        self.out.writev([rec])
        return sid

    def register_channel(self, topic: str, message_encoding: str, schema_id: int,
                         metadata: dict[str, str] | None = None) -> int:
        """Write a Channel record now; return its id (from 0)."""
        cid = len(self._channels)
        meta = b"".join(_str(k) + _str(v) for k, v in (metadata or {}).items())
        rec = _record(OP_CHANNEL, struct.pack("<HH", cid, schema_id) + _str(topic) + _str(message_encoding)
                      + struct.pack("<I", len(meta)) + meta)
        self._channels.append(rec)
        self._stats.per_channel[cid] = 0
        self.out.writev([rec])
        return cid

    def add_message(self, channel_id: int, log_time: int, data: Any, publish_time: int,
                    sequence: int = 0) -> None:
        """Add a message to the open chunk; write the chunk when it is full.

        ``data`` is bytes, or a list or tuple of byte-like parts (written in order, never joined
        here: a frame's pixels go to ``writev`` as they are).
        """
        parts = tuple(data) if isinstance(data, list | tuple) else (data,)
        n = sum(len(p) if isinstance(p, bytes | bytearray) else memoryview(p).nbytes for p in parts)
        head = _MESSAGE.pack(OP_MESSAGE, 22 + n, channel_id, sequence & 0xFFFFFFFF, log_time, publish_time)
        if n >= self.chunk_size and self._parts:
            self._flush_chunk()  # a large message is a chunk of its own
        if not self._parts:
            self._start = self._end = log_time
        else:
            self._start = min(self._start, log_time)
            self._end = max(self._end, log_time)
        self._parts.append(head)
        self._parts += parts
        self._size += len(head) + n
        st = self._stats
        if st.messages == 0:
            st.start = st.end = log_time
        else:
            st.start = min(st.start, log_time)
            st.end = max(st.end, log_time)
        st.messages += 1
        st.per_channel[channel_id] += 1
        if self._size >= self.chunk_size:
            self._flush_chunk()

    def _flush_chunk(self) -> None:
        if not self._parts:
            return
        parts, size = self._parts, self._size
        self._parts, self._size = [], 0
        if self._compress is None:
            records: list[Any] = parts
            stored = size
        else:
            blob = self._compress(b"".join(parts))
            records, stored = [blob], len(blob)
        fixed = _CHUNK_HEAD.pack(self._start, self._end, size, 0) + _str(self.compression)
        head = _RECORD.pack(OP_CHUNK, len(fixed) + 8 + stored) + fixed + struct.pack("<Q", stored)
        offset = self.out.tell()
        self.out.writev([head, *records])
        self._chunks.append(_ChunkIndex(self._start, self._end, offset, len(head) + stored, self.compression,
                                        stored, size))

    def finish(self) -> None:
        """Write the open chunk, DataEnd, the summary, the summary offsets and the footer."""
        self._flush_chunk()
        self.out.writev([_record(OP_DATA_END, struct.pack("<I", 0))])
        summary_start = self.out.tell()
        groups: list[tuple[int, list[bytes]]] = [(OP_SCHEMA, self._schemas), (OP_CHANNEL, self._channels)]
        st = self._stats
        counts = b"".join(struct.pack("<HQ", c, n) for c, n in st.per_channel.items())
        stats = _record(OP_STATISTICS, struct.pack("<QHIIIIQQ", st.messages, len(self._schemas),
                                                   len(self._channels), 0, 0, len(self._chunks), st.start,
                                                   st.end) + struct.pack("<I", len(counts)) + counts)
        groups.append((OP_STATISTICS, [stats]))
        groups.append((OP_CHUNK_INDEX, [
            _record(OP_CHUNK_INDEX, struct.pack("<QQQQ", c.start, c.end, c.offset, c.length)
                    + struct.pack("<I", 0) + struct.pack("<Q", 0) + _str(c.compression)
                    + struct.pack("<QQ", c.compressed_size, c.uncompressed_size))
            for c in self._chunks]))
        offsets = []
        pos = summary_start
        body: list[bytes] = []
        for opcode, recs in groups:
            if not recs:
                continue
            length = sum(len(r) for r in recs)
            offsets.append(_record(OP_SUMMARY_OFFSET, struct.pack("<BQQ", opcode, pos, length)))
            body += recs
            pos += length
        self.out.writev(body + offsets)
        footer = _record(OP_FOOTER, struct.pack("<QQI", summary_start, pos, 0))
        self.out.writev([footer, MAGIC])


def _compressor(name: str) -> Any:
    if name == "":
        return None
    if name == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress
    if name == "lz4":
        import lz4.frame

        return lz4.frame.compress
    raise ValueError(f"invalid compression {name!r}; expected '', 'zstd' or 'lz4'")
