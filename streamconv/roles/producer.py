"""The producer role: owns the sources, numbers every input, and hands inputs to workers.

The producer runs where the camera or sensor is.  It is the one place ``seq`` is decided: each
chunk of samples and each dispatched frame of a stream gets the next number of the producer's
epoch, and every output carries it unchanged.

- **Frames go by credit.**  A worker says how many frames it has room for (``credit``); a
  frame goes only to a worker with credit, never queued blindly for a peer that may have died.
  Each frame stays in flight until the publisher acknowledges it; if its worker dies it is sent
  to another worker, or, past half the reorder deadline, reported ``lost`` (the video lane's
  real-time rule).  A frame that finds no credit before the next one is captured is replaced
  by it (counted as ``busy``): the lane never builds a backlog.  While another worker can
  take frames, a sample stream's owner gets none, so samples never wait behind a slow frame.
- **Sample streams are partitioned by stream**: one worker owns a stream and gets all of its
  chunks.  The replay ring keeps every unacknowledged chunk and the published history behind
  them; when the owner dies, the next owner is told to ``reset`` and gets the history as state
  only, then the unacknowledged chunks again, so every output value is what it would have been.

Sockets: a ROUTER bound on ``links.dispatch`` (workers), a DEALER connected to
``links.collect`` (the publisher) and an inproc PULL that frame reader threads wake it with.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Unpack

import numpy as np
import zmq

from streamconv import auth, wire
from streamconv import config as cfg
from streamconv.errors import WireError
from streamconv.roles import links, protocol
from streamconv.roles.base import Role, RoleOptions, log_failure
from streamconv.roles.interest import Interest
from streamconv.roles.peers import Peers
from streamconv.roles.ring import ReplayRing
from streamconv.sources.factory import make_source

__all__ = ["Producer"]

log = logging.getLogger(__name__)

IDLE_BATCH_S = 0.2  # batch length of a sample stream nobody subscribes to
#: Published samples kept per stream for a successor's state: covers any causal window allowed.
MIN_HISTORY = 4096
_POLL_MS = 50


def _serves(hb: dict[str, Any], stream: str) -> bool:
    """Whether a worker whose heartbeat is ``hb`` takes ``stream`` (no ``serves`` list: every stream)."""
    serves = hb.get("serves")
    return not isinstance(serves, list) or stream in serves


def _history(stream: cfg.StreamConfig) -> int:
    need = 0
    for chain in stream.outputs.values():
        need = max(need, sum(len(s.weights) - 1 for s in chain if hasattr(s, "weights")))
    return max(need, MIN_HISTORY)


class _SampleLane:
    """One sample stream: its source on its schedule, its replay ring and its owner."""

    def __init__(
        self, name: str, stream: cfg.StreamConfig, source: Any, *, t0: int, max_samples: int
    ) -> None:
        self.name = name
        self.source = source
        src = stream.source
        self.batch = int(getattr(src, "batch", 1))
        self.max_delay_ns = int(getattr(src, "max_batch_delay_ms", 50.0) * 1e6)
        self.idle_batch = max(self.batch, int(source.rate_hz * IDLE_BATCH_S))
        self.idle_delay_ns = max(self.max_delay_ns, int(IDLE_BATCH_S * 1e9))
        self.period_ns = round(1e9 / source.rate_hz)
        self.t0 = t0
        self.produced = 0  # samples whose capture time was scheduled
        self.emitted = 0  # samples read into chunks (the next chunk's first_sample)
        self.seq = 0
        self.idle = False
        self.ring = ReplayRing(history=_history(stream), max_samples=max_samples)
        self.owner: str | None = None

    def _batching(self, active: bool) -> tuple[int, int]:
        """Return samples per chunk and the longest wait (ns): small and prompt while subscribed."""
        return (self.batch, self.max_delay_ns) if active else (self.idle_batch, self.idle_delay_ns)

    def due(self, now: int, active: bool) -> list[tuple[int, int, int, bool]]:
        """Return ``(n, t_first_ns, batch, state_only)`` runs of samples whose capture time has come."""
        out = []
        batch, max_delay = self._batching(active)
        for _ in range(64):  # bounded: catch up after a stall in steps
            due = (now - self.t0) // self.period_ns + 1
            pending = due - self.produced
            t_first = self.t0 + self.produced * self.period_ns
            oldest_wait = now - t_first
            if active and self.idle and pending > 1:
                # A subscriber arrived during an idle batch: the samples captured before it only
                # update the state; from the next sample on, everything is published on time.
                n = int(pending - 1)
                out.append((n, t_first, n, True))
                self.produced += n
                self.idle = False
                continue
            self.idle = not active
            if pending >= batch or (pending > 0 and oldest_wait >= max_delay):
                n = int(min(pending, batch * 64)) if pending >= batch else int(pending)
                n = (n // batch) * batch or n
                out.append((n, t_first, batch, not active))
                self.produced += n
                continue
            break
        return out

    def next_wake(self, active: bool) -> int:
        """When the next batch is complete or the oldest pending sample has waited long enough (ns)."""
        batch, max_delay = self._batching(active)
        t_full = self.t0 + (self.produced + batch - 1) * self.period_ns
        t_flush = self.t0 + self.produced * self.period_ns + max_delay
        return min(t_full, t_flush)


class _FrameLane:
    """One frame stream: a reader thread fills a one-frame slot, the producer takes it by credit."""

    def __init__(self, name: str, stream: cfg.StreamConfig, source: Any, *, stateful: bool) -> None:
        self.name = name
        self.source = source
        self.topic = f"{name}/raw"
        fps = getattr(source, "fps", None)
        self.unthrottled = not (fps and fps > 0)
        self.stateful = stateful
        self.needed = stateful
        self.lock = threading.Lock()
        self.slot: Any = None
        self.replaced = 0  # frames replaced in the slot before a worker took them
        self.taken = threading.Event()
        self.ended = False
        self.seq = 0
        self.in_flight: dict[int, tuple[str, list[Any], int]] = {}  # seq -> (worker, message, sent ns)

    def offer(self, item: Any) -> None:
        with self.lock:
            if self.slot is not None:
                self.replaced += 1
            self.slot = item
            self.taken.clear()

    def take(self) -> Any:
        with self.lock:
            item, self.slot = self.slot, None
        if item is not None:
            self.taken.set()
        return item


class _FrameReader(threading.Thread):
    """Reads one frame source at its fps (or as fast as frames are taken) into its lane's slot."""

    def __init__(
        self,
        lane: _FrameLane,
        ctx: zmq.Context,
        wake: str,
        stop: threading.Event,
        clock_ns: Callable[[], int],
    ) -> None:
        super().__init__(name=f"reader-{lane.name}", daemon=True)
        self.lane = lane
        self.stop_event = stop
        self.clock_ns = clock_ns
        self.sock = ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 4)
        self.sock.connect(wake)
        from streamconv.sources.synthetic import SyntheticCamera

        # a generated pattern is not even drawn while nobody needs it; a real camera is still
        # read (its buffer must not go stale) but its frames are not offered
        self.skip_read = isinstance(lane.source, SyntheticCamera)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a reader never dies silently
            self.error = exc
            log_failure(log, f"frame reader {self.lane.name} stopped on an error", exc)
        finally:
            self.sock.close(linger=0)

    def _loop(self) -> None:
        lane, stop = self.lane, self.stop_event
        fps = float(lane.source.fps or 0.0)
        interval_ns = int(1e9 / fps) if fps > 0 else 0
        next_t = self.clock_ns()
        while not stop.is_set():
            if interval_ns:
                wait_ns = next_t - self.clock_ns()
                if wait_ns > 0 and stop.wait(wait_ns / 1e9):
                    break
                next_t += interval_ns
                now = self.clock_ns()
                if now - next_t > interval_ns:  # fell behind: skip, do not burst
                    next_t = now + interval_ns
            needed = lane.needed
            if not needed and self.skip_read:
                if not interval_ns:
                    stop.wait(0.05)
                continue
            item = lane.source.read(self.clock_ns())
            if item is None:
                if getattr(lane.source, "exhausted", False):
                    log.info("stream %s: source ended", lane.name)
                    lane.ended = True
                    return
                stop.wait(0.02 if not interval_ns else min(0.05, interval_ns / 1e9))
                continue
            if not needed:
                continue
            lane.offer(item)
            try:
                self.sock.send(b"", flags=zmq.NOBLOCK)
            except zmq.Again:
                pass  # the producer has wake-ups queued already
            if not interval_ns:  # unthrottled: the workers' pace is the source's pace
                while not stop.is_set() and not lane.taken.wait(0.05):
                    pass


