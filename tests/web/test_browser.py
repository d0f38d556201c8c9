"""``streamconv web`` in a real browser: Debian's Chromium driven by Playwright (no ``playwright install``).

Set ``STREAMCONV_DOCS_IMG=1`` to also write the page's screenshot to ``docs/img/web.png``.
"""

from __future__ import annotations

import base64
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np
import pytest

from streamconv.client import Subscriber
from streamconv.sinks.render import to_bgr8
from tests.service.conftest import start_daemon
from tests.web.conftest import Web
from tests.web.test_http import JPEG_TOLERANCE

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
                                reason="Chromium is missing: apt-get install chromium")
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'playwright>=1.40'")
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img" / "web.png"


@pytest.fixture
def page(web: Web) -> Iterator[tuple]:
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists()
                                     else shutil.which("chromium"), args=["--no-sandbox"], headless=True)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 800})
            pg.set_default_timeout(15_000)
            pg.on("request", lambda r: requests.append(r.url))
            pg.goto(web.url + "/")
            yield pg, requests
        finally:
            browser.close()


def _frame_from_img(pg, topic: str) -> tuple[int, np.ndarray]:
    """Return (seq, BGR image) of the page's <img> of ``topic``, read back through a canvas."""
    got = pg.evaluate("""async (topic) => {
        window.streamconv.paused = true;
        await new Promise((r) => setTimeout(r, 500));  // a load under way ends
        const img = document.getElementById("img-" + topic);
        const c = document.createElement("canvas");
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        c.getContext("2d").drawImage(img, 0, 0);
        const out = [Number(img.dataset.seq), c.toDataURL("image/png")];
        window.streamconv.paused = false;
        return out;
    }""", topic)
    png = base64.b64decode(got[1].split(",", 1)[1])
    return got[0], cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_page_shows_live_frames_charts_and_only_its_origin(page, web: Web, daemon, tmp_path) -> None:
    pg, requests = page
    topic = "camera/sharpen"
    frames: dict[int, np.ndarray] = {}
    stop = threading.Event()

    def collect() -> None:
        with Subscriber(daemon.publish, [topic]) as sub:
            while not stop.is_set():
                try:
                    msg = sub.recv(timeout=0.2)
                except TimeoutError:  # nothing yet (the subscription is joining): keep listening
                    continue
                frames[msg.seq] = np.array(msg.array)

    t = threading.Thread(target=collect, daemon=True)
    t.start()
    try:
        pg.wait_for_function("() => document.body.dataset.samples > 200")
        pg.wait_for_function("(t) => { const i = document.getElementById('img-' + t);"
                             " return i && i.dataset.seq; }", arg=topic)
        time.sleep(0.5)
        shot1 = pg.screenshot()
        time.sleep(1.0)
        shot2 = pg.screenshot()
        assert shot1 != shot2
        deadline = time.monotonic() + 10
        while not frames and time.monotonic() < deadline:
            time.sleep(0.1)
        seq, image = _frame_from_img(pg, topic)
        while (not frames or max(frames) < seq) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        t.join(5)
    (tmp_path / "web.png").write_bytes(shot2)
    if os.environ.get("STREAMCONV_DOCS_IMG") == "1":
        DOCS_IMG.write_bytes(shot2)
    assert seq in frames, (seq, sorted(frames)[:3], sorted(frames)[-3:])
    expected = to_bgr8(frames[seq])
    diff = float(np.mean(np.abs(image.astype(np.int16) - expected.astype(np.int16))))
    print(f"page frame seq {seq}: mean |diff| {diff:.2f} to the published frame")
    assert diff < JPEG_TOLERANCE, diff
    samples = pg.evaluate("() => window.streamconv.samples")
    assert samples > 200
    # _stats as a table: a row per topic, its message count what the daemon counted (> 0).
    pg.wait_for_selector("#stats-table tr[data-topic='camera/sharpen']")
    cells = pg.eval_on_selector_all("#stats-table tr[data-topic='camera/sharpen'] td",
                                    "(tds) => tds.map((td) => td.textContent)")
    assert cells[0] == "camera/sharpen" and int(cells[4]) > 0 and float(cells[1]) > 0, cells
    lat = pg.evaluate("() => window.streamconv.latencies.slice().sort((a, b) => a - b)")
    if lat:
        print(f"capture -> page latency over {len(lat)} frames: p50 {lat[len(lat) // 2]:.1f} ms,"
              f" p99 {lat[int(len(lat) * 0.99)]:.1f} ms")
    origin = urlparse(web.url)
    foreign = [u for u in requests
               if urlparse(u).scheme not in ("blob", "data") and urlparse(u).netloc != origin.netloc]
    assert not foreign, foreign
    assert any(u.endswith("/static/uPlot.iife.min.js") for u in requests)


def test_kernel_change_from_the_page_reaches_the_stream(page, daemon) -> None:
    pg, _ = page
    pg.wait_for_function("() => document.getElementById('ctl-topic').options.length > 0")
    pg.select_option("#ctl-topic", "camera/sharpen")
    pg.fill("#ctl-kernel", "box")
    pg.fill("#ctl-size", "5")
    pg.click("#ctl-apply")
    pg.wait_for_function("() => document.getElementById('reply').dataset.ok !== undefined")
    assert pg.inner_text("#reply").startswith("applied"), pg.inner_text("#reply")
    with Subscriber(daemon.publish, ["camera/sharpen"]) as sub:
        deadline = time.monotonic() + 10
        seen = None
        while time.monotonic() < deadline:
            msg = sub.recv(timeout=0.5)
            if msg is not None and msg.meta["filter"][0].get("name") == "box":
                seen = msg.meta
                break
    assert seen is not None, "no camera/sharpen message with the box kernel in its meta"


def test_banner_when_the_daemon_goes_and_comes_back(page, daemon, tmp_path) -> None:
    pg, _ = page
    pg.wait_for_function("() => document.body.dataset.alive === 'yes'")
    assert not pg.is_visible("#banner")
    daemon.stop()
    pg.wait_for_selector("#banner", state="visible", timeout=10_000)
    cfg = __import__("yaml").safe_load(daemon.config_path.read_text())
    d2 = start_daemon(tmp_path / "again" if (tmp_path / "again").mkdir() is None else tmp_path, cfg)
    try:
        pg.wait_for_selector("#banner", state="hidden", timeout=20_000)
        assert pg.evaluate("() => document.body.dataset.alive") == "yes"
    finally:
        d2.proc.kill()
        d2.proc.wait(5)
