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

__all__ = ["WINDOW_TITLE", "cmd_view", "register", "run_view"]

log = logging.getLogger(__name__)

#: The window's title (tests find the window by it).
WINDOW_TITLE = "streamconv view"
_MAX_RECV_PER_REFRESH = 256
_REFRESH_MS = 15
_LATEST_RCVHWM = 64  # frames of several topics (and any samples) between two refreshes
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
    """Show ``topics`` of the publisher at ``endpoint`` until q/Esc, ``frames`` or ``duration``.

    Frames come from a ``Subscriber(latest=True)`` (drained at every refresh, so the window never
    lags); once a topic turns out to carry samples, a second, lossless subscriber to the sample
    topics takes over their charts so no chunk is skipped.
    """
    import time

    import cv2

    from streamconv.client import Subscriber
    from streamconv.demo import EXIT_NO_DISPLAY, EXIT_OK, has_display
    from streamconv.sinks.display import ViewBoard

    if window and not has_display():
        log.error("no display (DISPLAY is not set): run it in a desktop session or under `xvfb-run`")
        return EXIT_NO_DISPLAY
    board = ViewBoard(topics, sample_window=sample_window, scale=scale)
    curve = curve or {}  # curve_server_key / curve_secret_key for a daemon running CurveZMQ
    latest = Subscriber(endpoint, topics, latest=True, rcvhwm=_LATEST_RCVHWM, **curve)
    samples: Subscriber | None = None
    sample_topics: set[str] = set()
    lossless: set[str] = set()  # sample topics the lossless subscriber has delivered
    canvas = None
    shown = 0
    fps = 0.0
    t_start = last = time.monotonic()
    saved = 0
    try:
        if window:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        while True:
            new_sample_topic = False
            for _ in range(_MAX_RECV_PER_REFRESH):
                try:
                    msg = latest.recv(timeout=0)
                except TimeoutError:
                    break
                if msg.kind == "samples":
                    if msg.topic in lossless:
                        continue
                    if msg.topic not in sample_topics:
                        sample_topics.add(msg.topic)
                        new_sample_topic = True
                board.add(msg)
            if new_sample_topic:
                if samples is not None:
                    samples.close()
                samples = Subscriber(endpoint, sorted(sample_topics), **curve)
                lossless.clear()
            if samples is not None:
                for _ in range(_MAX_RECV_PER_REFRESH * 16):
                    try:
                        msg = samples.recv(timeout=0)
                    except TimeoutError:
                        break
                    if msg.topic in sample_topics:
                        lossless.add(msg.topic)
                        board.add(msg)
            canvas, _ = board.render(endpoint, fps=fps)
            shown += 1
            now = time.monotonic()
            if now > last:
                fps = 1.0 / (now - last) if fps == 0 else 0.9 * fps + 0.1 / (now - last)
            last = now
            if window:
                cv2.imshow(WINDOW_TITLE, canvas)
                key = cv2.waitKey(_REFRESH_MS)
                if key >= 0 and chr(key & 0xFF) in ("q", "\x1b"):
                    break
                if key >= 0 and chr(key & 0xFF) == "s":
                    out_dir.mkdir(parents=True, exist_ok=True)
                    path = out_dir / f"streamconv-view-{time.strftime('%Y%m%d-%H%M%S')}-{saved:03d}.png"
                    cv2.imwrite(str(path), canvas)
                    saved += 1
                    log.warning("saved %s", path)
                if cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
                    break
            else:
                time.sleep(_REFRESH_MS / 1000)
            if frames is not None and shown >= frames:
                break
            if duration is not None and now - t_start >= duration:
                break
    except KeyboardInterrupt:
        pass
    finally:
        latest.close()
        if samples is not None:
            samples.close()
        if screenshot is not None and canvas is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(screenshot), canvas)
        if window:
            cv2.destroyAllWindows()
            cv2.waitKey(1)
    log.info("view: %d messages, %d gaps, %d malformed", board.received, latest.gaps, latest.malformed)
    return EXIT_OK
