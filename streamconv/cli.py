"""The ``streamconv`` command: thin subcommands over the Python API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from streamconv.ops import kernels

__all__ = ["main"]


def _format_matrix(k: np.ndarray) -> list[str]:
    cells = [[f"{v:g}" if float(v).is_integer() else f"{v:.4f}" for v in row] for row in k]
    width = max(len(c) for row in cells for c in row)
    return ["  [" + " ".join(c.rjust(width) for c in row) + "]" for row in cells]


def cmd_kernels(args: argparse.Namespace) -> int:
    """Print the kernel catalogue: name, size, sum and the matrix."""
    names = args.names or kernels.names()
    for name in names:
        entry = kernels.info(name)
        k = kernels.get(name)
        h, w = k.shape
        print(f"{name:<13} {h}x{w}  sum={k.sum():g}  {entry.description}")
        if entry.params:
            print(f"  params: {', '.join(entry.params)}")
        if not args.brief:
            print("\n".join(_format_matrix(k)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="streamconv", description="Real-time sensor and video stream filtering over ZeroMQ."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("kernels", help="list the kernel catalogue")
    p.add_argument("names", nargs="*", help="only these kernels")
    p.add_argument("--brief", action="store_true", help="one line per kernel, no matrices")
    p.set_defaults(func=cmd_kernels)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamconv`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # invalid input from the user: one line, no traceback
        print(f"streamconv {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
