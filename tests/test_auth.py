"""streamconv.auth in one process: the ZAP gate admits listed keys, counts refusals, fails closed."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from streamconv import auth
from streamconv.client import Subscriber
from streamconv.errors import StreamconvError
from streamconv.sockets import XPublisher


def _send_until(pub: XPublisher, sub: Subscriber, timeout: float = 5.0):
    """Publish seq 0, 1, ... until ``sub`` receives one (the subscription travels meanwhile)."""
    deadline = time.monotonic() + timeout
    seq = 0
    while True:
        pub.send_message("a/b", np.zeros(2), stream="a", kind="samples", epoch="e", seq=seq, t_capture_ns=0)
        seq += 1
        try:
            return sub.recv(timeout=0.05)
        except TimeoutError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"nothing arrived within {timeout} s") from None


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    auth.stop(c)
    c.destroy(linger=0)


def test_the_gate_admits_listed_keys_and_counts_each_refusal_once(ctx):
    server_public, server_secret = zmq.curve_keypair()
    alice_public, alice_secret = zmq.curve_keypair()
    _mallory_public, mallory_secret = zmq.curve_keypair()
    gate = auth.acquire(ctx, {"streams": {alice_public}})
    try:
        with XPublisher("tcp://127.0.0.1:0", context=ctx, curve_secret_key=server_secret,
                        zap_domain="streams") as pub:
            with Subscriber(pub.bound_endpoint, ["a/"], curve_server_key=server_public,
                            curve_secret_key=alice_secret) as alice:
                assert _send_until(pub, alice).topic == "a/b"
            for _ in range(2):
                with Subscriber(pub.bound_endpoint, ["a/"], curve_server_key=server_public,
                                curve_secret_key=mallory_secret) as mallory:
                    with pytest.raises(TimeoutError):
                        _send_until(pub, mallory, timeout=1.0)
                    assert mallory.received == 0
        assert gate.counts() == {"admitted": {"streams": 1}, "denied": {"streams": 2}}
    finally:
        auth.release(gate)


def test_without_a_gate_nobody_gets_in(ctx):
    """ZMQ_ZAP_ENFORCE_DOMAIN: a CURVE server of a domain fails closed, not open."""
    server_public, server_secret = zmq.curve_keypair()
    _alice_public, alice_secret = zmq.curve_keypair()
    with XPublisher("tcp://127.0.0.1:0", context=ctx, curve_secret_key=server_secret,
                    zap_domain="streams") as pub:
        with Subscriber(pub.bound_endpoint, ["a/"], curve_server_key=server_public,
                        curve_secret_key=alice_secret) as alice, pytest.raises(TimeoutError):
            _send_until(pub, alice, timeout=1.0)


def test_roles_of_one_context_share_one_gate_and_must_agree(ctx):
    a, b = zmq.curve_keypair()[0], zmq.curve_keypair()[0]
    first = auth.acquire(ctx, {"streams": {a}, "control": {a}})
    second = auth.acquire(ctx, {"links": {b}})  # another domain: joins the running gate
    assert second is first and first.users == 2 and first.is_alive()
    with pytest.raises(StreamconvError, match="the streams ZAP domain of this context already admits"):
        auth.acquire(ctx, {"streams": {b}})
    auth.release(second)
    assert first.is_alive()
    auth.release(first)
    assert not first.is_alive()
    third = auth.acquire(ctx, {"streams": {b}})  # after the last release: a fresh gate
    assert third is not first
    auth.release(third)


def test_invalid_domain_and_key_arguments_are_named():
    with pytest.raises(StreamconvError, match=r"invalid ZAP domain 'stream'; expected one of \['streams'"):
        auth.curve_server(zmq.Context.instance().socket(zmq.REP), zmq.curve_keypair()[1], "stream")
    with pytest.raises(ValueError, match="curve_secret_key needs curve_server_key"):
        Subscriber("inproc://auth-none", curve_secret_key=zmq.curve_keypair()[1])
    with pytest.raises(StreamconvError, match="invalid curve_secret_key: 3 characters"):
        Subscriber("inproc://auth-none", curve_server_key=zmq.curve_keypair()[0], curve_secret_key="abc")
