"""`streamconv run` with a `cluster:` section on real Ray clusters (the `streamconv[cluster]` extra).

Each test runs the real driver as a process in its own session (so a group signal is exactly the
driver's group): the publisher in the driver, the producer and the workers as Ray actors.  Most
tests join one session-scoped two-node cluster (``ray.cluster_utils.Cluster``: a head with 2
CPUs and a node offering the resource ``camera``), since starting a cluster costs 4-5 s; the
shutdown tests let the driver start and stop a local cluster of its own.
Evidence: the one-process daemon's arrays bit for bit; the laser's smoothed values against
CausalFIR over the regenerated series after a worker actor's process is killed; Ray's own node
ids for where the producer runs; the processes left in the driver's session after it exits.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from streamconv import control
from streamconv.client import Subscriber
from streamconv.ops.fir import CausalFIR
from streamconv.sources.laser import LaserSimulator
from tests.service.conftest import daemon_config, free_port
from tests.service.test_roles import LECTURE_W, assert_same_arrays, collect, enough, one_process_run_past

pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class TwoNodes:
    """A head node (2 CPUs) and a second node that offers the resource ``camera`` (1 CPU)."""

    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, connect=False,
                               head_node_args={"num_cpus": 2, "include_dashboard": False})
        self.camera_node = self.cluster.add_node(num_cpus=1, resources={"camera": 1})
        self.cluster.wait_for_nodes()
        self.address = self.cluster.address
        self.head_id = self.cluster.head_node.node_id
        self.camera_id = self.camera_node.node_id


@pytest.fixture(scope="session")
def two_nodes() -> Iterator[TwoNodes]:
    nodes = TwoNodes()
    try:
        yield nodes
    finally:
        nodes.cluster.shutdown()


def cluster_config(workers: int = 2, address: str = "local") -> dict:
    c = daemon_config(free_port(), free_port(), width=160, height=120, fps=20.0)
    c["cluster"] = {"engine": "ray", "address": address, "workers": workers, "cpus_per_worker": 0.5}
    if address == "local":
        c["cluster"]["num_cpus"] = 2
    else:  # the actors of a cluster we joined reach the driver over tcp (inproc is refused)
        c["links"] = {"dispatch": f"tcp://127.0.0.1:{free_port()}", "collect": f"tcp://127.0.0.1:{free_port()}"}
    return c


class Driver:
    def __init__(self, tmp: Path, config: dict) -> None:
        self.config = config
        path = tmp / "cluster.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = tmp / "driver.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamconv", "run", "-c", str(path)], stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )

    @property
    def publish(self) -> str:
        return self.config["service"]["publish"]

    def status(self) -> dict:
        return control.request({"cmd": "status"}, self.config["service"]["control"], timeout=2)["status"]

    def wait_workers(self, n: int, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                st = self.status()
                admitted = [w for w in st["roles"]["workers"] if w.get("state") == "admitted"]
                if len(admitted) >= n and st["roles"]["producer"] and any(w["owns"] for w in admitted):
                    return st
            except TimeoutError:
                pass
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.2)

    def actors(self) -> list[dict[str, Any]]:
        return self.status()["cluster"]["actors"]

    def session_processes(self) -> list[str]:
        """Processes still alive in the driver's session (Ray's own included), zombies excluded."""
        out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line.split()[1][0] != "Z"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        """SIGTERM the driver alone (it stops its actors), SIGKILL its group if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def driver(tmp_path: Path, two_nodes: TwoNodes) -> Iterator[Driver]:
    d = Driver(tmp_path, cluster_config(address=two_nodes.address))
    try:
        yield d
    finally:
        d.stop()  # a joined cluster lives on: the driver must remove its actors itself


