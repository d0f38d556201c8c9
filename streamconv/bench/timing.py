"""Timing helpers for the benchmarks: interleaved repeats, medians, paired ratios, tables.

Moved here from ``benchmarks/_timing.py`` so that ``streamconv bench`` (an installed command) and the
scripts in ``benchmarks/`` share one copy.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Timing",
    "calibrate",
    "interleaved",
    "load_average",
    "machine_info",
    "paired_ratio",
    "table",
]


@dataclass
class Timing:
    """Per-call times (seconds) of one contender, one entry per repeat."""

    name: str
    inner: int
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median per-call seconds over the repeats."""
        return statistics.median(self.samples)

    def to_json(self) -> dict:
        """Return the samples and their median as a JSON-ready dict."""
        return {"inner": self.inner, "median_s": self.median, "samples_s": self.samples}


def calibrate(fn: Callable[[], object], target_s: float, max_inner: int = 10_000) -> int:
    """Return how many calls of ``fn`` make one timed sample of about ``target_s`` seconds."""
    fn()  # warm caches, lazy imports, thread pools
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, min(max_inner, round(target_s / one)))


def interleaved(
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    target_s: float,
) -> dict[str, Timing]:
    """Time every contender once per repeat, back to back, alternating the order.

    Each repeat runs every contender for one sample of ``inner`` calls (``inner`` calibrated
    per contender so a sample lasts about ``target_s``); even repeats go in the given order,
    odd repeats in reverse, so a burst of machine noise hits all contenders alike and no one
    always runs first.  The garbage collector is off while timing, as in ``timeit``.
    """
    names = list(contenders)
    timings = {n: Timing(n, calibrate(contenders[n], target_s)) for n in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                fn, inner = contenders[n], timings[n].inner
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                timings[n].samples.append((time.perf_counter() - t0) / inner)
    finally:
        if gc_was_enabled:
            gc.enable()
    return timings


def paired_ratio(num: Timing, den: Timing) -> float:
    """Median over repeats of ``num / den`` for the samples taken back to back."""
    return statistics.median(a / b for a, b in zip(num.samples, den.samples, strict=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """Return a plain-text table, a rule under the header; the first ``left`` columns left-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15 minute load averages (what ``uptime`` prints), or None."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict[str, object]:
    """Return the facts a benchmark result depends on: cores, CPU, library versions."""
    import cv2
    import numpy as np

    info: dict[str, object] = {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "cv2_threads": cv2.getNumThreads(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "mem_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "load_average": load_average(),
    }
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        info["scipy"] = None
    return info
