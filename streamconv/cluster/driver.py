"""``streamconv run`` with a ``cluster:`` section: the publisher here, producer and workers as Ray actors.

The driver starts a local Ray cluster (``address: local``) or joins one (``auto``,
``HOST:PORT``), starts the publisher in this process on the configured endpoints (so
subscribers see exactly what a one-process daemon publishes), then places one
:class:`~streamconv.cluster.actors.ProducerActor` and ``workers``
:class:`~streamconv.cluster.actors.WorkerActor` s.  Ray restarts a dead actor
(``max_restarts``); the roles' own heartbeats stay the sub-second failure detector, and the
replay ring restores a restarted worker's exact state.  On SIGINT/SIGTERM the driver stops the
actors, the publisher, and a local cluster it started.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from streamconv import config as cfg
from streamconv import exitcodes
from streamconv.cluster.plan import ActorSpec, bandwidth_warnings, plan
from streamconv.errors import ConfigError
from streamconv.sockets import free_loopback_port

__all__ = ["resolve_links", "run"]

log = logging.getLogger(__name__)

#: How long the actors get to stop on shutdown before they are killed.
STOP_TIMEOUT_S = 1.5
#: How long the driver waits for a cluster's address to accept a connection.
PROBE_TIMEOUT_S = 3.0
#: How long a local cluster gets to shut down.
RAY_SHUTDOWN_S = 1.5


def resolve_links(config: cfg.Config) -> cfg.Config:
    """Return ``config`` with ``inproc`` links replaced by free tcp loopback ports (a local cluster).

    Raises
    ------
    ConfigError
        A link left ``inproc`` for a cluster that is not local: the actors run in other processes
        and maybe on other hosts, so the links must be tcp endpoints they can reach.
    """
    assert config.cluster is not None
    data = config.model_dump(mode="json")
    changed = False
    for name in cfg.LINK_NAMES:
        endpoint = config.links.bind_address(name)
        if not endpoint.startswith("inproc://"):
            continue
        if config.cluster.address != "local":
            raise ConfigError(
                f"links.{name} is {endpoint!r}: with cluster.address {config.cluster.address!r} the roles "
                "run in other processes and hosts; give a tcp endpoint they can reach"
            )
        try:
            port = free_loopback_port()
        except OSError as exc:
            raise ConfigError(f"links.{name}: {exc.strerror}; set it to a tcp endpoint") from None
        data["links"][name] = f"tcp://127.0.0.1:{port}"
        changed = True
    return cfg.parse(data) if changed else config


def _init_ray(cluster: cfg.ClusterConfig) -> bool:
    """Start or join the cluster; return True if this process started it.

    Ray's usage statistics are off unless the environment turns them on.
    """
    import os

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if cluster.address == "local":
        ray.init(address="local", num_cpus=cluster.num_cpus, include_dashboard=False, configure_logging=False)
        return True
    if cluster.address != "auto":  # Ray retries an address where nothing listens for minutes
        host, _, port = cluster.address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT_S).close()
        except (OSError, ValueError) as exc:
            raise ConnectionError(f"nothing answers at {cluster.address} ({exc})") from None
    ray.init(address=cluster.address, configure_logging=False)
    return False


def run(config: cfg.Config) -> int:
    """Run the publisher here and the other roles on Ray until SIGINT/SIGTERM; return the exit code."""
    assert config.cluster is not None
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        log.error("a cluster: section needs Ray: pip install 'streamconv[cluster]'")
        return exitcodes.USAGE
    from streamconv.cluster.monitor import ClusterMonitor
    from streamconv.service import Service, capture_signals
    from streamconv.sockets import EndpointInUseError

    try:
        config = resolve_links(config)
    except ConfigError as exc:
        log.error("%s", exc)
        return exitcodes.USAGE
    cluster = config.cluster
    assert cluster is not None
    for line in bandwidth_warnings(config):
        log.warning("bandwidth: %s", line)
    t0 = time.monotonic()
    try:
        started = _init_ray(cluster)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        log.error("cannot reach the Ray cluster at %s: %s", cluster.address, " ".join(str(exc).split()))
        return exitcodes.USAGE
    log.info("Ray cluster %s %s in %.1f s", "started" if started else "joined", cluster.address,
             time.monotonic() - t0)
    service = Service(config, roles=("publisher",))
    actors: list[Any] = []
    try:
        with capture_signals(service):
            try:
                service.startup()
            except (EndpointInUseError, ConfigError, OSError) as exc:
                log.error("%s", exc)
                return exitcodes.USAGE
            specs = plan(config)
            missing = _missing_resources(specs)
            if missing:
                log.error("%s", missing)
                service.shutdown()
                return exitcodes.USAGE
            placed = _place(config, specs)
            actors = [a for a, _ in placed]
            monitor = ClusterMonitor(cluster.address, placed)
            monitor.start()
            service.publisher.status_parts["cluster"] = monitor.snapshot
            try:
                code = service.serve()
            finally:
                monitor.stop()
                _stop(actors)
                service.shutdown()
    finally:
        if started:
            _shutdown_ray()
    return code


def _missing_resources(specs: list[ActorSpec]) -> str | None:
    """Return a one-line error if an actor reserves a resource no node of the cluster offers."""
    import ray

    have = ray.cluster_resources()
    for spec in specs:
        for name in spec.resources:
            if name not in have:
                offered = sorted(k for k in have if k not in ("CPU", "GPU", "memory", "object_store_memory"))
                return (
                    f"no node of the cluster offers the resource {name!r} that a {spec.role} is pinned to "
                    f"(placement); start that host with ray start --resources='{{\"{name}\": 1}}' "
                    f"(offered now: {', '.join(offered) or 'none'})"
                )
    return None


def _place(config: cfg.Config, specs: list[ActorSpec]) -> list[tuple[Any, ActorSpec]]:
    """Create one actor per spec (Ray places it by its CPUs and resources); return them with their specs."""
    from streamconv.cluster.actors import actor_classes

    assert config.cluster is not None
    classes = actor_classes(max_restarts=config.cluster.max_restarts)
    data = config.model_dump(mode="json")
    placed = []
    for spec in specs:
        options = {"streams": list(spec.streams)} if spec.streams is not None else {}
        actor = classes[spec.role].options(num_cpus=spec.num_cpus, resources=spec.resources or None)
        placed.append((actor.remote(data, **options), spec))
    groups: dict[tuple[str, ...] | None, int] = {}
    for s in specs[1:]:
        groups[s.streams] = groups.get(s.streams, 0) + 1
    pin = f" pinned to {', '.join(specs[0].resources)}" if specs[0].resources else ""
    log.info("placed 1 producer%s and %d worker actor(s): %s", pin, len(specs) - 1,
             "; ".join(f"{n} for {', '.join(k) if k else 'every stream'}" for k, n in groups.items()))
    return placed


def _shutdown_ray() -> None:
    """Stop the local cluster; if Ray's own processes already died, do not wait for them.

    A signal to the whole process group (``timeout``, systemd, Ctrl-C in a terminal) reaches
    Ray's processes too, and ``ray.shutdown()`` then waits about 8 s for a cluster that is gone.
    """
    import os
    import sys
    import threading

    import ray

    t = threading.Thread(target=ray.shutdown, name="ray-shutdown", daemon=True)
    t.start()
    t.join(RAY_SHUTDOWN_S)
    if t.is_alive():
        left = _kill_descendants()
        log.warning("Ray's processes did not stop within %.1f s (the signal reached them too): killed %d "
                    "left over; exiting", RAY_SHUTDOWN_S, left)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(exitcodes.OK)  # the roles are stopped; only Ray's exit hooks would wait


def _kill_descendants() -> int:
    """SIGKILL every process descended from this one (a local cluster's); return how many."""
    import os
    import signal

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # after "(comm) ": state, ppid, ...
        children.setdefault(int(fields[1]), []).append(int(entry))
    todo, found = [os.getpid()], []
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return len(found)


def _stop(actors: list[Any]) -> None:
    """Ask every actor to stop its role, then kill it (a dead or hung one never delays the exit)."""
    import ray

    refs = [a.stop.remote(STOP_TIMEOUT_S * 0.5) for a in actors]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=STOP_TIMEOUT_S)
    log.info("stopped %d of %d actor(s) cleanly", len(ready), len(actors))
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception as exc:  # already gone with its node
            log.debug("kill %s: %s", a, exc)
