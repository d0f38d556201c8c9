"""Subscriber: what users import to read filtered streams (a SUB socket that connects and decodes).

Examples
--------
A publisher and a subscriber in one process (``inproc://``); the handshake replaces any sleep:

>>> import numpy as np
>>> from streamconv.sockets import XPublisher
>>> from streamconv.wire import new_epoch
>>> with XPublisher("inproc://client-doc") as pub, subscribe("laser/", "inproc://client-doc") as sub:
...     _ = pub.wait_for_subscriber(timeout=5)
...     epoch = new_epoch()
...     for seq in range(3):
...         pub.send_message("laser/smoothed", np.full(2, seq, "<f8"), stream="laser",
...                          kind="samples", epoch=epoch, seq=seq, t_capture_ns=0)
...     [m.seq for m in (sub.recv(timeout=5) for _ in range(3))], sub.gaps
([0, 1, 2], 0)
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import zmq
from zmq.utils.monitor import recv_monitor_message

from streamconv._closing import Closing
from streamconv.errors import WireError
from streamconv.sockets import z85_key
from streamconv.wire import Message, decode

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DROP_REASONS",
    "LOSSLESS_KINDS",
    "MESSAGE_OVERHEAD_BYTES",
    "GapEvent",
    "Subscriber",
    "subscribe",
]

logger = logging.getLogger(__name__)

#: Where the service publishes by default (loopback only).
DEFAULT_ENDPOINT: Final = "tcp://127.0.0.1:5555"
#: ZeroMQ's receive queue in front of the reader thread, in messages.  The reader empties it at once,
#: so it only fills while the reader cannot run; the bound that matters is ``max_queue_bytes``.
DEFAULT_RCVHWM: Final = 1000
#: The most a subscriber holds in its lanes, in bytes (see ``MESSAGE_OVERHEAD_BYTES``).
DEFAULT_MAX_QUEUE_BYTES: Final = 64 * 2**20
#: What one queued message costs on top of its wire bytes (topic + header + payload): its decoded
#: Python objects.  Measured with ``tracemalloc``: 2.6 KB per decoded ``samples`` message.
MESSAGE_OVERHEAD_BYTES: Final = 3 * 1024
#: Header kinds kept lossless in arrival order; every other kind (``frame``, ``features``) is a frame.
LOSSLESS_KINDS: Final = frozenset({"samples", "stats"})
#: Why a subscriber dropped a message it had received (the keys of ``Subscriber.dropped``).
DROP_REASONS: Final = ("overflow", "oversize")
#: How many recent gap events are kept.
MAX_GAP_EVENTS: Final = 1000

_DRAIN_BATCH: Final = 1000  # messages the reader takes in one pass before it looks at its wake-up pipe
_IDLE_POLL_MS: Final = 1000  # the reader checks its stop flag at least this often
_SYNC_TIMEOUT_S: Final = 1.0  # how long recv waits for the reader to take what the socket holds
_CLOSE_TIMEOUT_S: Final = 1.0  # how long close waits for the reader thread to end

#: ``(topic, epoch, expected_seq, got_seq)``: ``got_seq - expected_seq`` messages never arrived.
GapEvent = tuple[str, str, int, int]


class _Default:
    def __repr__(self) -> str:
        return "<subscriber timeout>"


_DEFAULT: Final = _Default()


class Subscriber(Closing):
    """Receive and decode wire-format messages from one publisher endpoint, bounded by bytes.

    A reader thread owns the SUB socket and takes every message off it as soon as it arrives, into
    two lanes held in Python: **samples** (header kind ``samples`` or ``stats``), lossless in arrival
    order, and **frames** (``frame`` or ``features``), newest-wins per topic with ``latest``.  Both
    share one budget of ``max_queue_bytes``, so a consumer that falls behind costs bounded memory,
    whatever the size of the messages, and ZeroMQ's own queue never backs up behind it.

    Parameters
    ----------
    endpoint : str
        The publisher's endpoint to connect to (``tcp://``, ``ipc://`` or ``inproc://``).
        Connecting before the publisher binds is fine: ZeroMQ connects when it appears.
    topics : sequence of str, or str
        Topic prefixes to subscribe to (ZeroMQ prefix matching): ``'laser/smoothed'`` receives that
        topic (and any topic it is a prefix of, e.g. ``'laser/smoothed2'``), ``'laser/'`` every
        output of stream ``laser``, ``''`` everything including ``_stats``.  A single str is one topic.
    latest : bool
        Real-time mode for video: only the newest frame of each topic is kept (a newer one replaces
        it and counts in ``skipped``), and each :meth:`recv` first has the reader take everything
        already queued, so it never returns a frame older than one that had arrived.  Sample and
        stats messages stay lossless either way.
    timeout : float, optional
        Default seconds :meth:`recv` waits; ``None`` waits forever.  Also ends iteration.
    context : zmq.Context, optional
        Defaults to ``zmq.Context.instance()`` (needed to share ``inproc://`` with a publisher).
    rcvhwm : int, optional
        ZeroMQ's receive queue in messages, in front of the reader thread; default 1000.  The reader
        empties it at once, so it only fills while the reader thread cannot run.
    max_queue_bytes : int
        The most this subscriber holds, in bytes, for a consumer that falls behind (default 64 MiB).
        Each queued message counts its wire bytes plus ``MESSAGE_OVERHEAD_BYTES`` (3 KiB) for its
        Python objects.  When a message does not fit, the oldest frame goes first, then the oldest
        sample (a frame never pushes a sample out: it is dropped itself); each drop counts in
        ``dropped['overflow']``.  A message larger than the whole budget counts in
        ``dropped['oversize']``.  A dropped sample shows as a ``seq`` gap, like any loss.
    max_payload_bytes : int
        Largest payload accepted (larger ones are counted as malformed).  Also set as ``ZMQ_MAXMSGSIZE``
        (per frame) on ``tcp``/``ipc``: there ZeroMQ cuts the connection to a peer sending a larger
        frame before buffering it, and the subscriber reconnects (see ``reconnects``); the lost
        messages then show as a gap.
    curve_server_key : bytes or str, optional
        The publisher's Z85 CurveZMQ public key (``Publisher.curve_public_key``) when it binds with
        CURVE.
    curve_secret_key : bytes or str, optional
        With ``curve_server_key``: this client's own Z85 secret key, whose public half the
        publisher must admit (the daemon's ``service.curve_public_keys_dir``).  Without it the
        subscriber uses a fresh key pair, which an authenticating publisher refuses: no message
        arrives, and the refusal is logged once as a warning.

    Attributes
    ----------
    received : int
        Well-formed messages taken off the socket (including any later superseded or dropped).
    malformed : int
        Messages that failed :func:`streamconv.wire.decode`: counted, logged at debug level, dropped.
        Never raised.
    gaps : int
        Total missing ``seq`` numbers: the producer numbers every input and each output carries its
        input's number, so a missing one is a real loss (on the way, dropped here for lack of room,
        or an input the service skipped and counted in ``_stats`` by reason).  Tracked per topic,
        restarted when the header's ``epoch`` changes (a producer or publisher restart), counted
        only after a topic's first message in an epoch.  Lossless lanes count a gap when the message
        after it is returned, so ``gap_events`` come in the order of the stream.
    gap_events : deque of (topic, epoch, expected_seq, got_seq)
        The last 1000 gaps.
    skipped : int
        With ``latest``: frames received but superseded by a newer one of the same topic before
        :meth:`recv` returned them.  These are deliberate, not gaps.
    dropped : dict of str to int
        Messages received but dropped here, by reason (``DROP_REASONS``): ``overflow`` (no room in
        ``max_queue_bytes``), ``oversize`` (larger than ``max_queue_bytes`` alone).
    queued, queued_bytes, peak_queued_bytes : int
        Messages waiting for :meth:`recv`, the bytes they count, and the most bytes ever held.
    out_of_order : int
        Messages whose ``seq`` went backwards within an epoch (a duplicate, or a publisher that
        restarted without a new epoch); tracking resumes from them.
    reconnects : int
        Times the connection dropped (publisher gone, or a frame over ``max_payload_bytes``) and the
        subscriber connected again.

    Notes
    -----
    **Slow joiner.**  PUB/SUB drops what is published before the subscription has reached the
    publisher, so the first messages after connecting may be missing.  Nothing is lost silently:
    the gap count starts at the first message received, so "connect, then :meth:`wait_ready`; from
    then on ``seq`` proves there is no gap".  A publisher that must not lose the very first message
    (tests, replay) uses an XPUB socket and waits for the subscription as a handshake::

        with XPublisher("tcp://127.0.0.1:0") as pub:
            with Subscriber(pub.bound_endpoint, ["laser/"]) as sub:
                pub.wait_for_subscriber(timeout=5)   # the SUBSCRIBE frame arrived
                pub.send_message("laser/raw", ...)   # seq 0 is delivered

    **Lanes with opposite rules.**  Samples must not be lost, frames must not lag.  A consumer of
    ``laser/`` and ``camera/`` with ``latest=True`` that is slow on frames (say 50 ms each) but
    quick on samples gets every sample, with no gap, while each camera topic keeps only its newest
    frame.  :meth:`recv` returns the messages of both lanes in the order they arrived.

    **Iteration** yields messages forever; if ``timeout`` is set, it stops (``StopIteration``) when
    no message arrives within ``timeout`` seconds, which ends a ``for`` loop cleanly.

    Call :meth:`recv` from one thread at a time.  The reader thread is internal: :meth:`close` (or
    ``with``) stops it within a second, and so does dropping the last reference to the subscriber.

    Examples
    --------
    ::

        with Subscriber("tcp://127.0.0.1:5555", ["laser/smoothed"]) as sub:
            first = sub.wait_ready(timeout=5)
            for msg in sub:
                print(msg.seq, msg.array, msg.latency_ns / 1e6, "ms")
    """

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        topics: Sequence[str] | str = ("",),
        *,
        latest: bool = False,
        timeout: float | None = None,
        context: zmq.Context | None = None,
        rcvhwm: int | None = None,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
        max_payload_bytes: int = 256 * 2**20,
        curve_server_key: bytes | str | None = None,
        curve_secret_key: bytes | str | None = None,
    ) -> None:
        topics = (topics,) if isinstance(topics, str) else tuple(topics)
        server_key = None if curve_server_key is None else z85_key("curve_server_key", curve_server_key)
        client_key = None if curve_secret_key is None else z85_key("curve_secret_key", curve_secret_key)
        if client_key is not None and server_key is None:
            raise ValueError("curve_secret_key needs curve_server_key (the publisher's public key)")
        for topic in topics:
            if not isinstance(topic, str):
                raise TypeError(f"invalid topic {topic!r}; expected a str prefix")
        if timeout is not None and timeout < 0:
            raise ValueError(f"invalid timeout {timeout!r}; expected seconds >= 0 or None")
        if max_payload_bytes < 0:
            raise ValueError(f"invalid max_payload_bytes {max_payload_bytes!r}; expected an integer >= 0")
        if max_queue_bytes < 1:
            raise ValueError(f"invalid max_queue_bytes {max_queue_bytes!r}; expected an integer >= 1")
        self.endpoint = endpoint
        self.topics = topics
        self.latest = latest
        self.timeout = timeout
        self.max_queue_bytes = max_queue_bytes
        self.max_payload_bytes = max_payload_bytes
        self.rcvhwm = rcvhwm if rcvhwm is not None else DEFAULT_RCVHWM
        self._inbox = _Inbox(endpoint, max_queue_bytes, newest_wins=latest)

        context = context if context is not None else zmq.Context.instance()
        monitor = self._open_socket(context, server_key, client_key)
        reader = _Reader(self._socket, monitor, endpoint, max_payload_bytes, self._inbox)
        self._close_reader = weakref.finalize(self, reader.stop)
        logger.debug("subscribed to %s on %s", list(topics), endpoint)

    def _open_socket(
        self, context: zmq.Context, server_key: bytes | None, client_key: bytes | None
    ) -> zmq.Socket:
        """Create, configure and connect the SUB socket; return its monitor (the reader owns both)."""
        self._socket = context.socket(zmq.SUB)
        monitor = None
        try:
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.RCVHWM, self.rcvhwm)
            # Per frame; the header frame is tiny next to any payload limit worth setting.
            self._socket.setsockopt(zmq.MAXMSGSIZE, max(self.max_payload_bytes, 1 << 16))
            if server_key is not None:  # our own key pair, or a fresh one (refused where clients are listed)
                public, secret = zmq.curve_keypair() if client_key is None else (
                    zmq.curve_public(client_key), client_key)
                self._socket.curve_serverkey = server_key
                self._socket.curve_publickey = public
                self._socket.curve_secretkey = secret
            for topic in self.topics:
                self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
            # ZeroMQ does not reconnect after a protocol error (an over-size frame): watch for drops.
            # Only a drop after a handshake is reconnected: a refused handshake (ZAP denied the key)
            # would be retried in a tight loop, and ZeroMQ itself retries the ones that timed out.
            # The monitor is in place before connect() so that no handshake goes unseen.
            monitor = self._socket.get_monitor_socket(
                zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            )
            self._socket.connect(self.endpoint)
        except zmq.ZMQError as exc:
            self._socket.close(linger=0)
            if monitor is not None:
                monitor.close(linger=0)
            raise OSError(exc.errno, f"cannot connect to {self.endpoint}: {exc.strerror}") from None
        return monitor

    # ---------------------------------------------------------------------------------- receiving

    def recv(self, timeout: float | _Default | None = _DEFAULT) -> Message:
        """Return the next message in arrival order (with ``latest``, a frame is its topic's newest).

        Parameters
        ----------
        timeout : float or None, optional
            Seconds to wait; defaults to the subscriber's ``timeout``; ``None`` waits forever.  With
            0, return a message the socket already held, or raise.

        Raises
        ------
        TimeoutError
            ``no message from <endpoint> within <timeout> s``.
        OSError
            The reader thread stopped on an error (e.g. the ZeroMQ context was terminated).
        ValueError
            The subscriber is closed.
        """
        if self.closed:
            raise ValueError(f"recv on a closed subscriber to {self.endpoint}")
        wait = self.timeout if isinstance(timeout, _Default) else timeout
        deadline = None if wait is None else time.monotonic() + wait
        inbox = self._inbox
        with inbox.cond:
            head = inbox.head()
            if head is None or head.newest:  # nothing yet, or a frame that a newer one may supersede
                inbox.sync()
            while True:
                msg = inbox.take()
                if msg is not None:
                    return msg
                if not inbox.running:
                    if (error := inbox.error) is not None:
                        raise OSError(f"subscriber to {self.endpoint} stopped: {error}") from error
                    raise ValueError(f"recv on a closed subscriber to {self.endpoint}")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"no message from {self.endpoint} within {wait} s")
                inbox.cond.wait(remaining)

    def wait_ready(self, timeout: float = 5.0) -> Message:
        """Wait for the first message and return it (do process it: it is not delivered again).

        This is how to start without sleeping: once a message arrived the subscription is in place,
        and from then on ``seq`` proves there is no gap.

        Raises
        ------
        TimeoutError
            When nothing arrives, naming the endpoint and topics.
        """
        try:
            return self.recv(timeout=timeout)
        except TimeoutError:
            raise TimeoutError(
                f"no message from {self.endpoint} within {timeout} s (topics {list(self.topics)});"
                " is the publisher running and publishing these topics?"
            ) from None

    def __iter__(self) -> Iterator[Message]:
        return self

    def __next__(self) -> Message:
        try:
            return self.recv()
        except TimeoutError:
            raise StopIteration from None

    # ----------------------------------------------------------------------------------- counters

    @property
    def received(self) -> int:
        """Well-formed messages taken off the socket."""
        return self._inbox.received

    @property
    def malformed(self) -> int:
        """Messages that failed to decode (dropped)."""
        return self._inbox.malformed

    @property
    def gaps(self) -> int:
        """Total missing ``seq`` numbers."""
        return self._inbox.gaps

    @property
    def gap_events(self) -> deque[GapEvent]:
        """The last 1000 ``(topic, epoch, expected_seq, got_seq)``."""
        return self._inbox.gap_events

    @property
    def skipped(self) -> int:
        """With ``latest``: frames superseded by a newer one of their topic."""
        return self._inbox.skipped

    @property
    def dropped(self) -> dict[str, int]:
        """Messages received but dropped for lack of room, by reason (a copy)."""
        with self._inbox.cond:
            return dict(self._inbox.dropped)

    @property
    def queued(self) -> int:
        """Messages waiting for :meth:`recv`."""
        with self._inbox.cond:
            return self._inbox.count()

    @property
    def queued_bytes(self) -> int:
        """The bytes the waiting messages count against ``max_queue_bytes``."""
        return self._inbox.nbytes

    @property
    def peak_queued_bytes(self) -> int:
        """The most ``queued_bytes`` ever was."""
        return self._inbox.peak_nbytes

    @property
    def out_of_order(self) -> int:
        """Messages whose ``seq`` went backwards within an epoch."""
        return self._inbox.out_of_order

    @property
    def reconnects(self) -> int:
        """Times the connection dropped and the subscriber connected again."""
        return self._inbox.reconnects

    # ---------------------------------------------------------------------------------- lifecycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._close_reader.alive

    def close(self) -> None:
        """Stop the reader thread, which closes the socket (idempotent); queued messages are discarded."""
        self._close_reader()
        self._inbox.clear()

    def __repr__(self) -> str:
        return (
            f"Subscriber({self.endpoint!r}, {list(self.topics)!r}, latest={self.latest},"
            f" received={self.received}, malformed={self.malformed}, gaps={self.gaps},"
            f" dropped={sum(self._inbox.dropped.values())})"
        )


@dataclass(slots=True)
class _Item:
    """A queued message: its arrival number, the bytes it counts, and whether it is newest-wins.

    A newest-wins frame had its ``seq`` tracked on arrival; any other message is tracked when taken.
    """

    order: int
    msg: Message
    nbytes: int
    newest: bool = False


class _Inbox:
    """The lanes between the reader thread and :meth:`Subscriber.recv`, their byte budget and counters.

    Shared by both threads: every access holds ``cond``.  Sample messages (``LOSSLESS_KINDS``) and,
    without ``newest_wins``, frames wait in arrival order and their ``seq`` is tracked when they are
    taken, so a message dropped here shows as a gap at the next one.  With ``newest_wins`` a frame
    is tracked on arrival (a superseded frame is no gap) and a frame dropped here is a gap at once.
    """

    def __init__(self, endpoint: str, max_bytes: int, *, newest_wins: bool) -> None:
        self.cond = threading.Condition()
        self.endpoint = endpoint
        self.max_bytes = max_bytes
        self.newest_wins = newest_wins
        self.samples: deque[_Item] = deque()
        self.frames: deque[_Item] = deque()  # without newest_wins
        self.newest: dict[str, _Item] = {}  # with newest_wins: topic -> newest frame, oldest arrival first
        self.nbytes = 0
        self.peak_nbytes = 0
        self.received = 0
        self.malformed = 0
        self.gaps = 0
        self.skipped = 0
        self.out_of_order = 0
        self.reconnects = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.gap_events: deque[GapEvent] = deque(maxlen=MAX_GAP_EVENTS)
        self.sync_asked = 0  # recv's requests to take everything the socket holds ...
        self.sync_done = 0  # ... and the last one the reader answered
        self.wake: Any = None  # set by the reader: wakes it up
        self.running = True  # False once the reader thread ended
        self.error: BaseException | None = None  # why it ended, if not closed
        self._next_seq: dict[str, tuple[str, int]] = {}  # topic -> (epoch, expected seq)

    def count(self) -> int:
        return len(self.samples) + len(self.frames) + len(self.newest)

    def put(self, item: _Item) -> None:
        """Queue a message just received, making room within the budget (reader thread)."""
        msg = item.msg
        lossless = msg.kind in LOSSLESS_KINDS
        newest = not lossless and self.newest_wins
        if newest:
            self._track(msg)
            item.newest = True
        if item.nbytes > self.max_bytes:
            self._lose(item, "oversize")
            return
        if newest and (old := self.newest.pop(msg.topic, None)) is not None:
            self.skipped += 1
            self.nbytes -= old.nbytes
        while self.nbytes + item.nbytes > self.max_bytes:
            victim = self._pop_oldest_frame()
            if victim is None:
                if not lossless:  # a frame never pushes a sample out
                    self._lose(item, "overflow")
                    return
                victim = self.samples.popleft()
            self.nbytes -= victim.nbytes
            self._lose(victim, "overflow")
        if newest:
            self.newest[msg.topic] = item
        else:
            (self.samples if lossless else self.frames).append(item)
        self.nbytes += item.nbytes
        self.peak_nbytes = max(self.peak_nbytes, self.nbytes)
        self.cond.notify()

    def head(self) -> _Item | None:
        """Return the waiting message that arrived first, or None."""
        heads = [lane[0] for lane in (self.samples, self.frames) if lane]
        if self.newest:
            heads.append(next(iter(self.newest.values())))
        return min(heads, key=lambda head: head.order) if heads else None

    def take(self) -> Message | None:
        """Remove and return the waiting message that arrived first, or None (recv's thread)."""
        item = self.head()
        if item is None:
            return None
        if self.samples and item is self.samples[0]:
            self.samples.popleft()
        elif self.frames and item is self.frames[0]:
            self.frames.popleft()
        else:
            del self.newest[item.msg.topic]
        self.nbytes -= item.nbytes
        if not item.newest:
            self._track(item.msg)
        return item.msg

    def sync(self) -> None:
        """Have the reader take everything the socket holds now, and wait until it did (holds cond)."""
        self.sync_asked += 1
        asked = self.sync_asked
        if self.wake is not None:
            self.wake()
        self.cond.wait_for(lambda: self.sync_done >= asked or not self.running, _SYNC_TIMEOUT_S)

    def clear(self) -> None:
        with self.cond:
            self.samples.clear()
            self.frames.clear()
            self.newest.clear()
            self.nbytes = 0

    def _pop_oldest_frame(self) -> _Item | None:
        if self.frames:
            return self.frames.popleft()
        if self.newest:
            topic = next(iter(self.newest))
            return self.newest.pop(topic)
        return None

    def _lose(self, item: _Item, reason: str) -> None:
        self.dropped[reason] += 1
        if self.dropped[reason] == 1:
            logger.warning(
                "subscriber to %s dropped a message: %s (max_queue_bytes=%d); counted in dropped[%r]",
                self.endpoint,
                "the consumer fell behind" if reason == "overflow" else "larger than the whole budget",
                self.max_bytes,
                reason,
            )
        topic, epoch, seq = item.msg.topic, item.msg.header.epoch, item.msg.header.seq
        if item.newest:  # this seq has been tracked, and will never be returned
            self._gap(topic, epoch, seq, seq + 1)
            return
        state = self._next_seq.get(topic)
        if state is None or state[0] != epoch:  # so the topic's next returned message counts it
            self._next_seq[topic] = (epoch, seq)

    def _track(self, msg: Message) -> None:
        topic, epoch, seq = msg.topic, msg.header.epoch, msg.header.seq
        state = self._next_seq.get(topic)
        if state is not None and state[0] == epoch:
            expected = state[1]
            if seq > expected:
                self._gap(topic, epoch, expected, seq)
            elif seq < expected:
                self.out_of_order += 1
                logger.debug("seq back on %s (epoch %s): expected %d, got %d", topic, epoch, expected, seq)
        self._next_seq[topic] = (epoch, seq + 1)

    def _gap(self, topic: str, epoch: str, expected: int, got: int) -> None:
        self.gaps += got - expected
        self.gap_events.append((topic, epoch, expected, got))
        logger.debug("gap on %s (epoch %s): expected seq %d, got %d", topic, epoch, expected, got)


class _Reader:
    """The thread that owns the SUB socket: it takes each message off it at once into the inbox.

    It holds no reference to its :class:`Subscriber`, so a subscriber that is dropped unclosed is
    collected, and its finalizer stops the thread.  The thread closes its sockets and pipe itself.
    """

    def __init__(
        self, socket: zmq.Socket, monitor: zmq.Socket, endpoint: str, max_payload_bytes: int, inbox: _Inbox
    ) -> None:
        self._socket = socket
        self._monitor = monitor
        self._endpoint = endpoint
        self._max_payload_bytes = max_payload_bytes
        self._inbox = inbox
        self._order = itertools.count()
        self._stopping = False
        self._established = False  # a handshake succeeded since the last (re)connect
        self._refused_logged = False
        self._pipe_lock = threading.Lock()
        try:
            self._wake_r, self._wake_w = os.pipe()
            for fd in (self._wake_r, self._wake_w):
                os.set_blocking(fd, False)
            self._poller = zmq.Poller()
            for sock in (socket, monitor, self._wake_r):
                self._poller.register(sock, zmq.POLLIN)
            self._thread = threading.Thread(target=self._run, name=f"subscriber {endpoint}", daemon=True)
            inbox.wake = self.wake
            self._thread.start()
        except BaseException:
            self._close_sockets()
            raise

    def wake(self) -> None:
        """Make the reader look at its flags and the socket now (any thread)."""
        with self._pipe_lock:
            if self._wake_w is not None:
                try:
                    os.write(self._wake_w, b"\0")
                except BlockingIOError:
                    pass  # the pipe is full: the reader is awake already

    def stop(self) -> None:
        """Stop the thread and wait for it (at most ``_CLOSE_TIMEOUT_S``)."""
        self._stopping = True
        self.wake()
        if self._thread is threading.current_thread():
            return  # collected on the reader thread itself: it ends after this pass
        self._thread.join(_CLOSE_TIMEOUT_S)
        if self._thread.is_alive():
            logger.warning("the reader of %s did not stop within %s s", self._endpoint, _CLOSE_TIMEOUT_S)

    def _run(self) -> None:
        inbox = self._inbox
        try:
            while not self._stopping:
                ready = dict(self._poller.poll(_IDLE_POLL_MS))
                if self._wake_r in ready:
                    self._read_pipe()
                if self._stopping:
                    break
                if self._monitor in ready:
                    self._handle_disconnects()
                with inbox.cond:
                    asked = inbox.sync_asked
                self._drain()
                if asked > inbox.sync_done:
                    with inbox.cond:
                        inbox.sync_done = asked
                        inbox.cond.notify_all()
        except Exception as exc:
            level = logging.INFO if isinstance(exc, zmq.ContextTerminated) else logging.ERROR
            logger.log(level, "subscriber to %s stopped receiving: %s", self._endpoint, exc)
            inbox.error = exc
        finally:
            self._close_sockets()
            with inbox.cond:
                inbox.running = False
                inbox.cond.notify_all()

    def _read_pipe(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _drain(self) -> None:
        """Take what the socket holds (at most ``_DRAIN_BATCH`` messages) into the inbox."""
        inbox = self._inbox
        for _ in range(_DRAIN_BATCH):
            try:
                frames = self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            try:
                msg = decode(frames, max_payload_bytes=self._max_payload_bytes)
            except WireError as exc:
                with inbox.cond:
                    inbox.malformed += 1
                logger.debug("dropped malformed message from %s: %s", self._endpoint, exc)
                continue
            nbytes = sum(len(frame) for frame in frames) + MESSAGE_OVERHEAD_BYTES
            with inbox.cond:
                inbox.received += 1
                inbox.put(_Item(next(self._order), msg, nbytes))

    def _handle_disconnects(self) -> None:
        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._established = True
            elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and not self._refused_logged:
                self._refused_logged = True
                logger.warning("%s refused this subscriber's CURVE key (ZAP status %s): nothing "
                               "will arrive", self._endpoint, int(event["value"]))
            if event["event"] != zmq.EVENT_DISCONNECTED or not self._established:
                continue
            self._established = False
            with self._inbox.cond:
                self._inbox.reconnects += 1
            logger.info(
                "lost %s (publisher gone, or a frame over max_payload_bytes=%d): reconnecting",
                self._endpoint,
                self._max_payload_bytes,
            )
            try:
                self._socket.disconnect(self._endpoint)
            except zmq.ZMQError:
                pass  # the session is already gone
            self._socket.connect(self._endpoint)

    def _close_sockets(self) -> None:
        if not self._socket.closed:
            try:
                self._socket.disable_monitor()
            except zmq.ZMQError:
                pass  # the context is terminated: closing is all that is left to do
            self._socket.close(linger=0)
        self._monitor.close(linger=0)
        with self._pipe_lock:
            for name in ("_wake_r", "_wake_w"):
                fd = getattr(self, name, None)
                if fd is not None:
                    os.close(fd)
                    setattr(self, name, None)


def subscribe(topics: Sequence[str] | str, endpoint: str = DEFAULT_ENDPOINT, **kw: Any) -> Subscriber:
    """Return a :class:`Subscriber` to ``topics`` on ``endpoint`` (keyword options as for it).

    Examples
    --------
    ::

        with subscribe("laser/smoothed", timeout=10) as sub:
            for msg in sub:
                ...
    """
    return Subscriber(endpoint, topics, **kw)
