"""The ``streamconv play`` command: publish a recording's native channels as a live daemon would."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import add_log_level, one_line, positive_float, require, setup_logging
from streamconv.commands.record import INSTALL

__all__ = ["cmd_play", "register"]

DEFAULT_PUBLISH = "tcp://127.0.0.1:5555"


def register(subparsers: Any) -> None:
    """Add the ``play`` subcommand."""
    p = subparsers.add_parser(
        "play",
        help="publish a recording (MCAP) with its original timing, as a new epoch",
        description="Play the native channels of a recording onto a publish endpoint: any subscriber, "
                    "logger or viewer works on it as on a live daemon (each message keeps its "
                    "t_capture_ns and payload; seq restarts from 0 in a new epoch).",
    )
    p.add_argument("files", nargs="+", metavar="FILE.mcap",
                   help="the recording (several files of a rotated recording: in order)")
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=positive_float, default=1.0, help="speed factor (default 1.0)")
    speed.add_argument("--max", action="store_true", help="as fast as possible")
    p.add_argument("--loop", action="store_true", help="start over at the end (a new epoch each time)")
    p.add_argument("--topics", nargs="+", metavar="TOPIC", help="only these topics (default: all)")
    p.add_argument("--publish", default=DEFAULT_PUBLISH,
                   help=f"endpoint to bind and publish on (default {DEFAULT_PUBLISH})")
    p.add_argument("--wait", type=float, default=0.5,
                   help="seconds to wait after binding, for subscribers to connect (default 0.5)")
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_play)


def cmd_play(args: argparse.Namespace) -> int:
    """Play until the end (or a signal with --loop)."""
    import time

    if not require("streamconv play", "mcap", INSTALL):
        return exitcodes.FAILURE
    from streamconv import config as cfg
    from streamconv.recording.player import play
    from streamconv.recording.reader import RecordingReader
    from streamconv.sinks.base import StopSignals
    from streamconv.sockets import Publisher

    setup_logging(args.log_level)
    try:
        readers = [RecordingReader(f) for f in args.files]
    except (OSError, ValueError) as exc:
        print(f"streamconv play: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    if args.topics:
        known: set[str] = set()
        for r in readers:
            for _channel, _rec in r.records():
                pass
            known |= {t for t, e in r.channels.items() if e == "x-streamconv-v1"}
        missing = [t for t in args.topics if t not in known]
        if missing:
            print(f"streamconv play: error: topic {', '.join(missing)} is not in the recording; it has "
                  f"{', '.join(sorted(known)) or '(no native channel)'}", file=sys.stderr)
            return exitcodes.USAGE
    if not cfg.is_loopback_endpoint(args.publish):
        print(f"streamconv play: warning: publishing on {args.publish}, not loopback, without CurveZMQ",
              file=sys.stderr)
    try:
        pub = Publisher(args.publish)
    except OSError as exc:  # EndpointInUseError included
        print(f"streamconv play: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    rate = None if args.max else args.rate
    try:
        with StopSignals() as stop, pub:
            print(f"streamconv play: {', '.join(args.files)} -> {pub.bound_endpoint} "
                  f"(rate {'max' if rate is None else rate}{', loop' if args.loop else ''})",
                  file=sys.stderr, flush=True)
            time.sleep(max(0.0, args.wait))
            t0 = time.monotonic()
            result = play(args.files, pub.send, topics=args.topics, rate=rate, loop=args.loop,
                          should_stop=lambda: stop.requested)
            elapsed = time.monotonic() - t0
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    for w in result.warnings:
        print(f"streamconv play: warning: {w}", file=sys.stderr)
    print(f"streamconv play: {result.messages} messages in {elapsed:.1f} s"
          f"{f', {result.rounds} rounds' if args.loop else ''}", flush=True)
    return exitcodes.OK
