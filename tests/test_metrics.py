"""streamconv.metrics against hand-built snapshots and independent arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from streamconv import metrics

parser = pytest.importorskip("prometheus_client.parser")

BOUNDS = metrics.LATENCY_BUCKETS_S


def families(text: bytes) -> dict[str, dict[tuple, float]]:
    """Parse an exposition into {sample name: {sorted labels: value}}."""
    out: dict[str, dict[tuple, float]] = {}
    for fam in parser.text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_bucket_counts_match_a_loop() -> None:
    rng = np.random.default_rng(1)
    lat = np.concatenate([
        (10 ** rng.uniform(-5, 1.5, 5000) * 1e9).astype(np.int64),
        np.array([round(b * 1e9) for b in BOUNDS]),  # exactly on every bound: le includes it
        np.array([-5, 0, 11 * 10**9]),
    ])
    got = metrics.bucket_counts(lat)
    want = [0] * (len(BOUNDS) + 1)
    for x in lat.tolist():
        for i, b in enumerate(BOUNDS):
            if x <= round(b * 1e9):
                want[i] += 1
                break
        else:
            want[-1] += 1
    assert got.tolist() == want
    assert got.sum() == lat.size


SNAPSHOT = {
    "uptime_s": 7.5,
    "epoch": "e",
    "malformed": 5,
    "drops": 9,
    "subscribers": 3,
    "subscriptions": 4,
    "latency_buckets_le_s": list(BOUNDS),
    "topics": {
        "camera/raw": {"count": 40, "drops": 9, "malformed": 1, "errors": 0,
                       "latency_buckets": [0] * 3 + [10] * 13 + [40], "latency_sum_s": 12.5,
                       "latency_count": 40},
        "camera/edges": {"count": 38, "drops": 0, "malformed": 0, "errors": 2,
                         "latency_buckets": [1, 2, 3] + [38] * 14, "latency_sum_s": 0.01,
                         "latency_count": 38},
    },
    "streams": {"camera": {"lost": {"worker_died": 1, "timeout": 2},
                           "dropped": {"busy": 4, "worker_died": 1}}},
}


def test_render_a_hand_built_snapshot() -> None:
    info = {"version": "9.9", "python": "3.x"}
    got = families(metrics.render(SNAPSHOT, info=info))
    assert got["streamconv_messages_total"] == {
        (("topic", "camera/raw"),): 40, (("topic", "camera/edges"),): 38,
    }
    assert got["streamconv_errors_total"][(("topic", "camera/edges"),)] == 2
    # camera/raw: 9 drops = worker_died 1+1, timeout 2, busy 4, and 1 without a reason.
    raw = {dict(k)["reason"]: v for k, v in got["streamconv_dropped_total"].items()
           if dict(k)["topic"] == "camera/raw"}
    assert raw == {"worker_died": 2, "timeout": 2, "busy": 4, "other": 1}
    assert got["streamconv_malformed_total"] == {(("reason", "data"),): 1, (("reason", "link"),): 4}
    assert got["streamconv_subscribers"] == {(): 3}
    assert got["streamconv_subscriptions"] == {(): 4}
    assert got["streamconv_uptime_seconds"] == {(): 7.5}
    assert got["streamconv_build_info"] == {(("python", "3.x"), ("version", "9.9")): 1}
    edges = {dict(k)["le"]: v for k, v in got["streamconv_latency_seconds_bucket"].items()
             if dict(k)["topic"] == "camera/edges"}
    assert edges["0.0001"] == 1 and edges["0.0005"] == 3 and edges["10.0"] == 38 and edges["+Inf"] == 38
    assert len(edges) == len(BOUNDS) + 1
    assert got["streamconv_latency_seconds_count"][(("topic", "camera/edges"),)] == 38
    assert got["streamconv_latency_seconds_sum"][(("topic", "camera/raw"),)] == 12.5


def test_render_an_empty_snapshot() -> None:
    got = families(metrics.render({}))
    assert set(got) == {"streamconv_build_info", "streamconv_malformed_total"}
    (labels,) = got["streamconv_build_info"]
    assert {"version", "python", "numpy", "pyzmq", "libzmq"} <= {k for k, _ in labels}


def test_collector_reads_the_newest_snapshot() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    current = {"topics": {"a/b": {"count": 1}}}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics.StatsCollector(lambda: current, info={"version": "x"}))
    assert families(generate_latest(registry))["streamconv_messages_total"] == {(("topic", "a/b"),): 1}
    current = {"topics": {"a/b": {"count": 5}}}
    assert families(generate_latest(registry))["streamconv_messages_total"] == {(("topic", "a/b"),): 5}
