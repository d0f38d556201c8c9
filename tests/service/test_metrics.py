"""Prometheus ``/metrics`` of a real daemon (``service.metrics``) against the ``_stats`` it publishes.

Evidence: the scrape, parsed with prometheus_client's own text parser, equals one of the
``_stats`` messages a real Subscriber received around it (the publisher serves its newest
snapshot); the counts grow as the published rates say; the histograms are monotone with
``+Inf`` == count == messages; bad configs name ``service.metrics``; a taken port exits 2 with
one line; a missing prometheus_client exits 2 naming the extra.
"""

from __future__ import annotations

import itertools
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from streamconv import config as cfg
from streamconv.client import Subscriber
from streamconv.errors import ConfigError
from tests.service.conftest import daemon_config, free_port, start_daemon

parser = pytest.importorskip("prometheus_client.parser")


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """GET ``url``; return {sample name: {sorted labels: value}}."""
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        text = r.read().decode()
    out: dict[str, dict[tuple, float]] = defaultdict(dict)
    for fam in parser.text_string_to_metric_families(text):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def by_topic(samples: dict[tuple, float]) -> dict[str, float]:
    return {dict(k)["topic"]: v for k, v in samples.items()}


def test_metrics_match_the_stats_messages(tmp_path: Path):
    port = free_port()
    config = daemon_config(free_port(), free_port(), width=96, height=64, fps=20.0)
    config["service"]["metrics"] = f"127.0.0.1:{port}"
    d = start_daemon(tmp_path, config)
    try:
        stats: list = []
        with Subscriber(d.publish, ["laser/", "camera/sharpen", "_stats"], timeout=5.0) as sub:
            sub.wait_ready(timeout=10)

            def receive(n: int) -> None:
                goal = len(stats) + n
                while len(stats) < goal:
                    msg = sub.recv()
                    if msg.topic == "_stats":
                        stats.append(msg)

            receive(4)
            before = len(stats)
            got = scrape(f"http://127.0.0.1:{port}/metrics")
            receive(2)
            assert sub.gaps == 0 and sub.malformed == 0
        assert "streamconv" in d.log() and f"http://127.0.0.1:{port}/metrics" in d.log()
    finally:
        d.stop()

    messages = by_topic(got["streamconv_messages_total"])
    assert {"laser/raw", "laser/smoothed", "laser/truth", "camera/sharpen"} <= set(messages)
    # The scrape is one _stats snapshot: the one received last before it, or a newer one.
    same = [i for i, m in enumerate(stats)
            if all(m.meta["topics"].get(t, {}).get("count") == n for t, n in messages.items())]
    assert same and same[0] >= before - 1, (messages, [m.meta["topics"] for m in stats])
    snap = stats[same[0]].meta
    assert messages["laser/smoothed"] >= stats[before - 1].meta["topics"]["laser/smoothed"]["count"] > 0

    # Counters are totals: consecutive _stats grow by rate x the time between them.
    for prev, cur in itertools.pairwise(stats):
        dt = (cur.header.t_capture_ns - prev.header.t_capture_ns) / 1e9
        for topic, t in cur.meta["topics"].items():
            grown = t["count"] - prev.meta["topics"].get(topic, {"count": 0})["count"]
            assert abs(grown - t["rate_hz"] * dt) < 0.01, (topic, grown, t["rate_hz"], dt)

    # drops by reason add up to each topic's drops; malformed by reason to the total; errors equal.
    dropped: dict[str, float] = defaultdict(float)
    for labels, v in got.get("streamconv_dropped_total", {}).items():
        dropped[dict(labels)["topic"]] += v
    malformed = sum(got["streamconv_malformed_total"].values())
    assert malformed == snap["malformed"]
    errors = by_topic(got["streamconv_errors_total"])
    for topic, t in snap["topics"].items():
        assert dropped.get(topic, 0) == t["drops"], topic
        assert errors[topic] == t["errors"], topic

    # The histograms: monotone, +Inf == count == messages published (fewer than 100000 per interval).
    buckets: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for labels, v in got["streamconv_latency_seconds_bucket"].items():
        lab = dict(labels)
        buckets[lab["topic"]].append((float(lab["le"]), v))
    counts = by_topic(got["streamconv_latency_seconds_count"])
    sums = by_topic(got["streamconv_latency_seconds_sum"])
    assert set(buckets) == set(messages)
    for topic, bs in buckets.items():
        bs.sort()
        values = [v for _, v in bs]
        assert values == sorted(values), topic
        assert bs[-1][0] == float("inf") and values[-1] == counts[topic] == messages[topic], topic
        assert len(bs) == len(snap["latency_buckets_le_s"]) + 1
        assert values == snap["topics"][topic]["latency_buckets"]
        assert sums[topic] == pytest.approx(snap["topics"][topic]["latency_sum_s"], rel=1e-9)
        if messages[topic]:
            assert 0 < sums[topic] / counts[topic] < 1.0, topic  # mean latency below 1 s on loopback
    # Our one Subscriber: one connection (the daemon's own ping used the control socket), 3 prefixes.
    assert got["streamconv_subscribers"][()] == snap["subscribers"] == 1
    assert got["streamconv_subscriptions"][()] == snap["subscriptions"] == 3
    (labels,) = got["streamconv_build_info"]
    assert dict(labels)["version"]


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ("0.0.0.0:9464", "not loopback"),
        ("http://10.0.0.7:9464", "not loopback"),
        ("127.0.0.1:70000", "port"),
        ("127.0.0.1:x", "port"),
        ("127.0.0.1", "HOST:PORT"),
        ("tcp://127.0.0.1:9464", "HOST:PORT"),
        ("127.0.0.1:9464/metrics", "HOST:PORT"),
    ],
)
def test_bad_metrics_config_names_the_field(metrics: str, reason: str):
    with pytest.raises(ConfigError, match=r"service\.metrics") as e:
        cfg.parse({"service": {"metrics": metrics}})
    assert reason in str(e.value)


