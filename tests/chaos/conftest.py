"""Shared helpers of the scenario suite: raw control requests, process memory, a frozen subscriber."""

from __future__ import annotations

import time
from pathlib import Path

import zmq

from tests.service.conftest import Daemon


def raw_request(endpoint: str, frames: list[bytes], timeout: float = 3.0) -> bytes | None:
    """Send ``frames`` as one REQ request; return the reply, or None when none came in ``timeout``."""
    with zmq.Context.instance().socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send_multipart(frames)
        if not s.poll(int(timeout * 1000)):
            return None
        return s.recv()


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (from /proc)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def wait_until(pred, timeout: float, step: float = 0.05) -> bool:
    """Poll ``pred`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def alive(d: Daemon) -> bool:
    return d.proc.poll() is None


def report(scenario: str, **figures: object) -> None:
    """Print the figures a scenario measured (``pytest -m chaos -s`` shows them; docs/reliability.md)."""
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    print(f"\nCHAOS {scenario}: {shown}")
