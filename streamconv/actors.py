"""The daemon's actors: source, worker and publisher threads joined by ZeroMQ sockets."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from streamconv import wire
from streamconv.pipeline import StreamPipeline
from streamconv.sources.base import FrameItem, SampleChunk
from streamconv.sources.synthetic import SyntheticCamera

__all__ = [
    "Counters",
    "FrameSourceActor",
    "PublisherActor",
    "SampleSourceActor",
    "Subscriptions",
    "WorkerActor",
    "publish_endpoint_for",
    "worker_endpoint_for",
]

log = logging.getLogger(__name__)

_POLL_MS = 100  # how often idle actors look at the stop flag
_ZERO_COPY_BYTES = 1 << 16  # payloads from this size on are sent without a copy
IDLE_BATCH_S = 0.2  # batch length of a sample stream nobody subscribes to
#: Input header meta copied to every output: the sample period and index, the frame index.
_INPUT_META = ("sample_period_ns", "first_sample", "index")
#: Header meta flag of an internal message whose samples only update the filters' state.
STATE_ONLY = "state_only"


def worker_endpoint_for(stream: str) -> str:
    """Return the inproc endpoint where ``stream``'s worker pulls raw messages."""
    return f"inproc://streamconv/{stream}/raw"


def publish_endpoint_for() -> str:
    """Return the inproc endpoint where the publisher pulls everything it publishes."""
    return "inproc://streamconv/publish"


class Counters:
    """Thread-safe per-topic counters (drops, malformed) read by the stats."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, topic: str, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name`` of ``topic``."""
        with self._lock:
            self._counts[topic][name] += n

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Return a copy of every counter."""
        with self._lock:
            return {t: dict(c) for t, c in self._counts.items()}


class Subscriptions:
    r"""The topic prefixes somebody subscribes to, as the publisher's XPUB socket reports them.

    Plain XPUB reports a prefix when its first subscriber arrives (``\\x01prefix``) and when its
    last one leaves (``\\x00prefix``), so the set is exactly "what anybody wants".  The publisher
    thread updates it; workers read it (one reference read, no lock).  ``everything=True`` (no
    XPUB, e.g. in tests) wants every topic.
    """

    def __init__(self, *, everything: bool = False) -> None:
        self.everything = everything
        self._prefixes: frozenset[str] = frozenset()
        self._cache: dict[str, bool] = {}
        self._changed = threading.Condition()
        self.version = 0

    def update(self, event: bytes) -> None:
        """Apply one XPUB subscription event."""
        if not event:
            return
        prefix = event[1:].decode("utf-8", errors="replace")
        if event[0] == 1:
            prefixes = self._prefixes | {prefix}
        elif event[0] == 0:
            prefixes = self._prefixes - {prefix}
        else:
            return
        self._prefixes = frozenset(prefixes)
        self._cache = {}
        log.debug("subscriptions now %s", sorted(self._prefixes))
        self.wake_all()

    def wake_all(self) -> None:
        """Wake every :meth:`wait_change` (a subscription changed, or the service stops)."""
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def wait_change(self, version: int, timeout: float) -> None:
        """Sleep up to ``timeout`` s, or until the subscriptions change from ``version``."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)

    def wants_stream(self, stream: str) -> bool:
        """Return True if some subscriber receives any topic of ``stream``."""
        if self.everything:
            return True
        head = f"{stream}/"
        return any(p.startswith(head) or head.startswith(p) for p in self._prefixes)

    def wants(self, topic: str) -> bool:
        """Return True if some subscriber receives ``topic``."""
        if self.everything:
            return True
        cache = self._cache
        hit = cache.get(topic)
        if hit is None:
            hit = any(topic.startswith(p) for p in self._prefixes)
            cache[topic] = hit
        return hit

    @property
    def prefixes(self) -> frozenset[str]:
        """The subscribed prefixes."""
        return self._prefixes


