"""The ``streamconv info`` command: what a recording holds, per topic (like ``ros2 bag info``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import one_line, require
from streamconv.commands.record import INSTALL

__all__ = ["cmd_info", "register"]


def register(subparsers: Any) -> None:
    """Add the ``info`` subcommand."""
    p = subparsers.add_parser(
        "info",
        help="summarise a recording: per topic count, span, rate, dtype, shape, gaps, epochs",
        description="Read a recording (also a torn or unindexed one) and print what it holds per topic.",
    )
    p.add_argument("files", nargs="+", metavar="FILE.mcap", help="the recording (its files in order)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)


def cmd_info(args: argparse.Namespace) -> int:
    """Print the summary."""
    if not require("streamconv info", "mcap", INSTALL):
        return exitcodes.FAILURE
    from streamconv.recording.info import format_info, summarize, to_json

    try:
        info = summarize(args.files)
    except (OSError, ValueError) as exc:
        print(f"streamconv info: error: {one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    print(to_json(info) if args.json else format_info(info))
    for f in info["files"]:
        if f["torn"]:
            print(f"streamconv info: warning: {f['torn']}", file=sys.stderr)
    return exitcodes.OK
