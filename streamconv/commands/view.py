"""The ``streamconv view`` subcommand: show a running daemon's topics in one window (frames, maps, charts)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from streamconv.commands.options import (
    add_curve_options,
    add_endpoint,
    add_log_level,
    add_topics,
    curve_keys,
    positive_float,
    seconds,
    setup_logging,
)

__all__ = ["WINDOW_TITLE", "ViewWindow", "cmd_view", "register", "run_view"]

log = logging.getLogger(__name__)

#: The window's title (tests find the window by it).
WINDOW_TITLE = "streamconv view"
_REFRESH_MS = 15  # the window is redrawn (and its keys read) this often
_EPILOG = """\
Frame topics are read with Subscriber(latest=True): the window shows the newest frame and never
lags.  The panes of one stream show the same capture (paired by t_capture_ns).  Signed float
frames (edge outputs) show |x| clipped to 0..255; feature volumes a montage of min..max-normalised
maps; sample topics one strip chart per stream.  Keys: q/Esc quit, s save a screenshot PNG.
"""


def register(subparsers: Any) -> None:
    """Add the ``view`` subparser."""
    p = subparsers.add_parser(
        "view",
        help="show a running daemon's topics in a window (frames tiled, samples as strip charts)",
        description="Subscribe to a running `streamconv run` and show its topics in one window.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_topics(p, example="camera/raw camera/sharpen laser/")
    add_endpoint(p)
    p.add_argument("--scale", type=positive_float, default=1.0, help="resize frame panes by this factor")
    p.add_argument("--window", type=int, default=500, metavar="N", help="samples per strip chart")
    p.add_argument("--out-dir", type=Path, default=Path(), help="where the s key saves screenshots")
    t = p.add_argument_group("testing hooks")
    t.add_argument("--frames", type=int, metavar="N", help="quit after N window refreshes")
    t.add_argument("--duration", type=seconds, metavar="S", help="quit after S seconds")
    t.add_argument("--screenshot", type=Path, metavar="PATH", help="write the window image here at exit")
    t.add_argument("--no-window", action="store_true", help="render without opening a window")
    add_curve_options(p)
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_view)


def cmd_view(args: argparse.Namespace) -> int:
    """Run the view window; return its exit code."""
    setup_logging(args.log_level)
    if args.frames is not None and args.frames < 0:
        raise ValueError(f"invalid --frames {args.frames}; expected an integer >= 0")
    return run_view(
        args.endpoint,
        args.topics or [""],
        frames=args.frames,
        duration=args.duration,
        screenshot=args.screenshot,
        out_dir=args.out_dir,
        scale=args.scale,
        sample_window=args.window,
        window=not args.no_window,
        curve=curve_keys(args),
    )


class ViewWindow:
    """The ``view`` sink: a :class:`~streamconv.sinks.display.ViewBoard` shown in a window.

    Messages go to the board (the view state); every tick renders it and shows it (or only
    renders it, without ``window``).

    ``tick`` returns False on q/Esc, a closed window, or after ``frames`` refreshes.
    """

    def __init__(
        self, endpoint: str, topics: list[str], *, frames: int | None, out_dir: Path, scale: float,
        sample_window: int, window: bool,
    ) -> None:
        from streamconv.sinks.display import ViewBoard

        self.endpoint = endpoint
        self.board = ViewBoard(topics, sample_window=sample_window, scale=scale)
        self.frames = frames
        self.out_dir = out_dir
        self.window = window
        self.canvas: Any = None
        self.shown = 0
        self.fps = 0.0
        self.gaps = 0
        self._last: float | None = None
        self._saved = 0

    def open(self) -> None:
        """Open the window (when there is one)."""
        if self.window:
            import cv2

            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)

    def write(self, msg: Any) -> None:
        """Add one message to the board."""
        self.board.add(msg)

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Count a gap (the board shows what arrived)."""
        self.gaps += 1

    def tick(self, now: float) -> bool:
        """Render, show, answer the keys; return False to stop."""
        import time

        import cv2

        self.canvas, _ = self.board.render(self.endpoint, fps=self.fps)
        self.shown += 1
        if self._last is not None and now > self._last:
            rate = 1.0 / (now - self._last)
            self.fps = rate if self.fps == 0 else 0.9 * self.fps + 0.1 * rate
        self._last = now
        if self.window:
            cv2.imshow(WINDOW_TITLE, self.canvas)
            key = cv2.waitKey(1)
            if key >= 0 and chr(key & 0xFF) in ("q", "\x1b"):
                return False
            if key >= 0 and chr(key & 0xFF) == "s":
                self.out_dir.mkdir(parents=True, exist_ok=True)
                name = f"streamconv-view-{time.strftime('%Y%m%d-%H%M%S')}-{self._saved:03d}.png"
                path = self.out_dir / name
                cv2.imwrite(str(path), self.canvas)
                self._saved += 1
                log.warning("saved %s", path)
            if cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
                return False
        return self.frames is None or self.shown < self.frames

    def close(self, screenshot: Path | None = None) -> None:
        """Write the last image to ``screenshot`` (if given) and close the window."""
        import cv2

        if screenshot is not None and self.canvas is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(screenshot), self.canvas)
        if self.window:
            cv2.destroyAllWindows()
            cv2.waitKey(1)


def run_view(
    endpoint: str,
    topics: list[str],
    *,
    frames: int | None = None,
    duration: float | None = None,
    screenshot: Path | None = None,
    out_dir: Path = Path(),
    scale: float = 1.0,
    sample_window: int = 500,
    window: bool = True,
    curve: dict[str, Any] | None = None,
) -> int:
    """Show ``topics`` of the publisher at ``endpoint`` until q/Esc, ``frames``, ``duration`` or a signal.

    One ``Subscriber(latest=True)``: of each frame topic only the newest frame waits (the window
    never lags), while samples are lossless, so no chunk of a chart is skipped.
    """
    from streamconv.client import Subscriber
    from streamconv.demo import EXIT_NO_DISPLAY, EXIT_OK, has_display
    from streamconv.sinks.base import StopSignals, pump

    if window and not has_display():
        log.error("no display (DISPLAY is not set): run it in a desktop session or under `xvfb-run`")
        return EXIT_NO_DISPLAY
    view = ViewWindow(endpoint, topics, frames=frames, out_dir=out_dir, scale=scale,
                      sample_window=sample_window, window=window)
    curve = curve or {}  # curve_server_key / curve_secret_key for a daemon running CurveZMQ
    with StopSignals() as stop, Subscriber(endpoint, topics, latest=True, **curve) as sub:
        try:
            view.open()
            pump(sub, view, stop=stop, duration=duration, tick_s=_REFRESH_MS / 1000, drain_s=0.0)
        except KeyboardInterrupt:
            pass
        finally:
            view.close(screenshot)
        log.info("view: %d messages, %d gaps, %d malformed", view.board.received, sub.gaps, sub.malformed)
    return EXIT_OK
