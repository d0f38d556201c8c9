"""Roles across processes: the split topology (publisher + producer + N workers) against ``streamconv run``.

Section ``roles`` (``--only roles``; not run by default, it takes minutes):

- **overhead**: the same config, 720p synthetic camera at 30 fps with one output ``sharpen`` and
  the default's laser, run (a) as one process (``streamconv run``, inproc links) and (b) as
  publisher + producer + 1 worker processes joined by tcp loopback links.  Latency capture ->
  subscriber of ``camera/sharpen`` (p50, p99), frames/s delivered, ``seq`` gaps.  Both publish on
  ``tcp://127.0.0.1`` (:data:`PUBLISH_TRANSPORT`), so only the links differ.
- **scaling**: a K=16 3x3x3 ``bank3d`` (seeded random filters) on 720p, the source unthrottled
  (``fps: 0``: as fast as the workers take frames), split with 1 and then 2 workers: frames/s
  received on ``camera/features`` and the publisher's own count (``ctl stats``), and the ratio.
- **failover**: split, 2 workers, 720p sharpen at 30 fps.  Each repeat SIGKILLs the worker that
  does not own ``laser`` (it takes the frames: the laser's owner gets none while another worker
  can), then, after a
  replacement was admitted, the one that owns ``laser``: the time from the kill to the next
  ``camera/sharpen`` frame received, the longest silence between two frames around the kill,
  the ``seq`` gaps of ``camera/sharpen`` and of ``laser/smoothed`` (lossless: expected 0).
- **lanes**: one process, the default's laser next to 720p frames through ``sharpen`` and then
  through a 255x255 general kernel (about 0.7 s a frame), the frames read newest-only:
  ``laser/smoothed`` latency p50/p99 and gaps in both, and the heavy/light ratio of the p50.

Every run starts its processes on fresh free loopback ports, stops them in a ``finally``
(:class:`procs.Proc` kills the process group), and every wait is bounded in time.
"""

from __future__ import annotations

import copy
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np

from streamconv.bench.e2e import _collect, _drain, _ms
from streamconv.bench.procs import (
    MEASURE_QUEUE_BYTES,
    Daemon,
    Proc,
    control_stats,
    default_config,
    free_endpoints,
)
from streamconv.bench.targets import Target
from streamconv.bench.timing import table

__all__ = [
    "PROFILES",
    "THROUGHPUT_HEADERS",
    "Split",
    "Topology",
    "bank_config",
    "compare_latency",
    "overhead_report",
    "overhead_targets",
    "report",
    "run",
    "sharpen_config",
    "targets",
    "throughput_row",
    "throughput_window",
]

#: Split p50 / p99 latency over the one-process run's, at most (ms).
P50_OVERHEAD_TARGET_MS = 3.0
P99_OVERHEAD_TARGET_MS = 6.0
#: Both runs publish on this transport (loopback).
PUBLISH_TRANSPORT = "tcp"
BANK_K = 16
BANK_SEED = 9

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"width": 1280, "height": 720, "fps": 30.0, "warm_s": 4.0, "latency_s": 20.0,
             "bank_k": BANK_K, "bank_warm_s": 4.0, "bank_s": 12.0, "repeats": 3, "settle_s": 2.0,
             "after_kill_s": 3.0, "ready_timeout_s": 60.0},
    "quick": {"width": 1280, "height": 720, "fps": 30.0, "warm_s": 2.0, "latency_s": 5.0,
              "bank_k": BANK_K, "bank_warm_s": 2.0, "bank_s": 4.0, "repeats": 1, "settle_s": 1.0,
              "after_kill_s": 2.0, "ready_timeout_s": 60.0},
    "smoke": {"width": 160, "height": 120, "fps": 30.0, "warm_s": 0.3, "latency_s": 0.8,
              "bank_k": 2, "bank_warm_s": 0.3, "bank_s": 0.8, "repeats": 1, "settle_s": 0.3,
              "after_kill_s": 1.0, "ready_timeout_s": 30.0},
}


