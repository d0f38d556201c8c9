"""The publisher role: collects results, puts them back in order, and owns what subscribers see.

The publisher owns the PUB socket (``service.publish``), ``_stats`` and the control socket.  It
is the membership authority: it admits a worker whose config hash and golden stage hash equal
its own (and logs and excludes one whose differ), tells the producer which workers are
admitted and what is subscribed, and forwards live filter changes (``ctl set``) to every
worker.  Results are released per stream strictly in ``seq`` order through a bounded reorder
buffer with a deadline; each message is stamped with the wire ``epoch`` and ``t_publish_ns``
by :func:`streamconv.wire.restamp`.  The wire epoch changes when the publisher starts and
whenever a new producer epoch appears, so a producer's restart is never mistaken for a gap.

Sockets: the XPUB on ``service.publish``, a REP on ``service.control`` and a ROUTER bound on
``links.collect`` (workers and the producer connect to it).  With CurveZMQ the XPUB and the REP
admit only the client keys of ``service.curve_public_keys_dir`` and the collect link only the
roles' own key, through the ZAP gate of the publisher's context (:mod:`streamconv.auth`);
``status()`` counts what the gate admitted and refused.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, Unpack

import numpy as np
import zmq

from streamconv import auth, metrics, wire
from streamconv import config as cfg
from streamconv.errors import ConfigError, WireError
from streamconv.roles import links, protocol
from streamconv.roles.base import Role, RoleOptions, log_failure
from streamconv.roles.control_server import ControlServer, Slow
from streamconv.roles.golden import stage_hash
from streamconv.roles.interest import Interest
from streamconv.roles.peers import Peers
from streamconv.roles.reorder import Reorder
from streamconv.roles.subscriptions import Subscriptions
from streamconv.sockets import EndpointInUseError, TrackingPublisher, worth_zero_copy

__all__ = ["CONTROL_CMDS", "Publisher", "publish_hwm"]

log = logging.getLogger(__name__)

#: Automatic PUB high-water marks: lossless headroom for sensor-only configs; with video, a bound
#: on what a stalled subscriber can make the daemon hold (100 frames of 720p BGR is 276 MB).
AUTO_HWM_SENSORS = 10_000
AUTO_HWM_VIDEO = 100
#: Subscription events read per loop turn, and the time they may take (a storm waits in
#: ZeroMQ's queue, not in the loop).
SUBSCRIPTIONS_PER_TURN = 2000
SUBSCRIPTIONS_TURN_S = 0.002
#: Latencies kept per topic and stats interval (the newest; the histogram counts only these).
LATENCIES_PER_INTERVAL = 100_000
#: The control socket's commands.
CONTROL_CMDS = ("kernels", "ping", "remove", "set", "stats", "status")


def _peer_of(frame: zmq.Frame) -> str | None:
    """Return who sent an XPUB event: the CurveZMQ client key, else the address; None if ZeroMQ did."""
    for prop in ("User-Id", "Peer-Address"):
        try:
            value = frame.get(prop)
        except zmq.ZMQError:
            continue
        if value:
            return str(value)
    return None


def _sender(identity: Any) -> str:
    """Return a ROUTER identity frame as the peer's id."""
    raw = identity.bytes if isinstance(identity, zmq.Frame) else bytes(identity)
    return raw.decode("utf-8", errors="replace")


class _TopicStats:
    """One topic's counts.

    ``buckets``, ``latency_sum_ns`` and ``latency_count`` are totals of the latencies of past
    intervals (the histogram), ``latencies_ns`` those of the current one.
    """

    __slots__ = ("buckets", "count", "latencies_ns", "latency_count", "latency_sum_ns", "window_count")

    def __init__(self) -> None:
        self.count = 0
        self.window_count = 0
        self.latencies_ns: deque[int] = deque(maxlen=LATENCIES_PER_INTERVAL)
        self.buckets = np.zeros(len(metrics.LATENCY_BUCKETS_S) + 1, dtype=np.int64)
        self.latency_sum_ns = 0
        self.latency_count = 0


def publish_hwm(config: cfg.Config) -> int:
    """Return the PUB high-water mark: the config's, or automatic (``ServiceConfig.publish_hwm``)."""
    svc = config.service
    if svc.publish_hwm is not None:
        return svc.publish_hwm
    frames = [s for s in config.streams.values() if s.items == "frames"]
    return AUTO_HWM_VIDEO if frames else AUTO_HWM_SENSORS


