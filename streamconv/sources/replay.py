"""Sources that play a recorded topic again (``kind: replay``): filter a recording with other kernels.

A recording of ``laser/raw`` (and ``laser/truth``) becomes a sample source, one of
``camera/raw`` a frame source; the producer paces them at the recorded rate times ``rate`` and
stamps its own capture times, as for a live sensor.  The values and pixels are the recorded
ones, in the recorded order, so a replay through the same filter gives the same output as the
live run did (after the filter's warm-up: the samples before the recording started are not in
it).

A sample source has no end in the producer's model: without ``loop`` the last chunk is padded
with NaN (a dropout) and the source then reports :attr:`ReplaySamples.exhausted`, which stops
the stream.  Frames end the stream the way a video file does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamconv.sources.base import FrameItem, SampleChunk

__all__ = ["Probe", "ReplayFrames", "ReplaySamples", "probe"]

log = logging.getLogger(__name__)
#: Frames whose capture times estimate a frame topic's rate.
RATE_FRAMES = 30


@dataclass(frozen=True)
class Probe:
    """What a recorded topic is: samples or frames, its rate, and its frame size."""

    items: str
    rate_hz: float
    width: int | None = None
    height: int | None = None


def _reader(path: Path) -> Any:
    try:
        from streamconv.recording.reader import RecordingReader
    except ImportError:  # pragma: no cover - the extra is missing
        raise ValueError("a replay source needs pip install 'streamconv[record]'") from None
    try:
        return RecordingReader(path)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def probe(path: Path, topics: Sequence[str]) -> Probe:
    """Return what ``topics[0]`` of recording ``path`` is; raise ValueError with one line if unusable."""
    reader = _reader(Path(path))
    topic = topics[0]
    first: Any = None
    times: list[int] = []
    seen_truth = len(topics) < 2
    for t, msg, _ in reader.native(list(topics)):
        if t == topic:
            first = first or msg
            times.append(msg.t_capture_ns)
        else:
            seen_truth = True
        if first is not None and seen_truth and (first.kind == "samples" or len(times) >= RATE_FRAMES):
            break
    if first is None:
        native = sorted(t for t, e in reader.channels.items() if e == "x-streamconv-v1")
        has = ", ".join(native) or "no native channel"
        raise ValueError(f"topic {topic!r} is not in {path}; it has {has}")
    if not seen_truth:
        raise ValueError(f"topic {topics[1]!r} is not in {path}")
    if first.kind == "samples":
        period = int(first.meta.get("sample_period_ns") or 0)
        if period <= 0:
            raise ValueError(f"topic {topic!r} in {path} has no sample_period_ns in its meta")
        return Probe("samples", 1e9 / period)
    a = first.array
    if first.kind != "frame" or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"topic {topic!r} in {path} holds {first.kind} {a.dtype} {list(a.shape)}; "
                         "a replayed frame topic must be uint8 BGR frames (H, W, 3), e.g. camera/raw")
    diffs = np.diff(np.asarray(times, dtype=np.int64))
    diffs = diffs[diffs > 0]
    rate = 1e9 / float(np.median(diffs)) if diffs.size else 30.0
    return Probe("frames", rate, width=int(a.shape[1]), height=int(a.shape[0]))


class ReplaySamples:
    """A sample source of a recorded sample topic (and its truth), read into memory at start."""

    def __init__(self, path: Path, topics: Sequence[str], *, rate: float = 1.0, loop: bool = False) -> None:
        reader = _reader(Path(path))
        parts: dict[str, dict[tuple[str, int], np.ndarray]] = {t: {} for t in topics}
        order: list[tuple[str, int]] = []
        period = 0
        for t, msg, _ in reader.native(list(topics)):
            key = (msg.epoch, msg.seq)
            parts[t][key] = np.array(msg.array, dtype=np.float64).ravel()
            if t == topics[0]:
                order.append(key)
                period = period or int(msg.meta.get("sample_period_ns") or 0)
        if not order:
            raise ValueError(f"topic {topics[0]!r} is not in {path}")
        self.values = np.concatenate([parts[topics[0]][k] for k in order])
        self.truth: np.ndarray | None = None
        if len(topics) > 1:
            truth = parts[topics[1]]
            raw = parts[topics[0]]
            self.truth = np.concatenate([truth.get(k, np.full(raw[k].shape, np.nan)) for k in order])
        if reader.torn:
            log.warning("replay: %s", reader.torn)
        self.period_ns = max(1, round(period / rate))
        self.loop = loop
        self.position = 0
        self.exhausted = False

    @property
    def rate_hz(self) -> float:
        """The recorded rate times ``rate``."""
        return 1e9 / self.period_ns

    def read(self, n: int, t_capture_ns: int) -> SampleChunk:
        """Return the next ``n`` recorded samples (NaN past the end without ``loop``)."""
        idx = self.position + np.arange(n)
        total = self.values.shape[0]
        if self.loop:
            idx %= total
        self.position += n
        if not self.loop and self.position >= total:
            if not self.exhausted:
                log.info("replay: the recording's %d samples have all been played", total)
            self.exhausted = True
        inside = idx < total
        safe = np.minimum(idx, total - 1)
        values = np.where(inside, self.values[safe], np.nan)
        truth = None if self.truth is None else np.where(inside, self.truth[safe], np.nan)
        return SampleChunk(t_capture_ns, self.period_ns, values, truth)

    def close(self) -> None:
        """Nothing to release (the samples are in memory)."""


class ReplayFrames:
    """A frame source of a recorded uint8 BGR frame topic, read from the file as it plays."""

    def __init__(self, path: Path, topic: str, *, fps: float, loop: bool = False) -> None:
        self.path = Path(path)
        self.topic = topic
        self._fps = fps
        self.loop = loop
        self.index = 0
        self.exhausted = False
        self._frames = self._iterate()

    @property
    def fps(self) -> float:
        """The recorded frame rate times ``rate``."""
        return self._fps

    def _iterate(self) -> Iterator[np.ndarray]:
        while True:
            reader = _reader(self.path)
            n = 0
            for _, msg, _ in reader.native([self.topic]):
                n += 1
                yield np.ascontiguousarray(msg.array)
            if reader.torn:
                log.warning("replay: %s", reader.torn)
            if not self.loop or n == 0:
                return

    def read(self, t_capture_ns: int) -> FrameItem | None:
        """Return the next recorded frame, or None at the end (then :attr:`exhausted`)."""
        try:
            image = next(self._frames)
        except StopIteration:
            self.exhausted = True
            return None
        item = FrameItem(t_capture_ns, self.index, image)
        self.index += 1
        return item

    def close(self) -> None:
        """Stop reading the file."""
        self._frames.close()
