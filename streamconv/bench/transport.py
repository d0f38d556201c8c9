"""Transport benchmark: our wire (Publisher/Subscriber) vs imagezmq, 720p frames over tcp loopback.

Each contender is a sender subprocess that publishes the same 1280x720x3 uint8 frame as fast as it
can, and a receiver in this process that counts the frames it gets.  All senders are started up
front and paused (``SIGSTOP``); in each round every contender in turn is resumed, warmed up for a
moment, counted for a fixed window and paused again, in alternating order, so that a burst of load
from other processes hits every contender alike.  A ratio is the median of per-round ratios.

Contenders:

- ``ours``: :class:`streamconv.sockets.Publisher` + :func:`streamconv.wire.encode` (zero-copy send)
  and :class:`streamconv.client.Subscriber` (zero-copy receive: the array views the frame);
- ``ours_copy``: the same with ``copy=True`` on send and a copy of the array on receive;
- ``imagezmq_pubsub``: ``imagezmq`` in PUB/SUB mode (``send_image`` / ``recv_image``);
- ``imagezmq_reqrep``: ``imagezmq``'s default REQ/REP mode (one reply per frame, lock-step).

The PUB/SUB contenders all use the same small high-water marks (:data:`HWM` messages each side), so
an unthrottled sender cannot queue gigabytes; frames it sends while the receiver is busy are dropped
by ZeroMQ and only delivered frames count.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
import zmq

from streamconv.bench.procs import Proc, free_endpoints
from streamconv.bench.timing import table

__all__ = ["CONTENDERS", "report", "run"]

WIDTH, HEIGHT = 1280, 720
HWM = 4
TOPIC = "bench/frame"
CONTENDERS = ("ours", "ours_copy", "imagezmq_pubsub", "imagezmq_reqrep")

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"rounds": 5, "window_s": 2.0, "warm_s": 0.3},
    "quick": {"rounds": 1, "window_s": 1.2, "warm_s": 0.2},
    "smoke": {"rounds": 1, "window_s": 0.3, "warm_s": 0.05},
}


def bench_frame() -> np.ndarray:
    """Return the frame every sender sends (a pure function of a seed, so receivers can check it)."""
    return np.random.default_rng(7).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def _imagezmq() -> Any:
    import imagezmq

    return imagezmq


# -- senders (in their own process) ---------------------------------------------------------------
def _sender(kind: str, endpoint: str) -> None:
    img = bench_frame()
    if kind in ("ours", "ours_copy"):
        from streamconv import wire
        from streamconv.sockets import Publisher

        copy = kind == "ours_copy"
        epoch = wire.new_epoch()
        with Publisher(endpoint, sndhwm=HWM) as pub:
            seq = 0
            while True:
                frames = wire.encode(TOPIC, img, stream="bench", kind="frame", epoch=epoch, seq=seq,
                                     t_capture_ns=time.time_ns())
                pub.send(frames, copy=copy)
                seq += 1
    iz = _imagezmq()
    if kind == "imagezmq_pubsub":
        ctx = iz.imagezmq.SerializingContext()
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, HWM)  # before bind: the listener copies the options
        sock.bind(endpoint)
        sender = iz.ImageSender.__new__(iz.ImageSender)  # imagezmq's own send path on our socket
        sender.zmq_context, sender.zmq_socket = ctx, sock
        sender.send_image = sender.send_image_pubsub
        seq = 0
        while True:
            sender.send_image(str(seq), img)
            seq += 1
    if kind == "imagezmq_reqrep":
        sender = iz.ImageSender(connect_to=endpoint, REQ_REP=True)
        seq = 0
        while True:
            sender.send_image(str(seq), img)
            seq += 1
    raise SystemExit(f"unknown sender kind {kind!r}")


# -- receivers (here) -----------------------------------------------------------------------------
class _Receiver:
    """Receive one contender's frames; ``recv(timeout)`` returns an array or None on timeout."""

    def __init__(self, kind: str, endpoint: str) -> None:
        self.kind = kind
        self.hub: Any = None
        self.sub: Any = None
        if kind in ("ours", "ours_copy"):
            from streamconv.client import Subscriber

            self.sub = Subscriber(endpoint, [TOPIC], rcvhwm=HWM)
        else:
            iz = _imagezmq()
            hub = iz.ImageHub.__new__(iz.ImageHub)
            hub.zmq_context = iz.imagezmq.SerializingContext()
            if kind == "imagezmq_pubsub":
                hub.zmq_socket = hub.zmq_context.socket(zmq.SUB)
                hub.zmq_socket.setsockopt(zmq.RCVHWM, HWM)
                hub.zmq_socket.setsockopt(zmq.SUBSCRIBE, b"")
                hub.zmq_socket.connect(endpoint)
            else:  # REQ/REP: the hub binds, the sender connects (imagezmq's default layout)
                hub.zmq_socket = hub.zmq_context.socket(zmq.REP)
                hub.zmq_socket.bind(endpoint)
            hub.REQ_REP = kind == "imagezmq_reqrep"
            self.hub = hub

    def recv(self, timeout: float) -> np.ndarray | None:
        if self.sub is not None:
            try:
                msg = self.sub.recv(timeout=timeout)
            except TimeoutError:
                return None
            return msg.array.copy() if self.kind == "ours_copy" else msg.array
        if not self.hub.zmq_socket.poll(max(0, int(timeout * 1000))):
            return None
        _, img = self.hub.recv_image()
        if self.hub.REQ_REP:
            self.hub.send_reply(b"OK")
        return img

    def close(self) -> None:
        if self.sub is not None:
            self.sub.close()
        if self.hub is not None:
            self.hub.zmq_socket.close(linger=0)
            self.hub.zmq_context.term()