# -- configs --------------------------------------------------------------------------------------
def sharpen_config(prof: dict[str, Any]) -> dict[str, Any]:
    """Return the embedded default with its camera at WxH, ``fps``, one output ``sharpen``; laser as is."""
    cfg = default_config()
    cfg["service"] = {**(cfg.get("service") or {}), "publish": f"{PUBLISH_TRANSPORT}://127.0.0.1:0"}
    cam = cfg["streams"]["camera"]
    cam["source"] = {**cam["source"], "width": prof["width"], "height": prof["height"], "fps": prof["fps"]}
    cam["publish_raw"] = False
    cam["outputs"] = {"sharpen": [{"kind": "kernel2d", "kernel": "sharpen", "padding": "same"}]}
    return cfg


def lanes_config(prof: dict[str, Any], *, busy: bool) -> dict[str, Any]:
    """Return the default's laser next to its camera at WxH: ``sharpen``, or a 255x255 kernel (``busy``)."""
    cfg = sharpen_config(prof)
    if busy:
        k = np.round(np.random.default_rng(BANK_SEED).standard_normal((255, 255)) / 255.0, 6)
        cfg["streams"]["camera"]["outputs"] = {"sharpen": [{"kind": "kernel2d", "kernel": k.tolist()}]}
    return cfg


def bank_config(prof: dict[str, Any]) -> dict[str, Any]:
    """Return an unthrottled WxH synthetic camera, one output ``features``: K seeded random 3x3 filters."""
    bank = np.random.default_rng(BANK_SEED).standard_normal((prof["bank_k"], 3, 3, 3)) / 9.0
    return {
        # a K=16 720p float32 volume is 59 MB: a short send queue bounds the publisher's memory
        "service": {"publish": f"{PUBLISH_TRANSPORT}://127.0.0.1:0", "publish_hwm": 4},
        "streams": {"camera": {
            "source": {"kind": "synthetic", "width": prof["width"], "height": prof["height"], "fps": 0},
            "publish_raw": False,
            "outputs": {"features": [{"kind": "bank3d", "padding": "same",
                                      "filters": np.round(bank, 6).tolist()}]},
        }},
    }


