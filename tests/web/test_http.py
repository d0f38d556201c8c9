"""``streamconv web`` over plain HTTP: /snapshot, /stream, 404, 403, the remote-listen guard."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from streamconv.client import Subscriber
from streamconv.sinks.render import to_bgr8
from tests.web.conftest import Web, start_web, stop_web

#: Mean absolute difference (grey levels of 255) a JPEG of quality 85 stays within on the synthetic
#: sharpened frames (measured about 12: sharpening makes them high-frequency); the test also checks
#: it is below the difference to frames 5 or more seqs away, so the frame is the published one.
JPEG_TOLERANCE = 16.0


def _get(url: str, timeout: float = 5.0) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def published_frames(endpoint: str, topic: str, seconds: float = 3.0) -> dict[int, np.ndarray]:
    """The frames of ``topic`` a Subscriber sees in ``seconds``, by seq."""
    out: dict[int, np.ndarray] = {}
    with Subscriber(endpoint, [topic]) as sub:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = sub.recv(timeout=0.5)
            except TimeoutError:  # nothing yet: keep listening until the deadline
                continue
            if msg.topic == topic:
                out[msg.seq] = np.array(msg.array)
    return out


def test_snapshot_is_the_published_frame(web: Web, daemon) -> None:
    topic = "camera/sharpen"
    import threading

    frames: dict[int, np.ndarray] = {}
    t = threading.Thread(target=lambda: frames.update(published_frames(daemon.publish, topic)))
    t.start()
    time.sleep(1.0)
    status, headers, body = _get(f"{web.url}/snapshot?topic={topic}")
    t.join(10)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    seq = int(headers["X-Seq"])
    assert seq in frames, f"seq {seq} not among {sorted(frames)[:3]}..{sorted(frames)[-3:]}"
    expected = to_bgr8(frames[seq])
    assert image.shape == expected.shape
    diff = float(np.mean(np.abs(image.astype(np.int16) - expected.astype(np.int16))))
    others = [float(np.mean(np.abs(image.astype(np.int16) - to_bgr8(a).astype(np.int16))))
              for s, a in frames.items() if abs(s - seq) >= 5]
    print(f"snapshot vs published seq {seq}: mean |diff| {diff:.2f}; vs frames >= 5 apart: "
          f"min {min(others):.2f}")
    assert diff < JPEG_TOLERANCE, diff
    assert diff < min(others), (diff, min(others))


def test_stream_is_multipart_with_jpegs(web: Web) -> None:
    with urllib.request.urlopen(f"{web.url}/stream?topic=camera/edges", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        data = b""
        deadline = time.monotonic() + 5
        while data.count(b"Content-Type: image/jpeg") < 3 and time.monotonic() < deadline:
            data += r.read1(65536)
    parts = [p for p in data.split(b"--streamconvframe") if b"image/jpeg" in p]
    assert len(parts) >= 3
    for part in parts[:2]:
        jpeg = part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n")
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None


def test_unknown_topic_is_404_with_the_topics(web: Web) -> None:
    status, _, body = _get(f"{web.url}/snapshot?topic=nope/none")
    assert status == 404
    assert b"camera/sharpen" in body and b"camera/edges" in body
    status, _, body = _get(f"{web.url}/stream?topic=nope/none")
    assert status == 404 and b"camera/sharpen" in body


def test_token_wrong_is_403_right_sets_a_cookie(tmp_path, daemon) -> None:
    w = start_web(tmp_path, daemon, "--token", "s3cret")
    try:
        assert _get(f"{w.url}/?token=wrong")[0] == 403
        assert _get(f"{w.url}/snapshot?topic=camera/sharpen")[0] == 403
        assert _get(f"{w.url}/ws")[0] == 403
        assert _get(f"{w.url}/stream?topic=camera/sharpen&token=wrong")[0] == 403
        req = urllib.request.Request(f"{w.url}/api/set", data=b'{"topic": "camera/sharpen", "stages": {}}',
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=5)
            raise AssertionError("control without the token was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
        status, headers, _ = _get(f"{w.url}/?token=s3cret")
        assert status == 200 and "streamconv_token=s3cret" in headers.get("Set-Cookie", "")
        req = urllib.request.Request(f"{w.url}/api/status", headers={"Cookie": "streamconv_token=s3cret"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        stop_web(w)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "192.0.2.1:8080"])
def test_remote_listen_needs_allow_remote(listen: str) -> None:
    p = subprocess.run([sys.executable, "-m", "streamconv", "web", "--listen", listen],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert "--allow-remote" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_missing_aiohttp_is_one_line_with_the_install_command() -> None:
    code = ("import sys; sys.modules['aiohttp'] = None; from streamconv.cli import main; "
            "sys.exit(main(['web', '--listen', '127.0.0.1:0']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr  # exitcodes.FAILURE: a missing optional dependency
    assert p.stderr.strip().splitlines() == [
        "streamconv web: error: aiohttp is not installed; install it with: pip install 'streamconv[web]'"]


def test_metrics_are_the_daemon_s_stats_as_prometheus_text(web: Web, daemon) -> None:
    """Every scrape's counters equal one `_stats` message a Subscriber received meanwhile."""
    from prometheus_client.parser import text_string_to_metric_families

    seen: list[dict] = []
    with Subscriber(daemon.publish, ["_stats"]) as sub:
        deadline = time.monotonic() + 20
        while True:
            msg = sub.recv(timeout=5)
            seen.append({t: v["count"] for t, v in msg.meta["topics"].items()})
            code, headers, body = _get(web.url + "/metrics")
            assert code == 200 and headers["Content-Type"].startswith("text/plain"), (code, body[:200])
            families = {f.name: f for f in text_string_to_metric_families(body.decode())}
            if "streamconv_messages" in families:
                counts = {s.labels["topic"]: s.value for s in families["streamconv_messages"].samples
                          if s.name == "streamconv_messages_total"}
                if counts and any(all(c.get(t) == v for t, v in counts.items()) for c in seen):
                    break
            assert time.monotonic() < deadline, (seen[-3:], body[:800])
    hist = {s.labels["topic"]: s.value for s in families["streamconv_latency_seconds"].samples
            if s.name == "streamconv_latency_seconds_count"}
    assert hist == counts and any(v > 0 for v in counts.values())
