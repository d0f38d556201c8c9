"""A Foxglove WebSocket server showing a running daemon: its topics as channels, its filters as parameters.

One :class:`FoxgloveBridge` owns a ``foxglove-sdk`` server (its own :class:`foxglove.Context`).
One subscriber thread (:func:`streamconv.sinks.base.pump` from ``Subscriber(endpoint, [""],
latest=True)``) hands every message to :meth:`FoxgloveBridge.write`, which advertises the
message's viewer channel the first time it appears (name and schema from
:mod:`streamconv.recording.viewer`, the same as a recording's) and, only while a client is
subscribed to that channel, encodes and logs it.  A status thread asks the daemon's control
socket for ``status`` every ``status_interval_s`` and keeps the parameter table
(:mod:`streamconv.bridge.parameters`); a ``setParameters`` from a client becomes a control
``set``, as ``streamconv ctl set`` sends it.

Slow clients: the SDK keeps at most ``backlog`` outgoing data messages per client and drops the
oldest when a new one does not fit, so a client that does not keep up gets recent frames with
gaps, never a growing queue.  The subscriber itself keeps only the newest frame of each topic.

The daemon may go away and come back: the subscriber reconnects by itself (ZeroMQ), the status
thread retries, and the server and its clients stay connected meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from streamconv.bridge.parameters import ParameterError, changes_to_requests, parameters_from_status
from streamconv.recording import viewer

__all__ = ["BACKLOG", "SUBPROTOCOL", "FoxgloveBridge"]

log = logging.getLogger(__name__)

#: The WebSocket subprotocol foxglove-sdk speaks: ``foxglove.websocket.v1`` renamed (the same
#: messages; foxglove/ros-foxglove-bridge#382).  Foxglove and Lichtblick >= 1.22 offer it.
SUBPROTOCOL = "foxglove.sdk.v1"
#: Outgoing data messages the SDK holds per client before it drops the oldest.
BACKLOG = 32
#: The kernel send buffer of each client's socket, in bytes (see :func:`limit_send_buffer`).
SEND_BUFFER = 256 * 1024
#: Seconds between two ``status`` requests (the parameter table's freshness).
STATUS_INTERVAL_S = 2.0


class FoxgloveBridge:
    """The server, its channels and parameters; a :class:`streamconv.sinks.base.Sink` for the feed.

    Parameters
    ----------
    control : str
        The daemon's control endpoint.
    host, port : str, int
        Where to listen (port 0: any free port; see :attr:`port`).
    backlog : int
        ``message_backlog_size`` of the SDK: data messages queued per client at most.
    control_timeout : float
        Seconds a control request (``status``, ``set``) may take.
    control_keys : dict, optional
        ``curve_server_key``/``curve_secret_key`` for a daemon running CurveZMQ.
    send_buffer : int or None
        ``SO_SNDBUF`` of each client's socket (:func:`limit_send_buffer`); None: the system's.
    request : callable, optional
        ``request(payload, endpoint, timeout=...) -> reply`` (default :func:`streamconv.control.request`
        with ``control_keys``).

    Raises
    ------
    OSError
        When the server cannot listen (the port is in use).
    """

    def __init__(self, control: str, *, host: str = "127.0.0.1", port: int = 8765, backlog: int = BACKLOG,
                 control_timeout: float = 2.0, control_keys: dict[str, Any] | None = None,
                 request: Callable[..., dict[str, Any]] | None = None, name: str = "streamconv",
                 send_buffer: int | None = SEND_BUFFER) -> None:
        import foxglove
        from foxglove.websocket import Capability

        self.control = control
        self.control_timeout = control_timeout
        if request is None:
            from streamconv import control as _control

            keys = dict(control_keys or {})

            def request(payload: dict[str, Any], endpoint: str, *, timeout: float) -> dict[str, Any]:
                return _control.request(payload, endpoint, timeout=timeout, **keys)
        self._request = request
        self._lock = threading.Lock()
        self._set_lock = threading.Lock()  # one parameter change at a time, in the order they came
        self._context = foxglove.Context()
        self._channels: dict[str, Any] = {}
        self._topic_channel: dict[str, str] = {}  # topic -> the name of its viewer channel now
        self.status: dict[str, Any] = {}
        self.table: dict[str, Any] = {}
        self.logged = 0
        self.unwatched = 0
        self.gaps = 0
        self.errors = 0
        try:
            self.server = foxglove.start_server(
                name=name, host=host, port=port, capabilities=[Capability.Parameters],
                server_listener=_listener(self), context=self._context, message_backlog_size=backlog,
            )
        except RuntimeError as exc:  # the SDK reports a bind failure as a RuntimeError
            raise OSError(f"cannot listen on {host}:{port}: {exc}") from None
        self.send_buffer = limit_send_buffer(self.port, send_buffer) if send_buffer else None
        log.info("client socket send buffer: %s", f"{self.send_buffer} bytes" if self.send_buffer
                 else "the system's (not found)")

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self.server.port)

    def stop(self) -> None:
        """Stop the server (clients are disconnected)."""
        self.server.stop()

    # -- Sink ---------------------------------------------------------------------------------
    def write(self, msg: Any) -> None:
        """Advertise the message's viewer channel (once); log it if a client is subscribed to it."""
        name, schema_name = viewer.viewer_channel(msg.topic, msg.kind, msg.array.dtype.str, msg.array.shape)
        was = self._topic_channel.get(msg.topic)
        if was != name:  # a new topic, or one whose dtype moved it to or from its bgr8 twin
            if was is not None:
                self._close(was)
            self._topic_channel[msg.topic] = name
        channel = self._channel(name, schema_name)
        if not channel.has_sinks():  # nobody watches: no encoding, no copy
            self.unwatched += 1
            return
        try:
            messages = viewer.viewer_messages(msg)
        except Exception:  # a message that has no viewer form must not end the feed
            self.errors += 1
            log.debug("no viewer message for %s", msg.topic, exc_info=True)
            return
        for vm in messages:
            self._channel(vm.channel, vm.schema_name).log(vm.data, log_time=vm.log_time_ns)
            self.logged += 1

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Count a gap (frames skipped by ``latest`` are not gaps)."""
        self.gaps += 1

    def channels(self) -> list[str]:
        """Return the advertised channel names, sorted."""
        with self._lock:
            return sorted(self._channels)

    def _close(self, name: str) -> None:
        """Unadvertise channel ``name`` (a message on it later advertises it again)."""
        with self._lock:
            channel = self._channels.pop(name, None)
        if channel is not None:
            channel.close()
            log.info("unadvertised %s", name)

    def _channel(self, name: str, schema_name: str) -> Any:
        channel = self._channels.get(name)
        if channel is None:
            import foxglove

            s = viewer.schema(schema_name)
            with self._lock:
                channel = self._channels.get(name)
                if channel is None:
                    channel = foxglove.Channel(
                        name, schema=foxglove.Schema(name=s.name, encoding=s.encoding, data=s.data),
                        message_encoding=s.message_encoding, context=self._context)
                    self._channels[name] = channel
                    log.info("advertised %s (%s)", name, s.name)
        return channel

    # -- parameters ---------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Ask the daemon for ``status``; update the table and push changed values; return success."""
        try:
            reply = self._request({"cmd": "status"}, self.control, timeout=self.control_timeout)
        except (TimeoutError, OSError, ValueError) as exc:
            log.debug("status from %s failed: %s", self.control, exc)
            return False
        if not reply.get("ok"):
            return False
        self._take_status(reply.get("status") or {})
        return True

    def _take_status(self, status: dict[str, Any]) -> None:
        table = parameters_from_status(status)
        with self._lock:
            old, old_status = self.table, self.status
            self.status, self.table = status, table
        removed = set(_output_topics(old_status)) - set(_output_topics(status)) if old_status else set()
        for topic in removed:  # an output removed (ctl remove): its channel goes too
            name = self._topic_channel.pop(topic, None)
            if name is not None:
                self._close(name)
        changed = [n for n, v in table.items() if old.get(n) != v]
        if changed and old:
            self.server.publish_parameter_values([_parameter(n, table[n]) for n in changed])

    def get_parameters(self, names: list[str]) -> list[Any]:
        """Return the parameters ``names`` (all with an empty list) as Foxglove parameters."""
        if not self.table:
            self.refresh()
        with self._lock:
            table = dict(self.table)
        wanted = names or sorted(table)
        return [_parameter(n, table[n]) for n in wanted if n in table]

    def set_parameters(self, changes: dict[str, Any]) -> list[Any]:
        """Apply ``changes`` through the control socket; return the values now in effect.

        A bad name or value, or the daemon's refusal, is sent to the clients as an error status
        and the parameters keep their values (what is returned).
        """
        with self._set_lock:
            if not self.table:
                self.refresh()
            with self._lock:
                table, status = dict(self.table), self.status
            try:
                requests = changes_to_requests(table, status, changes)
            except (ParameterError, ValueError) as exc:
                self._error(str(exc))
                requests = []
            touched = set()
            for topic, stages in requests:
                touched.add(topic)
                try:
                    reply = self._request({"cmd": "set", "topic": topic, "stages": stages}, self.control,
                                          timeout=self.control_timeout)
                except (TimeoutError, OSError, ValueError) as exc:
                    self._error(f"cannot set {topic}: {exc}")
                    continue
                if not reply.get("ok"):
                    self._error(f"the daemon refused {topic}: {reply.get('error')}")
                    continue
                log.info("set %s: %s", topic, json.dumps(stages))
            if touched:
                self.refresh()
            with self._lock:
                table = dict(self.table)
        related = [n for n in table if any(n.startswith(t + ".") for t in touched)]
        names = list(dict.fromkeys([*changes, *related]))
        return [_parameter(n, table[n]) for n in names if n in table]

    def _error(self, message: str) -> None:
        self.errors += 1
        log.warning("setParameters: %s", message)
        import foxglove

        self.server.publish_status(message, foxglove.StatusLevel.Error, id="streamconv.parameters")


