"""Scale-out on Ray: ``streamconv run`` with a ``cluster:`` section against the one-process daemon.

Section ``cluster`` (``--only cluster``; not run by default: every cluster run starts a local Ray
cluster, about 5 s, and the section takes minutes).  Each part runs the one-process daemon
(``streamconv run``, inproc links) and the same config with a ``cluster:`` section (the publisher
in the driver process, the producer and the workers as Ray actors, tcp loopback links), in the
same run, side by side:

- **overhead**: 720p synthetic camera at 30 fps, one output ``sharpen``, and the default's laser:
  latency capture -> subscriber of ``camera/sharpen`` (p50, p99) of one process and of a cluster
  with 1 worker actor (:func:`streamconv.bench.roles.compare_latency`).
- **rate**: the same config with the source unthrottled (``fps: 0``): frames/s received on
  ``camera/sharpen`` (and the publisher's own count) of one process and of a cluster with 1 worker.
- **scaling**: the K=16 3x3x3 ``bank3d`` of :func:`~streamconv.bench.roles.bank_config` on the
  unthrottled camera: one process, then clusters of 1 .. ``max_workers`` workers, frames/s and the
  ratio to one worker.
- **estimate** (computed, not measured across hosts): the bank's per-frame compute time measured
  here on one thread, and the bytes a frame puts on the links, give frames/s for N worker hosts on
  a 10 GbE network.

Every cluster run is one driver process (:class:`Cluster`) in its own session.  Ray's processes
(``gcs_server``, ``raylet``, its agents, the ``ray::`` actor processes, which Ray puts in process
groups of their own) stay in that session: CPU and RSS are summed over the session, the driver is
stopped with SIGTERM (it stops its cluster), and whatever is still in the session after the driver
exited is killed by pid and recorded (``stopped`` of each run).  Every wait is bounded in time.
"""

from __future__ import annotations

import copy
import os
import time
from typing import Any

from streamconv.bench.procs import Daemon
from streamconv.bench.roles import (
    THROUGHPUT_HEADERS,
    Topology,
    _f,
    bank_config,
    compare_latency,
    overhead_report,
    overhead_targets,
    sharpen_config,
    throughput_row,
    throughput_window,
)
from streamconv.bench.targets import Target
from streamconv.bench.timing import interleaved, table

__all__ = ["PROFILES", "Cluster", "estimate", "report", "run", "targets"]

#: Cluster frames/s over one process's, at least (the rate part, 1 worker actor).
RATE_RATIO_TARGET = 0.6
#: Ray CPUs each actor reserves; the local cluster gets ``workers + 1`` CPUs, more than enough.
CPUS_PER_WORKER = 0.5
PRODUCER_CPUS = 0.5
#: The network of the multi-host estimate, in bits per second (line rate, no protocol overhead).
LINK_BITS_PER_S = 10e9
#: Worker-host counts of the estimate table.
ESTIMATE_HOSTS = (1, 2, 4, 8)
#: Process names of a Ray cluster (``ray::`` is every actor's and agent's title).
RAY_NAMES = ("raylet", "gcs_server", "ray::")

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"width": 1280, "height": 720, "fps": 30.0, "warm_s": 4.0, "latency_s": 20.0,
             "rate_warm_s": 3.0, "rate_s": 10.0, "bank_k": 16, "bank_warm_s": 4.0, "bank_s": 12.0,
             "max_workers": 2, "estimate_repeats": 5, "ready_timeout_s": 90.0},
    "quick": {"width": 1280, "height": 720, "fps": 30.0, "warm_s": 2.0, "latency_s": 5.0,
              "rate_warm_s": 1.5, "rate_s": 4.0, "bank_k": 16, "bank_warm_s": 2.0, "bank_s": 4.0,
              "max_workers": 2, "estimate_repeats": 2, "ready_timeout_s": 90.0},
    "smoke": {"width": 160, "height": 120, "fps": 30.0, "warm_s": 0.3, "latency_s": 0.8,
              "rate_warm_s": 0.3, "rate_s": 0.8, "bank_k": 2, "bank_warm_s": 0.3, "bank_s": 0.8,
              "max_workers": 2, "estimate_repeats": 1, "ready_timeout_s": 90.0},
}


