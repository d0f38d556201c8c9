"""The ``streamconv web`` command: serve a browser viewer of a running daemon."""

from __future__ import annotations

import argparse
import secrets
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
    require,
    setup_logging,
)

__all__ = ["cmd_web", "register"]

INSTALL = "pip install 'streamconv[web]'"

_EPILOG = """\
URLs (add ?token=... once when the viewer has a token; it is then kept in a cookie):
  /                        the page: every frame topic, sample charts, _stats, filter controls
  /stream?topic=camera/sharpen    MJPEG (multipart/x-mixed-replace), for <img>, VLC, curl
  /snapshot?topic=camera/sharpen  one JPEG
Loopback only unless --allow-remote; then a token is required (--token, or one is generated).
"""


def register(subparsers: Any) -> None:
    """Add the ``web`` subcommand."""
    p = subparsers.add_parser(
        "web",
        help="serve a browser viewer (frames, charts, stats, filter controls)",
        description="Serve a web page that shows a running daemon's streams live and changes its filters.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--listen", default="127.0.0.1:8080",
                   help="HOST:PORT to serve on (default 127.0.0.1:8080)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a --listen address that is not loopback (a token is then required)")
    p.add_argument("--token", help="the access token (default: none on loopback, generated otherwise)")
    add_endpoint(p)
    add_control(p)
    add_curve_options(p)
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        print(f"streamconv web: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    token = args.token
    if not cfg.is_loopback_host(host):
        if not args.allow_remote:
            print(f"streamconv web: error: --listen {args.listen} is not loopback; pass --allow-remote "
                  "(the viewer then needs a token)", file=sys.stderr)
            return exitcodes.USAGE
        if not token:
            token = secrets.token_urlsafe(18)
            print(f"streamconv web: token {token} (open http://{args.listen}/?token={token})", flush=True)
    if not require("streamconv web", "aiohttp", INSTALL):
        return exitcodes.FAILURE
    import threading

    from aiohttp import web

    from streamconv.sinks.base import start_feed
    from streamconv.web.hub import Hub
    from streamconv.web.server import make_app

    setup_logging(args.log_level)
    try:
        keys = curve_keys(args)
    except Exception as exc:  # a bad key file
        print(f"streamconv web: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    hub = Hub()
    stop = threading.Event()
    feed = start_feed(hub, args.endpoint, stop, name="web-feed", **keys)
    app = make_app(hub, control=args.control, token=token, control_keys=control_keys(keys))
    print(f"streamconv web: serving http://{args.listen}/ (daemon {args.endpoint})", flush=True)
    try:
        web.run_app(app, host=host, port=port, print=None, handle_signals=True, shutdown_timeout=1.0)
    except OSError as exc:
        print(f"streamconv web: error: cannot listen on {args.listen}: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    finally:
        stop.set()
        feed.join(timeout=2.0)
    return exitcodes.OK
