"""The roles as real processes over tcp loopback: identical outputs, a worker's death, a producer's restart.

Evidence: a second, independent run (the one-process daemon) published the same arrays bit for
bit; the laser's smoothed values equal CausalFIR over the whole regenerated raw series (the
simulator is deterministic per sample index), so a failover that lost, duplicated or
mis-seeded one sample would show; `seq` gaps as a subscriber sees them; `_stats` counters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml

from streamconv import config as cfg
from streamconv import control
from streamconv.client import Subscriber
from streamconv.ops import conv2d, kernels
from streamconv.ops.fir import CausalFIR
from streamconv.sources.laser import LaserSimulator
from tests.service.conftest import daemon_config, free_port, start_daemon

pytestmark = pytest.mark.slow

LECTURE_W = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
TOPICS = ["laser/raw", "laser/truth", "laser/smoothed", "camera/raw", "camera/sharpen", "camera/edges"]


def roles_config() -> dict:
    cfg = daemon_config(free_port(), free_port(), width=160, height=120, fps=20.0)
    cfg["links"] = {"dispatch": f"tcp://127.0.0.1:{free_port()}", "collect": f"tcp://127.0.0.1:{free_port()}"}
    return cfg


@dataclass
class Topology:
    tmp: Path
    config: dict
    path: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def publish(self) -> str:
        return self.config["service"]["publish"]

    @property
    def control(self) -> str:
        return self.config["service"]["control"]

    def start(self, name: str, role: str, *, argv: list[str] | None = None) -> subprocess.Popen:
        log = (self.tmp / f"{name}.log").open("w")
        cmd = argv or [sys.executable, "-m", "streamconv", "run", "-c", str(self.path), "--role", role]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.procs[name] = proc
        return proc

    def logs(self) -> str:
        logs = sorted(self.tmp.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in logs)

    def status(self, timeout: float = 2.0) -> dict:
        return control.request({"cmd": "status"}, self.control, timeout=timeout)["status"]

    def wait_workers(self, n: int, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                st = self.status(timeout=0.5)
                admitted = [w for w in st["roles"]["workers"] if w.get("state") == "admitted"]
                owner = any(w["owns"] for w in admitted)
                if len(admitted) >= n and st["roles"]["producer"] is not None and owner:
                    return st
            except TimeoutError:
                pass
            assert time.monotonic() < deadline, f"{n} workers not admitted within {timeout} s\n{self.logs()}"
            time.sleep(0.1)

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            p.wait(5)


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    cfg = roles_config()
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(cfg))
    t = Topology(tmp_path, cfg, path)
    try:
        yield t
    finally:
        t.stop_all()


def collect(endpoint: str, until, timeout: float = 30.0, topics=TOPICS) -> tuple[dict, Subscriber]:
    by_topic: dict[str, list] = defaultdict(list)
    deadline = time.monotonic() + timeout
    with Subscriber(endpoint, topics, timeout=5.0) as sub:
        sub.wait_ready(timeout=15)
        while not until(by_topic):
            assert time.monotonic() < deadline, {t: len(v) for t, v in by_topic.items()}
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
    return by_topic, sub


def keyed(msgs: list) -> dict:
    """Each message keyed by what identifies its input: the sample index or the frame index."""
    out = {}
    for m in msgs:
        key = m.meta.get("first_sample", m.meta.get("index"))
        out[key] = m
    return out


def enough(b) -> bool:
    return (all(len(b[t]) >= 12 for t in ("camera/raw", "camera/sharpen", "camera/edges"))
            and all(len(b[t]) >= 250 for t in ("laser/raw", "laser/truth", "laser/smoothed")))


def _needed(topic: str) -> int:
    return 5 if topic.startswith("camera") else 50


def one_process_run_past(first_run: dict, tmp_path: Path, timeout: float = 60.0) -> dict:
    """Run the one-process daemon and read it until it has passed the inputs ``first_run`` saw.

    Inputs are numbered from each run's start, and under load the first run's subscriber may
    have joined late, so the second run is read until its input numbers reach past the first's.
    """
    one_dir = tmp_path / "one"
    one_dir.mkdir()
    single = start_daemon(one_dir, daemon_config(free_port(), free_port(), width=160, height=120, fps=20.0))
    first = {t: min(keyed(first_run[t])) for t in TOPICS}

    def past(b) -> bool:
        return enough(b) and all(b[t] and max(keyed(b[t])) >= first[t] + _needed(t) for t in TOPICS)

    try:
        whole, sub = collect(single.publish, past, timeout=timeout)
        assert sub.gaps == 0
    finally:
        single.proc.kill()
        single.proc.wait(5)
    return whole


def assert_same_arrays(run_a: dict, run_b: dict) -> None:
    """Every input both runs published gives the same dtype, shape and bytes on every topic."""
    for topic in TOPICS:
        a, b = keyed(run_a[topic]), keyed(run_b[topic])
        common = sorted(set(a) & set(b))
        assert len(common) >= _needed(topic), (topic, len(a), len(b))
        for k in common:
            assert a[k].array.dtype == b[k].array.dtype and a[k].array.shape == b[k].array.shape
            assert a[k].array.tobytes() == b[k].array.tobytes(), (topic, k)


def test_split_roles_publish_what_the_one_process_daemon_publishes(topology: Topology, tmp_path: Path):
    """publisher + producer + 3 workers (started in that reversed order) against `streamconv run`."""
    for i in range(3):
        topology.start(f"worker{i}", "worker")
    topology.start("producer", "producer")
    topology.start("publisher", "publisher")
    topology.wait_workers(3)
    split, sub = collect(topology.publish, enough)
    assert sub.gaps == 0 and sub.malformed == 0, (list(sub.gap_events), topology.logs())
    whole = one_process_run_past(split, tmp_path)
    assert_same_arrays(split, whole)
    for topic in TOPICS:
        # in seq order, +1 each, and one input's outputs share its seq and capture time
        seqs = [m.seq for m in split[topic]]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), topic
    by_seq = {m.seq: m for m in split["laser/raw"]}
    for m in split["laser/smoothed"]:
        if m.seq in by_seq:
            assert m.t_capture_ns == by_seq[m.seq].t_capture_ns
            assert m.meta["first_sample"] == by_seq[m.seq].meta["first_sample"]
    st = topology.status()
    workers = st["roles"]["workers"]
    assert len([w for w in workers if w["state"] == "admitted"]) == 3
    assert all(w["heartbeat_age_ms"] < 1000 for w in workers)
    assert sum(1 for w in workers if w["owns"] == ["laser"]) == 1  # one stream, one worker
    assert sum(sum(w["processed"].values()) > 0 for w in workers) >= 2  # frames spread over workers


def test_workers_started_with_streams_get_only_those_streams(topology: Topology):
    """`--streams camera` and `--streams laser`: the producer hands each worker its own stream only."""
    argv = [sys.executable, "-m", "streamconv", "run", "-c", str(topology.path), "--role", "worker"]
    topology.start("camera-worker", "worker", argv=[*argv, "--streams", "camera"])
    topology.start("producer", "producer")
    topology.start("publisher", "publisher")
    with Subscriber(topology.publish, ["camera/sharpen"], timeout=20.0) as sub:
        sub.wait_ready(timeout=30)
        for _ in range(5):  # only the camera is served: the laser has no owner, its samples wait
            sub.recv()
    st = topology.status()
    assert st["roles"]["producer"]["streams"]["laser"]["owner"] is None
    topology.start("laser-worker", "worker", argv=[*argv, "--streams", "laser"])
    st = topology.wait_workers(2)
    by_owner = {tuple(w["owns"]): w for w in st["roles"]["workers"]}
    laser_worker = by_owner[("laser",)]
    camera_worker = by_owner[()]
    by_topic, sub = collect(topology.publish, enough)
    assert sub.gaps == 0, list(sub.gap_events)
    firsts = [m.meta["first_sample"] for m in by_topic["laser/smoothed"]]
    n = firsts[-1] + 1
    expect = CausalFIR(LECTURE_W).process(LaserSimulator(rate_hz=100, seed=0).read(n, 0).values)
    np.testing.assert_array_equal(np.concatenate([m.array for m in by_topic["laser/smoothed"]]),
                                  expect[firsts[0]:n])
    processed = {w["id"]: w["processed"] for w in topology.status()["roles"]["workers"]}
    assert set(processed[laser_worker["id"]]) == {"laser"}, processed
    assert set(processed[camera_worker["id"]]) == {"camera"}, processed


def test_a_worker_asked_for_a_stream_the_config_lacks_exits_2(topology: Topology):
    argv = [sys.executable, "-m", "streamconv", "run", "-c", str(topology.path), "--role", "worker"]
    r = subprocess.run([*argv, "--streams", "camera,radar"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no stream radar in the config" in r.stderr, (r.returncode, r.stderr)


@pytest.mark.chaos
def test_sigkill_of_the_laser_worker_loses_no_sample_and_stalls_no_frame(topology: Topology):
    topology.start("publisher", "publisher")
    topology.start("producer", "producer")
    for i in range(3):
        topology.start(f"worker{i}", "worker")
    st = topology.wait_workers(3)
    victim = next(w for w in st["roles"]["workers"] if w["owns"] == ["laser"])
    pid = victim["pid"]
    by_topic: dict[str, list] = defaultdict(list)
    killed_at = None
    first_frame_after = None
    with Subscriber(topology.publish, ["laser/", "camera/sharpen", "_stats"], timeout=5.0) as sub:
        sub.wait_ready(timeout=15)
        deadline = time.monotonic() + 40
        while True:
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
            if killed_at is None and len(by_topic["laser/smoothed"]) >= 100:
                os.kill(pid, signal.SIGKILL)
                killed_at = time.monotonic()
                n_before = len(by_topic["laser/smoothed"])
            elif killed_at is not None and msg.topic == "camera/sharpen" and first_frame_after is None:
                first_frame_after = time.monotonic() - killed_at
            if killed_at is not None and len(by_topic["laser/smoothed"]) >= n_before + 200 \
                    and len(by_topic["_stats"]) >= 2 and by_topic["_stats"][-1].t_capture_ns > 0:
                break
            assert time.monotonic() < deadline, topology.logs()
        laser_gaps = [g for g in sub.gap_events if g[0].startswith("laser/")]
        frame_gaps = sum(g[3] - g[2] for g in sub.gap_events if g[0] == "camera/sharpen")
    assert laser_gaps == [], (laser_gaps, topology.logs())
    assert first_frame_after is not None and first_frame_after < 1.0, first_frame_after
    # every smoothed value is CausalFIR over the whole raw series: none lost, duplicated or mis-seeded
    msgs = by_topic["laser/smoothed"]
    firsts = [m.meta["first_sample"] for m in msgs]
    assert firsts == list(range(firsts[0], firsts[0] + len(firsts)))  # batch 1: one sample each
    n = firsts[-1] + 1
    expect = CausalFIR(LECTURE_W).process(LaserSimulator(rate_hz=100, seed=0).read(n, 0).values)
    got = np.concatenate([m.array for m in msgs])
    np.testing.assert_array_equal(got, expect[firsts[0] : n])
    # the stats say what happened: the stream moved (replayed), frames resent or lost, by reason
    time.sleep(1.2)
    stats = control.request({"cmd": "stats"}, topology.control)["stats"]
    cam = stats["streams"]["camera"]
    assert sum(cam["lost"].values()) >= frame_gaps, (cam, frame_gaps)
    assert set(cam["lost"]) <= {"worker_died", "timeout", "window"}, cam
    assert stats["streams"]["laser"].get("lost", {}) == {}
    st = topology.status()
    assert str(pid) not in {str(w.get("pid")) for w in st["roles"]["workers"]}
    assert any(w["owns"] == ["laser"] for w in st["roles"]["workers"])


@pytest.mark.chaos
def test_producer_restart_is_a_new_epoch_not_a_gap(topology: Topology):
    topology.start("publisher", "publisher")
    producer = topology.start("producer", "producer")
    topology.start("worker0", "worker")
    topology.wait_workers(1)
    epochs = []
    with Subscriber(topology.publish, ["laser/smoothed", "camera/sharpen"], timeout=8.0) as sub:
        sub.wait_ready(timeout=15)
        for _ in range(30):
            epochs.append(sub.recv().epoch)
        producer.send_signal(signal.SIGKILL)
        producer.wait(5)
        topology.start("producer2", "producer")
        deadline = time.monotonic() + 30
        after = []
        while len([m for m in after if m.topic == "laser/smoothed"]) < 30:
            assert time.monotonic() < deadline, topology.logs()
            m = sub.recv()
            if m.epoch != epochs[0]:
                after.append(m)
        assert sub.gaps == 0, list(sub.gap_events)
    assert len(set(epochs)) == 1
    laser = [m for m in after if m.topic == "laser/smoothed"]
    assert len({m.epoch for m in after}) == 1
    # the new producer's numbering starts again; the subscriber sees it as a new epoch, not a gap
    seqs = [m.seq for m in laser]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_live_changes_reach_a_worker_that_joins_later(topology: Topology):
    """ctl set twice and remove on the split roles; a worker started afterwards applies the newest of each."""
    topology.start("publisher", "publisher")
    topology.start("producer", "producer")
    first = topology.start("worker0", "worker")
    topology.wait_workers(1)
    box = {"kind": "kernel2d", "kernel": "box", "params": {"size": 5}}
    for stages in ({"kind": "kernel2d", "kernel": "blur"}, box):  # the second replaces the first
        assert control.request({"cmd": "set", "topic": "camera/sharpen", "stages": stages},
                               topology.control)["ok"]
    assert control.request({"cmd": "remove", "topic": "camera/edges"}, topology.control)["ok"]
    topology.start("worker1", "worker")
    first.send_signal(signal.SIGKILL)  # from now on only the late worker computes
    first.wait(5)
    want = cfg.parse_stages(box)[0].spec_hash()
    raw_by_index: dict = {}
    deadline = time.monotonic() + 30
    with Subscriber(topology.publish, ["camera/sharpen", "camera/raw", "camera/edges"], timeout=10) as sub:
        checked = 0
        while checked < 5:
            assert time.monotonic() < deadline, topology.logs()
            m = sub.recv()
            assert m.topic != "camera/edges", "a removed output came back"
            if m.topic == "camera/raw":
                raw_by_index[m.meta["index"]] = m.array
                continue
            st = topology.status(timeout=2)
            live = [w for w in st["roles"]["workers"] if w.get("state") == "admitted"]
            newest = m.meta["filter"][0]["spec_hash"] == want
            if not newest or len(live) != 1 or m.meta["index"] not in raw_by_index:
                continue
            x = raw_by_index[m.meta["index"]]
            assert np.array_equal(m.array, conv2d(x, kernels.get("box", size=5), padding="same")), m.seq
            checked += 1


_PATCHED_WORKER = """
import importlib
import sys
import numpy as np
c = importlib.import_module("streamconv.ops.conv2d")
_orig = c.Conv2D.__call__
def _other_build(self, image, *a, **k):   # a build whose sharpen differs in one pixel value
    out = np.array(_orig(self, image, *a, **k))
    out.flat[0] = out.flat[0] + 1
    return out
