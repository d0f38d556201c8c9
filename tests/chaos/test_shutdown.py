"""Shutdown keeps its promise: exit 0 within 2 s with a busy stage, a frozen or dead peer, a group signal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
import zmq

from streamconv.client import Subscriber
from tests.chaos.conftest import report
from tests.service.conftest import daemon_config, free_port, start_daemon
from tests.service.test_roles import Topology, roles_config

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

PROMISE_S = 2.0


def busy_config() -> dict:
    """720p through a 255x255 general kernel: about a second of work per frame on this machine."""
    cfg = daemon_config(free_port(), free_port(), width=1280, height=720, fps=30)
    k = np.random.default_rng(0).standard_normal((255, 255)).round(3).tolist()
    cfg["streams"]["camera"]["outputs"] = {"busy": {"kind": "kernel2d", "kernel": k}}
    return cfg


def frozen_subscriber(endpoint: str) -> zmq.Socket:
    """A subscriber to everything that never reads (its queues fill, then the publisher's)."""
    s = zmq.Context.instance().socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, 1)
    s.setsockopt(zmq.RCVBUF, 4096)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    return s


def test_sigterm_with_a_busy_stage_and_a_frozen_subscriber(tmp_path: Path):
    d = start_daemon(tmp_path, busy_config())
    frozen = frozen_subscriber(d.publish)
    try:
        with Subscriber(d.publish, ["camera/busy"], timeout=30) as sub:
            sub.recv()  # the busy stage is running
        time.sleep(1.0)
        code, took = d.stop(signal.SIGTERM, timeout=10)
    finally:
        frozen.close(0)
        if d.proc.poll() is None:
            d.proc.kill()
    assert code == 0, d.log()[-3000:]
    assert took < PROMISE_S, (took, d.log()[-3000:])
    assert "streamconv stopped" in d.log()
    report("SIGTERM, busy stage, frozen subscriber", exit=code, took_s=took)


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils' timeout")
def test_a_group_signal_from_timeout_is_one_stop_request(tmp_path: Path):
    """`timeout` signals the daemon and then its whole group: one clean stop, exit 0, no 'force'."""
    cfg = daemon_config(free_port(), free_port())
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(cfg))
    t0 = time.monotonic()
    proc = subprocess.run(
        ["timeout", "--preserve-status", "-s", "TERM", "6",
         sys.executable, "-m", "streamconv", "run", "-c", str(path)],
        capture_output=True, text=True, timeout=30, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    took = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "signal SIGTERM: shutting down" in log and "streamconv stopped" in log
    assert "second signal" not in log
    assert took < 6 + PROMISE_S + 1.0, took  # + interpreter start
    report("group signal from timeout", exit=proc.returncode, total_s=took, forced=0)


def test_each_role_stops_in_time_next_to_a_frozen_worker(tmp_path: Path):
    """A SIGSTOPped worker process: the publisher, the producer and the live worker still exit 0 in 2 s."""
    cfg = roles_config()
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(cfg))
    topo = Topology(tmp_path, cfg, path)
    try:
        topo.start("worker0", "worker")
        frozen = topo.start("worker1", "worker")
        topo.start("producer", "producer")
        topo.start("publisher", "publisher")
        topo.wait_workers(2)
        with Subscriber(topo.publish, ["camera/sharpen", "laser/smoothed"], timeout=10) as sub:
            sub.wait_ready(15)
            os.kill(frozen.pid, signal.SIGSTOP)
            for _ in range(20):
                sub.recv()
        took = {}
        for name in ("publisher", "producer", "worker0"):
            p = topo.procs[name]
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            code = p.wait(10)
            took[name] = time.monotonic() - t0
            assert code == 0, (name, topo.logs())
        assert max(took.values()) < PROMISE_S, (took, topo.logs())
        report("roles next to a frozen worker", **{f"{k}_s": v for k, v in took.items()})
    finally:
        if topo.procs.get("worker1") is not None:
            os.kill(topo.procs["worker1"].pid, signal.SIGCONT)
        topo.stop_all()