class Publisher(Role):
    """The publisher role: ``run()`` until ``stop()``; every socket bound at construction.

    Raises
    ------
    EndpointInUseError
        When the publish, control or collect endpoint is taken (the message names it).
    """

    role = "publisher"

    def __init__(self, config: cfg.Config, **options: Unpack[RoleOptions]) -> None:
        super().__init__(config, **options)
        svc = config.service
        self._drain = False
        self.started_ns = self.clock_ns()
        self.stats_epoch = wire.new_epoch()  # the _stats topic's own numbering
        self.epoch = self.stats_epoch  # the wire epoch of data topics (renewed per producer epoch)
        self.golden = stage_hash(config)
        secret = links.link_secret(config)
        svc_secret = None if secret is None else secret.secret
        self.gate: auth.Gate | None = None
        self.pub: TrackingPublisher | None = None
        self.control: zmq.Socket | None = None
        self.collect: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None  # connection events of the publish socket
        self.connections = 0  # subscriber connections now (tcp and ipc; inproc has no events)
        self.metrics_server: Any = None  # the /metrics HTTP server (service.metrics)
        self.metrics_url: str | None = None
        self.last_stats: dict[str, Any] = {}
        try:
            if secret is not None:
                self.gate = auth.acquire(self.ctx, self._admitted_keys(secret))
            self.pub = TrackingPublisher(
                svc.publish,
                context=self.ctx,
                sndhwm=publish_hwm(config),
                linger_ms=500,
                curve_secret_key=svc_secret,
                zap_domain="streams",
            )
            self.monitor = self.pub.socket.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
            if svc.control:
                self.control = self._bind_control(svc.control, svc_secret)
            self.collect = links.bind_router(
                self.ctx,
                self.links.bind_address("collect"),
                what="links.collect",
                hwm=max(svc.sensor_queue, 1000),
                secret=secret,
            )
            if svc.metrics_address is not None:
                self._serve_metrics(*svc.metrics_address)
        except BaseException:
            self.close()
            raise
        self.interest = Interest()
        self.workers = Peers(dead_after_ns=self.dead_after_ns)
        self.excluded: dict[str, str] = {}
        #: More parts of ``ctl status``, by key: each callable returns what is already at hand
        #: (it runs on this role's loop), e.g. the cluster driver's snapshot of nodes and actors.
        self.status_parts: dict[str, Callable[[], Any]] = {}
        self.producers = Peers(dead_after_ns=self.dead_after_ns)
        self.producer_id: str | None = None
        self.producer_epoch: str | None = None
        self.producer_info: dict[str, Any] = {}
        self.worker_counters: dict[str, dict[str, dict[str, int]]] = {}  # worker -> its last counters
        self.reorders: dict[str, Reorder] = {}
        self.outputs: dict[str, dict[str, list[Any]]] = {
            name: {o: list(chain) for o, chain in s.outputs.items()} for name, s in config.streams.items()
        }
        # Live filter changes (ctl set/remove), the newest per output: (stream, output) -> (version,
        # stages or None); workers get what is newer than the version their heartbeat reports.
        self.changes: dict[tuple[str, str], tuple[int, list[Any] | None]] = {}
        self.change_version = 0
        self.subscriptions = Subscriptions(self._topics())
        self._sent_version = 0  # the subscriptions' version the peers last got
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._stats: dict[str, _TopicStats] = defaultdict(_TopicStats)
        self._stats_seq = 0
        self.published = 0
        self.control_errors = 0
        self.control_server = (
            ControlServer(self.control, self._dispatch, on_error=self._count_control_error)
            if self.control is not None else None
        )
        self._acks: dict[str, int] = {}

    def _admitted_keys(self, secret: links.LinkCurve) -> dict[str, frozenset[bytes]]:
        """Return the client keys the gate admits: the configured clients', the roles' on the link."""
        from streamconv.keys import read_public_keys_dir

        keys_dir = self.config.service.curve_public_keys_dir
        assert keys_dir is not None  # ServiceConfig requires it with a secret key
        clients = read_public_keys_dir(keys_dir)
        admitted = {"streams": clients, "control": clients}
        if secret.applies(self.links.bind_address("collect")):
            admitted["links"] = frozenset({secret.public})
        return admitted

    def _bind_control(self, endpoint: str, secret: bytes | None) -> zmq.Socket:
        sock = self.ctx.socket(zmq.ROUTER)
        ControlServer.configure(sock)
        if secret is not None:
            auth.curve_server(sock, secret, "control")
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            if exc.errno == zmq.EADDRINUSE:
                raise EndpointInUseError(f"control endpoint {endpoint} is already in use") from None
            raise EndpointInUseError(f"cannot bind control endpoint {endpoint}: {exc}") from None
        return sock

    def _serve_metrics(self, host: str, port: int) -> None:
        """Serve ``/metrics`` (of :attr:`last_stats`) on ``host:port`` in prometheus_client's HTTP thread.

        Raises
        ------
        ConfigError
            When prometheus_client is not installed (the message names the extra).
        EndpointInUseError
            When the port is taken.
        """
        metrics.require_prometheus_client()
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        # The HTTP thread reads the dict last published, which the loop replaces and never changes.
        registry.register(metrics.StatsCollector(lambda: self.last_stats))  # type: ignore[arg-type]
        shown = f"[{host}]" if ":" in host else host
        try:
            server, _thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EndpointInUseError(f"service.metrics {shown}:{port} is already in use") from None
            raise EndpointInUseError(f"cannot serve service.metrics on {shown}:{port}: {exc}") from None
        self.metrics_server = server
        self.metrics_url = f"http://{shown}:{server.server_port}/metrics"
        if not cfg.is_loopback_host(host):
            log.warning("INSECURE: service.metrics %s is reachable from other hosts (insecure: true)",
                        self.metrics_url)
        log.info("publisher %s: Prometheus metrics on %s", self.id, self.metrics_url)

    @property
    def bound_endpoint(self) -> str | None:
        """Where subscribers connect."""
        return self.pub.bound_endpoint if self.pub is not None else None

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self, *, drain: bool = False) -> None:
        """Ask :meth:`run` to return; ``drain=True`` first publishes what is queued and held."""
        self._drain = drain
        self._stop.set()

    def run(self) -> None:
        """Publish until :meth:`stop`; then tell the peers and close."""
        log.info(
            "publisher %s: publishing on %s, control on %s, collecting on %s (stage hash %s)",
            self.id,
            self.bound_endpoint,
            self.config.service.control or "off",
            self.links.bind_address("collect"),
            self.golden,
        )
        try:
            self._loop()
        except BaseException as exc:
            self.error = exc
            log_failure(log, "publisher stopped on an error", exc)
            raise
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.collect is not None and not self.collect.closed:
            body = {"role": self.role, "id": self.id}
            for peer in [*self.workers, *self.producers]:
                links.send(self.collect, protocol.encode("stop", body), identity=peer.id.encode())
        self.close()

    def close(self) -> None:
        """Close the sockets (idempotent)."""
        if getattr(self, "control_server", None) is not None:
            self.control_server.close()
        if self.monitor is not None:
            if self.pub is not None and not self.pub.closed:
                self.pub.socket.disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        if self.pub is not None:
            self.pub.close()
        for s in (self.control, self.collect):
            if s is not None and not s.closed:
                s.close(linger=0)
        if self.gate is not None:
            auth.release(self.gate)
            self.gate = None
        if getattr(self, "metrics_server", None) is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
            self.metrics_server = None

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        assert self.pub is not None and self.collect is not None
        poller = zmq.Poller()
        poller.register(self.collect, zmq.POLLIN)
        xpub = self.pub.socket
        poller.register(xpub, zmq.POLLIN)
        if self.control is not None:
            poller.register(self.control, zmq.POLLIN)
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        stats_ns = int(self.config.service.stats_interval_s * 1e9)
        now = self.clock_ns()
        next_stats = now + stats_ns
        window_start = now
        next_tick = now
        waiting_logged = False
        while True:
            now = self.clock_ns()
            wake = min(next_stats, next_tick)
            for r in self.reorders.values():
                d = r.next_deadline()
                if d is not None:
                    wake = min(wake, d)
            timeout = max(0, min(50, (wake - now) // 1_000_000 + 1))
            if self.control_server is not None and self.control_server.waiting:
                timeout = min(timeout, 5)
            if self._stop.is_set():
                if not self._drain:
                    return
                timeout = 20
            events = dict(poller.poll(timeout))
            now = self.clock_ns()
            if xpub in events:
                self._read_subscriptions(xpub)
            if self.monitor is not None and self.monitor in events:
                self._read_connections(self.monitor)
            if self.collect in events:
                self._read_collect(now)
            if self.control_server is not None:
                if self.control in events:
                    self.control_server.serve()
                self.control_server.finish()
            self._release(now)
            if now >= next_tick:
                self._tick(now)
                next_tick = now + self.heartbeat_ns
                if self.producer_id is None and not waiting_logged:
                    log.info(
                        "publisher %s: waiting for the producer and workers on %s",
                        self.id,
                        self.links.bind_address("collect"),
                    )
                    waiting_logged = True
                elif self.producer_id is not None:
                    waiting_logged = False
            if now >= next_stats:
                self._publish_stats(now, now - window_start)
                window_start = now
                next_stats = now + stats_ns
            if self._stop.is_set() and self._drain and self.collect not in events:
                for name, r in self.reorders.items():
                    self._emit(name, r.release(now=now, flush=True), now)
                return

    def _read_subscriptions(self, xpub: zmq.Socket) -> None:
        """Admit what peers subscribe (:class:`Subscriptions`), a bounded number per loop turn."""
        assert self.pub is not None
        subs = self.subscriptions
        end = time.perf_counter() + SUBSCRIPTIONS_TURN_S
        for i in range(SUBSCRIPTIONS_PER_TURN):
            if i % 64 == 63 and time.perf_counter() >= end:
                break
            try:
                frame = xpub.recv(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            event = frame.bytes
            action = subs.event(event, _peer_of(frame))
            if action in ("subscribe", "unsubscribe"):
                self.pub.confirm(event)
        self._interest_changed()

    def _read_connections(self, monitor: zmq.Socket) -> None:
        """Count the publish socket's connections from its monitor events (accepted, disconnected)."""
        from zmq.utils.monitor import recv_monitor_message

        for _ in range(1000):
            try:
                event = recv_monitor_message(monitor, flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if event["event"] == zmq.EVENT_ACCEPTED:
                self.connections += 1
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self.connections = max(0, self.connections - 1)

    def _interest_changed(self) -> None:
        if self.subscriptions.version != self._sent_version:
            self._sent_version = self.subscriptions.version
            self.interest.replace(self.subscriptions.live)
            log.debug("subscriptions now %s", sorted(self.interest.prefixes))
            self._send_peers()

    def _topics(self) -> set[str]:
        """Every topic this publisher can send now (raw and truth for every stream, over-inclusive)."""
        topics = {"_stats"}
        for stream, outs in self.outputs.items():
            topics.update(f"{stream}/{o}" for o in (*outs, "raw", "truth"))
        return topics

    def _read_collect(self, now: int) -> None:
        assert self.collect is not None
        for _ in range(10_000):
            try:
                frames = self.collect.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                env = protocol.decode(frames[1:])
            except WireError as exc:
                self.counters["_links"]["malformed"] += 1
                log.debug("publisher: malformed link message: %s", exc)
                continue
            if env.type == "result":
                self._result(env, _sender(frames[0]), now)
            elif env.type == "hb":
                self._heartbeat(env.body, now)
            elif env.type == "lost":
                if _sender(frames[0]) == self.producer_id:  # only the producer declares losses
                    self._lost(env.body)
                else:
                    self.counters["_links"]["unexpected"] += 1
            elif env.type == "stop":
                self._peer_stopped(env.body)
            else:
                self.counters["_links"]["unexpected"] += 1

    # -- membership --------------------------------------------------------------------------
    def _heartbeat(self, body: dict[str, Any], now: int) -> None:
        role, pid = body.get("role"), body.get("id")
        if not isinstance(pid, str):
            self.counters["_links"]["malformed"] += 1
            return
        if body.get("config_hash") != self.config_hash:
            self._refuse(
                pid,
                f"its config hash {body.get('config_hash')} differs from the publisher's "
                f"{self.config_hash}: roles must run the same config",
            )
            return
        if role == "worker":
            if body.get("golden") != self.golden:
                self._refuse(
                    pid,
                    f"its stage hash {body.get('golden')} differs from the publisher's "
                    f"{self.golden} (another OpenCV/numba/numpy build?): outputs would differ",
                )
                return
            if self.workers.heard(pid, body, now=now):
                log.info(
                    "publisher: worker %s admitted (host %s, pid %s)", pid, body.get("host"), body.get("pid")
                )
                self._send_peers()
            known = body.get("set_version", 0)
            if isinstance(known, int) and known < self.change_version:
                self._send_changes(pid, since=known)
            counters = body.get("counters")
            if isinstance(counters, dict):
                self.worker_counters[pid] = counters
        elif role == "producer":
            epoch = body.get("epoch")
            if not isinstance(epoch, str):
                return
            new = self.producers.heard(pid, body, now=now)
            if epoch != self.producer_epoch:
                self._new_producer(pid, epoch, body)
            elif new:
                log.info("publisher: producer %s is back", pid)
            self.producer_id = pid
            self.producer_info = body
            if new:
                self._send_peers()

    def _new_producer(self, pid: str, epoch: str, body: dict[str, Any]) -> None:
        old = self.producer_epoch
        self.producer_epoch = epoch
        self.epoch = wire.new_epoch()
        self._acks = {}
        self.reorders = {}
        streams = body.get("streams", {})
        for name, info in streams.items():
            if name not in self.config.streams or not isinstance(info, dict):
                continue
            samples = info.get("items") == "samples"
            deadline_ms = self.links.sample_deadline_ms if samples else self.links.frame_deadline_ms
            window = 1_000_000 if samples else self.links.reorder_window
            low = info.get("low")
            self.reorders[name] = Reorder(
                window=window, deadline_ns=int(deadline_ms * 1e6), start=low if isinstance(low, int) else None
            )
        log.info(
            "publisher: producer %s (epoch %s)%s: publishing as epoch %s",
            pid,
            epoch,
            f", replacing epoch {old}" if old else "",
            self.epoch,
        )

    def _refuse(self, pid: str, reason: str) -> None:
        if self.excluded.get(pid) != reason:
            log.error("publisher: refusing %s: %s", pid, reason)
            self.excluded[pid] = reason
        assert self.collect is not None
        links.send(self.collect, protocol.encode("refused", {"reason": reason}), identity=pid.encode())

    def _peer_stopped(self, body: dict[str, Any]) -> None:
        pid = body.get("id")
        if not isinstance(pid, str):
            return
        if pid in self.workers:
            log.info("publisher: worker %s stopped", pid)
            self.workers.remove(pid)
            self._send_peers()
        elif pid in self.producers:
            log.info("publisher: producer %s stopped", pid)
            self.producers.remove(pid)

    def _tick(self, now: int) -> None:
        for pid in self.workers.expire(now=now):
            log.warning("publisher: worker %s silent for %.0f ms: dead", pid, self.dead_after_ns / 1e6)
        for pid in self.producers.expire(now=now):
            log.warning("publisher: producer %s silent for %.0f ms", pid, self.dead_after_ns / 1e6)
        self._send_peers()

    def _send_peers(self) -> None:
        assert self.collect is not None
        prefixes = sorted(self.interest.prefixes)
        admitted = sorted(w.id for w in self.workers)
        for p in self.producers:
            links.send(
                self.collect,
                protocol.encode("peers", {"id": self.id, "admitted": admitted, "prefixes": prefixes}),
                identity=p.id.encode(),
            )
        msg = protocol.encode("peers", {"id": self.id, "admitted": True, "prefixes": prefixes})
        for w in self.workers:
            links.send(self.collect, msg, identity=w.id.encode())

    def _changes_message(self, since: int) -> list[Any]:
        """Return the ``set`` message with every change newer than version ``since``."""
        newer = [[st, out, stages, v] for (st, out), (v, stages) in self.changes.items() if v > since]
        return protocol.encode("set", {"version": self.change_version, "since": since, "changes": newer})

    def _send_changes(self, wid: str, *, since: int) -> None:
        assert self.collect is not None
        links.send(self.collect, self._changes_message(since), identity=wid.encode())

    # -- results -----------------------------------------------------------------------------
    def _result(self, env: protocol.Envelope, worker: str, now: int) -> None:
        """Hold one result; the sender is who the socket says (the body's ``worker`` is informative)."""
        body = env.body
        stream, seq = body.get("stream"), body.get("seq")
        reorder = self.reorders.get(stream) if isinstance(stream, str) else None
        if not isinstance(seq, int) or reorder is None or body.get("epoch") != self.producer_epoch:
            self.counters[stream if isinstance(stream, str) else "_links"]["stale"] += 1
            return
        if worker not in self.workers:
            self.counters[stream]["unadmitted"] += 1
            return
        verdict = reorder.add(seq, env.messages(), now=now)
        if verdict != "ok":
            self.counters[stream][verdict] += 1

    def _lost(self, body: dict[str, Any]) -> None:
        stream, seqs, reason = body.get("stream"), body.get("seqs"), body.get("reason")
        reorder = self.reorders.get(stream) if isinstance(stream, str) else None
        if reorder is None or not isinstance(seqs, list):
            return
        for s in seqs:
            if isinstance(s, int):
                reorder.lost(s, str(reason))

    def _release(self, now: int) -> None:
        for name, r in self.reorders.items():
            if r.pending:
                out = r.release(now=now)
                if out:
                    self._emit(name, out, now)
        if self._acks and self.producer_id is not None:
            assert self.collect is not None
            links.send(
                self.collect, protocol.encode("ack", {"upto": self._acks}), identity=self.producer_id.encode()
            )
            self._acks = {}

    def _emit(self, stream: str, released: list[tuple[int, Any, str | None]], now: int) -> None:
        for seq, messages, reason in released:
            if reason is not None:
                self.counters[stream][f"lost_{reason}"] += 1
                log.debug("publisher: %s seq %d skipped (%s)", stream, seq, reason)
            else:
                for m in messages:
                    self._publish(m, now)
            self._acks[stream] = seq

    def _publish(self, frames: list[Any], now: int) -> None:
        assert self.pub is not None
        try:
            topic = bytes(frames[0].buffer).decode("utf-8")
        except UnicodeDecodeError:
            self.counters["_links"]["malformed"] += 1
            return
        if not self.interest.wants(topic):
            return
        try:
            header, out = wire.restamp(frames, epoch=self.epoch, t_publish_ns=now)
        except WireError as exc:
            self.counters[topic]["malformed"] += 1
            log.debug("publisher: malformed result on %s: %s", topic, exc)
            return
        self.pub.send(out, copy=not worth_zero_copy(frames[2]))
        st = self._stats[topic]
        st.count += 1
        st.window_count += 1
        st.latencies_ns.append(now - header.t_capture_ns)
        self.published += 1

    # -- stats -------------------------------------------------------------------------------
    def _publish_stats(self, now: int, window_ns: int) -> None:
        assert self.pub is not None
        stats = self.snapshot(window_ns, reset_window=True)
        self.last_stats = stats
        frames = wire.encode_stats(stats, epoch=self.stats_epoch, seq=self._stats_seq, t_ns=now)
        self._stats_seq += 1
        self.pub.send(frames)

    def stream_counters(self) -> dict[str, dict[str, int]]:
        """Every loss and event per stream, by reason: the publisher's, the producer's and the workers'."""
        merged: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        sources = [self.counters, self.producer_info.get("counters", {}), *self.worker_counters.values()]
        for counters in sources:
            for key, reasons in counters.items():
                if isinstance(reasons, dict):
                    for reason, n in reasons.items():
                        if isinstance(n, int):
                            merged[key][reason] += n
        return {k: dict(v) for k, v in sorted(merged.items())}

    def snapshot(self, window_ns: int, *, reset_window: bool) -> dict[str, Any]:
        """Per-topic rate, latency p50/p99 (capture to publish), drops, malformed and error counts."""
        counters = self.stream_counters()
        drop_reasons = (
            "busy",
            "no_worker",
            "worker_died",
            "worker_stopped",
            "ring_overflow",
            "send_failed",
            "result_send_failed",
        )
        topics: dict[str, Any] = {}
        streams: dict[str, Any] = {}
        names = set(self._stats) | {k for k in counters if "/" in k}
        for name in self.config.streams:
            c = counters.get(name, {})
            lost = {k.removeprefix("lost_"): v for k, v in c.items() if k.startswith("lost_")}
            dropped = {k: c[k] for k in drop_reasons if c.get(k)}
            streams[name] = {
                "lost": lost,
                "dropped": dropped,
                **{
                    k: c[k]
                    for k in ("duplicate", "late", "stale", "unadmitted", "resent", "replayed")
                    if c.get(k)
                },
            }
            if lost or dropped:
                names.add(f"{name}/raw")
        for topic in sorted(names):
            st = self._stats.get(topic)
            lat = np.fromiter(st.latencies_ns, dtype=np.int64) if st else np.empty(0, np.int64)
            c = counters.get(topic, {})
            stream = topic.split("/", 1)[0]
            drops = c.get("drops", 0)
            if topic == f"{stream}/raw" and stream in streams:  # a stream's losses count against its input
                drops += sum(streams[stream]["lost"].values()) + sum(streams[stream]["dropped"].values())
            # The histogram: this interval's latencies added once, to the totals of the past ones.
            buckets = metrics.bucket_counts(lat)
            lat_sum, lat_count = int(lat.sum()), int(lat.size)
            if st:
                buckets += st.buckets
                lat_sum += st.latency_sum_ns
                lat_count += st.latency_count
            topics[topic] = {
                "count": st.count if st else 0,
                "rate_hz": (st.window_count / (window_ns / 1e9)) if st and window_ns > 0 else 0.0,
                "latency_p50_ms": float(np.percentile(lat, 50) / 1e6) if lat.size else None,
                "latency_p99_ms": float(np.percentile(lat, 99) / 1e6) if lat.size else None,
                "drops": int(drops),
                "malformed": int(c.get("malformed", 0)),
                "errors": int(c.get("errors", 0)),
                "latency_buckets": np.cumsum(buckets).tolist(),
                "latency_sum_s": lat_sum / 1e9,
                "latency_count": lat_count,
            }
            if st and reset_window:
                st.buckets = buckets
                st.latency_sum_ns = lat_sum
                st.latency_count = lat_count
                st.window_count = 0
                st.latencies_ns.clear()
        link_malformed = counters.get("_links", {}).get("malformed", 0)
        return {
            "uptime_s": (self.clock_ns() - self.started_ns) / 1e9,
            "epoch": self.epoch,
            "topics": topics,
            "streams": streams,
            "malformed": sum(t["malformed"] for t in topics.values()) + link_malformed,
            "drops": sum(t["drops"] for t in topics.values()),
            "subscribers": self.connections,
            "subscriptions": sum(self.subscriptions.count.values()),
            "latency_buckets_le_s": list(metrics.LATENCY_BUCKETS_S),
        }

    # -- status ------------------------------------------------------------------------------
    def roles(self, now: int | None = None) -> dict[str, Any]:
        """Every role heard from: id, host, pid, last heartbeat's age; per worker what it runs."""
        now = self.clock_ns() if now is None else now
        workers = []
        for w in self.workers:
            info = w.info
            workers.append(
                {
                    "id": w.id,
                    "host": info.get("host"),
                    "pid": info.get("pid"),
                    "heartbeat_age_ms": round((now - w.last_ns) / 1e6, 1),
                    "state": "admitted",
                    "rates_hz": {s: round(r, 1) for s, r in info.get("rates", {}).items()},
                    "processed": info.get("processed", {}),
                    "owns": sorted(
                        s
                        for s, i in self.producer_info.get("streams", {}).items()
                        if isinstance(i, dict) and i.get("owner") == w.id
                    ),
                    "warmup_ms": info.get("warmup_ms"),
                }
            )
        for wid, reason in self.excluded.items():
            if wid not in self.workers:
                workers.append({"id": wid, "state": "excluded", "reason": reason})
        producer = None
        p = self.producers.get(self.producer_id) if self.producer_id else None
        if p is not None:
            producer = {
                "id": p.id,
                "host": p.info.get("host"),
                "pid": p.info.get("pid"),
                "epoch": p.info.get("epoch"),
                "heartbeat_age_ms": round((now - p.last_ns) / 1e6, 1),
                "streams": p.info.get("streams", {}),
            }
        return {
            "publisher": {
                "id": self.id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "stage_hash": self.golden,
                "config_hash": self.config_hash,
            },
            "producer": producer,
            "workers": workers,
        }

    def status(self) -> dict[str, Any]:
        """Status for ``streamconv ctl status``: endpoints, streams, outputs, stats and roles."""
        return {
            "epoch": self.epoch,
            "uptime_s": (self.clock_ns() - self.started_ns) / 1e9,
            "publish": self.bound_endpoint,
            "control": self.config.service.control,
            "streams": {
                name: {
                    "source": self.config.streams[name].source.model_dump(mode="json"),
                    "outputs": {
                        o: [{**s.model_dump(mode="json"), "spec_hash": s.spec_hash()} for s in specs]
                        for o, specs in outs.items()
                    },
                }
                for name, outs in self.outputs.items()
            },
            "stats": self.last_stats,
            "subscribed": sorted(self.interest.prefixes),
            "subscriptions": self.subscriptions.snapshot(),
            "control_errors": self.control_errors,
            "auth": self.gate.counts() if self.gate is not None else None,
            "roles": self.roles(),
            **{key: part() for key, part in self.status_parts.items()},
        }

    # -- control -----------------------------------------------------------------------------
    def _count_control_error(self) -> None:
        self.control_errors += 1

    def _dispatch(self, req: Any) -> dict[str, Any]:
        if not isinstance(req, dict):
            raise ValueError(f"a request is a JSON object, got {type(req).__name__}")
        cmd = req.get("cmd")
        if cmd == "ping":
            return {"pong": True}
        if cmd == "status":
            return {"status": self.status()}
        if cmd == "stats":
            return {"stats": self.last_stats}
        if cmd == "kernels":
            from streamconv.ops import kernels

            return {"kernels": kernels.names()}
        if cmd in ("set", "remove"):
            stream, output = self._topic(req)
            if cmd == "remove":  # in the same ordered queue as the changes before it
                return Slow(lambda: None, lambda _: self._apply_remove(stream, output))
            if "stages" not in req:
                raise ValueError("'set' needs 'stages': a stage object or a list of them")
            stages = req["stages"]
            others = {name: list(chain) for name, chain in self.outputs[stream].items() if name != output}

            def prepare() -> list[Any]:  # off the loop: may read a bank file and build kernels
                specs = cfg.parse_stages(stages, source="stages")
                self._validate_stream_with(stream, output, specs, others)
                return specs

            return Slow(prepare, lambda specs: self._apply_set(stream, output, specs))
        raise ValueError(f"unknown cmd {cmd!r}; expected one of {list(CONTROL_CMDS)}")

    def _apply_remove(self, stream: str, output: str) -> dict[str, Any]:
        if output not in self.outputs[stream]:
            have = sorted(self.outputs[stream])
            raise ConfigError(f"stream {stream!r} has no output {output!r}; has {have}")
        del self.outputs[stream][output]
        self._change(stream, output, None)
        log.info("control: removed %s/%s", stream, output)
        return {"topic": f"{stream}/{output}"}

    def _apply_set(self, stream: str, output: str, specs: list[Any]) -> dict[str, Any]:
        if stream not in self.outputs:
            raise ValueError(f"unknown stream {stream!r}")
        self.outputs[stream][output] = list(specs)
        dumped = [s.model_dump(mode="json") for s in specs]
        self._change(stream, output, dumped)
        log.info("control: %s/%s is now %s", stream, output, specs)
        return {"topic": f"{stream}/{output}", "stages": [
            {**d, "spec_hash": s.spec_hash()} for d, s in zip(dumped, specs, strict=True)
        ]}

    def _change(self, stream: str, output: str, stages: list[Any] | None) -> None:
        self.change_version += 1
        self.changes.pop((stream, output), None)  # kept in version order
        self.changes[(stream, output)] = (self.change_version, stages)
        self.subscriptions.set_topics(self._topics())
        self._interest_changed()
        msg = self._changes_message(self.change_version - 1)  # encoded once for every worker
        for w in self.workers:
            links.send(self.collect, msg, identity=w.id.encode())

    def _validate_stream_with(
        self, stream: str, output: str, specs: list[Any], others: dict[str, list[Any]]
    ) -> None:
        """Apply the config's stream rules (stage kinds, bank last, bank depth, limits) to the new chain."""
        current = self.config.streams[stream]
        outputs = dict(others)
        outputs[output] = list(specs)
        try:
            cfg.StreamConfig.model_validate(
                {"source": current.source, "outputs": outputs, "publish_raw": current.publish_raw}
            )
        except cfg.ValidationError as exc:
            raise cfg.ConfigError(cfg.format_validation_error(exc, prefix="stages")) from None

    def _topic(self, req: dict[str, Any]) -> tuple[str, str]:
        topic = req.get("topic")
        if not isinstance(topic, str) or topic.count("/") != 1:
            raise ValueError(f"'topic' must be '<stream>/<output>', got {topic!r}")
        stream, output = topic.split("/")
        if stream not in self.outputs:
            raise ValueError(f"unknown stream {stream!r}; expected one of {sorted(self.outputs)}")
        if output in ("raw", "truth"):
            raise ValueError(f"output {output!r} cannot be set (raw and truth are the source's own)")
        cfg.check_output_name(output)
        return stream, output
