"""The worker role: runs the pipeline stages on the inputs the producer hands it.

A worker is stateless for frames (any worker may filter any frame) and holds the state of the
sample streams the producer assigned to it.  It asks for frames by credit (``credit``, at most
``service.video_queue`` in hand), sends every output of one input to the publisher in one
``result`` message carrying the input's ``seq`` and ``t_capture_ns`` unchanged, and beats every
``links.heartbeat_ms`` from a thread of its own, so a long filter never looks like a death.
At start it applies every configured stage to the golden inputs: the hash proves its build
gives the publisher's numbers, and the pass warms every stage before the first real frame.

Sockets: a DEALER on ``links.dispatch`` (work from the producer) and one on ``links.collect``
(results to the publisher, live filter changes from it); the heartbeat thread has its own pair.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, Unpack

import zmq

from streamconv import config as cfg
from streamconv import wire
from streamconv.errors import ConfigError, StreamconvError, WireError
from streamconv.pipeline import StreamPipeline
from streamconv.roles import links, protocol
from streamconv.roles.base import Role, RoleOptions, log_failure
from streamconv.roles.golden import stage_hash
from streamconv.roles.interest import Interest

__all__ = ["Worker"]

log = logging.getLogger(__name__)

_POLL_MS = 50
#: Input header meta copied to every output: the sample period and index, the frame index.
_INPUT_META = ("sample_period_ns", "first_sample", "index")


class Worker(Role):
    """The worker role: ``run()`` until ``stop()``.

    Parameters
    ----------
    config : Config
        The validated config every role of the deployment shares.
    context : zmq.Context, optional
        Needed to share ``inproc://`` links with roles in the same process.
    role_name : str, optional
        The worker's id (default: ``worker-<host>-<pid>-<random>``).
    streams : sequence of str, optional
        Serve only these streams (the producer hands it no other); default: every stream.  It
        still builds and hashes every stage, so its stage hash is the publisher's.

    Raises
    ------
    ConfigError
        When ``streams`` names a stream the config does not have.
    """

    role = "worker"

    def __init__(
        self, config: cfg.Config, *, streams: Sequence[str] | None = None, **options: Unpack[RoleOptions]
    ) -> None:
        super().__init__(config, **options)
        if streams is not None:
            unknown = sorted(set(streams) - set(config.streams))
            if unknown or not streams:
                raise ConfigError(
                    f"worker streams {', '.join(unknown) or '(none)'}: not in the config "
                    f"(it has {', '.join(config.streams) or 'no streams'})"
                )
        self.serves: list[str] | None = None if streams is None else sorted(set(streams))
        self.capacity = config.service.video_queue
        self.secret = links.link_secret(config)
        self.pipelines = {name: StreamPipeline(name, s) for name, s in config.streams.items()}
        t0 = time.perf_counter()
        self.golden = stage_hash(config, live=self.pipelines)  # also warms every stage up
        self.warmup_ms = (time.perf_counter() - t0) * 1e3
        hwm = max(config.service.sensor_queue, 1000)
        self.dispatch = links.connect_dealer(
            self.ctx, self.links.connect_address("dispatch"), identity=self.id, hwm=hwm, secret=self.secret
        )
        self.collect = links.connect_dealer(
            self.ctx, self.links.connect_address("collect"), identity=self.id, hwm=hwm, secret=self.secret
        )
        self.changes: dict[tuple[str, str], list[Any] | None] = {}  # live changes: the newest per output
        self.set_version = 0
        self.producer_epoch: str | None = None
        self.admitted = False
        self.refused: str | None = None
        self.interest = Interest()
        self.processed: dict[str, int] = defaultdict(int)
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._reported: set[tuple[str, str]] = set()
        self._hb = threading.Thread(target=self._beat, name=f"heartbeat-{self.id}", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> None:
        """Filter what the producer sends until :meth:`stop`; then tell the peers and close."""
        log.info(
            "worker %s: ready (stage hash %s, warm-up %.0f ms); waiting for the producer on %s",
            self.id,
            self.golden,
            self.warmup_ms,
            self.links.connect_address("dispatch"),
        )
        self._hb.start()
        try:
            self._loop()
        except BaseException as exc:
            self.error = exc
            log_failure(log, f"worker {self.id} stopped on an error", exc)
            raise
        finally:
            self._hb.join(1.0)
            body = {"role": self.role, "id": self.id}
            links.send(self.dispatch, protocol.encode("stop", body))
            links.send(self.collect, protocol.encode("stop", body))
            self.close()

    def close(self) -> None:
        """Close the sockets (idempotent)."""
        for s in (self.dispatch, self.collect):
            if not s.closed:
                s.close(linger=0)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.dispatch, zmq.POLLIN)
        poller.register(self.collect, zmq.POLLIN)
        while not self._stop.is_set():
            events = dict(poller.poll(_POLL_MS))
            if self.collect in events:
                self._drain(self.collect, self._from_publisher)
            if self.dispatch in events:
                self._drain(self.dispatch, self._from_producer)

    def _drain(self, sock: zmq.Socket, handle: Callable[[protocol.Envelope], None]) -> None:
        for _ in range(1000):  # bounded, so the other socket gets its turn
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                env = protocol.decode(frames)
            except WireError as exc:
                self.counters["_links"]["malformed"] += 1
                log.debug("worker: malformed link message: %s", exc)
                continue
            handle(env)
            if self._stop.is_set():
                return

    # -- from the publisher ------------------------------------------------------------------
    def _from_publisher(self, env: protocol.Envelope) -> None:
        body = env.body
        if env.type == "peers":
            self.interest.replace(p for p in body.get("prefixes", []) if isinstance(p, str))
            self.admitted = bool(body.get("admitted"))
        elif env.type == "set":
            self._apply_changes(body)
        elif env.type == "refused":
            reason = str(body.get("reason"))
            if reason != self.refused:
                log.error("worker %s: the publisher excludes this worker: %s", self.id, reason)
                self.refused = reason

    def _apply_changes(self, body: dict[str, Any]) -> None:
        """Apply the publisher's changes newer than ours (it sends what is newer than ``since``)."""
        version, since, changes = body.get("version"), body.get("since"), body.get("changes")
        if not (isinstance(version, int) and isinstance(since, int) and isinstance(changes, list)):
            return
        if version <= self.set_version or since > self.set_version:
            return  # nothing new, or it skips some we lack: the next heartbeat asks from ours
        fresh = [c for c in changes if isinstance(c, list) and len(c) == 4 and isinstance(c[3], int)
                 and c[3] > self.set_version]
        for stream, output, stages, _ in sorted(fresh, key=lambda c: c[3]):
            try:
                self._apply([stream, output, stages])
            except (StreamconvError, ValueError, KeyError, TypeError) as exc:
                log.error("worker %s: cannot apply the change of %s/%s: %s", self.id, stream, output, exc)
            self.changes[(stream, output)] = stages
        self.set_version = version

    def _apply(self, change: list[Any], pipeline: StreamPipeline | None = None) -> None:
        stream, output, stages = change
        p = pipeline if pipeline is not None else self.pipelines[stream]
        if stages is None:
            p.remove_output(output)
        else:
            p.set_output(output, cfg.parse_stages(stages))

    # -- from the producer -------------------------------------------------------------------
    def _from_producer(self, env: protocol.Envelope) -> None:
        body = env.body
        if env.type == "work":
            self._work(env)
        elif env.type == "welcome":
            epoch = body.get("epoch")
            if isinstance(epoch, str) and epoch != self.producer_epoch:
                log.info("worker %s: producer %s (epoch %s)", self.id, body.get("id"), epoch)
                self.producer_epoch = epoch  # our next heartbeat says so: the producer counts our room
        elif env.type == "reset":
            stream = body.get("stream")
            if stream in self.pipelines and body.get("epoch") == self.producer_epoch:
                self._reset(stream)
        elif env.type == "stop":
            log.info("worker %s: the producer stopped", self.id)
            self.producer_epoch = None

    def _reset(self, stream: str) -> None:
        pipeline = StreamPipeline(stream, self.config.streams[stream])
        for (name, output), stages in self.changes.items():
            if name == stream:
                try:
                    self._apply([name, output, stages], pipeline)
                except (StreamconvError, ValueError, KeyError, TypeError):
                    pass  # reported when it first came
        self.pipelines[stream] = pipeline

    def _work(self, env: protocol.Envelope) -> None:
        body = env.body
        stream = body.get("stream")
        seq = body.get("seq")
        pipeline = self.pipelines.get(stream) if isinstance(stream, str) else None
        messages = env.messages()
        if pipeline is None or not isinstance(seq, int) or not messages:
            self.counters["_links"]["malformed"] += 1
            return
        frames = self.config.streams[stream].items == "frames"
        if body.get("epoch") != self.producer_epoch:
            self.counters[stream]["stale_epoch"] += 1
            return  # a dead producer's input: its credit belongs to that producer too
        try:
            raw = wire.decode(messages[0])
        except WireError as exc:
            self.counters[f"{stream}/raw"]["malformed"] += 1
            log.debug("worker: malformed input on %s: %s", stream, exc)
            if frames:
                self._credit()
            return

        def failed(output: str, exc: ValueError) -> None:
            self._output_failed(f"{stream}/{output}", exc)

        if body.get("history"):  # replayed, already published: it only rebuilds the state
            pipeline.process(raw.array, on_error=failed)
            return
        out: list[Any] = []
        if body.get("state_only"):  # nobody subscribes: keep the state exact, publish nothing
            pipeline.process(raw.array, on_error=failed)
        else:
            wants = self.interest.wants
            stream_cfg = self.config.streams[stream]
            if stream_cfg.publish_raw and wants(raw.topic):
                out.extend(messages[0])  # forwarded as it came (zero copy)
            for extra in messages[1:]:  # e.g. truth: published, not filtered
                out.extend(extra)
            h = raw.header
            meta_in = {k: v for k, v in h.meta.items() if k in _INPUT_META}
            for o in pipeline.process(
                raw.array, on_error=failed, wanted=lambda name: wants(f"{stream}/{name}")
            ):
                topic = f"{stream}/{o.name}"
                meta = dict(o.meta)
                meta.update(meta_in)
                out.extend(
                    wire.encode(
                        topic,
                        o.array,
                        stream=stream,
                        kind=o.kind,
                        epoch=h.epoch,
                        seq=h.seq,
                        t_capture_ns=h.t_capture_ns,
                        meta=meta,
                    )
                )
        res = protocol.encode(
            "result", {"stream": stream, "seq": seq, "epoch": body.get("epoch"), "worker": self.id}, out
        )
        if not links.send(self.collect, res):
            self.counters[stream]["result_send_failed"] += 1
        self.processed[stream] += 1
        if frames:
            self._credit()

    def _credit(self) -> None:
        links.send(
            self.dispatch, protocol.encode("credit", {"id": self.id, "n": 1, "epoch": self.producer_epoch})
        )

    def _output_failed(self, topic: str, exc: ValueError) -> None:
        self.counters[topic]["errors"] += 1
        key = (topic, str(exc))
        if key not in self._reported:  # once per distinct error, not once per frame
            self._reported.add(key)
            log.warning("worker %s: %s: output skipped: %s", self.id, topic, exc)

    # -- heartbeats --------------------------------------------------------------------------
    def _beat(self) -> None:
        """Send a heartbeat to the producer and the publisher every ``heartbeat_ms``, from its own sockets."""
        hwm = 100
        ident = f"{self.id}/hb"
        to_producer = links.connect_dealer(
            self.ctx, self.links.connect_address("dispatch"), identity=ident, hwm=hwm, secret=self.secret
        )
        to_publisher = links.connect_dealer(
            self.ctx, self.links.connect_address("collect"), identity=ident, hwm=hwm, secret=self.secret
        )
        interval = self.links.heartbeat_ms / 1e3
        rates: dict[str, float] = {}
        last_counts: dict[str, int] = {}
        last_t = time.monotonic()
        try:
            while not self._stop.wait(interval):
                now = time.monotonic()
                if now - last_t >= 1.0:
                    counts = dict(self.processed)
                    rates = {s: (n - last_counts.get(s, 0)) / (now - last_t) for s, n in counts.items()}
                    last_counts, last_t = counts, now
                body = {
                    "role": self.role,
                    "id": self.id,
                    "config_hash": self.config_hash,
                    "golden": self.golden,
                    "producer_epoch": self.producer_epoch,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "capacity": self.capacity,
                    "serves": self.serves,
                    "rates": rates,
                    "processed": dict(self.processed),
                    "set_version": self.set_version,
                    "counters": {k: dict(v) for k, v in list(self.counters.items())},
                    "warmup_ms": round(self.warmup_ms, 1),
                }
                msg = protocol.encode("hb", body)
                links.send(to_producer, msg)
                links.send(to_publisher, msg)
        finally:
            to_producer.close(linger=0)
            to_publisher.close(linger=0)
