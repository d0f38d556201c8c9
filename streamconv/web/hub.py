"""The web viewer's shared state: the newest JPEG of each frame topic, sample batches, ``_stats``.

A :class:`Hub` is a :class:`streamconv.sinks.base.Sink` that :func:`streamconv.sinks.base.pump`
feeds from one subscriber thread.  Each frame is JPEG-encoded at most once, however many browsers
watch, and only when somebody looks: while a page or an MJPEG stream is open (:meth:`Hub.watch`)
the subscriber thread encodes every frame as it arrives; with nobody watching it only keeps the
newest array of each topic, and a ``/snapshot`` encodes that one on demand (:meth:`Hub.newest`).
Every client reads the newest encoded frame of a topic (a slow client skips frames, it never
queues them).  Samples are kept in a bounded per-topic ring with an absolute index, so
each client sends what it has not sent yet (at most :data:`SAMPLE_KEEP` of them).

Examples
--------
>>> import numpy as np
>>> from streamconv.wire import Header, Message
>>> hub = Hub()
>>> h = Header(v=1, stream="laser", kind="samples", seq=0, epoch="e", t_capture_ns=1, dtype="<f8",
...            shape=[3], meta={})
>>> hub.write(Message("laser/raw", h, np.array([1.0, 2.0, 3.0])))
>>> hub.samples_since("laser/raw", 0)
(3, [1.0, 2.0, 3.0])
"""

from __future__ import annotations

import json
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SAMPLE_KEEP", "Frame", "Hub", "pack_frame"]

#: Samples kept per topic (what a page that just opened can draw at once).
SAMPLE_KEEP = 2000
#: JPEG quality of the encoded frames.
JPEG_QUALITY = 85


@dataclass(frozen=True, slots=True)
class Frame:
    """One encoded frame: its topic, seq, capture time and JPEG bytes."""

    topic: str
    seq: int
    t_capture_ns: int
    jpeg: bytes
    #: A counter over every frame of every topic (what a client compares to know it is new).
    version: int


def pack_frame(frame: Frame) -> bytes:
    """Return the WebSocket binary message of ``frame``.

    A 4-byte big-endian header length, the JSON header ``{"topic", "seq", "t_capture_ns"}``,
    then the JPEG bytes.
    """
    head = json.dumps({"topic": frame.topic, "seq": frame.seq, "t_capture_ns": frame.t_capture_ns})
    return struct.pack(">I", len(head)) + head.encode() + frame.jpeg


class Hub:
    """What the subscriber thread wrote and what the web handlers read (thread-safe)."""

    def __init__(self, *, notify: Callable[[], None] | None = None, quality: int = JPEG_QUALITY) -> None:
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        #: The newest message of each frame topic and its version (encoded or not).
        self._raw: dict[str, tuple[Any, int]] = {}
        #: The newest *encoded* frame of each topic (may be older than ``_raw`` when nobody watches).
        self.frames: dict[str, Frame] = {}
        self.watchers = 0
        self._samples: dict[str, deque[float]] = {}
        self._sample_total: dict[str, int] = {}
        self.stats: dict[str, Any] = {}
        self.last_message = 0.0
        self.encoded = 0
        self.gaps = 0
        self._version = 0
        self._quality = quality
        self.notify = notify

    # -- Sink ---------------------------------------------------------------------------------
    def write(self, msg: Any) -> None:
        """Take one message: encode a frame once, append samples, keep the newest ``_stats``."""
        kind = msg.kind
        if kind in ("frame", "features"):
            with self._lock:
                self._version += 1
                self._raw[msg.topic] = (msg, self._version)
                watched = self.watchers > 0
            if watched:
                self._encode_newest(msg.topic)
        elif kind == "samples":
            values = [float(v) if np.isfinite(v) else None for v in np.ravel(msg.array)]
            with self._lock:
                ring = self._samples.setdefault(msg.topic, deque(maxlen=SAMPLE_KEEP))
                ring.extend(values)  # type: ignore[arg-type]
                self._sample_total[msg.topic] = self._sample_total.get(msg.topic, 0) + len(values)
        elif kind == "stats":
            with self._lock:
                self.stats = {"meta": _jsonable(msg.meta), "t_capture_ns": msg.t_capture_ns}
        self.last_message = time.monotonic()
        if self.notify is not None:
            self.notify()

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Count a gap (shown with the stats)."""
        self.gaps += 1

    # -- readers --------------------------------------------------------------------------------
    def alive(self, within_s: float = 2.0) -> bool:
        """Whether a message arrived in the last ``within_s`` seconds."""
        return self.last_message > 0 and time.monotonic() - self.last_message < within_s

    @contextmanager
    def watch(self) -> Iterator[None]:
        """Count a watching client while the block runs: frames are encoded as they arrive."""
        with self._lock:
            self.watchers += 1
        try:
            yield
        finally:
            with self._lock:
                self.watchers -= 1

    def frame_topics(self) -> list[str]:
        """Return the frame topics seen so far, sorted."""
        with self._lock:
            return sorted(self._raw)

    def sample_topics(self) -> list[str]:
        """Return the sample topics seen so far, sorted."""
        with self._lock:
            return sorted(self._samples)

    def newest(self, topic: str) -> Frame | None:
        """Return the newest frame of ``topic``, encoding it now if nobody has (None before the first).

        This may take a JPEG encode's time: call it from a worker thread, not an event loop.
        """
        with self._lock:
            if topic not in self._raw:
                return None
        return self._encode_newest(topic)

    def newest_encoded(self, topic: str) -> Frame | None:
        """Return the newest frame of ``topic`` already encoded, without encoding (never blocks long)."""
        with self._lock:
            return self.frames.get(topic)

    def _encode_newest(self, topic: str) -> Frame | None:
        """Encode the newest message of ``topic`` unless it is already (one encode per version)."""
        with self._encode_lock:
            with self._lock:
                msg, version = self._raw[topic]
                done = self.frames.get(topic)
            if done is not None and done.version == version:
                return done
            frame = Frame(topic, msg.seq, msg.t_capture_ns, self._encode(msg.array, msg.kind), version)
            with self._lock:
                current = self.frames.get(topic)
                if current is None or current.version < version:
                    self.frames[topic] = frame
                self.encoded += 1
            return frame

    def samples_since(self, topic: str, index: int) -> tuple[int, list[float]]:
        """Return ``(total, values)``: the samples of ``topic`` after absolute ``index`` that are kept."""
        with self._lock:
            ring = self._samples.get(topic)
            total = self._sample_total.get(topic, 0)
            if ring is None or index >= total:
                return total, []
            n = min(total - index, len(ring))
            return total, list(ring)[len(ring) - n:]

    def _encode(self, array: np.ndarray, kind: str) -> bytes:
        import cv2

        from streamconv.sinks.render import montage_fit, to_bgr8

        image = montage_fit(array) if kind == "features" else to_bgr8(array)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:  # pragma: no cover - cv2 fails only on an empty image
            raise ValueError(f"JPEG encoding failed for an image of shape {image.shape}")
        return buf.tobytes()


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into plain JSON values."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
