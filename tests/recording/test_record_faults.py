"""The recorder under a full disk, rotation, and SIGINT/SIGTERM; the writer unit alone."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from streamconv.recording.reader import RecordingReader
from streamconv.recording.writer import Recorder
from streamconv.wire import decode, encode
from tests.recording.conftest import default_like, run_cli
from tests.service.conftest import start_daemon

LIMIT = 8_000_000


def _frames(n: int, size: tuple[int, int] = (120, 160)) -> list:
    rng = np.random.default_rng(3)
    return [decode(encode("camera/raw", rng.integers(0, 255, (*size, 3), dtype=np.uint8), stream="camera",
                          kind="frame", epoch="e", seq=i, t_capture_ns=10**18 + i * 33_000_000))
            for i in range(n)]


def _limit_file_size() -> None:  # in the child: writes past LIMIT fail with EFBIG, as a full disk would
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_failed_write_closes_the_file_at_its_last_whole_chunk(tmp_path: Path) -> None:
    """As in a full disk: the file ends cleanly (a footer) and the loss is counted."""
    path = tmp_path / "full.mcap"
    code = (  # 300 frames of 57.6 KB: 18 per 1 MiB chunk
        "import sys\n"
        "from streamconv.recording.writer import Recorder, RecordingFailed\n"
        "from tests.recording.test_record_faults import _frames\n"
        f"rec = Recorder({str(path)!r}, viewer=False)\n"
        "try:\n"
        "    for m in _frames(300): rec.write(m)\n"
        "except RecordingFailed as exc:\n"
        "    print('FAILED', rec.messages, exc); sys.exit(2)\n"
        "rec.close()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, preexec_fn=_limit_file_size,
                       timeout=60, cwd=Path(__file__).resolve().parents[2])
    out = r.stdout.decode()
    assert r.returncode == 2 and out.startswith("FAILED"), (out, r.stderr.decode())
    written = int(out.split()[1])
    assert 0 < written < 300
    assert "message(s) lost" in out and "last whole chunk" in out
    size = path.stat().st_size
    assert size <= LIMIT
    # mcap's own reader reads it to its end: the bare footer closes it
    with path.open("rb") as f:
        n = sum(1 for _ in make_reader(f).iter_messages(log_time_order=False))
    reader = RecordingReader(path)
    seqs = [m.seq for _, m, _ in reader.native()]
    assert reader.finished and reader.torn is None
    assert n == len(seqs) and seqs == list(range(len(seqs)))
    lost = int(out.split("; ")[-1].split()[0])
    assert len(seqs) + lost == written + 1  # every message is on disk or counted lost
    assert len(seqs) >= written - 18  # at most the chunk being filled
    print(f"limit {LIMIT} B: {len(seqs)} messages kept, {lost} lost, file {size} B")


def test_record_on_a_full_disk_exits_2_and_reports_the_loss(tmp_path: Path) -> None:
    d = start_daemon(tmp_path, default_like())
    path = tmp_path / "full.mcap"
    try:
        r = subprocess.run([sys.executable, "-m", "streamconv", "record", "--out", str(path), "--endpoint",
                            d.publish, "--duration", "20"], capture_output=True, text=True, timeout=60,
                           preexec_fn=_limit_file_size)
    finally:
        d.proc.kill()
        d.proc.wait(5)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "last whole chunk" in errors[0] and "lost" in errors[0], r.stderr
    reader = RecordingReader(path)
    assert sum(1 for _ in reader.native()) > 0 and reader.finished


def test_rotation_by_size_gives_complete_numbered_files() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rec = Recorder(Path(tmp) / "rot.mcap", viewer=False, max_bytes=2_000_000)
        for m in _frames(120):
            rec.write(m)
        rec.close()
        assert [p.name for p in rec.files][:3] == ["rot_0.mcap", "rot_1.mcap", "rot_2.mcap"]
        seqs = []
        for p in rec.files:
            with p.open("rb") as f:
                summary = make_reader(f).get_summary()
            assert summary is not None  # each file finished on its own
            reader = RecordingReader(p)
            seqs += [m.seq for _, m, _ in reader.native()]
            assert p.stat().st_size < 2_000_000 + 1_100_000
        assert seqs == list(range(120))
        info = run_cli("info", *map(str, rec.files), "--json")
        assert json.loads(info.stdout)["topics"]["camera/raw"]["messages"] == 120


def test_existing_file_is_refused_unless_overwrite(tmp_path: Path) -> None:
    (tmp_path / "a.mcap").write_bytes(b"x")
    with pytest.raises(FileExistsError):
        Recorder(tmp_path / "a.mcap")
    Recorder(tmp_path / "a.mcap", overwrite=True).close()
    reader = RecordingReader(tmp_path / "a.mcap")
    assert list(reader.native()) == [] and reader.finished


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_finishes_the_file_and_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    d = start_daemon(tmp_path, default_like())
    path = tmp_path / "sig.mcap"
    try:
        rec = subprocess.Popen([sys.executable, "-m", "streamconv", "record", "--out", str(path),
                                "--endpoint", d.publish, "laser/", "camera/raw"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 3e6):
            time.sleep(0.1)
        rec.send_signal(sig)
        out, err = rec.communicate(timeout=10)
    finally:
        d.proc.kill()
        d.proc.wait(5)
    assert rec.returncode == 0, err
    assert "messages" in out and "drops" in out
    with path.open("rb") as f:
        summary = make_reader(f).get_summary()
    assert summary is not None
    topics = {c.topic for c in summary.channels.values()}
    assert {"laser/raw", "laser/smoothed", "laser/truth", "camera/raw", "viz/camera/raw"} <= topics
    assert "camera/edges" not in topics
