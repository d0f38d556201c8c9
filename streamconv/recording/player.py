"""Play a recording back onto a publisher: the native messages, with their timing, as a new epoch.

Each message keeps its own ``t_capture_ns``, ``meta`` and payload (bit for bit); it gets the
player's epoch and a ``seq`` from 0 per topic, so subscribers, loggers and viewers see a fresh,
gap-free publisher.  Timing follows the recorded capture times (``rate`` 2.0 plays twice as
fast); ``rate=None`` plays as fast as the socket takes it.  With ``loop`` the recording starts
over (a new epoch each round).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamconv import wire
from streamconv.recording.reader import RecordingReader

__all__ = ["PlayResult", "play"]


@dataclass
class PlayResult:
    """What :func:`play` sent: messages per topic, rounds, and warnings (a torn file)."""

    messages: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    warnings: list[str] = field(default_factory=list)
    stopped: bool = False


def play(
    paths: Sequence[str | Path],
    send: Callable[[list[Any]], None],
    *,
    topics: Iterable[str] | None = None,
    rate: float | None = 1.0,
    loop: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> PlayResult:
    """Send the native messages of ``paths`` (one recording's files, in order) through ``send``.

    Parameters
    ----------
    send : callable
        Takes the three wire frames of one message (e.g. ``Publisher.send``).
    topics : iterable of str, optional
        Only these topics (default: all).
    rate : float or None
        Playback speed relative to the recording; None: as fast as possible.
    loop : bool
        Start over at the end (until ``should_stop``).
    """
    wanted = None if topics is None else list(topics)
    result = PlayResult()
    while True:
        epoch = wire.new_epoch()
        seqs: dict[str, int] = {}
        t0_wall: float | None = None
        t0_rec = 0
        for path in paths:
            reader = RecordingReader(path)
            for topic, msg, _log_time in reader.native(wanted):
                if should_stop():
                    result.stopped = True
                    return result
                if rate is not None:
                    if t0_wall is None:
                        t0_wall, t0_rec = clock(), msg.t_capture_ns
                    due = t0_wall + (msg.t_capture_ns - t0_rec) / 1e9 / rate
                    while (wait := due - clock()) > 0:
                        if should_stop():
                            result.stopped = True
                            return result
                        sleep(min(wait, 0.1))
                seq = seqs.get(topic, 0)
                seqs[topic] = seq + 1
                header = msg.header
                fields: dict[str, Any] = {"stream": header.stream, "kind": header.kind, "epoch": epoch,
                                          "seq": seq, "t_capture_ns": header.t_capture_ns,
                                          "meta": header.meta, "t_publish_ns": time.time_ns()}
                send(wire.encode(topic, msg.array, **fields))
                result.messages += 1
                result.per_topic[topic] = result.per_topic.get(topic, 0) + 1
            if reader.torn and reader.torn not in result.warnings:
                result.warnings.append(reader.torn)
        result.rounds += 1
        if not loop or result.messages == 0:
            return result