class _Actor(threading.Thread):
    """A thread with a stop flag and a name; subclasses implement ``loop()``."""

    def __init__(self, name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.loop()
        except BaseException as exc:  # an actor never dies silently
            self.error = exc
            log.exception("%s stopped on an error", self.name)

    def loop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


def _nbytes(frame: Any) -> int:
    if isinstance(frame, zmq.Frame):
        return len(frame.buffer)
    return frame.nbytes if isinstance(frame, memoryview) else len(frame)


class _Sender:
    """A PUSH socket with the stream's delivery policy: lossless (blocking) or real-time (drop)."""

    def __init__(
        self, ctx: zmq.Context, endpoint: str, *, hwm: int, lossless: bool, stop: threading.Event,
        counters: Counters,
    ) -> None:
        self.sock = ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.SNDHWM, hwm)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.lossless = lossless
        self.stop = stop
        self.counters = counters

    def send(self, topic: str, frames: list[Any]) -> bool:
        """Send one message; return False if it was dropped (counted against ``topic``)."""
        # Zero copy pays for big payloads; a small one is cheaper to copy than to track.
        copy = _nbytes(frames[-1]) < _ZERO_COPY_BYTES
        try:
            self.sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=copy)
            return True
        except zmq.Again:
            if not self.lossless:
                self.counters.add(topic, "drops")
                return False
        while True:  # lossless: wait for room, but give up when the service stops for good
            if self.sock.poll(_POLL_MS, zmq.POLLOUT):
                self.sock.send_multipart(frames, copy=copy)
                return True
            if self.stop.is_set():
                self.counters.add(topic, "drops")
                return False

    def close(self) -> None:
        self.sock.close(linger=0)


