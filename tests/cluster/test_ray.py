"""`streamconv run` with a `cluster:` section on a real local Ray cluster (the `streamconv[cluster]` extra).

Each test runs the real driver as a process in its own session (so a group signal is exactly the
driver's group): the publisher in the driver, the producer and the workers as Ray actors.
Evidence: the one-process daemon's arrays bit for bit; the laser's smoothed values against
CausalFIR over the regenerated series after a worker actor's process is killed; the processes
left in the driver's session after it exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

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


def cluster_config(workers: int = 2) -> dict:
    c = daemon_config(free_port(), free_port(), width=160, height=120, fps=20.0)
    c["cluster"] = {"engine": "ray", "address": "local", "workers": workers, "cpus_per_worker": 0.5,
                    "num_cpus": 2}
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

    def session_processes(self) -> list[str]:
        """Processes still alive in the driver's session (Ray's own included), zombies excluded."""
        out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(self.proc.pid)],
                             capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if line.split()[1][0] != "Z"]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def driver(tmp_path: Path):
    d = Driver(tmp_path, cluster_config())
    try:
        yield d
    finally:
        d.kill()


def test_two_worker_actors_publish_what_the_one_process_daemon_publishes(driver: Driver, tmp_path: Path):
    st = driver.wait_workers(2)
    assert len({w["pid"] for w in st["roles"]["workers"]}) == 2
    assert all(w["pid"] != driver.proc.pid for w in st["roles"]["workers"])  # actors: other processes
    on_ray, sub = collect(driver.publish, enough, timeout=60.0)
    assert sub.gaps == 0 and sub.malformed == 0, list(sub.gap_events)
    assert_same_arrays(on_ray, one_process_run_past(on_ray, tmp_path, timeout=90.0))


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
                n_before = len(by_topic["laser/smoothed"])
            if killed_at is not None and len(by_topic["laser/smoothed"]) >= n_before + 300:
                break
            assert time.monotonic() < deadline, driver.log()
        laser_gaps = [g for g in sub.gap_events if g[0].startswith("laser/")]
    assert laser_gaps == [], laser_gaps
    msgs = by_topic["laser/smoothed"]
    firsts = [m.meta["first_sample"] for m in msgs]
    assert firsts == list(range(firsts[0], firsts[0] + len(firsts)))
    n = firsts[-1] + 1
    expect = CausalFIR(LECTURE_W).process(LaserSimulator(rate_hz=100, seed=0).read(n, 0).values)
    np.testing.assert_array_equal(np.concatenate([m.array for m in msgs]), expect[firsts[0]:n])
    # Ray restarted the actor: a worker with a new process is admitted again
    deadline = time.monotonic() + 30
    while True:
        workers = [w for w in driver.status()["roles"]["workers"] if w.get("state") == "admitted"]
        if len(workers) == 2 and victim["pid"] not in {w["pid"] for w in workers}:
            break
        assert time.monotonic() < deadline, driver.log()
        time.sleep(0.2)


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
