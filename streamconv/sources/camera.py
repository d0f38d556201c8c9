"""CameraSource: frames from a webcam, a video file or a stream URL, reopened with backoff when lost."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from streamconv._closing import Closing
from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_int
from streamconv.sources.base import FrameItem, FrameSource, _check_real
from streamconv.sources.synthetic import PATTERNS, SyntheticCamera

__all__ = ["CameraSource", "open_source"]

logger = logging.getLogger(__name__)

SourceKind = Literal["device", "file", "url"]
_URL_OPEN_TIMEOUT_MS = 5000
_URL_READ_TIMEOUT_MS = 5000


class _QuietOpenCV:
    """Silence OpenCV's own stderr logging while opening (we log the outcome ourselves).

    OpenCV's log level is process-wide, so nested and concurrent uses are reference-counted and
    the level in force before the first one is restored after the last one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = 0

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._saved = cv2.utils.logging.getLogLevel()
                cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                cv2.utils.logging.setLogLevel(self._saved)


_quiet_opencv = _QuietOpenCV()


class CameraSource(Closing):
    """A frame source over ``cv2.VideoCapture``: a device index, a video file or a URL.

    ``read`` never raises for I/O trouble and never blocks on a retry: when the source cannot
    be opened, or a device or stream is lost, ``read`` returns None at once until the next retry
    time, and the retries back off exponentially from ``reopen_backoff[0]`` to
    ``reopen_backoff[1]`` seconds.  One warning is logged per outage (not per attempt) and an
    info message when the source is back.

    Parameters
    ----------
    source : int or str
        A device index (an int, or a string of digits such as ``"0"``), a path to a video file,
        or a URL (anything with ``://``, treated as a live stream: its end is an outage).
    width, height : int, optional
        Requested frame size.  Devices are asked for it (best effort); frames of another size are
        resized with ``cv2.resize``, and :attr:`info` records the native size.
    fps : float, optional
        Requested frame rate (> 0).  Devices are asked for it; for a file it replaces the file's
        own rate as the nominal :attr:`fps` the caller paces playback at.
    loop : bool
        For a file: rewind at the end and go on; otherwise :attr:`exhausted` becomes True.
    reopen_backoff : (float, float)
        First and longest delay between open attempts, in seconds (``0 < first <= longest``).
    clock : callable
        Monotonic clock in seconds used for the retry schedule (inject a fake one in tests).

    Attributes
    ----------
    frames_read : int
        Frames delivered so far (also the next frame's ``index``).
    reopen_attempts : int
        Open attempts after the first one (retries after a failure or a loss).
    failures : int
        Failed open attempts plus lost reads.
    info : dict
        What was asked and what was obtained: kind, backend, requested and native size and fps,
        whether frames are resized or converted.

    Notes
    -----
    Grey and BGRA frames are converted to BGR; 16-bit frames are scaled to 8 bits.  For a
    device, ``read`` waits for the device's next frame (the device paces itself).
    """

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        loop: bool = False,
        reopen_backoff: tuple[float, float] = (0.5, 8.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source, self._kind = _parse_source(source)
        self._req_width = None if width is None else check_int("width", width, minimum=1)
        self._req_height = None if height is None else check_int("height", height, minimum=1)
        self._req_fps = None if fps is None else _check_real("fps", fps, low=0.0, low_open=True)
        try:
            first, longest = reopen_backoff
        except (TypeError, ValueError) as exc:
            raise StreamconvError(
                f"invalid reopen_backoff {reopen_backoff!r}; expected a pair (first, longest) of seconds"
            ) from exc
        self._backoff_min = _check_real("reopen_backoff[0]", first, low=0.0, low_open=True)
        self._backoff_max = _check_real("reopen_backoff[1]", longest, low=self._backoff_min)
        self._loop = bool(loop)
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        self._delay = self._backoff_min
        self._next_retry: float | None = None
        self._in_outage = False
        self._exhausted = False
        self._closed = False
        self._width = self._req_width or 0
        self._height = self._req_height or 0
        self._fps = self._req_fps or 0.0
        self.frames_read = 0
        self.reopen_attempts = 0
        self.failures = 0
        self.info: dict[str, Any] = {
            "source": self._source,
            "kind": self._kind,
            "backend": None,
            "requested": {"width": self._req_width, "height": self._req_height, "fps": self._req_fps},
            "native_size": None,
            "native_fps": None,
            "resized": False,
            "converted_from": None,
        }
        self._open()

    def __repr__(self) -> str:
        return (
            f"CameraSource({self._source!r}, width={self._req_width!r}, height={self._req_height!r}, "
            f"fps={self._req_fps!r}, loop={self._loop!r}, "
            f"reopen_backoff={(self._backoff_min, self._backoff_max)!r})"
        )

    # -- the FrameSource protocol ----------------------------------------------------------------

    @property
    def fps(self) -> float:
        """Nominal frame rate: the requested one for a file, else what the device reports (0 if unknown)."""
        return self._fps

    @property
    def width(self) -> int:
        """Width of the delivered frames (0 before the source has been opened)."""
        return self._width

    @property
    def height(self) -> int:
        """Height of the delivered frames (0 before the source has been opened)."""
        return self._height

    @property
    def kind(self) -> SourceKind:
        """``'device'``, ``'file'`` or ``'url'``."""
        return self._kind

    @property
    def exhausted(self) -> bool:
        """True once a file without ``loop`` has ended."""
        return self._exhausted

    @property
    def is_open(self) -> bool:
        """True while the underlying capture is open."""
        return self._cap is not None

    @property
    def next_retry_at(self) -> float | None:
        """Clock time of the next open attempt while the source is down, else None."""
        return None if self._cap is not None else self._next_retry

    def read(self, t_capture_ns: int) -> FrameItem | None:
        """Return the next frame stamped ``t_capture_ns``, or None if there is none now.

        None means: the source is down and the next retry is not due yet (or failed again), the
        file ended (then :attr:`exhausted` is True), or the source was closed.
        """
        if self._closed or self._exhausted:
            return None
        if self._cap is None:
            if self._next_retry is not None and self._clock() < self._next_retry:
                return None
            self.reopen_attempts += 1
            if not self._open():
                return None
        img = self._grab()
        if img is None and self._kind == "file":
            if not self._loop:
                logger.info("%s: end of file after %d frames", self._source, self.frames_read)
                self._exhausted = True
                self._release()
                return None
            img = self._rewind()
        if img is None:
            self._release()
            self._fail("lost (no frame)")
            return None
        item = FrameItem(int(t_capture_ns), self.frames_read, self._to_bgr(img))
        self.frames_read += 1
        return item

    def close(self) -> None:
        """Release the capture; later reads return None."""
        self._closed = True
        self._release()

    # -- internals -------------------------------------------------------------------------------

    def _create(self) -> cv2.VideoCapture:
        if self._kind == "device":
            return cv2.VideoCapture(int(self._source))
        if self._kind == "url":
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                _URL_OPEN_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                _URL_READ_TIMEOUT_MS,
            ]
            return cv2.VideoCapture(str(self._source), cv2.CAP_ANY, params)
        return cv2.VideoCapture(str(self._source))

    def _open(self) -> bool:
        """Try to open the capture once; on failure schedule the next retry."""
        cap: cv2.VideoCapture | None = None
        reason = "cannot be opened"
        if self._kind == "file" and not Path(str(self._source)).exists():
            reason = "no such file"
        try:
            with _quiet_opencv:
                cap = self._create()
                ok = bool(cap.isOpened())
        except cv2.error as exc:  # OpenCV raises for some backends instead of returning False
            ok = False
            reason = f"cannot be opened ({str(exc).strip().splitlines()[-1]})"
        if not ok or cap is None:
            if cap is not None:
                cap.release()
            self._fail(reason)
            return False
        if self._kind != "file":
            if self._req_width is not None:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._req_width)
            if self._req_height is not None:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._req_height)
            if self._req_fps is not None:
                cap.set(cv2.CAP_PROP_FPS, self._req_fps)
        native = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        native_fps = float(cap.get(cv2.CAP_PROP_FPS))
        self.info.update(backend=cap.getBackendName(), native_size=native, native_fps=native_fps)
        self._width = self._req_width or native[0]
        self._height = self._req_height or native[1]
        if self._kind == "file" and self._req_fps is not None:
            self._fps = self._req_fps
        else:
            self._fps = native_fps if native_fps > 0 else (self._req_fps or 0.0)
        self._cap = cap
        self._next_retry = None
        self._delay = self._backoff_min
        if self._in_outage:
            logger.info("%s: reopened after %d retries", self._source, self.reopen_attempts)
            self._in_outage = False
        else:
            logger.info(
                "%s: opened (%s, %dx%d at %.3g fps)", self._source, self.info["backend"], *native, native_fps
            )
        return True

    def _fail(self, reason: str) -> None:
        """Count a failure, warn once per outage, and schedule the next attempt with backoff."""
        self.failures += 1
        if not self._in_outage:
            logger.warning(
                "%s: %s; retrying every %.3g s up to %.3g s",
                self._source,
                reason,
                self._backoff_min,
                self._backoff_max,
            )
            self._in_outage = True
        else:
            logger.debug(
                "%s: %s (failure %d); next try in %.3g s", self._source, reason, self.failures, self._delay
            )
        self._next_retry = self._clock() + self._delay
        self._delay = min(2.0 * self._delay, self._backoff_max)

    def _grab(self) -> np.ndarray | None:
        assert self._cap is not None
        try:
            ok, img = self._cap.read()
        except cv2.error as exc:
            logger.debug("%s: read raised %s", self._source, exc)
            return None
        return img if ok and img is not None and img.size else None

    def _rewind(self) -> np.ndarray | None:
        """Go back to the first frame of a file (seek, else reopen); return it or None."""
        assert self._cap is not None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        img = self._grab()
        if img is None:  # not seekable: reopen the file
            self._release()
            with _quiet_opencv:
                self._cap = self._create()
            img = self._grab() if self._cap.isOpened() else None
        if img is not None:
            logger.debug("%s: looped after %d frames", self._source, self.frames_read)
        return img

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _to_bgr(self, img: np.ndarray) -> np.ndarray:
        """Convert a frame to C-contiguous (H, W, 3) uint8 BGR of the requested size."""
        if img.dtype != np.uint8:
            self._note_conversion(str(img.dtype))
            if img.dtype == np.uint16:
                img = (img >> 8).astype(np.uint8)
            elif np.issubdtype(img.dtype, np.floating):
                img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
            else:
                img = np.clip(img, 0, 255).astype(np.uint8)
        if img.ndim == 2 or img.shape[2] == 1:
            self._note_conversion("gray")
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif img.shape[2] == 4:
            self._note_conversion("bgra")
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        h, w = img.shape[:2]
        want_w, want_h = self._req_width or w, self._req_height or h
        if (want_w, want_h) != (w, h):
            if not self.info["resized"]:
                logger.info("%s: frames of %dx%d resized to %dx%d", self._source, w, h, want_w, want_h)
                self.info["resized"] = True
            shrink = want_w * want_h < w * h
            img = cv2.resize(
                img, (want_w, want_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            )
        self._width, self._height = want_w, want_h
        return np.ascontiguousarray(img)

    def _note_conversion(self, what: str) -> None:
        if self.info["converted_from"] is None:
            logger.info("%s: converting %s frames to BGR uint8", self._source, what)
            self.info["converted_from"] = what


def _parse_source(source: Any) -> tuple[int | str, SourceKind]:
    if isinstance(source, bool) or not isinstance(source, int | str | np.integer):
        raise StreamconvError(f"invalid source {source!r}; expected a device index, a file path or a URL")
    if isinstance(source, int | np.integer):
        return check_int("source", source, minimum=0), "device"
    text = source.strip()
    if not text:
        raise StreamconvError("invalid source ''; expected a device index, a file path or a URL")
    if text.isdigit():
        return int(text), "device"
    if "://" in text:
        return text, "url"
    return text, "file"


def open_source(
    spec: int | str,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    loop: bool = False,
    seed: int = 0,
    clock: Callable[[], float] = time.monotonic,
) -> FrameSource:
    """Return the frame source a spec names.

    Parameters
    ----------
    spec : int or str
        ``"synthetic"`` (or ``"synthetic:<pattern>"``, a pattern of
        :data:`~streamconv.sources.synthetic.PATTERNS`) for the test pattern; a device index
        (an int or a string of digits); else a file path or a URL.
    width, height, fps : optional
        Requested size and rate (the test pattern defaults to 640x480 at 30 fps).
    loop : bool
        For files: rewind at the end.
    seed : int
        Seed of the test pattern.
    clock : callable
        Clock of the camera's retry schedule.

    Returns
    -------
    FrameSource
        A :class:`~streamconv.sources.synthetic.SyntheticCamera` or a :class:`CameraSource`.

    Examples
    --------
    >>> type(open_source("synthetic:static", width=32, height=24)).__name__
    'SyntheticCamera'
    """
    if isinstance(spec, str) and (spec == "synthetic" or spec.startswith("synthetic:")):
        pattern = spec.partition(":")[2] or "moving"
        if pattern not in PATTERNS:
            raise StreamconvError(
                f"invalid source {spec!r}; expected 'synthetic' or one of "
                f"{[f'synthetic:{p}' for p in PATTERNS]}"
            )
        return SyntheticCamera(
            640 if width is None else width,
            480 if height is None else height,
            30.0 if fps is None else fps,
            seed,
            pattern,  # type: ignore[arg-type]
        )
    return CameraSource(spec, width=width, height=height, fps=fps, loop=loop, clock=clock)
