"""Fixtures that run the real daemon as a subprocess on free loopback ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from streamconv import control
from streamconv.sockets import free_loopback_port as free_port


@dataclass
class Daemon:
    proc: subprocess.Popen
    publish: str
    control: str
    config_path: Path
    log_path: Path

    def request(self, payload: dict, timeout: float = 3.0) -> dict:
        return control.request(payload, self.control, timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> tuple[int, float]:
        """Send ``sig``; return (exit code, seconds it took to exit)."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - t0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def daemon_config(publish_port: int, control_port: int, *, laser: bool = True, camera: bool = True,
                  width: int = 160, height: int = 120, fps: float = 20.0) -> dict:
    streams: dict = {}
    if laser:
        streams["laser"] = {
            "source": {"kind": "laser", "rate_hz": 100},
            "outputs": {"smoothed": [{"kind": "causal_fir",
                                       "weights": [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]}]},
        }
    if camera:
        streams["camera"] = {
            "source": {"kind": "synthetic", "width": width, "height": height, "fps": fps},
            "outputs": {
                "sharpen": {"kind": "kernel2d", "kernel": "sharpen", "padding": "same"},
                "edges": {"kind": "kernel2d", "kernel": "edge_detect", "padding": "same"},
            },
        }
    return {
        "service": {
            "publish": f"tcp://127.0.0.1:{publish_port}",
            "control": f"tcp://127.0.0.1:{control_port}",
            "stats_interval_s": 0.5,
            "status_interval_s": 1.0,
        },
        "streams": streams,
    }


def start_daemon(tmp_path: Path, config: dict, *, wait: bool = True) -> Daemon:
    cfg_path = tmp_path / "daemon.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    log_path = tmp_path / "daemon.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamconv", "run", "-c", str(cfg_path)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    d = Daemon(proc, config["service"]["publish"], config["service"].get("control") or "", cfg_path,
               log_path)
    if wait:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"daemon exited early ({proc.returncode}):\n{d.log()}")
            try:
                if d.request({"cmd": "ping"}, timeout=0.5).get("ok"):
                    break
            except TimeoutError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"daemon did not answer ping within 15 s:\n{d.log()}")
    return d


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port()))
    try:
        yield d
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(5)
