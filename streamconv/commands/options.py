"""What the subcommands share: argument types, the common options, logging and one-line messages.

Every subcommand module (``streamconv/commands/<name>.py``) has ``register(subparsers)``; the
options several of them take (``--endpoint``, ``--control``, topics, ``--timeout``,
``--log-level``, the CurveZMQ keys) are added by the functions here, so each has one spelling,
one default and one help text.  Each argument type checks one option's value once, at parse time.

An ``argparse`` type raises :class:`argparse.ArgumentTypeError`; argparse then prints
``streamconv CMD: error: argument --OPTION: <message>`` and exits with ``exitcodes.USAGE`` (2),
so every message quotes the bad value and what is allowed.

Examples
--------
>>> seconds("0.5")
0.5
>>> seconds("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: invalid value '-1'; expected a finite number of seconds > 0
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any

__all__ = [
    "DEFAULT_CONTROL",
    "DEFAULT_ENDPOINT",
    "LOG_LEVELS",
    "add_control",
    "add_curve_options",
    "add_endpoint",
    "add_log_level",
    "add_timeout",
    "add_topics",
    "control_keys",
    "curve_keys",
    "name_list",
    "one_line",
    "parse_listen",
    "positive_float",
    "positive_int",
    "require",
    "seconds",
    "seconds_or_zero",
    "setup_logging",
]

#: Where a daemon publishes and answers control requests unless told otherwise.
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_CONTROL = "tcp://127.0.0.1:5556"
LOG_LEVELS = ("debug", "info", "warning", "error")


def _finite(text: str, expected: str, ok: Callable[[float], bool] = lambda v: True) -> float:
    """Return ``text`` as a finite float for which ``ok`` holds; else raise naming ``expected``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}") from None
    if not (math.isfinite(value) and ok(value)):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def seconds(text: str) -> float:
    """Parse a timeout or duration: a finite number of seconds > 0 (``nan``, ``inf``, 0, -1 are errors)."""
    return _finite(text, "a finite number of seconds > 0", lambda v: v > 0)


def seconds_or_zero(text: str) -> float:
    """Parse a delay that may be zero: a finite number of seconds >= 0."""
    return _finite(text, "a finite number of seconds >= 0", lambda v: v >= 0)


def positive_float(text: str) -> float:
    """Parse a finite number > 0 (a rate, a size)."""
    return _finite(text, "a finite number > 0", lambda v: v > 0)


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (a count of threads or messages)."""
    expected = "an integer >= 1"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def name_list(text: str) -> list[str]:
    """Parse comma-separated names (streams, topics): at least one, none empty."""
    names = [n.strip() for n in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected comma-separated names")
    return names


def add_curve_options(p: argparse.ArgumentParser) -> None:
    """Add ``--server-key`` and ``--client-key``: what a client needs for a daemon running CurveZMQ."""
    p.add_argument("--server-key", help="CurveZMQ: the daemon's public key or its .pub file")
    p.add_argument("--client-key", metavar="FILE",
                   help="CurveZMQ: this client's secret key file (streamconv keygen), whose .pub the "
                        "daemon lists in service.curve_public_keys_dir")


def curve_keys(args: argparse.Namespace) -> dict[str, Any]:
    """Return ``curve_server_key``/``curve_secret_key`` keyword arguments from the options.

    Raises
    ------
    StreamconvError
        A key that cannot be read, or ``--client-key`` without ``--server-key``.
    """
    from streamconv.errors import StreamconvError
    from streamconv.keys import read_public_key, read_secret_key

    out: dict[str, Any] = {}
    if getattr(args, "server_key", None):
        out["curve_server_key"] = read_public_key(args.server_key)
    if getattr(args, "client_key", None):
        if "curve_server_key" not in out:
            raise StreamconvError("--client-key needs --server-key (the daemon's public key)")
        out["curve_secret_key"] = read_secret_key(args.client_key)
    return out


def require(prog: str, module: str, install: str, *, name: str | None = None) -> bool:
    """Return whether optional ``module`` imports; if not, print one line with the install command.

    The caller then exits with :data:`streamconv.exitcodes.FAILURE` (a missing optional dependency).
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError:
        print(f"{prog}: error: {name or module} is not installed; install it with: {install}",
              file=sys.stderr)
        return False
    return True


def control_keys(keys: dict[str, Any]) -> dict[str, Any]:
    """Return the part of :func:`curve_keys` that a control request takes (server key, client key)."""
    return {k: v for k, v in keys.items() if k in ("curve_server_key", "curve_secret_key")}


def parse_listen(text: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``--listen HOST:PORT`` (``[::1]:8080`` for IPv6).

    Examples
    --------
    >>> parse_listen("127.0.0.1:8080")
    ('127.0.0.1', 8080)
    >>> parse_listen("[::1]:0")
    ('::1', 0)
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"invalid --listen {text!r}; expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def add_endpoint(p: argparse.ArgumentParser, *, help: str = "the daemon's publish endpoint") -> None:
    """Add ``--endpoint/-e`` (default :data:`DEFAULT_ENDPOINT`)."""
    p.add_argument("--endpoint", "-e", default=DEFAULT_ENDPOINT, help=f"{help} (default {DEFAULT_ENDPOINT})")


def add_control(p: argparse.ArgumentParser) -> None:
    """Add ``--control`` (default :data:`DEFAULT_CONTROL`)."""
    p.add_argument("--control", default=DEFAULT_CONTROL,
                   help=f"the daemon's control endpoint (default {DEFAULT_CONTROL})")


def add_topics(p: argparse.ArgumentParser, *, example: str = "laser/smoothed") -> None:
    """Add the positional topic prefixes (none: every topic)."""
    p.add_argument("topics", nargs="*", metavar="TOPIC",
                   help=f"topic prefixes, e.g. {example} (default: every topic)")


def add_timeout(p: argparse.ArgumentParser, *, default: float, what: str) -> None:
    """Add ``--timeout`` in seconds: how long to wait for ``what``."""
    p.add_argument("--timeout", type=seconds, default=default,
                   help=f"give up when {what} within this many seconds (default {default:g})")


def add_log_level(p: argparse.ArgumentParser, *, default: str) -> None:
    """Add ``--log-level``."""
    p.add_argument("--log-level", default=default, choices=LOG_LEVELS)


def setup_logging(level: str) -> None:
    """Log to stderr, one line per record: time, level, logger, message."""
    import logging

    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def one_line(exc: BaseException | str) -> str:
    """Return an error's message as one line (its lines joined by '; ')."""
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
