"""Client side of the control socket: one JSON request, one JSON reply."""

from __future__ import annotations

import json
from typing import Any

import zmq

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

    With ``curve_server_key`` (the daemon's public key) the request runs CurveZMQ with the
    client's own ``curve_secret_key`` (Z85), whose public half the daemon must admit
    (``service.curve_public_keys_dir``); without one, with a fresh key pair that an authenticating
    daemon refuses, so the request times out.

    Raises
    ------
    TimeoutError
        When no reply arrives within ``timeout`` seconds (the daemon is not running there).

    Examples
    --------
    ``request({"cmd": "set", "topic": "camera/sharpen", "stages": {"kind": "kernel2d", "kernel": "blur"}})``
    """
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
        sock.connect(endpoint)
        sock.send(json.dumps(payload).encode())
        if not sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply from the control endpoint {endpoint} within {timeout} s")
        return json.loads(sock.recv())
    finally:
        sock.close(linger=0)
