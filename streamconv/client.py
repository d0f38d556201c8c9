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

import logging
import math
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, Final

import zmq
from zmq.utils.monitor import recv_monitor_message

from streamconv._closing import Closing
from streamconv.errors import WireError
from streamconv.sockets import z85_key
from streamconv.wire import Message, decode

__all__ = ["DEFAULT_ENDPOINT", "GapEvent", "Subscriber", "subscribe"]

logger = logging.getLogger(__name__)

#: Where the service publishes by default (loopback only).
DEFAULT_ENDPOINT: Final = "tcp://127.0.0.1:5555"
#: Receive high-water marks: large for lossless streams, small for ``latest=True``.
DEFAULT_RCVHWM: Final = 100_000
DEFAULT_RCVHWM_LATEST: Final = 4
#: How many recent gap events are kept.
MAX_GAP_EVENTS: Final = 1000

#: ``(topic, epoch, expected_seq, got_seq)``: ``got_seq - expected_seq`` messages never arrived.
GapEvent = tuple[str, str, int, int]


class _Default:
    def __repr__(self) -> str:
        return "<subscriber timeout>"


_DEFAULT: Final = _Default()


class Subscriber(Closing):
    """Receive and decode wire-format messages from one publisher endpoint.

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
        Real-time mode for video: each :meth:`recv` first drains everything already queued and
        returns the newest message **per topic** (with several topics, each topic's newest in
        turn, never an older one).  The receive queue is small by default.
    timeout : float, optional
        Default seconds :meth:`recv` waits; ``None`` waits forever.  Also ends iteration.
    context : zmq.Context, optional
        Defaults to ``zmq.Context.instance()`` (needed to share ``inproc://`` with a publisher).
    rcvhwm : int, optional
        Receive queue length in messages; default 100 000, or 4 with ``latest``.
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
        Well-formed messages taken off the socket (including any later superseded under ``latest``).
    malformed : int
        Messages that failed :func:`streamconv.wire.decode`: counted, logged at debug level, dropped.
        Never raised.
    gaps : int
        Total missing ``seq`` numbers: the producer numbers every input and each output carries its
        input's number, so a missing one is a real loss (on the way, in a full queue, or an input
        the service skipped and counted in ``_stats`` by reason).  Tracked per topic, restarted when
        the header's ``epoch`` changes (a producer or publisher restart), counted only after a
        topic's first message in an epoch.
    gap_events : deque of (topic, epoch, expected_seq, got_seq)
        The last 1000 gaps.
    skipped : int
        With ``latest``: messages received but superseded by a newer one of the same topic while
        draining.  These are deliberate, not gaps.
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

    **Iteration** yields messages forever; if ``timeout`` is set, it stops (``StopIteration``) when
    no message arrives within ``timeout`` seconds, which ends a ``for`` loop cleanly.

    A subscriber belongs to one thread (ZeroMQ sockets are not thread-safe).

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
        self.endpoint = endpoint
        self.topics = topics
        self.latest = latest
        self.timeout = timeout
        self.max_payload_bytes = max_payload_bytes
        self.rcvhwm = rcvhwm if rcvhwm is not None else (DEFAULT_RCVHWM_LATEST if latest else DEFAULT_RCVHWM)

        self.received = 0
        self.malformed = 0
        self.gaps = 0
        self.skipped = 0
        self.out_of_order = 0
        self.reconnects = 0
        self.gap_events: deque[GapEvent] = deque(maxlen=MAX_GAP_EVENTS)
        self._next_seq: dict[str, tuple[str, int]] = {}  # topic -> (epoch, expected seq)
        self._pending: dict[str, Message] = {}  # latest mode: topic -> newest, oldest arrival first

        context = context if context is not None else zmq.Context.instance()
        self._socket = context.socket(zmq.SUB)
        try:
            self._socket.setsockopt(zmq.LINGER, 0)
            self._socket.setsockopt(zmq.RCVHWM, self.rcvhwm)
            # Per frame; the header frame is tiny next to any payload limit worth setting.
            self._socket.setsockopt(zmq.MAXMSGSIZE, max(max_payload_bytes, 1 << 16))
            if server_key is not None:
                public, secret = zmq.curve_keypair() if client_key is None else (
                    zmq.curve_public(client_key), client_key)
                self._socket.curve_serverkey = server_key
                self._socket.curve_publickey = public
                self._socket.curve_secretkey = secret
            for topic in topics:
                self._socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
            # ZeroMQ does not reconnect after a protocol error (an over-size frame): watch for drops.
            # Only a drop after a handshake is reconnected: a refused handshake (ZAP denied the key)
            # would be retried in a tight loop, and ZeroMQ itself retries the ones that timed out.
            # The monitor is in place before connect() so that no handshake goes unseen.
            self._monitor = self._socket.get_monitor_socket(
                zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
            )
            self._socket.connect(endpoint)
        except zmq.ZMQError as exc:
            self._socket.close(linger=0)
            if hasattr(self, "_monitor"):
                self._monitor.close(linger=0)
            raise OSError(exc.errno, f"cannot connect to {endpoint}: {exc.strerror}") from None
        self._established = False
        self._refused_logged = False
        self._poller = zmq.Poller()
        self._poller.register(self._socket, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        logger.debug("subscribed to %s on %s", list(topics), endpoint)

    # ---------------------------------------------------------------------------------- receiving

    def recv(self, timeout: float | _Default | None = _DEFAULT) -> Message:
        """Return the next well-formed message (the newest per topic with ``latest``).

        Parameters
        ----------
        timeout : float or None, optional
            Seconds to wait; defaults to the subscriber's ``timeout``; ``None`` waits forever.

        Raises
        ------
        TimeoutError
            ``no message from <endpoint> within <timeout> s``.
        """
        wait = self.timeout if isinstance(timeout, _Default) else timeout
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            if self.latest:
                self._drain()
                if self._pending:
                    topic = next(iter(self._pending))
                    return self._pending.pop(topic)
            else:
                while (frames := self._recv_frames()) is not None:
                    msg = self._accept(frames)
                    if msg is not None:
                        return msg
            # Nothing queued: wait for a message (or a dropped connection) until the deadline.
            ready = self._poll(deadline)
            if self._monitor in ready:
                self._handle_disconnects()
            if self._socket not in ready and deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no message from {self.endpoint} within {wait} s")

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

    def _poll(self, deadline: float | None) -> dict[zmq.Socket, int]:
        if deadline is None:
            return dict(self._poller.poll(None))
        remaining_ms = max(0, math.ceil((deadline - time.monotonic()) * 1000))
        return dict(self._poller.poll(remaining_ms))

    def _handle_disconnects(self) -> None:
        while self._monitor.poll(0, zmq.POLLIN):
            event = recv_monitor_message(self._monitor)
            if event["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._established = True
            elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH and not self._refused_logged:
                self._refused_logged = True
                logger.warning("%s refused this subscriber's CURVE key (ZAP status %s): nothing "
                               "will arrive", self.endpoint, int(event["value"]))
            if event["event"] != zmq.EVENT_DISCONNECTED or not self._established:
                continue
            self._established = False
            self.reconnects += 1
            logger.info(
                "lost %s (publisher gone, or a frame over max_payload_bytes=%d): reconnecting",
                self.endpoint,
                self.max_payload_bytes,
            )
            try:
                self._socket.disconnect(self.endpoint)
            except zmq.ZMQError:
                pass  # the session is already gone
            self._socket.connect(self.endpoint)

    def _recv_frames(self) -> list[zmq.Frame] | None:
        """Return one queued multipart message without blocking, or None if none is queued."""
        try:
            return self._socket.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return None

    def _accept(self, frames: list[zmq.Frame]) -> Message | None:
        """Decode and track one message; count and drop it (None) if malformed."""
        try:
            msg = decode(frames, max_payload_bytes=self.max_payload_bytes)
        except WireError as exc:
            self.malformed += 1
            logger.debug("dropped malformed message from %s: %s", self.endpoint, exc)
            return None
        self.received += 1
        self._track(msg)
        return msg

    def _drain(self) -> None:
        """Take everything queued now into the pending buffer, keeping each topic's newest."""
        while (frames := self._recv_frames()) is not None:
            msg = self._accept(frames)
            if msg is None:
                continue
            if self._pending.pop(msg.topic, None) is not None:
                self.skipped += 1
            self._pending[msg.topic] = msg

    def _track(self, msg: Message) -> None:
        topic, epoch, seq = msg.topic, msg.header.epoch, msg.header.seq
        state = self._next_seq.get(topic)
        if state is not None and state[0] == epoch:
            expected = state[1]
            if seq > expected:
                self.gaps += seq - expected
                self.gap_events.append((topic, epoch, expected, seq))
                logger.debug("gap on %s (epoch %s): expected seq %d, got %d", topic, epoch, expected, seq)
            elif seq < expected:
                self.out_of_order += 1
                logger.debug("seq back on %s (epoch %s): expected %d, got %d", topic, epoch, expected, seq)
        self._next_seq[topic] = (epoch, seq + 1)

    # ---------------------------------------------------------------------------------- lifecycle

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._socket.closed

    def close(self) -> None:
        """Close the socket (idempotent); queued messages are discarded."""
        if not self._socket.closed:
            self._socket.disable_monitor()
            self._monitor.close(linger=0)
            self._socket.close(linger=0)
        self._pending.clear()

    def __repr__(self) -> str:
        return (
            f"Subscriber({self.endpoint!r}, {list(self.topics)!r}, latest={self.latest},"
            f" received={self.received}, malformed={self.malformed}, gaps={self.gaps})"
        )


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
