"""Publishing socket roles as small classes used under ``with``: explicit endpoint, HWM and linger.

:class:`Publisher` is a PUB socket that binds.  :class:`XPublisher` is the same role on an XPUB
socket, which also reports subscriptions: :meth:`XPublisher.wait_for_subscriber` is the handshake
that avoids PUB/SUB's slow-joiner loss without sleeping.  The subscribing role is
:class:`streamconv.client.Subscriber`.  A socket belongs to one thread; no socket lives at module level.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Sequence
from typing import Any

import zmq
from numpy.typing import NDArray
from zmq.utils import z85

from streamconv import wire
from streamconv._closing import Closing
from streamconv.errors import StreamconvError

__all__ = [
    "ZERO_COPY_BYTES",
    "EndpointInUseError",
    "Publisher",
    "TrackingPublisher",
    "XPublisher",
    "bind_with_grace",
    "connectable_endpoint",
    "free_loopback_port",
    "worth_zero_copy",
    "z85_key",
]

logger = logging.getLogger(__name__)

Frames = Sequence[bytes | memoryview | zmq.Frame]

# A closed socket releases its tcp port in ZeroMQ's I/O thread, about a millisecond later: binding
# the same endpoint again retries "address in use" for this long before reporting a real conflict.
_BIND_GRACE_S = 0.2
_BIND_RETRY_S = 0.005
_Z85_KEY_LEN = 40
#: Payloads from this size on are sent without a copy; a smaller one is cheaper to copy than to track.
ZERO_COPY_BYTES = 1 << 16


#: Largest frame a publish socket accepts from a subscriber (a subscription: one command byte and
#: a prefix of at most ``limits.MAX_TOPIC_BYTES``): larger ones cut that peer's connection before
#: they are buffered.
MAX_SUBSCRIPTION_BYTES = 257
#: The same with CurveZMQ, whose handshake (its INITIATE command, about 260 to 550 bytes with
#: the client's metadata) is checked against the same maximum.
MAX_SUBSCRIPTION_BYTES_CURVE = 1024


#: Where :func:`free_loopback_port` looks: below the kernel's ephemeral range (32768-60999 by
#: default), so no outgoing connection of any process is given the port between pick and bind.
FREE_PORTS = range(20000, 32000)


def free_loopback_port() -> int:
    """Return a tcp port on 127.0.0.1 that nothing listens on now, from :data:`FREE_PORTS`.

    Raises
    ------
    OSError
        When 200 tries found none.
    """
    import random

    for _ in range(200):
        port = random.choice(FREE_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    span = f"{FREE_PORTS.start}-{FREE_PORTS.stop - 1}"
    raise OSError(errno.EADDRINUSE, f"no free tcp port on 127.0.0.1 in {span}")


def bind_with_grace(sock: zmq.Socket, endpoint: str) -> None:
    """Bind ``sock``, retrying "address in use" for a moment (a just-closed socket frees its port late)."""
    deadline = time.monotonic() + _BIND_GRACE_S
    while True:
        try:
            sock.bind(endpoint)
            return
        except zmq.ZMQError as exc:
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
        time.sleep(_BIND_RETRY_S)


def worth_zero_copy(frame: Any) -> bool:
    """Return True for a frame large enough to send without a copy (``ZERO_COPY_BYTES``)."""
    if isinstance(frame, zmq.Frame):
        return len(frame.buffer) >= ZERO_COPY_BYTES
    if isinstance(frame, memoryview):
        return frame.nbytes >= ZERO_COPY_BYTES
    return len(frame) >= ZERO_COPY_BYTES


class EndpointInUseError(OSError):
    """Binding failed because another socket already uses the endpoint (``EADDRINUSE``)."""


def connectable_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` with a wildcard bind address replaced by ``127.0.0.1``.

    Examples
    --------
    >>> connectable_endpoint("tcp://0.0.0.0:5555")
    'tcp://127.0.0.1:5555'
    >>> connectable_endpoint("ipc:///tmp/s")
    'ipc:///tmp/s'
    """
    for wildcard in ("tcp://0.0.0.0:", "tcp://*:"):
        if endpoint.startswith(wildcard):
            return "tcp://127.0.0.1:" + endpoint[len(wildcard) :]
    return endpoint


def z85_key(name: str, key: bytes | str) -> bytes:
    """Return a CurveZMQ key as 40 Z85 bytes; raise naming ``name`` if it is not one.

    Examples
    --------
    >>> z85_key("key", "x")
    Traceback (most recent call last):
    ...
    streamconv.errors.StreamconvError: invalid key: 1 characters; expected a 40-character Z85 CurveZMQ key
    """
    raw = key.encode("ascii", errors="replace") if isinstance(key, str) else bytes(key)
    problem = None
    if len(raw) != _Z85_KEY_LEN:
        problem = f"{len(raw)} characters"
    else:
        try:
            z85.decode(raw)
        except (KeyError, ValueError, IndexError):
            problem = "not Z85"
    if problem is not None:
        raise StreamconvError(f"invalid {name}: {problem}; expected a 40-character Z85 CurveZMQ key")
    return raw