def _count(rx: _Receiver, seconds: float) -> tuple[int, float]:
    """Frames received in a window of ``seconds``; return (count, actual seconds)."""
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while (now := time.perf_counter()) < end:
        if rx.recv(end - now) is not None:
            n += 1
    return n, time.perf_counter() - t0


def run(profile: str, *, log: Any = print) -> dict[str, Any]:
    """Run the transport section; return its raw results."""
    prof = PROFILES[profile]
    notes: dict[str, str] = {}
    kinds = list(CONTENDERS)
    try:
        iz = _imagezmq()
        version = getattr(iz, "__version__", "unknown")
    except Exception as exc:  # not installed, or a dependency of it fails to import
        version = None
        for k in ("imagezmq_pubsub", "imagezmq_reqrep"):
            kinds.remove(k)
            notes[k] = (f"skipped: imagezmq not importable ({exc.__class__.__name__}: {exc}); "
                        "pip install imagezmq")
    expected = bench_frame()
    checksum = int(expected[::97, ::89].astype(np.int64).sum())
    procs: dict[str, Proc] = {}
    rxs: dict[str, _Receiver] = {}
    fps: dict[str, list[float]] = {k: [] for k in kinds}
    t_start = time.perf_counter()
    try:
        endpoints = dict(zip(kinds, free_endpoints(len(kinds)), strict=True))
        for k in list(kinds):
            log(f"transport: starting the {k} sender")
            ep = endpoints[k]
            if k == "imagezmq_reqrep":
                rxs[k] = _Receiver(k, ep)  # the hub binds first
            procs[k] = Proc([sys.executable, "-m", "streamconv.bench.transport", "--sender", k,
                             "--endpoint", ep], name=f"sender-{k}")
            if k != "imagezmq_reqrep":
                rxs[k] = _Receiver(k, ep)
            first = rxs[k].recv(20.0)
            if first is None:
                raise RuntimeError(f"transport: no frame from the {k} sender:\n{procs[k].log_tail()}")
            if first.shape != expected.shape or int(first[::97, ::89].astype(np.int64).sum()) != checksum:
                raise RuntimeError(f"transport: the {k} receiver got a different frame")
            procs[k].pause()
            while rxs[k].recv(0.05) is not None:  # drop what was queued before the pause
                pass
        for r in range(prof["rounds"]):
            order = kinds if r % 2 == 0 else kinds[::-1]
            for k in order:
                procs[k].resume()
                _count(rxs[k], prof["warm_s"])
                n, secs = _count(rxs[k], prof["window_s"])
                procs[k].pause()
                while rxs[k].recv(0.02) is not None:
                    pass
                fps[k].append(n / secs)
    finally:
        for p in procs.values():
            p.cleanup()
        for rx in rxs.values():
            rx.close()

    def ratio(a: str, b: str) -> float | None:
        if a not in fps or b not in fps:
            return None
        return float(np.median([x / y for x, y in zip(fps[a], fps[b], strict=True) if y > 0] or [np.nan]))

    mb = expected.nbytes / 1e6
    return {
        "profile": profile, "settings": prof, "hwm": HWM, "frame_shape": list(expected.shape),
        "frame_mb": mb, "imagezmq_version": version, "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(), "notes": notes, "seconds": time.perf_counter() - t_start,
        "fps_rounds": fps, "fps": {k: float(np.median(v)) for k, v in fps.items()},
        "ratio_ours_over_imagezmq_pubsub": ratio("ours", "imagezmq_pubsub"),
        "ratio_ours_over_imagezmq_reqrep": ratio("ours", "imagezmq_reqrep"),
        "ratio_zero_copy_over_copy": ratio("ours", "ours_copy"),
    }


def report(res: dict[str, Any]) -> str:
    """Return the transport section's plain-text table."""
    labels = {
        "ours": "streamconv wire v1, zero-copy (Publisher / Subscriber)",
        "ours_copy": "streamconv wire v1, copy on send and receive",
        "imagezmq_pubsub": f"imagezmq {res['imagezmq_version']} PUB/SUB",
        "imagezmq_reqrep": f"imagezmq {res['imagezmq_version']} REQ/REP (its default)",
    }
    out = [f"720p BGR frames ({res['frame_mb']:.2f} MB) over tcp://127.0.0.1, sender in its own process; "
           f"frames/s received, median of {res['settings']['rounds']} rounds of "
           f"{res['settings']['window_s']:g} s; PUB/SUB HWM {res['hwm']} each side; "
           f"libzmq {res['libzmq']}, pyzmq {res['pyzmq']}"]
    rows = []
    for k in CONTENDERS:
        if k in res["fps"]:
            f = res["fps"][k]
            rows.append([labels[k], f"{f:.0f}", f"{f * res['frame_mb'] / 1e3:.2f}"])
        else:
            rows.append([labels[k], "-", "-"])
    out.append(table(["contender", "frames/s", "GB/s"], rows))

    def r(key: str) -> str:
        v = res.get(key)
        return "-" if v is None else f"{v:.2f}"

    out.append(f"   ratios: ours / imagezmq PUB/SUB = {r('ratio_ours_over_imagezmq_pubsub')}; "
               f"ours / imagezmq REQ/REP = {r('ratio_ours_over_imagezmq_reqrep')}; "
               f"zero-copy / copy = {r('ratio_zero_copy_over_copy')}")
    for k, note in res["notes"].items():
        out.append(f"   {k}: {note}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run one sender until killed (internal: ``--sender KIND --endpoint EP``)."""
    parser = argparse.ArgumentParser(description="internal: a transport benchmark sender")
    parser.add_argument("--sender", required=True, choices=CONTENDERS)
    parser.add_argument("--endpoint", required=True)
    args = parser.parse_args(argv)
    _sender(args.sender, args.endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main())