c.Conv2D.__call__ = _other_build
from streamconv.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_worker_of_another_build_is_excluded(topology: Topology):
    topology.start("publisher", "publisher")
    topology.start("producer", "producer")
    topology.start("good", "worker")
    bad = topology.start("bad", "worker", argv=[sys.executable, "-c", _PATCHED_WORKER, "run", "-c",
                                                str(topology.path), "--role", "worker"])
    topology.wait_workers(1)
    deadline = time.monotonic() + 20
    while True:
        workers = topology.status()["roles"]["workers"]
        excluded = [w for w in workers if w["state"] == "excluded"]
        if excluded:
            break
        assert time.monotonic() < deadline, (workers, topology.logs())
        time.sleep(0.2)
    assert len(excluded) == 1 and "stage hash" in excluded[0]["reason"]
    assert f"-{bad.pid}-" in excluded[0]["id"]  # the id names the process
    got, _ = collect(topology.publish, lambda b: min(len(b["camera/sharpen"]), len(b["camera/raw"])) >= 15,
                     topics=["camera/raw", "camera/sharpen"])
    sharpen = kernels.get("sharpen")
    raw = {m.seq: m for m in got["camera/raw"]}
    checked = 0
    for m in got["camera/sharpen"]:
        if m.seq in raw:  # only the good build's numbers are published
            np.testing.assert_array_equal(m.array, conv2d(raw[m.seq].array, sharpen, padding="same"))
            checked += 1
    assert checked >= 10
    assert "refusing" in (topology.tmp / "publisher.log").read_text()
    assert "excludes this worker" in (topology.tmp / "bad.log").read_text()


