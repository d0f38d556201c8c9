"""The log format: :class:`StreamLogger` writes it, :func:`load_log` reads its sample CSVs back.

StreamLogger writes received messages to files (CSV, video or images, JSON lines), with rotation.

Layout of a log directory (``docs/logging-and-plots.md`` is the full reference).  A topic's file
name is the topic with ``/`` replaced by ``__`` (``laser/smoothed`` -> ``laser__smoothed``):

- ``<topic>.csv`` for ``samples`` topics: header ``t_capture_ns,seq,value`` and one row per
  sample; sample ``i`` of a message gets ``t_capture_ns + i * sample_period_ns`` (from the
  header's ``meta``), every row of a message its ``seq``.  Values are written with ``repr``, so
  they read back as the very same double; NaN is ``nan`` (infinities ``inf`` / ``-inf``).
- ``<topic>.avi`` (MJPG, the default; ``.mkv`` with the lossless FFV1, ``.avi`` with the lossless
  HuffYUV) for ``frame`` topics with ``frames='video'``, and ``<topic>.frames.csv`` beside it:
  ``frame,epoch,seq,t_capture_ns``, one row per video frame.  Frames that are not 8-bit (signed
  float edge responses) are written as ``clip(rint(|x|), 0, 255)``
  (:func:`streamconv.offline.to_uint8`); grey frames as BGR.  A change of frame size starts a new
  file.
- ``<topic>/NNNNNNNN.png`` with ``frames='png'`` (8/16-bit frames of 1, 3 or 4 channels, exact),
  ``<topic>/NNNNNNNN.npy`` for float frames in that mode and for ``features`` topics in either mode
  (exact); ``<topic>.frames.csv`` maps ``frame`` (the file number) to ``epoch,seq,t_capture_ns``.
- ``stats.jsonl`` for ``_stats``: one JSON object per message, ``{"t_ns", "epoch", "seq", "stats"}``.
- ``gaps.csv``: ``topic,epoch,expected,got``, one row per gap the subscriber saw
  (``got - expected`` messages missing); the header alone means no gap.

Rotation (``rotate_mb`` and/or ``rotate_s``): when a file has reached the size or age, the next
write goes to a new file and every file of that topic is numbered, ``laser__smoothed.0001.csv``,
``laser__smoothed.0002.csv``, ... each with its header.  Without rotation a topic has one file
(a frame size change numbers the following video files ``.0001``, ``.0002``, ...).

Examples
--------
>>> import tempfile, numpy as np
>>> from streamconv.wire import decode, encode
>>> msg = decode(encode("laser/raw", np.array([1.5, np.nan]), stream="laser", kind="samples",
...                     epoch="e", seq=7, t_capture_ns=1000, meta={"sample_period_ns": 10}))
>>> with tempfile.TemporaryDirectory() as tmp:
...     with StreamLogger(tmp + "/log") as log:
...         log.write(msg)
...     print(open(tmp + "/log/laser__raw.csv").read(), end="")
t_capture_ns,seq,value
1000,7,1.5
1010,7,nan
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from streamconv._closing import Closing
from streamconv.errors import StreamconvError
from streamconv.offline import open_video_writer, to_bgr
from streamconv.wire import STATS_TOPIC, Message

__all__ = [
    "FRAMES_HEADER",
    "FRAME_MODES",
    "GAPS_FILE",
    "GAPS_HEADER",
    "SAMPLE_HEADER",
    "STATS_FILE",
    "VIDEO_CODECS",
    "Series",
    "StreamLogger",
    "load_csv",
    "load_log",
    "segment_name",
    "topic_from_stem",
    "topic_stem",
]

logger = logging.getLogger(__name__)

FrameMode = Literal["video", "png"]
#: How frame topics are written: one video file per topic, or one image file per frame.
FRAME_MODES: tuple[FrameMode, ...] = ("video", "png")
#: The logger's video codecs: name -> (FourCC, file extension).  MJPG is small, fast and lossy; FFV1
#: is lossless and compact but slow (about 18 ms for a 640x480 frame on one core); HuffYUV is
#: lossless and fast but large (about 600 kB per 640x480 frame).
VIDEO_CODECS: dict[str, tuple[str, str]] = {
    "mjpg": ("MJPG", ".avi"),
    "ffv1": ("FFV1", ".mkv"),
    "hfyu": ("HFYU", ".avi"),
}
#: First line of every sample CSV.
SAMPLE_HEADER = "t_capture_ns,seq,value"
#: First line of every frame index (``<topic>.frames.csv``).
FRAMES_HEADER = "frame,epoch,seq,t_capture_ns"
#: The gap record and its header.
GAPS_FILE = "gaps.csv"
GAPS_HEADER = "topic,epoch,expected,got"
#: The file stem of the ``_stats`` topic (``stats.jsonl``).
STATS_FILE = "stats"

_MB = 1_000_000  # rotate_mb counts decimal megabytes
_FPS_PROBE = 5  # frames buffered to estimate a video's frame rate from their capture times
_DEFAULT_FPS = 30.0


def topic_stem(topic: str) -> str:
    """Return the file stem of a topic: ``/`` replaced by ``__`` (``_stats`` is ``stats``).

    Examples
    --------
    >>> topic_stem("laser/smoothed"), topic_stem("_stats")
    ('laser__smoothed', 'stats')
    """
    if topic == STATS_TOPIC:
        return STATS_FILE
    return topic.replace("/", "__")


def segment_name(stem: str, ext: str, index: int, *, rotating: bool) -> str:
    """Return the name of a topic's ``index``-th file (0-based).

    With rotation every file is numbered from ``.0001``; without it the first file has no number
    and any later one (after a frame size change) is ``.0001``, ``.0002``, ...

    Examples
    --------
    >>> [segment_name("laser__raw", ".csv", i, rotating=False) for i in (0, 1)]
    ['laser__raw.csv', 'laser__raw.0001.csv']
    >>> [segment_name("laser__raw", ".csv", i, rotating=True) for i in (0, 1)]
    ['laser__raw.0001.csv', 'laser__raw.0002.csv']
    """
    label = index + 1 if rotating else index
    return f"{stem}{ext}" if label == 0 else f"{stem}.{label:04d}{ext}"


class _Rotation:
    """When a file is full: ``max_bytes`` reached or ``max_age_s`` elapsed since it was opened."""

    def __init__(self, max_bytes: int | None, max_age_s: float | None, clock: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return self.max_bytes is not None or self.max_age_s is not None

    def due(self, size: int, opened_at: float) -> bool:
        if self.max_bytes is not None and size >= self.max_bytes:
            return True
        return self.max_age_s is not None and self.clock() - opened_at >= self.max_age_s


class _TextFile:
    """A rotating text file (CSV or JSON lines); the header starts every file."""

    def __init__(self, directory: Path, stem: str, ext: str, header: str | None, rotation: _Rotation) -> None:
        self.directory = directory
        self.stem = stem
        self.ext = ext
        self.header = header
        self.rotation = rotation
        self.index = 0
        self.paths: list[Path] = []
        self._fh: IO[str] | None = None
        self._size = 0
        self._opened_at = 0.0

    def write(self, text: str) -> None:
        if self._fh is not None and self.rotation.due(self._size, self._opened_at):
            self._close_file()
            self.index += 1
        if self._fh is None:
            self._open()
        assert self._fh is not None
        self._fh.write(text)
        self._size += len(text)

    def _open(self) -> None:
        path = self.directory / segment_name(self.stem, self.ext, self.index, rotating=self.rotation.enabled)
        self._fh = path.open("w", encoding="utf-8", newline="\n")
        self.paths.append(path)
        self._size = 0
        self._opened_at = self.rotation.clock()
        if self.header is not None:
            self._fh.write(self.header + "\n")
            self._size += len(self.header) + 1

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def _close_file(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def close(self) -> None:
        self._close_file()


class _TextTopic:
    """A topic written to one (rotating) text file: flushing, closing and paths are the file's."""

    file: _TextFile

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()

    @property
    def paths(self) -> list[Path]:
        return self.file.paths


