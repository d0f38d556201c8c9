"""Ray actor classes that host one role each: :class:`ProducerActor` and :class:`WorkerActor`.

An actor builds its role from the config (as JSON data), runs it on a thread and answers Ray
calls for control only (``info``, ``stop``); the role owns its ZeroMQ sockets, so no frame
travels through Ray.  The classes are named after their roles so that ``ray list actors``, the
dashboard and process titles (``ray::WorkerActor``) say what runs where.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import ray

__all__ = ["ProducerActor", "WorkerActor", "actor_classes"]


class _RoleHost:
    """Build the role of ``role_path`` from ``data`` (a config dict) and run it on a thread."""

    role_path = ""

    def __init__(self, data: dict[str, Any], **role_options: Any) -> None:
        import importlib
        import logging

        from streamconv import config as cfg

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                            datefmt="%H:%M:%S")
        module, name = self.role_path.rsplit(".", 1)
        role_cls = getattr(importlib.import_module(module), name)
        self.role = role_cls(cfg.parse(data), **role_options)
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"role-{self.role.id}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.role.run()
        except BaseException as exc:  # logged by the role; reported by info()
            self.error = f"{type(exc).__name__}: {exc}"

    def info(self) -> dict[str, Any]:
        """Return who this is and where it runs (for ``ctl status`` and the driver)."""
        ctx = ray.get_runtime_context()
        return {
            "id": self.role.id,
            "role": self.role.role,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node": ctx.get_node_id(),
            "actor": ctx.get_actor_id(),
            "serves": getattr(self.role, "serves", None),
            "alive": self.thread.is_alive(),
            "error": self.error,
        }

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the role; return True if it ended within ``timeout`` seconds."""
        self.role.stop()
        self.thread.join(timeout)
        return not self.thread.is_alive()


class ProducerActor(_RoleHost):
    """The producer role (sources, numbering, dispatch by credit, the replay ring)."""

    role_path = "streamconv.roles.producer.Producer"


class WorkerActor(_RoleHost):
    """A worker role (the stages); ``streams=[...]`` serves only those."""

    role_path = "streamconv.roles.worker.Worker"


def actor_classes(*, max_restarts: int) -> dict[str, Any]:
    """Return the Ray actor classes (``ray.remote`` applied), restarted by Ray up to ``max_restarts``."""
    return {
        "producer": ray.remote(max_restarts=max_restarts, max_task_retries=0)(ProducerActor),
        "worker": ray.remote(max_restarts=max_restarts, max_task_retries=0)(WorkerActor),
    }