def _output_topics(status: dict[str, Any]) -> list[str]:
    return [f"{s}/{o}" for s, st in (status.get("streams") or {}).items() for o in (st.get("outputs") or {})]


def limit_send_buffer(port: int, size: int) -> int | None:
    """Set ``SO_SNDBUF`` of the SDK's listening socket on ``port`` (accepted sockets inherit it).

    Without it Linux grows a client socket's send buffer up to ``net.ipv4.tcp_wmem`` (4 MiB):
    for a client that stops reading, that is a backlog the SDK cannot drop (some 70 frames of
    160x120, 4 s at 20 fps), in front of the SDK's own bounded queue.  The SDK does not expose its
    socket, so this finds it among the process's descriptors.  Returns the size the kernel set,
    or None when the socket was not found (the limit is then the system's).
    """
    import os
    import socket

    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    try:
        fds = [int(f) for f in os.listdir(fd_dir)]
    except OSError:
        return None
    for fd in fds:
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.type == socket.SOCK_STREAM and s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) and (
                s.getsockname()[1] == port
            ):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
                return int(s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
        except OSError:
            pass
        finally:
            s.close()
    return None


def _parameter(name: str, value: Any) -> Any:
    import foxglove

    if isinstance(value, list):
        return foxglove.Parameter(name, value=value, type=foxglove.ParameterType.Float64Array)
    return foxglove.Parameter(name, value=value)


def _listener(bridge: FoxgloveBridge) -> Any:
    """Return the SDK's callbacks, handed to ``bridge`` (they run on the SDK's threads).

    Built here, not at import, so that this module imports without foxglove-sdk.
    """
    from foxglove.websocket import ServerListener

    class Listener(ServerListener):  # type: ignore[misc]
        def on_get_parameters(
            self, client: Any, param_names: list[str], request_id: str | None = None
        ) -> list[Any]:
            return bridge.get_parameters(list(param_names))

        def on_set_parameters(
            self, client: Any, parameters: list[Any], request_id: str | None = None
        ) -> list[Any]:
            try:
                return bridge.set_parameters({p.name: p.get_value() for p in parameters})
            except Exception as exc:  # never let a client's request take the server down
                log.exception("setParameters failed")
                bridge._error(f"setParameters failed: {exc}")
                return []

    return Listener()


def run_threads(bridge: FoxgloveBridge, endpoint: str, stop: threading.Event, *,
                status_interval_s: float = STATUS_INTERVAL_S, **sub_keys: Any) -> list[threading.Thread]:
    """Start the feed thread (one ``Subscriber``) and the status thread; both end when ``stop`` is set."""
    from streamconv.sinks.base import start_feed

    def status() -> None:
        reachable = None
        while not stop.is_set():
            ok = bridge.refresh()
            if ok != reachable:
                (log.info if ok else log.warning)(
                    "daemon control %s %s", bridge.control, "answers" if ok else "does not answer (retrying)")
                reachable = ok
            stop.wait(status_interval_s)

    feed = start_feed(bridge, endpoint, stop, name="foxglove-feed", **sub_keys)
    status_thread = threading.Thread(target=status, name="foxglove-status", daemon=True)
    status_thread.start()
    return [feed, status_thread]