@pytest.mark.chaos
@pytest.mark.parametrize("survivor", ["worker", "producer", "publisher"])
def test_each_role_stops_on_sigterm_within_two_seconds_with_its_peers_gone(topology: Topology, survivor: str):
    procs = {r: topology.start(r, r) for r in ("publisher", "producer", "worker")}
    topology.wait_workers(1)
    for role, p in procs.items():
        if role != survivor:
            p.kill()
            p.wait(5)
    time.sleep(0.5)  # the survivor notices its peers are gone
    t0 = time.monotonic()
    procs[survivor].send_signal(signal.SIGTERM)
    code = procs[survivor].wait(5)
    took = time.monotonic() - t0
    log = (topology.tmp / f"{survivor}.log").read_text()
    assert code == 0, log
    assert took < 2.0, took
    assert "Traceback" not in log


@pytest.mark.chaos
def test_group_sigterm_twice_is_still_a_clean_stop(topology: Topology):
    """`timeout` and systemd signal the process and then its group: the second SIGTERM is not 'force'."""
    p = topology.start("publisher", "publisher")
    time.sleep(1.5)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    p.send_signal(signal.SIGTERM)
    assert p.wait(5) == 0
    assert time.monotonic() - t0 < 2.0


def test_role_with_inproc_links_exits_2_naming_the_link(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(daemon_config(free_port(), free_port())))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path), "--role", "worker"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "links.dispatch" in r.stderr and "inproc" in r.stderr and len(r.stderr.strip().splitlines()) == 1