def test_two_worker_actors_publish_what_the_one_process_daemon_publishes(tmp_path: Path, two_nodes: TwoNodes):
    """The camera pinned to the node offering `camera`: the producer runs there, the arrays are the same."""
    config = cluster_config(address=two_nodes.address)
    config["streams"]["camera"]["placement"] = {"node": "camera"}
    d = Driver(tmp_path, config)
    try:
        st = d.wait_workers(2)
        assert len({w["pid"] for w in st["roles"]["workers"]}) == 2
        assert all(w["pid"] != d.proc.pid for w in st["roles"]["workers"])  # actors: other processes
        on_ray, sub = collect(d.publish, enough, timeout=60.0)
        assert sub.gaps == 0 and sub.malformed == 0, list(sub.gap_events)
        status = d.status()
    finally:
        d.stop()
    assert d.proc.returncode == 0, d.log()
    pids = [a["pid"] for a in status["cluster"]["actors"]]
    deadline = time.monotonic() + 5  # the driver removed its actors from the cluster that lives on
    while [p for p in pids if os.path.exists(f"/proc/{p}")]:
        assert time.monotonic() < deadline, [p for p in pids if os.path.exists(f"/proc/{p}")]
        time.sleep(0.1)
    cluster = status["cluster"]
    assert {n["id"] for n in cluster["nodes"] if n["alive"]} == {two_nodes.head_id, two_nodes.camera_id}
    assert next(n for n in cluster["nodes"] if n["id"] == two_nodes.camera_id)["resources"] == {"camera": 1.0}
    by_class = defaultdict(list)
    for a in cluster["actors"]:
        by_class[a["class"]].append(a)
    (producer,) = by_class["ProducerActor"]
    assert producer["node"] == two_nodes.camera_id and producer["state"] == "ALIVE"
    assert producer["pid"] == status["roles"]["producer"]["pid"]
    assert len(by_class["WorkerActor"]) == 2
    assert {a["role_id"] for a in by_class["WorkerActor"]} == {w["id"] for w in status["roles"]["workers"]}
    assert_same_arrays(on_ray, one_process_run_past(on_ray, tmp_path, timeout=90.0))


def test_ctl_status_prints_the_nodes_and_the_actors_with_their_rates(driver: Driver):
    driver.wait_workers(2)
    with Subscriber(driver.publish, ["laser/smoothed"], timeout=10.0) as sub:
        sub.wait_ready(timeout=30)
        deadline = time.monotonic() + 30
        while True:  # rates are per second: wait for a heartbeat that has one
            sub.recv()
            argv = [sys.executable, "-m", "streamconv", "ctl", "status", "--control",
                    driver.config["service"]["control"]]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            rates = [float(x) for x in re.findall(r"Actor \(.*, runs laser (\d+\.\d)/s", r.stdout)]
            if rates and rates[0] > 0:
                break
            assert time.monotonic() < deadline, r.stdout
            time.sleep(0.5)
    lines = r.stdout.splitlines()
    assert any(line.startswith("cluster ") and "2 of 2 node(s) alive" in line for line in lines), r.stdout
    assert any("camera 1" in line and line.lstrip().startswith("node ") for line in lines), r.stdout
    actors = [line.strip() for line in lines if "Actor (" in line]
    assert len(actors) == 3, actors
    assert sum(a.startswith("WorkerActor (every stream): ALIVE, restarts 0") for a in actors) == 2, actors
    assert any(a.startswith("ProducerActor (the sources): ALIVE") for a in actors), actors
    assert any(", runs laser " in a for a in actors), actors


