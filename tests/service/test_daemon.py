"""The daemon as a real subprocess: published outputs checked against the core ops on the published raw.

Evidence: independent recomputation (ops applied to what the daemon published, never its
internals), invariants (seq contiguity, t_capture_ns shared by raw and outputs), lifecycle
(clean SIGTERM/SIGINT exit 0 within 2 s; bad config and port in use exit 2) and error replies.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml
import zmq

from streamconv.client import Subscriber
from streamconv.ops import conv2d, kernels
from tests.service.conftest import daemon_config, free_port, start_daemon

LECTURE_W = np.array([0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5])


def collect(endpoint: str, topics: list[str], until, timeout: float = 15.0) -> dict[str, list]:
    """Receive messages on ``topics`` until ``until(by_topic)`` is true; return them by topic."""
    by_topic: dict[str, list] = defaultdict(list)
    deadline = time.monotonic() + timeout
    with Subscriber(endpoint, topics, timeout=5.0) as sub:
        sub.wait_ready(timeout=10)
        while not until(by_topic):
            assert time.monotonic() < deadline, f"timed out; got { {t: len(v) for t, v in by_topic.items()} }"
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
        assert sub.malformed == 0
        assert sub.gaps == 0, list(sub.gap_events)
    return by_topic


def fir_reference(raw_values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """s_t = sum_a x_{t-a} w_{-a} for every t with a full window (explicit loop, no streamconv)."""
    m = len(weights)
    out = np.full(len(raw_values), np.nan)
    for t in range(m - 1, len(raw_values)):
        out[t] = sum(raw_values[t - a] * weights[m - 1 - a] for a in range(m))
    return out


def test_laser_smoothed_equals_causal_window_of_published_raw(daemon):
    got = collect(daemon.publish, ["laser/raw", "laser/smoothed", "laser/truth"],
                  lambda b: min(len(b["laser/raw"]), len(b["laser/smoothed"]), len(b["laser/truth"])) >= 120)
    raw = {m.header.meta["first_sample"]: m for m in got["laser/raw"]}
    truth = {m.t_capture_ns: m for m in got["laser/truth"]}
    # raw and truth come message for message with the same capture time and length
    for m in got["laser/raw"]:
        if m.t_capture_ns in truth:
            assert truth[m.t_capture_ns].array.shape == m.array.shape
    # seq contiguous per topic
    for topic, msgs in got.items():
        seqs = [m.seq for m in msgs]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), topic
        assert len({m.epoch for m in msgs}) == 1
    # rebuild the raw series by sample index and compare every smoothed value with the formula
    first = min(raw)
    series = np.concatenate([raw[k].array for k in sorted(raw)])
    index = {m.t_capture_ns: i for i, m in enumerate(sorted(raw.values(), key=lambda m: m.t_capture_ns))}
    ref = fir_reference(series, LECTURE_W)
    checked = 0
    raw_by_t = {m.t_capture_ns: m for m in got["laser/raw"]}
    for m in got["laser/smoothed"]:
        assert m.kind == "samples" and m.array.dtype == np.float64
        src = raw_by_t.get(m.t_capture_ns)
        if src is None:
            continue
        start = src.header.meta["first_sample"] - first
        expect = ref[start : start + len(m.array)]
        if np.isnan(expect).any():
            continue
        np.testing.assert_allclose(m.array, expect, rtol=0, atol=1e-9)
        assert m.meta["filter"][0]["weights"] == LECTURE_W.tolist()
        assert m.meta["filter"][0]["order"] == "oldest_to_newest"
        checked += 1
    assert checked >= 100, checked
    assert index  # raw messages were indexed by capture time
    # latency fields: published after capture, and not absurdly late
    for m in got["laser/smoothed"][-20:]:
        assert m.header.t_publish_ns >= m.t_capture_ns
        assert 0 < m.latency_ns < 2e9


def test_frames_equal_conv2d_of_published_raw_frame(daemon):
    got = collect(daemon.publish, ["camera/raw", "camera/sharpen", "camera/edges"],
                  lambda b: min(len(b["camera/raw"]), len(b["camera/sharpen"]), len(b["camera/edges"])) >= 5)
    raw = {m.t_capture_ns: m for m in got["camera/raw"]}
    pairs = 0
    for topic, name in (("camera/sharpen", "sharpen"), ("camera/edges", "edge_detect")):
        for m in got[topic]:
            src = raw.get(m.t_capture_ns)
            if src is None:
                continue
            assert src.array.shape == (120, 160, 3) and src.array.dtype == np.uint8
            expect = conv2d(src.array, kernels.get(name), padding="same")
            assert m.array.shape == src.array.shape  # padding 'same' keeps the frame size
            assert m.array.dtype == expect.dtype
            np.testing.assert_array_equal(m.array, expect)
            assert m.meta["filter"][0]["kernel"] == kernels.get(name).tolist()
            assert m.meta["filter"][0]["padding"] == "same"
            pairs += 1
    assert pairs >= 6
    assert got["camera/sharpen"][0].array.dtype == np.uint8  # display kernel: saturated uint8
    assert got["camera/edges"][0].array.dtype == np.float32  # signed edges: float32


def test_stats_topic_reports_rates_latency_and_counts(daemon):
    topics = ["_stats", "laser/", "camera/sharpen"]  # only subscribed frame outputs are computed
    got = collect(daemon.publish, topics, lambda b: len(b["_stats"]) >= 4)
    last = got["_stats"][-1]
    assert last.kind == "stats" and last.array.size == 0
    topics = last.meta["topics"]
    assert {"laser/raw", "laser/smoothed", "laser/truth", "camera/sharpen"} <= set(topics)
    laser = topics["laser/smoothed"]
    assert 70 <= laser["rate_hz"] <= 130, laser  # 100 Hz configured
    assert 0 <= laser["latency_p50_ms"] <= laser["latency_p99_ms"] < 1000
    assert laser["drops"] == 0 and laser["malformed"] == 0
    assert 10 <= topics["camera/sharpen"]["rate_hz"] <= 30  # 20 fps configured
    assert last.meta["uptime_s"] > 0


def test_runtime_filter_change_without_restart(daemon):
    reply = daemon.request({"cmd": "set", "topic": "camera/sharpen",
                            "stages": {"kind": "kernel2d", "kernel": "box", "params": {"size": 5}}})
    assert reply["ok"], reply
    box5 = kernels.get("box", size=5)

    def switched(b):
        return sum(1 for m in b["camera/sharpen"] if m.meta["filter"][0]["kernel"] == box5.tolist()) >= 3

    got = collect(daemon.publish, ["camera/raw", "camera/sharpen"], switched)
    raw = {m.t_capture_ns: m for m in got["camera/raw"]}
    checked = 0
    for m in got["camera/sharpen"]:
        if m.meta["filter"][0]["kernel"] == box5.tolist() and m.t_capture_ns in raw:
            expect = conv2d(raw[m.t_capture_ns].array, box5, padding="same")
            np.testing.assert_array_equal(m.array, expect)
            checked += 1
    assert checked >= 1
    status = daemon.request({"cmd": "status"})["status"]
    assert status["streams"]["camera"]["outputs"]["sharpen"][0]["kernel"] == "box"


def test_runtime_weight_change_continues_without_warmup(daemon):
    new_w = [0.2, 0.3, 0.5]
    assert daemon.request({"cmd": "set", "topic": "laser/smoothed",
                           "stages": [{"kind": "causal_fir", "weights": new_w}]})["ok"]

    def enough(b):
        return sum(1 for m in b["laser/smoothed"] if m.meta["filter"][0]["weights"] == new_w) >= 30

    got = collect(daemon.publish, ["laser/raw", "laser/smoothed"], enough)
    raws = sorted(got["laser/raw"], key=lambda m: m.header.meta["first_sample"])
    first = raws[0].header.meta["first_sample"]
    series = np.concatenate([m.array for m in raws])
    ref = fir_reference(series, np.array(new_w))
    by_t = {m.t_capture_ns: m for m in raws}
    checked = 0
    for m in got["laser/smoothed"]:
        if m.meta["filter"][0]["weights"] != new_w or m.t_capture_ns not in by_t:
            continue
        start = by_t[m.t_capture_ns].header.meta["first_sample"] - first
        expect = ref[start : start + len(m.array)]
        if not np.isnan(expect).any():
            np.testing.assert_allclose(m.array, expect, atol=1e-9)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"cmd": "launch"}, "unknown cmd 'launch'"),
        ({"cmd": "set", "topic": "camera/sharpen", "stages": {"kind": "kernel2d", "kernel": "sharpn"}},
         "invalid kernel name 'sharpn'"),
        ({"cmd": "set", "topic": "nosuch/out", "stages": {"kind": "kernel2d", "kernel": "blur"}},
         "unknown stream 'nosuch'"),
        ({"cmd": "set", "topic": "laser/smoothed", "stages": {"kind": "kernel2d", "kernel": "blur"}},
         "does not apply to a sample stream"),
        ({"cmd": "set", "topic": "camera/raw", "stages": {"kind": "kernel2d", "kernel": "blur"}},
         "cannot be set"),
        ({"cmd": "set", "topic": "laser/smoothed", "stages": {"kind": "causal_fir", "weights": []}},
         "weights"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_bad_control_requests_get_error_replies(daemon, payload, needle):
    reply = daemon.request(payload)
    assert reply["ok"] is False
    assert needle in reply["error"], reply["error"]
    assert daemon.request({"cmd": "ping"})["ok"]  # still alive


def test_garbage_on_the_control_socket_is_answered(daemon):
    ctx = zmq.Context.instance()
    with ctx.socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.connect(daemon.control)
        s.send(b"\xff\xfe not json")
        assert s.poll(3000)
        reply = json.loads(s.recv())
    assert reply["ok"] is False and "not valid JSON" in reply["error"]
    assert daemon.request({"cmd": "ping"})["ok"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_within_two_seconds(daemon, sig):
    code, seconds = daemon.stop(sig)
    assert code == 0, daemon.log()
    assert seconds < 2.0, seconds
    log = daemon.log()
    assert "shutting down" in log and "streamconv stopped" in log
    assert "Traceback" not in log


def test_bad_config_exits_2_with_one_line_reason(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams:\n  cam:\n    source: {kind: synthetic, fps: -3}\n    outputs:\n"
                   "      x: {kind: kernel2d, kernel: sharpn}\n")
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(bad)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "streams.cam.source.fps" in lines[0] and "-3" in lines[0]
    assert "sharpn" in lines[0]
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(bad), "--check"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2


def test_unknown_key_and_missing_file_exit_2(tmp_path: Path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text("service:\n  publsh: tcp://127.0.0.1:5555\n")
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(cfg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "service.publsh" in r.stderr and "Extra inputs" in r.stderr
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(tmp_path / "nope.yaml")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "nope.yaml" in r.stderr


def test_check_accepts_every_shipped_config():
    root = Path(__file__).resolve().parents[2]
    for cfg in sorted((root / "configs").glob("*.yaml")):
        r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(cfg), "--check"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (cfg, r.stderr)
        assert "config OK" in r.stdout


def test_port_in_use_exits_2(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = daemon_config(port, free_port(), camera=False)
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(cfg))
        r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path)],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0] and "in use" in errors[0]


def test_second_daemon_on_same_ports_exits_2(daemon, tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    cfg = yaml.safe_load(daemon.config_path.read_text())
    d2 = start_daemon(other, cfg, wait=False)
    assert d2.proc.wait(timeout=20) == 2
    assert daemon.request({"cmd": "ping"})["ok"]


def test_frame_outputs_nobody_subscribes_to_are_not_computed(daemon):
    """Idle CPU: a stateless frame output runs only while somebody subscribes to it."""
    got = collect(daemon.publish, ["_stats", "camera/sharpen"], lambda b: len(b["_stats"]) >= 3)
    topics = got["_stats"][-1].meta["topics"]
    assert topics["camera/sharpen"]["rate_hz"] > 5
    assert topics.get("camera/edges", {"count": 0})["count"] == 0  # never subscribed: never computed
    assert topics.get("camera/raw", {"count": 0})["count"] == 0
    assert topics.get("laser/smoothed", {"count": 0})["count"] == 0  # nobody subscribed: not published
    with Subscriber(daemon.publish, ["camera/sharpen"], timeout=5) as sub:
        sub.wait_ready(timeout=10)
        assert "camera/sharpen" in daemon.request({"cmd": "status"})["status"]["subscribed"]
    # after the subscriber left, the output stops again
    deadline = time.monotonic() + 10
    while True:
        status = daemon.request({"cmd": "status"})["status"]
        if "camera/sharpen" not in status["subscribed"]:
            break
        assert time.monotonic() < deadline, status["subscribed"]
        time.sleep(0.1)


def test_plain_pyzmq_client_decodes_every_topic(tmp_path: Path):
    """docs/wire-format.md is enough: the no-streamconv example client decodes every kind of topic."""
    cfg = daemon_config(free_port(), free_port())
    cfg["streams"]["camera"]["outputs"]["features"] = {
        "kind": "bank3d", "padding": "same", "filters": np.ones((2, 3, 3, 3)).tolist()}
    d = start_daemon(tmp_path, cfg)
    try:
        root = Path(__file__).resolve().parents[2]
        r = subprocess.run(
            [sys.executable, str(root / "examples" / "plain_pyzmq_client.py"), d.publish, "",
             "--count", "800"],  # about 2 s of traffic: several _stats
            capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert "malformed" not in r.stderr and "GAP" not in r.stderr, r.stderr
        seen = {line.split()[0]: line for line in r.stdout.splitlines()}
        wanted = {"laser/raw", "laser/truth", "laser/smoothed", "camera/raw", "camera/sharpen",
                  "camera/edges", "camera/features", "_stats"}
        assert wanted <= set(seen), sorted(seen)
        assert "kind=features dtype=<f4 shape=[120,160,2]" in seen["camera/features"]
        assert "kind=frame dtype=|u1 shape=[120,160,3]" in seen["camera/sharpen"]
        assert "kind=stats" in seen["_stats"]
    finally:
        d.proc.kill()
        d.proc.wait(5)


def test_set_applies_the_stream_rules(daemon):
    bank = {"kind": "bank3d", "filters": np.ones((1, 2, 3, 3)).tolist()}  # depth 2: frames are BGR
    reply = daemon.request({"cmd": "set", "topic": "camera/f", "stages": bank})
    assert reply["ok"] is False and "depth D=2" in reply["error"]
    good = {"kind": "bank3d", "filters": np.ones((1, 3, 3, 3)).tolist()}
    reply = daemon.request({"cmd": "set", "topic": "camera/f",
                            "stages": [good, {"kind": "kernel2d", "kernel": "blur"}]})
    assert reply["ok"] is False and "must be the last stage" in reply["error"]
    reply = daemon.request({"cmd": "set", "topic": "camera/_x y", "stages": {"kind": "kernel2d",
                                                                          "kernel": "blur"}})
    assert reply["ok"] is False and "output name" in reply["error"]


def test_causal_state_is_exact_for_a_late_subscriber(daemon):
    """Nobody subscribed to the laser at first; the first smoothed value a late subscriber gets
    already has its full window (the samples before the subscription kept the state exact)."""
    from streamconv.sources.laser import LaserSimulator

    time.sleep(0.5)  # the stream runs unsubscribed for a while (idle batches)
    with Subscriber(daemon.publish, ["laser/smoothed"], timeout=5) as sub:
        msg = sub.wait_ready(timeout=10)
    first = msg.meta["first_sample"]
    assert first >= 7
    # the simulator is deterministic per sample index: regenerate the raw samples independently
    raw = LaserSimulator(rate_hz=100, seed=0).read(first + len(msg.array), 0).values
    expect = fir_reference(raw, LECTURE_W)[first : first + len(msg.array)]
    np.testing.assert_allclose(msg.array, expect, atol=1e-9)


def test_sample_topics_nobody_subscribes_to_are_not_published(daemon):
    """laser/raw and laser/truth are only sent while subscribed (the smoothed output still is),
    and a later subscriber to them gets consecutive sequence numbers from its first message."""
    with Subscriber(daemon.publish, ["laser/smoothed", "_stats"], timeout=5) as sub:
        sub.wait_ready(timeout=10)
        deadline = time.monotonic() + 10
        stats = []
        while len(stats) < 2:
            msg = sub.recv(timeout=max(0.1, deadline - time.monotonic()))
            if msg.topic == "_stats":
                stats.append(msg)
        topics = stats[-1].meta["topics"]
        assert topics["laser/smoothed"]["count"] > 0
        assert topics.get("laser/raw", {"count": 0})["count"] == 0
        assert topics.get("laser/truth", {"count": 0})["count"] == 0
    got = collect(daemon.publish, ["laser/truth", "laser/raw"],
                  lambda b: len(b["laser/truth"]) >= 5 and len(b["laser/raw"]) >= 5)
    for topic in ("laser/truth", "laser/raw"):
        seqs = [m.seq for m in got[topic]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), (topic, seqs)
    # truth and raw of one batch still share their sample index
    firsts = {m.meta["first_sample"] for m in got["laser/raw"]}
    assert any(m.meta["first_sample"] in firsts for m in got["laser/truth"])
