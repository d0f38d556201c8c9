"""The ``streamconv subscribe`` command: print the messages of topics, one line (or JSON line) each."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from streamconv import exitcodes
from streamconv.commands.options import (
    add_curve_options,
    add_endpoint,
    add_timeout,
    add_topics,
    curve_keys,
    positive_int,
    seconds,
)

__all__ = ["cmd_subscribe", "register"]


def register(subparsers: Any) -> None:
    """Add the ``subscribe`` subcommand."""
    p = subparsers.add_parser(
        "subscribe", help="print the messages of filtered streams",
        description="Print one line per message. Samples and _stats are never skipped. On a frame topic"
        " (camera/..., kind frame or features) only the newest frame is kept by default: a terminal slower"
        " than the stream skips the older frames (counted at the end) instead of piling them up."
        " --all-frames prints every frame. Either way the messages waiting to be printed are bounded by"
        " --queue-bytes; beyond it the oldest are dropped and counted (a dropped sample shows as a gap).",
    )
    add_topics(p)
    add_endpoint(p)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    p.add_argument("--count", "-n", type=positive_int, help="stop after N messages")
    p.add_argument("--duration", type=seconds, help="stop after this many seconds")
    add_timeout(p, default=10.0, what="no message arrives")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--latest", action="store_true",
                        help="only the newest frame of each frame topic (the default)")
    frames.add_argument("--all-frames", action="store_true",
                        help="print every frame, not only the newest of each topic")
    p.add_argument("--queue-bytes", type=positive_int, metavar="BYTES",
                   help="most bytes held for messages not printed yet (default: 64 MiB)")
    add_curve_options(p)
    p.set_defaults(func=cmd_subscribe)


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Print one line per message of the given topics (or JSON lines with --jsonl).

    Samples and stats are printed losslessly; of a frame topic only the newest frame is kept
    unless ``--all-frames``, and a terminal that falls behind holds at most ``--queue-bytes``.
    """
    from streamconv.client import Subscriber

    topics = args.topics or [""]
    deadline = time.monotonic() + args.duration if args.duration else None
    queue: dict[str, Any] = {} if args.queue_bytes is None else {"max_queue_bytes": args.queue_bytes}
    code = exitcodes.OK
    with Subscriber(args.endpoint, topics, latest=not args.all_frames, timeout=args.timeout,
                    **curve_keys(args), **queue) as sub:
        try:
            code = _print_messages(args, sub, deadline)
        except KeyboardInterrupt:
            code = exitcodes.INTERRUPTED
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            pass
        dropped = sum(sub.dropped.values())
        if sub.gaps or sub.malformed or dropped or sub.skipped:
            print(f"streamconv subscribe: gaps {sub.gaps}, malformed {sub.malformed}, dropped {dropped}"
                  f" (beyond the queue's bytes), skipped {sub.skipped} (older frames)", file=sys.stderr)
    return code


def _print_messages(args: argparse.Namespace, sub: Any, deadline: float | None) -> int:
    """Print messages until --count, --duration or --timeout; return the exit code."""
    n = 0
    while args.count is None or n < args.count:
        if deadline is not None and time.monotonic() >= deadline:
            break
        try:
            msg = sub.recv()
        except TimeoutError as exc:
            print(f"streamconv subscribe: {exc}", file=sys.stderr)
            return exitcodes.UNAVAILABLE
        n += 1
        lat_ms = msg.latency_ns / 1e6
        if args.jsonl:
            rec: dict[str, Any] = {
                "topic": msg.topic, "seq": msg.seq, "epoch": msg.epoch, "kind": msg.kind,
                "t_capture_ns": msg.t_capture_ns, "latency_ms": round(lat_ms, 3),
                "dtype": msg.array.dtype.str, "shape": list(msg.array.shape),
            }
            if msg.kind in ("samples",):
                rec["values"] = [None if not np.isfinite(v) else float(v) for v in msg.array.ravel()]
            elif msg.kind == "stats":
                rec["stats"] = msg.meta
            else:
                rec["summary"] = _summary(msg.array, msg.kind)
            print(json.dumps(rec), flush=True)
        elif msg.kind == "stats":
            topics_stats = msg.meta.get("topics", {})
            rates = ", ".join(f"{t} {v['rate_hz']:.0f}/s" for t, v in topics_stats.items())
            print(f"{msg.topic} seq {msg.seq}: {rates}", flush=True)
        else:
            shape = "x".join(str(d) for d in msg.array.shape)
            print(f"{msg.topic} seq {msg.seq} latency {lat_ms:.2f} ms {msg.array.dtype.str} "
                  f"[{shape}] {_summary(msg.array, msg.kind)}", flush=True)
    return exitcodes.OK


def _summary(arr: np.ndarray, kind: str) -> str:
    if arr.size == 0:
        return "empty"
    if kind == "samples" and arr.size <= 4:
        return " ".join(f"{v:.4f}" for v in arr.ravel())
    a = arr.astype(np.float64)
    return f"min {np.nanmin(a):.3f} mean {np.nanmean(a):.3f} max {np.nanmax(a):.3f}"
