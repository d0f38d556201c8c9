"""The subscriber side's one shape: a :class:`Sink`, and the one loop that feeds it (:func:`pump`).

A sink is what a subcommand does with the messages of a subscription: ``log`` writes files,
``view`` draws a window.  Every sink gets the messages in the order the subscriber returns
them (``write``) and every ``seq`` gap as the subscriber saw it, in stream order (``gap``).  A
sink that also has to act while nothing arrives (redraw a window, answer a key) has ``tick``,
called at least every ``tick_s`` seconds; it returns False to end the loop.

:func:`pump` is the receive loop every such command runs, and :class:`StopSignals` the signal
policy they share: the first SIGINT or SIGTERM ends the loop after what already arrived is
handed to the sink (for at most ``drain_s``); a second one raises ``KeyboardInterrupt`` at once.

Examples
--------
A sink that keeps the newest value of each topic::

    class Newest:
        def __init__(self):
            self.values = {}

        def write(self, msg):
            self.values[msg.topic] = msg.array

        def gap(self, topic, epoch, expected, got):
            pass

    with Subscriber(endpoint, ["laser/"]) as sub, StopSignals() as stop:
        ended = pump(sub, Newest(), stop=stop, duration=5.0)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Protocol, Self, runtime_checkable

__all__ = ["Ended", "EventStop", "Sink", "StopSignals", "Ticking", "forward_gaps", "pump", "start_feed"]

#: How long one wait for a message lasts at most (the stop flag and deadlines are checked between).
POLL_S = 0.2
#: After a stop, messages already received are still handed to the sink for at most this long.
DRAIN_S = 1.0


@runtime_checkable
class Sink(Protocol):
    """What consumes a subscription: every message, and every gap in stream order."""

    def write(self, msg: Any) -> None:
        """Take one message (a :class:`streamconv.client.Message`)."""

    def gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        """Note that ``topic`` went from ``expected`` to ``got`` in ``epoch`` (messages lost)."""


@runtime_checkable
class Ticking(Protocol):
    """A sink that also acts between messages (a window to redraw)."""

    def tick(self, now: float) -> bool:
        """Act at ``now`` (monotonic seconds); return False to end the loop."""


@dataclass(frozen=True, slots=True)
class Ended:
    """Why :func:`pump` returned: ``signal``, ``duration``, ``count`` or ``sink``; and the messages."""

    reason: str
    messages: int


class StopSignals:
    """SIGINT/SIGTERM handling for a receive loop (installed only in the main thread).

    The first signal sets :attr:`requested`; a second raises ``KeyboardInterrupt`` (skip the
    drain).  The previous handlers come back on exit.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a stop signal arrived."""
        return bool(self.received)

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            raise KeyboardInterrupt
        self.received.append(signum)

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous = {}


def forward_gaps(sub: Any, sink: Sink) -> None:
    """Hand the gaps ``sub`` saw so far to ``sink``, oldest first."""
    events = sub.gap_events
    while events:
        sink.gap(*events.popleft())


def pump(
    sub: Any,
    sink: Sink,
    *,
    stop: StopSignals | None = None,
    duration: float | None = None,
    count: int | None = None,
    tick_s: float | None = None,
    poll_s: float = POLL_S,
    drain_s: float = DRAIN_S,
    clock: Callable[[], float] = time.monotonic,
) -> Ended:
    """Hand ``sub``'s messages (and gaps) to ``sink`` until a stop; return why it ended.

    Parameters
    ----------
    sub : Subscriber
        What ``recv(timeout=...)`` the messages come from (its ``gap_events`` are forwarded).
    sink : Sink
        Gets them; a :class:`Ticking` sink is ticked every ``tick_s`` seconds.
    stop : StopSignals, optional
        Ends the loop when a signal arrived; messages already received are then still handed
        over for up to ``drain_s``.
    duration, count : optional
        End after this many seconds, or once ``count`` messages were handed over.
    """
    ticking = isinstance(sink, Ticking) and tick_s is not None
    t0 = clock()
    deadline = None if duration is None else t0 + duration
    next_tick = t0
    n = 0
    reason = "signal"
    while stop is None or not stop.requested:
        if count is not None and n >= count:
            return Ended("count", n)
        now = clock()
        if deadline is not None and now >= deadline:
            reason = "duration"
            break
        if ticking:
            if now >= next_tick:
                if not sink.tick(now):  # type: ignore[attr-defined]
                    return Ended("sink", n)
                next_tick = now + tick_s  # type: ignore[operator]
            wait = max(0.0, min(poll_s, next_tick - now))
        else:
            wait = poll_s
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - now))
        try:
            msg = sub.recv(timeout=wait)
        except TimeoutError:
            continue
        sink.write(msg)
        n += 1
        forward_gaps(sub, sink)
    # Stopped by a signal or the deadline: what already reached us is handed over too.
    drain_until = clock() + drain_s
    while clock() < drain_until and (count is None or n < count):
        try:
            msg = sub.recv(timeout=0)
        except TimeoutError:
            break
        sink.write(msg)
        n += 1
        forward_gaps(sub, sink)
    forward_gaps(sub, sink)
    return Ended(reason, n)


class EventStop:
    """A ``threading.Event`` as :func:`pump`'s ``stop`` (for a loop in a thread, where no signal lands)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    @property
    def requested(self) -> bool:
        """Whether the event is set."""
        return self.event.is_set()


def start_feed(sink: Sink, endpoint: str, stop: threading.Event, *, name: str,
               **sub_keys: Any) -> threading.Thread:
    """Start a daemon thread that pumps one ``Subscriber(endpoint, [""], latest=True)`` into ``sink``.

    What live viewers run (``web``, ``foxglove``): every topic, the newest frame only, until
    ``stop`` is set; nothing is drained after it.
    """
    from streamconv.client import Subscriber

    def run() -> None:
        with Subscriber(endpoint, [""], latest=True, **sub_keys) as sub:
            pump(sub, sink, stop=EventStop(stop), drain_s=0.0)  # type: ignore[arg-type]

    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    return t
