"""Write a recording: every received message into MCAP files, native and viewer channels.

:class:`Recorder` is a :class:`streamconv.sinks.base.Sink`: ``streamconv record`` feeds it from
one subscriber with :func:`streamconv.sinks.base.pump`.  Per topic it writes

- a **native** channel named as the topic (message encoding ``x-streamconv-v1``, no schema: the
  wire header and the raw payload, :mod:`streamconv.recording.native`), so replay is bit-exact;
  ``log_time`` is the header's capture time, ``publish_time`` its publish time, ``sequence`` the
  low 32 bits of ``seq``;
- a **viewer** channel in Foxglove's protobuf schemas (:mod:`streamconv.recording.viewer`,
  ``viz/<topic>``), unless ``viewer=False``;

and a ``_gaps`` channel (JSON) with one message per ``seq`` gap the subscriber saw:
``{"topic", "epoch", "expected", "got"}``.  Epochs need no record of their own: every native
header carries its epoch.

Crash safety.  Chunks are closed at ``chunk_size`` (1 MiB; a message larger than that is a chunk
of its own) and written straight to the file descriptor, with no user-space buffer, so a writer
killed with SIGKILL leaves every closed chunk on disk and loses at most the open one.  The
summary and footer are written by :meth:`Recorder.close` (``finish``).  When a write fails (a
full disk, a file size limit) the file is cut back to its last whole chunk and given a footer
(``DataEnd`` + ``Footer`` with no summary, 50 bytes), so it stays a valid file, and
:class:`RecordingFailed` says how many messages were lost.

Rotation, like ``ros2 bag record --max-bag-size/--max-bag-duration``: with ``max_bytes`` or
``max_duration_s`` the files are ``NAME_0.mcap``, ``NAME_1.mcap``, ... each complete on its own
(schemas and channels repeated).
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamconv.errors import StreamconvError
from streamconv.recording import native, viewer

__all__ = ["CHUNK_SIZE", "GAPS_TOPIC", "Recorder", "RecordingFailed", "segment_path"]

#: Chunk size of every file (bytes): a crash loses at most the chunk being filled.
CHUNK_SIZE = 1 << 20
#: The channel of the gaps the recorder's subscriber saw.
GAPS_TOPIC = "_gaps"
PROFILE = "x-streamconv"
LIBRARY = "streamconv record"


class RecordingFailed(StreamconvError):
    """A write failed (disk full, file too large): the file was closed at its last whole chunk."""


def segment_path(path: Path, index: int, *, rotating: bool) -> Path:
    """Return the ``index``-th file of a recording ``path`` (``NAME_<index>.mcap`` when rotating).

    Examples
    --------
    >>> segment_path(Path("run.mcap"), 2, rotating=True).name
    'run_2.mcap'
    >>> segment_path(Path("run.mcap"), 0, rotating=False).name
    'run.mcap'
    """
    return path.with_name(f"{path.stem}_{index}{path.suffix}") if rotating else path


class _Direct:
    """A write-only file on its descriptor: no user-space buffer (what is written is in the kernel)."""

    def __init__(self, path: Path, *, overwrite: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        self.fd = os.open(path, flags, 0o644)
        self.pos = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self.fd, view[done:])
        self.pos += done
        return done

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def cut(self, pos: int) -> None:
        """Truncate the file to ``pos`` bytes and write from there."""
        os.ftruncate(self.fd, pos)
        os.lseek(self.fd, pos, os.SEEK_SET)
        self.pos = pos

    def close(self) -> None:
        os.close(self.fd)


#: A footer with no summary: DataEnd (crc 0), Footer (summary_start 0, offset 0, crc 0), magic.
_BARE_END = (struct.pack("<BQI", 0x0F, 4, 0) + struct.pack("<BQQQI", 0x02, 20, 0, 0, 0)
             + b"\x89MCAP0\r\n")


@dataclass
class _File:
    path: Path
    out: _Direct
    writer: Any
    opened: float
    schemas: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    #: Messages added since the last chunk reached the file (what a failed write loses).
    pending: int = 0


class Recorder:
    """Write messages into MCAP files (see the module docstring); a Sink.

    Parameters
    ----------
    path : str or Path
        The file (``NAME.mcap``); with rotation the files are ``NAME_0.mcap``, ``NAME_1.mcap``, ...
    viewer : bool
        Also write the Foxglove viewer channels.
    compression : {'none', 'zstd', 'lz4'}
        Chunk compression.
    max_bytes, max_duration_s : optional
        Rotate to a new file at this size or age.
    overwrite : bool
        Replace existing files (otherwise an existing file is an error).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        viewer: bool = True,
        compression: str = "none",
        chunk_size: int = CHUNK_SIZE,
        max_bytes: int | None = None,
        max_duration_s: float | None = None,
        overwrite: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from mcap.writer import CompressionType

        self.path = Path(path)
        self.viewer = viewer
        self.compression = {"none": CompressionType.NONE, "zstd": CompressionType.ZSTD,
                            "lz4": CompressionType.LZ4}[compression]
        self.chunk_size = chunk_size
        self.max_bytes = max_bytes
        self.max_duration_s = max_duration_s
        self.overwrite = overwrite
        self.clock = clock
        self.rotating = max_bytes is not None or max_duration_s is not None
        self.files: list[Path] = []
        self.messages = 0
        self.gaps = 0
        self.missing = 0
        self.bytes_closed = 0
        self.per_topic: dict[str, int] = {}
        self._file: _File | None = None
        self._open(0)

    # -- files ----------------------------------------------------------------------------------
    def _open(self, index: int) -> None:
        from mcap.writer import Writer

        path = segment_path(self.path, index, rotating=self.rotating)
        out = _Direct(path, overwrite=self.overwrite)
        writer = Writer(out, chunk_size=self.chunk_size, compression=self.compression)  # type: ignore[arg-type]
        writer.start(profile=PROFILE, library=LIBRARY)
        self._file = _File(path, out, writer, self.clock())
        self.files.append(path)

    def _finish(self) -> None:
        f = self._file
        if f is None:
            return
        self._file = None
        try:
            f.writer.finish()
        finally:
            self.bytes_closed += f.out.tell()
            f.out.close()

    def _rotate_if_due(self) -> None:
        f = self._file
        assert f is not None
        if (self.max_bytes is not None and f.out.tell() >= self.max_bytes) or (
            self.max_duration_s is not None and self.clock() - f.opened >= self.max_duration_s
        ):
            self._finish()
            self._open(len(self.files))

    @property
    def bytes_written(self) -> int:
        """Bytes in the files so far (closed chunks of the open file included)."""
        return self.bytes_closed + (self._file.out.tell() if self._file is not None else 0)

    # -- channels -------------------------------------------------------------------------------
    def _schema_id(self, name: str) -> int:
        f = self._file
        assert f is not None
        if name not in f.schemas:
            s = viewer.schema(name)
            f.schemas[name] = f.writer.register_schema(s.name, s.encoding, s.data)
        return f.schemas[name]

    def _channel(self, topic: str, encoding: str, schema_name: str | None, meta: dict[str, str]) -> int:
        f = self._file
        assert f is not None
        cid = f.channels.get(topic)
        if cid is None:
            sid = 0 if schema_name is None else self._schema_id(schema_name)
            cid = f.channels[topic] = f.writer.register_channel(topic, encoding, sid, meta)
        return cid

    # -- Sink -----------------------------------------------------------------------------------
    def write(self, msg: Any) -> None:
        """Record one message (native, and viewer unless turned off)."""
        assert self._file is not None, "the recorder is closed"
        t_capture = int(msg.t_capture_ns)
        t_publish = msg.t_publish_ns if msg.t_publish_ns is not None else t_capture
        items = [(self._channel(msg.topic, native.ENCODING, None, {"stream": msg.stream, "kind": msg.kind}),
                  t_capture, native.pack(msg))]
        if self.viewer:
            for vm in viewer.viewer_messages(msg):
                s = viewer.schema(vm.schema_name)
                cid = self._channel(vm.channel, s.message_encoding, vm.schema_name, {"topic": msg.topic})
                items.append((cid, vm.log_time_ns, vm.data))
        self._add(items, t_publish, msg.seq)
        self.messages += 1
        self.per_topic[msg.topic] = self.per_topic.get(msg.topic, 0) + 1
        self._rotate_if_due()

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Record a gap the subscriber saw (``got - expected`` messages missing)."""
        assert self._file is not None, "the recorder is closed"
        self.gaps += 1
        self.missing += max(0, got - expected)
        data = json.dumps({"topic": topic, "epoch": epoch, "expected": expected, "got": got}).encode()
        cid = self._channel(GAPS_TOPIC, "json", None, {})
        now = time.time_ns()
        self._add([(cid, now, data)], now, 0)

    def _add(self, items: list[tuple[int, int, bytes]], publish_time: int, seq: int) -> None:
        f = self._file
        assert f is not None
        before = f.out.tell()
        try:
            for cid, log_time, data in items:
                f.writer.add_message(cid, log_time, data, publish_time, seq & 0xFFFFFFFF)
        except OSError as exc:
            self._fail(before, exc)
        # a chunk reached the file: the messages in it (this one too) are safe
        f.pending = 0 if f.out.tell() != before else f.pending + 1

    def _fail(self, last_whole: int, exc: OSError) -> None:
        """Cut the file back to its last whole chunk, end it with a bare footer, raise."""
        f = self._file
        assert f is not None
        self._file = None
        lost = f.pending + 1
        try:
            f.out.cut(last_whole)
            f.out.write(_BARE_END)
        except OSError:  # no room even for 50 bytes after the cut: leave it unindexed
            pass
        finally:
            self.bytes_closed += f.out.tell()
            f.out.close()
        raise RecordingFailed(
            f"writing {f.path} failed ({exc.strerror or exc}): the file ends at its last whole chunk "
            f"({last_whole} bytes); {lost} message(s) lost"
        ) from None

    def close(self) -> None:
        """Finish the open file: its last chunk, summary and footer (idempotent)."""
        self._finish()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
