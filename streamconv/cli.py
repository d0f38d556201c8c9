"""The ``streamconv`` command: thin subcommands over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from streamconv.errors import ConfigError
from streamconv.ops import kernels

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_CONTROL = "tcp://127.0.0.1:5556"

__all__ = ["main"]


def _format_matrix(k: np.ndarray) -> list[str]:
    cells = [[f"{v:g}" if float(v).is_integer() else f"{v:.4f}" for v in row] for row in k]
    width = max(len(c) for row in cells for c in row)
    return ["  [" + " ".join(c.rjust(width) for c in row) + "]" for row in cells]


def cmd_kernels(args: argparse.Namespace) -> int:
    """Print the kernel catalogue: name, size, sum and the matrix."""
    names = args.names or kernels.names()
    for name in names:
        entry = kernels.info(name)
        k = kernels.get(name)
        h, w = k.shape
        print(f"{name:<13} {h}x{w}  sum={k.sum():g}  {entry.description}")
        if entry.params:
            print(f"  params: {', '.join(entry.params)}")
        if not args.brief:
            print("\n".join(_format_matrix(k)))
    return 0


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _one_line(exc: BaseException) -> str:
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon in the foreground (or only validate the config with --check)."""
    from streamconv import config as cfg

    try:
        config = cfg.load(args.config)
        if config.service.curve_secret_key_file is not None:  # a bad key file is a config error too
            from streamconv.keys import read_secret_key

            read_secret_key(config.service.curve_secret_key_file)
        roles = [args.role] if args.role else list(service_roles())
        from streamconv.service import check_roles

        check_roles(config, roles)
    except ConfigError as exc:
        print(f"streamconv run: bad config: {_one_line(exc)}", file=sys.stderr)
        return 2
    if args.print_config:
        print(cfg.dump_yaml(config), end="")
        return 0
    if args.check:
        streams = ", ".join(
            f"{name} ({s.source.kind}: {', '.join(s.outputs) or 'no outputs'})"
            for name, s in config.streams.items()
        )
        role = f" (role {args.role})" if args.role else ""
        print(f"config OK: {args.config or '<embedded default>'}{role}: streams {streams or 'none'}")
        return 0
    _setup_logging(args.log_level)
    from streamconv import service

    return service.run(config, roles, workers=args.workers)


def service_roles() -> tuple[str, ...]:
    """Return the roles ``streamconv run`` starts without ``--role``."""
    from streamconv.service import ROLES

    return ROLES


def cmd_ctl(args: argparse.Namespace) -> int:
    """Send one request to a running daemon's control socket and print the reply."""
    from streamconv import control

    if args.action in ("status", "stats", "ping", "kernels"):
        req: dict[str, Any] = {"cmd": args.action}
    elif args.action == "remove":
        req = {"cmd": "remove", "topic": args.topic}
    else:  # set
        if args.topic is None:
            print("streamconv ctl set: give a TOPIC, e.g. camera/sharpen", file=sys.stderr)
            return 2
        req = {"cmd": "set", "topic": args.topic, "stages": _stages_from_args(args)}
    try:
        reply = control.request(req, args.control, timeout=args.timeout,
                                curve_server_key=_server_key(args))
    except TimeoutError as exc:
        print(f"streamconv ctl: {exc}", file=sys.stderr)
        return 1
    if not reply.get("ok"):
        print(f"streamconv ctl: error: {reply.get('error')}", file=sys.stderr)
        return 1
    if args.action == "status" and not args.json:
        _print_status(reply["status"])
    else:
        print(json.dumps(reply, indent=2))
    return 0