# -- a cluster run --------------------------------------------------------------------------------
class Cluster(Daemon, Topology):
    """``streamconv run -c CONFIG`` with a ``cluster:`` section: a local Ray cluster of ``workers``.

    A :class:`~streamconv.bench.procs.Daemon` measured over its whole session (``session=True``);
    the config's ``cluster`` section is replaced by a local one (``workers`` worker actors,
    :data:`CPUS_PER_WORKER` each, ``num_cpus: workers + 1``).  Its links stay ``inproc`` in the
    config: the driver replaces them by free tcp loopback ports.  Ray's usage statistics are off
    (``RAY_USAGE_STATS_ENABLED=0``).

    Parameters
    ----------
    config : dict
        The config (as for ``streamconv run``), without or with a ``cluster`` section.
    workers : int
        Worker actors.
    name : str
        For messages and file names.
    """

    def __init__(self, config: dict[str, Any], *, workers: int, name: str = "cluster") -> None:
        config = copy.deepcopy(config)
        config["cluster"] = {"engine": "ray", "address": "local", "workers": workers,
                             "cpus_per_worker": CPUS_PER_WORKER, "producer_cpus": PRODUCER_CPUS,
                             "num_cpus": workers + 1}
        self.workers = workers
        self.started_at = time.monotonic()
        #: Seconds from the start to ``workers`` admitted workers (set by :meth:`wait_workers`).
        self.admitted_after_s: float | None = None
        env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
        super().__init__(config, name=name, env=env, session=True)

    def worker_pids(self) -> set[int]:
        """Return the pids of the live processes of this run's session (its actors among them)."""
        from streamconv.bench.procs import session_processes

        return {pid for pid, _ in session_processes(self.pid)}

    def check_alive(self) -> None:
        """Raise RuntimeError (with the log's tail) if the driver exited."""
        if not self.alive():
            raise RuntimeError(f"{self.name}: the driver exited ({self.popen.returncode}):\n{self.logs()}")

    def logs(self, lines: int = 12) -> str:
        """Return the last lines of the driver's log (Ray forwards the actors' logs to it)."""
        return self.log_tail(lines)

    def wait_workers(self, n: int, timeout: float, *, owner: bool) -> dict[str, Any]:
        """Wait (at most ``timeout`` s) until ``n`` worker actors of this run are admitted; see Topology."""
        st = super().wait_workers(n, timeout, owner=owner)
        self.admitted_after_s = time.monotonic() - self.started_at
        return st

    def stopped(self) -> dict[str, Any]:
        """Return the driver's pid, exit code, seconds from SIGTERM to exit, and what was left behind.

        ``leftovers`` is every process still in the session :data:`~Proc.SESSION_GRACE_S` after the
        driver exited (each was then killed); ``ray_leftovers`` those of them that were Ray's.
        """
        left = [cmd[:120] for _, cmd in self.leftovers]
        return {"pid": self.pid, "workers": self.workers, "exit_code": self.returncode,
                "stop_s": self.stop_seconds, "admitted_after_s": self.admitted_after_s,
                "leftovers": left, "ray_leftovers": [c for c in left if any(n in c for n in RAY_NAMES)]}


# -- 2. rate ---------------------------------------------------------------------------------------
def _one_process_rate(config: dict[str, Any], topic: str, name: str, prof: dict[str, Any], *,
                      warm_s: float, seconds: float, rcvhwm: int | None) -> dict[str, Any]:
    with Daemon(config, name=name) as d:
        d.wait_ready(prof["ready_timeout_s"])
        got = throughput_window(d, topic, warm_s, seconds, ready_timeout=prof["ready_timeout_s"],
                                rcvhwm=rcvhwm)
        got["exit_code"] = d.stop()
    got["workers"] = 0
    return got


def _cluster_rate(config: dict[str, Any], topic: str, workers: int, name: str, prof: dict[str, Any], *,
                  warm_s: float, seconds: float, rcvhwm: int | None, owner: bool) -> dict[str, Any]:
    with Cluster(config, workers=workers, name=name) as c:
        c.wait_workers(workers, prof["ready_timeout_s"], owner=owner)
        got = throughput_window(c, topic, warm_s, seconds, ready_timeout=prof["ready_timeout_s"],
                                rcvhwm=rcvhwm)
        status = c.status()
    got["processed"] = {w["id"]: w.get("processed", {}) for w in status["roles"]["workers"]}
    got["workers"] = workers
    got["stopped"] = c.stopped()
    return got