def test_a_killed_worker_actor_is_restarted_and_the_laser_loses_nothing(driver: Driver):
    st = driver.wait_workers(2)
    victim = next(w for w in st["roles"]["workers"] if w["owns"] == ["laser"])
    by_topic: dict[str, list] = defaultdict(list)
    killed_at = None
    with Subscriber(driver.publish, ["laser/smoothed", "camera/sharpen"], timeout=10.0) as sub:
        sub.wait_ready(timeout=30)
        deadline = time.monotonic() + 60
        while True:
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
            if killed_at is None and len(by_topic["laser/smoothed"]) >= 100:
                os.kill(victim["pid"], signal.SIGKILL)
                killed_at = time.monotonic()
                while True:  # the reader thread keeps receiving meanwhile
                    workers = driver.status()["roles"]["workers"]
                    if victim["id"] not in {w["id"] for w in workers if w.get("state") == "admitted"}:
                        detected_s = time.monotonic() - killed_at
                        break
                    assert time.monotonic() - killed_at < 5, "the dead worker is still listed"
                    time.sleep(0.02)
                n_before = len(by_topic["laser/smoothed"])
            if killed_at is not None and len(by_topic["laser/smoothed"]) >= n_before + 300:
                break
            assert time.monotonic() < deadline, driver.log()
        laser_gaps = [g for g in sub.gap_events if g[0].startswith("laser/")]
    assert detected_s < 1.0, detected_s  # our heartbeats: dead after links.dead_after_ms (300 ms)
    assert laser_gaps == [], laser_gaps
    frames = [m.seq for m in by_topic["camera/sharpen"]]
    assert len(frames) > 10 and frames == sorted(set(frames)), frames  # in order, none twice
    msgs = by_topic["laser/smoothed"]
    firsts = [m.meta["first_sample"] for m in msgs]
    assert firsts == list(range(firsts[0], firsts[0] + len(firsts)))
    n = firsts[-1] + 1
    expect = CausalFIR(LECTURE_W).process(LaserSimulator(rate_hz=100, seed=0).read(n, 0).values)
    np.testing.assert_array_equal(np.concatenate([m.array for m in msgs]), expect[firsts[0]:n])
    # Ray restarted the actor: a worker with a new process is admitted again, and counted
    deadline = time.monotonic() + 30
    while True:
        workers = [w for w in driver.status()["roles"]["workers"] if w.get("state") == "admitted"]
        actors = driver.actors()
        if (len(workers) == 2 and victim["pid"] not in {w["pid"] for w in workers}
                and sorted(a["restarts"] for a in actors) == [0, 0, 1]):
            break
        assert time.monotonic() < deadline, (actors, driver.log())
        time.sleep(0.2)
    restarted = next(a for a in actors if a["restarts"] == 1)
    assert restarted["class"] == "WorkerActor" and restarted["state"] == "ALIVE"
    assert restarted["pid"] != victim["pid"] and restarted["pid"] in {w["pid"] for w in workers}


@pytest.mark.parametrize("to_group", [False, True], ids=["driver", "group"])
def test_sigterm_stops_every_actor_and_the_cluster_within_5_s(tmp_path: Path, to_group: bool):
    d = Driver(tmp_path, cluster_config())
    try:
        d.wait_workers(2)
        t0 = time.monotonic()
        if to_group:  # as systemd, `timeout` and a terminal's Ctrl-C do
            os.killpg(d.proc.pid, signal.SIGTERM)
        else:
            d.proc.send_signal(signal.SIGTERM)
        code = d.proc.wait(15)
        took = time.monotonic() - t0
        time.sleep(1.0)
        left = d.session_processes()
    finally:
        d.kill()
    assert code == 0, d.log()
    assert took < 5.0, (took, d.log())
    assert left == [], left


def test_a_cluster_that_cannot_be_reached_is_one_line_and_exit_2(tmp_path: Path):
    c = cluster_config()
    c["cluster"]["address"] = f"127.0.0.1:{free_port()}"
    c["links"] = {"dispatch": f"tcp://127.0.0.1:{free_port()}", "collect": f"tcp://127.0.0.1:{free_port()}"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(c))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path)], capture_output=True,
                       text=True, timeout=60)
    errors = [line for line in (r.stdout + r.stderr).splitlines() if "ERROR" in line]
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert len(errors) == 1 and "cannot reach the Ray cluster" in errors[0], errors


def test_inproc_links_on_a_remote_cluster_are_refused(tmp_path: Path):
    c = cluster_config()
    c["cluster"]["address"] = "auto"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(c))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "links.dispatch" in r.stdout + r.stderr, (r.stdout, r.stderr)


def test_a_source_pinned_to_a_resource_no_node_offers_exits_2(tmp_path: Path, two_nodes: TwoNodes):
    c = cluster_config(address=two_nodes.address)
    c["streams"]["camera"]["placement"] = {"node": "thermal"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(c))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path)], capture_output=True,
                       text=True, timeout=90)
    errors = [line for line in (r.stdout + r.stderr).splitlines() if "ERROR" in line]
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert len(errors) == 1 and "'thermal'" in errors[0] and "camera" in errors[0], errors
