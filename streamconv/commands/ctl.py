"""The ``streamconv ctl`` command: one request to a running daemon's control socket."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import add_control, add_curve_options, add_timeout, curve_keys
from streamconv.errors import ConfigError

__all__ = ["cmd_ctl", "register"]


def register(subparsers: Any) -> None:
    """Add the ``ctl`` subcommand."""
    p = subparsers.add_parser("ctl", help="query or change a running daemon")
    p.add_argument("action", choices=["status", "stats", "set", "remove", "kernels", "ping"])
    p.add_argument("topic", nargs="?", help="for set/remove: <stream>/<output>")
    add_control(p)
    p.add_argument("--kernel", help="set: a catalogue name or a JSON matrix")
    p.add_argument("--size", type=int, help="set: kernel size for box/gaussian/identity")
    p.add_argument("--padding", default="same", help="set: int, same or valid")
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--border", default="zero", choices=["zero", "replicate", "reflect"])
    p.add_argument("--weights", help="set: causal weights oldest to newest, e.g. '0.2 0.3 0.5'")
    p.add_argument("--stages", help="set: the output's chain as JSON")
    p.add_argument("--weights-file", metavar="FILE.yaml",
                   help="set: the chain of TOPIC in a config file (what `learn fir --out` writes)")
    p.add_argument("--json", action="store_true", help="print the raw JSON reply")
    add_timeout(p, default=3.0, what="no reply comes")
    add_curve_options(p)
    p.set_defaults(func=cmd_ctl)


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


def _stages_from_args(args: argparse.Namespace) -> Any:
    if args.stages:
        try:
            return json.loads(args.stages)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--stages is not valid JSON: {exc}") from None
    if args.weights_file:
        return _stages_from_file(args.weights_file, args.topic)
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
    raise ConfigError(
        "set needs --kernel NAME|MATRIX, --weights 'w1 w2 ...', --weights-file FILE.yaml or --stages JSON"
    )


def _stages_from_file(path: str, topic: str) -> list[dict[str, Any]]:
    """Return the chain of ``topic`` (``stream/output``) in a config file, as JSON-ready stages.

    The file is a config (``streams.<stream>.outputs.<output>``, what ``learn fir --out``
    writes, validated like ``run --config``); a config with one output only gives that output's
    chain to any topic (to try fitted weights on another output).
    """
    from streamconv import config as cfg

    conf = cfg.load(path)
    chains = {f"{s}/{o}": chain for s, sc in conf.streams.items() for o, chain in sc.outputs.items()}
    chain = chains.get(topic)
    if chain is None and len(chains) == 1:
        chain = next(iter(chains.values()))
    if chain is None:
        raise ConfigError(f"{path}: no output {topic!r} in the file; it has {sorted(chains)}")
    return [stage.model_dump(mode="json") for stage in chain]


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
