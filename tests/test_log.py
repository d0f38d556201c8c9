"""StreamLogger and `streamconv log`: in-memory unit tests, then real daemon + logger processes."""

from __future__ import annotations

import csv
import json
import math
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from streamconv.client import Subscriber
from streamconv.errors import StreamconvError
from streamconv.sinks.log import FRAMES_HEADER, GAPS_HEADER, SAMPLE_HEADER, StreamLogger, load_log, topic_stem
from streamconv.wire import decode, encode, encode_stats
from tests._video import read_video

CLI = [sys.executable, "-m", "streamconv"]
WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
LASER_TOPICS = ("laser/raw", "laser/smoothed", "laser/truth")


def samples_msg(topic, values, *, seq, t0=1_000_000, period=10_000_000, epoch="e1"):
    return decode(encode(topic, np.asarray(values, dtype=np.float64), stream=topic.split("/")[0],
                         kind="samples", epoch=epoch, seq=seq, t_capture_ns=t0,
                         meta={"sample_period_ns": period}))


def frame_msg(topic, image, *, seq, t0=None, kind="frame", epoch="e1"):
    t0 = 1_000_000_000 + seq * 100_000_000 if t0 is None else t0
    return decode(encode(topic, image, stream=topic.split("/")[0], kind=kind, epoch=epoch, seq=seq,
                         t_capture_ns=t0))


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


# ----------------------------------------------------------------------------- in memory, no sockets
def test_sample_rows_have_per_sample_times_exact_values_and_nan(tmp_path):
    values = [1.0 / 3.0, -2.5e-300, math.nan, math.inf, 1e17 + 0.5]
    with StreamLogger(tmp_path / "log") as log:
        log.write(samples_msg("laser/raw", values, seq=4, t0=1_700_000_000_000_000_123, period=250))
        log.write(samples_msg("laser/raw", [7.0], seq=5, t0=1_700_000_000_000_001_373, period=250))
    rows = read_rows(tmp_path / "log" / "laser__raw.csv")
    assert ",".join(rows[0]) == SAMPLE_HEADER
    assert [int(r[0]) for r in rows[1:]] == [1_700_000_000_000_000_123 + 250 * i for i in range(6)]
    assert [int(r[1]) for r in rows[1:]] == [4, 4, 4, 4, 4, 5]
    assert rows[3][2] == "nan" and rows[4][2] == "inf"
    got = [float(r[2]) for r in rows[1:]]
    for a, b in zip(got, [*values, 7.0], strict=True):
        assert a == b or (math.isnan(a) and math.isnan(b))
    assert log.counts["laser/raw"] == 2 and log.messages == 2


def test_topic_file_names():
    assert topic_stem("laser/smoothed") == "laser__smoothed"
    assert topic_stem("cam/out/x") == "cam__out__x"
    assert topic_stem("_stats") == "stats"


def test_stats_gaps_and_summary(tmp_path):
    with StreamLogger(tmp_path / "log") as log:
        log.write(decode(encode_stats({"uptime_s": 1.5, "topics": {}}, epoch="e1", seq=0, t_ns=42)))
        log.gap("laser/raw", "e1", 10, 13)
        log.write(samples_msg("laser/raw", [1.0], seq=13))
    lines = (tmp_path / "log" / "stats.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"t_ns": 42, "epoch": "e1", "seq": 0,
                                    "stats": {"uptime_s": 1.5, "topics": {}}}
    gaps = read_rows(tmp_path / "log" / "gaps.csv")
    assert gaps == [GAPS_HEADER.split(","), ["laser/raw", "e1", "10", "13"]]
    assert log.gap_events == 1 and log.missing == 3
    assert "2 messages" in log.summary() and "gaps 1 (3 missing)" in log.summary()


def test_rotation_by_time_numbers_every_file_and_repeats_the_header(tmp_path):
    now = [0.0]
    with StreamLogger(tmp_path / "log", rotate_s=10, clock=lambda: now[0]) as log:
        for seq in range(6):
            log.write(samples_msg("s/raw", [float(seq)], seq=seq))
            now[0] += 4.0  # files are 0..8 s, 12..20 s, ...
    files = sorted((tmp_path / "log").glob("s__raw*.csv"))
    assert [f.name for f in files] == ["s__raw.0001.csv", "s__raw.0002.csv"]
    rows = [read_rows(f) for f in files]
    assert all(",".join(r[0]) == SAMPLE_HEADER for r in rows)
    assert [r[1] for r in rows[0][1:]] == ["0", "1", "2"] and [r[1] for r in rows[1][1:]] == ["3", "4", "5"]


