"""Where ``streamconv learn`` reads sample series from: one reader per kind of input, by path suffix.

A ``streamconv log`` directory (or one of its CSVs) is read by
:func:`streamconv.sinks.log.load_log`, a recording (``.mcap``, ``streamconv record``) by
:func:`streamconv.recording.reader.sample_series`.  Another kind plugs in with
:func:`register_reader`: a reader takes a path and returns the sample series by topic, as
:class:`~streamconv.sinks.log.Series`; nothing else here changes.

:func:`read_frames` reads the frames of ``learn kernel2d``: an image, a ``.npy`` array or a video.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from streamconv.errors import StreamconvError
from streamconv.plot import align
from streamconv.sinks.log import Series, load_log

__all__ = ["READERS", "SamplePair", "read_frames", "read_samples", "register_reader", "sample_pair"]

Reader = Callable[[Path], dict[str, Series]]
def _recording(path: Path) -> dict[str, Series]:
    try:
        from streamconv.recording.reader import NotMcapError, sample_series
    except ImportError:  # pragma: no cover - the record extra is missing
        raise StreamconvError("reading a recording needs pip install 'streamconv[record]'") from None
    try:
        return sample_series(path)
    except (OSError, NotMcapError) as exc:
        raise StreamconvError(f"{str(path)!r}: {getattr(exc, 'strerror', None) or exc}") from None


#: Readers by path suffix (lower case, with the dot); a directory or any other path is a log.
READERS: dict[str, Reader] = {".mcap": _recording}


def register_reader(suffix: str, reader: Reader) -> None:
    """Read paths ending in ``suffix`` (e.g. ``'.mcap'``) with ``reader``."""
    READERS[suffix.lower()] = reader


def read_samples(path: str | Path) -> dict[str, Series]:
    """Return the sample series of ``path`` by topic, read by the reader its suffix names.

    Raises
    ------
    StreamconvError
        A path that does not exist, holds no sample series, or whose kind cannot be read yet.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in READERS:
        return READERS[suffix](p)
    return load_log(p)


@dataclass(frozen=True)
class SamplePair:
    """A raw series and its truth on one gap-free sample grid.

    Attributes
    ----------
    raw, truth : (n,) ndarray of float64
        Finite values at the same capture times.
    t_ns : (n,) ndarray of int64
        The capture times.
    period_ns : int
        The grid's spacing.
    """

    raw: NDArray[np.float64]
    truth: NDArray[np.float64]
    t_ns: NDArray[np.int64]
    period_ns: int

    @property
    def dt(self) -> float:
        """The period in seconds."""
        return self.period_ns / 1e9


def sample_pair(series: Mapping[str, Series], raw: str, truth: str, *, source: str = "the log") -> SamplePair:
    """Return topics ``raw`` and ``truth`` aligned by capture time, checked for what a fit needs.

    Raises
    ------
    StreamconvError
        A missing topic (the message lists the topics there are), no common capture time, a NaN
        (a dropout), or a gap in the grid (a lost message: windows across it would be wrong).
    """
    for topic in (raw, truth):
        if topic not in series:
            raise StreamconvError(f"{source} has no topic {topic!r}; it has {sorted(series)}")
    x, y, t = align(series[raw], series[truth])
    if t.size < 2:
        raise StreamconvError(f"{raw} and {truth} share {t.size} capture time(s) in {source}; expected many")
    for topic, values in ((raw, x), (truth, y)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise StreamconvError(
                f"{topic} has {bad.size} NaN/infinite sample(s) in {source} (the first at t_capture_ns "
                f"{int(t[bad[0]])}); fit on a log without dropouts"
            )
    steps = np.diff(t)
    period = int(np.median(steps))
    gaps = np.flatnonzero(steps != period)
    if period <= 0 or gaps.size:
        i = int(gaps[0]) if gaps.size else 0
        raise StreamconvError(
            f"{raw}/{truth} in {source} are not on one sample grid: step {int(steps[i])} ns after "
            f"t_capture_ns {int(t[i])}, expected {period} ns (a lost message?); fit on a gap-free log"
        )
    return SamplePair(x, y, t, period)


def read_frames(path: str | Path, *, max_frames: int = 100) -> list[NDArray[np.float64]]:
    """Return the frames of an image, a ``.npy`` array or a video, as float64 ``(H, W[, C])`` arrays.

    A ``.npy`` of 2 or 3 dimensions is one frame (``(H, W)`` or ``(H, W, C)``); of 4 dimensions,
    ``(N, H, W, C)`` frames.  A video gives its first ``max_frames`` frames (BGR, as OpenCV reads).

    Raises
    ------
    StreamconvError
        A file that cannot be read or holds no frame.
    """
    import cv2

    from streamconv.offline import file_kind

    p = Path(path)
    if not p.is_file():
        raise StreamconvError(f"no such file: {str(p)!r}")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StreamconvError(f"cannot read {str(p)!r}: {exc}") from None
        if arr.ndim not in (2, 3, 4) or arr.dtype.kind not in "biuf":
            raise StreamconvError(
                f"cannot use {str(p)!r}: a {arr.dtype} array of shape {list(arr.shape)}; expected (H, W), "
                "(H, W, C) or (N, H, W, C) numbers"
            )
        frames = list(arr) if arr.ndim == 4 else [arr]
    elif file_kind(p) == "image":
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise StreamconvError(f"cannot read image {str(p)!r}: not an image OpenCV can decode")
        frames = [img]
    else:
        cap = cv2.VideoCapture(str(p))
        frames = []
        try:
            while len(frames) < max_frames:
                ok, frame = cap.read()
                if not ok:
                    break
                frames.append(frame)
        finally:
            cap.release()
        if not frames:
            raise StreamconvError(f"cannot read {str(p)!r}: no frame (not a video OpenCV can decode?)")
    return [np.asarray(f, dtype=np.float64) for f in frames]