def _server_key(args: argparse.Namespace) -> bytes | None:
    if not getattr(args, "server_key", None):
        return None
    from streamconv.keys import read_public_key

    return read_public_key(args.server_key)


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a CurveZMQ key pair for the daemon (secret file, mode 0600) and print the public key."""
    from streamconv.keys import generate

    secret, public = generate(args.path)
    print(f"secret key: {secret} (set service.curve_secret_key_file to this path)")
    print(f"public key: {public} (clients pass it as --server-key): {public.read_text().strip()}")
    return 0


def _stages_from_args(args: argparse.Namespace) -> Any:
    if args.stages:
        return json.loads(args.stages)
    if args.weights:
        return {"kind": "causal_fir", "weights": [float(w) for w in args.weights.replace(",", " ").split()]}
    if args.kernel:
        stage: dict[str, Any] = {"kind": "kernel2d", "padding": _padding(args.padding), "stride": args.stride,
                                 "border": args.border}
        try:
            stage["kernel"] = json.loads(args.kernel)
        except json.JSONDecodeError:
            stage["kernel"] = args.kernel
        if args.size is not None:
            stage["params"] = {"size": args.size}
        return stage
    raise ConfigError("set needs --kernel NAME|MATRIX, --weights 'w1 w2 ...' or --stages JSON")


def _padding(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _print_status(status: dict[str, Any]) -> None:
    print(f"epoch {status['epoch']}  up {status['uptime_s']:.1f} s  publish {status['publish']}")
    for name, st in status["streams"].items():
        src = st["source"]
        print(f"{name}: {src['kind']}")
        for out, stages in st["outputs"].items():
            desc = " -> ".join(_stage_text(s) for s in stages)
            print(f"  {name}/{out}: {desc}")
    roles = status.get("roles") or {}
    prod = roles.get("producer")
    if prod:
        print(f"producer {prod['id']} (host {prod['host']}, pid {prod['pid']}): "
              f"heartbeat {prod['heartbeat_age_ms']:.0f} ms ago, epoch {prod['epoch']}")
    elif roles:
        print("producer: none heard from (waiting)")
    for w in roles.get("workers", []):
        if w.get("state") != "admitted":
            print(f"worker {w['id']}: {w['state']}: {w.get('reason', '')}")
            continue
        runs = ", ".join(f"{s} {r:.1f}/s" for s, r in sorted(w.get("rates_hz", {}).items())) or "idle"
        owns = f", owns {', '.join(w['owns'])}" if w.get("owns") else ""
        print(f"worker {w['id']} (host {w['host']}, pid {w['pid']}): "
              f"heartbeat {w['heartbeat_age_ms']:.0f} ms ago, runs {runs}{owns}")
    topics = status.get("stats", {}).get("topics", {})
    for topic, t in topics.items():
        p50 = "-" if t["latency_p50_ms"] is None else f"{t['latency_p50_ms']:.2f}"
        p99 = "-" if t["latency_p99_ms"] is None else f"{t['latency_p99_ms']:.2f}"
        print(f"  {topic:<24} {t['rate_hz']:8.1f}/s  p50 {p50} ms  p99 {p99} ms  "
              f"drops {t['drops']}  malformed {t['malformed']}  errors {t.get('errors', 0)}")


def _stage_text(stage: dict[str, Any]) -> str:
    kind = stage["kind"]
    if kind in ("causal_fir", "temporal"):
        return f"{kind}(weights={stage['weights']})"
    if kind == "kernel2d":
        k = stage["kernel"] if isinstance(stage["kernel"], str) else "matrix"
        return f"kernel2d({k}, padding={stage['padding']}, stride={stage['stride']})"
    return kind


def _summary(arr: np.ndarray, kind: str) -> str:
    if arr.size == 0:
        return "empty"
    if kind == "samples" and arr.size <= 4:
        return " ".join(f"{v:.4f}" for v in arr.ravel())
    a = arr.astype(np.float64)
    return f"min {np.nanmin(a):.3f} mean {np.nanmean(a):.3f} max {np.nanmax(a):.3f}"


def cmd_subscribe(args: argparse.Namespace) -> int:
    """Print one line per message of the given topics (or JSON lines with --jsonl).

    Samples and stats are printed losslessly; of a frame topic only the newest frame is kept
    unless ``--all-frames``, and a terminal that falls behind holds at most ``--queue-bytes``.
    """
    from streamconv.client import Subscriber

    topics = args.topics or [""]
    n = 0
    deadline = time.monotonic() + args.duration if args.duration else None
    queue: dict[str, Any] = {} if args.queue_bytes is None else {"max_queue_bytes": args.queue_bytes}
    try:
        with Subscriber(args.endpoint, topics, latest=not args.all_frames, timeout=args.timeout,
                        curve_server_key=_server_key(args), **queue) as sub:
            while args.count is None or n < args.count:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                try:
                    msg = sub.recv()
                except TimeoutError as exc:
                    print(f"streamconv subscribe: {exc}", file=sys.stderr)
                    return 1
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
            dropped = sum(sub.dropped.values())
            if sub.gaps or sub.malformed or dropped or sub.skipped:
                print(f"streamconv subscribe: gaps {sub.gaps}, malformed {sub.malformed}, dropped {dropped}"
                      f" (beyond the queue's bytes), skipped {sub.skipped} (older frames)", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        pass
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="streamconv", description="Real-time sensor and video stream filtering over ZeroMQ."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("kernels", help="list the kernel catalogue")
    p.add_argument("names", nargs="*", help="only these kernels")
    p.add_argument("--brief", action="store_true", help="one line per kernel, no matrices")
    p.set_defaults(func=cmd_kernels)

    p = sub.add_parser("run", help="run the daemon in the foreground")
    p.add_argument("--config", "-c", help="YAML config file (default: the embedded default)")
    p.add_argument("--check", action="store_true", help="only validate the config")
    p.add_argument("--print-config", action="store_true", help="print the effective config as YAML")
    p.add_argument("--role", choices=["producer", "worker", "publisher"],
                   help="run only this role (its peers are other processes, joined by the config's links)")
    p.add_argument("--workers", type=int, help="worker threads in this process (default: links.workers)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "subscribe", help="print the messages of filtered streams",
        description="Print one line per message. Samples and _stats are never skipped. On a frame topic"
        " (camera/..., kind frame or features) only the newest frame is kept by default: a terminal slower"
        " than the stream skips the older frames (counted at the end) instead of piling them up."
        " --all-frames prints every frame. Either way the messages waiting to be printed are bounded by"
        " --queue-bytes; beyond it the oldest are dropped and counted (a dropped sample shows as a gap).",
    )
    p.add_argument("topics", nargs="*", help="topic prefixes, e.g. laser/smoothed (default: all)")
    p.add_argument("--endpoint", "-e", default=DEFAULT_ENDPOINT)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per line")
    p.add_argument("--count", "-n", type=int, help="stop after N messages")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="give up when nothing arrives for this long")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--latest", action="store_true",
                        help="only the newest frame of each frame topic (the default)")
    frames.add_argument("--all-frames", action="store_true",
                        help="print every frame, not only the newest of each topic")
    p.add_argument("--queue-bytes", type=int, metavar="BYTES",
                   help="most bytes held for messages not printed yet (default: 64 MiB)")
    p.add_argument("--server-key", help="CurveZMQ: the daemon's public key or its .pub file")
    p.set_defaults(func=cmd_subscribe)

    p = sub.add_parser("ctl", help="query or change a running daemon")
    p.add_argument("action", choices=["status", "stats", "set", "remove", "kernels", "ping"])
    p.add_argument("topic", nargs="?", help="for set/remove: <stream>/<output>")
    p.add_argument("--control", default=DEFAULT_CONTROL, help="the daemon's control endpoint")
    p.add_argument("--kernel", help="set: a catalogue name or a JSON matrix")
    p.add_argument("--size", type=int, help="set: kernel size for box/gaussian/identity")
    p.add_argument("--padding", default="same", help="set: int, same or valid")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--border", default="zero", choices=["zero", "replicate", "reflect"])
    p.add_argument("--weights", help="set: causal weights oldest to newest, e.g. '0.2 0.3 0.5'")
    p.add_argument("--stages", help="set: the output's chain as JSON")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    p.add_argument("--timeout", type=float, default=3.0)
    p.add_argument("--server-key", help="CurveZMQ: the daemon's public key or its .pub file")
    p.set_defaults(func=cmd_ctl)

    p = sub.add_parser("keygen", help="write a CurveZMQ key pair for the daemon")
    p.add_argument("path", help="secret key file to write; the public key goes to PATH.pub")
    p.set_defaults(func=cmd_keygen)

    for mod in _command_modules():
        mod.register(sub)
    return parser


def _command_modules() -> list[Any]:
    import importlib
    import pkgutil

    from streamconv import commands

    return [
        importlib.import_module(f"streamconv.commands.{info.name}")
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamconv`` command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:  # invalid input from the user: one line, no traceback
        print(f"streamconv {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