class _BoundPublisher(Closing):
    """Shared body of the publishing roles: bind, send, close."""

    _socket_type: int

    def __init__(
        self,
        endpoint: str,
        *,
        context: zmq.Context | None = None,
        sndhwm: int = 10_000,
        linger_ms: int = 0,
        curve_secret_key: bytes | str | None = None,
        zap_domain: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.linger_ms = linger_ms
        self.curve_public_key: bytes | None = None
        curve_key = None if curve_secret_key is None else z85_key("curve_secret_key", curve_secret_key)
        self._context = context if context is not None else zmq.Context.instance()
        self._socket = self._context.socket(self._socket_type)
        try:
            self._socket.setsockopt(zmq.SNDHWM, sndhwm)
            self._socket.setsockopt(zmq.LINGER, linger_ms)
            self._configure()
            if curve_key is not None:
                self._set_curve_server(curve_key, zap_domain)
            bind_with_grace(self._socket, endpoint)
        except zmq.ZMQError as exc:
            self._socket.close(linger=0)
            if exc.errno == errno.EADDRINUSE:
                raise EndpointInUseError(
                    errno.EADDRINUSE, f"cannot bind {endpoint}: address already in use"
                ) from None
            raise OSError(exc.errno, f"cannot bind {endpoint}: {exc.strerror}") from None
        self._last_endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT) or endpoint
        self.bound_endpoint = connectable_endpoint(self._last_endpoint)
        logger.debug("%s bound %s (%s)", type(self).__name__, endpoint, self.bound_endpoint)

    def _set_curve_server(self, key: bytes, zap_domain: str | None) -> None:
        if zap_domain is not None:
            from streamconv.auth import curve_server

            curve_server(self._socket, key, zap_domain)
        else:
            self._socket.curve_secretkey = key
            self._socket.curve_publickey = zmq.curve_public(key)
            self._socket.curve_server = True
        self.curve_public_key = zmq.curve_public(key)

    def _configure(self) -> None:
        """Set role-specific socket options before binding."""

    def send(self, frames: Frames, *, copy: bool = False) -> None:
        """Send one multipart message; never blocks (PUB drops for a subscriber whose queue is full).

        With ``copy=False`` large frames are sent zero-copy: do not modify their memory afterwards.
        """
        self._socket.send_multipart(frames, copy=copy)

    def send_message(self, topic: str, array: NDArray[Any], **header_fields: Any) -> None:
        """Encode with :func:`streamconv.wire.encode` (same keyword arguments) and send."""
        self.send(wire.encode(topic, array, **header_fields))

    @property
    def socket(self) -> zmq.Socket:
        """The underlying ZeroMQ socket (for a poller); it belongs to the thread using this object."""
        return self._socket

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._socket.closed

    def close(self) -> None:
        """Close the socket (idempotent); the context is left alone."""
        if not self._socket.closed:
            if self._last_endpoint.startswith("inproc://"):
                # Frees the name at once; close() alone frees it later, in ZeroMQ's I/O thread.
                self._socket.unbind(self._last_endpoint)
            self._socket.close(linger=self.linger_ms)

    def __repr__(self) -> str:
        state = "closed" if self.closed else self.bound_endpoint
        return f"{type(self).__name__}({self.endpoint!r}, {state})"


class Publisher(_BoundPublisher):
    """A PUB socket that binds ``endpoint`` and sends wire-format messages.

    Parameters
    ----------
    endpoint : str
        Where to bind, e.g. ``'tcp://127.0.0.1:5555'``, ``'tcp://127.0.0.1:0'`` (random port, see
        :attr:`bound_endpoint`), ``'ipc:///tmp/streamconv'`` or ``'inproc://out'``.
    context : zmq.Context, optional
        Defaults to the process-wide ``zmq.Context.instance()``; needed for ``inproc://``
        subscribers in the same context.  Never terminated here.
    sndhwm : int
        Messages queued per subscriber before PUB drops (lossless under normal load).
    linger_ms : int
        How long :meth:`close` waits to flush pending messages.
    curve_secret_key : bytes or str, optional
        A Z85 CurveZMQ secret key (``zmq.curve_keypair()[1]``): the socket becomes a CURVE server,
        so traffic is encrypted and only subscribers given :attr:`curve_public_key` can connect.
        Needed to bind anything but loopback (DESIGN "Security").  Alone it admits any client key.
    zap_domain : str, optional
        With ``curve_secret_key``: the ZAP domain (one of :data:`streamconv.auth.DOMAINS`) whose
        allowed client keys get in, decided by the :class:`streamconv.auth.Gate` of ``context``;
        without a gate running there, nobody does.

    Attributes
    ----------
    bound_endpoint : str
        The endpoint to connect to: a random port resolved, ``*``/``0.0.0.0`` replaced by ``127.0.0.1``.
    curve_public_key : bytes or None
        The Z85 public key subscribers pass as ``curve_server_key``; None without CURVE.

    Raises
    ------
    EndpointInUseError
        When another socket already binds ``endpoint``.

    Examples
    --------
    >>> import numpy as np
    >>> with Publisher("tcp://127.0.0.1:0") as pub:
    ...     pub.send_message("laser/raw", np.zeros(4), stream="laser", kind="samples",
    ...                      epoch=wire.new_epoch(), seq=0, t_capture_ns=0)
    ...     pub.bound_endpoint.startswith("tcp://127.0.0.1:")
    True
    """

    _socket_type = zmq.PUB


