"""What the driver places on the cluster, and what the links between hosts must carry (no Ray here).

:func:`plan` turns a config's ``cluster:`` section and each stream's ``placement:`` into actor
specs: one producer (pinned with a resource when a stream names a ``node``), the workers each
stream reserves for itself, and the shared workers that serve the other streams.
:func:`link_loads` is the bandwidth guard: per frame stream, the bytes a second its raw frames
put on the dispatch link and its outputs on the collect link, from the source's size and frame
rate and each output's shape and dtype; :func:`bandwidth_warnings` names those above
``cluster.link_gbps``.

Examples
--------
>>> from streamconv import config as cfg
>>> c = cfg.default_config().model_copy(update={"cluster": cfg.ClusterConfig(workers=2)})
>>> [(a.role, a.streams) for a in plan(c)]
[('producer', None), ('worker', None), ('worker', None)]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamconv import config as cfg

__all__ = ["ActorSpec", "LinkLoad", "bandwidth_warnings", "link_loads", "plan"]

#: What a pinned actor reserves of its node's resource (any host offering it has at least 1).
PIN_AMOUNT = 0.001


@dataclass(frozen=True, slots=True)
class ActorSpec:
    """One actor to place: its role, the streams it serves (None: all), its CPUs and resources."""

    role: str
    num_cpus: float
    streams: tuple[str, ...] | None = None
    resources: dict[str, float] = field(default_factory=dict)


def plan(config: cfg.Config) -> list[ActorSpec]:
    """Return the producer's spec, then every worker's, for ``config`` (which has a ``cluster:``).

    A stream with ``placement.workers`` gets that many workers serving it alone; the streams
    without it share ``cluster.workers`` workers (none are placed if every stream has its own).
    """
    cluster = config.cluster
    assert cluster is not None
    nodes = {s.placement.node for s in config.streams.values() if s.placement and s.placement.node}
    pin = {nodes.pop(): PIN_AMOUNT} if nodes else {}
    specs = [ActorSpec("producer", cluster.producer_cpus, None, pin)]
    shared = []
    for name, stream in config.streams.items():
        p = stream.placement
        if p is None or p.workers is None:
            shared.append(name)
            continue
        cpus = cluster.cpus_per_worker if p.cpus_per_worker is None else p.cpus_per_worker
        pinned = {p.worker_node: PIN_AMOUNT} if p.worker_node else {}
        specs += [ActorSpec("worker", cpus, (name,), pinned) for _ in range(p.workers)]
    if shared or not config.streams:
        every = len(shared) == len(config.streams)
        streams = None if every else tuple(shared)
        specs += [ActorSpec("worker", cluster.cpus_per_worker, streams) for _ in range(cluster.workers)]
    return specs


@dataclass(frozen=True, slots=True)
class LinkLoad:
    """What one frame stream puts on the links, in bytes a second (at its source's frame rate)."""

    stream: str
    fps: float
    raw_bytes: int  # one raw frame (producer -> worker)
    output_bytes: dict[str, int]  # one message of each output (worker -> publisher)

    @property
    def dispatch_bps(self) -> float:
        """Bytes a second from the producer to the workers."""
        return self.raw_bytes * self.fps

    @property
    def collect_bps(self) -> float:
        """Bytes a second from the workers to the publisher (every output of a frame in one message)."""
        return sum(self.output_bytes.values()) * self.fps


def _chain_dtype(chain: list[cfg.StageConfig]) -> np.dtype:
    dtype = np.dtype(np.uint8)  # every frame source delivers uint8 BGR
    for stage in chain:
        op = stage.build()
        dtype = np.dtype(op.output_dtype(dtype))
    return dtype


def link_loads(config: cfg.Config) -> list[LinkLoad]:
    """Return the load of every frame stream whose source states its size and a frame rate > 0."""
    loads = []
    for name, stream in config.streams.items():
        src = stream.source
        h, w = getattr(src, "height", None), getattr(src, "width", None)
        fps = getattr(src, "fps", None)
        if stream.items != "frames" or not h or not w or not fps or fps <= 0:
            continue  # samples are small; an unknown size or rate cannot be estimated here
        outputs = {}
        for out, chain in stream.outputs.items():
            d, oh, ow = cfg.output_geometry(out, chain, (h, w))
            outputs[out] = d * oh * ow * _chain_dtype(chain).itemsize
        loads.append(LinkLoad(name, float(fps), h * w * cfg.FRAME_DEPTH, outputs))
    return loads


def bandwidth_warnings(config: cfg.Config) -> list[str]:
    """Return one line per link load above ``cluster.link_gbps`` (the network between hosts)."""
    cluster = config.cluster
    assert cluster is not None
    limit = cluster.link_gbps * 1e9 / 8
    lines = []
    for load in link_loads(config):
        if load.collect_bps > limit:
            big = max(load.output_bytes, key=lambda o: load.output_bytes[o])
            lines.append(
                f"{load.stream}: its outputs need {load.collect_bps / 1e9:.2f} GB/s from the workers to the "
                f"publisher ({load.stream}/{big} is {load.output_bytes[big] / 1e6:.1f} MB a frame at "
                f"{load.fps:g} fps), more than cluster.link_gbps {cluster.link_gbps:g} "
                f"({limit / 1e9:.2f} GB/s) carries between hosts: keep its workers on the publisher's host "
                "(placement.workers and worker_node), or lower the frame size, rate or filter count"
            )
        if load.dispatch_bps > limit:
            lines.append(
                f"{load.stream}: its raw frames need {load.dispatch_bps / 1e9:.2f} GB/s from the producer to "
                f"the workers, more than cluster.link_gbps {cluster.link_gbps:g} ({limit / 1e9:.2f} GB/s)"
            )
    return lines