def rate(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """Frames/s of camera/sharpen, the source unthrottled: one process, then a cluster with 1 worker."""
    config = sharpen_config({**prof, "fps": 0})
    topic = "camera/sharpen"
    what = f"{prof['width']}x{prof['height']} sharpen unthrottled, {prof['rate_s']:g} s"
    log(f"cluster: rate, one-process daemon, {what}")
    one = _one_process_rate(config, topic, "cluster-rate-one", prof, warm_s=prof["rate_warm_s"],
                            seconds=prof["rate_s"], rcvhwm=None)
    log(f"cluster: rate, Ray cluster with 1 worker actor, {what}")
    ray1 = _cluster_rate(config, topic, 1, "cluster-rate1", prof, warm_s=prof["rate_warm_s"],
                         seconds=prof["rate_s"], rcvhwm=None, owner=True)
    p1, p2 = one["published_per_s"], ray1["published_per_s"]
    return {"config": config, "topic": topic, "one_process": one, "cluster": ray1,
            "ratio": ray1["msg_per_s"] / one["msg_per_s"] if one["msg_per_s"] > 0 else None,
            "ratio_published": p2 / p1 if p1 and p2 is not None else None}


# -- 3. scaling ------------------------------------------------------------------------------------
def scaling(prof: dict[str, Any], log: Any) -> dict[str, Any]:
    """K-filter bank3d on unthrottled frames: one process, then clusters of 1 .. ``max_workers`` workers."""
    config = bank_config(prof)
    topic = "camera/features"
    what = f"bank3d K={prof['bank_k']} {prof['width']}x{prof['height']} unthrottled, {prof['bank_s']:g} s"
    # a small receive queue: 59 MB a message at 720p K=16; what this process cannot take shows as gaps
    opts: dict[str, Any] = {"warm_s": prof["bank_warm_s"], "seconds": prof["bank_s"], "rcvhwm": 4}
    log(f"cluster: scaling, one-process daemon, {what}")
    one = _one_process_rate(config, topic, "cluster-bank-one", prof, **opts)
    runs = []
    for n in range(1, prof["max_workers"] + 1):
        log(f"cluster: scaling, Ray cluster with {n} worker actor(s), {what}")
        runs.append(_cluster_rate(config, topic, n, f"cluster-bank{n}", prof, owner=False, **opts))
    r1, p1 = runs[0]["msg_per_s"], runs[0]["published_per_s"]
    for r in runs:
        r["ratio_to_one_worker"] = r["msg_per_s"] / r1 if r1 > 0 else None
        r["ratio_published_to_one_worker"] = (r["published_per_s"] / p1
                                              if p1 and r["published_per_s"] is not None else None)
        r["ratio_to_one_process"] = r["msg_per_s"] / one["msg_per_s"] if one["msg_per_s"] > 0 else None
    return {"k": prof["bank_k"], "one_process": one, "runs": runs,
            "message_mb": prof["width"] * prof["height"] * prof["bank_k"] * 4 / 1e6}


# -- 4. the multi-host estimate ----------------------------------------------------------------------
def estimate(prof: dict[str, Any]) -> dict[str, Any]:
    """Frames/s of the bank for N worker hosts on 10 GbE, from its compute time and its bytes (not measured).

    The compute time is one frame through the bank's pipeline here, ``cv2.setNumThreads(1)`` (one
    core per worker host), median of ``estimate_repeats``.  The model: a worker overlaps its
    compute with its sends (ZeroMQ's I/O thread), so one worker host gives
    ``1 / max(compute, out_bytes / link)``; every result crosses the publisher's one link
    (``link / out_bytes``) and every frame the producer's (``link / in_bytes``); N hosts give the
    least of ``N`` times the first and the two links.  Loopback copies, the subscriber's side and
    protocol overhead are left out, so it is an upper bound.
    """
    import cv2

    from streamconv import config as cfg
    from streamconv.pipeline import StreamPipeline
    from streamconv.sources.synthetic import SyntheticCamera

    config = cfg.parse(bank_config(prof))
    name, stream = next(iter(config.streams.items()))
    pipe = StreamPipeline(name, stream)
    frame = SyntheticCamera(width=prof["width"], height=prof["height"], fps=0).frame(1)
    out_bytes = sum(o.array.nbytes for o in pipe.process(frame))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        t = interleaved({"bank": lambda: pipe.process(frame)}, prof["estimate_repeats"], 0.2)["bank"]
    finally:
        cv2.setNumThreads(threads)
    compute_s = t.median
    link = LINK_BITS_PER_S / 8
    in_s, out_s = frame.nbytes / link, out_bytes / link
    per_host = 1.0 / max(compute_s, out_s)
    rows = []
    for n in ESTIMATE_HOSTS:
        limits = {"compute": n * per_host, "publisher link": 1.0 / out_s, "producer link": 1.0 / in_s}
        limit = min(limits, key=lambda k: limits[k])
        rows.append({"hosts": n, "frames_per_s": limits[limit], "limited_by": limit})
    return {"compute_ms": compute_s * 1e3, "compute_samples_ms": [x * 1e3 for x in t.samples],
            "in_bytes": int(frame.nbytes), "out_bytes": int(out_bytes), "link_bits_per_s": LINK_BITS_PER_S,
            "in_link_ms": in_s * 1e3, "out_link_ms": out_s * 1e3,
            "hosts_to_fill_the_publisher_link": max(compute_s, out_s) / out_s, "rows": rows}


def run(profile: str, *, log: Any = print) -> dict[str, Any]:
    """Run the ``cluster`` section: overhead, rate, scaling, and the multi-host estimate."""
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    res: dict[str, Any] = {"profile": profile, "settings": prof}
    res["overhead"] = compare_latency(
        prof, log, section="cluster", key="cluster",
        label="Ray cluster: publisher + producer + 1 worker actor",
        start=lambda config: Cluster(config, workers=1, name="cluster-lat1"))
    res["rate"] = rate(prof, log)
    res["scaling"] = scaling(prof, log)
    log("cluster: the multi-host estimate (bank3d compute time here, one thread)")
    res["estimate"] = estimate(prof)
    res["stopped"] = [res["overhead"]["cluster"]["stopped"], res["rate"]["cluster"]["stopped"],
                      *(r["stopped"] for r in res["scaling"]["runs"])]
    res["seconds"] = time.perf_counter() - t0
    return res


# -- targets and report ---------------------------------------------------------------------------
def targets(res: dict[str, Any]) -> list[Target]:
    """Cluster - one process latency: p50 <= +3 ms, p99 <= +6 ms; cluster / one process frames/s >= 0.6."""
    prof = res["settings"]
    return [
        *overhead_targets("cluster", "cluster (Ray, 1 worker actor)", res),
        Target("cluster", f"cluster (Ray, 1 worker actor) / one process: frames/s, {prof['height']}p sharpen "
               "unthrottled", res["rate"]["ratio"], RATE_RATIO_TARGET),
    ]


def report(res: dict[str, Any]) -> str:
    """Plain-text tables of the cluster section."""
    prof, rt, sc, est = res["settings"], res["rate"], res["scaling"], res["estimate"]
    out = [overhead_report(res, "cluster", "cluster: Ray, producer+1 worker actor", "cluster")]
    out.append(f"\nrate: {prof['width']}x{prof['height']} synthetic unthrottled (fps: 0), camera/sharpen "
               f"(+ the default's laser), {prof['rate_s']:g} s after {prof['rate_warm_s']:g} s warm-up")
    rows = [throughput_row("one process (streamconv run)", rt["one_process"]),
            throughput_row("cluster: Ray, 1 worker actor", rt["cluster"]),
            ["cluster / one process", "", _f(rt["ratio"], ".2f"), _f(rt["ratio_published"], ".2f"),
             "", "", "", ""]]
    out.append(table(THROUGHPUT_HEADERS, rows))
    out.append(f"\nscaling: bank3d K={sc['k']} 3x3x3 (seeded random), {prof['width']}x{prof['height']} "
               f"unthrottled, {sc['message_mb']:.1f} MB per camera/features message, "
               f"{prof['bank_s']:g} s after {prof['bank_warm_s']:g} s warm-up; Ray: {CPUS_PER_WORKER:g} CPU "
               "per worker, num_cpus workers + 1")
    rows = [[*throughput_row("one process (streamconv run)", sc["one_process"]), "", ""]]
    for r in sc["runs"]:
        split = "/".join(str(sum(p.values())) for p in r["processed"].values())
        rows.append([*throughput_row(f"cluster: {r['workers']} worker actor(s)", r),
                     _f(r["ratio_to_one_worker"], ".2f"), split])
    out.append(table([*THROUGHPUT_HEADERS, "/ 1 worker", "frames per worker"], rows))
    out.append(f"\nESTIMATE, not a measurement: {est['compute_ms']:.1f} ms per frame through the bank "
               f"here (measured, 1 thread); a frame is {est['in_bytes'] / 1e6:.2f} MB in and "
               f"{est['out_bytes'] / 1e6:.1f} MB out, {est['in_link_ms']:.1f} + {est['out_link_ms']:.1f} ms "
               f"at {est['link_bits_per_s'] / 1e9:g} Gb/s line rate; one worker host per core, compute "
               "overlapped with sends")
    rows = [[str(r["hosts"]), f"{r['frames_per_s']:.1f}", r["limited_by"]] for r in est["rows"]]
    out.append(table(["worker hosts (estimate)", "frames/s (estimate)", "limited by"], rows))
    out.append(f"   the publisher's link is full from about {est['hosts_to_fill_the_publisher_link']:.1f} "
               "worker hosts on: more hosts add nothing for this stage")
    st = res["stopped"]
    out.append(f"\ncluster runs: {len(st)}; driver exit codes {[s['exit_code'] for s in st]}; "
               f"SIGTERM -> exit {', '.join(_f(s['stop_s'], '.1f') for s in st)} s; "
               f"start -> workers admitted {', '.join(_f(s['admitted_after_s'], '.1f') for s in st)} s; "
               "processes left in a run's "
               f"session after its driver exited (killed): {sum(len(s['leftovers']) for s in st)}, "
               f"of them Ray's: {sum(len(s['ray_leftovers']) for s in st)}")
    return "\n".join(out)
