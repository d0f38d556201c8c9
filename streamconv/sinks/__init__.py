"""Ready-made consumers of streams: ``log`` (files on disk) and ``display`` (rendering for windows).

``StreamLogger`` is importable from here; it is loaded on first use, so importing
``streamconv.sinks.display`` does not pull in the logger's dependencies.
"""

from __future__ import annotations

from typing import Any

__all__ = ["StreamLogger"]


def __getattr__(name: str) -> Any:
    if name == "StreamLogger":
        from streamconv.sinks.log import StreamLogger

        return StreamLogger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
