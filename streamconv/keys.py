"""CurveZMQ key files: create a key pair, read a secret key file, a public key or a directory of them."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

import zmq

from streamconv.errors import ConfigError
from streamconv.sockets import z85_key

__all__ = ["PUBLIC_KEYS_FIELD", "generate", "read_public_key", "read_public_keys_dir", "read_secret_key"]

#: The config field :func:`read_public_keys_dir` names in its errors.
PUBLIC_KEYS_FIELD = "service.curve_public_keys_dir"


def generate(path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
    """Write a new key pair, ``PATH`` (the secret, mode 0600) and ``PATH.pub`` (mode 0644).

    Parameters
    ----------
    path : str or Path
        The secret key file; its directory is created if missing.  It must not end in ``.pub``
        (the daemon refuses to read a secret key from such a file).
    force : bool
        Replace an existing pair.  Without it an existing ``PATH`` or ``PATH.pub`` is left as it
        is and :class:`FileExistsError` names it: a replaced key locks out every client that
        holds the old public key.

    Returns
    -------
    (Path, Path)
        The secret and the public key file.

    Raises
    ------
    FileExistsError
        ``PATH`` or ``PATH.pub`` exists and ``force`` is false (``filename`` is the file).
    OSError
        The directory cannot be created or the files cannot be written (``filename`` names it).
    ConfigError
        ``PATH`` ends in ``.pub``.

    Notes
    -----
    Each file is written to a temporary file in the same directory, created with its final mode
    (so the secret is never readable by others, even for a moment, whatever the umask or the mode
    of a file it replaces), and then moved into place: without ``force`` by ``os.link``, which
    fails if the name exists, so a file created meanwhile is not overwritten either; with it by
    ``os.replace``.  A failure leaves no temporary file behind, and without ``force`` no half of a
    new pair either.
    """
    secret_path = Path(path)
    if secret_path.name.endswith(".pub"):
        raise ConfigError(
            f"curve secret key file {str(secret_path)!r}: a name ending in .pub is for the public "
            "half; give the secret key file's path (the public key goes to PATH.pub)"
        )
    public_path = secret_path.with_name(secret_path.name + ".pub")
    for p in (secret_path, public_path):
        if p.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(p))
        if not force and os.path.lexists(p):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(p))
    parent = secret_path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # the parent (or one above it) is a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent)) from None
    public, secret = zmq.curve_keypair()
    staged: list[tuple[str, Path]] = []
    placed: list[Path] = []
    try:
        staged.append((_stage(parent, secret.decode() + "\n", 0o600), secret_path))
        staged.append((_stage(parent, public.decode() + "\n", 0o644), public_path))
        for tmp, final in staged:
            if force:
                os.replace(tmp, final)
            else:
                _link(tmp, final)
            placed.append(final)
    except BaseException:
        if not force:  # the pair is not complete: take back the half that was placed
            for final in placed:
                with contextlib.suppress(OSError):
                    os.unlink(final)
        raise
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    return secret_path, public_path


def _link(tmp: str, final: Path) -> None:
    """Give ``tmp`` the name ``final`` unless that name exists (then raise FileExistsError)."""
    try:
        os.link(tmp, final)  # atomic: fails if the name appeared since generate() checked it
    except FileExistsError:
        raise
    except OSError as exc:  # a file system without hard links: check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        if os.path.lexists(final):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        os.replace(tmp, final)


def _stage(directory: Path, text: str, mode: int) -> str:
    """Write ``text`` to a new temporary file in ``directory`` with ``mode``; return its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".streamconv-key-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), mode)  # mkstemp gives 0600; the public file gets 0644 whatever the umask
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


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