class Producer(Role):
    """The producer role: ``run()`` until ``stop()``; sockets bound at construction.

    Parameters
    ----------
    config : Config
        The validated config every role of the deployment shares.
    context : zmq.Context, optional
        Needed to share ``inproc://`` links with roles in the same process.
    clock_ns : callable
        Unix time in ns (capture times).

    Raises
    ------
    EndpointInUseError
        When ``links.dispatch`` is taken.
    """

    role = "producer"

    def __init__(self, config: cfg.Config, **options: Unpack[RoleOptions]) -> None:
        super().__init__(config, **options)
        self.epoch = wire.new_epoch()
        self._readers_stop = threading.Event()
        secret = links.link_secret(config)
        hwm = max(config.service.sensor_queue, 1000)
        # With CurveZMQ on the dispatch link, its gate admits the roles' own key only.
        self.gate = links.link_gate(self.ctx, secret, self.links.bind_address("dispatch"))
        try:
            self.dispatch = links.bind_router(
                self.ctx, self.links.bind_address("dispatch"), what="links.dispatch", hwm=hwm, secret=secret
            )
        except BaseException:
            self._release_gate()
            raise
        self.collect = links.connect_dealer(
            self.ctx, self.links.connect_address("collect"), identity=self.id, hwm=hwm, secret=secret
        )
        self.wake_endpoint = f"inproc://streamconv-wake-{self.id}"
        self.wake = self.ctx.socket(zmq.PULL)
        self.wake.setsockopt(zmq.LINGER, 0)
        self.wake.bind(self.wake_endpoint)
        self.workers = Peers(dead_after_ns=self.dead_after_ns)
        self.credits: dict[str, int] = defaultdict(int)
        self.synced: set[str] = set()  # workers whose credits are counted from their capacity
        self.welcomed: dict[str, int] = {}  # worker -> when we last sent it our epoch
        self.admitted: frozenset[str] = frozenset()
        self.interest = Interest()
        self.publisher_ns: int | None = None
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.sample_lanes: dict[str, _SampleLane] = {}
        self.frame_lanes: dict[str, _FrameLane] = {}
        self.readers: list[_FrameReader] = []
        self._rr = 0
        from streamconv.pipeline import StreamPipeline

        t0 = self.clock_ns()
        for name, stream in config.streams.items():
            source = make_source(stream.source)
            if stream.items == "samples":
                self.sample_lanes[name] = _SampleLane(
                    name, stream, source, t0=t0, max_samples=self.links.replay_samples
                )
            else:
                stateful = StreamPipeline(name, stream).stateful
                self.frame_lanes[name] = _FrameLane(name, stream, source, stateful=stateful)

    # -- lifecycle ---------------------------------------------------------------------------
    def run(self) -> None:
        """Read the sources and dispatch until :meth:`stop`; then tell the peers and close."""
        for lane in self.frame_lanes.values():
            reader = _FrameReader(lane, self.ctx, self.wake_endpoint, self._readers_stop, self.clock_ns)
            self.readers.append(reader)
            reader.start()
        try:
            self._loop()
        except BaseException as exc:
            self.error = exc
            log_failure(log, "producer stopped on an error", exc)
            raise
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        self._readers_stop.set()
        for r in self.readers:
            r.join(0.5)
        body = {"role": self.role, "id": self.id, "epoch": self.epoch}
        links.send(self.collect, protocol.encode("stop", body))
        for w in self.workers:
            links.send(self.dispatch, protocol.encode("stop", body), identity=w.id.encode())
        for lane in [*self.sample_lanes.values(), *self.frame_lanes.values()]:
            try:
                lane.source.close()
            except Exception:
                log.exception("closing the source of %s", lane.name)
        self.close()

    def close(self) -> None:
        """Close the sockets and give back the ZAP gate (idempotent)."""
        for s in (self.dispatch, self.collect, self.wake):
            if not s.closed:
                s.close(linger=0)
        self._release_gate()

    def _release_gate(self) -> None:
        if self.gate is not None:
            auth.release(self.gate)
            self.gate = None

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.dispatch, zmq.POLLIN)
        poller.register(self.collect, zmq.POLLIN)
        poller.register(self.wake, zmq.POLLIN)
        next_hb = 0
        waiting_logged = False
        while not self._stop.is_set():
            now = self.clock_ns()
            wake = next_hb
            for lane in self.sample_lanes.values():
                wake = min(wake, lane.next_wake(self._active(lane.name)))
            timeout = max(0, min(_POLL_MS, (wake - now) // 1_000_000 + 1))
            events = dict(poller.poll(timeout))
            now = self.clock_ns()
            if self.dispatch in events:
                self._read_dispatch(now)
            if self.collect in events:
                self._read_collect(now)
            if self.wake in events:
                while True:
                    try:
                        self.wake.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            for dead in self.workers.expire(now=now):
                self._worker_gone(dead, "worker_died", now)
            if self.publisher_ns is not None and now - self.publisher_ns > self.dead_after_ns:
                log.warning("producer: the publisher fell silent; holding samples, dropping frames")
                self.publisher_ns = None
                self.admitted = frozenset()
            self._samples(now)
            self._frames(now)
            if now >= next_hb:
                self._heartbeat(now)
                next_hb = now + self.heartbeat_ns
                eligible = self._eligible()
                if not eligible and not waiting_logged:
                    log.info(
                        "producer %s: waiting for %s (dispatch %s, collect %s)",
                        self.id,
                        "a worker" if self.publisher_ns is not None else "the publisher and a worker",
                        self.links.bind_address("dispatch"),
                        self.links.connect_address("collect"),
                    )
                    waiting_logged = True
                elif eligible and waiting_logged:
                    log.info("producer %s: dispatching to %d worker(s)", self.id, len(eligible))
                    waiting_logged = False
            for r in self.readers:
                if r.error is not None:
                    raise RuntimeError(f"frame reader {r.lane.name} failed: {r.error}") from r.error

    def _active(self, stream: str) -> bool:
        return self.interest.wants_stream(stream)

    def _eligible(self, stream: str | None = None) -> list[str]:
        """Workers the publisher admitted, alive here, that know our epoch (and serve ``stream``)."""
        return [
            w.id for w in self.workers
            if w.id in self.admitted and w.info.get("producer_epoch") == self.epoch
            and (stream is None or _serves(w.info, stream))
        ]

    # -- receiving ---------------------------------------------------------------------------
    def _read_dispatch(self, now: int) -> None:
        for _ in range(10_000):
            try:
                frames = self.dispatch.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                env = protocol.decode(frames[1:])
            except WireError as exc:
                self.counters["_links"]["malformed"] += 1
                log.debug("producer: malformed message on dispatch: %s", exc)
                continue
            body = env.body
            wid = body.get("id")
            sender = frames[0].bytes.decode("utf-8", errors="replace")
            # a worker speaks for itself only: its main socket is its id, its heartbeat socket id/hb
            if not isinstance(wid, str) or sender not in (wid, f"{wid}/hb"):
                self.counters["_links"]["malformed"] += 1
                continue
            if env.type == "hb":
                if self.workers.heard(wid, body, now=now):
                    log.info("producer: worker %s connected", wid)
                if body.get("producer_epoch") == self.epoch:
                    if wid not in self.synced:
                        self._sync_credits(wid, body)
                elif now - self.welcomed.get(wid, 0) > self.heartbeat_ns:
                    self.welcomed[wid] = now
                    links.send(
                        self.dispatch,
                        protocol.encode("welcome", {"epoch": self.epoch, "id": self.id}),
                        identity=wid.encode(),
                    )
            elif env.type == "credit":
                if body.get("epoch") == self.epoch and isinstance(body.get("n"), int):
                    self.credits[wid] += body["n"]
            elif env.type == "stop":
                if wid in self.workers:
                    log.info("producer: worker %s stopped", wid)
                    self.workers.remove(wid)
                    self._worker_gone(wid, "worker_stopped", now)

    def _sync_credits(self, wid: str, hb: dict[str, Any]) -> None:
        """Count a worker's credits from what it said it holds and what we sent it.

        Once a worker's heartbeat shows our epoch (new, back after a silence, or a new producer),
        its room is its capacity less the frames in flight to it; each finished frame returns one
        credit.  Derived here rather than announced by the worker, so a repeated welcome or a
        worker that fell silent and came back can neither lose credits nor count them twice.
        """
        capacity = hb.get("capacity")
        if not isinstance(capacity, int) or capacity < 0:
            return
        held = sum(1 for lane in self.frame_lanes.values() for w, _, _ in lane.in_flight.values() if w == wid)
        self.credits[wid] = max(0, capacity - held)
        self.synced.add(wid)

    def _read_collect(self, now: int) -> None:
        for _ in range(10_000):
            try:
                frames = self.collect.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                env = protocol.decode(frames)
            except WireError as exc:
                self.counters["_links"]["malformed"] += 1
                log.debug("producer: malformed message on collect: %s", exc)
                continue
            body = env.body
            if env.type == "peers":
                if self.publisher_ns is None:
                    log.info("producer: publisher %s connected", body.get("id"))
                self.publisher_ns = now
                admitted = frozenset(w for w in body.get("admitted", []) if isinstance(w, str))
                self.admitted = admitted
                prefixes = [p for p in body.get("prefixes", []) if isinstance(p, str)]
                if self.interest.replace(prefixes):
                    for lane in self.frame_lanes.values():
                        lane.needed = lane.stateful or self.interest.wants_stream(lane.name)
            elif env.type == "ack":
                for stream, upto in body.get("upto", {}).items():
                    if isinstance(upto, int):
                        self._acked(stream, upto)
            elif env.type == "refused":
                log.error("producer: the publisher refuses this producer: %s", body.get("reason"))
            elif env.type == "stop":
                log.info("producer: the publisher stopped")
                self.publisher_ns = None
                self.admitted = frozenset()

    def _acked(self, stream: str, upto: int) -> None:
        lane = self.sample_lanes.get(stream)
        if lane is not None:
            lane.ring.ack(upto)
            return
        flane = self.frame_lanes.get(stream)
        if flane is not None:
            for seq in [s for s in flane.in_flight if s <= upto]:
                del flane.in_flight[seq]

    # -- failures ----------------------------------------------------------------------------
    def _worker_gone(self, wid: str, reason: str, now: int) -> None:
        self.credits.pop(wid, None)
        self.synced.discard(wid)
        self.welcomed.pop(wid, None)
        if reason == "worker_died":
            log.warning("producer: worker %s silent for %.0f ms: dead", wid, self.dead_after_ns / 1e6)
        for lane in self.sample_lanes.values():
            if lane.owner == wid:
                lane.owner = None  # the next _samples() hands the stream over, with its state
        deadline_ns = int(self.links.frame_deadline_ms * 1e6) // 2
        for lane in self.frame_lanes.values():
            orphans = sorted(s for s, (w, _, _) in lane.in_flight.items() if w == wid)
            lost = []
            for seq in orphans:
                _, msg, sent = lane.in_flight.pop(seq)
                target = self._pick_frame_worker(lane.name)
                if (
                    target is not None
                    and now - sent < deadline_ns
                    and links.send(self.dispatch, msg, identity=target.encode())
                ):
                    self.credits[target] -= 1
                    lane.in_flight[seq] = (target, msg, now)
                    self.counters[lane.name]["resent"] += 1
                else:
                    lost.append(seq)
            if lost:
                self.counters[lane.name][reason] += len(lost)
                links.send(
                    self.collect,
                    protocol.encode("lost", {"stream": lane.name, "seqs": lost, "reason": reason}),
                )

    # -- samples -----------------------------------------------------------------------------
    def _samples(self, now: int) -> None:
        for lane in self.sample_lanes.values():
            active = self._active(lane.name)
            for n, t_first, batch, state_only in lane.due(now, active):
                for start in range(0, n, batch):
                    if getattr(lane.source, "exhausted", False):  # a finite source (a replay) ended
                        break
                    k = min(batch, n - start)
                    self._emit_chunk(lane, k, t_first + start * lane.period_ns, state_only)
            if lane.owner is not None and lane.owner not in self.workers:
                lane.owner = None
            if lane.owner is None:
                eligible = self._eligible(lane.name)
                if eligible:
                    self._assign(lane, eligible)

    def _emit_chunk(self, lane: _SampleLane, k: int, t_first: int, state_only: bool) -> None:
        chunk = lane.source.read(k, t_first)
        seq = lane.seq
        lane.seq += 1
        first_sample = lane.emitted
        lane.emitted += k
        meta: dict[str, Any] = {"sample_period_ns": int(chunk.period_ns), "first_sample": first_sample}
        header = {"stream": lane.name, "kind": "samples", "epoch": self.epoch, "seq": seq,
                  "t_capture_ns": int(chunk.t_capture_ns), "meta": meta}
        raw = np.ascontiguousarray(chunk.values, np.float64)
        wire_frames = wire.encode(f"{lane.name}/raw", raw, **header)
        if chunk.truth is not None and not state_only and self.interest.wants(f"{lane.name}/truth"):
            truth = np.ascontiguousarray(chunk.truth, np.float64)
            wire_frames += wire.encode(f"{lane.name}/truth", truth, **header)
        body = {"stream": lane.name, "seq": seq, "epoch": self.epoch, "state_only": state_only}
        msg = protocol.encode("work", body, wire_frames)
        dropped = lane.ring.append(seq, k, (body, wire_frames[:3], msg))
        if dropped:
            seqs = [e.seq for e in dropped]
            self.counters[lane.name]["ring_overflow"] += len(seqs)
            log.warning("producer: %s replay ring full: %d chunks lost", lane.name, len(seqs))
            links.send(
                self.collect,
                protocol.encode("lost", {"stream": lane.name, "seqs": seqs, "reason": "ring_overflow"}),
            )
        if lane.owner is not None and not links.send(self.dispatch, msg, identity=lane.owner.encode()):
            log.warning(
                "producer: cannot reach %s, the owner of %s: handing the stream over", lane.owner, lane.name
            )
            lane.owner = None

    def _assign(self, lane: _SampleLane, eligible: list[str]) -> None:
        owned: dict[str, int] = defaultdict(int)
        for other in self.sample_lanes.values():
            if other.owner is not None:
                owned[other.owner] += 1
        target = min(eligible, key=lambda w: (owned[w], w))
        ident = target.encode()
        state = lane.ring.state_entries()
        todo = lane.ring.unacked()
        ok = links.send(
            self.dispatch,
            protocol.encode("reset", {"stream": lane.name, "epoch": self.epoch, "id": self.id}),
            identity=ident,
        )
        for e in state:
            body, raw, _ = e.item
            ok = ok and links.send(
                self.dispatch, protocol.encode("work", {**body, "history": True}, raw), identity=ident
            )
        for e in todo:
            ok = ok and links.send(self.dispatch, e.item[2], identity=ident)
        if not ok:
            log.warning("producer: could not hand %s to %s; retrying", lane.name, target)
            return
        lane.owner = target
        log.info(
            "producer: %s -> worker %s (state from %d samples, %d chunks replayed)",
            lane.name,
            target,
            sum(e.n for e in state),
            len(todo),
        )
        if todo:
            self.counters[lane.name]["replayed"] += len(todo)

    # -- frames ------------------------------------------------------------------------------
    def _pick_frame_worker(self, stream: str) -> str | None:
        best = None
        best_credit = 0
        eligible = self._eligible(stream)
        if not eligible:
            return None
        # Lanes with opposite rules: a sample stream's owner gets no frames while another worker
        # can take them (one whose credits are counted), so a slow frame stage never delays
        # samples behind it.
        owners = {lane.owner for lane in self.sample_lanes.values()}
        eligible = [w for w in eligible if w not in owners and w in self.synced] or eligible
        n = len(eligible)
        for i in range(n):  # round robin among those with the most room
            w = eligible[(self._rr + i) % n]
            c = self.credits.get(w, 0)
            if c > best_credit:
                best, best_credit = w, c
        self._rr += 1
        return best

    def _frames(self, now: int) -> None:
        for lane in self.frame_lanes.values():
            if lane.replaced:
                with lane.lock:
                    n, lane.replaced = lane.replaced, 0
                self.counters[lane.name]["busy" if self._eligible(lane.name) else "no_worker"] += n
            if lane.slot is None:
                continue
            target = self._pick_frame_worker(lane.name)
            if target is None:
                continue
            item = lane.take()
            if item is None:
                continue
            seq = lane.seq
            wire_frames = wire.encode(
                lane.topic,
                item.image,
                stream=lane.name,
                kind="frame",
                epoch=self.epoch,
                seq=seq,
                t_capture_ns=int(item.t_capture_ns),
                meta={"index": int(item.index)},
            )
            msg = protocol.encode("work", {"stream": lane.name, "seq": seq, "epoch": self.epoch}, wire_frames)
            if links.send(self.dispatch, msg, identity=target.encode()):
                lane.seq += 1
                self.credits[target] -= 1
                lane.in_flight[seq] = (target, msg, now)
            else:
                self.counters[lane.name]["send_failed"] += 1
                self.synced.discard(target)  # recounted from its next heartbeat

    # -- heartbeats --------------------------------------------------------------------------
    def _heartbeat(self, now: int) -> None:
        streams: dict[str, Any] = {}
        for name, lane in self.sample_lanes.items():
            pending = lane.ring.unacked()
            streams[name] = {
                "items": "samples",
                "next": lane.seq,
                "low": pending[0].seq if pending else lane.seq,
                "owner": lane.owner,
            }
        for name, flane in self.frame_lanes.items():
            streams[name] = {
                "items": "frames",
                "next": flane.seq,
                "low": min(flane.in_flight, default=flane.seq),
                "in_flight": len(flane.in_flight),
                "ended": flane.ended,
            }
        body = {
            "role": self.role,
            "id": self.id,
            "epoch": self.epoch,
            "config_hash": self.config_hash,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "streams": streams,
            "counters": {s: dict(c) for s, c in self.counters.items()},
            "workers": sorted(w.id for w in self.workers),
        }
        links.send(self.collect, protocol.encode("hb", body))
