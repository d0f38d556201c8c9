"""Read streamconv streams with plain pyzmq and numpy: no streamconv import, only docs/wire-format.md.

Usage::

    python examples/plain_pyzmq_client.py [endpoint] [topic ...] [--count N]

    python examples/plain_pyzmq_client.py                          # everything on tcp://127.0.0.1:5555
    python examples/plain_pyzmq_client.py tcp://127.0.0.1:5555 laser/smoothed _stats

Prints one line per valid message; malformed messages are counted and reported on stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import zmq

ALLOWED_DTYPES = {"|u1", "|i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"}
KINDS = {"samples", "frame", "features", "stats"}
MAX_PAYLOAD_BYTES = 256 * 2**20


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _is_count(value: object) -> bool:
    # A JSON integer >= 0 (Python's json gives bool for true/false: not an integer here).
    return type(value) is int and value >= 0


def decode(frames: list[bytes]) -> tuple[str, dict, np.ndarray]:
    """Validate one message of wire format v1 and return (topic, header, read-only array)."""
    if len(frames) != 3:
        raise ValueError(f"expected 3 frames, got {len(frames)}")
    topic = frames[0].decode("utf-8")
    header = json.loads(frames[1].decode("utf-8"), parse_constant=_reject_constant)
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    if header.get("v") != 1 or type(header.get("v")) is not int:
        raise ValueError(f"unsupported version {header.get('v')!r}")
    for field in ("stream", "epoch"):
        if not isinstance(header.get(field), str) or not header[field]:
            raise ValueError(f"bad {field} {header.get(field)!r}")
    if header.get("kind") not in KINDS:
        raise ValueError(f"bad kind {header.get('kind')!r}")
    for field in ("seq", "t_capture_ns"):
        if not _is_count(header.get(field)):
            raise ValueError(f"bad {field} {header.get(field)!r}")
    if header.get("dtype") not in ALLOWED_DTYPES:
        raise ValueError(f"bad dtype {header.get('dtype')!r}")
    shape = header.get("shape")
    if not isinstance(shape, list) or len(shape) > 8 or not all(_is_count(n) for n in shape):
        raise ValueError(f"bad shape {shape!r}")
    if not isinstance(header.get("meta", {}), dict):
        raise ValueError("bad meta")
    if topic == "_stats":
        if header["kind"] != "stats":
            raise ValueError("_stats message of kind other than 'stats'")
    elif (
        not topic.startswith(header["stream"] + "/")
        or len(topic) == len(header["stream"]) + 1
        or any(c.isspace() for c in topic)
    ):
        raise ValueError(f"topic {topic!r} does not match stream {header['stream']!r}")
    dtype = np.dtype(header["dtype"])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_PAYLOAD_BYTES or len(frames[2]) != nbytes:
        raise ValueError(f"payload is {len(frames[2])} bytes, header declares {nbytes}")
    array = np.frombuffer(frames[2], dtype=dtype).reshape(shape)  # read-only: frames are bytes
    return topic, header, array


def summary(array: np.ndarray) -> str:
    """Return the values of a small array, or min/mean/max of a large one."""
    if array.size <= 8:
        return "values=" + json.dumps(array.tolist())
    return f"min={array.min():.6g} mean={array.mean():.6g} max={array.max():.6g}"


def main(argv: list[str] | None = None) -> int:
    """Print decoded messages from a streamconv publisher."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoint", nargs="?", default="tcp://127.0.0.1:5555")
    parser.add_argument("topics", nargs="*", default=[""], help="topic prefixes ('' = all)")
    parser.add_argument("--count", type=int, default=0, help="exit after N valid messages (0 = never)")
    args = parser.parse_args(argv)

    context = zmq.Context.instance()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_PAYLOAD_BYTES)  # bound what a peer can make us buffer
    for topic in args.topics:
        socket.setsockopt(zmq.SUBSCRIBE, topic.encode("utf-8"))
    socket.connect(args.endpoint)

    expected: dict[str, tuple[str, int]] = {}  # topic -> (epoch, next seq)
    shown = malformed = 0
    try:
        while args.count == 0 or shown < args.count:
            frames = socket.recv_multipart()
            try:
                topic, header, array = decode(frames)
            except (ValueError, RecursionError) as exc:  # UnicodeError is a ValueError
                malformed += 1
                print(f"malformed message #{malformed} dropped: {exc}", file=sys.stderr)
                continue
            epoch, seq = header["epoch"], header["seq"]
            previous = expected.get(topic)
            if previous is not None and previous[0] == epoch and seq > previous[1]:
                print(f"GAP on {topic}: {seq - previous[1]} message(s) missing", file=sys.stderr)
            expected[topic] = (epoch, seq + 1)
            latency_ms = (time.time_ns() - header["t_capture_ns"]) / 1e6
            data = (
                "meta=" + json.dumps(header.get("meta", {})) if header["kind"] == "stats" else summary(array)
            )
            print(
                f"{topic} seq={seq} epoch={epoch} kind={header['kind']} dtype={header['dtype']}"
                f" shape={shape_text(array)} latency_ms={latency_ms:.1f} {data}",
                flush=True,
            )
            shown += 1
    except KeyboardInterrupt:
        pass
    finally:
        socket.close()
    return 0


def shape_text(array: np.ndarray) -> str:
    """Return the shape as a compact JSON list, e.g. ``[480,640,3]``."""
    return json.dumps(list(array.shape), separators=(",", ":"))


if __name__ == "__main__":
    sys.exit(main())
