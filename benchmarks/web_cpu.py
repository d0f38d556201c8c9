"""CPU of ``streamconv web`` with 1 and 5 WebSocket clients on a 720p stream, and frames per client.

Run: ``PYTHONPATH=. python benchmarks/web_cpu.py`` (starts a daemon and the viewer on loopback ports;
about 30 s).  The clients are aiohttp WebSocket readers (what a page's socket receives), not browsers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.service.conftest import daemon_config, free_port, start_daemon

SECONDS = 8.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def clients(url: str, n: int) -> list[int]:
    counts = [0] * n

    async def one(i: int) -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:
                try:
                    msg = await ws.receive(timeout=1.0)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    counts[i] += 1

    await asyncio.gather(*(one(i) for i in range(n)))
    return counts


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    cfg = daemon_config(free_port(), free_port(), width=1280, height=720, fps=30.0)
    d = start_daemon(tmp, cfg)
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "streamconv", "web", "--listen", f"127.0.0.1:{port}",
                            "-e", d.publish, "--control", d.control])
    try:
        time.sleep(4.0)
        base = cpu_s(web.pid)
        t0 = time.monotonic()
        time.sleep(SECONDS)
        idle = (cpu_s(web.pid) - base) / (time.monotonic() - t0)
        print(f"0 clients: web CPU {idle * 100:.0f}% of one core (subscribe + encode 3 topics once)")
        for n in (1, 5):
            base, t0 = cpu_s(web.pid), time.monotonic()
            counts = asyncio.run(clients(f"ws://127.0.0.1:{port}/ws", n))
            used = (cpu_s(web.pid) - base) / (time.monotonic() - t0)
            print(f"{n} clients: web CPU {used * 100:.0f}% of one core; frames/s per client "
                  f"{[round(c / SECONDS, 1) for c in counts]}")
    finally:
        web.terminate()
        web.wait(5)
        d.proc.kill()
        d.proc.wait(5)


if __name__ == "__main__":
    main()
