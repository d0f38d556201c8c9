"""The ``streamconv log`` command: subscribe to topics and write them to files until stopped."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import (
    add_curve_options,
    add_endpoint,
    add_topics,
    curve_keys,
    positive_float,
    seconds,
)

__all__ = ["cmd_log", "register"]


_EPILOG = """\
files (in --out DIR; a topic's name with '/' replaced by '__'):
  laser__smoothed.csv      t_capture_ns,seq,value: one row per sample (NaN written as nan)
  camera__edges.avi        frames as video (MJPG; --codec ffv1|hfyu: lossless; float frames as |x|
                           rounded and clipped to 0..255)
  camera__edges.frames.csv frame,epoch,seq,t_capture_ns: one row per video frame
  camera__edges/NNNNNNNN.png|.npy   with --frames png (and feature maps): one file per frame
  stats.jsonl              the _stats messages, one JSON object per line
  gaps.csv                 topic,epoch,expected,got: one row per gap (header only: no gap)
With --rotate-mb/--rotate-s every file is numbered: laser__smoothed.0001.csv, .0002.csv, ...
Stop with Ctrl-C or SIGTERM: every file is flushed and closed (a second signal aborts faster).
"""


def register(subparsers: Any) -> None:
    """Add the ``log`` subcommand."""
    p = subparsers.add_parser(
        "log",
        help="write streams to files (CSV, video, JSON lines) until stopped",
        description="Subscribe to topics of a running daemon and write them to a log directory.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_topics(p, example="laser/ camera/edges _stats")
    p.add_argument("--out", "-o", required=True, help="log directory (created; must be new or empty)")
    add_endpoint(p)
    p.add_argument("--frames", default="video", choices=["video", "png"],
                   help="frame topics as one video file each, or one PNG/.npy file per frame")
    p.add_argument("--codec", default="mjpg", choices=["mjpg", "ffv1", "hfyu"],
                   help="video codec: mjpg (small, lossy, .avi; default), ffv1 (lossless, slow, .mkv)"
                        " or hfyu (lossless, fast, large, .avi)")
    p.add_argument("--video-fps", type=positive_float,
                   help="frame rate of video files (default: from capture times)")
    p.add_argument("--rotate-mb", type=positive_float,
                   help="start a new numbered file at this size (MB, 10^6 bytes)")
    p.add_argument("--rotate-s", type=seconds, help="start a new numbered file after this many seconds")
    p.add_argument("--duration", type=seconds, help="stop after this many seconds")
    p.add_argument("--count", "-n", type=int, help="stop after N messages")
    add_curve_options(p)
    p.set_defaults(func=cmd_log)


def cmd_log(args: argparse.Namespace) -> int:
    """Log until a signal, --duration or --count; print a summary line."""
    import logging
    import time

    from streamconv.client import Subscriber
    from streamconv.sinks.base import StopSignals, forward_gaps, pump
    from streamconv.sinks.log import StreamLogger

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.count is not None and args.count < 1:
        print(f"streamconv log: error: invalid --count {args.count}; expected >= 1", file=sys.stderr)
        return exitcodes.USAGE
    topics = args.topics or [""]
    t_start = time.monotonic()
    forced = False
    try:
        with (
            StopSignals() as stop,
            # first: a bad endpoint or key creates no directory
            Subscriber(args.endpoint, topics, **curve_keys(args)) as sub,
            StreamLogger(
                args.out, frames=args.frames, codec=args.codec, rotate_mb=args.rotate_mb,
                rotate_s=args.rotate_s, video_fps=args.video_fps,
            ) as log,
        ):
            print(f"streamconv log: {', '.join(t or '(all)' for t in topics)} from {args.endpoint}"
                  f" -> {args.out}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
            try:
                pump(sub, log, stop=stop, duration=args.duration, count=args.count)
            except KeyboardInterrupt:  # a second signal: close what is open and exit
                forced = True
            finally:
                forward_gaps(sub, log)
            elapsed = time.monotonic() - t_start
    except (ValueError, OSError) as exc:
        print(f"streamconv log: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    print(f"streamconv log: {elapsed:.1f} s, {log.summary()} -> {args.out}", flush=True)
    return exitcodes.INTERRUPTED if forced else exitcodes.OK