def test_metrics_config_forms():
    def address(**svc):
        return cfg.parse({"service": svc}).service.metrics_address

    assert address() is None
    assert address(metrics="127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert address(metrics="http://localhost:9464") == ("localhost", 9464)
    assert address(metrics="[::1]:9464") == ("::1", 9464)
    assert address(metrics="0.0.0.0:9464", insecure=True) == ("0.0.0.0", 9464)


def _run(tmp_path: Path, config: dict, env: dict | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "streamconv", "run", "-c", str(path)],
                          capture_output=True, text=True, timeout=30, env=env)


def test_metrics_port_in_use_exits_2(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        config = daemon_config(free_port(), free_port(), camera=False)
        config["service"]["metrics"] = f"127.0.0.1:{port}"
        r = _run(tmp_path, config)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, r.stderr
    assert "service.metrics" in errors[0] and f"127.0.0.1:{port}" in errors[0] and "in use" in errors[0]


def test_metrics_without_prometheus_client_exits_2(tmp_path: Path):
    import os

    blocker = tmp_path / "block"
    (blocker / "prometheus_client").mkdir(parents=True)
    (blocker / "prometheus_client" / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), *sys.path]))
    config = daemon_config(free_port(), free_port(), camera=False)
    config["service"]["metrics"] = f"127.0.0.1:{free_port()}"
    r = _run(tmp_path, config, env)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "service.metrics" in lines[0], r.stderr
    assert "pip install 'streamconv[metrics]'" in lines[0]
    # Without service.metrics the daemon never imports it.
    check = subprocess.run(
        [sys.executable, "-c", "import sys, streamconv.service, streamconv.roles.publisher,"
         " streamconv.metrics; assert 'prometheus_client' not in sys.modules"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert check.returncode == 0, check.stderr