class _SampleTopic(_TextTopic):
    """``samples`` messages: one CSV row per sample."""

    def __init__(self, topic: str, file: _TextFile) -> None:
        self.topic = topic
        self.file = file
        self.samples = 0
        self._warned = False

    def write(self, msg: Message) -> None:
        values = np.asarray(msg.array).reshape(-1)
        n = values.shape[0]
        if n == 0:
            return
        period = msg.meta.get("sample_period_ns")
        if not isinstance(period, int) or isinstance(period, bool):
            if n > 1 and not self._warned:
                logger.warning("%s: no integer sample_period_ns in meta; every sample gets t_capture_ns",
                               self.topic)
                self._warned = True
            period = 0
        t0, seq = msg.t_capture_ns, msg.seq
        if n == 1:
            text = f"{t0},{seq},{values.tolist()[0]!r}\n"
        else:
            text = "".join(f"{t0 + i * period},{seq},{v!r}\n" for i, v in enumerate(values.tolist()))
        self.file.write(text)
        self.samples += n


class _StatsTopic(_TextTopic):
    """``stats`` messages: one JSON object per line."""

    def __init__(self, file: _TextFile) -> None:
        self.file = file

    def write(self, msg: Message) -> None:
        rec = {"t_ns": msg.t_capture_ns, "epoch": msg.epoch, "seq": msg.seq, "stats": msg.meta}
        self.file.write(json.dumps(rec, separators=(",", ":")) + "\n")


