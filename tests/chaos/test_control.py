"""Hostile control requests: none crashes the daemon, none blocks the socket, every one is answered.

Each request goes to a running daemon (real process, real sockets); after each, the daemon must
still answer ``ping`` and keep publishing.  The bad requests are counted in ``control_errors``
exactly.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import numpy as np
import pytest

from streamconv import limits
from streamconv.client import Subscriber
from tests.chaos.conftest import alive, raw_request, report
from tests.service.conftest import daemon_config, free_port, start_daemon

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _set(topic: str, stage: dict) -> bytes:
    return json.dumps({"cmd": "set", "topic": topic, "stages": stage}).encode()


def _k(**kw) -> dict:
    return {"kind": "kernel2d", **kw}


def hostile_requests(tmp: Path) -> dict[str, list[bytes]]:
    """Requests that broke or blocked the daemon before, and their neighbours."""
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    (tmp / "dir.npy").mkdir()
    big = tmp / "big.npy"
    with big.open("wb") as f:  # a valid .npy header promising more than the limit
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (1024, 3, 63, 63)})
        f.truncate(limits.MAX_BANK_FILE_BYTES + 1)
    wide = tmp / "wide.npy"
    np.save(wide, np.zeros((limits.MAX_BANK_FILTERS + 1, 3, 1, 1)))
    (tmp / "text.npy").write_text("not numpy")
    os.symlink(fifo, tmp / "link.npy")
    noread = tmp / "noread.npy"
    np.save(noread, np.ones((1, 3, 1, 1)))
    noread.chmod(0)
    deep = 100_000
    reqs: dict[str, list[bytes]] = {
        "empty": [b""],
        "not utf-8": [b"\xff\xfe\xfd"],
        "not json": [b"{cmd: ping"],
        "two frames": [b'{"cmd":"ping"}', b"{}"],
        "three frames": [b"a", b"b", b"c"],
        "array": [b"[1, 2, 3]"],
        "string": [b'"ping"'],
        "number": [b"42"],
        "null": [b"null"],
        "cmd not a string": [b'{"cmd": ["ping"]}'],
        "unknown cmd": [b'{"cmd": "reboot"}'],
        "topic not a string": [b'{"cmd": "set", "topic": 7, "stages": {}}'],
        "topic without slash": [_set("camera", _k(kernel="blur"))],
        "unknown stream": [_set("nope/x", _k(kernel="blur"))],
        "raw is the source's": [_set("camera/raw", _k(kernel="blur"))],
        "stages missing": [b'{"cmd": "set", "topic": "camera/x"}'],
        "stages a number": [b'{"cmd": "set", "topic": "camera/x", "stages": 5}'],
        "nested 33": [b'{"cmd": "set", "topic": "camera/x", "stages": ' + b"[" * 32 + b"]" * 32 + b"}"],
        "nested 100000 arrays": [b"[" * deep + b"]" * deep],
        "nested 100000 objects": [b'{"a":' * deep + b"1" + b"}" * deep],
        "integer of 5000 digits": [b'{"cmd": "ping", "x": ' + b"9" * 5000 + b"}"],
        "integer 2**60": [b'{"cmd": "set", "topic": "camera/x", "stages": {"kind": "kernel2d", '
                          b'"kernel": "box", "params": {"size": 1152921504606846977}}}'],
        "float 1e400": [b'{"cmd": "ping", "x": 1e400}'],
        "NaN": [b'{"cmd": "ping", "x": NaN}'],
        "-Infinity": [b'{"cmd": "ping", "x": -Infinity}'],
        "over 1 MiB": [b'{"cmd": "ping", "pad": "' + b"x" * limits.MAX_CONTROL_BYTES + b'"}'],
        "4 MiB": [b" " * (4 << 20)],
        "unterminated escaped quotes": [b'"' + b'\\"' * (limits.MAX_CONTROL_BYTES // 2 - 8)],
        "size 99999": [_set("camera/x", _k(kernel="box", params={"size": 99999}))],
        "size 257": [_set("camera/x", _k(kernel="gaussian", params={"size": 257}))],
        "size even": [_set("camera/x", _k(kernel="box", params={"size": 4}))],
        "size a string": [_set("camera/x", _k(kernel="box", params={"size": "9"}))],
        "sigma 1e308": [_set("camera/x", _k(kernel="gaussian", params={"sigma": 1e308}))],
        "sigma 1e-308": [_set("camera/x", _k(kernel="gaussian", params={"sigma": 1e-308}))],
        "sigma 0": [_set("camera/x", _k(kernel="gaussian", params={"sigma": 0}))],
        "matrix 300x300": [_set("camera/x", _k(kernel=[[0.0] * 300] * 300))],
        "matrix ragged": [_set("camera/x", _k(kernel=[[1.0, 2.0], [3.0]], padding="valid"))],
        "padding 10**6": [_set("camera/x", _k(kernel="blur", padding=10**6))],
        "stride 10**6": [_set("camera/x", _k(kernel="blur", stride=10**6))],
        "threads 10**6": [_set("camera/x", _k(kernel="blur", threads=10**6))],
        "kernel over the frame": [_set("camera/x", _k(kernel="box", params={"size": 201}, padding="valid"))],
        "output over the byte limit": [_set("camera/x", {"kind": "bank3d", "padding": 1024,
                                                        "filters": [[[[1.0]]] * 3] * 256})],
        "bank K=257": [_set("camera/x", {"kind": "bank3d", "filters": [[[[1.0]]] * 3] * 257})],
        "weights 5000 taps": [_set("laser/x", {"kind": "causal_fir", "weights": [0.1] * 5000})],
        "temporal 65 taps": [_set("camera/x", {"kind": "temporal", "weights": [0.1] * 65})],
        "frame stage on samples": [_set("laser/x", _k(kernel="blur"))],
    }
    for name, path in [("fifo", fifo), ("directory", tmp / "dir.npy"), ("/dev/zero", Path("/dev/zero")),
                       ("/dev/stdin", Path("/dev/stdin")), ("over 64 MiB", big), ("K over the limit", wide),
                       ("not numpy", tmp / "text.npy"), ("symlink to a fifo", tmp / "link.npy"),
                       ("missing", tmp / "missing.npy"), ("/proc/self/mem", Path("/proc/self/mem"))]:
        reqs[f"bank file: {name}"] = [_set("camera/x", {"kind": "bank3d", "file": str(path)})]
    if os.geteuid() != 0:  # root reads a mode-0 file anyway
        reqs["bank file: unreadable"] = [_set("camera/x", {"kind": "bank3d", "file": str(noread)})]
    return reqs


def random_requests(n: int, seed: int = 0) -> list[bytes]:
    """Random JSON documents of random shapes, types and sizes (all invalid as requests)."""
    rng = random.Random(seed)
    atoms = [None, True, False, 0, -1, 2**53, 2**53 + 1, 1e308, -1e-308, "", "x" * 1000, "camera/x", "ping"]

    def value(depth: int):
        r = rng.random()
        if depth > 40 or r < 0.4:
            return rng.choice(atoms)
        if r < 0.7:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice(["cmd", "topic", "stages", "kind", "kernel", "size", "k"]): value(depth + 1)
                for _ in range(rng.randint(0, 3))}

    out = []
    for _ in range(n):
        doc = {"cmd": rng.choice(["set", "remove", "status", 5, None]), "topic": value(0), "stages": value(0)}
        if doc["cmd"] == "status":  # status with junk fields is a valid request: make it invalid
            doc["cmd"] = "stat"
        out.append(json.dumps(doc).encode())
    return out


def test_hostile_and_random_requests_are_all_answered_and_counted(tmp_path: Path):
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port()))
    try:
        reqs = hostile_requests(tmp_path)
        errors = 0
        slowest = 0.0
        randoms = [(f"random {i}", [r]) for i, r in enumerate(random_requests(150))]
        for name, frames in [*reqs.items(), *randoms]:
            t0 = time.monotonic()
            reply = raw_request(d.control, frames, timeout=3.0)
            slowest = max(slowest, time.monotonic() - t0)
            assert alive(d), (name, d.log()[-3000:])
            assert reply is not None, f"{name}: no reply within 3 s"
            body = json.loads(reply)
            assert body["ok"] is False and body["error"], (name, body)
            assert "\n" not in body["error"] and len(body["error"]) < 2000, (name, body["error"])
            assert "internal error" not in body["error"], (name, body["error"])
            errors += 1
            assert json.loads(raw_request(d.control, [b'{"cmd": "ping"}']))["pong"] is True, name
        status = d.request({"cmd": "status"})["status"]
        assert status["control_errors"] == errors  # every bad request counted, no more
        assert slowest < 2.5
        report("hostile control requests", requests=errors, hostile=len(reqs), crashes=0, answered=errors,
               slowest_reply_s=slowest)
        # and the daemon still publishes every stream
        with Subscriber(d.publish, ["laser/smoothed", "camera/sharpen"], timeout=5) as sub:
            topics = {sub.recv().topic for _ in range(60)}
        assert topics == {"laser/smoothed", "camera/sharpen"}
    finally:
        d.stop()


def test_limit_messages_name_the_field_and_the_limit(tmp_path: Path):
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), laser=False))
    try:
        cases = {
            "size 99999": (_k(kernel="box", params={"size": 99999}), "size 99999", "255"),
            "sigma": (_k(kernel="gaussian", params={"sigma": 1e308}), "sigma", "10000"),
            "padding": ({"kind": "kernel2d", "kernel": "blur", "padding": 5000}, "padding", "1024"),
            "stride": ({"kind": "kernel2d", "kernel": "blur", "stride": 5000}, "stride", "1024"),
            "bank K": ({"kind": "bank3d", "filters": [[[[1.0]]] * 3] * 300}, "K=300", "256"),
        }
        for name, (stage, field, limit) in cases.items():
            reply = d.request({"cmd": "set", "topic": "camera/x", "stages": stage})
            assert reply["ok"] is False, name
            assert field in reply["error"] and limit in reply["error"], (name, reply["error"])
    finally:
        d.stop()


def test_a_slow_stage_never_delays_control_replies(tmp_path: Path):
    """A 255x255 general kernel on 640x480 takes the worker ~1 s a frame; control answers at once."""
    d = start_daemon(tmp_path, daemon_config(free_port(), free_port(), width=640, height=480, fps=30))
    try:
        k = np.random.default_rng(0).standard_normal((255, 255)).round(3).tolist()
        t0 = time.monotonic()
        reply = d.request({"cmd": "set", "topic": "camera/sharpen",
                           "stages": {"kind": "kernel2d", "kernel": k}}, timeout=3)
        assert reply["ok"] is True, reply
        assert time.monotonic() - t0 < 2.0
        with Subscriber(d.publish, ["camera/sharpen"], timeout=20) as sub:
            m = sub.recv()  # the busy stage runs
            assert m.meta["filter"][0]["kernel_shape"] == [255, 255]
            worst = 0.0
            for i in range(20):
                t0 = time.monotonic()
                if i % 2:
                    r = d.request({"cmd": "status"}, timeout=2)
                else:
                    box = _k(kernel="box", params={"size": 3 + 2 * i})
                    r = d.request({"cmd": "set", "topic": "camera/edges", "stages": box}, timeout=2)
                worst = max(worst, time.monotonic() - t0)
                assert r["ok"] is True, r
        assert worst < 1.0, worst
        report("control under a busy stage", requests=20, worst_reply_s=worst)
    finally:
        d.stop()
