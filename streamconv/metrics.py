"""Prometheus metrics from a ``_stats`` snapshot: a custom collector and its text exposition.

Pure: no sockets.  The publisher serves :func:`render` of its newest snapshot on ``/metrics``
(``service.metrics``); anything else that receives ``_stats`` messages (the web viewer) serves
the same metrics from the same functions.  The latency histogram's buckets are the publisher's
(:data:`LATENCY_BUCKETS_S`), counted once per stats interval from the latencies it measured in
that interval (:func:`bucket_counts`), never by an ``observe()`` per message.

``prometheus_client`` (the ``streamconv[metrics]`` extra) is imported only by the functions that
build metric families; the bucket arithmetic needs only numpy, so the core does not depend on it.

Metrics (all counters are totals since the publisher started):

- ``streamconv_messages_total{topic}``: messages published;
- ``streamconv_dropped_total{topic,reason}``: inputs dropped or lost on purpose, by reason;
- ``streamconv_malformed_total{reason}``: messages that could not be decoded (``data``: a result
  on a topic; ``link``: a message between the roles);
- ``streamconv_errors_total{topic}``: items an output's filter rejected;
- ``streamconv_latency_seconds{topic}``: histogram of capture-to-publish latency;
- ``streamconv_subscribers``: connections to the publish socket (tcp and ipc);
- ``streamconv_subscriptions``: subscriptions the publish socket holds (per prefix and connection);
- ``streamconv_uptime_seconds``: the publisher's uptime;
- ``streamconv_build_info{version,python,numpy,pyzmq,libzmq}``: always 1.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "INSTALL_HINT",
    "LATENCY_BUCKETS_S",
    "StatsCollector",
    "bucket_counts",
    "build_info",
    "render",
    "require_prometheus_client",
]

#: Upper bounds (``le``, seconds) of the latency histogram's buckets; ``+Inf`` follows them.
LATENCY_BUCKETS_S: Final = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
_BOUNDS_NS: Final = np.array([round(b * 1e9) for b in LATENCY_BUCKETS_S], dtype=np.int64)

#: What to run when ``service.metrics`` is set and prometheus_client is missing.
INSTALL_HINT: Final = "pip install 'streamconv[metrics]'"


def bucket_counts(latencies_ns: NDArray[np.int64]) -> NDArray[np.int64]:
    """Count latencies per bucket (not cumulative): ``len(LATENCY_BUCKETS_S) + 1`` counts, ``+Inf`` last.

    Bucket ``i`` holds the latencies ``x`` with ``LATENCY_BUCKETS_S[i-1] < x <= LATENCY_BUCKETS_S[i]``
    (Prometheus' ``le``); a negative latency (clocks of two hosts apart) falls in the first.

    Examples
    --------
    >>> bucket_counts(np.array([0, 100_000, 100_001, 20_000_000_000]))[[0, 1, -1]].tolist()
    [2, 1, 1]
    """
    idx = np.searchsorted(_BOUNDS_NS, np.asarray(latencies_ns, dtype=np.int64), side="left")
    return np.bincount(idx, minlength=len(_BOUNDS_NS) + 1).astype(np.int64)


def require_prometheus_client(field: str = "service.metrics") -> None:
    """Raise ConfigError naming ``field`` and :data:`INSTALL_HINT` if prometheus_client is missing."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        from streamconv.errors import ConfigError

        raise ConfigError(f"{field} needs prometheus_client: {INSTALL_HINT}") from None


def build_info() -> dict[str, str]:
    """Return the labels of ``streamconv_build_info``: the versions of streamconv and what it runs on."""
    import zmq

    import streamconv

    return {
        "version": streamconv.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
    }


class StatsCollector:
    """A prometheus_client collector whose ``collect()`` reads the newest ``_stats`` snapshot.

    Register it on a ``CollectorRegistry``; it has the one method a collector needs
    (``prometheus_client.registry.Collector`` is only an abstract ``collect``).

    Parameters
    ----------
    source : callable
        Returns the newest ``_stats`` content (a dict, ``{}`` before the first interval); it must
        not block (the publisher returns the dict it last published, which it never changes).
    info : mapping of str to str, optional
        The ``streamconv_build_info`` labels (default: :func:`build_info`).
    subscribers : callable, optional
        Returns the subscriber gauge; default: the snapshot's ``subscribers``.
    """

    def __init__(
        self,
        source: Callable[[], Mapping[str, Any]],
        *,
        info: Mapping[str, str] | None = None,
        subscribers: Callable[[], int | None] | None = None,
    ) -> None:
        self.source = source
        self.info = dict(build_info() if info is None else info)
        self.subscribers = subscribers

    def collect(self) -> Iterator[Any]:
        """Yield the metric families of the snapshot (see the module's list)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        snap = self.source() or {}
        topics: Mapping[str, Mapping[str, Any]] = snap.get("topics", {})
        streams: Mapping[str, Mapping[str, Any]] = snap.get("streams", {})

        info = GaugeMetricFamily(
            "streamconv_build_info", "streamconv's version and what it runs on", labels=list(self.info)
        )
        info.add_metric(list(self.info.values()), 1)
        yield info

        messages = CounterMetricFamily(
            "streamconv_messages", "Messages published since the publisher started", labels=["topic"]
        )
        errors = CounterMetricFamily(
            "streamconv_errors", "Items an output's filter rejected (it skipped them)", labels=["topic"]
        )
        dropped = CounterMetricFamily(
            "streamconv_dropped",
            "Inputs the service dropped or lost, by reason (a stream's losses count on <stream>/raw)",
            labels=["topic", "reason"],
        )
        latency = HistogramMetricFamily(
            "streamconv_latency_seconds",
            "Latency from capture to publish, counted once per stats interval",
            labels=["topic"],
        )
        les = [floatToGoString(b) for b in LATENCY_BUCKETS_S] + ["+Inf"]
        for topic, t in topics.items():
            messages.add_metric([topic], t.get("count", 0))
            errors.add_metric([topic], t.get("errors", 0))
            for reason, n in _drop_reasons(topic, t, streams).items():
                dropped.add_metric([topic, reason], n)
            buckets = t.get("latency_buckets")
            if buckets is not None and len(buckets) == len(les):
                latency.add_metric(
                    [topic], list(zip(les, buckets, strict=True)), sum_value=t.get("latency_sum_s", 0.0)
                )
        yield messages
        yield dropped
        yield errors
        yield latency

        malformed = CounterMetricFamily(
            "streamconv_malformed",
            "Messages that could not be decoded: data (a result on a topic) or link (between the roles)",
            labels=["reason"],
        )
        data = sum(int(t.get("malformed", 0)) for t in topics.values())
        malformed.add_metric(["data"], data)
        malformed.add_metric(["link"], max(0, int(snap.get("malformed", 0)) - data))
        yield malformed

        n = self.subscribers() if self.subscribers is not None else snap.get("subscribers")
        if n is not None:
            subs = GaugeMetricFamily("streamconv_subscribers", "Connections to the publish socket (tcp, ipc)")
            subs.add_metric([], n)
            yield subs
        if "subscriptions" in snap:
            held = GaugeMetricFamily(
                "streamconv_subscriptions", "Subscriptions the publish socket holds (prefix x connection)"
            )
            held.add_metric([], snap["subscriptions"])
            yield held
        if "uptime_s" in snap:
            up = GaugeMetricFamily("streamconv_uptime_seconds", "Seconds since the publisher started")
            up.add_metric([], snap["uptime_s"])
            yield up


def _drop_reasons(
    topic: str, t: Mapping[str, Any], streams: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """Split a topic's ``drops`` by reason; they add up to it (``other``: what has no reason)."""
    reasons: dict[str, int] = {}
    stream, _, output = topic.partition("/")
    if output == "raw" and stream in streams:
        s = streams[stream]
        for part in ("lost", "dropped"):
            for reason, n in s.get(part, {}).items():
                reasons[reason] = reasons.get(reason, 0) + int(n)
    rest = int(t.get("drops", 0)) - sum(reasons.values())
    if rest > 0:
        reasons["other"] = rest
    return reasons


def render(
    snapshot: Mapping[str, Any],
    *,
    info: Mapping[str, str] | None = None,
) -> bytes:
    """Return the Prometheus text exposition of one ``_stats`` snapshot.

    Examples
    --------
    >>> snap = {"topics": {"a/b": {"count": 3, "drops": 0, "malformed": 0, "errors": 0}}}
    >>> b'streamconv_messages_total{topic="a/b"} 3.0' in render(snap, info={"version": "x"})
    True
    """
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(lambda: snapshot, info=info))  # type: ignore[arg-type]
    return generate_latest(registry)
