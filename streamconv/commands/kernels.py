"""The ``streamconv kernels`` command: print the kernel catalogue."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from streamconv import exitcodes
from streamconv.ops import kernels

__all__ = ["cmd_kernels", "register"]


def register(subparsers: Any) -> None:
    """Add the ``kernels`` subcommand."""
    p = subparsers.add_parser("kernels", help="list the kernel catalogue")
    p.add_argument("names", nargs="*", help="only these kernels")
    p.add_argument("--brief", action="store_true", help="one line per kernel, no matrices")
    p.set_defaults(func=cmd_kernels)


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
    return exitcodes.OK
