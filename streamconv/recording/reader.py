"""Read a recording back: its native messages in file order, also from a torn or unindexed file.

A writer killed mid-file (SIGKILL, power loss) leaves an MCAP file without its summary and
footer, and maybe with a half-written last chunk.  :class:`RecordingReader` reads the file as a
stream of records (``mcap``'s own :class:`~mcap.stream_reader.StreamReader`), so it needs no
index: every whole chunk is read, and a torn end stops the reading with :attr:`torn` set to one
line saying where.  Messages come in the order they were written, which is the order the
recorder received them.

Examples
--------
::

    reader = RecordingReader("run.mcap")
    for topic, msg, log_time in reader.native():
        ...
    if reader.torn:
        print("warning:", reader.torn)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from streamconv.errors import StreamconvError
from streamconv.recording import native

__all__ = ["MAGIC", "NotMcapError", "RecordingReader", "check_mcap"]

#: The 8 bytes every MCAP file starts (and a finished one ends) with.
MAGIC = b"\x89MCAP0\r\n"
#: The largest record read (a corrupt length must not become a huge allocation: foxglove/mcap#1220).
RECORD_SIZE_LIMIT = 1 << 30


class NotMcapError(StreamconvError):
    """The file is not an MCAP file."""


def check_mcap(path: str | Path) -> Path:
    """Return ``path`` if it is a readable MCAP file; raise a one-line error otherwise.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        As ``open`` does.
    NotMcapError
        When the file does not start with the MCAP magic.
    """
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(len(MAGIC))
    if head != MAGIC:
        raise NotMcapError(f"{p} is not an MCAP file (it does not start with the MCAP magic)")
    return p


class RecordingReader:
    """The native messages of one recording file, in file order (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = check_mcap(path)
        #: None, or one line saying where the file ended without its footer.
        self.torn: str | None = None
        #: Whether the file had its footer (it was finished).
        self.finished = False
        #: Channel topic -> message encoding, as seen so far.
        self.channels: dict[str, str] = {}
        #: Messages of other channels (viewer channels, ``_gaps``) that :meth:`native` passed over, by topic.
        self.others: dict[str, int] = {}
        #: Native messages that did not decode (and messages of an unknown channel).
        self.invalid = 0

    def records(self, topics: Iterable[str] | None = None) -> Iterator[tuple[Any, Any]]:
        """Yield ``(channel, message record)`` of every message (all channels) in file order."""
        from mcap.records import Channel, Footer
        from mcap.records import Message as McapMessage
        from mcap.stream_reader import StreamReader

        wanted = None if topics is None else set(topics)
        channels: dict[int, Any] = {}
        self.torn, self.finished = None, False
        with self.path.open("rb") as f:
            reader = StreamReader(f, record_size_limit=RECORD_SIZE_LIMIT)
            try:
                for record in reader.records:
                    if isinstance(record, Channel):
                        channels[record.id] = record
                        self.channels[record.topic] = record.message_encoding
                    elif isinstance(record, McapMessage):
                        channel = channels.get(record.channel_id)
                        if channel is None:
                            self.invalid += 1
                            continue
                        if wanted is None or channel.topic in wanted:
                            yield channel, record
                    elif isinstance(record, Footer):
                        self.finished = True
            except (Exception, MemoryError) as exc:  # any torn end: mcap, zstd, struct errors
                self.torn = (f"{self.path}: the file ends without its footer at byte {f.tell()} "
                             f"({type(exc).__name__}): read up to its last whole chunk")
                return
        if not self.finished and self.torn is None:  # pragma: no cover - StreamReader raises at EOF
            self.torn = f"{self.path}: the file has no footer: read up to its last whole chunk"

    def native(self, topics: Iterable[str] | None = None) -> Iterator[tuple[str, Any, int]]:
        """Yield ``(topic, wire Message, log_time_ns)`` of the native channels, in file order.

        A native message that does not decode is counted in :attr:`invalid` and skipped.
        """
        for channel, record in self.records(topics):
            if channel.message_encoding != native.ENCODING:
                self.others[channel.topic] = self.others.get(channel.topic, 0) + 1
                continue
            try:
                msg = native.unpack(channel.topic, record.data)
            except (StreamconvError, ValueError, struct.error):
                self.invalid += 1
                continue
            yield channel.topic, msg, record.log_time


def sample_series(path: str | Path) -> dict[str, Any]:
    """Return the sample topics of recording ``path`` as :class:`streamconv.sinks.log.Series`, by topic.

    Sample ``i`` of a message gets ``t_capture_ns + i * sample_period_ns``, as in a log's CSV.
    The order is the file's (the order received); a torn file gives what it holds.
    """
    import numpy as np

    from streamconv.sinks.log import Series

    parts: dict[str, list[tuple[Any, int, Any]]] = {}
    reader = RecordingReader(path)
    for topic, msg, _ in reader.native():
        if msg.kind != "samples":
            continue
        values = np.asarray(msg.array, dtype=np.float64).ravel()
        period = int(msg.meta.get("sample_period_ns") or 0)
        t = msg.t_capture_ns + np.arange(values.size, dtype=np.int64) * period
        parts.setdefault(topic, []).append((t, msg.seq, values))
    out = {}
    for topic, rows in parts.items():
        t = np.concatenate([r[0] for r in rows])
        seq = np.concatenate([np.full(r[2].size, r[1], np.int64) for r in rows])
        values = np.concatenate([r[2] for r in rows])
        order = np.argsort(t, kind="stable")
        out[topic] = Series(topic, t[order], seq[order], values[order])
    return out
