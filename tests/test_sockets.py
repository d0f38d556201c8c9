"""Publishing socket roles: binding, endpoint resolution, bind conflicts, the XPUB handshake."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import zmq

from streamconv import wire
from streamconv.client import Subscriber
from streamconv.errors import StreamconvError
from streamconv.sockets import EndpointInUseError, Publisher, XPublisher, connectable_endpoint

_ids = itertools.count()


def inproc(name):
    return f"inproc://test-sockets-{name}-{next(_ids)}"


@pytest.mark.parametrize("role", [Publisher, XPublisher])
def test_random_tcp_port_resolves_to_a_connectable_endpoint(role):
    for endpoint in ("tcp://127.0.0.1:0", "tcp://*:0"):
        with role(endpoint) as pub:
            host, port = pub.bound_endpoint.rsplit(":", 1)
            assert host == "tcp://127.0.0.1" and int(port) > 0
            assert pub.endpoint == endpoint


@pytest.mark.parametrize("role", [Publisher, XPublisher])
def test_tcp_bind_conflict_raises_endpoint_in_use_naming_the_endpoint(role):
    with Publisher("tcp://127.0.0.1:0") as first:
        with pytest.raises(EndpointInUseError) as info:
            role(first.bound_endpoint)
    assert first.bound_endpoint in str(info.value)
    assert "already in use" in str(info.value)
    assert isinstance(info.value, OSError)


def test_inproc_bind_conflict_raises_endpoint_in_use():
    endpoint = inproc("conflict")
    with Publisher(endpoint), pytest.raises(EndpointInUseError, match=re.escape(endpoint)):
        Publisher(endpoint)


def test_invalid_endpoint_raises_os_error_naming_it():
    with pytest.raises(OSError, match="cannot bind nonsense://x"):
        Publisher("nonsense://x")


def test_close_is_idempotent_and_frees_the_endpoint():
    endpoint = inproc("close")
    pub = Publisher(endpoint)
    with pub:
        assert not pub.closed
    assert pub.closed
    pub.close()
    with Publisher(endpoint) as again:  # the endpoint is free again
        assert again.bound_endpoint == endpoint
    assert "closed" in repr(pub)


def test_options_are_set_explicitly():
    with Publisher(inproc("opts"), sndhwm=123, linger_ms=7) as pub:
        assert pub._socket.getsockopt(zmq.SNDHWM) == 123
        assert pub._socket.getsockopt(zmq.LINGER) == 7


def test_xpub_handshake_then_nothing_is_lost():
    endpoint = inproc("handshake")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, ["laser/"], timeout=5) as sub:
        assert pub.wait_for_subscriber(timeout=5) == "laser/"
        epoch = wire.new_epoch()
        for seq in range(5):
            pub.send_message(
                "laser/raw",
                np.full(3, seq, "<i4"),
                stream="laser",
                kind="samples",
                epoch=epoch,
                seq=seq,
                t_capture_ns=0,
            )
        got = [sub.recv() for _ in range(5)]
    assert [m.seq for m in got] == [0, 1, 2, 3, 4]
    assert got[0].array.tolist() == [0, 0, 0]
    assert sub.gaps == 0


def test_xpub_waits_for_a_specific_topic():
    endpoint = inproc("topic")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, ["a/", "b/"], timeout=5):
        assert pub.wait_for_subscriber(timeout=5, topic="b/") == "b/"


def test_xpub_wait_timeout_names_the_endpoint():
    with XPublisher("tcp://127.0.0.1:0") as pub:
        with pytest.raises(
            TimeoutError, match=re.escape(f"no subscription on {pub.bound_endpoint} within 0.05 s")
        ):
            pub.wait_for_subscriber(timeout=0.05)


def test_publisher_send_accepts_prebuilt_frames():
    endpoint = inproc("frames")
    with XPublisher(endpoint) as pub, Subscriber(endpoint, timeout=5) as sub:
        pub.wait_for_subscriber(timeout=5)
        pub.send(wire.encode_stats({"uptime_s": 1.0}, epoch="e", seq=0, t_ns=1), copy=True)
        msg = sub.recv()
    assert msg.topic == "_stats" and msg.meta == {"uptime_s": 1.0}


def test_connectable_endpoint():
    assert connectable_endpoint("tcp://*:5555") == "tcp://127.0.0.1:5555"
    assert connectable_endpoint("tcp://0.0.0.0:1") == "tcp://127.0.0.1:1"
    assert connectable_endpoint("tcp://10.0.0.2:1") == "tcp://10.0.0.2:1"
    assert connectable_endpoint("inproc://x") == "inproc://x"


def test_a_closed_publishers_tcp_port_can_be_bound_again_at_once():
    for _ in range(20):  # ZeroMQ releases the port asynchronously; the bind grace covers the race
        with Publisher("tcp://127.0.0.1:0") as first:
            endpoint = first.bound_endpoint
        with Publisher(endpoint) as again:
            assert again.bound_endpoint == endpoint


def test_curve_publisher_serves_only_subscribers_that_know_its_key():
    public, secret = zmq.curve_keypair()
    with XPublisher("tcp://127.0.0.1:0", curve_secret_key=secret.decode()) as pub:
        assert pub.curve_public_key == public
        with Subscriber(pub.bound_endpoint, ["a/"], timeout=5) as plain:
            with pytest.raises(TimeoutError):  # the CURVE handshake fails: no subscription arrives
                pub.wait_for_subscriber(timeout=0.2)
            assert plain.received == 0
        with Subscriber(pub.bound_endpoint, ["a/"], timeout=5, curve_server_key=pub.curve_public_key) as sub:
            assert pub.wait_for_subscriber(timeout=5) == "a/"
            pub.send_message(
                "a/b", np.arange(3.0), stream="a", kind="samples", epoch="e", seq=0, t_capture_ns=0
            )
            assert sub.recv().array.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(("key", "problem"), [("short", "5 characters"), ("~" * 40, "not Z85")])
def test_invalid_curve_keys_are_named(key, problem):
    with pytest.raises(StreamconvError, match=f"invalid curve_secret_key: {problem}"):
        Publisher(inproc("curve"), curve_secret_key=key)
    with pytest.raises(StreamconvError, match=f"invalid curve_server_key: {problem}"):
        Subscriber(inproc("curve"), curve_server_key=key)