class _ImageTopic:
    """One file per frame (PNG when exact, else ``.npy``) and a frame index CSV."""

    def __init__(self, topic: str, directory: Path, stem: str, index: _TextFile, *, npy_only: bool) -> None:
        self.topic = topic
        self.dir = directory / stem
        self.index = index
        self.npy_only = npy_only
        self.frames = 0
        self.files: list[Path] = []

    def write(self, msg: Message) -> None:
        arr = msg.array
        channels = 1 if arr.ndim == 2 else arr.shape[-1] if arr.ndim == 3 else 0
        png = (not self.npy_only and arr.dtype in (np.uint8, np.uint16) and channels in (1, 3, 4))
        self.dir.mkdir(exist_ok=True)
        path = self.dir / f"{self.frames:08d}{'.png' if png else '.npy'}"
        if png:
            if not cv2.imwrite(str(path), arr):
                raise OSError(f"cannot write {path}")
        else:
            np.save(path, arr, allow_pickle=False)
        self.files.append(path)
        self.index.write(f"{self.frames},{msg.epoch},{msg.seq},{msg.t_capture_ns}\n")
        self.frames += 1

    def flush(self) -> None:
        self.index.flush()

    def close(self) -> None:
        self.index.close()

    @property
    def paths(self) -> list[Path]:
        return [*self.index.paths, *self.files[-1:]]


