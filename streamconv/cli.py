"""The ``streamconv`` command: thin subcommands over the Python API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from streamconv import exitcodes
from streamconv.commands.options import add_curve_options, curve_keys, name_list, positive_int, seconds
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
    return exitcodes.OK


#: Set to 1 to see the traceback of an unexpected error (a bug) on stderr.
DEBUG_ENV = "STREAMCONV_DEBUG"


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _one_line(exc: BaseException | str) -> str:
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
        if args.streams is not None:
            unknown = [s for s in args.streams if s not in config.streams]
            if "worker" not in roles or unknown:
                raise ConfigError(
                    f"--streams {','.join(args.streams)}: "
                    + (f"no stream {', '.join(unknown)} in the config" if unknown else "needs workers here")
                )
    except ConfigError as exc:
        print(f"streamconv run: bad config: {_one_line(exc)}", file=sys.stderr)
        return exitcodes.USAGE
    if args.print_config:
        print(cfg.dump_yaml(config), end="")
        return exitcodes.OK
    if args.check:
        streams = ", ".join(
            f"{name} ({s.source.kind}: {', '.join(s.outputs) or 'no outputs'})"
            for name, s in config.streams.items()
        )
        role = f" (role {args.role})" if args.role else ""
        print(f"config OK: {args.config or '<embedded default>'}{role}: streams {streams or 'none'}")
        return exitcodes.OK
    _setup_logging(args.log_level)
    if config.cluster is not None and not args.role:
        from streamconv.cluster import driver

        return driver.run(config)
    from streamconv import service

    return service.run(config, roles, workers=args.workers, worker_streams=args.streams)


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
            return exitcodes.USAGE
        req = {"cmd": "set", "topic": args.topic, "stages": _stages_from_args(args)}
    try:
        reply = control.request(req, args.control, timeout=args.timeout, **curve_keys(args))
    except TimeoutError as exc:  # nothing answers there (or not with this --server-key)
        print(f"streamconv ctl: {exc}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    if not reply.get("ok"):
        print(f"streamconv ctl: error: {reply.get('error')}", file=sys.stderr)
        return exitcodes.FAILURE
    if args.action == "status" and not args.json:
        _print_status(reply["status"])
    else:
        print(json.dumps(reply, indent=2))
    return exitcodes.OK


def cmd_keygen(args: argparse.Namespace) -> int:
    """Write a CurveZMQ key pair (secret mode 0600, public 0644); refuse to replace one without --force."""
    from streamconv.keys import generate

    try:
        secret, public = generate(args.path, force=args.force)
    except FileExistsError as exc:
        print(f"streamconv keygen: error: {exc.filename} exists; give --force to replace the key pair "
              "(clients holding the old public key are then locked out)", file=sys.stderr)
        return exitcodes.USAGE
    print(f"secret key: {secret} (set service.curve_secret_key_file to this path)")
    print(f"public key: {public} (clients pass it as --server-key): {public.read_text().strip()}")
    return exitcodes.OK


def _stages_from_args(args: argparse.Namespace) -> Any:
    if args.stages:
        try:
            return json.loads(args.stages)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--stages is not valid JSON: {exc}") from None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.replace(",", " ").split()]
        except ValueError:
            raise ConfigError(
                f"invalid --weights {args.weights!r}; expected numbers, e.g. '0.2 0.3 0.5'"
            ) from None
        return {"kind": "causal_fir", "weights": weights}
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
    _print_cluster(status.get("cluster"), roles)
    subs = status.get("subscriptions")
    if subs:
        refused = ", ".join(f"{k} {v}" for k, v in sorted(subs["refused"].items())) or "none"
        print(f"subscriptions: {len(subs['live'])} live, {subs['idle']} matching no topic, "
              f"from {subs['peers']} peer(s); refused: {refused}")
    print(f"control errors: {status.get('control_errors', 0)}")
    gate = status.get("auth")
    if gate:
        denied = ", ".join(f"{k} {v}" for k, v in sorted(gate.get("denied", {}).items())) or "none"
        print(f"CurveZMQ clients denied: {denied}")
    topics = status.get("stats", {}).get("topics", {})
    for topic, t in topics.items():
        p50 = "-" if t["latency_p50_ms"] is None else f"{t['latency_p50_ms']:.2f}"
        p99 = "-" if t["latency_p99_ms"] is None else f"{t['latency_p99_ms']:.2f}"
        print(f"  {topic:<24} {t['rate_hz']:8.1f}/s  p50 {p50} ms  p99 {p99} ms  "
              f"drops {t['drops']}  malformed {t['malformed']}  errors {t.get('errors', 0)}")


def _print_cluster(cluster: dict[str, Any] | None, roles: dict[str, Any]) -> None:
    """Print Ray's nodes and our actors, each with its role's rates (joined by role id)."""
    if not cluster:
        return
    nodes = cluster.get("nodes", [])
    print(f"cluster {cluster.get('address')}: {sum(n['alive'] for n in nodes)} of {len(nodes)} node(s) alive")
    for n in nodes:
        extra = "".join(f", {k} {v:g}" for k, v in n.get("resources", {}).items())
        print(f"  node {str(n['id'])[:12]} {n['host']} ({n['address']}): "
              f"{'alive' if n['alive'] else 'DEAD'}, {n['cpus']:g} CPU{extra}")
    workers = {w["id"]: w for w in roles.get("workers", [])}
    for a in cluster.get("actors", []):
        serves = ", ".join(a["streams"]) if a.get("streams") else "every stream"
        where = f"node {str(a['node'])[:12]} {a['host']}, pid {a['pid']}" if a.get("node") else "not placed"
        w = workers.get(a.get("role_id") or "")
        runs = ""
        if w is not None and w.get("state") == "admitted":
            runs = ", runs " + (", ".join(f"{s} {r:.1f}/s" for s, r in sorted(w.get("rates_hz", {}).items()))
                                or "idle")
        print(f"  {a['class']} ({serves if a['role'] == 'worker' else 'the sources'}): {a['state']}, "
              f"restarts {a['restarts']}, {where}{runs}")


def _stage_text(stage: dict[str, Any]) -> str:
    kind = stage["kind"]
    if kind in ("causal_fir", "temporal"):
        return f"{kind}(weights={stage['weights']})"
    if kind == "kernel2d":
        k = stage["kernel"] if isinstance(stage["kernel"], str) else "matrix"
        if not isinstance(stage["kernel"], str):
            rows = stage["kernel"]
            k = f"{len(rows)}x{len(rows[0]) if rows else 0} matrix #{stage.get('spec_hash', '')[:8]}"
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


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    parser = _Parser(
        prog="streamconv", description="Real-time sensor and video stream filtering over ZeroMQ.",
        epilog="exit codes: 0 ok, 1 failed (an error reply, a failed role, a bug), 2 bad input "
        "(arguments, config, files, keys, endpoints), 69 no reply or no message within the timeout, "
        "130 interrupted",
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
    p.add_argument("--workers", type=positive_int,
                   help="worker threads in this process (default: links.workers)")
    p.add_argument("--streams", type=name_list, metavar="NAMES",
                   help="comma-separated: the workers here serve only these streams (default: all)")
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
    p.add_argument("--count", "-n", type=positive_int, help="stop after N messages")
    p.add_argument("--duration", type=seconds, help="stop after this many seconds")
    p.add_argument("--timeout", type=seconds, default=10.0, help="give up when nothing arrives for this long")
    frames = p.add_mutually_exclusive_group()
    frames.add_argument("--latest", action="store_true",
                        help="only the newest frame of each frame topic (the default)")
    frames.add_argument("--all-frames", action="store_true",
                        help="print every frame, not only the newest of each topic")
    p.add_argument("--queue-bytes", type=positive_int, metavar="BYTES",
                   help="most bytes held for messages not printed yet (default: 64 MiB)")
    add_curve_options(p)
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
    p.add_argument("--timeout", type=seconds, default=3.0,
                   help="seconds to wait for the reply (a finite number > 0; default 3)")
    add_curve_options(p)
    p.set_defaults(func=cmd_ctl)

    p = sub.add_parser("keygen", help="write a CurveZMQ key pair for the daemon")
    p.add_argument("path",
                   help="secret key file to write (mode 0600); the public key goes to PATH.pub (0644)")
    p.add_argument("--force", action="store_true", help="replace an existing key pair at PATH")
    p.set_defaults(func=cmd_keygen)

    for mod in _command_modules():
        mod.register(sub)
    return parser


def _command_modules() -> list[Any]:
    import importlib
    import pkgutil

    from streamconv import commands

    modules = [
        importlib.import_module(f"streamconv.commands.{info.name}")
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]
    return [m for m in modules if hasattr(m, "register")]  # options.py is shared, not a subcommand


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (with a pointer to ``--help``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see 'PROG --help')`` and exit with ``exitcodes.USAGE``."""
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _user_error(exc: BaseException) -> str | None:
    """Return the one-line message of an error in the user's input, or None for anything else."""
    if isinstance(exc, OSError):  # a path (keygen /proc/nope/key) or an endpoint (its message names it)
        text = _one_line(exc.strerror) if exc.strerror else _one_line(exc)
        names = [str(f) for f in (exc.filename, exc.filename2) if f is not None]
        return f"{' -> '.join(names)}: {text}" if names else text or type(exc).__name__
    zmq = sys.modules.get("zmq")  # imported only if a command used it: then its errors may escape
    if zmq is not None and isinstance(exc, zmq.ZMQError):
        return f"ZeroMQ: {exc.strerror}"
    if isinstance(exc, ValueError):  # StreamconvError/ConfigError, pydantic, json, int("x") ...
        return _one_line(exc) or type(exc).__name__
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamconv`` command line; return the exit code (see :mod:`streamconv.exitcodes`).

    What escapes a command never reaches the user as a traceback: bad input (a
    ``StreamconvError``/``ValueError``, an ``OSError`` on a path, a ``zmq.ZMQError`` from a bad
    endpoint) is one line ``streamconv CMD: error: MESSAGE`` and exit 2; a ``TimeoutError`` one
    line and exit 69; Ctrl-C exit 130; anything else (a bug) a one-line summary and exit 1, with
    the traceback logged at debug level and printed when ``STREAMCONV_DEBUG=1``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"streamconv {args.command}"
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): stop quietly
        _silence_stdout()
        return exitcodes.FAILURE
    except TimeoutError as exc:  # before OSError: TimeoutError is one
        print(f"{prog}: {_one_line(exc) or 'timed out'}", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    except Exception as exc:
        message = _user_error(exc)
        if message is not None:
            print(f"{prog}: error: {message}", file=sys.stderr)
            return exitcodes.USAGE
        logging.getLogger(__name__).debug("%s failed", prog, exc_info=True)
        summary = _one_line(exc)
        print(f"{prog}: unexpected error (a bug; {DEBUG_ENV}=1 shows the traceback): "
              f"{type(exc).__name__}{': ' + summary if summary else ''}", file=sys.stderr)
        if os.environ.get(DEBUG_ENV):
            traceback.print_exception(exc, file=sys.stderr)
        return exitcodes.FAILURE


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
