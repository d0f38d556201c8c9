"""One recording of a real daemon, shared by the module's tests, and what a Subscriber saw meanwhile."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from streamconv.client import Subscriber
from tests.service.conftest import Daemon, daemon_config, free_port, start_daemon

pytest.importorskip("mcap", reason="pip install 'streamconv[record]'")
pytest.importorskip("foxglove", reason="pip install 'streamconv[record]'")

#: Seconds recorded (the issue: 5 s of the embedded default).
RECORD_S = 5.0


def digest(array: np.ndarray) -> str:
    """Identify an array by dtype, shape and bytes."""
    a = np.ascontiguousarray(array)
    return f"{a.dtype.str}{list(a.shape)}:{hashlib.sha256(a.tobytes()).hexdigest()}"


@dataclass
class Seen:
    """What one Subscriber received: per (topic, epoch, seq) the array's digest and header times."""

    messages: dict[tuple[str, str, int], tuple[str, int, int | None]] = field(default_factory=dict)
    values: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)


def collect(endpoint: str, stop: threading.Event, seen: Seen) -> None:
    with Subscriber(endpoint, [""], max_queue_bytes=1 << 30) as sub:
        while not stop.is_set():
            try:
                msg = sub.recv(timeout=0.2)
            except TimeoutError:
                continue
            seen.messages[(msg.topic, msg.epoch, msg.seq)] = (digest(msg.array), msg.t_capture_ns,
                                                             msg.t_publish_ns)
            if msg.kind == "samples":
                seen.values[(msg.topic, msg.seq)] = np.array(msg.array)


def run_cli(*args: str, timeout: float = 60.0, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamconv", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"), **kw)


@dataclass
class Recording:
    daemon: Daemon
    path: Path
    seen: Seen
    result: subprocess.CompletedProcess
    config: dict


def default_like() -> dict:
    """The embedded default's streams (640x480 at 30 fps, laser at 100 Hz) on free loopback ports."""
    return daemon_config(free_port(), free_port(), width=640, height=480, fps=30.0)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recording]:
    tmp = tmp_path_factory.mktemp("rec")
    config = default_like()
    d = start_daemon(tmp, config)
    seen = Seen()
    stop = threading.Event()
    t = threading.Thread(target=collect, args=(d.publish, stop, seen), daemon=True)
    t.start()
    try:
        time.sleep(1.0)  # the collector has joined before the recorder starts: it sees a superset
        path = tmp / "run.mcap"
        result = run_cli("record", "--out", str(path), "--endpoint", d.publish, "--duration", str(RECORD_S))
        time.sleep(0.5)
        stop.set()
        t.join(5)
        yield Recording(d, path, seen, result, config)
    finally:
        stop.set()
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(5)
