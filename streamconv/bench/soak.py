"""Soak: the daemon's RSS over a long run with the default config and a subscriber attached.

The daemon runs as a subprocess (default config on free loopback ports); a subscriber thread in
this process receives every topic (``''``) for the whole run; the main thread samples ``VmRSS`` of
the daemon's process group every ``interval`` seconds.  The slope of a least-squares line through
the samples after the warm-up is the leak rate (target < 1 MB/min).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from streamconv.bench.procs import MEASURE_QUEUE_BYTES, Daemon, default_config
from streamconv.bench.targets import Target
from streamconv.bench.timing import table

__all__ = ["fit_slope", "report", "run", "targets"]

RSS_SLOPE_TARGET = 1.0  # MB/min


def fit_slope(t_s: list[float] | np.ndarray, rss_mb: list[float] | np.ndarray) -> float:
    """Least-squares slope of ``rss_mb`` over time, in MB per minute.

    Examples
    --------
    >>> round(fit_slope([0, 60, 120], [100.0, 101.0, 102.0]), 6)
    1.0
    """
    t = np.asarray(t_s, dtype=np.float64) / 60.0
    y = np.asarray(rss_mb, dtype=np.float64)
    if t.size < 2 or np.ptp(t) == 0:
        return 0.0
    return float(np.polyfit(t, y, 1)[0])


def _subscribe(endpoint: str, stop: threading.Event, counts: dict[str, Any]) -> None:
    from streamconv.client import Subscriber

    try:
        with Subscriber(endpoint, [""], timeout=None, max_queue_bytes=MEASURE_QUEUE_BYTES) as sub:
            while not stop.is_set():
                try:
                    sub.recv(timeout=0.2)
                except TimeoutError:
                    continue
                counts["messages"] += 1
            counts["gaps"] = sub.gaps
            counts["malformed"] = sub.malformed
            by_topic: dict[str, int] = {}
            for topic, _epoch, expected, got in sub.gap_events:
                by_topic[topic] = by_topic.get(topic, 0) + got - expected
            counts["gaps_by_topic"] = by_topic
    except Exception as exc:  # reported, never hidden
        counts["error"] = f"{exc.__class__.__name__}: {exc}"


def run(
    minutes: float, *, interval_s: float = 5.0, warmup_s: float = 30.0, log: Any = print
) -> dict[str, Any]:
    """Run the daemon for ``warmup_s + minutes * 60`` s with a subscriber; sample its RSS."""
    config = default_config()
    counts: dict[str, Any] = {"messages": 0, "gaps": 0, "malformed": 0}
    samples: list[tuple[float, float, float]] = []  # (t since start, RSS MB, cumulative CPU s)
    stop = threading.Event()
    log(f"soak: default config with a subscriber, {warmup_s:g} s warm-up + {minutes:g} min, "
        f"RSS every {interval_s:g} s")
    with Daemon(config, name="soak") as d:
        ready_s = d.wait_ready()
        thread = threading.Thread(target=_subscribe, args=(d.publish, stop, counts), daemon=True)
        thread.start()
        try:
            t0 = time.perf_counter()
            end = t0 + warmup_s + minutes * 60.0
            next_t = t0
            last_log = t0
            while True:
                now = time.perf_counter()
                samples.append((now - t0, d.rss_bytes() / 2**20, d.cpu_seconds()))
                if not d.alive():
                    raise RuntimeError(f"the daemon died during the soak:\n{d.log_tail()}")
                if now - last_log >= 60:
                    log(f"soak: {(now - t0) / 60:.1f} min, RSS {samples[-1][1]:.1f} MB, "
                        f"{counts['messages']} messages received")
                    last_log = now
                if now >= end:
                    break
                next_t += interval_s
                time.sleep(max(0.0, min(next_t, end) - time.perf_counter()))
        finally:
            stop.set()
            thread.join(5)
        code = d.stop()
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples])
    cpu = np.array([s[2] for s in samples])
    after = t >= warmup_s
    slope = fit_slope(t[after], rss[after])
    half = t >= warmup_s + (t[-1] - warmup_s) / 2
    span = t[after][-1] - t[after][0] if after.sum() > 1 else 0.0
    return {
        "minutes": minutes, "interval_s": interval_s, "warmup_s": warmup_s, "ready_s": ready_s,
        "exit_code": code, "samples": [[round(a, 2), round(b, 3), round(c, 2)] for a, b, c in samples],
        "rss_mb_start": float(rss[after][0]) if after.any() else None,
        "rss_mb_end": float(rss[-1]), "rss_mb_max": float(rss.max()), "rss_mb_first": float(rss[0]),
        "slope_mb_per_min": slope, "slope_second_half_mb_per_min": fit_slope(t[half], rss[half]),
        "cpu_percent": float(100.0 * (cpu[after][-1] - cpu[after][0]) / span) if span > 0 else None,
        "subscriber": counts, "streams": sorted(config.get("streams", {})),
    }


def targets(res: dict[str, Any]) -> list[Target]:
    """Return the soak's target: RSS slope < 1 MB/min."""
    return [Target("soak", f"RSS slope over {res['minutes']:g} min, default config + subscriber",
                   res["slope_mb_per_min"], RSS_SLOPE_TARGET, higher_is_better=False, unit="MB/min",
                   strict=True)]


def report(res: dict[str, Any]) -> str:
    """Plain-text summary of a soak run."""
    sub = res["subscriber"]
    rows = [
        ["measured span", f"{res['minutes']:g} min after {res['warmup_s']:g} s warm-up, "
                          f"{len(res['samples'])} samples every {res['interval_s']:g} s"],
        ["RSS at start of span / end / max", f"{res['rss_mb_start']:.1f} / {res['rss_mb_end']:.1f} / "
                                             f"{res['rss_mb_max']:.1f} MB"],
        ["RSS slope (least squares)", f"{res['slope_mb_per_min']:+.3f} MB/min"],
        ["RSS slope, second half only", f"{res['slope_second_half_mb_per_min']:+.3f} MB/min"],
        ["daemon CPU over the span", "-" if res["cpu_percent"] is None else f"{res['cpu_percent']:.1f}%"],
        ["subscriber", f"{sub['messages']} messages, gaps {sub.get('gaps')}, malformed "
                       f"{sub.get('malformed')}{', error ' + sub['error'] if 'error' in sub else ''}"],
        ["gaps by topic", ", ".join(f"{t} {n}" for t, n in sub.get("gaps_by_topic", {}).items()) or "-"],
    ]
    return table(["measure", "value"], rows)
