"""CurveZMQ key files: create a key pair, read a secret key file (the daemon's) or a public key."""

from __future__ import annotations

import os
from pathlib import Path

import zmq

from streamconv.errors import ConfigError
from streamconv.sockets import z85_key

__all__ = ["generate", "read_public_key", "read_secret_key"]


def generate(path: str | Path) -> tuple[Path, Path]:
    """Write a new key pair: ``PATH`` (secret, mode 0600) and ``PATH.pub``; return both paths."""
    secret_path = Path(path)
    public, secret = zmq.curve_keypair()
    secret_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.decode() + "\n")
    public_path = secret_path.with_name(secret_path.name + ".pub")
    public_path.write_text(public.decode() + "\n")
    return secret_path, public_path


def _read_key(path: str | Path, what: str) -> bytes:
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {str(p)!r}: cannot read it ({exc})") from None
    try:
        return z85_key(what, text)
    except ValueError as exc:
        raise ConfigError(f"{what} {str(p)!r}: {exc}") from None


def read_secret_key(path: str | Path) -> bytes:
    """Return the Z85 secret key stored in ``path`` (as written by :func:`generate`)."""
    if str(path).endswith(".pub"):
        raise ConfigError(
            f"curve secret key file {str(path)!r}: this is the public half of the pair; give the "
            "secret key file (the same path without .pub)"
        )
    return _read_key(path, "curve secret key file")


def read_public_key(key_or_path: str) -> bytes:
    """Return a Z85 public key given as the key itself or as the path of a ``.pub`` file."""
    if len(key_or_path) == 40 and not Path(key_or_path).exists():
        return z85_key("curve server key", key_or_path)
    return _read_key(key_or_path, "curve server key file")
