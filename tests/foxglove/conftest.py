"""Fixtures: a real daemon, a real ``streamconv foxglove`` subprocess, and a plain WebSocket client.

The client speaks the Foxglove WebSocket protocol from its spec (foxglove/ws-protocol
``docs/spec.md``), with nothing of foxglove-sdk: JSON ops as text messages, ``messageData`` as
binary (opcode 0x01, uint32 LE subscription id, uint64 LE log time, payload).  foxglove-sdk
names the subprotocol ``foxglove.sdk.v1`` (the same messages as ``foxglove.websocket.v1``).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests._process import terminate
from tests.service import conftest as service_conftest
from tests.service.conftest import Daemon, free_port

pytest.importorskip("foxglove", reason="pip install 'streamconv[record]'")
pytest.importorskip("websockets", reason="pip install websockets")

from websockets.sync.client import ClientConnection, connect

#: The daemon fixture of the service tests (a real daemon on free loopback ports).
daemon = service_conftest.daemon

SUBPROTOCOL = "foxglove.sdk.v1"
LEGACY_SUBPROTOCOL = "foxglove.websocket.v1"
MESSAGE_DATA = 0x01


@dataclass
class Fox:
    proc: subprocess.Popen
    url: str
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_foxglove(tmp_path: Path, *args: str) -> subprocess.Popen:
    log_path = tmp_path / f"fox-{time.monotonic_ns()}.log"
    with log_path.open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "streamconv", "foxglove", *args], stdout=log,
                                stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def start_fox(tmp_path: Path, daemon: Daemon, *extra: str) -> Fox:
    """Start ``streamconv foxglove`` against ``daemon``; wait (at most 15 s) until it accepts a client."""
    port = free_port()
    log_path = tmp_path / f"fox-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamconv", "foxglove", "--listen", f"127.0.0.1:{port}",
             "--endpoint", daemon.publish, "--control", daemon.control, "--log-level", "info", *extra],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    fox = Fox(proc, f"ws://127.0.0.1:{port}", port, log_path)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"foxglove exited early ({proc.returncode}):\n{fox.log()}")
        try:
            with connect(fox.url, subprotocols=[SUBPROTOCOL], open_timeout=1):
                return fox
        except (OSError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"foxglove did not accept a client within 15 s:\n{fox.log()}")
        time.sleep(0.2)


def stop_fox(fox: Fox) -> None:
    terminate(fox.proc)


@pytest.fixture
def fox(tmp_path: Path, daemon: Daemon) -> Iterator[Fox]:
    f = start_fox(tmp_path, daemon)
    try:
        yield f
    finally:
        stop_fox(f)


@dataclass
class Probe:
    """A protocol client on a ``websockets`` connection: what the server said, by op."""

    ws: ClientConnection
    server_info: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # by topic
    json_ops: list[dict[str, Any]] = field(default_factory=list)
    next_sub: int = 1

    def recv(self, timeout: float) -> tuple[int, int, bytes] | dict[str, Any] | None:
        """Return the next message: ``(subscription id, log time, payload)`` or a JSON op; None on timeout."""
        try:
            m = self.ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        if isinstance(m, bytes):
            assert m[0] == MESSAGE_DATA, f"unexpected binary opcode {m[0]:#x}"
            sub, log_time = struct.unpack_from("<IQ", m, 1)
            return sub, log_time, m[13:]
        op = json.loads(m)
        if op["op"] == "serverInfo":
            self.server_info = op
        elif op["op"] == "advertise":
            for c in op["channels"]:
                self.channels[c["topic"]] = c
        elif op["op"] == "unadvertise":
            self.channels = {t: c for t, c in self.channels.items() if c["id"] not in op["channelIds"]}
        self.json_ops.append(op)
        return op

    def wait_channels(self, topics: list[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not all(t in self.channels for t in topics):
            assert time.monotonic() < deadline, f"not advertised in {timeout} s: {topics}; {self.channels}"
            self.recv(0.2)

    def subscribe(self, topic: str) -> int:
        sub = self.next_sub
        self.next_sub += 1
        self.ws.send(json.dumps({"op": "subscribe",
                                 "subscriptions": [{"id": sub, "channelId": self.channels[topic]["id"]}]}))
        return sub

    def request(self, op: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send ``op`` (with an ``id``) and return the ``parameterValues`` reply with that id."""
        self.ws.send(json.dumps(op))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.recv(0.2)
            if isinstance(m, dict) and m.get("op") == "parameterValues" and m.get("id") == op["id"]:
                return m
        raise AssertionError(f"no parameterValues for {op['id']} within {timeout} s")


@pytest.fixture
def probe(fox: Fox) -> Iterator[Probe]:
    with connect(fox.url, subprotocols=[SUBPROTOCOL], max_size=None, open_timeout=5, close_timeout=1) as ws:
        p = Probe(ws)
        p.recv(5)
        yield p


def decoder(channel: dict[str, Any]) -> Any:
    """Return the protobuf message class of an advertised channel (its base64 FileDescriptorSet)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    assert channel["encoding"] == "protobuf" and channel["schemaEncoding"] == "protobuf"
    fds = descriptor_pb2.FileDescriptorSet.FromString(base64.b64decode(channel["schema"]))
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(channel["schemaName"]))