# -- the split topology -----------------------------------------------------------------------------
class Topology:
    """A publisher with a producer and workers in other processes, measured from outside.

    What the measurements need of one: :attr:`publish` and :attr:`control` (loopback endpoints),
    ``ctl status`` and ``ctl stats``, CPU and RSS of every process, and a bounded wait for the
    workers to be admitted.  Subclasses say which worker pids are theirs, whether their publisher
    and producer still run, and what their logs say; they are context managers that stop every
    process on exit.
    """

    name: str
    publish: str
    control: str

    def worker_pids(self) -> set[int]:
        """Return the pids of the live worker processes this run started."""
        raise NotImplementedError

    def check_alive(self) -> None:
        """Raise RuntimeError (with the logs) if the publisher or the producer exited."""
        raise NotImplementedError

    def logs(self, lines: int = 12) -> str:
        """Return the last lines of every process's log."""
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every process of the topology."""
        raise NotImplementedError

    def rss_bytes(self) -> int:
        """Resident memory of every process of the topology now."""
        raise NotImplementedError

    def stopped(self) -> dict[str, Any]:
        """How it stopped (exit codes, ...), after it was closed; ``{}`` by default."""
        return {}

    def status(self, timeout: float = 1.0) -> dict[str, Any]:
        """Return ``ctl status`` of the publisher."""
        from streamconv import control

        return control.request({"cmd": "status"}, self.control, timeout=timeout)["status"]

    def stats(self) -> dict[str, Any]:
        """Return ``ctl stats`` of the publisher (``{}`` if it does not answer)."""
        return control_stats(self.control)

    def wait_workers(self, n: int, timeout: float, *, owner: bool) -> dict[str, Any]:
        """Wait until ``n`` of our live workers are admitted; return the status.

        Also waits for the producer to be known and, with ``owner``, a worker to own a sample
        stream.  Raises RuntimeError after ``timeout`` s or when the publisher or producer exits.
        """
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            self.check_alive()
            try:
                st = self.status(timeout=0.5)
                last = st["roles"]
                ours = self.worker_pids()
                admitted = [w for w in last["workers"]
                            if w.get("state") == "admitted" and w.get("pid") in ours]
                if (len(admitted) >= n and last.get("producer") is not None
                        and (not owner or any(w["owns"] for w in admitted))):
                    return st
            except (TimeoutError, KeyError, TypeError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {n} workers not admitted within {timeout:g} s "
                                   f"(roles {last}):\n{self.logs()}")
            time.sleep(0.1)


class Split(Topology):
    """publisher + producer + ``workers`` processes of one config, on fresh tcp loopback ports.

    ``service.publish``, ``service.control`` and ``links.dispatch``/``links.collect`` are replaced
    by free loopback endpoints.  Every process is a :class:`Proc` (its own process group); leaving
    the context stops them all.
    """

    def __init__(self, config: dict[str, Any], *, workers: int, name: str = "split") -> None:
        import yaml

        self.name = name
        self.publish, self.control, dispatch, collect = free_endpoints(4)
        self._tmp = tempfile.TemporaryDirectory(prefix=f"sc-bench-{name}-")
        self.dir = Path(self._tmp.name)
        config = copy.deepcopy(config)
        service = config.get("service") or {}
        config["service"] = {**service, "publish": self.publish, "control": self.control}
        config["links"] = {**(config.get("links") or {}), "dispatch": dispatch, "collect": collect}
        self.config = config
        self.path = self.dir / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.procs: dict[str, Proc] = {}
        self._n = 0
        try:
            self.start("publisher", "publisher")
            self.start("producer", "producer")
            for _ in range(workers):
                self.add_worker()
        except BaseException:
            self.close()
            raise

    def start(self, name: str, role: str) -> Proc:
        """Start one role as process ``name``."""
        argv = [sys.executable, "-m", "streamconv", "run", "-c", str(self.path), "--role", role,
                "--log-level", "info"]
        p = Proc(argv, name=name, log_dir=self.dir, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.procs[name] = p
        return p

    def add_worker(self) -> Proc:
        """Start one more worker process."""
        self._n += 1
        return self.start(f"worker{self._n}", "worker")

    def worker_procs(self) -> dict[int, Proc]:
        """Our live worker processes by pid."""
        return {p.pid: p for n, p in self.procs.items() if n.startswith("worker") and p.alive()}

    def worker_pids(self) -> set[int]:
        """Return the pids of our live worker processes."""
        return set(self.worker_procs())

    def check_alive(self) -> None:
        """Raise RuntimeError if the publisher or the producer process exited."""
        for name, p in self.procs.items():
            if name in ("publisher", "producer") and not p.alive():
                raise RuntimeError(f"{self.name}: {name} exited ({p.popen.returncode}):\n{self.logs()}")

    def logs(self, lines: int = 12) -> str:
        """Return the last lines of every process's log."""
        return "\n".join(f"--- {n}\n{p.log_tail(lines)}" for n, p in self.procs.items())

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by every process of the topology."""
        return sum(p.cpu_seconds() for p in self.procs.values())

    def rss_bytes(self) -> int:
        """Resident memory of every process of the topology now."""
        return sum(p.rss_bytes() for p in self.procs.values())

    def stopped(self) -> dict[str, Any]:
        """Return each process's exit code (None: still running)."""
        return {"exit_codes": {n: p.returncode for n, p in self.procs.items()}}

    def close(self) -> None:
        """Stop every process (workers first), then remove the directory."""
        for name in sorted(self.procs, key=lambda n: ("publisher", "producer").index(n)
                           if n in ("publisher", "producer") else -1):
            self.procs[name].stop(timeout=5.0)
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _usage(cpu0: float, cpu1: float, t0: float, rss: int) -> dict[str, float]:
    wall = time.perf_counter() - t0
    return {"cpu_percent": 100.0 * (cpu1 - cpu0) / wall if wall > 0 else 0.0, "rss_mb": rss / 2**20}


