"""SyntheticCamera: a seeded, deterministic moving test pattern that makes every filter visibly act."""

from __future__ import annotations

import logging
import math
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from streamconv.ops._validate import check_choice, check_int
from streamconv.pool import FramePool
from streamconv.sources.base import FrameItem, _check_real

__all__ = ["PATTERNS", "SyntheticCamera"]

logger = logging.getLogger(__name__)

Pattern = Literal["moving", "static"]
#: ``'moving'``: the full pattern; ``'static'``: the background only, identical for every frame.
PATTERNS: tuple[Pattern, ...] = ("moving", "static")

# Colour bars, BGR, in the order of the SMPTE / EBU bars: white, yellow, cyan, green, magenta,
# red, blue, black.
_BARS = np.array(
    [
        [235, 235, 235],
        [16, 235, 235],
        [235, 235, 16],
        [16, 235, 16],
        [235, 16, 235],
        [16, 16, 235],
        [235, 16, 16],
        [16, 16, 16],
    ],
    dtype=np.uint8,
)
_NOISE_STD = 3.0  # grey levels of the static sensor-like noise
#: Buffers :meth:`SyntheticCamera.read` reuses; more are made (unpooled) while all are held.
_POOL_SIZE = 6


class SyntheticCamera:
    """A frame source drawing a moving test pattern; frame ``i`` depends only on ``(i, seed, size)``.

    The frame has, top to bottom: colour bars (sharp vertical edges) with a frame counter; a
    smooth gradient (where blurs change little) with a sharp text label, a bright disc moving on
    a Lissajous path and a rotating spoke (edges at every angle); and a checkerboard band that
    scrolls sideways (high frequencies, moving).  A little seeded noise is baked into the static
    background.  The background is built once; a frame is a copy of it with the moving parts
    drawn by OpenCV primitives, so a 1280x720 frame takes well under 2 ms.

    Parameters
    ----------
    width, height : int
        Frame size in pixels (>= 8 each).
    fps : float
        Nominal frame rate (>= 0; 0 means unthrottled: the caller does not pace).  It does not
        change the frames: motion is per frame index.
    seed : int
        Seed (>= 0) of the noise, the disc's path and its colour.
    pattern : {'moving', 'static'}
        ``'static'`` draws no moving part and no counter: every frame is the same.

    Examples
    --------
    >>> cam = SyntheticCamera(64, 48, seed=1)
    >>> item = cam.read(t_capture_ns=0)
    >>> item.index, item.image.shape, item.image.dtype.name
    (0, (48, 64, 3), 'uint8')
    >>> bool(np.array_equal(cam.frame(0), item.image))
    True
    """

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        seed: int = 0,
        pattern: Pattern = "moving",
    ) -> None:
        self._width = check_int("width", width, minimum=8)
        self._height = check_int("height", height, minimum=8)
        self._fps = _check_real("fps", fps, low=0.0)
        self._seed = check_int("seed", seed, minimum=0)
        self._pattern: Pattern = check_choice("pattern", pattern, PATTERNS)
        self.frames_read = 0
        rng = np.random.default_rng(self._seed)
        w, h = self._width, self._height
        self._y_bars = h // 4
        self._y_checker = h - h // 5
        self._cell = max(2, h // 24)
        # A checker strip two cells wider than the frame: scrolling is a slice of it.
        yy, xx = np.mgrid[0 : h - self._y_checker, 0 : w + 2 * self._cell]
        cells = (yy // self._cell + xx // self._cell) % 2
        self._strip = _add_noise(np.repeat((40 + 175 * cells)[:, :, None], 3, axis=2), rng)
        self._background = self._make_background(rng)
        self._phase = rng.uniform(0.0, 2.0 * math.pi, size=3)
        self._disc_colour = tuple(int(c) for c in rng.integers(200, 256, size=3))
        self._scale = h / 480.0
        self._pool = FramePool((h, w, 3), np.uint8, size=_POOL_SIZE)

    def __repr__(self) -> str:
        return (
            f"SyntheticCamera(width={self._width!r}, height={self._height!r}, fps={self._fps!r}, "
            f"seed={self._seed!r}, pattern={self._pattern!r})"
        )

    # -- the FrameSource protocol ----------------------------------------------------------------

    @property
    def fps(self) -> float:
        """The nominal frame rate (0 = unthrottled)."""
        return self._fps

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self._width

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self._height

    @property
    def exhausted(self) -> bool:
        """Always False: the pattern never ends."""
        return False

    def read(self, t_capture_ns: int) -> FrameItem:
        """Return the next frame, stamped ``t_capture_ns`` (never None: the pattern never fails)."""
        i = self.frames_read
        self.frames_read += 1
        img, slot = self._pool.take()
        if slot.fresh:
            np.copyto(img, self._background)
        else:  # the buffer holds the background except where its last frame drew
            for y0, y1, x0, x1 in slot.tag:
                img[y0:y1, x0:x1] = self._background[y0:y1, x0:x1]
        slot.tag = self._draw(img, i)
        view = img.view()  # holds the buffer (the pool sees it in use) and cannot write to it
        view.flags.writeable = False
        return FrameItem(int(t_capture_ns), i, view)

    def close(self) -> None:
        """Do nothing: the pattern holds no resources."""

    def reset(self) -> None:
        """Start again from frame 0."""
        self.frames_read = 0

    # -- drawing ---------------------------------------------------------------------------------

    def frame(self, i: int) -> NDArray[np.uint8]:
        """Return frame ``i`` (>= 0), a new (H, W, 3) uint8 BGR array; a pure function of ``i``."""
        i = check_int("i", i, minimum=0)
        img = self._background.copy()
        self._draw(img, i)
        return img

    def _draw(self, img: NDArray[np.uint8], i: int) -> list[tuple[int, int, int, int]]:
        """Draw frame ``i``'s moving parts on the background in ``img``; return what they cover.

        The rectangles ``(y0, y1, x0, x1)`` cover every pixel drawn outside the scrolling band
        (which is rewritten whole every frame): restoring them from the background gives the
        background back.
        """
        if self._pattern == "static":
            return []
        w, h, s = self._width, self._height, self._scale
        # Scrolling checkerboard: 2 px per frame, periodic over two cells.
        off = (2 * i) % (2 * self._cell)
        img[self._y_checker :, :] = self._strip[:, off : off + w]
        # Bright disc on a Lissajous path through the gradient area.
        ph = self._phase
        cx = w / 2 + 0.38 * w * math.sin(2 * math.pi * i / 157 + ph[0])
        cy = (self._y_bars + self._y_checker) / 2 + 0.18 * h * math.sin(2 * math.pi * i / 97 + ph[1])
        r = max(2, round(h / 10))
        centre = (round(cx), round(cy))
        cv2.circle(img, centre, r, self._disc_colour, -1, cv2.LINE_AA)
        # A rotating spoke from the disc's centre: edges at every angle.
        ang = 2 * math.pi * i / 120 + ph[2]
        tip = (round(cx + 2.2 * r * math.cos(ang)), round(cy + 2.2 * r * math.sin(ang)))
        spoke = max(1, round(3 * s))
        cv2.line(img, centre, tip, (20, 20, 20), spoke, cv2.LINE_AA)
        # Frame counter on a black box over the colour bars.
        font_scale = 0.6 * s
        thick = max(1, round(1.5 * s))
        text = f"#{i:06d}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        pad = max(1, round(4 * s))
        box = (tw + 2 * pad, th + base + 2 * pad)
        cv2.rectangle(img, (0, 0), box, (0, 0, 0), -1)
        cv2.putText(
            img,
            text,
            (pad, pad + th),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            thick,
            cv2.LINE_8,
        )
        # anti-aliased edges and line caps reach a few pixels beyond the nominal shapes
        m = spoke + 3
        disc = (centre[0] - r - 3, centre[0] + r + 4, centre[1] - r - 3, centre[1] + r + 4)
        line = (min(centre[0], tip[0]) - m, max(centre[0], tip[0]) + m + 1,
                min(centre[1], tip[1]) - m, max(centre[1], tip[1]) + m + 1)
        rects = [(0, box[1] + 2 + thick, 0, box[0] + 2 + thick)]
        for x0, x1, y0, y1 in (disc, line):
            rects.append((max(0, y0), min(h, y1), max(0, x0), min(w, x1)))
        return [r_ for r_ in rects if r_[0] < r_[1] and r_[2] < r_[3]]

    def _make_background(self, rng: np.random.Generator) -> NDArray[np.uint8]:
        w, h = self._width, self._height
        img = np.empty((h, w, 3), dtype=np.uint8)
        # Colour bars.
        bar = (np.arange(w) * len(_BARS)) // w
        img[: self._y_bars] = _BARS[bar][None, :, :]
        # Smooth gradient: blue rises left to right, green top to bottom, red constant.
        mid = self._y_checker - self._y_bars
        gx = np.linspace(30.0, 220.0, w)
        gy = np.linspace(40.0, 200.0, max(mid, 1))
        img[self._y_bars : self._y_checker, :, 0] = gx[None, :].astype(np.uint8)
        img[self._y_bars : self._y_checker, :, 1] = gy[:mid, None].astype(np.uint8)
        img[self._y_bars : self._y_checker, :, 2] = 90
        img[self._y_checker :] = self._strip[:, :w]
        # A sharp text label (no anti-aliasing: crisp edges for the detectors).
        s = h / 480.0
        cv2.putText(
            img,
            "streamconv",
            (max(1, round(12 * s)), self._y_checker - max(2, round(12 * s))),
            cv2.FONT_HERSHEY_DUPLEX,
            1.2 * s,
            (255, 255, 255),
            max(1, round(2 * s)),
            cv2.LINE_8,
        )
        img[: self._y_checker] = _add_noise(img[: self._y_checker], rng)
        return img


def _add_noise(img: np.ndarray, rng: np.random.Generator) -> NDArray[np.uint8]:
    """Return ``img`` plus a little seeded Gaussian noise, rounded and saturated to uint8."""
    noisy = img.astype(np.float32) + rng.normal(0.0, _NOISE_STD, size=img.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
