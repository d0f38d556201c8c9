"""The ``streamconv bench`` command: our figures next to their references, in one run, as ratios."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

__all__ = ["cmd_bench", "register"]


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand."""
    from streamconv.bench.runner import add_arguments

    p = subparsers.add_parser(
        "bench",
        help="benchmark ops, transport and the daemon against references; print ratios and targets",
        description=(
            "Measure, in one run on this machine, conv2d/conv3d/CausalFIR against cv2.filter2D, ffmpeg,"
            " torch and lfilter; our wire against imagezmq; and the daemon end to end (fps, latency,"
            " CPU, RSS) as subprocesses on free loopback ports. Prints plain-text tables and every"
            " target as met / not met. See docs/benchmarks.md."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the selected sections; exit 1 if a section failed (an unmet target is not a failure)."""
    from streamconv.bench.runner import run

    if sys.argv[1:2] == ["bench"]:
        args.command_line = "streamconv " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return run(args)