# -- 1. per-frame overhead --------------------------------------------------------------------------
def _latency_window(endpoint: str, topic: str, prof: dict[str, Any], cpu: Any, rss: Any) -> dict[str, Any]:
    from streamconv.client import Subscriber

    with Subscriber(endpoint, [topic], timeout=10, max_queue_bytes=MEASURE_QUEUE_BYTES) as sub:
        sub.wait_ready(prof["ready_timeout_s"])
        _drain(sub, prof["warm_s"])
        cpu0, t0 = cpu(), time.perf_counter()
        got = _collect(sub, prof["latency_s"], latency=True)
        got.update(_usage(cpu0, cpu(), t0, rss()))
    return got


def compare_latency(prof: dict[str, Any], log: Any, *, section: str, key: str, label: str,
                    start: Callable[[dict[str, Any]], Topology]) -> dict[str, Any]:
    """Latency capture -> subscriber of camera/sharpen: the one-process daemon, then ``start(config)``.

    Parameters
    ----------
    prof : dict
        The profile: ``width``, ``height``, ``fps``, ``warm_s``, ``latency_s``, ``ready_timeout_s``.
    log : callable
        Progress messages.
    section, key, label : str
        The messages' prefix; the result's key and the log's description of the other run.
    start : callable
        Returns the other run of the config as a started :class:`Topology` (a context manager).

    Returns
    -------
    dict
        ``one_process`` and ``key``: what :func:`_latency_window` measured of each; ``diff_ms``:
        the other run's p50 and p99 minus the one process's.
    """
    config = sharpen_config(prof)
    topic = "camera/sharpen"
    size = f"{prof['width']}x{prof['height']}"
    log(f"{section}: one-process daemon, {size} sharpen at {prof['fps']:g} fps, {prof['latency_s']:g} s")
    with Daemon(config, name=f"{section}-one") as d:
        d.wait_ready(prof["ready_timeout_s"])
        one = _latency_window(d.publish, topic, prof, d.cpu_seconds, d.rss_bytes)
        one["daemon_stats"] = d.stats().get("topics", {}).get(topic, {})
        one["exit_code"] = d.stop()
    log(f"{section}: {label}, {prof['latency_s']:g} s")
    with start(config) as t:
        t.wait_workers(1, prof["ready_timeout_s"], owner=True)
        other = _latency_window(t.publish, topic, prof, t.cpu_seconds, t.rss_bytes)
        other["daemon_stats"] = t.stats().get("topics", {}).get(topic, {})
    other["stopped"] = t.stopped()
    a, b = one["latency_ms"], other["latency_ms"]
    diff = {q: (b[q] - a[q]) if a[q] is not None and b[q] is not None else None for q in ("p50", "p99")}
    return {"config": config, "topic": topic, "publish_transport": PUBLISH_TRANSPORT,
            "one_process": one, key: other, "diff_ms": diff}


