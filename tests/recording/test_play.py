"""``play``, ``info`` and the replay source on the shared recording; a recorder killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamconv.client import Subscriber
from streamconv.ops import CausalFIR
from streamconv.recording.reader import RecordingReader
from tests.recording.conftest import Recording, default_like, digest, run_cli
from tests.service.conftest import daemon_config, free_port, start_daemon

WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]


def _native_order(path: Path, topics: list[str]) -> dict[str, list[tuple[str, int]]]:
    out: dict[str, list[tuple[str, int]]] = {t: [] for t in topics}
    for topic, msg, _ in RecordingReader(path).native(topics):
        out[topic].append((digest(msg.array), msg.t_capture_ns))
    return out


def test_play_gives_the_same_arrays_in_the_same_order(recording: Recording) -> None:
    topics = ["laser/raw", "laser/smoothed", "camera/raw"]
    want = _native_order(recording.path, topics)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    got: dict[str, list[tuple[str, int, int, str]]] = {t: [] for t in topics}
    ready = threading.Event()
    stop = threading.Event()

    def collect() -> None:
        with Subscriber(endpoint, topics, max_queue_bytes=1 << 30) as sub:
            ready.set()
            while not stop.is_set():
                try:
                    msg = sub.recv(timeout=0.2)
                except TimeoutError:
                    continue
                got[msg.topic].append((digest(msg.array), msg.t_capture_ns, msg.seq, msg.epoch))

    t = threading.Thread(target=collect, daemon=True)
    t.start()
    ready.wait(5)
    result = run_cli("play", str(recording.path), "--publish", endpoint, "--rate", "2", "--wait", "1.5",
                     "--topics", *topics)
    time.sleep(0.5)
    stop.set()
    t.join(5)
    assert result.returncode == 0, result.stderr
    recorded_epochs = {e for (_, e, _) in recording.seen.messages}
    for topic in topics:
        assert [g[:2] for g in got[topic]] == want[topic], topic  # every array, in order, own t_capture
        assert [g[2] for g in got[topic]] == list(range(len(want[topic])))  # seq from 0
        epochs = {g[3] for g in got[topic]}
        assert len(epochs) == 1 and not epochs & recorded_epochs  # one new epoch


def test_info_counts_span_rate_and_shapes(recording: Recording) -> None:
    result = run_cli("info", str(recording.path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    native = _native_order(recording.path, ["laser/raw", "camera/edges"])
    laser, edges = info["topics"]["laser/raw"], info["topics"]["camera/edges"]
    gaps = [json.loads(rec.data) for _, rec in RecordingReader(recording.path).records(["_gaps"])]
    missing = sum(g["got"] - g["expected"] for g in gaps if g["topic"] == "laser/raw")
    assert laser["messages"] == len(native["laser/raw"]) and laser["missing"] == missing
    times = [t for _, t in native["laser/raw"]]
    assert laser["span_s"] == pytest.approx((max(times) - min(times)) / 1e9)
    assert laser["rate_hz"] == pytest.approx(100.0, rel=0.05)
    assert edges["dtype"] == "<f4" and edges["shapes"] == [[480, 640, 3]]
    assert info["files"][0]["finished"] and len(laser["epochs"]) == 1
    table = run_cli("info", str(recording.path))
    assert table.returncode == 0 and "camera/edges" in table.stdout and "480x640x3" in table.stdout


def test_replay_source_gives_the_live_smoothed_output(recording: Recording, tmp_path: Path) -> None:
    """laser/raw of the recording through the default weights = the recorded live laser/smoothed."""
    raw: list[tuple[int, np.ndarray]] = []
    smoothed: dict[int, np.ndarray] = {}
    for topic, msg, _ in RecordingReader(recording.path).native(["laser/raw", "laser/smoothed"]):
        if topic == "laser/raw":
            raw.append((msg.seq, np.array(msg.array)))
        else:
            smoothed[msg.seq] = np.array(msg.array)
    live_raw = np.concatenate([a for _, a in raw])  # what the replay source plays, in this order
    seq_of = [s for s, _ in raw]
    # sample k can be compared when the live window of 7 held recorded samples only: no gap in it
    whole = [k >= 6 and seq_of[k] - seq_of[k - 6] == 6 and seq_of[k] in smoothed for k in range(len(raw))]
    assert sum(whole) > 0.9 * len(raw)
    config = daemon_config(free_port(), free_port(), camera=False)
    config["streams"]["laser"]["source"] = {"kind": "replay", "path": str(recording.path),
                                            "topics": ["laser/raw", "laser/truth"], "rate": 2.0,
                                            "loop": True}
    d = start_daemon(tmp_path, config)
    got: list[tuple[int, np.ndarray, np.ndarray]] = []
    try:
        with Subscriber(d.publish, ["laser/raw", "laser/smoothed"]) as sub:
            pending: dict[int, np.ndarray] = {}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(got) < 300:
                try:
                    msg = sub.recv(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.topic == "laser/raw":
                    pending[msg.seq] = (msg.meta["first_sample"], np.array(msg.array))
                elif msg.seq in pending:
                    first, values = pending.pop(msg.seq)
                    got.append((first, values, np.array(msg.array)))
    finally:
        d.proc.send_signal(signal.SIGTERM)
        d.proc.wait(10)
    assert len(got) >= 300, d.log()
    compared = 0
    total = live_raw.shape[0]
    for first, values, out in got:
        n = values.shape[0]
        k = first % total  # looped: sample k of the recording
        assert np.array_equal(values, live_raw[k:k + n])  # the recorded samples, in order
        assert n == 1  # the laser sends one sample per message
        if whole[k]:  # past the warm-up, no gap in the window
            assert np.array_equal(out, smoothed[seq_of[k]]), first
            compared += 1
    assert compared >= 250
    # and the live output equals an independent causal window over the recorded raw samples
    ref = CausalFIR(WEIGHTS).process(live_raw)
    for k in [k for k in range(len(raw)) if whole[k]]:
        assert abs(smoothed[seq_of[k]][0] - ref[k]) < 1e-9


def test_a_recorder_killed_with_sigkill_leaves_a_file_play_and_info_read(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, default_like())
    path = tmp_path / "killed.mcap"
    try:
        rec = subprocess.Popen([sys.executable, "-m", "streamconv", "record", "--out", str(path),
                                "--endpoint", d.publish], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 60e6):
            time.sleep(0.2)
        rec.kill()
        rec.wait(5)
    finally:
        d.proc.kill()
        d.proc.wait(5)
    assert path.stat().st_size >= 60e6
    info = run_cli("info", str(path), "--json")
    assert info.returncode == 0, info.stderr
    assert "warning:" in info.stderr and "last whole chunk" in info.stderr
    summary = json.loads(info.stdout)
    assert not summary["files"][0]["finished"]
    assert summary["topics"]["camera/raw"]["messages"] >= 5
    assert summary["topics"]["camera/raw"]["missing"] == 0
    played = run_cli("play", str(path), "--max", "--wait", "0", "--publish", f"tcp://127.0.0.1:{free_port()}")
    assert played.returncode == 0, played.stderr
    assert played.stderr.count("warning:") == 1
    assert f"{summary['messages']} messages" in played.stdout


def test_bad_input_is_one_line_and_exit_2(recording: Recording, tmp_path: Path) -> None:
    not_mcap = tmp_path / "x.mcap"
    not_mcap.write_text("hello\n")
    cases = [
        (("info", str(not_mcap)), "not an MCAP file"),
        (("play", str(not_mcap)), "not an MCAP file"),
        (("info", str(tmp_path / "missing.mcap")), "No such file"),
        (("play", str(recording.path), "--topics", "nope/raw"), "not in the recording"),
        (("record", "--out", str(tmp_path / "no" / "dir" / "r.mcap"), "--duration", "1"), "r.mcap"),
        (("record", "--out", str(recording.path), "--duration", "1"), "exists"),
    ]
    for args, text in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], (args, r.stderr)
    busy = recording.daemon.publish  # bound by the daemon
    r = run_cli("play", str(recording.path), "--publish", busy)
    assert r.returncode == 2 and "in use" in r.stderr, r.stderr
    bad = tmp_path / "bad.yaml"
    cfg = daemon_config(free_port(), free_port(), camera=False)
    cfg["streams"]["laser"]["source"] = {"kind": "replay", "path": str(recording.path), "topics": ["x/raw"]}
    bad.write_text(yaml.safe_dump(cfg))
    r = run_cli("run", "-c", str(bad), "--check")
    assert r.returncode == 2 and "x/raw" in r.stderr and "source" in r.stderr, r.stderr
