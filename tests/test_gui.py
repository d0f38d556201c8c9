"""GUI tests: the real ``demo`` and ``view`` windows under a private Xvfb, checked by real screenshots.

Each test starts the command as a subprocess with ``DISPLAY`` set to the Xvfb server, waits for
its window (``xwininfo``), grabs the screen (``mss``, X11 ``XGetImage``) and compares the panes
pixel for pixel against frames computed here, independently of the window code.  Without Xvfb
the tests skip (and fail under ``CI``, where they must run).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d
from streamconv.sinks import render
from streamconv.sources import SyntheticCamera
from tests._process import terminate
from tests._xvfb import INSTALL_HINT, Xvfb, XvfbError, grab, save_png, send_key, wait_for_window

pytestmark = [pytest.mark.gui, pytest.mark.timeout(60)]

STREAMCONV = [sys.executable, "-m", "streamconv"]
W, H = 320, 240
DEMO_TITLE = "streamconv demo"
VIEW_TITLE = "streamconv view"
WINDOW_TIMEOUT = 15.0
PIXELS_TIMEOUT = 10.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"GUI tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def xvfb():
    if not Xvfb.available() or shutil.which("xwininfo") is None:
        _unavailable(INSTALL_HINT)
    try:
        import mss  # noqa: F401
    except ImportError:
        _unavailable("the screenshot package is missing: pip install mss (in the test extras)")
    server = Xvfb()
    try:
        server.start()
    except XvfbError as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


def sharpen_reference(frame: np.ndarray) -> np.ndarray:
    """Correlate with the sharpen kernel by shifted sums over a zero-padded frame (no OpenCV)."""
    k = kernels.get("sharpen")
    f = np.pad(frame.astype(np.float64), ((1, 1), (1, 1), (0, 0)))
    acc = np.zeros(frame.shape, dtype=np.float64)
    for a in range(3):
        for b in range(3):
            acc += k[a, b] * f[a : a + frame.shape[0], b : b + frame.shape[1]]
    return np.clip(np.rint(acc), 0, 255).astype(np.uint8)


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def wait_for_size(display_name: str, title: str, size: tuple[int, int], proc: subprocess.Popen) -> tuple:
    """Wait for the window to be mapped at its final size (Qt maps a small window first)."""
    deadline = time.monotonic() + WINDOW_TIMEOUT
    geom = None
    while time.monotonic() < deadline:
        geom = wait_for_window(display_name, title, max(0.1, deadline - time.monotonic()), proc)
        if (geom[2], geom[3]) == size:
            return geom
        time.sleep(0.1)
    raise AssertionError(f"window {title!r} never reached size {size}; last geometry {geom}")


def quit_with_key(display_name: str, title: str, proc: subprocess.Popen, fallback_s: float) -> None:
    """Type q into the window: it must exit at once.  Without xdotool wait for --frames/--duration."""
    if shutil.which("xdotool") is None:
        assert proc.wait(fallback_s) == 0
        return
    for _ in range(3):
        if send_key(display_name, title, "q"):
            try:
                assert proc.wait(3) == 0
                return
            except subprocess.TimeoutExpired:
                continue
    pytest.fail(f"window {title!r} did not quit on the q key")


def poll_panes(display_name, geom, layout, check, what, tmp_path):
    """Grab the window until ``check(left, right)`` holds; return the last screenshot."""
    deadline = time.monotonic() + PIXELS_TIMEOUT
    while True:
        shot = grab(display_name, geom)  # a real screenshot of the window's screen area
        left, right = shot[layout.panes[0].slices], shot[layout.panes[1].slices]
        if check(left, right):
            return shot
        if time.monotonic() > deadline:
            save_png(tmp_path / "screenshot.png", shot)
            pytest.fail(f"{what}: not seen within {PIXELS_TIMEOUT} s (screenshot in {tmp_path})")
        time.sleep(0.1)


def stop(proc: subprocess.Popen | None) -> None:
    terminate(proc)


def test_demo_window_shows_raw_and_sharpened_frame(xvfb, tmp_path):
    n = 5
    raw = SyntheticCamera(W, H, fps=30.0, seed=0).frame(n)
    want = sharpen_reference(raw)
    layout = render.make_layout([(H, W), (H, W)], header_lines=3, chart_height=170, min_width=640)
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [*STREAMCONV, "demo", "--source", "synthetic", "--width", str(W), "--height", str(H),
         "--kernel", "sharpen", "--pause-at", str(n), "--frames", "300", "--out-dir", str(tmp_path)],
        env=xvfb.env(), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        geom = wait_for_size(xvfb.display, DEMO_TITLE, (layout.width, layout.height), proc)
        shot = poll_panes(
            xvfb.display, geom, layout,
            lambda left, right: np.array_equal(left, raw) and max_diff(right, want) <= 1,
            f"frame {n} and its sharpened version", tmp_path,
        )
        header = shot[layout.header.slices]
        assert header.std() > 5, "the header bar has no text"
        chart = shot[layout.chart.slices]
        assert len(np.unique(chart.reshape(-1, 3), axis=0)) > 3, "the laser chart is empty"
        if shutil.which("xdotool"):  # n: the next catalogue kernel, on the same (paused) frame
            nxt = kernels.names()[kernels.names().index("sharpen") + 1]
            want_next = render.to_bgr8(conv2d(raw, kernels.get(nxt), padding="same"))
            assert send_key(xvfb.display, DEMO_TITLE, "n")
            poll_panes(
                xvfb.display, geom, layout,
                lambda left, right: np.array_equal(left, raw) and max_diff(right, want_next) <= 1,
                f"the n key switching to {nxt}", tmp_path,
            )
        quit_with_key(xvfb.display, DEMO_TITLE, proc, fallback_s=15)
    finally:
        stop(proc)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_view_window_shows_a_raw_frame_and_its_filtered_capture(xvfb, tmp_path):
    from streamconv.client import Subscriber

    pub, ctl = f"tcp://127.0.0.1:{_free_port()}", f"tcp://127.0.0.1:{_free_port()}"
    fps = 15
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        f"service: {{publish: '{pub}', control: '{ctl}'}}\n"
        "streams:\n"
        "  camera:\n"
        f"    source: {{kind: synthetic, width: {W}, height: {H}, fps: {fps}, seed: 0}}\n"
        "    outputs:\n"
        "      sharpen: {kind: kernel2d, kernel: sharpen, padding: same}\n"
    )
    layout = render.make_layout([(H, W), (H, W)], header_lines=2, chart_height=0, min_width=640)
    daemon = view = None
    logs = [(tmp_path / "daemon.log").open("wb"), (tmp_path / "view.log").open("wb")]
    try:
        t0 = time.monotonic()
        daemon = subprocess.Popen(
            [*STREAMCONV, "run", "-c", str(cfg)], stdout=logs[0], stderr=subprocess.STDOUT
        )
        with Subscriber(pub, ["camera/sharpen"]) as sub:
            sub.wait_ready(timeout=10)  # the daemon publishes: no sleep
        view = subprocess.Popen(
            [*STREAMCONV, "view", "camera/raw", "camera/sharpen", "--endpoint", pub, "--duration", "15"],
            env=xvfb.env(), stdout=logs[1], stderr=subprocess.STDOUT,
        )
        geom = wait_for_size(xvfb.display, VIEW_TITLE, (layout.width, layout.height), view)
        cam = SyntheticCamera(W, H, fps=fps, seed=0)
        shot = poll_panes(
            xvfb.display, geom, layout,
            lambda left, right: left.std() > 10 and max_diff(right, sharpen_reference(left)) <= 1,
            "a frame and its sharpened capture side by side", tmp_path,
        )
        left = shot[layout.panes[0].slices]
        # the raw pane is a frame of the daemon's test pattern (searched by index, from the start)
        latest_index = int((time.monotonic() - t0 + 2) * fps)
        assert any(np.array_equal(left, cam.frame(i)) for i in range(latest_index)), "not a camera frame"
        assert shot[layout.header.slices].std() > 5, "the header bar has no text"
        quit_with_key(xvfb.display, VIEW_TITLE, view, fallback_s=20)
    finally:
        stop(view)
        stop(daemon)
        for f in logs:
            f.close()
