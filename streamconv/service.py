"""The daemon's lifecycle: starts the roles, handles signals, shuts down within its deadline.

``streamconv run`` starts every role (publisher, producer, workers) in one process, joined by
the config's links (``inproc://`` by default); ``streamconv run --role R`` starts one role, which
finds its peers over ``ipc://`` or ``tcp://`` links.  Each role is a class with ``run()`` and
``stop()`` (:mod:`streamconv.roles`); this module only runs them in threads, watches them, and
stops them in order: the producer first, the workers next, the publisher last, so that what is
in flight is published.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import zmq

from streamconv import config as cfg
from streamconv import exitcodes
from streamconv.errors import ConfigError
from streamconv.sockets import EndpointInUseError

__all__ = [
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_FORCED",
    "EXIT_OK",
    "ROLES",
    "Service",
    "check_roles",
    "run",
]

log = logging.getLogger(__name__)

#: Exit codes of ``streamconv run`` (their names in the one table, ``streamconv.exitcodes``).
EXIT_OK = exitcodes.OK
EXIT_ERROR = exitcodes.FAILURE  # a role failed
EXIT_CONFIG = exitcodes.USAGE  # a bad config or an endpoint in use
EXIT_FORCED = exitcodes.INTERRUPTED  # a second signal: immediate exit

#: The roles, in the order they start (downstream first: nothing is sent before its receiver).
ROLES = ("publisher", "producer", "worker")


def subscribe_hint(config: cfg.Config) -> str:
    """Return a topic worth subscribing to: the first output of the first stream (or its raw).

    Examples
    --------
    >>> subscribe_hint(cfg.load(None))
    'laser/smoothed'
    """
    for name, stream in config.streams.items():
        return f"{name}/{next(iter(stream.outputs), 'raw')}"
    return "_stats"


def check_roles(config: cfg.Config, roles: Sequence[str]) -> None:
    """Raise ConfigError if ``roles`` cannot run in one process with these links and key files.

    The publisher reads ``service.curve_public_keys_dir`` (the client keys it admits), so a
    missing directory, one without a ``*.pub`` file or a bad key in it is reported here, by
    ``streamconv run --check`` too.
    """
    for r in roles:
        if r not in ROLES:
            raise ConfigError(f"invalid role {r!r}; expected one of {list(ROLES)}")
    if config.service.metrics is not None and "publisher" in roles:
        from streamconv.metrics import require_prometheus_client

        require_prometheus_client()
    keys_dir = config.service.curve_public_keys_dir
    if keys_dir is not None and "publisher" in roles:
        from streamconv.keys import read_public_keys_dir

        read_public_keys_dir(keys_dir)
    if set(roles) == set(ROLES):
        return
    for field, endpoint in config.links.endpoints():
        if endpoint.startswith("inproc://"):
            raise ConfigError(
                f"{field} is {endpoint!r}: inproc links join roles of one process only; "
                f"--role {roles[0]} needs ipc:// or tcp:// links (e.g. configs/roles-local.yaml)"
            )


class _RoleThread(threading.Thread):
    def __init__(self, role: Any) -> None:
        super().__init__(name=f"role-{role.role}-{role.id}", daemon=True)
        self.role = role
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.role.run()
        except BaseException as exc:  # logged by the role
            self.error = exc


class Service:
    """The streamconv daemon: ``startup()``, ``serve()`` until stopped, ``shutdown()``.

    Parameters
    ----------
    config : Config
        A validated configuration.
    roles : sequence of str
        The roles this process runs (default: all of them, joined by the config's links).
    workers : int, optional
        Worker threads when the roles include ``worker`` (default: ``links.workers``, or one per
        stream when every role runs here, else one).
    worker_streams : sequence of str, optional
        The streams those workers serve (default: every stream).
    """

    def __init__(
        self,
        config: cfg.Config,
        roles: Sequence[str] = ROLES,
        *,
        workers: int | None = None,
        worker_streams: Sequence[str] | None = None,
    ) -> None:
        check_roles(config, roles)
        self.config = config
        self.worker_streams = None if worker_streams is None else list(worker_streams)
        self.roles = tuple(roles)
        everything = set(self.roles) == set(ROLES)
        n = workers or config.links.workers or (max(1, len(config.streams)) if everything else 1)
        self.n_workers = n if "worker" in self.roles else 0
        self.should_exit = threading.Event()
        self.ctx: zmq.Context | None = None
        self.publisher: Any = None
        self.producer: Any = None
        self.workers: list[Any] = []
        self.threads: list[_RoleThread] = []
        self.started_ns = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def startup(self) -> None:
        """Bind every endpoint and start the roles; raise EndpointInUseError if a port is taken."""
        svc = self.config.service
        if "publisher" in self.roles:
            for name in ("publish", "control"):
                endpoint = getattr(svc, name)
                if endpoint and not cfg.is_loopback_endpoint(endpoint) and svc.curve_secret_key_file is None:
                    log.warning(
                        "INSECURE: %s endpoint %s is reachable from other hosts without CurveZMQ "
                        "(insecure: true); anyone who can connect can read the streams%s",
                        name,
                        endpoint,
                        " and change the filters" if name == "control" else "",
                    )
        for field, endpoint in self.config.links.endpoints():
            if not cfg.is_loopback_endpoint(endpoint) and svc.curve_secret_key_file is None:
                log.warning("INSECURE: %s %s carries frames in the clear (insecure: true)", field, endpoint)
        from streamconv.roles.producer import Producer
        from streamconv.roles.publisher import Publisher
        from streamconv.roles.worker import Worker

        self.ctx = zmq.Context()
        self.started_ns = time.time_ns()
        try:
            if "publisher" in self.roles:
                self.publisher = Publisher(self.config, context=self.ctx)
            if "producer" in self.roles:
                self.producer = Producer(self.config, context=self.ctx)
            for _ in range(self.n_workers):
                self.workers.append(Worker(self.config, streams=self.worker_streams, context=self.ctx))
        except BaseException:
            self._close()
            raise
        for role in self._roles():
            t = _RoleThread(role)
            self.threads.append(t)
            t.start()
        if self.publisher is not None and self.publisher.pub.curve_public_key is not None:
            log.info(
                "CurveZMQ on: clients need the server key %s and a key of %s",
                self.publisher.pub.curve_public_key.decode(),
                svc.curve_public_keys_dir,
            )
        if self.publisher is not None:
            log.info(
                "streamconv running: publishing on %s, control on %s, streams %s (epoch %s)",
                self.publisher.bound_endpoint,
                svc.control or "off",
                ", ".join(self.config.streams) or "none",
                self.publisher.epoch,
            )
        else:
            log.info("streamconv running: role %s", ", ".join(sorted(set(self.roles))))

    def _roles(self) -> list[Any]:
        return [r for r in (self.publisher, self.producer, *self.workers) if r is not None]

    def serve(self) -> int:
        """Run until asked to stop; log a status line every ``status_interval_s``; return an exit code."""
        interval = self.config.service.status_interval_s
        next_status = time.monotonic() + interval
        code = EXIT_OK
        while not self.should_exit.wait(0.1):
            failed = [t for t in self.threads if t.error is not None]
            if failed:
                log.error("stopping: %s failed (%s)", failed[0].name, failed[0].error)
                code = EXIT_ERROR
                break
            if time.monotonic() >= next_status:
                log.info("%s", self.status_line())
                next_status += interval
        return code

    def shutdown(self) -> None:
        """Stop the producer, the workers, then the publisher (draining), within shutdown_timeout_s."""
        deadline = time.monotonic() + self.config.service.shutdown_timeout_s * 0.8
        by_role = {t.role: t for t in self.threads}

        def join(role: Any, share: float) -> None:
            t = by_role.get(role)
            if t is not None:
                t.join(max(0.0, (deadline - time.monotonic()) * share))

        if self.producer is not None:
            self.producer.stop()
            join(self.producer, 0.4)
        for w in self.workers:
            w.stop()
        for w in self.workers:
            join(w, 0.5)
        if self.publisher is not None:
            self.publisher.stop(drain=True)
            join(self.publisher, 1.0)
        alive = [t.name for t in self.threads if t.is_alive()]
        if alive:
            log.warning("shutdown: %s still running at the deadline; closing anyway", ", ".join(alive))
        self._close()
        published = self.publisher.published if self.publisher is not None else 0
        log.info("streamconv stopped (published %d messages)", published)

    def _close(self) -> None:
        for role in self._roles():
            t = next((t for t in self.threads if t.role is role), None)
            if t is None or not t.is_alive():
                role.close()
        if self.ctx is not None:
            from streamconv import auth

            auth.stop(self.ctx)  # a role still running at the deadline has not released its gate
            self.ctx.destroy(linger=0)

    def request_stop(self) -> None:
        """Ask ``serve()`` to return (what the signal handler does)."""
        self.should_exit.set()

    # -- introspection -----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Return the latest ``_stats`` content (updated every ``stats_interval_s``)."""
        return self.publisher.last_stats if self.publisher is not None else {}

    def status_line(self) -> str:
        """One line: per topic rate and latency, and the drop/malformed totals."""
        if self.publisher is None:
            parts = []
            if self.producer is not None:
                n = len(self.producer._eligible())
                parts.append(
                    f"producer: {n} worker(s), publisher {'up' if self.producer.publisher_ns else 'down'}"
                )
            for w in self.workers:
                done = sum(w.processed.values())
                parts.append(
                    f"worker {w.id}: {done} inputs, producer {'up' if w.producer_epoch else 'waiting'}"
                )
            return "; ".join(parts)
        stats = self.stats()
        parts = []
        for topic, t in stats.get("topics", {}).items():
            if topic.endswith(("/raw", "/truth")) or t["latency_p50_ms"] is None:
                continue
            parts.append(
                f"{topic} {t['rate_hz']:.1f}/s p50 {t['latency_p50_ms']:.2f} ms "
                f"p99 {t['latency_p99_ms']:.2f} ms"
            )
        if parts:
            summary = "; ".join(parts)
        elif not self.publisher.interest.prefixes:
            summary = f"idle: no subscriber (try: streamconv subscribe {subscribe_hint(self.config)})"
        else:
            summary = "no output yet"
        errors = sum(t.get("errors", 0) for t in stats.get("topics", {}).values())
        return (
            f"{summary} | drops {stats.get('drops', 0)} malformed {stats.get('malformed', 0)} errors {errors}"
        )


@contextlib.contextmanager
def capture_signals(service: Service) -> Iterator[None]:
    """Install SIGINT/SIGTERM handlers that ask the service to stop.

    A second signal of the same kind within a moment is not "force": ``timeout`` and systemd
    signal the process and then its group, and a terminal's Ctrl-C reaches the whole group.  A
    second signal forces the exit only once the clean stop has had its deadline.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[float] = []
    grace = service.config.service.shutdown_timeout_s

    def handler(signum: int, frame: FrameType | None) -> None:
        if received:
            if time.monotonic() - received[0] < grace:
                log.debug("signal %s again: already shutting down", signal.Signals(signum).name)
                return
            log.warning("second signal %s: exiting now", signal.Signals(signum).name)
            import os

            os._exit(EXIT_FORCED)
        received.append(time.monotonic())
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        service.request_stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(
    config: cfg.Config,
    roles: Sequence[str] = ROLES,
    *,
    workers: int | None = None,
    worker_streams: Sequence[str] | None = None,
) -> int:
    """Run the daemon (or the given roles) in the foreground until SIGINT/SIGTERM; return the exit code."""
    try:
        service = Service(config, roles, workers=workers, worker_streams=worker_streams)
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    with capture_signals(service):
        try:
            service.startup()
        except (EndpointInUseError, ConfigError, OSError) as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        try:
            code = service.serve()
        finally:
            service.shutdown()
    return code
