"""The bridge in process, with a fake control socket: channels, parameters, the send buffer."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from streamconv.bridge.foxglove import SEND_BUFFER, FoxgloveBridge
from streamconv.wire import Header, Message

STATUS = {"streams": {"camera": {"outputs": {"sharpen": [
    {"kind": "kernel2d", "kernel": "sharpen", "params": {}, "padding": "same", "stride": 1,
     "border": "zero"}]}}}}


class FakeDaemon:
    """Answers ``status`` and ``set`` like the daemon's control socket (``set`` may refuse)."""

    def __init__(self) -> None:
        self.status = copy.deepcopy(STATUS)
        self.sets: list[dict[str, Any]] = []
        self.refuse: str | None = None

    def __call__(self, payload: dict[str, Any], endpoint: str, *, timeout: float) -> dict[str, Any]:
        if payload["cmd"] == "status":
            return {"ok": True, "status": copy.deepcopy(self.status)}
        self.sets.append(payload)
        if self.refuse:
            return {"ok": False, "error": self.refuse}
        stream, output = payload["topic"].split("/")
        self.status["streams"][stream]["outputs"][output] = payload["stages"]
        return {"ok": True}


@pytest.fixture
def bridge_and_daemon() -> Any:
    fake = FakeDaemon()
    bridge = FoxgloveBridge("tcp://127.0.0.1:1", port=0, request=fake)
    try:
        yield bridge, fake
    finally:
        bridge.stop()


def _values(params: list[Any]) -> dict[str, Any]:
    return {p.name: p.get_value() for p in params}


def test_the_send_buffer_of_the_listening_socket_is_set(bridge_and_daemon) -> None:
    bridge, _ = bridge_and_daemon
    assert bridge.send_buffer is not None and bridge.send_buffer >= SEND_BUFFER  # Linux doubles it


def test_a_topic_is_advertised_but_not_encoded_while_nobody_watches(bridge_and_daemon) -> None:
    bridge, _ = bridge_and_daemon
    h = Header(v=1, stream="camera", kind="frame", seq=0, epoch="e", t_capture_ns=1, dtype="<f4",
               shape=[4, 4, 3], meta={})
    bridge.write(Message("camera/edges", h, np.zeros((4, 4, 3), np.float32)))
    assert bridge.channels() == ["viz/camera/edges/bgr8"]
    assert (bridge.unwatched, bridge.logged) == (1, 0)


def test_set_parameters_sends_a_set_and_returns_the_new_values(bridge_and_daemon) -> None:
    bridge, fake = bridge_and_daemon
    got = _values(bridge.set_parameters({"camera/sharpen.kernel": "box", "camera/sharpen.size": 5}))
    assert got["camera/sharpen.kernel"] == "box" and got["camera/sharpen.size"] == 5
    assert fake.sets[-1]["stages"][0]["params"] == {"size": 5}
    assert _values(bridge.get_parameters(["camera/sharpen.size"])) == {"camera/sharpen.size": 5}


def test_a_refused_or_bad_change_keeps_the_values(bridge_and_daemon) -> None:
    bridge, fake = bridge_and_daemon
    fake.refuse = "stages.0: no"
    got = _values(bridge.set_parameters({"camera/sharpen.kernel": "box"}))
    assert got["camera/sharpen.kernel"] == "sharpen" and bridge.errors == 1
    assert _values(bridge.set_parameters({"camera/sharpen.stride": 0})) == {"camera/sharpen.stride": 1}
    assert len(fake.sets) == 1 and bridge.errors == 2  # the bad stride never reached the daemon


def _frame(topic: str, dtype: str, shape: list[int]) -> Message:
    h = Header(v=1, stream=topic.split("/")[0], kind="frame", seq=0, epoch="e", t_capture_ns=1,
               dtype=dtype, shape=shape, meta={})
    return Message(topic, h, np.zeros(shape, np.dtype(dtype)))


def test_a_removed_output_or_a_changed_dtype_unadvertises_the_old_channel(bridge_and_daemon) -> None:
    bridge, fake = bridge_and_daemon
    assert bridge.refresh()
    bridge.write(_frame("camera/sharpen", "|u1", [4, 4, 3]))
    assert bridge.channels() == ["viz/camera/sharpen"]
    bridge.write(_frame("camera/sharpen", "<f4", [4, 4, 3]))  # now float: its bgr8 twin
    assert bridge.channels() == ["viz/camera/sharpen/bgr8"]
    del fake.status["streams"]["camera"]["outputs"]["sharpen"]  # ctl remove
    assert bridge.refresh()
    assert bridge.channels() == []
