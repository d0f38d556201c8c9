"""The sockets of the links between roles: bind or connect, identities, CurveZMQ, limits.

Who binds: the producer binds ``links.dispatch`` (a ROUTER: workers connect DEALERs and ask for
work), the publisher binds ``links.collect`` (a ROUTER: workers send results, the producer its
heartbeats).  Connecting sockets set ``ZMQ_IMMEDIATE`` so nothing queues for a peer that is not
there, and routers set ``ZMQ_ROUTER_MANDATORY`` so a message to a peer that is gone fails at
once instead of vanishing.  A link that is not loopback runs CurveZMQ when the config has a
secret key (every role of one config shares it); otherwise the config must say ``insecure``.
``links.curve_on_loopback`` runs CurveZMQ on ``tcp://`` loopback and ``ipc://`` links too
(``inproc://`` never runs a security mechanism).  A bound link is a CURVE server of the ZAP
domain ``links`` that admits one client key: the public half of the shared secret, so the roles
of one config admit each other and nobody else (:mod:`streamconv.auth`).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field
from typing import Any

import zmq

from streamconv import auth
from streamconv import config as cfg
from streamconv.sockets import EndpointInUseError, bind_with_grace, worth_zero_copy

__all__ = ["MAX_LINK_MESSAGE_BYTES", "LinkCurve", "bind_router", "connect_dealer", "link_gate", "link_secret"]

log = logging.getLogger(__name__)

#: Largest frame accepted on a link (a 4K float32 K=16 bank is 531 MB; beyond that, refuse).
MAX_LINK_MESSAGE_BYTES = 1 << 30


@dataclass(frozen=True)
class LinkCurve:
    """The links' CurveZMQ: the secret key every role of the config shares, and where it applies."""

    secret: bytes = field(repr=False)
    on_loopback: bool = False

    @property
    def public(self) -> bytes:
        """The roles' public key: the one client key a bound link admits."""
        return zmq.curve_public(self.secret)

    def applies(self, endpoint: str) -> bool:
        """Whether a link on ``endpoint`` runs CurveZMQ (never ``inproc://``)."""
        if endpoint.startswith("inproc://"):
            return False
        return self.on_loopback or not cfg.is_loopback_endpoint(endpoint)


def link_secret(config: cfg.Config) -> LinkCurve | None:
    """Return the links' CurveZMQ settings, or None without a secret key file."""
    path = config.service.curve_secret_key_file
    if path is None:
        return None
    from streamconv.keys import read_secret_key

    return LinkCurve(read_secret_key(path), on_loopback=config.links.curve_on_loopback)


def link_gate(ctx: zmq.Context, secret: LinkCurve | None, endpoint: str) -> auth.Gate | None:
    """Start (or join) the ZAP gate a link bound on ``endpoint`` needs; None without CurveZMQ there.

    The caller binds the link after this, and gives the gate back with
    :func:`streamconv.auth.release` when it closes the link.
    """
    if secret is None or not secret.applies(endpoint):
        return None
    return auth.acquire(ctx, {"links": {secret.public}})


def _curve(sock: zmq.Socket, endpoint: str, secret: LinkCurve | None, *, server: bool) -> None:
    if secret is None or not secret.applies(endpoint):
        return
    if server:
        auth.curve_server(sock, secret.secret, "links")
    else:
        sock.curve_secretkey = secret.secret
        sock.curve_publickey = secret.public
        sock.curve_serverkey = secret.public


def bind_router(
    ctx: zmq.Context, endpoint: str, *, what: str, hwm: int, secret: LinkCurve | None = None
) -> zmq.Socket:
    """Bind a ROUTER socket for link ``what``; raise EndpointInUseError naming it if taken.

    With CurveZMQ on this endpoint only the roles' own key gets in, decided by the
    :class:`streamconv.auth.Gate` the binding role runs on ``ctx``.
    """
    sock = ctx.socket(zmq.ROUTER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_LINK_MESSAGE_BYTES)
        _curve(sock, endpoint, secret, server=True)
        bind_with_grace(sock, endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        if exc.errno == errno.EADDRINUSE:
            raise EndpointInUseError(
                errno.EADDRINUSE, f"cannot bind {what} {endpoint}: address already in use"
            ) from None
        raise OSError(exc.errno, f"cannot bind {what} {endpoint}: {exc.strerror}") from None
    return sock


def connect_dealer(
    ctx: zmq.Context, endpoint: str, *, identity: str, hwm: int, secret: LinkCurve | None = None
) -> zmq.Socket:
    """Connect a DEALER socket with ``identity`` to a link (it reconnects by itself)."""
    sock = ctx.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 50)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_LINK_MESSAGE_BYTES)
        sock.setsockopt(zmq.ROUTING_ID, identity.encode("utf-8"))
        _curve(sock, endpoint, secret, server=False)
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise OSError(exc.errno, f"cannot connect to {endpoint}: {exc.strerror}") from None
    return sock


def send(sock: zmq.Socket, frames: list[Any], *, identity: bytes | None = None) -> bool:
    """Send without blocking; return False when the peer is gone or its queue is full."""
    parts = frames if identity is None else [identity, *frames]
    copy = not worth_zero_copy(parts[-1])
    try:
        sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=copy)
        return True
    except zmq.Again:
        return False
    except zmq.ZMQError as exc:
        if exc.errno in (zmq.EHOSTUNREACH, errno.EHOSTUNREACH):
            return False
        raise

