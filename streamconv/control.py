"""Client side of the control socket: one JSON request, one JSON reply."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import zmq

from streamconv.errors import StreamconvError

__all__ = ["DEFAULT_CONTROL", "request"]

DEFAULT_CONTROL = "tcp://127.0.0.1:5556"


def request(
    payload: dict[str, Any],
    endpoint: str = DEFAULT_CONTROL,
    *,
    timeout: float = 3.0,
    curve_server_key: bytes | None = None,
    curve_secret_key: bytes | str | None = None,
) -> dict[str, Any]:
    """Send one control request and return the daemon's reply.

    Parameters
    ----------
    payload : dict
        The request, e.g. ``{"cmd": "ping"}``.
    endpoint : str
        The daemon's control endpoint (``tcp://HOST:PORT``, ``ipc://PATH`` or ``inproc://NAME``).
    timeout : float
        Seconds to wait for the reply: a finite number > 0.
    curve_server_key : bytes, optional
        The daemon's Z85 public key when it runs CurveZMQ.
    curve_secret_key : bytes or str, optional
        The client's own Z85 secret key (with ``curve_server_key``).

    With ``curve_server_key`` (the daemon's public key) the request runs CurveZMQ with the
    client's own ``curve_secret_key`` (Z85), whose public half the daemon must admit
    (``service.curve_public_keys_dir``); without one, with a fresh key pair that an authenticating
    daemon refuses, so the request times out.

    Raises
    ------
    TimeoutError
        When no reply arrives within ``timeout`` seconds (the daemon is not running there).
    StreamconvError
        A ``timeout`` that is not a finite number > 0, or an ``endpoint`` ZeroMQ cannot connect
        to (an unknown transport, no port); the message names it.

    Examples
    --------
    ``request({"cmd": "set", "topic": "camera/sharpen", "stages": {"kind": "kernel2d", "kernel": "blur"}})``
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
        math.isfinite(timeout) and timeout > 0
    ):
        raise StreamconvError(f"invalid timeout {timeout!r}; expected a finite number of seconds > 0")
    client_key = None
    if curve_secret_key is not None:
        from streamconv.sockets import z85_key

        if curve_server_key is None:
            raise ValueError("curve_secret_key needs curve_server_key (the daemon's public key)")
        client_key = z85_key("curve_secret_key", curve_secret_key)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    if curve_server_key is not None:  # the daemon runs CurveZMQ: talk to it with our key pair
        if client_key is None:
            public, secret = zmq.curve_keypair()
        else:
            public, secret = zmq.curve_public(client_key), client_key
        sock.curve_serverkey = curve_server_key
        sock.curve_publickey = public
        sock.curve_secretkey = secret
    try:
        try:
            sock.connect(endpoint)
        except zmq.ZMQError as exc:
            raise StreamconvError(
                f"invalid control endpoint {endpoint!r}: {exc.strerror}; expected tcp://HOST:PORT, "
                "ipc://PATH or inproc://NAME"
            ) from None
        sock.send(json.dumps(payload).encode())
        deadline = time.monotonic() + timeout
        while not sock.poll(_poll_ms(deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no reply from the control endpoint {endpoint} within {timeout} s")
        return json.loads(sock.recv())
    finally:
        sock.close(linger=0)


def _poll_ms(remaining_s: float) -> int:
    """Return a poll timeout in ms for ``remaining_s``: at least 0, at most one second at a time."""
    return max(0, min(math.ceil(remaining_s * 1000), 1000))
