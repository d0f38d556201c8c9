"""CurveZMQ key files: create a key pair, read a secret key file, a public key or a directory of them."""

from __future__ import annotations

import os
from pathlib import Path

import zmq

from streamconv.errors import ConfigError
from streamconv.sockets import z85_key

__all__ = ["PUBLIC_KEYS_FIELD", "generate", "read_public_key", "read_public_keys_dir", "read_secret_key"]

#: The config field :func:`read_public_keys_dir` names in its errors.
PUBLIC_KEYS_FIELD = "service.curve_public_keys_dir"


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


def read_public_keys_dir(path: str | Path, *, what: str = PUBLIC_KEYS_FIELD) -> frozenset[bytes]:
    """Return the Z85 public keys of the ``*.pub`` files in directory ``path`` (at least one).

    Every ``*.pub`` file must hold one public key as :func:`generate` writes it (40 Z85
    characters on one line); other files are ignored.  This is pyzmq's "public keys directory"
    (``zmq.auth`` ``configure_curve(location=...)``) with streamconv's key files instead of zcert
    files.

    Raises
    ------
    ConfigError
        Naming ``what`` and the path: the directory cannot be read, holds no ``*.pub`` file, or a
        ``*.pub`` file holds no valid key.
    """
    p = Path(path)
    try:
        files = sorted(f for f in p.iterdir() if f.name.endswith(".pub") and f.is_file())
    except OSError as exc:
        raise ConfigError(f"{what} {str(p)!r}: cannot read the directory ({exc.strerror or exc})") from None
    if not files:
        raise ConfigError(
            f"{what} {str(p)!r}: no *.pub file in it; copy each client's public key there "
            "(`streamconv keygen clients/alice` writes clients/alice.pub)"
        )
    return frozenset(_read_key(f, f"{what} file") for f in files)
