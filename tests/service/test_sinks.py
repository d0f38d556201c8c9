"""The one receive loop (`sinks.base.pump`) and its signal policy, on a real daemon and real processes.

Evidence: the laser's sequence numbers as the daemon published them (every message handed over
once, in order); a gap the subscriber saw reaches the sink; the exit codes and files of `view`
and `log` stopped by SIGTERM.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from streamconv.client import Subscriber
from streamconv.sinks.base import Sink, StopSignals, Ticking, pump
from tests.service.conftest import Daemon

pytestmark = pytest.mark.slow


class Recorder:
    def __init__(self, stop_after_ticks: int | None = None) -> None:
        self.seqs: list[int] = []
        self.gaps: list[tuple] = []
        self.ticks: list[float] = []
        self.stop_after_ticks = stop_after_ticks

    def write(self, msg) -> None:
        self.seqs.append(msg.seq)

    def gap(self, topic, epoch, expected, got) -> None:
        self.gaps.append((topic, expected, got))


class TickingRecorder(Recorder):
    def tick(self, now: float) -> bool:
        self.ticks.append(now)
        return len(self.ticks) < self.stop_after_ticks


def test_pump_hands_over_every_message_once_in_order_and_stops_at_count(daemon: Daemon):
    rec = Recorder()
    assert isinstance(rec, Sink) and not isinstance(rec, Ticking)
    with Subscriber(daemon.publish, ["laser/smoothed"]) as sub:
        sub.wait_ready(timeout=10)
        ended = pump(sub, rec, count=50)
        assert sub.gaps == 0
    assert (ended.reason, ended.messages) == ("count", 50)
    assert rec.seqs == list(range(rec.seqs[0], rec.seqs[0] + 50))


def test_pump_ticks_a_ticking_sink_while_messages_flow_and_ends_when_it_says_so(daemon: Daemon):
    rec = TickingRecorder(stop_after_ticks=20)
    with Subscriber(daemon.publish, ["laser/smoothed"]) as sub:
        sub.wait_ready(timeout=10)
        t0 = time.monotonic()
        ended = pump(sub, rec, tick_s=0.05, duration=30)
        took = time.monotonic() - t0
    assert ended.reason == "sink" and len(rec.ticks) == 20
    assert ended.messages > 0 and rec.seqs == sorted(rec.seqs)
    assert 0.8 < took < 10, took  # 19 intervals of 50 ms, not the 30 s duration


def test_pump_ends_at_its_duration_and_forwards_the_gaps_the_subscriber_saw(daemon: Daemon):
    rec = Recorder()
    with Subscriber(daemon.publish, ["laser/smoothed"], max_queue_bytes=4096) as sub:
        sub.wait_ready(timeout=10)
        time.sleep(1.5)  # nobody reads: beyond 4 KiB the oldest are dropped, each drop a gap
        ended = pump(sub, rec, duration=0.5)
        dropped = sub.dropped
    assert ended.reason == "duration" and ended.messages > 0
    assert dropped and rec.gaps, (dropped, rec.gaps)
    missing = sum(got - expected for _, expected, got in rec.gaps)
    assert missing == sum(dropped.values()), (rec.gaps, dropped)
    assert all(topic == "laser/smoothed" for topic, _, _ in rec.gaps)


def test_a_stop_signal_ends_pump_and_a_second_one_interrupts():
    before = signal.getsignal(signal.SIGTERM)
    stop = StopSignals()
    with stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.requested and stop.received == [signal.SIGTERM]
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back


def test_view_stops_on_sigterm_with_exit_0_and_its_screenshot(daemon: Daemon, tmp_path: Path):
    shot = tmp_path / "view.png"
    proc = subprocess.Popen([sys.executable, "-m", "streamconv", "view", "camera/sharpen", "laser/",
                             "--endpoint", daemon.publish, "--no-window", "--screenshot", str(shot)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(4.0)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 100 and image.std() > 0, out