class _VideoTopic:
    """Frames into video files (one per segment), each with its frame index CSV."""

    def __init__(
        self, topic: str, directory: Path, stem: str, codec: str, rotation: _Rotation, fps: float | None
    ) -> None:
        self.topic = topic
        self.directory = directory
        self.stem = stem
        self.fourcc, self.ext = VIDEO_CODECS[codec]
        self.rotation = rotation
        self.fps = fps
        self.index = 0
        self.frames = 0  # in all segments
        self.paths: list[Path] = []
        self._pending: list[tuple[str, int, int, np.ndarray]] = []
        self._writer: cv2.VideoWriter | None = None
        self._sidecar: IO[str] | None = None
        self._path: Path | None = None
        self._shape: tuple[int, ...] | None = None
        self._frame_in_segment = 0
        self._opened_at = 0.0

    def write(self, msg: Message) -> None:
        img = to_bgr(msg.array)
        item = (msg.epoch, msg.seq, msg.t_capture_ns, img)
        if self.fps is None:
            self._pending.append(item)
            if len(self._pending) >= _FPS_PROBE:
                self._start_from_pending()
            return
        self._emit(*item)

    def _start_from_pending(self) -> None:
        self.fps = _estimate_fps(self._pending)
        pending, self._pending = self._pending, []
        for item in pending:
            self._emit(*item)

    def _emit(self, epoch: str, seq: int, t_ns: int, img: np.ndarray) -> None:
        if self._writer is not None and (img.shape != self._shape or self._full()):
            self._close_segment()
            self.index += 1
        if self._writer is None:
            self._open_segment(img)
        assert self._writer is not None and self._sidecar is not None
        self._writer.write(img)
        self._sidecar.write(f"{self._frame_in_segment},{epoch},{seq},{t_ns}\n")
        self._frame_in_segment += 1
        self.frames += 1

    def _full(self) -> bool:
        assert self._path is not None
        try:
            size = self._path.stat().st_size
        except OSError:
            size = 0
        return self.rotation.due(size, self._opened_at)

    def _open_segment(self, img: np.ndarray) -> None:
        rotating = self.rotation.enabled
        path = self.directory / segment_name(self.stem, self.ext, self.index, rotating=rotating)
        assert self.fps is not None
        self._writer, _ = open_video_writer(path, self.fps, (img.shape[1], img.shape[0]), fourcc=self.fourcc)
        side = self.directory / segment_name(self.stem, ".frames.csv", self.index, rotating=rotating)
        self._sidecar = side.open("w", encoding="utf-8", newline="\n")
        self._sidecar.write(FRAMES_HEADER + "\n")
        self.paths += [path, side]
        self._path = path
        self._shape = img.shape
        self._frame_in_segment = 0
        self._opened_at = self.rotation.clock()

    def _close_segment(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if self._sidecar is not None:
            self._sidecar.close()
            self._sidecar = None

    def flush(self) -> None:
        if self._sidecar is not None:
            self._sidecar.flush()

    def close(self) -> None:
        if self._pending:
            self._start_from_pending()
        self._close_segment()


def _estimate_fps(items: list[tuple[str, int, int, np.ndarray]]) -> float:
    """Frame rate from capture times, per seq step (dropped frames do not halve it)."""
    steps = []
    for (e0, s0, t0, _), (e1, s1, t1, _) in itertools.pairwise(items):
        if e0 == e1 and s1 > s0 and t1 > t0:
            steps.append((t1 - t0) / (s1 - s0))
    if not steps:
        return _DEFAULT_FPS
    fps = 1e9 / float(np.median(steps))
    nearest = round(fps)
    if nearest >= 1 and abs(fps - nearest) <= 0.03 * fps:
        return float(nearest)
    return float(min(max(round(fps, 2), 0.1), 1000.0))


class StreamLogger(Closing):
    """Write received wire-format messages to files in a directory, one set of files per topic.

    Parameters
    ----------
    out_dir : path-like
        The log directory: created if missing; it must be empty, so a log never mixes with another.
    frames : {'video', 'png'}
        ``'video'``: each frame topic into a video file (8-bit, see the module notes); ``'png'``: one
        exact file per frame (PNG for 8/16-bit frames, ``.npy`` for float).
    codec : {'mjpg', 'ffv1', 'hfyu'}
        Video codec (:data:`VIDEO_CODECS`): ``'mjpg'`` (lossy, small, ``.avi``), ``'ffv1'`` (lossless,
        ``.mkv``, slow for large frames) or ``'hfyu'`` (HuffYUV: lossless, fast, large, ``.avi``).
    rotate_mb : float, optional
        Start a new numbered file when a file has reached this many megabytes (10^6 bytes).
    rotate_s : float, optional
        Start a new numbered file when a file has been open this many seconds (checked at writes).
    video_fps : float, optional
        Frame rate written into video files; default: estimated from the first frames' capture
        times and seq numbers (the frames are buffered until then).
    flush_interval_s : float
        Text files are flushed at least this often (at writes), and at :meth:`close`.
    clock : callable
        Monotonic seconds, for rotation by age and flushing (tests pass a fake).

    Attributes
    ----------
    counts : Counter
        Messages written per topic.
    gap_events : int
        Gaps recorded by :meth:`gap`.
    missing : int
        Messages missing according to the gaps.
    errors : int
        Messages that could not be written (logged as warnings, not raised).

    Examples
    --------
    ::

        with Subscriber(endpoint, [""]) as sub, StreamLogger("log") as log:
            for msg in sub:
                log.write(msg)
                while sub.gap_events:
                    log.gap(*sub.gap_events.popleft())
    """

    def __init__(
        self,
        out_dir: str | os.PathLike[str],
        *,
        frames: FrameMode = "video",
        codec: str = "mjpg",
        rotate_mb: float | None = None,
        rotate_s: float | None = None,
        video_fps: float | None = None,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if frames not in FRAME_MODES:
            raise StreamconvError(f"invalid frames {frames!r}; expected one of {list(FRAME_MODES)}")
        if codec not in VIDEO_CODECS:
            raise StreamconvError(f"invalid codec {codec!r}; expected one of {sorted(VIDEO_CODECS)}")
        for name, value in (("rotate_mb", rotate_mb), ("rotate_s", rotate_s), ("video_fps", video_fps)):
            ok = isinstance(value, int | float) and np.isfinite(value) and value > 0
            if value is not None and not ok:
                raise StreamconvError(f"invalid {name} {value!r}; expected a number > 0 or None")
        self.dir = Path(out_dir)
        if self.dir.exists() and (not self.dir.is_dir() or any(self.dir.iterdir())):
            what = "is not a directory" if not self.dir.is_dir() else "is not empty"
            raise StreamconvError(
                f"log directory {str(self.dir)!r} {what}; choose a new or empty directory"
            )
        self.dir.mkdir(parents=True, exist_ok=True)
        self.frames = frames
        self.codec = codec
        self.video_fps = video_fps
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        max_bytes = None if rotate_mb is None else max(int(rotate_mb * _MB), 1)
        self.rotation = _Rotation(max_bytes, rotate_s, clock)
        self.counts: Counter[str] = Counter()
        self.gap_events = 0
        self.missing = 0
        self.errors = 0
        self._topics: dict[str, Any] = {}
        self._gaps = (self.dir / GAPS_FILE).open("w", encoding="utf-8", newline="\n")
        self._gaps.write(GAPS_HEADER + "\n")
        self._gaps.flush()
        self._last_flush = clock()
        self._closed = False

    # -------------------------------------------------------------------------------------- writing
    def write(self, msg: Message) -> None:
        """Write one message to its topic's files (opened at the topic's first message)."""
        if self._closed:
            raise StreamconvError("the logger is closed")
        handler = self._topics.get(msg.topic)
        if handler is None:
            handler = self._topics[msg.topic] = self._handler_for(msg)
        try:
            handler.write(msg)
        except (ValueError, OSError, cv2.error) as exc:
            self.errors += 1
            logger.warning("%s seq %d not logged: %s", msg.topic, msg.seq, exc)
        else:
            self.counts[msg.topic] += 1
        if self.clock() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Record a gap: on ``topic`` (in ``epoch``), seq ``expected`` .. ``got - 1`` never arrived."""
        self._gaps.write(f"{topic},{epoch},{expected},{got}\n")
        self.gap_events += 1
        self.missing += max(got - expected, 0)

    def _handler_for(self, msg: Message) -> Any:
        stem = topic_stem(msg.topic)
        if msg.kind == "samples":
            return _SampleTopic(msg.topic, _TextFile(self.dir, stem, ".csv", SAMPLE_HEADER, self.rotation))
        if msg.kind == "stats":
            return _StatsTopic(_TextFile(self.dir, stem, ".jsonl", None, self.rotation))
        arr = msg.array
        video_ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
        if msg.kind == "frame" and self.frames == "video" and video_ok:
            return _VideoTopic(msg.topic, self.dir, stem, self.codec, self.rotation, self.video_fps)
        index = _TextFile(self.dir, stem, ".frames.csv", FRAMES_HEADER, self.rotation)
        return _ImageTopic(msg.topic, self.dir, stem, index, npy_only=msg.kind == "features")

    # ------------------------------------------------------------------------------------ lifecycle
    @property
    def messages(self) -> int:
        """Messages written, all topics."""
        return sum(self.counts.values())

    @property
    def paths(self) -> list[Path]:
        """The files written so far (for image topics: the index and the newest image)."""
        out = [self.dir / GAPS_FILE]
        for handler in self._topics.values():
            out += handler.paths
        return out

    def flush(self) -> None:
        """Flush every text file (video frames are in the encoder until :meth:`close`)."""
        for handler in self._topics.values():
            handler.flush()
        self._gaps.flush()
        self._last_flush = self.clock()

    def close(self) -> None:
        """Write what is buffered and close every file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for topic, handler in self._topics.items():
            try:
                handler.close()
            except (ValueError, OSError, cv2.error) as exc:
                self.errors += 1
                logger.warning("%s: closing failed: %s", topic, exc)
        self._gaps.close()

    def summary(self) -> str:
        """Return one line: messages per topic and gaps."""
        per_topic = ", ".join(f"{t} {n}" for t, n in sorted(self.counts.items())) or "none"
        line = f"{self.messages} messages ({per_topic}); gaps {self.gap_events} ({self.missing} missing)"
        if self.errors:
            line += f"; {self.errors} not written"
        return line

    def __repr__(self) -> str:
        return (
            f"StreamLogger({str(self.dir)!r}, frames={self.frames!r}, codec={self.codec!r},"
            f" messages={self.messages}, gaps={self.gap_events})"
        )


# ------------------------------------------------------------------------------------- reading
_TIME, _SEQ, _VALUE = SAMPLE_HEADER.split(",")
# <stem>.csv or <stem>.NNNN.csv (rotated); frame indexes and the gap record are not sample CSVs.
_CSV_NAME = re.compile(r"(?P<stem>.+?)(?:\.(?P<n>\d{4,}))?\.csv")
_NOT_SAMPLES = re.compile(r".*\.frames(\.\d{4,})?\.csv|gaps\.csv")


@dataclass(frozen=True, slots=True)
class Series:
    """One sample topic: capture times (int64 ns), message seq and values, sorted by time.

    Attributes
    ----------
    topic : str
        ``<stream>/<output>`` (from the file name), or the file's stem for another CSV.
    t_ns : (n,) ndarray of int64
        Capture time of each sample (Unix ns).
    seq : (n,) ndarray of int64
        The message each sample came in (-1 when the CSV has no ``seq`` column).
    values : (n,) ndarray of float64
        NaN where the log has ``nan`` or an empty field.
    """

    topic: str
    t_ns: NDArray[np.int64]
    seq: NDArray[np.int64]
    values: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    @property
    def stream(self) -> str:
        """The stream part of the topic (before the first ``/``)."""
        return self.topic.split("/", 1)[0]

    @property
    def output(self) -> str:
        """The output part of the topic (after the first ``/``; empty without one)."""
        return self.topic.split("/", 1)[1] if "/" in self.topic else ""

    @property
    def period_ns(self) -> int | None:
        """The median spacing of the capture times (None with fewer than 2 samples)."""
        if len(self) < 2:
            return None
        d = np.diff(self.t_ns)
        d = d[d > 0]
        return int(np.median(d)) if d.size else None


def topic_from_stem(stem: str) -> str:
    """Return the topic a file stem names (the inverse of :func:`topic_stem`)."""
    return STATS_TOPIC if stem == STATS_FILE else stem.replace("__", "/")


def _read_columns(path: Path) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise StreamconvError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if _TIME not in header:
            raise StreamconvError(
                f"{str(path)!r} has no {_TIME!r} column (header {header}); expected a streamconv log CSV"
                f" ({_TIME},{_SEQ},{_VALUE})"
            )
        it = header.index(_TIME)
        iseq = header.index(_SEQ) if _SEQ in header else None
        ival = header.index(_VALUE) if _VALUE in header else len(header) - 1
        if ival == it:
            raise StreamconvError(f"{str(path)!r} has no value column besides {_TIME!r}")
        ts: list[str] = []
        seqs: list[str] = []
        vals: list[str] = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):  # a line cut short by a crash: the rest of the file is good
                logger.warning("%s: line %d has %d fields, expected %d; skipped",
                               path, reader.line_num, len(row), len(header))
                continue
            ts.append(row[it])
            seqs.append(row[iseq] if iseq is not None else "-1")
            vals.append(row[ival].strip() or "nan")
    try:
        t = np.array(ts, dtype=np.int64) if ts else np.empty(0, np.int64)
        s = np.array(seqs, dtype=np.int64) if seqs else np.empty(0, np.int64)
        v = np.array(vals, dtype=np.float64) if vals else np.empty(0, np.float64)
    except ValueError as exc:
        raise StreamconvError(f"{str(path)!r}: not a number: {exc}") from None
    return t, s, v


def _series(topic: str, parts: Sequence[Path]) -> Series:
    cols = [_read_columns(p) for p in parts]
    t = np.concatenate([c[0] for c in cols])
    s = np.concatenate([c[1] for c in cols])
    v = np.concatenate([c[2] for c in cols])
    order = np.argsort(t, kind="stable")
    return Series(topic, t[order], s[order], v[order])


def load_csv(path: str | os.PathLike[str]) -> Series:
    """Read one sample CSV (``t_capture_ns`` and a ``value`` column, else the last one).

    The topic is taken from the file name (``laser__smoothed.0003.csv`` -> ``laser/smoothed``).

    Raises
    ------
    StreamconvError
        A missing file, no ``t_capture_ns`` column, or a field that is not a number.
    """
    p = Path(path)
    m = _CSV_NAME.fullmatch(p.name)
    stem = m.group("stem") if m else p.stem
    return _series(topic_from_stem(stem), [p])


def load_log(path: str | os.PathLike[str]) -> dict[str, Series]:
    """Read the sample series of a log directory (rotated files joined), or of one CSV file.

    Parameters
    ----------
    path : path-like
        A directory written by ``streamconv log`` or a single CSV.

    Returns
    -------
    dict of str to Series
        By topic, in topic order; series without any sample are left out.

    Raises
    ------
    StreamconvError
        A missing path, a directory without sample CSVs, or a CSV that cannot be parsed.
    """
    p = Path(path)
    if not p.exists():
        raise StreamconvError(f"no such file or directory: {str(p)!r}")
    if p.is_file():
        s = load_csv(p)
        return {s.topic: s} if len(s) else {}
    groups: dict[str, list[tuple[int, Path]]] = {}
    for f in p.iterdir():
        if not f.is_file() or _NOT_SAMPLES.fullmatch(f.name):
            continue
        m = _CSV_NAME.fullmatch(f.name)
        if not m:
            continue
        groups.setdefault(m.group("stem"), []).append((int(m.group("n") or 0), f))
    out: dict[str, Series] = {}
    for stem in sorted(groups):
        parts = [f for _, f in sorted(groups[stem])]
        try:
            s = _series(topic_from_stem(stem), parts)
        except StreamconvError as exc:
            logger.warning("skipped %s: %s", stem, exc)
            continue
        if len(s):
            out[s.topic] = s
    if not out:
        raise StreamconvError(f"no sample CSV with data in {str(p)!r} (expected files like laser__raw.csv)")
    return out
