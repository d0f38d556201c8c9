"""What every role shares: its config, id, config hash, clock, ZeroMQ context and stop flag."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TypedDict

import zmq

from streamconv import config as cfg
from streamconv.roles import protocol

__all__ = ["Role", "RoleOptions", "log_failure", "role_id"]


class RoleOptions(TypedDict, total=False):
    """The keyword arguments every role takes (see :class:`Role`); the subclasses pass them on."""

    context: zmq.Context | None
    clock_ns: Callable[[], int]
    role_name: str | None


def log_failure(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log an unexpected error as one line; its traceback goes to the debug level only."""
    logger.error("%s: %s: %s", what, type(exc).__name__, exc)
    logger.debug("%s: traceback", what, exc_info=exc)


def role_id(role: str) -> str:
    """Return a fresh id for a role instance: role, host, pid and 4 random hex digits."""
    return f"{role}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}"


class Role:
    """The common part of the producer, worker and publisher: ``run()`` until ``stop()``.

    Parameters
    ----------
    config : Config
        The validated config every role of the deployment shares (its hash is in every heartbeat).
    context : zmq.Context, optional
        Needed to share ``inproc://`` links with roles in the same process.
    clock_ns : callable
        Unix time in ns.
    role_name : str, optional
        The role's id (default: ``<role>-<host>-<pid>-<random>``).
    """

    role = "role"

    def __init__(
        self,
        config: cfg.Config,
        *,
        context: zmq.Context | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        role_name: str | None = None,
    ) -> None:
        self.config = config
        self.links = config.links
        self.id = role_name or role_id(self.role)
        self.config_hash = protocol.config_hash(config)
        self.clock_ns = clock_ns
        self.ctx = context if context is not None else zmq.Context.instance()
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self.dead_after_ns = int(self.links.dead_after_ms * 1e6)
        self.heartbeat_ns = int(self.links.heartbeat_ms * 1e6)

    def stop(self) -> None:
        """Ask :meth:`run` to return (thread-safe; what a signal handler calls)."""
        self._stop.set()
