"""The cluster part of ``ctl status``: Ray's nodes and our actors, refreshed on a thread of the driver.

The publisher's control loop must never wait for Ray, so a thread asks Ray every
:data:`REFRESH_S` and keeps a snapshot that ``ctl status`` reads as it is:

- **nodes**: id, host, address, alive, CPUs and the custom resources (what ``placement.node``
  can name);
- **actors**: per placed actor its class (``ProducerActor``, ``WorkerActor``), Ray's state
  (``ALIVE``, ``RESTARTING``, ``PENDING_CREATION``, ``DEAD``), how many times Ray restarted it,
  its node, pid, the streams it serves and the id of the role it runs now (so the status
  printer can join it with that role's rates and heartbeats).

The state and restart count come from Ray's actor table in the GCS (the public
``ray.util.state`` API needs the dashboard, which the driver does not start); a restart is also
seen when an actor's pid changes, should that table not answer.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streamconv.cluster.plan import ActorSpec

__all__ = ["REFRESH_S", "ClusterMonitor"]

log = logging.getLogger(__name__)

#: Seconds between two snapshots.
REFRESH_S = 1.0
#: How long one refresh waits for an actor's ``info()``.
INFO_TIMEOUT_S = 0.5
#: An actor not created after this long is logged (once): the cluster lacks what it reserves.
PENDING_WARN_S = 15.0
_BUILTIN = ("CPU", "GPU", "memory", "object_store_memory")


def _node_row(n: dict[str, Any]) -> dict[str, Any]:
    res = n.get("Resources") or {}
    return {
        "id": n.get("NodeID"),
        "host": n.get("NodeManagerHostname"),
        "address": n.get("NodeManagerAddress"),
        "alive": bool(n.get("Alive")),
        "cpus": res.get("CPU", 0.0),
        "resources": {k: v for k, v in sorted(res.items())
                      if k not in _BUILTIN and not k.startswith("node:")},
    }


class ClusterMonitor:
    """Keep a snapshot of the cluster's nodes and of ``actors`` (Ray handles with their specs).

    Parameters
    ----------
    address : str
        The cluster address as configured (``local``, ``auto``, ``HOST:PORT``).
    actors : list of (handle, ActorSpec)
        The actors the driver placed.
    """

    def __init__(self, address: str, actors: list[tuple[Any, ActorSpec]]) -> None:
        self.address = address
        self.actors = actors
        self._rows: list[dict[str, Any]] = [
            {"class": _class_name(spec), "role": spec.role, "streams": spec.streams,
             "state": "PENDING_CREATION", "restarts": 0, "pid": None, "node": None, "host": None,
             "role_id": None}
            for _, spec in actors
        ]
        self._snapshot: dict[str, Any] = {"address": address, "nodes": [], "actors": self._rows}
        self._started = time.monotonic()
        self._warned: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cluster-monitor", daemon=True)

    def start(self) -> None:
        """Take the first snapshot now, then refresh on a thread."""
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing (returns within one Ray call's timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(INFO_TIMEOUT_S + 1.0)

    def snapshot(self) -> dict[str, Any]:
        """Return the newest snapshot (never waits)."""
        return self._snapshot

    def _run(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.refresh()
            except Exception as exc:  # Ray gone while stopping, a GCS hiccup: keep the last snapshot
                log.debug("cluster monitor: %s: %s", type(exc).__name__, exc)

    def refresh(self) -> None:
        """Ask Ray for the nodes, the actors' states and restarts, and who answers in each actor."""
        import ray

        nodes = [_node_row(n) for n in ray.nodes()]
        hosts = {n["id"]: n["host"] for n in nodes}
        table = _actor_table()
        rows = []
        pending = []
        for (handle, _), old in zip(self.actors, self._rows, strict=True):
            row = dict(old)
            entry = table.get(handle._actor_id.hex()) if table is not None else None
            if entry is not None:
                row["state"] = entry.get("State", row["state"])
                row["restarts"] = int(entry.get("NumRestarts", row["restarts"]))
                if row["state"] == "ALIVE":
                    row["node"] = (entry.get("Address") or {}).get("NodeID") or row["node"]
                    row["host"] = hosts.get(row["node"], row["host"])
                else:  # not running anywhere now: the table's address is the last or a planned one
                    row.update(node=None, host=None, pid=None)
            rows.append(row)
            pending.append(handle.info.remote())
        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=INFO_TIMEOUT_S)
        done = set(ready)
        for ref, row in zip(pending, rows, strict=True):
            if ref not in done:
                continue
            try:
                info = ray.get(ref, timeout=0)
            except Exception:  # died between wait and get
                continue
            if table is None and row["pid"] is not None and info["pid"] != row["pid"]:
                row["restarts"] += 1
            row.update(pid=info["pid"], role_id=info["id"], node=info["node"],
                       host=hosts.get(info["node"], info["host"]))
            if table is None:
                row["state"] = "ALIVE"
        self._rows = rows
        self._snapshot = {"address": self.address, "nodes": nodes, "actors": rows}
        if time.monotonic() - self._started > PENDING_WARN_S:
            for i, ((_, spec), row) in enumerate(zip(self.actors, rows, strict=True)):
                if row["state"] == "PENDING_CREATION" and i not in self._warned:
                    self._warned.add(i)
                    log.warning(
                        "%s%s not placed after %.0f s: no node has %.2f CPU%s free",
                        row["class"], f" ({', '.join(spec.streams)})" if spec.streams else "", PENDING_WARN_S,
                        spec.num_cpus, "".join(f" and resource {k!r}" for k in spec.resources),
                    )


def _class_name(spec: ActorSpec) -> str:
    return "ProducerActor" if spec.role == "producer" else "WorkerActor"


def _actor_table() -> dict[str, dict[str, Any]] | None:
    """Return Ray's actor table by actor id (hex), or None if this Ray cannot give it."""
    try:
        from ray._private import state

        return dict(state.actors())
    except Exception as exc:
        log.debug("cluster monitor: no actor table: %s", exc)
        return None

