"""The ``streamconv`` command: the parser, and one error policy for every subcommand.

Each subcommand is a module of :mod:`streamconv.commands` (listed in :data:`COMMANDS`) with
``register(subparsers)``; the options they share are in :mod:`streamconv.commands.options`
and the exit codes in :mod:`streamconv.exitcodes`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from streamconv import exitcodes
from streamconv.commands.options import one_line as _one_line

__all__ = ["COMMANDS", "build_parser", "main"]


#: Set to 1 to see the traceback of an unexpected error (a bug) on stderr.
DEBUG_ENV = "STREAMCONV_DEBUG"


#: The subcommands, in the order ``streamconv --help`` lists them (one module each in commands/).
COMMANDS = (
    "run", "subscribe", "ctl", "view", "log", "plot", "filter", "demo", "kernels", "keygen", "bench", "web",
    "record", "play", "info", "learn", "foxglove",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = _Parser(
        prog="streamconv", description="Real-time sensor and video stream filtering over ZeroMQ.",
        epilog="exit codes: 0 ok, 1 failed (an error reply, a failed role, a bug), 2 bad input "
        "(arguments, config, files, keys, endpoints), 69 no reply or no message within the timeout, "
        "130 interrupted",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for mod in _command_modules():
        mod.register(sub)
    return parser


def _command_modules() -> list[Any]:
    """Import ``streamconv.commands.<name>`` for every name of :data:`COMMANDS`."""
    import importlib

    return [importlib.import_module(f"streamconv.commands.{name}") for name in COMMANDS]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (with a pointer to ``--help``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see 'PROG --help')`` and exit with ``exitcodes.USAGE``."""
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _user_error(exc: BaseException) -> str | None:
    """Return the one-line message of an error in the user's input, or None for anything else."""
    if isinstance(exc, OSError):  # a path (keygen /proc/nope/key) or an endpoint (its message names it)
        text = _one_line(exc.strerror) if exc.strerror else _one_line(exc)
        names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
        return f"{' -> '.join(names)}: {text}" if names else text or type(exc).__name__
    zmq = sys.modules.get("zmq")  # imported only if a command used it: then its errors may escape
    if zmq is not None and isinstance(exc, zmq.ZMQError):
        return f"ZeroMQ: {exc.strerror}"
    if isinstance(exc, ValueError):  # StreamconvError/ConfigError, pydantic, json, int("x") ...
        return _one_line(exc) or type(exc).__name__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamconv`` command line; return the exit code (see :mod:`streamconv.exitcodes`).

    What escapes a command never reaches the user as a traceback: bad input (a
    ``StreamconvError``/``ValueError``, an ``OSError`` on a path, a ``zmq.ZMQError`` from a bad
    endpoint) is one line ``streamconv CMD: error: MESSAGE`` and exit 2; a ``TimeoutError`` one
    line and exit 69; Ctrl-C exit 130; anything else (a bug) a one-line summary and exit 1, with
    the traceback logged at debug level and printed when ``STREAMCONV_DEBUG=1``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"streamconv {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop quietly
        _silence_stdout()
        return exitcodes.FAILURE
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        print(f"{prog}: {_one_line(exc) or 'timed out'}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    except Exception as exc:
        message = _user_error(exc)
        if message is not None:
            print(f"{prog}: error: {message}", file=sys.stderr)
            return exitcodes.USAGE
        logging.getLogger(__name__).debug("%s failed", prog, exc_info=True)
        summary = _one_line(exc)
        print(f"{prog}: unexpected error (a bug; {DEBUG_ENV}=1 shows the traceback): "
              f"{type(exc).__name__}{': ' + summary if summary else ''}", file=sys.stderr)
        if os.environ.get(DEBUG_ENV):
            traceback.print_exception(exc, file=sys.stderr)
        return exitcodes.FAILURE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
