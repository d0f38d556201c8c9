"""The ``streamconv keygen`` command: write a CurveZMQ key pair."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes

__all__ = ["cmd_keygen", "register"]


def register(subparsers: Any) -> None:
    """Add the ``keygen`` subcommand."""
    p = subparsers.add_parser("keygen", help="write a CurveZMQ key pair for the daemon")
    p.add_argument("path",
                   help="secret key file to write (mode 0600); the public key goes to PATH.pub (0644)")
    p.add_argument("--force", action="store_true", help="replace an existing key pair at PATH")
    p.set_defaults(func=cmd_keygen)


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a CurveZMQ key pair (secret mode 0600, public 0644); refuse to replace one without --force."""
    from streamconv.keys import generate

    try:
        secret, public = generate(args.path, force=args.force)
    except FileExistsError as exc:
        print(f"streamconv keygen: error: {exc.filename} exists; give --force to replace the key pair "
              "(clients holding the old public key are then locked out)", file=sys.stderr)
        return exitcodes.USAGE
    print(f"secret key: {secret} (set service.curve_secret_key_file to this path)")
    print(f"public key: {public} (clients pass it as --server-key): {public.read_text().strip()}")
    return exitcodes.OK
