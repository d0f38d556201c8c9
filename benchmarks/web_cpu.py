"""CPU of ``streamconv web`` with 0, 1 and 5 watchers on a 720p stream, and capture -> page latency.

Run: ``PYTHONPATH=. python benchmarks/web_cpu.py [--clients browser|ws] [--seconds 10]``.  It starts a
daemon publishing the synthetic camera at 1280x720, 30 fps (three frame topics: raw, sharpen,
edges), and ``streamconv web`` on loopback ports, then measures the viewer process's CPU from
``/proc/<pid>/stat`` while

- nobody watches (frames are kept, not encoded),
- 1, then 5 watchers are open: real Chromium pages (Debian's ``chromium``, driven by Playwright,
  the default) or plain aiohttp WebSocket readers (``--clients ws``, what a page's socket receives).

With browsers it also reads each page's own latency record (``window.streamconv.latencies``:
``Date.now()`` when a frame's ``<img>`` has loaded minus the header's capture time, same clock)
and its frames per second.  The browsers run on the same cores as the daemon and the viewer: on a
2-core machine five Chromium pages decoding three 720p JPEG streams each compete for CPU with what
is measured, which the latency figures include.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.service.conftest import daemon_config, free_port, start_daemon

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ws_clients(url: str, n: int, seconds: float, pid: int) -> tuple[float, list[float], list[float]]:
    """``n`` aiohttp WebSocket readers for ``seconds``: (CPU share, frames/s per client, [])."""
    import aiohttp

    counts = [0] * n

    async def one(i: int) -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    msg = await ws.receive(timeout=1.0)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    counts[i] += 1

    async def every() -> None:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), seconds + 10)

    base, t0 = cpu_s(pid), time.monotonic()
    asyncio.run(every())
    used = (cpu_s(pid) - base) / (time.monotonic() - t0)
    return used, [c / seconds for c in counts], []


def browser_clients(url: str, n: int, seconds: float, pid: int) -> tuple[float, list[float], list[float]]:
    """``n`` Chromium pages for ``seconds``: (CPU share, frames/s per page, latencies in ms)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        try:
            pages = []
            for _ in range(n):
                pg = browser.new_page(viewport={"width": 1280, "height": 800})
                pg.goto(url)
                pages.append(pg)
            for pg in pages:  # every page shows frames before the window starts
                pg.wait_for_function("() => Object.keys(window.streamconv.frames).length > 0", timeout=30_000)
                pg.evaluate("() => { window.streamconv.latencies = []; }")
            base, t0 = cpu_s(pid), time.monotonic()
            time.sleep(seconds)
            used = (cpu_s(pid) - base) / (time.monotonic() - t0)
            lat: list[float] = []
            fps = []
            for pg in pages:
                got = pg.evaluate("() => window.streamconv.latencies.slice()")
                lat.extend(got)
                fps.append(len(got) / seconds)
        finally:
            browser.close()
    return used, fps, lat


def published_fps(control_endpoint: str) -> float:
    """The daemon's own rate of ``camera/raw`` (frames/s) in its newest ``_stats``."""
    from streamconv import control

    reply = control.request({"cmd": "stats"}, control_endpoint, timeout=3.0)
    return float(((reply.get("stats") or {}).get("topics", {}).get("camera/raw") or {}).get("rate_hz", 0.0))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", choices=["browser", "ws"], default="browser")
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cfg = daemon_config(free_port(), free_port(), width=1280, height=720, fps=30.0)
    d = start_daemon(tmp, cfg)
    port = free_port()
    web = subprocess.Popen([sys.executable, "-m", "streamconv", "web", "--listen", f"127.0.0.1:{port}",
                            "-e", d.publish, "--control", d.control])
    run = browser_clients if args.clients == "browser" else ws_clients
    url = f"http://127.0.0.1:{port}/" if args.clients == "browser" else f"ws://127.0.0.1:{port}/ws"
    rows = []
    try:
        time.sleep(4.0)
        base, t0 = cpu_s(web.pid), time.monotonic()
        time.sleep(args.seconds)
        idle = (cpu_s(web.pid) - base) / (time.monotonic() - t0)
        rows.append(("0", idle, [], [], published_fps(d.control)))
        for n in (1, 5):
            used, fps, lat = run(url, n, args.seconds, web.pid)
            rows.append((str(n), used, fps, lat, published_fps(d.control)))
    finally:
        web.terminate()
        web.wait(5)
        d.proc.kill()
        d.proc.wait(5)
    one = rows[1][1]
    kind = "Chromium pages" if args.clients == "browser" else "WebSocket readers"
    print(f"\nstreamconv web, 1280x720 at 30 fps, 3 frame topics; watchers are {kind}; "
          f"{args.seconds:.0f} s each")
    print("| watchers | web CPU (% of a core) | vs 1 watcher | daemon camera/raw fps "
          "| frames/s shown per watcher (3 topics) | capture -> page p50 | p99 |")
    print("|---|---|---|---|---|---|---|")
    for n, used, fps, lat, daemon_fps in rows:
        ratio = f"{used / one:.2f}x" if n != "0" and one > 0 else "-"
        rate = ", ".join(f"{f:.0f}" for f in fps) if fps else "-"
        p50 = f"{pct(lat, 0.5):.0f} ms" if lat else "-"
        p99 = f"{pct(lat, 0.99):.0f} ms" if lat else "-"
        print(f"| {n} | {used * 100:.0f} | {ratio} | {daemon_fps:.1f} | {rate} | {p50} | {p99} |")
    five = rows[2][1]
    target = "met" if one > 0 and five <= 1.5 * one else "NOT met"
    print(f"\ntarget: 5 watchers cost at most 1.5x one: {five / one if one else float('nan'):.2f}x, {target}")


if __name__ == "__main__":
    main()
