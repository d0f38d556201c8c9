"""The ``streamconv foxglove`` command: a Foxglove WebSocket server showing a running daemon."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import config as cfg
from streamconv import exitcodes
from streamconv.commands.options import (
    add_control,
    add_curve_options,
    add_endpoint,
    add_log_level,
    control_keys,
    curve_keys,
    one_line,
    parse_listen,
    positive_float,
    positive_int,
    require,
    setup_logging,
)
from streamconv.commands.record import INSTALL

__all__ = ["cmd_foxglove", "register"]

PROG = "streamconv foxglove"

_EPILOG = """\
In Foxglove or Lichtblick: Open connection -> Foxglove WebSocket -> ws://127.0.0.1:8765.
Channels: viz/<topic> (foxglove.RawImage frames, streamconv.Sample samples, viz/_stats JSON),
the same as a recording's viewer channels.  Parameters: <stream>/<output>.kernel, .size,
.padding, .stride, .border, .weights, .normalize and .stages (JSON); setting one changes the
daemon's filter as 'streamconv ctl set' does.  Loopback only unless --allow-remote (no
authentication: anyone who reaches the port can change filters).  See docs/foxglove.md.
"""


def register(subparsers: Any) -> None:
    """Add the ``foxglove`` subcommand."""
    p = subparsers.add_parser(
        "foxglove",
        help="serve a Foxglove WebSocket server (Foxglove, Lichtblick) with the filters as parameters",
        description="Serve a running daemon's streams to Foxglove or Lichtblick, and let them change "
                    "its filters (Foxglove parameters).",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--listen", default="127.0.0.1:8765",
                   help="HOST:PORT to serve on (default 127.0.0.1:8765)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --listen address that is not loopback (there is no authentication)")
    p.add_argument("--backlog", type=positive_int, default=None,
                   help="outgoing messages queued per client before the oldest is dropped (default 32)")
    p.add_argument("--status-interval", type=positive_float, default=2.0,
                   help="seconds between two status requests that refresh the parameters (default 2)")
    add_endpoint(p)
    add_control(p)
    add_curve_options(p)
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_foxglove)


def cmd_foxglove(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; return the exit code."""
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if not cfg.is_loopback_host(host) and not args.allow_remote:
        print(f"{PROG}: error: --listen {args.listen} is not loopback; pass --allow-remote (anyone who "
              "reaches it can change the daemon's filters)", file=sys.stderr)
        return exitcodes.USAGE
    if not require(PROG, "foxglove.websocket", INSTALL, name="foxglove-sdk"):
        return exitcodes.FAILURE
    setup_logging(args.log_level)
    try:
        keys = curve_keys(args)
    except Exception as exc:  # a bad key file
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    import signal
    import threading

    from streamconv.bridge.foxglove import BACKLOG, FoxgloveBridge, run_threads

    try:
        bridge = FoxgloveBridge(args.control, host=host, port=port, backlog=args.backlog or BACKLOG,
                                control_keys=control_keys(keys))
    except OSError as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():  # a second signal: do not wait for the shutdown
            raise KeyboardInterrupt
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = run_threads(bridge, args.endpoint, stop, status_interval_s=args.status_interval, **keys)
    shown = "[" + host + "]" if ":" in host else host
    print(f"{PROG}: serving ws://{shown}:{bridge.port} (daemon {args.endpoint}, control {args.control})",
          flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        stop.set()
        bridge.stop()
        for t in threads:
            t.join(timeout=1.0)
    return exitcodes.OK