def test_log_directory_must_be_new_or_empty(tmp_path):
    (tmp_path / "old.csv").write_text("x\n")
    with pytest.raises(StreamconvError, match="not empty"):
        StreamLogger(tmp_path)
    with pytest.raises(StreamconvError, match="invalid frames 'gif'"):
        StreamLogger(tmp_path / "new", frames="gif")
    with pytest.raises(StreamconvError, match="invalid rotate_mb -1"):
        StreamLogger(tmp_path / "new", rotate_mb=-1)


def test_png_mode_is_exact_for_uint8_and_float_frames_and_features(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    edges = rng.normal(0, 300, (12, 16, 3)).astype(np.float32)
    feats = rng.normal(0, 1, (6, 8, 5)).astype(np.float32)
    with StreamLogger(tmp_path / "log", frames="png") as log:
        log.write(frame_msg("cam/raw", img, seq=3))
        log.write(frame_msg("cam/edges", edges, seq=3))
        log.write(frame_msg("cam/feat", feats, seq=3, kind="features"))
    d = tmp_path / "log"
    np.testing.assert_array_equal(cv2.imread(str(d / "cam__raw" / "00000000.png"), cv2.IMREAD_UNCHANGED), img)
    np.testing.assert_array_equal(np.load(d / "cam__edges" / "00000000.npy"), edges)
    np.testing.assert_array_equal(np.load(d / "cam__feat" / "00000000.npy"), feats)
    assert read_rows(d / "cam__raw.frames.csv") == [FRAMES_HEADER.split(","), ["0", "e1", "3", "1300000000"]]


def test_video_mode_float_frames_abs_clipped_and_size_change_starts_a_new_file(tmp_path):
    rng = np.random.default_rng(1)
    edges = [rng.normal(0, 200, (24, 32, 3)).astype(np.float32) for _ in range(6)]
    small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with StreamLogger(tmp_path / "log", codec="ffv1") as log:
        for seq, e in enumerate(edges):
            log.write(frame_msg("cam/edges", e, seq=seq))  # 10 fps from the capture times
        log.write(frame_msg("cam/edges", small, seq=6))
    d = tmp_path / "log"
    first, second = read_video(d / "cam__edges.mkv"), read_video(d / "cam__edges.0001.mkv")
    assert len(first) == 6 and len(second) == 1
    for got, e in zip(first, edges, strict=True):
        np.testing.assert_array_equal(got, np.clip(np.rint(np.abs(e)), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(second[0], small)
    assert cv2.VideoCapture(str(d / "cam__edges.mkv")).get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert [r[2] for r in read_rows(d / "cam__edges.frames.csv")[1:]] == ["0", "1", "2", "3", "4", "5"]
    assert read_rows(d / "cam__edges.0001.frames.csv")[1][:3] == ["0", "e1", "6"]


# ----------------------------------------------------------------------------- real processes
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    """`streamconv run` with the laser (100 Hz, default weights) and a 160x120 camera at 10 fps."""
    tmp = tmp_path_factory.mktemp("daemon")
    publish = f"tcp://127.0.0.1:{free_port()}"
    config = {
        "service": {"publish": publish, "control": f"tcp://127.0.0.1:{free_port()}",
                    "stats_interval_s": 0.5},
        "streams": {
            "laser": {"source": {"kind": "laser", "rate_hz": 100},
                      "outputs": {"smoothed": [{"kind": "causal_fir", "weights": WEIGHTS}]}},
            "camera": {"source": {"kind": "synthetic", "width": 160, "height": 120, "fps": 10},
                       "outputs": {"edges": [{"kind": "kernel2d", "kernel": "edge_detect"}]}},
        },
    }
    path = tmp / "daemon.yaml"
    path.write_text(yaml.safe_dump(config))
    with (tmp / "daemon.log").open("w") as err:
        proc = subprocess.Popen([*CLI, "run", "-c", str(path)], stdout=err, stderr=subprocess.STDOUT)
    try:
        with Subscriber(publish, ["laser/raw", "camera/raw"]) as sub:
            deadline = time.monotonic() + 15
            seen = set()
            while seen != {"laser/raw", "camera/raw"} and time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"daemon exited: {(tmp / 'daemon.log').read_text()}")
                try:
                    seen.add(sub.recv(timeout=0.5).topic)
                except TimeoutError:
                    pass
            assert seen == {"laser/raw", "camera/raw"}, "the daemon publishes nothing"
        yield publish
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=5) == 0
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def summary_counts(stdout: str) -> dict[str, int]:
    line = next(ln for ln in stdout.splitlines() if "messages (" in ln)
    return {t: int(n) for t, n in re.findall(r"([\w/]+) (\d+)(?=[,)])", line)}


def test_log_round_trip_equals_what_a_subscriber_received_then_plot(daemon, tmp_path):
    out = tmp_path / "log"
    received: dict[str, dict[int, tuple[int, np.ndarray]]] = {t: {} for t in (*LASER_TOPICS, "camera/raw")}
    with Subscriber(daemon, [*LASER_TOPICS, "camera/raw"]) as sub:
        first = sub.wait_ready(timeout=5)
        received[first.topic][first.seq] = (first.t_capture_ns, first.array.copy())
        proc = subprocess.Popen(
            [*CLI, "log", "--out", str(out), "-e", daemon, "--duration", "3", "--codec", "ffv1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        stop_at = None
        while stop_at is None or time.monotonic() < stop_at:
            if stop_at is None and proc.poll() is not None:
                stop_at = time.monotonic() + 0.3  # what was published before the logger stopped
            try:
                msg = sub.recv(timeout=0.05)
            except TimeoutError:
                continue
            received[msg.topic][msg.seq] = (msg.t_capture_ns, msg.array.copy())
        assert sub.gaps == 0
    stdout, stderr = proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr

    # every CSV row equals what this subscriber got for the same (topic, seq), over the common range
    for topic in LASER_TOPICS:
        rows = read_rows(out / f"{topic_stem(topic)}.csv")
        assert ",".join(rows[0]) == SAMPLE_HEADER
        assert len(rows) > 200
        by_seq: dict[int, list[tuple[int, float]]] = {}
        for t, seq, value in rows[1:]:
            by_seq.setdefault(int(seq), []).append((int(t), float(value)))
        common = 0
        for seq, samples in by_seq.items():
            if seq in received[topic]:
                t_ns, arr = received[topic][seq]
                assert [v for _, v in samples] == arr.tolist(), (topic, seq)  # one row per sample
                assert samples[0][0] == t_ns, (topic, seq)  # the first sample's capture time
                common += len(samples)
        assert common >= 200, topic
        seqs = sorted(by_seq)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap inside the log either
    assert read_rows(out / "gaps.csv") == [GAPS_HEADER.split(",")]
    counts = summary_counts(stdout)
    assert counts["laser/raw"] == len({r[1] for r in read_rows(out / "laser__raw.csv")[1:]})
    assert "gaps 0" in stdout

    # the frame videos exist, have a row per frame, and camera/raw is bit-exact (FFV1)
    index = read_rows(out / "camera__raw.frames.csv")[1:]
    frames = read_video(out / "camera__raw.mkv")
    assert len(frames) == len(index) == counts["camera/raw"] >= 15
    matched = 0
    for (_, _, seq, _), frame in zip(index, frames, strict=True):
        if int(seq) in received["camera/raw"]:
            np.testing.assert_array_equal(frame, received["camera/raw"][int(seq)][1])
            matched += 1
    assert matched >= 15
    assert len(read_video(out / "camera__edges.mkv")) == counts["camera/edges"] >= 15
    assert (out / "stats.jsonl").read_text().count("\n") >= 3

    # offline == online: `streamconv filter` of the logged raw samples gives the logged smoothed
    # values bit for bit once its window is full (the daemon's filter had seen earlier samples)
    res = subprocess.run([*CLI, "filter", str(out / "laser__raw.csv"), str(tmp_path / "offline.csv"),
                          "--weights", " ".join(map(str, WEIGHTS)), "-q"], capture_output=True, timeout=60)
    assert res.returncode == 0, res.stderr
    offline = read_rows(tmp_path / "offline.csv")
    smoothed = read_rows(out / "laser__smoothed.csv")
    assert offline[0] == smoothed[0]
    # align by capture time: the two topics' first logged samples may differ by the moment each
    # subscription reached the publisher
    offline_by_t = {row[0]: row for row in offline[len(WEIGHTS):]}  # rows with a full window
    common = [row for row in smoothed[1:] if row[0] in offline_by_t]
    assert len(common) >= len(smoothed) - 2 * len(WEIGHTS) - 5
    assert [offline_by_t[row[0]][2] for row in common] == [row[2] for row in common]

    # plot: a real PNG; the smoothing beats the noise (noise_std 0.5) and lags by about its group delay
    png = tmp_path / "plot.png"
    res = subprocess.run([*CLI, "plot", str(out), "-o", str(png), "--json"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 30_000
    metrics = json.loads(res.stdout)["series"]
    raw, smoothed = metrics["laser/raw"], metrics["laser/smoothed"]
    assert smoothed["rmse"] < raw["rmse"]
    assert 0.3 < raw["rmse"] < 0.7
    assert 0.2 < smoothed["lag_samples"] < 1.5 and abs(raw["lag_samples"]) < 0.6
    assert smoothed["lag_ms"] == pytest.approx(smoothed["lag_samples"] * 10.0)


def test_sigint_leaves_complete_files(daemon, tmp_path):
    out = tmp_path / "log"
    proc = subprocess.Popen([*CLI, "log", "--out", str(out), "-e", daemon, "laser/", "camera/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    csv_path = out / "laser__raw.csv"
    deadline = time.monotonic() + 10
    # the logger flushes once a second: wait until rows and the video are on disk
    while time.monotonic() < deadline and not (
        csv_path.exists() and csv_path.stat().st_size > 2000 and (out / "camera__edges.avi").exists()
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=5)
    assert proc.returncode == 0, stderr
    counts = summary_counts(stdout)
    for topic in LASER_TOPICS:
        text = (out / f"{topic_stem(topic)}.csv").read_text()
        assert text.endswith("\n")
        rows = list(csv.reader(text.splitlines()))
        assert all(len(r) == 3 for r in rows[1:]) and all(float(r[2]) > 0 for r in rows[1:])
        # every message received was written: one row per sample, a message's rows share its seq
        assert len({r[1] for r in rows[1:]}) == counts[topic]
    for topic in ("camera/raw", "camera/edges"):
        frames = read_video(out / f"{topic_stem(topic)}.avi")
        assert len(frames) == counts[topic] >= 1
        assert frames[0].shape == (120, 160, 3)


def test_rotation_by_size_gives_several_files_with_headers(daemon, tmp_path):
    out = tmp_path / "log"
    res = subprocess.run([*CLI, "log", "--out", str(out), "-e", daemon, "--rotate-mb", "0.002",
                          "--duration", "2", "laser/raw"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    files = sorted(out.glob("laser__raw*.csv"))
    assert len(files) >= 3
    assert [f.name for f in files] == [f"laser__raw.{i:04d}.csv" for i in range(1, len(files) + 1)]
    seqs = []
    for f in files:
        rows = read_rows(f)
        assert ",".join(rows[0]) == SAMPLE_HEADER
        seqs += [int(r[1]) for r in rows[1:]]
    for f in files[:-1]:
        assert 2000 <= f.stat().st_size < 2100  # rotated at the first write past 2 kB
    messages = [q for i, q in enumerate(seqs) if i == 0 or q != seqs[i - 1]]  # rows of one message
    assert messages == list(range(messages[0], messages[0] + len(messages)))  # nothing lost or repeated
    assert summary_counts(res.stdout)["laser/raw"] == len(messages)
    assert len(load_log(out)["laser/raw"]) == len(seqs)  # the plotter joins rotated files


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "full"], "log directory 'full' is not empty"),
        (["--out", "new", "-e", "nonsense"], "cannot connect to nonsense"),
        (["--out", "new", "--count", "0"], "invalid --count 0"),
    ],
)
def test_log_command_errors_exit_2(tmp_path, extra, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.csv").write_text("1\n")
    res = subprocess.run([*CLI, "log", *extra, "--duration", "0.1"], capture_output=True, text=True,
                         timeout=30, cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()