class SampleSourceActor(_Actor):
    """Reads a sample source on its schedule, in batches, and pushes ``raw``/``truth`` messages."""

    def __init__(
        self, stream: str, source: Any, *, ctx: zmq.Context, epoch: str, batch: int,
        max_batch_delay_s: float, stop: threading.Event, counters: Counters, hwm: int,
        subscriptions: Subscriptions | None = None, clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(f"source-{stream}", stop)
        self.stream = stream
        self.source = source
        self.epoch = epoch
        self.subscriptions = subscriptions if subscriptions is not None else Subscriptions(everything=True)
        self.batch = batch
        self.max_delay_ns = int(max_batch_delay_s * 1e9)
        # With nobody subscribed to the stream, samples still flow (the causal windows' state stays
        # exact) but in big batches: any chunking gives the same outputs, at a fraction of the cost.
        self.idle_batch = max(batch, int(source.rate_hz * IDLE_BATCH_S))
        self.idle_delay_ns = max(self.max_delay_ns, int(IDLE_BATCH_S * 1e9))
        self.clock_ns = clock_ns
        self.sender = _Sender(ctx, worker_endpoint_for(stream), hwm=hwm, lossless=True, stop=stop,
                              counters=counters)
        self.seq = 0
        self.produced = 0

    def loop(self) -> None:
        """Emit every sample whose capture time has come, a batch at a time."""
        period_ns = round(1e9 / self.source.rate_hz)
        t0 = self.clock_ns()
        subs = self.subscriptions
        idle = False
        try:
            while not self.stop_event.is_set():
                version = subs.version
                active = subs.wants_stream(self.stream)
                if active:
                    batch, max_delay_ns = self.batch, self.max_delay_ns
                else:
                    batch, max_delay_ns = self.idle_batch, self.idle_delay_ns
                cap = batch * 64  # catch up after a stall in bounded steps
                now = self.clock_ns()
                due = (now - t0) // period_ns + 1  # samples whose capture time has come
                pending = due - self.produced
                oldest_wait = now - (t0 + self.produced * period_ns)
                if active and idle and pending > 1:
                    # A subscriber arrived during an idle batch: the samples captured before it
                    # only update the filters' state (nobody subscribed to them); from the next
                    # sample on, everything is published on time.
                    n = int(pending - 1)
                    self._emit(n, t0 + self.produced * period_ns, period_ns, n, state_only=True)
                    idle = False
                    continue
                idle = not active
                if pending >= batch or (pending > 0 and oldest_wait >= max_delay_ns):
                    n = int(min(pending, cap)) if pending >= batch else int(pending)
                    n = (n // batch) * batch or n
                    t_first = t0 + self.produced * period_ns
                    self._emit(n, t_first, period_ns, batch, state_only=not active)
                    continue
                # sleep until the batch is complete or the oldest sample has waited long enough
                # (or a subscription changes, which may change the batching)
                t_full = t0 + (self.produced + batch - 1) * period_ns
                t_flush = t0 + self.produced * period_ns + max_delay_ns
                wake = min(t_full, t_flush) if pending > 0 else t_full
                subs.wait_change(version, max(0.0, (wake - self.clock_ns()) / 1e9))
        finally:
            self.sender.close()
            self.source.close()

    def _emit(
        self, n: int, t_first_ns: int, period_ns: int, batch: int, *, state_only: bool = False
    ) -> None:
        for start in range(0, n, batch):
            k = min(batch, n - start)
            chunk: SampleChunk = self.source.read(k, t_first_ns + start * period_ns)
            meta: dict[str, Any] = {"sample_period_ns": int(chunk.period_ns), "first_sample": self.produced}
            if state_only:
                meta[STATE_ONLY] = True
            wants = self.subscriptions.wants
            for output, values in (("raw", chunk.values), ("truth", chunk.truth)):
                topic = f"{self.stream}/{output}"
                # raw always goes to the worker (the filters need it); truth only when wanted
                if values is None or (output != "raw" and (state_only or not wants(topic))):
                    continue
                frames = wire.encode(
                    topic, np.ascontiguousarray(values, dtype=np.float64), stream=self.stream,
                    kind="samples", epoch=self.epoch, seq=self.seq, t_capture_ns=int(chunk.t_capture_ns),
                    meta=meta,
                )
                self.sender.send(topic, frames)
            self.seq += 1
            self.produced += k


class FrameSourceActor(_Actor):
    """Reads a frame source at its fps (or unthrottled) and pushes ``raw`` frame messages."""

    def __init__(
        self, stream: str, source: Any, *, ctx: zmq.Context, epoch: str, stop: threading.Event,
        counters: Counters, hwm: int, needed: Callable[[], bool] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(f"source-{stream}", stop)
        self.stream = stream
        self.source = source
        #: False while no subscriber and no stateful chain needs this stream's frames.
        self.needed = needed if needed is not None else (lambda: True)
        # a generated pattern is not even drawn then; a real camera is still read (its buffer
        # must not go stale) but its frames are not sent
        self.skip_read = isinstance(source, SyntheticCamera)
        self.epoch = epoch
        self.clock_ns = clock_ns
        self.topic = f"{stream}/raw"
        # Real time: a frame that finds the worker busy is dropped (counted), never queued up.
        # Unthrottled sources (fps 0) instead wait for the worker: backpressure sets their pace.
        self.sender = _Sender(ctx, worker_endpoint_for(stream), hwm=hwm,
                              lossless=not (source.fps and source.fps > 0), stop=stop, counters=counters)
        self.seq = 0
        self.ended = threading.Event()

    def loop(self) -> None:
        """Read a frame per interval (or as fast as the worker takes them) and push it."""
        fps = float(self.source.fps or 0.0)
        interval_ns = int(1e9 / fps) if fps > 0 else 0
        next_t = self.clock_ns()
        try:
            while not self.stop_event.is_set():
                if interval_ns:
                    wait_ns = next_t - self.clock_ns()
                    if wait_ns > 0 and self.stop_event.wait(wait_ns / 1e9):
                        break
                    next_t += interval_ns
                    now = self.clock_ns()
                    if now - next_t > interval_ns:  # fell behind: skip, do not burst
                        next_t = now + interval_ns
                needed = self.needed()
                if not needed and self.skip_read:
                    if not interval_ns:  # unthrottled: nothing paces the loop, so rest a little
                        self.stop_event.wait(0.05)
                    continue
                item: FrameItem | None = self.source.read(self.clock_ns())
                if item is None:
                    if getattr(self.source, "exhausted", False):
                        log.info("stream %s: source ended", self.stream)
                        self.ended.set()
                        return
                    self.stop_event.wait(0.02 if not interval_ns else min(0.05, interval_ns / 1e9))
                    continue
                if not needed:
                    continue
                frames = wire.encode(
                    self.topic, item.image, stream=self.stream, kind="frame", epoch=self.epoch,
                    seq=self.seq, t_capture_ns=int(item.t_capture_ns), meta={"index": int(item.index)},
                )
                self.sender.send(self.topic, frames)
                self.seq += 1
        finally:
            self.sender.close()
            self.source.close()


class WorkerActor(_Actor):
    """Applies a stream's pipeline to each raw message and pushes raw + outputs to the publisher."""

    def __init__(
        self, pipeline: StreamPipeline, *, ctx: zmq.Context, epoch: str, stop: threading.Event,
        drain: threading.Event, counters: Counters, in_hwm: int, out_hwm: int, lossless: bool,
        subscriptions: Subscriptions, publish_raw: bool = True,
    ) -> None:
        super().__init__(f"worker-{pipeline.name}", stop)
        self.subscriptions = subscriptions
        self.pipeline = pipeline
        self.stream = pipeline.name
        self.epoch = epoch
        self.counters = counters
        self.drain = drain
        self.publish_raw = publish_raw
        self.pull = ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.RCVHWM, in_hwm)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.bind(worker_endpoint_for(self.stream))
        self.sender = _Sender(ctx, publish_endpoint_for(), hwm=out_hwm, lossless=lossless, stop=drain,
                              counters=counters)
        self.processed = 0
        self._reported: set[tuple[str, str]] = set()

    def loop(self) -> None:
        """Filter raw messages until stopped and the queue is empty."""
        try:
            while True:
                if not self.pull.poll(_POLL_MS // 2 if self.stop_event.is_set() else _POLL_MS):
                    if self.stop_event.is_set():
                        return  # sources stopped and the queue is empty: drained
                    continue
                while True:  # everything already queued, before polling again
                    try:
                        frames = self.pull.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    try:
                        msg = wire.decode(frames)
                    except wire.WireError as exc:
                        self.counters.add(f"{self.stream}/raw", "malformed")
                        log.debug("worker %s dropped a malformed message: %s", self.stream, exc)
                        continue
                    self._handle(msg, frames)
        finally:
            self.pull.close(linger=0)
            self.sender.close()

    def _handle(self, msg: wire.Message, frames: list[Any]) -> None:
        topic = msg.topic
        if msg.header.meta.get(STATE_ONLY):  # samples nobody subscribed to: keep the state exact
            self.pipeline.process(msg.array, on_error=self._output_failed)
            return
        if (self.publish_raw or not topic.endswith("/raw")) and self.subscriptions.wants(topic):
            # forwarded as it is (zero copy), only when somebody wants it: the publisher numbers
            # what it publishes, so a topic nobody received has no gap to show
            self.sender.send(topic, frames)
        if not topic.endswith("/raw"):
            return  # e.g. truth: published, not filtered
        h = msg.header
        for out in self.pipeline.process(msg.array, on_error=self._output_failed, wanted=self._wanted):
            meta = dict(out.meta)
            if h.meta:
                meta.update({k: v for k, v in h.meta.items() if k in _INPUT_META})
            out_topic = f"{self.stream}/{out.name}"
            self.sender.send(out_topic, wire.encode(
                out_topic, out.array, stream=self.stream, kind=out.kind, epoch=self.epoch, seq=h.seq,
                t_capture_ns=h.t_capture_ns, meta=meta,
            ))
        self.processed += 1

    def _wanted(self, output: str) -> bool:
        return self.subscriptions.wants(f"{self.stream}/{output}")

    def _output_failed(self, output: str, exc: ValueError) -> None:
        topic = f"{self.stream}/{output}"
        self.counters.add(topic, "errors")
        key = (output, str(exc))
        if key not in self._reported:  # once per distinct error, not once per frame
            self._reported.add(key)
            log.warning("%s: output skipped: %s", topic, exc)


class _TopicStats:
    __slots__ = ("count", "latencies_ns", "window_count")

    def __init__(self) -> None:
        self.count = 0
        self.window_count = 0
        self.latencies_ns: deque[int] = deque(maxlen=100_000)


class PublisherActor(_Actor):
    """Owns the PUB socket: stamps per-topic ``seq`` and ``t_publish_ns``, publishes ``_stats``."""

    def __init__(
        self, pub: Any, *, ctx: zmq.Context, epoch: str, stop: threading.Event, counters: Counters,
        stats_interval_s: float, in_hwm: int, subscriptions: Subscriptions,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__("publisher", stop)
        self.pub = pub
        self.epoch = epoch
        self.counters = counters
        self.stats_interval_ns = int(stats_interval_s * 1e9)
        self.clock_ns = clock_ns
        self.pull = ctx.socket(zmq.PULL)
        self.pull.setsockopt(zmq.RCVHWM, in_hwm)
        self.pull.setsockopt(zmq.LINGER, 0)
        self.pull.bind(publish_endpoint_for())
        self._seq: dict[str, int] = defaultdict(int)
        self._stats: dict[str, _TopicStats] = defaultdict(_TopicStats)
        self._lock = threading.Lock()
        self.last_stats: dict[str, Any] = {}
        self.started_ns = clock_ns()
        self.published = 0
        self.subscriptions = subscriptions
        self.pub_socket = pub.socket
        self.poller = zmq.Poller()
        self.poller.register(self.pull, zmq.POLLIN)
        if pub.socket.type == zmq.XPUB:
            self.poller.register(self.pub_socket, zmq.POLLIN)

    def _read_subscriptions(self) -> None:
        while True:
            try:
                event = self.pub_socket.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self.subscriptions.update(event)

    def loop(self) -> None:
        """Publish what the workers send and ``_stats`` every interval, until drained."""
        next_stats = self.clock_ns() + self.stats_interval_ns
        window_start = self.clock_ns()
        try:
            while True:
                now = self.clock_ns()
                if now >= next_stats:
                    self._publish_stats(now, now - window_start)
                    window_start = now
                    next_stats = now + self.stats_interval_ns
                timeout = max(1, min(_POLL_MS, (next_stats - now) // 1_000_000))
                events = dict(self.poller.poll(timeout))
                if self.pub_socket in events:
                    self._read_subscriptions()
                if self.pull not in events:
                    if self.stop_event.is_set():
                        return
                    continue
                # publish everything that is queued before looking at the clock again
                while True:
                    try:
                        frames = self.pull.recv_multipart(flags=zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    self._publish(frames)
        finally:
            self.pull.close(linger=0)

    def _publish(self, frames: list[Any]) -> None:
        topic = bytes(frames[0].buffer).decode("utf-8")
        header = json.loads(bytes(frames[1].buffer))
        seq = self._seq[topic]
        self._seq[topic] = seq + 1
        t_pub = self.clock_ns()
        header["seq"] = seq
        header["t_publish_ns"] = t_pub
        payload = frames[2]
        self.pub.send([frames[0], json.dumps(header, separators=(",", ":")).encode(), payload],
                      copy=_nbytes(payload) < _ZERO_COPY_BYTES)
        with self._lock:
            st = self._stats[topic]
            st.count += 1
            st.window_count += 1
            st.latencies_ns.append(t_pub - int(header["t_capture_ns"]))
        self.published += 1

    def _publish_stats(self, now: int, window_ns: int) -> None:
        stats = self.snapshot(window_ns, reset_window=True)
        self.last_stats = stats
        frames = wire.encode_stats(stats, epoch=self.epoch, seq=self._seq["_stats"], t_ns=now)
        self._seq["_stats"] += 1
        self.pub.send(frames)

    def snapshot(self, window_ns: int, *, reset_window: bool) -> dict[str, Any]:
        """Per-topic rate, latency p50/p99 (capture to publish), drops and malformed counts."""
        counters = self.counters.snapshot()
        topics: dict[str, Any] = {}
        with self._lock:
            names = set(self._stats) | set(counters)
            for topic in sorted(names):
                st = self._stats.get(topic)
                lat = np.fromiter(st.latencies_ns, dtype=np.int64) if st else np.empty(0, np.int64)
                c = counters.get(topic, {})
                topics[topic] = {
                    "count": st.count if st else 0,
                    "rate_hz": (st.window_count / (window_ns / 1e9)) if st and window_ns > 0 else 0.0,
                    "latency_p50_ms": float(np.percentile(lat, 50) / 1e6) if lat.size else None,
                    "latency_p99_ms": float(np.percentile(lat, 99) / 1e6) if lat.size else None,
                    "drops": int(c.get("drops", 0)),
                    "malformed": int(c.get("malformed", 0)),
                    "errors": int(c.get("errors", 0)),
                }
                if st and reset_window:
                    st.window_count = 0
                    st.latencies_ns.clear()
        return {
            "uptime_s": (self.clock_ns() - self.started_ns) / 1e9,
            "epoch": self.epoch,
            "topics": topics,
            "malformed": sum(t["malformed"] for t in topics.values()),
            "drops": sum(t["drops"] for t in topics.values()),
        }
