"""Slow clients: memory bounded by bytes; sensor topics lossless next to video a client is slow on."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamconv.client import Subscriber
from tests.chaos.conftest import report, rss_mb
from tests.service.conftest import daemon_config, free_port, start_daemon

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_subscribe_behind_a_stalled_terminal_stays_bounded(tmp_path: Path):
    """`streamconv subscribe camera/` on 720p whose stdout nobody reads: it grew 160 MB/s before."""
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), laser=False, width=1280, height=720,
                                             fps=30))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamconv", "subscribe", "camera/", "--all-frames", "--endpoint", d.publish],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3.0)  # the pipe is full long before: the command is stalled on print
        first = rss_mb(proc.pid)
        samples = []
        for _ in range(6):
            time.sleep(1.0)
            samples.append(rss_mb(proc.pid))
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(5)
        d.stop()
    growth = max(samples) - first
    report("stalled `subscribe camera/` at 720p", rss_first_mb=first, rss_peak_mb=max(samples),
           growth_mb_over_6s=growth)
    assert max(samples) < 400, samples  # the 64 MiB budget plus the interpreter and numpy
    assert growth < 120, samples  # it grew 160 MB/s before (~1 GB over these 6 s); it swings ~60 MB now


def test_sensor_topics_stay_lossless_for_a_client_slow_on_video(tmp_path: Path):
    """One subscriber to laser/ and camera/ that takes 50 ms per frame (a display): no laser gap."""
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), width=640, height=480, fps=30))
    try:
        laser = frames = 0
        with Subscriber(d.publish, ["laser/", "camera/sharpen"], latest=True, timeout=5) as sub:
            sub.wait_ready(10)
            end = time.monotonic() + 6.0
            while time.monotonic() < end:
                m = sub.recv()
                if m.kind == "frame":
                    frames += 1
                    time.sleep(0.05)
                else:
                    laser += 1
            laser_gaps = [e for e in sub.gap_events if e[0].startswith("laser/")]
            skipped, gaps = sub.skipped, sub.gaps
    finally:
        d.stop()
    report("laser next to video a client is slow on", laser_messages=laser, laser_gaps=len(laser_gaps),
           frames_shown=frames, frames_skipped=skipped)
    assert laser >= 3 * 400 and laser_gaps == [] and gaps == 0  # ~600 per laser topic in 6 s
    assert skipped > 0 and frames <= 6.0 / 0.05 + 1