def overhead(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """Latency capture -> subscriber of camera/sharpen: one process, then publisher + producer + 1 worker."""
    return compare_latency(prof, log, section="roles", key="split",
                           label="split publisher + producer + 1 worker over tcp",
                           start=lambda config: Split(config, workers=1, name="roles-split1"))


# -- 2. heavy stage scaling ------------------------------------------------------------------------
def throughput_window(t: Any, topic: str, warm_s: float, seconds: float, *, ready_timeout: float,
                      rcvhwm: int | None = None) -> dict[str, Any]:
    """Receive ``topic`` from a started run ``t`` for ``seconds`` after ``warm_s``: rates, gaps, usage.

    ``t`` is a :class:`~streamconv.bench.procs.Daemon` or a :class:`Topology` (``publish``,
    ``stats()``, ``cpu_seconds()``, ``rss_bytes()``), ready to publish; the subscriber waits up to
    ``ready_timeout`` s for its first message.  Besides what
    :func:`~streamconv.bench.e2e._collect` returns, ``published_per_s`` is the publisher's own
    count of the topic over the window (two ``ctl stats``).
    """
    from streamconv.client import Subscriber

    with Subscriber(t.publish, [topic], timeout=10, rcvhwm=rcvhwm,
                    max_queue_bytes=MEASURE_QUEUE_BYTES) as sub:
        sub.wait_ready(ready_timeout)
        _drain(sub, warm_s)
        st0 = t.stats()
        cpu0, t0 = t.cpu_seconds(), time.perf_counter()
        got = _collect(sub, seconds, latency=True)
        got.update(_usage(cpu0, t.cpu_seconds(), t0, t.rss_bytes()))
        st1 = t.stats()
    c0 = st0.get("topics", {}).get(topic, {}).get("count")
    c1 = st1.get("topics", {}).get(topic, {}).get("count")
    span = (st1.get("uptime_s") or 0.0) - (st0.get("uptime_s") or 0.0)
    got["published_per_s"] = (c1 - c0) / span if c0 is not None and c1 is not None and span > 0 else None
    return got


def _bank_run(config: dict[str, Any], workers: int, prof: dict[str, Any]) -> dict[str, Any]:
    with Split(config, workers=workers, name=f"roles-bank{workers}") as s:
        s.wait_workers(workers, prof["ready_timeout_s"], owner=False)
        # a small receive queue: 59 MB a message at 720p K=16; what this process cannot take shows as gaps
        got = throughput_window(s, "camera/features", prof["bank_warm_s"], prof["bank_s"],
                                ready_timeout=prof["ready_timeout_s"], rcvhwm=4)
        status = s.status()
    got["processed"] = {w["id"]: w.get("processed", {}) for w in status["roles"]["workers"]}
    got["workers"] = workers
    return got


def scaling(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """K-filter bank3d on unthrottled frames: 1 worker, then 2 workers."""
    config = bank_config(prof)
    runs = {}
    for n in (1, 2):
        log(f"roles: bank3d K={prof['bank_k']} {prof['width']}x{prof['height']} unthrottled, "
            f"{n} worker(s), {prof['bank_s']:g} s")
        runs[n] = _bank_run(config, n, prof)
    r1, r2 = runs[1]["msg_per_s"], runs[2]["msg_per_s"]
    p1, p2 = runs[1]["published_per_s"], runs[2]["published_per_s"]
    return {"k": prof["bank_k"], "one_worker": runs[1], "two_workers": runs[2],
            "ratio": r2 / r1 if r1 > 0 else None,
            "ratio_published": p2 / p1 if p1 and p2 is not None else None,
            "message_mb": prof["width"] * prof["height"] * prof["bank_k"] * 4 / 1e6}


# -- 4. lanes --------------------------------------------------------------------------------------
def lanes(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """``laser/smoothed`` latency in the one-process daemon next to a light and a heavy frame stage.

    A display-like subscriber takes ``camera/sharpen`` newest-only (so the frames are computed);
    a second one measures the laser.  The laser's owner gets no frames while another worker can
    take them, so the heavy stage should not show in the laser's latency.
    """
    from streamconv.client import Subscriber

    out: dict[str, Any] = {}
    for name, busy in (("light", False), ("heavy", True)):
        stage = "255x255 general kernel" if busy else "sharpen"
        log(f"roles: lanes, laser next to {prof['width']}x{prof['height']} {stage}, {prof['latency_s']:g} s")
        with Daemon(lanes_config(prof, busy=busy), name=f"roles-lanes-{name}") as d:
            d.wait_ready(prof["ready_timeout_s"])
            with (
                Subscriber(d.publish, ["camera/sharpen"], latest=True, timeout=30) as frames,
                Subscriber(d.publish, ["laser/smoothed"], timeout=10,
                           max_queue_bytes=MEASURE_QUEUE_BYTES) as sub,
            ):
                frames.wait_ready(prof["ready_timeout_s"] * 2)
                sub.wait_ready(prof["ready_timeout_s"])
                _drain(sub, prof["warm_s"])
                got = _collect(sub, prof["latency_s"], latency=True)
                got["frames_per_s"] = d.stats().get("topics", {}).get("camera/sharpen", {}).get("rate_hz")
            got["exit_code"] = d.stop()
        out[name] = got
    light, heavy = out["light"]["latency_ms"]["p50"], out["heavy"]["latency_ms"]["p50"]
    out["ratio_p50"] = heavy / light if light and heavy else None
    return out


# -- 3. failover ----------------------------------------------------------------------------------
def _pick(s: Split, which: str) -> dict[str, Any]:
    """Return the admitted worker of ours to kill: the laser's owner, or one without it (frames only)."""
    ours = s.worker_procs()
    workers = [w for w in s.status()["roles"]["workers"]
               if w.get("state") == "admitted" and w.get("pid") in ours]
    if which == "laser owner":
        return next(w for w in workers if "laser" in w["owns"])
    # both take frames by credit; prefer one that is processing them now
    free = [w for w in workers if not w["owns"]] or workers
    return max(free, key=lambda w: w.get("rates_hz", {}).get("camera", 0.0))


def _kill_and_watch(s: Split, sub: Any, which: str, prof: dict[str, Any]) -> dict[str, Any]:
    """Receive for ``settle_s``, SIGKILL the ``which`` worker, receive for ``after_kill_s``: what was seen."""
    frames: list[int] = []  # t_publish_ns (wall clock, set by the publisher) of each camera/sharpen
    laser_gaps0 = sum(g[3] - g[2] for g in sub.gap_events if g[0] == "laser/smoothed")
    cam_gaps0 = sum(g[3] - g[2] for g in sub.gap_events if g[0] == "camera/sharpen")
    laser_n = 0
    laser_after: float | None = None  # ms from the kill to the next laser/smoothed published
    killed_at: float | None = None
    killed_ns = 0
    victim: dict[str, Any] = {}
    pid = -1
    t_end = time.perf_counter() + prof["settle_s"]
    while True:
        now = time.perf_counter()
        if killed_at is None and now >= t_end:
            victim = _pick(s, which)
            pid = int(victim["pid"])
            if pid not in s.worker_procs():  # only ever a process this run started
                raise RuntimeError(f"pid {pid} is not one of this run's workers")
            os.kill(pid, signal.SIGKILL)
            killed_ns = time.time_ns()
            killed_at = time.perf_counter()
            t_end = killed_at + prof["after_kill_s"]
        elif killed_at is not None and now >= t_end:
            break
        try:
            msg = sub.recv(timeout=max(0.001, t_end - now))
        except TimeoutError:
            continue
        tp = msg.header.t_publish_ns if msg.header.t_publish_ns is not None else time.time_ns()
        if msg.topic == "camera/sharpen":
            frames.append(tp)
        elif msg.topic == "laser/smoothed":
            laser_n += 1
            if killed_at is not None and laser_after is None and tp > killed_ns:
                laser_after = (tp - killed_ns) / 1e6
    for p in s.procs.values():  # reap it
        if p.pid == pid:
            p.stop(timeout=1.0)
    after = [t for t in frames if t > killed_ns] if killed_at is not None else []
    around = [t for t in frames if t > killed_ns - 500_000_000] if killed_at is not None else frames
    intervals = np.diff(np.asarray(around, dtype=np.int64)) if len(around) > 1 else np.empty(0)
    return {
        "next_frame_ms": (after[0] - killed_ns) / 1e6 if after else None,
        "longest_silence_ms": float(intervals.max() / 1e6) if intervals.size else None,
        "frames_after_kill": len(after),
        "camera_gaps": sum(g[3] - g[2] for g in sub.gap_events if g[0] == "camera/sharpen") - cam_gaps0,
        "laser_gaps": sum(g[3] - g[2] for g in sub.gap_events if g[0] == "laser/smoothed") - laser_gaps0,
        "laser_messages": laser_n,
        "next_laser_ms": laser_after,
        "killed": which, "owned": victim.get("owns"), "victim_rates_hz": victim.get("rates_hz", {}),
        "victim_processed": victim.get("processed", {}),
    }


def failover(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """Split, 2 workers, sharpen at ``fps``: SIGKILL a frames-only worker, then the laser's owner."""
    from streamconv.client import Subscriber

    config = sharpen_config(prof)
    events: list[dict[str, Any]] = []
    log(f"roles: failover, 2 workers, {prof['repeats']} repeat(s) of two kills")
    with Split(config, workers=2, name="roles-failover") as s:
        s.wait_workers(2, prof["ready_timeout_s"], owner=True)
        topics = ["camera/sharpen", "laser/smoothed"]
        with Subscriber(s.publish, topics, timeout=10, max_queue_bytes=MEASURE_QUEUE_BYTES) as sub:
            sub.wait_ready(prof["ready_timeout_s"])
            for r in range(prof["repeats"]):
                for which in ("frames-only", "laser owner"):
                    s.wait_workers(2, prof["ready_timeout_s"], owner=True)
                    ev = _kill_and_watch(s, sub, which, prof)
                    ev["repeat"] = r + 1
                    events.append(ev)
                    log(f"roles: killed the {which} worker: next frame after "
                        f"{_ms(ev['next_frame_ms'])} ms, camera gaps {ev['camera_gaps']}, "
                        f"laser gaps {ev['laser_gaps']}")
                    s.add_worker()
            stats = s.stats()
    return {"events": events, "lost": {n: v.get("lost", {}) for n, v in stats.get("streams", {}).items()},
            "replayed_resent": {n: {k: v.get(k) for k in ("resent", "replayed") if v.get(k)}
                                for n, v in stats.get("streams", {}).items()}}


def run(profile: str, *, log: Any = print) -> dict[str, Any]:
    """Run the ``roles`` section: overhead, scaling, failover."""
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    res: dict[str, Any] = {"profile": profile, "settings": prof}
    res["overhead"] = overhead(prof, log)
    res["scaling"] = scaling(prof, log)
    res["failover"] = failover(prof, log)
    res["lanes"] = lanes(prof, log)
    res["seconds"] = time.perf_counter() - t0
    return res


# -- targets and report ---------------------------------------------------------------------------
def overhead_targets(section: str, name: str, res: dict[str, Any]) -> list[Target]:
    """``name`` minus one-process latency of ``res["overhead"]``: p50 at most +3 ms, p99 at most +6 ms."""
    d = res["overhead"]["diff_ms"]
    prof = res["settings"]
    what = f"{prof['height']}p {prof['fps']:g} fps sharpen"
    return [
        Target(section, f"{name} - one process: latency p50, {what}",
               d["p50"], P50_OVERHEAD_TARGET_MS, higher_is_better=False, unit="ms"),
        Target(section, f"{name} - one process: latency p99, {what}",
               d["p99"], P99_OVERHEAD_TARGET_MS, higher_is_better=False, unit="ms"),
    ]


def targets(res: dict[str, Any]) -> list[Target]:
    """Split minus one-process latency: p50 at most +3 ms, p99 at most +6 ms."""
    return overhead_targets("roles", "split (3 processes, tcp links)", res)


def _f(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def overhead_report(res: dict[str, Any], key: str, name: str, short: str) -> str:
    """Return the overhead table: one process, ``res["overhead"][key]`` (``name``), the difference."""
    ov, prof = res["overhead"], res["settings"]
    one, other = ov["one_process"], ov[key]
    out = [f"overhead: {prof['width']}x{prof['height']} synthetic at {prof['fps']:g} fps, camera/sharpen "
           f"(+ the default's laser), publish on {ov['publish_transport']}://127.0.0.1, "
           f"{prof['latency_s']:g} s after {prof['warm_s']:g} s warm-up"]
    rows = []
    for label, r in (("one process (streamconv run)", one), (name, other)):
        lat = r["latency_ms"]
        rows.append([label, str(lat["n"]), f"{r['msg_per_s']:.1f}", str(r["gaps"]), _ms(lat["p50"]),
                     _ms(lat["p99"]), _ms(r["capture_to_publish_ms"]["p50"]),
                     _ms(r["publish_to_receive_ms"]["p50"]), f"{r['cpu_percent']:.0f}",
                     f"{r['rss_mb']:.0f}"])
    d = ov["diff_ms"]
    rows.append([f"{short} - one process", "", f"{other['msg_per_s'] - one['msg_per_s']:+.1f}", "",
                 _f(d["p50"], "+.2f"), _f(d["p99"], "+.2f"),
                 _f(other["capture_to_publish_ms"]["p50"] - one["capture_to_publish_ms"]["p50"], "+.2f")
                 if other["capture_to_publish_ms"]["p50"] is not None
                 and one["capture_to_publish_ms"]["p50"] is not None else "-", "", "", ""])
    out.append(table(["run", "frames", "fps", "gaps", "p50 ms", "p99 ms", "cap->pub p50", "pub->sub p50",
                      "CPU %", "RSS MB"], rows))
    return "\n".join(out)


#: The columns of :func:`throughput_row`.
THROUGHPUT_HEADERS = ("run", "frames", "received/s", "published/s (ctl stats)", "gaps", "latency p50 ms",
                      "CPU %", "RSS MB")


def throughput_row(label: str, r: dict[str, Any]) -> list[str]:
    """Return a throughput table's row (:data:`THROUGHPUT_HEADERS`) of :func:`throughput_window`'s ``r``."""
    return [label, str(r["messages"]), f"{r['msg_per_s']:.2f}", _f(r["published_per_s"], ".2f"),
            str(r["gaps"]), _ms(r["latency_ms"]["p50"]), f"{r['cpu_percent']:.0f}", f"{r['rss_mb']:.0f}"]


def report(res: dict[str, Any]) -> str:
    """Plain-text tables of the roles section."""
    sc, fo = res["scaling"], res["failover"]
    prof = res["settings"]
    out = [overhead_report(res, "split", "split: publisher+producer+1 worker", "split")]
    o1, o2 = sc["one_worker"], sc["two_workers"]
    out.append(f"\nscaling: bank3d K={sc['k']} 3x3x3 (seeded random), {prof['width']}x{prof['height']} "
               f"unthrottled, {sc['message_mb']:.0f} MB per camera/features message, "
               f"{prof['bank_s']:g} s after {prof['bank_warm_s']:g} s warm-up")
    rows = [throughput_row(f"{r['workers']} worker(s)", r) for r in (o1, o2)]
    rows.append(["2 / 1", "", _f(sc["ratio"], ".2f"), _f(sc["ratio_published"], ".2f"), "", "", "", ""])
    out.append(table(THROUGHPUT_HEADERS, rows))
    out.append(f"\nfailover: 2 workers, camera/sharpen at {prof['fps']:g} fps + laser/smoothed; SIGKILL, "
               f"{prof['after_kill_s']:g} s watched after each kill, a replacement worker started after it")
    rows = [[str(e["repeat"]), e["killed"], _f(e["victim_rates_hz"].get("camera")), _ms(e["next_frame_ms"]),
             _ms(e["longest_silence_ms"]),
             str(e["camera_gaps"]), str(e["laser_gaps"]), _ms(e["next_laser_ms"])] for e in fo["events"]]
    out.append(table(["repeat", "killed", "its camera Hz", "kill->next publish ms", "longest silence ms",
                      "camera gaps",
                      "laser gaps", "kill->next laser publish ms"], rows))
    lost = {n: v for n, v in fo["lost"].items() if v}
    out.append(f"   publisher's counters at the end: lost {lost or '-'}, "
               f"resent/replayed {({n: v for n, v in fo['replayed_resent'].items() if v}) or '-'}")
    ln = res.get("lanes")
    if ln:
        out.append(f"\nlanes: laser/smoothed in one process next to {prof['width']}x{prof['height']} frames "
                   f"(camera/sharpen read newest-only), {prof['latency_s']:g} s after {prof['warm_s']:g} s")
        rows = [[f"next to {'a 255x255 general kernel' if k == 'heavy' else 'sharpen'}",
                 _f(ln[k]["frames_per_s"]), str(ln[k]["messages"]), str(ln[k]["gaps"]),
                 _ms(ln[k]["latency_ms"]["p50"]), _ms(ln[k]["latency_ms"]["p99"])]
                for k in ("light", "heavy")]
        rows.append(["heavy / light", "", "", "", _f(ln["ratio_p50"], ".2f"), ""])
        out.append(table(["laser/smoothed", "camera frames/s", "messages", "gaps", "p50 ms", "p99 ms"], rows))
    return "\n".join(out)
