"""The ``streamconv record`` command: every message of a running daemon into an MCAP file."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import (
    add_curve_options,
    add_endpoint,
    add_log_level,
    curve_keys,
    one_line,
    positive_float,
    require,
    seconds,
    setup_logging,
)

__all__ = ["INSTALL", "cmd_record", "register"]

INSTALL = "pip install 'streamconv[record]'"
#: After a stop, messages already queued are still recorded for at most this long (seconds).
DRAIN_S = 30.0

_EPILOG = """\
channels of the file (one of each per topic):
  laser/smoothed, camera/raw, ...   native, lossless (x-streamconv-v1: wire header + payload), for
                                    streamconv play, info and the replay source
  viz/camera/raw, viz/laser/raw...  Foxglove schemas (foxglove.RawImage; streamconv.Sample), for
                                    Foxglove, Lichtblick or Rerun; float frames that have no image
                                    encoding get a display-scaled twin viz/<topic>/bgr8
  _gaps                             every seq gap the recorder saw (JSON)
Chunks of 1 MiB written straight to the file: a killed recorder loses at most the open chunk,
and streamconv play/info still read the file.  Stop with Ctrl-C or SIGTERM (exit 0).
"""


def register(subparsers: Any) -> None:
    """Add the ``record`` subcommand."""
    p = subparsers.add_parser(
        "record",
        help="record streams losslessly into an MCAP file (Foxglove-readable)",
        description="Subscribe to a running daemon and record every message into an MCAP file.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("topics", nargs="*", metavar="TOPIC",
                   help="topic prefixes to record (default: everything, _stats included)")
    p.add_argument("--out", "-o", required=True,
                   help="the file, e.g. run.mcap (must not exist unless --force)")
    add_endpoint(p)
    p.add_argument("--compression", default="none", choices=["none", "zstd", "lz4"],
                   help="chunk compression (default none: least CPU)")
    p.add_argument("--no-viewer", action="store_true",
                   help="write only the native channels (no Foxglove viewer channels)")
    p.add_argument("--max-bag-size", type=positive_float, metavar="MB",
                   help="start a new file (NAME_0.mcap, NAME_1.mcap, ...) at this size (MB, 10^6 bytes)")
    p.add_argument("--max-bag-duration", type=seconds, metavar="S",
                   help="start a new file after this many seconds")
    p.add_argument("--duration", type=seconds, help="stop after this many seconds")
    p.add_argument("--count", "-n", type=int, help="stop after N messages")
    p.add_argument("--max-queue-mb", type=positive_float, default=512.0,
                   help="what the subscriber may hold while the disk is slow (default 512 MB)")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    add_curve_options(p)
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_record)


class _Progress:
    """A Ticking sink around the recorder: one progress line a second (on a terminal, in place)."""

    def __init__(self, recorder: Any, sub: Any, out: Any = sys.stderr) -> None:
        self.recorder = recorder
        self.sub = sub
        self.out = out
        self.tty = getattr(out, "isatty", lambda: False)()
        self.t0 = time.monotonic()
        self.last_line = 0.0

    def write(self, msg: Any) -> None:
        self.recorder.write(msg)

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        self.recorder.gap(topic, epoch, expected, got)

    def line(self, unwritten: int | None = None) -> str:
        r, s = self.recorder, self.sub
        dropped = sum(s.dropped.values())
        end = "" if unwritten is None else f", {unwritten} not written (queued at stop)"
        lost = dropped + s.gaps + (unwritten or 0)
        return (f"{r.messages} messages, {r.bytes_written / 1e6:.1f} MB, {len(r.files)} file(s), "
                f"drops {lost} ({s.gaps} missing seq, {dropped} dropped here{end}), "
                f"queued {s.queued_bytes / 1e6:.1f} MB")

    def tick(self, now: float) -> bool:
        if self.tty:
            print(f"\rrecording: {self.line()}   ", end="", file=self.out, flush=True)
        elif now - self.last_line >= 10.0:
            self.last_line = now
            print(f"recording: {self.line()}", file=self.out, flush=True)
        return True


def cmd_record(args: argparse.Namespace) -> int:
    """Record until a signal, --duration or --count; print a summary line."""
    from pathlib import Path

    if not (require("streamconv record", "mcap", INSTALL)
            and require("streamconv record", "foxglove.messages", INSTALL, name="foxglove-sdk")):
        return exitcodes.FAILURE
    from streamconv.client import Subscriber
    from streamconv.recording.writer import Recorder, RecordingFailed
    from streamconv.sinks.base import StopSignals, forward_gaps, pump

    setup_logging(args.log_level)
    if args.count is not None and args.count < 1:
        print(f"streamconv record: error: invalid --count {args.count}; expected >= 1", file=sys.stderr)
        return exitcodes.USAGE
    out = Path(args.out)
    if out.suffix != ".mcap":
        print(f"streamconv record: error: --out {out} must end in .mcap", file=sys.stderr)
        return exitcodes.USAGE
    topics = args.topics or [""]
    forced = False
    failed: str | None = None
    try:
        keys = curve_keys(args)
    except Exception as exc:  # a bad key file
        print(f"streamconv record: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        with (
            StopSignals() as stop,
            Subscriber(args.endpoint, topics, max_queue_bytes=int(args.max_queue_mb * 1e6), **keys) as sub,
            Recorder(
                out, viewer=not args.no_viewer, compression=args.compression, overwrite=args.force,
                max_bytes=None if args.max_bag_size is None else int(args.max_bag_size * 1e6),
                max_duration_s=args.max_bag_duration,
            ) as rec,
        ):
            progress = _Progress(rec, sub)
            print(f"streamconv record: {', '.join(t or '(all)' for t in topics)} from {args.endpoint}"
                  f" -> {out} (Ctrl-C to stop)", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            try:
                # after a stop, what is queued is still written (for up to DRAIN_S)
                pump(sub, progress, stop=stop, duration=args.duration, count=args.count, tick_s=1.0,
                     drain_s=DRAIN_S)
                forward_gaps(sub, progress)
            except KeyboardInterrupt:  # a second signal: finish the file and exit
                forced = True
            except RecordingFailed as exc:
                failed = str(exc)
            elapsed = time.monotonic() - t0
            unwritten = sub.queued  # still queued after the drain: lost, and said so
            line = progress.line(unwritten)
    except FileExistsError:
        print(f"streamconv record: error: {out} exists; pass --force to overwrite it", file=sys.stderr)
        return exitcodes.USAGE
    except (ValueError, OSError) as exc:
        print(f"streamconv record: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    if progress.tty:
        print(file=sys.stderr)
    if failed is not None:
        print(f"streamconv record: error: {failed}", file=sys.stderr)
        print(f"streamconv record: {elapsed:.1f} s, {line}", flush=True)
        return exitcodes.USAGE
    files = ", ".join(str(p) for p in rec.files)
    print(f"streamconv record: {elapsed:.1f} s, {line} -> {files}", flush=True)
    return exitcodes.INTERRUPTED if forced else exitcodes.OK