class XPublisher(_BoundPublisher):
    """An XPUB socket that binds ``endpoint``: a :class:`Publisher` that also sees subscriptions.

    Parameters are those of :class:`Publisher`.  Every subscription is reported (``XPUB_VERBOSE``).

    Notes
    -----
    PUB/SUB drops what is published before a subscription has reached the publisher (the
    "slow joiner").  Call :meth:`wait_for_subscriber` after the subscriber connected and before the
    first send: from then on nothing is lost under normal load.

    Examples
    --------
    >>> import numpy as np
    >>> from streamconv.client import Subscriber
    >>> with XPublisher("inproc://xpub-doc") as pub, Subscriber("inproc://xpub-doc", ["a/"]) as sub:
    ...     pub.wait_for_subscriber(timeout=5)
    ...     pub.send_message("a/b", np.zeros(1), stream="a", kind="samples", epoch="e", seq=0,
    ...                      t_capture_ns=0)
    ...     sub.recv(timeout=5).topic
    'a/'
    'a/b'
    """

    _socket_type = zmq.XPUB

    def _configure(self) -> None:
        self._socket.setsockopt(zmq.XPUB_VERBOSE, 1)

    def wait_for_subscriber(self, timeout: float = 5.0, *, topic: str | None = None) -> str:
        """Wait until a subscription (to ``topic``, or any topic) arrives; return the topic prefix.

        Raises
        ------
        TimeoutError
            Naming the endpoint, when no such subscription arrives within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining_ms = max(0, round((deadline - time.monotonic()) * 1000))
            if not self._socket.poll(remaining_ms, zmq.POLLIN):
                wanted = "subscription" if topic is None else f"subscription to {topic!r}"
                raise TimeoutError(f"no {wanted} on {self.bound_endpoint} within {timeout} s")
            event = self._socket.recv()
            # Subscription messages are b"\x01" + prefix; b"\x00" + prefix is an unsubscription.
            if event[:1] == b"\x01":
                prefix = event[1:].decode("utf-8", errors="replace")
                if topic is None or prefix == topic:
                    return prefix


class TrackingPublisher(_BoundPublisher):
    r"""An XPUB socket in manual mode: the owner decides which subscriptions ZeroMQ applies.

    Parameters are those of :class:`Publisher`.  Every subscription (``b"\\x01" + prefix``) and
    unsubscription (``b"\\x00" + prefix``) of every peer is reported on :attr:`socket`; nothing is
    delivered to a peer until the owner confirms its subscription with :meth:`confirm` right
    after reading it (ZeroMQ applies it to the peer the last event came from).  A closed
    connection's subscriptions are reported as unsubscriptions without a ``Peer-Address``, and
    ZeroMQ has already dropped them.  Incoming frames (subscriptions) over
    :data:`MAX_SUBSCRIPTION_BYTES` (:data:`MAX_SUBSCRIPTION_BYTES_CURVE` with CurveZMQ) cut the
    connection to that peer.
    """

    _socket_type = zmq.XPUB

    def _configure(self) -> None:
        self._socket.setsockopt(zmq.XPUB_MANUAL, 1)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_SUBSCRIPTION_BYTES)

    def _set_curve_server(self, key: bytes, zap_domain: str | None) -> None:
        super()._set_curve_server(key, zap_domain)
        self._socket.setsockopt(zmq.MAXMSGSIZE, MAX_SUBSCRIPTION_BYTES_CURVE)

    def confirm(self, event: bytes) -> None:
        """Apply the subscription or unsubscription ``event`` just read, for the peer that sent it."""
        option = zmq.SUBSCRIBE if event[:1] == b"\x01" else zmq.UNSUBSCRIBE
        self._socket.setsockopt(option, event[1:])
