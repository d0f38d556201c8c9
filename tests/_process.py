"""Stopping a child process the tests started: SIGTERM, then SIGKILL if it does not exit in time."""

from __future__ import annotations

import subprocess


def terminate(proc: subprocess.Popen | None, timeout: float = 5.0) -> None:
    """Terminate ``proc`` if it runs; kill it if it has not exited within ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
