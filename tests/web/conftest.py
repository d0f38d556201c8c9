"""Fixtures: a real daemon and a real ``streamconv web`` subprocess on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._process import terminate
from tests.service import conftest as service_conftest
from tests.service.conftest import Daemon, free_port

pytest.importorskip("aiohttp", reason="pip install 'streamconv[web]'")

#: The daemon fixture of the service tests (a real daemon on free loopback ports).
daemon = service_conftest.daemon


@dataclass
class Web:
    proc: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_web(tmp_path: Path, daemon: Daemon, *extra: str, wait_topic: str | None = "camera/sharpen") -> Web:
    """Start ``streamconv web`` against ``daemon``; wait (at most 15 s) until it serves ``wait_topic``."""
    port = free_port()
    log_path = tmp_path / f"web-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamconv", "web", "--listen", f"127.0.0.1:{port}",
             "--endpoint", daemon.publish, "--control", daemon.control, *extra],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    web = Web(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 15
    path = f"/snapshot?topic={wait_topic}" if wait_topic else "/static/app.js"
    token = [a for a in extra if a.startswith("tok")]
    if "--token" in extra:
        path += ("&" if "?" in path else "?") + "token=" + extra[extra.index("--token") + 1]
    del token
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"web exited early ({proc.returncode}):\n{web.log()}")
        try:
            with urllib.request.urlopen(web.url + path, timeout=2) as r:
                if r.status == 200:
                    return web
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"web did not serve {path} within 15 s:\n{web.log()}")
        time.sleep(0.2)


def stop_web(web: Web) -> None:
    terminate(web.proc)


@pytest.fixture
def web(tmp_path: Path, daemon: Daemon) -> Iterator[Web]:
    w = start_web(tmp_path, daemon)
    try:
        yield w
    finally:
        stop_web(w)
