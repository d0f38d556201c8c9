"""ControlServer over real ZeroMQ sockets (inproc): order, deadlines, the pending bound, errors."""

from __future__ import annotations

import json
import threading
import time

import pytest
import zmq

from streamconv.roles.control_server import MAX_PENDING, ControlServer, Slow


class _Harness:
    """A ControlServer on a ROUTER, served by a thread that turns like the publisher's loop."""

    def __init__(self, handle, **kw) -> None:
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        ControlServer.configure(self.router)
        self.endpoint = f"inproc://control-{id(self)}"
        self.router.bind(self.endpoint)
        self.errors = 0
        self.server = ControlServer(self.router, handle, on_error=self._err, **kw)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _err(self) -> None:
        self.errors += 1

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        while not self.stop.is_set():
            if dict(poller.poll(5)):
                self.server.serve()
            self.server.finish()

    def client(self) -> zmq.Socket:
        s = self.ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.endpoint)
        return s

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.server.close()
        self.router.close(0)
        self.ctx.destroy(0)


def _ask(sock: zmq.Socket, payload: dict, timeout_s: float = 3.0) -> dict:
    sock.send(json.dumps(payload).encode())
    assert sock.poll(int(timeout_s * 1000)), "no reply"
    return json.loads(sock.recv())


@pytest.fixture
def state():
    return {"value": None, "applied": []}


def _handler(state):
    def handle(req):
        if req.get("cmd") == "ping":
            return {"pong": True}
        if req.get("cmd") == "boom":
            raise RuntimeError("a bug")
        if req.get("cmd") == "set":
            delay = req["delay"]

            def prepare():
                time.sleep(delay)
                return req["value"]

            def apply(v):
                state["value"] = v
                state["applied"].append(v)
                return {"value": v}

            return Slow(prepare, apply)
        raise ValueError(f"unknown cmd {req.get('cmd')!r}")
    return handle


def test_changes_apply_in_request_order_whichever_validates_first(state):
    h = _Harness(_handler(state))
    try:
        a, b = h.client(), h.client()
        a.send(json.dumps({"cmd": "set", "value": "A", "delay": 0.4}).encode())
        time.sleep(0.05)
        b.send(json.dumps({"cmd": "set", "value": "B", "delay": 0.0}).encode())
        assert a.poll(3000) and b.poll(3000)
        assert json.loads(a.recv())["value"] == "A" and json.loads(b.recv())["value"] == "B"
        assert state["applied"] == ["A", "B"] and state["value"] == "B"
        a.close(0)
        b.close(0)
    finally:
        h.close()


def test_a_slow_request_past_its_deadline_is_answered_and_never_applied(state):
    h = _Harness(_handler(state), deadline_s=0.3)
    try:
        c = h.client()
        t0 = time.monotonic()
        reply = _ask(c, {"cmd": "set", "value": "late", "delay": 1.0})
        took = time.monotonic() - t0
        assert reply["ok"] is False and "longer than 0.3 s" in reply["error"] and 0.25 < took < 0.9
        assert _ask(c, {"cmd": "ping"})["pong"] is True  # the loop still serves
        time.sleep(1.0)  # the late result arrives now, and is discarded
        assert state["applied"] == [] and h.errors == 1
        c.close(0)
    finally:
        h.close()


def test_more_than_max_pending_slow_requests_get_busy(state):
    h = _Harness(_handler(state), deadline_s=5.0)
    try:
        clients = [h.client() for _ in range(MAX_PENDING + 3)]
        for c in clients:
            c.send(json.dumps({"cmd": "set", "value": 1, "delay": 0.5}).encode())
        replies = []
        for c in clients:
            assert c.poll(10_000)
            replies.append(json.loads(c.recv()))
            c.close(0)
        busy = [r for r in replies if not r["ok"]]
        assert len(busy) == 3 and all(r["error"].startswith("busy") for r in busy)
        assert len(state["applied"]) == MAX_PENDING
    finally:
        h.close()


def test_handler_errors_become_replies_and_are_counted(state):
    h = _Harness(_handler(state))
    try:
        c = h.client()
        assert _ask(c, {"cmd": "nope"}) == {"ok": False, "error": "unknown cmd 'nope'"}
        boom = _ask(c, {"cmd": "boom"})
        assert boom["ok"] is False and "internal error (RuntimeError: a bug)" in boom["error"]
        c.send_multipart([b"{}", b"{}"])
        assert c.poll(3000) and "one JSON frame, got 2" in json.loads(c.recv())["error"]
        assert _ask(c, {"cmd": "ping"}) == {"ok": True, "pong": True}
        assert h.errors == 3
        c.close(0)
    finally:
        h.close()


def test_a_dealer_without_the_empty_delimiter_is_answered_too(state):
    h = _Harness(_handler(state))
    try:
        d = h.ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.connect(h.endpoint)
        d.send(b'{"cmd": "ping"}')
        assert d.poll(3000) and json.loads(d.recv()) == {"ok": True, "pong": True}
        d.close(0)
    finally:
        h.close()
