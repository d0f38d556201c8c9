"""The ``streamconv demo`` subcommand: the live filter demo in one OpenCV window."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamconv.commands.options import add_log_level, positive_float, seconds, setup_logging

__all__ = ["cmd_demo", "register"]

_EPILOG = """\
keys: n/p next/previous kernel, +/- kernel size (box, gaussian, identity), b 3D bank feature maps,
space pause, s save a screenshot PNG, q/Esc quit.

testing hooks: --frames N quits after N window refreshes; --pause-at N freezes on frame N (so a
screenshot is deterministic); --screenshot PATH writes the window image at exit; --no-window
renders without a display.  See docs/demo.md.
"""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subparser."""
    p = subparsers.add_parser(
        "demo",
        help="live webcam (or test pattern) demo: original and filtered side by side, laser chart",
        description="Filter a camera, a video file or the synthetic test pattern live, with the same "
        "pipeline code as `streamconv run`, and show original, filtered and a laser strip chart.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--source", help="camera index (default 0), video file, URL or 'synthetic'; "
                   "falls back to 'synthetic' when it cannot be opened")
    p.add_argument("--config", "-c", type=Path,
                   help="YAML config: its first frame stream's source and outputs (listed before the "
                   "catalogue kernels) and its laser stream")
    p.add_argument("--kernel", "-k", help="start with this kernel (or config output stream/name)")
    p.add_argument("--size", type=int, help="start size for box, gaussian or identity (odd, 3..31)")
    p.add_argument("--width", type=int, help="frame width (synthetic default 640)")
    p.add_argument("--height", type=int, help="frame height (synthetic default 480)")
    p.add_argument("--fps", type=positive_float, help="frame rate (synthetic default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic pattern")
    p.add_argument("--out-dir", type=Path, default=Path(), help="where the s key saves screenshots")
    p.add_argument("--no-laser", action="store_true", help="no laser strip chart")
    p.add_argument("--laser-window", type=seconds, default=5.0, metavar="S",
                   help="seconds shown in the chart")
    t = p.add_argument_group("testing hooks")
    t.add_argument("--frames", type=int, metavar="N", help="quit after N window refreshes")
    t.add_argument("--pause-at", type=int, metavar="N", help="freeze on frame N (0 = the first frame)")
    t.add_argument("--hold", action="store_true", help="freeze on the first frame (same as --pause-at 0)")
    t.add_argument("--screenshot", type=Path, metavar="PATH", help="write the window image here at exit")
    t.add_argument("--no-window", action="store_true", help="render without opening a window")
    add_log_level(p, default="warning")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo window; return its exit code."""
    from streamconv.demo import DemoOptions, run

    setup_logging(args.log_level)
    pause_at = 0 if args.hold and args.pause_at is None else args.pause_at
    for name in ("frames", "pause_at"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise ValueError(f"invalid --{name.replace('_', '-')} {value}; expected an integer >= 0")
    opts = DemoOptions(
        source=args.source,
        config=args.config,
        kernel=args.kernel,
        size=args.size,
        width=args.width,
        height=args.height,
        fps=args.fps,
        seed=args.seed,
        frames=args.frames,
        pause_at=pause_at,
        screenshot=args.screenshot,
        out_dir=args.out_dir,
        window=not args.no_window,
        laser=not args.no_laser,
        laser_window_s=args.laser_window,
    )
    return run(opts)
